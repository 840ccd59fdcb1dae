"""Epochs at temperature > 0: draws vary deterministically, accuracy holds, realistic agreement."""

from __future__ import annotations

import json
import random
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from pipeline.emulator import EmulatorServer
from pipeline.emulator.rand import normal
from pipeline.emulator.sampling import Draws, is_correct

HAIKU = "claude-4-5-haiku"
SONNET = "claude-4-5-sonnet"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer"},
            },
            "required": ["city", "unit"],
        },
    },
}


def body(content: str, model: str = HAIKU, **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": content}], **extra}


def message(client: httpx.Client, payload: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/v1/chat/completions", json=payload)
    assert response.status_code == 200, response.text
    return response.json()["choices"][0]["message"]


def content(client: httpx.Client, payload: dict[str, Any]) -> str:
    return message(client, payload)["content"]


def problems(n: int, seed: int = 11) -> list[tuple[str, str]]:
    """Half arithmetic, half multiple choice: (prompt, expected final answer)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        if i % 2:
            a, b, c = rng.randint(2, 99), rng.randint(2, 99), rng.randint(1, 99)
            out.append((f"What is {a} * {b} + {c}?", str(a * b + c)))
        else:
            values = rng.sample(range(10, 999), 4)
            lines = "\n".join(f"{'ABCD'[k]}) {v}" for k, v in enumerate(values))
            best = "ABCD"[values.index(max(values))]
            out.append((f"Which of the following numbers is the largest?\n{lines}", best))
    return out


def final(text: str) -> str:
    return text.rsplit("Answer: ", 1)[1]


@pytest.mark.parametrize(("model", "accuracy"), [(HAIKU, 0.80), (SONNET, 0.93)])
def test_epochs_at_temperature_1_keep_accuracy_and_disagree_sometimes(
    client_for: Any, model: str, accuracy: float
) -> None:
    client = client_for()
    epochs = 5
    rows = []
    for prompt, expected in problems(200):
        payload = body(prompt, model=model, temperature=1.0)
        answers = [final(content(client, payload)) for _ in range(epochs)]
        rows.append([a == expected for a in answers])
    draws = [ok for row in rows for ok in row]
    mean = sum(draws) / len(draws)
    agreement = sum(all(row) or not any(row) for row in rows) / len(rows)
    pass_at_k = sum(any(row) for row in rows) / len(rows)
    assert abs(mean - accuracy) <= 0.04, mean
    assert 0.75 <= agreement < 1.0, agreement
    assert pass_at_k > mean + 0.01, (pass_at_k, mean)


def test_temperature_omitted_is_1_and_the_nth_identical_body_gets_draw_n(
    client_for: Any,
) -> None:
    client = client_for()
    varied = 0
    for prompt, _ in problems(30):
        sequence = [content(client, body(prompt)) for _ in range(5)]
        assert [content(client, body(prompt, temperature=1)) for _ in range(5)] == sequence
        assert [content(client, body(prompt, seed=n)) for n in range(5)] == sequence
        varied += len(set(sequence)) > 1
    assert varied >= 3


def test_wrong_answers_vary_by_draw(client_for: Any) -> None:
    client = client_for(accuracy=0.0)
    arithmetic = {content(client, body("What is 37 * 12 + 5?")) for _ in range(12)}
    assert len({final(a) for a in arithmetic}) >= 3 and "449" not in {final(a) for a in arithmetic}
    choice = "Which of the following numbers is the largest?\nA) 1\nB) 9\nC) 3\nD) 5"
    letters = {final(content(client, body(choice))) for _ in range(12)}
    assert letters == {"A", "C", "D"}
    prompt = "What's the weather in Paris for 3 days? Please use celsius."
    calls = set()
    for _ in range(12):
        (call,) = message(client, body(prompt, tools=[WEATHER_TOOL]))["tool_calls"]
        calls.add((call["id"], call["function"]["arguments"]))
    assert len({args for _, args in calls}) >= 2 and len({i for i, _ in calls}) == 12
    right = {"city": "Paris", "unit": "celsius", "days": 3}
    assert all(json.loads(args) != right for _, args in calls)


def test_text_length_varies_by_draw_only_above_temperature_0(client_for: Any) -> None:
    client = client_for()
    prompt = "Tell me about the history of bridges"
    warm = {len(content(client, body(prompt, temperature=1))) for _ in range(8)}
    cold = {len(content(client, body(prompt, temperature=0))) for _ in range(8)}
    assert len(warm) >= 2 and len(cold) == 1


def test_a_seed_repeats_its_answer(client_for: Any) -> None:
    client = client_for()
    varied = 0
    for prompt, _ in problems(30, seed=5):
        seeded = [content(client, body(prompt, seed=s)) for s in (1, 2, 3, 4, 5, 6)]
        assert [content(client, body(prompt, seed=s)) for s in (1, 2, 3, 4, 5, 6)] == seeded
        varied += len(set(seeded)) > 1
    assert varied > 3
    same = [content(client, body("Tell me about owls", seed=-9)) for _ in range(4)]
    assert len(set(same)) == 1
    ignored = body("Tell me about owls", seed="x", allow_ignored_params=True)  # not an int
    assert len({content(client, ignored) for _ in range(6)}) > 1


def test_emulator_seed_decides_the_sequence(client_for: Any) -> None:
    prompts = [p for p, _ in problems(24, seed=8)] + ["Tell me about rivers"]

    def sequence(client: httpx.Client) -> list[str]:
        return [content(client, body(p)) for p in prompts for _ in range(4)]

    first = sequence(client_for(seed=7))
    assert sequence(client_for(seed=7)) == first
    assert sequence(client_for(seed=8)) != first
    zero = client_for()
    cold = [content(zero, body(p, temperature=0)) for p in prompts]
    assert [content(client_for(seed=8), body(p, temperature=0)) for p in prompts] == cold


def test_a_failed_attempt_frees_its_draw(client_for: Any) -> None:
    fresh = client_for()
    expected = [content(fresh, body("Tell me about owls")) for _ in range(3)]
    client = client_for()
    server: EmulatorServer = client.server  # type: ignore[attr-defined]
    got = []
    for outcome in ("500", "429", "truncate"):
        server.script([outcome])
        failed = client.post("/v1/chat/completions", json=body("Tell me about owls"))
        assert failed.status_code != 200 or outcome == "truncate"
        got.append(content(client, body("Tell me about owls")))
    assert got == expected


def test_draws_in_flight_are_distinct_and_freed_on_failure() -> None:
    draws = Draws(cap=100)
    a, b = b"a" * 8, b"b" * 8
    assert [draws.take(a), draws.take(a), draws.take(b)] == [0, 1, 0]
    draws.finish(a, 1, answered=True)  # out of order: 1 answered while 0 is in flight
    assert draws.take(a) == 2
    draws.finish(a, 0, answered=False)  # 0 failed: free again
    assert draws.take(a) == 0
    draws.finish(a, 0, answered=True)
    draws.finish(a, 2, answered=True)
    assert draws.take(a) == 3
    draws.finish(a, 3, answered=True)
    draws.finish(b, 0, answered=True)
    assert draws._busy == {} and draws._beyond == {} and draws._answered == {a: 4, b: 1}
    draws.finish(a, 9, answered=True)  # unknown draws are ignored
    assert draws.take(a) == 4
    small = Draws(cap=2)
    for key in (b"1", b"2", b"3"):
        small.finish(key, small.take(key), answered=True)
    assert len(small._answered) <= 2


def test_temperature_0_is_the_latent_draw_and_noise_grows_with_temperature() -> None:
    rng = random.Random(2)
    cases = [(rng.random(), rng.gauss(0.0, 1.0)) for _ in range(20_000)]
    for u, noise in cases[:2000]:
        assert is_correct(u, 0.8, 0.0, noise) == (u < 0.8)
        assert is_correct(u, 1.0, 1.0, noise) and not is_correct(u, 0.0, 1.0, noise)
    flips = {}
    for temperature in (0.2, 0.5, 1.0):
        right = [is_correct(u, 0.8, temperature, noise) for u, noise in cases]
        assert abs(sum(right) / len(right) - 0.8) < 0.01
        flips[temperature] = sum(r != (u < 0.8) for r, (u, _) in zip(right, cases, strict=True))
    assert 0 < flips[0.2] < flips[0.5] < flips[1.0]
    assert all(is_correct(u, 0.8, 1.0, noise) for u, noise in cases if u < 0.3)  # easy: right
    assert not any(is_correct(u, 0.8, 1.0, noise) for u, noise in cases if u > 0.97)  # hard


def test_normal_draws_are_standard_normal_and_stable() -> None:
    draws = [normal("n", i) for i in range(20_000)]
    mean = sum(draws) / len(draws)
    var = sum((d - mean) ** 2 for d in draws) / len(draws)
    assert abs(mean) < 0.03 and abs(var - 1) < 0.05
    assert sum(abs(d) < 1 for d in draws) / len(draws) == pytest.approx(0.683, abs=0.015)
    assert normal("n", 5) == draws[5] and normal("n", 5) != normal("n", 6)


def test_identical_requests_in_flight_together_get_distinct_draws(client_for: Any) -> None:
    fast = client_for()
    prompt = "Tell me about the history of bridges"
    expected = sorted(content(fast, body(prompt, seed=n)) for n in range(5))
    slow = client_for(speed=0.5)  # each answer takes a few hundred ms: all five overlap
    with ThreadPoolExecutor(5) as pool:
        got = sorted(pool.map(lambda _: content(slow, body(prompt)), range(5)))
    assert got == expected and len(set(got)) > 1
