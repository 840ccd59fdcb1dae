"""The emulator's published limits: read from the catalogue, context window, rate-limit knobs."""

from __future__ import annotations

import dataclasses
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
