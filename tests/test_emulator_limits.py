"""The emulator's published limits: read from the catalogue, context window, rate-limit knobs."""

from __future__ import annotations

import dataclasses
import json
import math
import time
from typing import Any

import httpx
import pytest

from pipeline.catalog import CATALOG
from pipeline.emulator import MODELS, EmulatorConfig, ModelProfile
from pipeline.emulator.ratelimit import SlidingWindow

HAIKU = "claude-4-5-haiku"
SONNET = "claude-4-5-sonnet"


def body(content: str = "Hello there", model: str = HAIKU, **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": content}], **extra}


def post(client: httpx.Client, payload: dict[str, Any]) -> httpx.Response:
    return client.post("/v1/chat/completions", json=payload)


# ---------------------------------------------------------------- one catalogue


def test_the_simulated_models_are_the_catalogue_and_keep_only_behaviour() -> None:
    assert set(MODELS) == set(CATALOG)
    assert {f.name for f in dataclasses.fields(ModelProfile)} == {
        "model_id", "accuracy", "ttft_s", "tokens_per_s"
    }  # fmt: skip
    for facts in CATALOG.values():
        assert facts.rpm and facts.tpm and facts.max_output_tokens and facts.context_window


def test_limits_are_read_from_the_catalogue(
    client_for: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    changed = dataclasses.replace(
        CATALOG[HAIKU], rpm=7, tpm=1234, max_output_tokens=100, context_window=5000
    )
    monkeypatch.setitem(CATALOG, HAIKU, changed)
    client = client_for(enforce_rate_limits=True)
    ok = post(client, body(max_tokens=100))
    assert ok.status_code == 200, ok.text
    assert ok.headers["x-ratelimit-limit-requests"] == "7"
    assert ok.headers["x-ratelimit-limit-tokens"] == "1234"
    too_many = post(client, body(max_tokens=101))
    assert too_many.status_code == 400
    assert "between 1 and 100" in too_many.json()["error"]["message"]


# ---------------------------------------------------------------- context window


def _prompt_of(tokens: int) -> str:
    """A user message that counts as exactly this many prompt tokens (4 per message + len/4)."""
    return "word " * ((tokens - 4) * 4 // 5) + "x" * ((tokens - 4) * 4 % 5)


@pytest.mark.parametrize(
    ("prompt_tokens", "extra", "status"),
    [(200_000 - 4096, {}, 200), (200_000 - 4095, {}, 400),  # haiku's cap of 4096 when unset
     (199_000, {"max_tokens": 1000}, 200), (199_000, {"max_tokens": 1001}, 400)],
)  # fmt: skip
def test_prompt_plus_max_tokens_must_fit_the_context_window(
    client_for: Any, prompt_tokens: int, extra: dict[str, Any], status: int
) -> None:
    client = client_for()
    payload = body(_prompt_of(prompt_tokens), **extra)
    assert len(httpx.Request("POST", "/", json=payload).content) < 4 * 1024 * 1024
    response = post(client, payload)
    assert response.status_code == status, response.text[:300]
    if status == 200:
        assert response.json()["usage"]["prompt_tokens"] == prompt_tokens
        return
    error = response.json()["error"]
    assert error["code"] == 400 and error["type"] == "invalid_request_error"
    max_tokens = extra.get("max_tokens", 4096)
    assert error["message"] == (
        f"Invalid request: input length and `max_tokens` exceed context limit: {prompt_tokens} + "
        f"{max_tokens} > 200000, decrease input length or `max_tokens` and try again"
    )


def test_a_prompt_over_the_context_window_is_too_long(client_for: Any) -> None:
    client = client_for()
    response = post(client, body(_prompt_of(200_001), model=SONNET, stream=True, max_tokens=10))
    assert response.status_code == 400
    assert response.json()["error"]["message"] == (
        "Invalid request: prompt is too long: 200001 tokens > 200000 maximum"
    )


def test_the_context_window_counts_every_message_and_the_tools(client_for: Any) -> None:
    client = client_for()
    tools = [{"type": "function", "function": {"name": "f", "description": "d" * 4000}}]
    half = _prompt_of(100_000 - 2048)
    payload = {"model": HAIKU, "max_tokens": 4096, "messages": [
        {"role": "system", "content": half}, {"role": "user", "content": half}]}  # fmt: skip
    assert post(client, payload).status_code == 200
    response = post(client, {**payload, "tools": tools})
    assert response.status_code == 400
    tool_tokens = math.ceil(len(json.dumps(tools, separators=(",", ":"))) / 4)
    expected = f"exceed context limit: {195_904 + tool_tokens} + 4096 > 200000"
    assert expected in response.json()["error"]["message"]


# ---------------------------------------------------------------- rate-limit knobs


def test_rpm_in_a_short_window_counts_down_then_429_until_the_window_frees(
    client_for: Any,
) -> None:
    client = client_for(enforce_rate_limits=True, rate_window_s=1.0, rate_limits={"*": (5, 10**6)})
    start = time.monotonic()
    remaining = []
    for _ in range(5):
        response = post(client, body())
        assert response.status_code == 200
        assert response.headers["x-ratelimit-limit-requests"] == "5"
        assert response.headers["x-ratelimit-reset-requests"] == "1s"
        remaining.append(response.headers["x-ratelimit-remaining-requests"])
    assert remaining == ["4", "3", "2", "1", "0"]
    limited = post(client, body())
    assert time.monotonic() - start < 0.9  # all six inside one window
    assert limited.status_code == 429 and limited.json()["error"]["type"] == "rate_limit_error"
    assert limited.headers["Retry-After"] == "1"
    wait_ms = int(limited.headers["retry-after-ms"])
    assert 0 < wait_ms <= 1000
    assert limited.headers["x-ratelimit-remaining-requests"] == "0"
    time.sleep(wait_ms / 1000 + 0.02)
    again = post(client, body())
    assert again.status_code == 200


def test_rate_limits_per_model_then_star_then_catalogue(client_for: Any) -> None:
    limits = {HAIKU: (2, 10**6), "*": (3, 10**6)}
    client = client_for(enforce_rate_limits=True, rate_window_s=30, rate_limits=limits)
    statuses = {m: [post(client, body(model=m)).status_code for _ in range(4)]
                for m in (HAIKU, SONNET)}  # fmt: skip
    assert statuses == {HAIKU: [200, 200, 429, 429], SONNET: [200, 200, 200, 429]}
    loose = client_for(rate_limits={HAIKU: (2, 99)})  # not enforced: no limits announced
    response = post(loose, body())
    assert "x-ratelimit-limit-requests" not in response.headers
    assert [post(loose, body()).status_code for _ in range(3)] == [200] * 3


def test_a_request_over_the_whole_token_limit_says_so(client_for: Any) -> None:
    client = client_for(enforce_rate_limits=True, rate_window_s=5, rate_limits={"*": (10, 50)})
    response = post(client, body("x" * 400))
    assert response.status_code == 429 and response.headers["Retry-After"] == "5"
    assert "more than the model's limit of 50 tokens" in response.json()["error"]["message"]


def test_retry_after_waits_until_enough_tokens_leave_the_window() -> None:
    window = SlidingWindow(rpm=10, tpm=250, window_s=10.0)
    window.add(0.0, 100)
    window.add(4.0, 100)
    assert window.retry_after(5.0, 50) is None
    assert window.retry_after(5.0, 100) == pytest.approx(5.0)  # once the first leaves
    assert window.retry_after(5.0, 200) == pytest.approx(9.0)  # once both have left
    assert window.retry_after(5.0, 251) == 10.0  # never fits: a whole window
    assert window.headers(5.0)["x-ratelimit-reset-tokens"] == "5s"
    assert window.headers(10.0)["x-ratelimit-remaining-tokens"] == "150"
    counted = SlidingWindow(rpm=2, tpm=10**6, window_s=2.0)
    counted.add(0.0, 1)
    counted.add(0.5, 1)
    assert counted.retry_after(1.0, 1) == pytest.approx(1.0)
    assert counted.headers(1.0)["x-ratelimit-remaining-requests"] == "0"


@pytest.mark.parametrize(
    "config",
    [{"rate_window_s": 0}, {"rate_window_s": math.inf}, {"rate_limits": {"*": (0, 5)}},
     {"rate_limits": {"*": (5,)}}, {"rate_limits": {HAIKU: "55"}},
     {"rate_limits": {HAIKU: (5, True)}}],
)  # fmt: skip
def test_config_rejects_bad_rate_knobs(config: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="rate_"):
        EmulatorConfig(**config)


def test_config_takes_rate_limits_as_lists_too() -> None:
    assert EmulatorConfig(rate_limits={HAIKU: [5, 9]}).rate_limits == {HAIKU: (5, 9)}
