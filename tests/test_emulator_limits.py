"""The emulator's published limits: read from the catalogue, context window, rate-limit knobs."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from pipeline.catalog import CATALOG
from pipeline.emulator import MODELS, EmulatorConfig, EmulatorServer, ModelProfile

KEY = "inf-test-key-limits"
HAIKU = "claude-4-5-haiku"
SONNET = "claude-4-5-sonnet"


def body(content: str = "Hello there", model: str = HAIKU, **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": content}], **extra}


@pytest.fixture
def client_for() -> Iterator[Any]:
    """Start an emulator with a config; yield an authenticated httpx client on it."""
    stack: list[tuple[EmulatorServer, httpx.Client]] = []

    def start(**config: Any) -> httpx.Client:
        server = EmulatorServer(EmulatorConfig(api_key=KEY, speed=0, **config)).start()
        client = httpx.Client(
            base_url=server.base_url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30
        )
        stack.append((server, client))
        return client

    yield start
    for server, client in stack:
        client.close()
        server.stop()


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
    client = client_for()
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
