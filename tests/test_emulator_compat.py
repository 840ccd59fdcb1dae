"""Answering like servers written by others: usage modes, the model name, any model id."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest

from pipeline.emulator import EmulatorConfig, EmulatorServer
from tests.conftest import EMULATOR_KEY as KEY

HAIKU = "claude-4-5-haiku"


def body(content: str = "Tell me about owls", model: str = HAIKU, **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": content}], **extra}


def post(client: httpx.Client, payload: dict[str, Any]) -> httpx.Response:
    response = client.post("/v1/chat/completions", json=payload)
    assert response.status_code == 200, response.text
    return response


def chunks(client: httpx.Client, payload: dict[str, Any]) -> list[dict[str, Any]]:
    text = post(client, {**payload, "stream": True}).text
    data = [line[6:] for line in text.split("\n") if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    return [json.loads(d) for d in data[:-1]]


def sdk(client: httpx.Client) -> openai.OpenAI:
    server: EmulatorServer = client.server  # type: ignore[attr-defined]
    return openai.OpenAI(base_url=f"{server.base_url}/v1", api_key=KEY, max_retries=0)


# ---------------------------------------------------------------- usage


INCLUDE = {"stream_options": {"include_usage": True}}
EXCLUDE = {"stream_options": {"include_usage": False}}


def test_usage_always_is_heroku(client_for: Any) -> None:
    client = client_for()
    assert "usage" in post(client, body()).json()
    for extra in ({}, INCLUDE, EXCLUDE):
        streamed = chunks(client, body(**extra))
        assert streamed[-1]["choices"] == [] and streamed[-1]["usage"]["total_tokens"] > 0
        assert all("usage" not in c for c in streamed[:-1])


def test_usage_requested_is_openai(client_for: Any) -> None:
    client = client_for(usage="requested")
    full = post(client, body()).json()
    assert full["usage"]["total_tokens"] > 0
    for extra in ({}, EXCLUDE, {"stream_options": {"include_usage": "yes"}}):
        streamed = chunks(client, body(**extra))
        assert all("usage" not in c and c["choices"] for c in streamed)
        assert streamed[-1]["choices"][0]["finish_reason"] == "stop"
    streamed = chunks(client, body(**INCLUDE))
    assert streamed[-1]["choices"] == [] and streamed[-1]["usage"] == full["usage"]
    assert all(c["usage"] is None and c["choices"] for c in streamed[:-1])
    openai_client = sdk(client)
    parts = list(openai_client.chat.completions.create(
        model=HAIKU, messages=[{"role": "user", "content": "hi"}], stream=True,
        stream_options={"include_usage": True}))  # fmt: skip
    assert parts[-1].usage is not None and all(p.usage is None for p in parts[:-1])
    openai_client.close()


def test_usage_never_is_omitted_everywhere(client_for: Any) -> None:
    client = client_for(usage="never")
    full = post(client, body()).json()
    assert "usage" not in full and full["choices"][0]["message"]["content"]
    for extra in ({}, INCLUDE):
        streamed = chunks(client, body(**extra))
        assert all("usage" not in c and c["choices"] for c in streamed)
        assert streamed[-1]["choices"][0]["finish_reason"] == "stop"


@pytest.mark.parametrize("usage", ["always", "requested", "never"])
def test_a_truncated_stream_never_finishes_in_any_usage_mode(client_for: Any, usage: str) -> None:
    client = client_for(usage=usage)
    client.server.script(["truncate"])  # type: ignore[attr-defined]
    text = post(client, body(stream=True)).text
    data = [json.loads(line[6:]) for line in text.split("\n") if line.startswith("data: ")]
    assert data and all(c["choices"][0]["finish_reason"] is None for c in data)


def test_config_rejects_an_unknown_usage_mode() -> None:
    with pytest.raises(ValueError, match="usage"):
        EmulatorConfig(usage="sometimes")  # type: ignore[arg-type]


# ---------------------------------------------------------------- the model name, any model id


def test_response_model_names_every_answer(client_for: Any) -> None:
    client = client_for(response_model="llama-3.1-8b-instruct")
    assert post(client, body()).json()["model"] == "llama-3.1-8b-instruct"
    assert {c["model"] for c in chunks(client, body())} == {"llama-3.1-8b-instruct"}
    unknown = client.post("/v1/chat/completions", json=body(model="gpt-4o"))
    assert unknown.status_code == 400 and "'model'" in unknown.json()["error"]["message"]
    assert post(client_for(), body()).json()["model"] == HAIKU


@pytest.mark.parametrize("model_id", ["local-model", 'odd "name" \\ with \u00e9 and \\u0000'])
def test_accept_any_model_answers_unknown_ids(client_for: Any, model_id: str) -> None:
    client = client_for(accept_any_model=True)
    full = post(client, body("What is 6 * 7?", model=model_id)).json()
    assert full["model"] == model_id and full["choices"][0]["message"]["content"]
    assert full["system_fingerprint"].startswith("heroku-inf-")
    streamed = chunks(client, body("What is 6 * 7?", model=model_id))  # valid JSON throughout
    assert {c["model"] for c in streamed} == {model_id}
    assert client.server.stats.by_model == {model_id: 2}  # type: ignore[attr-defined]
    known = post(client, body(max_tokens=4096)).json()
    assert known["model"] == HAIKU


def test_unknown_ids_get_the_default_limits(client_for: Any) -> None:
    client = client_for(accept_any_model=True, enforce_rate_limits=True)
    response = post(client, body(model="local", max_tokens=8192))
    assert response.headers["x-ratelimit-limit-requests"] == "150"
    too_many = client.post("/v1/chat/completions", json=body(model="local", max_tokens=8193))
    assert too_many.status_code == 400 and "between 1 and 8192" in too_many.text
    models = {m["model_id"] for m in client.get("/available-models").json()}
    assert "local" not in models and HAIKU in models


def test_config_rejects_an_empty_response_model() -> None:
    with pytest.raises(ValueError, match="response_model"):
        EmulatorConfig(response_model="")


def test_accepting_any_id_on_one_emulator_does_not_leak_into_another(client_for: Any) -> None:
    assert post(client_for(accept_any_model=True), body(model="leaky")).status_code == 200
    strict = client_for().post("/v1/chat/completions", json=body(model="leaky"))
    assert strict.status_code == 400
