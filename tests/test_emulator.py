"""The local Heroku emulator: contract strictness, answers, streaming, faults, stats, admin."""

from __future__ import annotations

import json
import math
import random
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest

from pipeline.emulator import EmulatorConfig, EmulatorServer, Faults
from pipeline.emulator import app as emulator_app
from pipeline.emulator.choices import parse_options
from pipeline.emulator.responses import build_reply
from pipeline.emulator.solvers import Solution, solve
from pipeline.emulator.toolcalls import _capitalized_phrases
from pipeline.emulator.validation import parse_request

KEY = "inf-test-key-0123456789"
HAIKU = "claude-4-5-haiku"
SONNET = "claude-4-5-sonnet"
RATELIMIT_HEADERS = [
    f"x-ratelimit-{kind}-{what}"
    for kind in ("limit", "remaining", "reset")
    for what in ("requests", "tokens")
]

TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the current weather for a city.",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "City name, e.g. Paris"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                },
                "required": ["city", "unit"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "convert_currency",
            "description": "Convert an amount of money between currencies.",
            "parameters": {
                "type": "object",
                "properties": {
                    "amount": {"type": "number"},
                    "from_currency": {
                        "type": "string",
                        "description": "ISO 4217 currency code, e.g. USD",
                    },
                    "to_currency": {"type": "string", "description": "ISO 4217 currency code"},
                },
                "required": ["amount", "from_currency", "to_currency"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_local_time",
            "description": "Get the local time in a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string", "description": "City name"}},
                "required": ["city"],
            },
        },
    },
]
WEATHER = "What's the weather in Paris right now? Please use celsius."


# ---------------------------------------------------------------- fixtures and helpers


@pytest.fixture(scope="module")
def srv() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(api_key=KEY, speed=0)) as server:
        yield server


@pytest.fixture(scope="module")
def perfect() -> Iterator[EmulatorServer]:
    """Every model always right: the solvers' own answers."""
    with EmulatorServer(EmulatorConfig(api_key=KEY, speed=0, accuracy=1.0)) as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh(request: pytest.FixtureRequest) -> None:
    for name in ("srv", "perfect"):
        if name in request.fixturenames:
            request.getfixturevalue(name).reset()


@pytest.fixture
def http(srv: EmulatorServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=srv.base_url, headers=_auth(), timeout=10) as client:
        yield client


@pytest.fixture
def phttp(perfect: EmulatorServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=perfect.base_url, headers=_auth(), timeout=10) as client:
        yield client


def _auth(key: str = KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def body(content: str = "Hello there", model: str = HAIKU, **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": content}], **extra}


def chat(client: httpx.Client, payload: Any, **kw: Any) -> httpx.Response:
    if isinstance(payload, bytes | str):
        return client.post("/v1/chat/completions", content=payload, **kw)
    return client.post("/v1/chat/completions", json=payload, **kw)


def answer(client: httpx.Client, payload: dict[str, Any]) -> dict[str, Any]:
    response = chat(client, payload)
    assert response.status_code == 200, response.text
    return response.json()


def sse_data(text: str) -> list[str]:
    return [line[len("data: ") :] for line in text.split("\n") if line.startswith("data: ")]


def stream_chunks(client: httpx.Client, payload: dict[str, Any]) -> tuple[list[dict], list[str]]:
    response = chat(client, {**payload, "stream": True})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    data = sse_data(response.text)
    return [json.loads(d) for d in data if d != "[DONE]"], data


def joined_content(chunks: list[dict]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


# ---------------------------------------------------------------- routes and auth


def test_available_models_lists_the_catalog(http: httpx.Client) -> None:
    models = http.get("/available-models").json()
    ids = {m["model_id"] for m in models}
    assert {SONNET, HAIKU, "claude-opus-4-5", "gpt-oss-120b", "nova-lite"} <= ids
    assert len(ids) == 11
    assert all(m["type"] == ["text-to-text"] and m["regions"] == ["us", "eu"] for m in models)


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/models"), ("POST", "/v1/completions"), ("GET", "/v1/chat/completions"),
     ("POST", "/chat/completions")],
)  # fmt: skip
def test_unknown_routes_are_json_404(http: httpx.Client, method: str, path: str) -> None:
    response = http.request(method, path, json={})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == 404


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer"}, {"Authorization": KEY}, _auth("inf-wrong-key"),
     {"Authorization": f"Basic {KEY}"}],
)  # fmt: skip
def test_missing_or_wrong_key_is_401_without_echo(srv: EmulatorServer, headers: dict) -> None:
    with httpx.Client(base_url=srv.base_url) as client:
        response = chat(client, body(), headers=headers)
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["type"] == "authentication_error" and error["code"] == 401
    assert KEY not in response.text and "inf-wrong-key" not in response.text
    assert "x-request-id" in response.headers


def test_any_bearer_token_is_accepted_without_a_configured_key() -> None:
    with EmulatorServer(EmulatorConfig(api_key=None, speed=0)) as server:
        with httpx.Client(base_url=server.base_url) as client:
            assert chat(client, body(), headers=_auth("whatever")).status_code == 200
            assert chat(client, body()).status_code == 401


# ---------------------------------------------------------------- validation

_ASSISTANT_CALL = {
    "role": "assistant",
    "content": "",
    "tool_calls": [
        {"id": "toolu_1", "type": "function",
         "function": {"name": "get_local_time", "arguments": '{"city": "Tokyo"}'}}
    ],
}  # fmt: skip
_TOOL_REPLY = {"role": "tool", "tool_call_id": "toolu_1", "content": "09:30"}
_THINK = {"enabled": True, "budget_tokens": 1024, "include_reasoning": True}


def _msgs(*messages: Any) -> Callable[[dict], dict]:
    return lambda b: {**b, "messages": list(messages)}


def _set(**fields: Any) -> Callable[[dict], dict]:
    return lambda b: {**b, **fields}


def _drop(name: str) -> Callable[[dict], dict]:
    return lambda b: {k: v for k, v in b.items() if k != name}


def _tool(**function: Any) -> list[dict]:
    return [{"type": "function", "function": {"name": "f", **function}}]


INVALID: list[tuple[str, Any, str]] = [
    ("not-json", b"{not json", "valid JSON"),
    ("not-object", b"[1, 2]", "JSON object"),
    ("nested-too-deeply", b'{"model": "m", "metadata": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
     "nested too deeply"),
    ("messages-missing", _drop("messages"), "'messages'"),
    ("messages-empty", _set(messages=[]), "'messages'"),
    ("messages-not-list", _set(messages="hi"), "'messages'"),
    ("message-not-object", _msgs("hi"), "'messages[0]'"),
    ("role-unknown", _msgs({"role": "developer", "content": "x"}), "'messages[0].role'"),
    ("role-missing", _msgs({"content": "x"}), "'messages[0].role'"),
    ("content-int", _msgs({"role": "user", "content": 5}), "'messages[0].content'"),
    ("content-null", _msgs({"role": "user", "content": None}), "'messages[0].content'"),
    ("content-missing", _msgs({"role": "system"}), "'messages[0].content'"),
    ("content-empty-parts", _msgs({"role": "user", "content": []}), "'messages[0].content'"),
    ("content-image-part",
     _msgs({"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}),
     "'messages[0].content[0]'"),
    ("content-part-no-text", _msgs({"role": "user", "content": [{"type": "text"}]}),
     "'messages[0].content[0]'"),
    ("assistant-toolcalls-null-content",
     _msgs({"role": "user", "content": "t"}, {**_ASSISTANT_CALL, "content": None}, _TOOL_REPLY),
     "'messages[1].content'"),
    ("assistant-toolcall-no-name",
     _msgs({"role": "user", "content": "t"},
           {**_ASSISTANT_CALL, "tool_calls": [{"id": "toolu_1", "type": "function",
                                               "function": {"arguments": "{}"}}]}),
     "'messages[1].tool_calls[0].function.name'"),
    ("assistant-toolcall-args-object",
     _msgs({"role": "user", "content": "t"},
           {**_ASSISTANT_CALL, "tool_calls": [{"id": "toolu_1", "type": "function",
                                               "function": {"name": "f", "arguments": {}}}]}),
     "'messages[1].tool_calls[0].function.arguments'"),
    ("tool-without-call-id",
     _msgs({"role": "user", "content": "t"}, _ASSISTANT_CALL, {"role": "tool", "content": "9"}),
     "'messages[2].tool_call_id'"),
    ("tool-call-id-unknown",
     _msgs({"role": "user", "content": "t"}, _ASSISTANT_CALL, {**_TOOL_REPLY, "tool_call_id": "x"}),
     "'messages[2].tool_call_id'"),
    ("model-missing", _drop("model"), "'model'"),
    ("model-unknown", _set(model="gpt-4o"), "'model'"),
    ("model-not-string", _set(model=5), "'model'"),
    ("temperature-high", _set(temperature=1.5), "'temperature'"),
    ("temperature-negative", _set(temperature=-0.1), "'temperature'"),
    ("temperature-string", _set(temperature="hot"), "'temperature'"),
    ("top-p-high", _set(top_p=1.2), "'top_p'"),
    ("temperature-and-top-p", _set(temperature=0.5, top_p=0.9), "'temperature' and 'top_p'"),
    ("max-tokens-zero", _set(max_tokens=0), "'max_tokens'"),
    ("max-tokens-over-haiku-limit", _set(max_tokens=4097), "'max_tokens'"),
    ("max-tokens-over-sonnet-limit", _set(model=SONNET, max_tokens=8193), "'max_tokens'"),
    ("max-tokens-float", _set(max_tokens=10.5), "'max_tokens'"),
    ("max-tokens-bool", _set(max_tokens=True), "'max_tokens'"),
    ("max-completion-tokens-zero", _set(max_completion_tokens=0), "'max_completion_tokens'"),
    ("max-completion-tokens-high", _set(max_completion_tokens=5000), "'max_completion_tokens'"),
    ("stop-number", _set(stop=5), "'stop'"),
    ("stop-list-of-ints", _set(stop=[1]), "'stop'"),
    ("stop-empty-string", _set(stop=[""]), "'stop'"),
    ("stop-single-string", _set(stop="\n"), "'stop'"),  # the contract says array of strings
    ("stream-not-bool", _set(stream="yes"), "'stream'"),
    ("tools-not-list", _set(tools={"type": "function"}), "'tools'"),
    ("tool-wrong-type", _set(tools=[{"type": "retrieval", "function": {"name": "f"}}]),
     "'tools[0].type'"),
    ("tool-no-function", _set(tools=[{"type": "function"}]), "'tools[0].function'"),
    ("tool-no-name", _set(tools=[{"type": "function", "function": {"description": "d"}}]),
     "'tools[0].function.name'"),
    ("tool-bad-name", _set(tools=_tool(name="get weather")), "'tools[0].function.name'"),
    ("tool-name-newline", _set(tools=_tool(name="f\n")), "'tools[0].function.name'"),
    ("tool-params-array", _set(tools=_tool(parameters={"type": "array"})),
     "'tools[0].function.parameters'"),
    ("tool-params-list", _set(tools=_tool(parameters=[])), "'tools[0].function.parameters'"),
    ("tool-properties-list", _set(tools=_tool(parameters={"type": "object", "properties": []})),
     "'tools[0].function.parameters.properties'"),
    ("tool-duplicate-name", _set(tools=_tool() + _tool()), "'tools[1].function.name'"),
    ("tool-choice-unknown", _set(tools=_tool(), tool_choice="any"), "'tool_choice'"),
    ("tool-choice-not-in-tools",
     _set(tools=_tool(), tool_choice={"type": "function", "function": {"name": "g"}}),
     "'tool_choice'"),
    ("tool-choice-bad-shape", _set(tools=_tool(), tool_choice={"name": "f"}), "'tool_choice'"),
    ("tool-choice-required-no-tools", _set(tool_choice="required"), "'tool_choice'"),
    ("thinking-not-object", _set(extended_thinking=True), "'extended_thinking'"),
    ("thinking-budget-small", _set(extended_thinking={**_THINK, "budget_tokens": 1023}),
     "'extended_thinking.budget_tokens'"),
    ("thinking-budget-missing", _set(extended_thinking={"enabled": True}),
     "'extended_thinking.budget_tokens'"),
    ("thinking-budget-not-below-max-tokens",
     _set(max_tokens=2000, extended_thinking={**_THINK, "budget_tokens": 2000}),
     "'extended_thinking.budget_tokens'"),
    ("thinking-budget-over-model-max",
     _set(extended_thinking={**_THINK, "budget_tokens": 4096}),
     "'extended_thinking.budget_tokens'"),
    ("thinking-with-temperature", _set(temperature=0.0, extended_thinking=_THINK),
     "'temperature'"),
    ("thinking-forced-tool",
     _set(tools=TOOLS, tool_choice="required", extended_thinking=_THINK), "'tool_choice'"),
    ("unknown-field", _set(max_token=10), "'max_token'"),
]  # fmt: skip


@pytest.mark.parametrize(("patch", "field"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_requests_are_400_naming_the_field(
    srv: EmulatorServer, http: httpx.Client, patch: Any, field: str
) -> None:
    payload = patch if isinstance(patch, bytes) else patch(body())
    response = chat(http, payload)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == 400 and error["type"] == "invalid_request_error"
    assert error["message"].startswith("Invalid request: ")
    assert field in error["message"]
    assert srv.stats.by_status == {400: 1} and srv.stats.completed == 0


VALID: list[tuple[str, Any]] = [
    ("ignored-fields", _set(seed=1, n=1, presence_penalty=0.1, frequency_penalty=0.2,
                            logit_bias={"1": 2}, user="u", metadata={"a": "b"},
                            stream_options={"include_usage": True}, parallel_tool_calls=False,
                            response_format={"type": "text"}, allow_ignored_params=True)),
    ("unknown-field-allowed", _set(top_k=5, allow_ignored_params=True)),
    ("stop-null", _set(stop=None)),
    ("temperature-edges", _set(temperature=0)),
    ("temperature-one", _set(temperature=1)),
    ("top-p-alone", _set(top_p=0.999)),
    ("temperature-and-top-p-not-claude", _set(model="gpt-oss-120b", temperature=0.5, top_p=0.9)),
    ("haiku-max", _set(max_tokens=4096)),
    ("sonnet-max", _set(model=SONNET, max_tokens=8192)),
    ("max-completion-tokens", _set(max_completion_tokens=64)),
    ("text-parts", _msgs({"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
                         {"role": "user", "content": [{"type": "text", "text": "hi"}]})),
    ("tool-round-trip", _msgs({"role": "user", "content": "t"}, _ASSISTANT_CALL, _TOOL_REPLY)),
    ("tools-empty", _set(tools=[])),
    ("tool-no-params", _set(tools=_tool(description="does f"))),
    ("tool-choice-none", _set(tools=TOOLS, tool_choice="none")),
    ("tool-choice-function",
     _set(tools=TOOLS, tool_choice={"type": "function", "function": {"name": "get_weather"}})),
    ("thinking-temperature-one", _set(temperature=1, extended_thinking=_THINK)),
    ("thinking-disabled", _set(temperature=0.2, extended_thinking={"enabled": False})),
]  # fmt: skip


@pytest.mark.parametrize("patch", [c[1] for c in VALID], ids=[c[0] for c in VALID])
def test_valid_variants_are_accepted(http: httpx.Client, patch: Any) -> None:
    response = chat(http, patch(body()))
    assert response.status_code == 200, response.text
    assert response.json()["object"] == "chat.completion"


def test_oversized_body_is_413(http: httpx.Client) -> None:
    response = chat(http, body("x" * (5 * 1024 * 1024)))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == 413


# ---------------------------------------------------------------- response shape


def test_completion_shape_headers_and_usage(http: httpx.Client) -> None:
    response = chat(http, body("Tell me about rivers", max_tokens=300))
    assert response.status_code == 200
    data = response.json()
    assert set(data) == {"id", "object", "created", "model", "system_fingerprint", "choices",
                         "usage"}  # fmt: skip
    assert re.fullmatch(r"chatcmpl-[0-9a-f]{12,}", data["id"])
    assert data["object"] == "chat.completion" and data["model"] == HAIKU
    assert abs(data["created"] - time.time()) < 60
    assert data["system_fingerprint"].startswith("heroku-inf-")
    (choice,) = data["choices"]
    assert choice["index"] == 0 and choice["finish_reason"] == "stop"
    message = choice["message"]
    assert set(message) == {"role", "content", "refusal"}
    assert message["role"] == "assistant" and message["refusal"] is None
    usage = data["usage"]
    assert set(usage) == {"prompt_tokens", "completion_tokens", "total_tokens"}
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["completion_tokens"] == math.ceil(len(message["content"]) / 4)
    assert usage["prompt_tokens"] == 4 + math.ceil(len("Tell me about rivers") / 4)
    assert 18 <= usage["completion_tokens"] <= 200
    assert response.headers["x-request-id"]
    # An emulator that enforces no limits announces none (a client would pause for nothing).
    assert not any(name in response.headers for name in RATELIMIT_HEADERS)
    second = chat(http, body("Tell me about rivers"))
    assert second.headers["x-request-id"] != response.headers["x-request-id"]


def test_rate_limit_headers_when_limits_are_enforced() -> None:
    with EmulatorServer(EmulatorConfig(api_key=KEY, speed=0, enforce_rate_limits=True)) as srv, \
            httpx.Client(base_url=srv.base_url, headers=_auth(), timeout=10) as http:
        response = chat(http, body("Tell me about rivers", max_tokens=300))
        for name in RATELIMIT_HEADERS:
            assert name in response.headers
        assert response.headers["x-ratelimit-limit-requests"] == "200"
        assert response.headers["x-ratelimit-limit-tokens"] == "800000"
        assert re.fullmatch(r"\d+s", response.headers["x-ratelimit-reset-requests"])
        second = chat(http, body("Tell me about rivers"))
        remaining = int(second.headers["x-ratelimit-remaining-requests"])
        assert remaining == int(response.headers["x-ratelimit-remaining-requests"]) - 1


def test_prompt_tokens_count_every_message_and_the_tools(http: httpx.Client) -> None:
    small = answer(http, body("What time is it in Tokyo?"))["usage"]["prompt_tokens"]
    with_tools = answer(http, body("What time is it in Tokyo?", tools=TOOLS))
    extra = math.ceil(len(json.dumps(TOOLS, separators=(",", ":"))) / 4)
    assert with_tools["usage"]["prompt_tokens"] == small + extra
    two = {
        "model": HAIKU,
        "messages": [
            {"role": "system", "content": "abcd" * 10},
            {"role": "user", "content": "What time is it in Tokyo?"},
        ],
    }
    assert answer(http, two)["usage"]["prompt_tokens"] == small + 4 + 10


def test_same_request_at_temperature_0_same_answer_new_ids(http: httpx.Client) -> None:
    payload = body("Explain caching in two sentences", model=SONNET, tools=TOOLS, temperature=0)
    first, second = answer(http, payload), answer(http, payload)
    assert first["choices"] == second["choices"] and first["usage"] == second["usage"]
    assert first["id"] != second["id"]
    with EmulatorServer(EmulatorConfig(api_key=KEY, speed=0, seed=5)) as other:
        with httpx.Client(base_url=other.base_url, headers=_auth()) as client:
            assert answer(client, payload)["choices"] == first["choices"]
    for prompt in (WEATHER, "What is 37 * 12 + 5?", "Which number is the largest?\nA) 1\nB) 9"):
        same = body(prompt, tools=TOOLS, temperature=0)
        bodies = [answer(http, same) for _ in range(8)]
        assert len({b.pop("id") for b in bodies}) == 8
        for b in bodies:
            b.pop("created")
        assert all(b == bodies[0] for b in bodies)


# ---------------------------------------------------------------- streaming


def test_stream_chunk_shapes_and_done(http: httpx.Client) -> None:
    payload = body("Tell me about mountains", max_tokens=400)
    full = answer(http, payload)
    chunks, data = stream_chunks(http, payload)
    assert data[-1] == "[DONE]" and data.count("[DONE]") == 1
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1 and chunks[0]["id"].startswith("chatcmpl-")
    assert all(c["model"] == HAIKU and c["system_fingerprint"].startswith("heroku-inf-")
               for c in chunks)  # fmt: skip
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    content_chunks = chunks[1:-1]
    assert len(content_chunks) > 3
    for chunk in content_chunks:
        (choice,) = chunk["choices"]
        assert set(choice["delta"]) == {"content"}
        assert 0 < len(choice["delta"]["content"]) <= 12
    # the contract: finish_reason rides on the last content chunk, not on a chunk of its own
    finishes = [c["choices"][0]["finish_reason"] for c in chunks[:-1]]
    assert finishes == [None] * (len(finishes) - 1) + ["stop"]
    usage_chunk = chunks[-1]
    assert usage_chunk["choices"] == [] and usage_chunk["usage"] == full["usage"]
    assert joined_content(chunks) == full["choices"][0]["message"]["content"]


def test_stream_tool_call_fragments_join_to_the_arguments(phttp: httpx.Client) -> None:
    payload = body("Convert 250 USD to EUR for me.", tools=TOOLS)
    full = answer(phttp, payload)["choices"][0]
    chunks, data = stream_chunks(phttp, payload)
    assert data[-1] == "[DONE]"
    fragments = [
        call
        for c in chunks
        if c["choices"]
        for call in c["choices"][0]["delta"].get("tool_calls", [])
    ]
    assert len(fragments) >= 3
    first, rest = fragments[0], fragments[1:]
    assert first["index"] == 0 and first["id"].startswith("toolu_") and first["type"] == "function"
    assert first["function"] == {"name": "convert_currency", "arguments": ""}
    assert all(set(f) == {"index", "function"} and set(f["function"]) == {"arguments"}
               for f in rest)  # fmt: skip
    joined = "".join(f["function"]["arguments"] for f in fragments)
    assert json.loads(joined) == {"amount": 250, "from_currency": "USD", "to_currency": "EUR"}
    assert joined == full["message"]["tool_calls"][0]["function"]["arguments"]
    assert first["id"] == full["message"]["tool_calls"][0]["id"]
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-2]["choices"][0]["delta"]["tool_calls"] == [fragments[-1]]
    assert joined_content(chunks) == ""


def test_stream_with_nothing_to_say_still_finishes(phttp: httpx.Client) -> None:
    chunks, data = stream_chunks(phttp, body("Tell me", stop=["Here"]))
    assert joined_content(chunks) == "" and data[-1] == "[DONE]"
    assert [c["choices"][0]["finish_reason"] for c in chunks[:-1]] == [None, "stop"]


# ---------------------------------------------------------------- stop, length, reasoning


@pytest.mark.parametrize("stream", [False, True])
def test_stop_sequences_cut_the_text(phttp: httpx.Client, stream: bool) -> None:
    question = "What is 37 * 12 + 5?"
    assert answer(phttp, body(question))["choices"][0]["message"]["content"].endswith("449")
    for stop, expected in ((["Answer:"], "37 * 12 = 444\n444 + 5 = 449\n"),
                           (["\n"], "37 * 12 = 444"), (["nope", "= 4"], "37 * 12 ")):  # fmt: skip
        payload = body(question, stop=stop)
        if stream:
            chunks, data = stream_chunks(phttp, payload)
            content, finish = joined_content(chunks), chunks[-2]["choices"][0]["finish_reason"]
            assert data[-1] == "[DONE]"
        else:
            choice = answer(phttp, payload)["choices"][0]
            content, finish = choice["message"]["content"], choice["finish_reason"]
        assert content == expected and finish == "stop"


@pytest.mark.parametrize("stream", [False, True])
def test_max_tokens_truncates_with_finish_length(http: httpx.Client, stream: bool) -> None:
    prompt = "Describe the history of the printing press"
    full = answer(http, body(prompt))["choices"][0]["message"]["content"]
    assert math.ceil(len(full) / 4) > 8
    payload = body(prompt, max_tokens=5)
    if stream:
        chunks, _ = stream_chunks(http, payload)
        content, finish = joined_content(chunks), chunks[-2]["choices"][0]["finish_reason"]
        usage = chunks[-1]["usage"]
    else:
        data = answer(http, payload)
        content, finish = (
            data["choices"][0]["message"]["content"],
            data["choices"][0]["finish_reason"],
        )
        usage = data["usage"]
    assert finish == "length" and full.startswith(content) and 0 < len(content) <= 20
    assert usage["completion_tokens"] <= 5


def test_reasoning_only_when_requested(phttp: httpx.Client) -> None:
    question = "What is (48 - 13) * 7?"
    plain = answer(phttp, body(question, model=SONNET))
    assert "reasoning" not in plain["choices"][0]["message"]
    assert "completion_tokens_details" not in plain["usage"]

    hidden = answer(
        phttp,
        body(question, model=SONNET, extended_thinking={**_THINK, "include_reasoning": False}),
    )
    assert "reasoning" not in hidden["choices"][0]["message"]
    reasoning_tokens = hidden["usage"]["completion_tokens_details"]["reasoning_tokens"]
    assert reasoning_tokens > 0
    assert (
        hidden["usage"]["completion_tokens"]
        == plain["usage"]["completion_tokens"] + reasoning_tokens
    )

    shown = answer(phttp, body(question, model=SONNET, extended_thinking=_THINK))
    message = shown["choices"][0]["message"]
    thinking = message["reasoning"]["thinking"]
    assert thinking.startswith("Let me work through this step by step")
    assert "48 - 13 = 35" in thinking and math.ceil(len(thinking) / 4) == reasoning_tokens
    assert reasoning_tokens <= 1024
    assert message["content"] == plain["choices"][0]["message"]["content"]
    usage = shown["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]

    off = answer(
        phttp,
        body(
            question, model=SONNET, extended_thinking={"enabled": False, "include_reasoning": True}
        ),
    )
    assert "reasoning" not in off["choices"][0]["message"]


def test_streamed_reasoning_comes_before_the_content(phttp: httpx.Client) -> None:
    chunks, data = stream_chunks(
        phttp, body("What is 6 * 7?", model=SONNET, extended_thinking=_THINK)
    )
    kinds = [next(iter(c["choices"][0]["delta"]), "end") for c in chunks[1:] if c["choices"]]
    first_content = kinds.index("content")
    assert kinds[:first_content] and set(kinds[:first_content]) == {"reasoning"}
    thinking = "".join(
        c["choices"][0]["delta"]["reasoning"]["thinking"] for c in chunks[1 : first_content + 1]
    )
    assert thinking.startswith("Let me work through this") and "6 * 7 = 42" in thinking
    assert joined_content(chunks).endswith("Answer: 42") and data[-1] == "[DONE]"


def test_reasoning_is_cut_to_the_budget() -> None:
    request = parse_request(body(model=SONNET, max_tokens=1100, extended_thinking=_THINK))
    reply = build_reply(request, Solution("text", "word " * 400, "step " * 5000))
    assert reply.reasoning_tokens == 1024 and len(reply.reasoning) == 4096
    assert reply.reasoning.startswith("Let me work through this step by step")
    assert reply.finish_reason == "length" and reply.completion_tokens == 1100
    assert reply.content == ("word " * 400)[: (1100 - 1024) * 4]


# ---------------------------------------------------------------- solvers


@pytest.mark.parametrize(
    ("question", "expected"),
    [("What is 37 * 12 + 5?", "449"), ("What is (48 - 13) * 7?", "245"),
     ("What is 5 - 12?", "-7"), ("Compute 7 / 2.", "3.5"),
     ("What is 100 - (3 + 4) * (2 - 9)?", "149"),
     ("Calculate -4 * -5 + 1", "21")],
)  # fmt: skip
def test_arithmetic_is_solved(phttp: httpx.Client, question: str, expected: str) -> None:
    payload = {"model": SONNET, "messages": [
        {"role": "system", "content": "Solve it. End with 'Answer: <number>'."},
        {"role": "user", "content": question}]}  # fmt: skip
    content = answer(phttp, payload)["choices"][0]["message"]["content"]
    assert content.splitlines()[-1] == f"Answer: {expected}"
    assert len(content.splitlines()) >= 2


MC = [
    ("Which of the following numbers is the largest?", ["387", "178", "710", "708"], "C"),
    ("Which number is the greatest?", ["12", "99", "7"], "B"),
    ("Which of the following numbers is the smallest?", ["577", "653", "558", "839"], "C"),
    ("Which of the following words comes first in alphabetical order?",
     ["dynamo", "umbrella", "Apple", "lagoon"], "C"),
    ("Which of the following numbers is prime?", ["124", "18", "26", "109"], "D"),
    ("Which of the following words is the longest?", ["jasmine", "orbit", "zephyr"], "A"),
    ("Which of the following words is the shortest?", ["island", "glacier", "raven"], "C"),
]  # fmt: skip


@pytest.mark.parametrize("style", ["{}) {}", "{}. {}", "({}) {}"])
@pytest.mark.parametrize(("question", "options", "letter"), MC, ids=[m[0][-22:] for m in MC])
def test_multiple_choice_is_solved(
    phttp: httpx.Client, question: str, options: list[str], letter: str, style: str
) -> None:
    lines = "\n".join(style.format("ABCDEFGH"[i], o) for i, o in enumerate(options))
    content = answer(phttp, body(f"{question}\n\n{lines}"))["choices"][0]["message"]["content"]
    assert content.splitlines()[-1] == f"Answer: {letter}"


def test_unrecognised_multiple_choice_gets_a_stable_valid_letter(http: httpx.Client) -> None:
    prompt = "Which colour do most people like?\nA) red\nB) blue\nC) green\nD) grey"
    first = answer(http, body(prompt, temperature=0))["choices"][0]["message"]["content"]
    assert re.search(r"\nAnswer: [ABCD]$", first)
    assert answer(http, body(prompt, temperature=0))["choices"][0]["message"]["content"] == first


@pytest.mark.parametrize(
    ("prompt", "name", "arguments"),
    [(WEATHER, "get_weather", {"city": "Paris", "unit": "celsius"}),
     ("Is it warm in Oslo today? Answer in fahrenheit.", "get_weather",
      {"city": "Oslo", "unit": "fahrenheit"}),
     ("Convert 250 USD to EUR for me.", "convert_currency",
      {"amount": 250, "from_currency": "USD", "to_currency": "EUR"}),
     ("How much is 12.5 GBP in JPY at today's exchange rate?", "convert_currency",
      {"amount": 12.5, "from_currency": "GBP", "to_currency": "JPY"}),
     ("What time is it in Tokyo?", "get_local_time", {"city": "Tokyo"}),
     ("What time is it in New York right now?", "get_local_time", {"city": "New York"})],
)  # fmt: skip
def test_tools_are_called_with_arguments_from_the_prompt(
    phttp: httpx.Client, prompt: str, name: str, arguments: dict
) -> None:
    choice = answer(phttp, body(prompt, tools=TOOLS, tool_choice="auto"))["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    message = choice["message"]
    assert message["content"] == ""
    (call,) = message["tool_calls"]
    assert re.fullmatch(r"toolu_[0-9a-f]+", call["id"]) and call["type"] == "function"
    assert call["function"]["name"] == name
    assert json.loads(call["function"]["arguments"]) == arguments


def test_tool_choice_modes(phttp: httpx.Client) -> None:
    def choice(prompt: str, tool_choice: Any) -> dict:
        return answer(phttp, body(prompt, tools=TOOLS, tool_choice=tool_choice))["choices"][0]

    none = choice(WEATHER, "none")
    assert none["finish_reason"] == "stop" and "tool_calls" not in none["message"]
    joke = "Tell me a joke about penguins"
    auto = choice(joke, "auto")
    assert auto["finish_reason"] == "stop" and auto["message"]["content"]
    required = choice(joke, "required")
    assert required["finish_reason"] == "tool_calls" and len(required["message"]["tool_calls"]) == 1
    forced = choice(WEATHER, {"type": "function", "function": {"name": "get_local_time"}})
    call = forced["message"]["tool_calls"][0]["function"]
    assert call["name"] == "get_local_time" and json.loads(call["arguments"]) == {"city": "Paris"}


@pytest.mark.parametrize("stream", [False, True])
def test_lone_surrogates_in_the_prompt_are_not_a_500(http: httpx.Client, stream: bool) -> None:
    payload = json.dumps(body("Tell me about \ud800 and \udfff", stream=stream))  # ASCII escapes
    response = chat(http, payload)
    assert response.status_code == 200, response.text
    if stream:
        text = joined_content([json.loads(d) for d in sse_data(response.text)[:-2]])
    else:
        text = response.json()["choices"][0]["message"]["content"]
    assert "\ud800 and \udfff" in text


@pytest.mark.parametrize("text", ["What is = " + "- " * 50_000, "What is (" + "(" * 100_000,
                                  "A) x" + " " * 100_000 + "y\nB) z"])  # fmt: skip
def test_long_pathological_prompts_answer_quickly(http: httpx.Client, text: str) -> None:
    start = time.perf_counter()
    assert chat(http, body(text)).status_code == 200
    assert time.perf_counter() - start < 2.0


@pytest.mark.parametrize(
    "tool_choice", ["required", {"type": "function", "function": {"name": "get_local_time"}}]
)
def test_a_forced_tool_choice_calls_a_tool_even_after_a_tool_result(
    phttp: httpx.Client, tool_choice: Any
) -> None:
    messages = [{"role": "user", "content": "What time is it in Tokyo?"}, _ASSISTANT_CALL,
                _TOOL_REPLY]  # fmt: skip
    payload = {"model": HAIKU, "messages": messages, "tools": TOOLS, "tool_choice": tool_choice}
    choice = answer(phttp, payload)["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["tool_calls"][0]["function"]["name"] == "get_local_time"


def test_a_tool_result_gets_a_text_answer(phttp: httpx.Client) -> None:
    messages = [{"role": "user", "content": "What time is it in Tokyo?"}, _ASSISTANT_CALL,
                _TOOL_REPLY]  # fmt: skip
    choice = answer(phttp, {"model": HAIKU, "messages": messages, "tools": TOOLS})["choices"][0]
    assert choice["finish_reason"] == "stop" and "tool_calls" not in choice["message"]
    assert (
        "09:30" in choice["message"]["content"] and "get_local_time" in choice["message"]["content"]
    )


def test_wrong_answers_are_plausibly_wrong() -> None:
    def run(payload: dict) -> Any:
        return solve(parse_request(payload), 0.0)

    for a, b, c in [(37, 12, 5), (48, 13, 7), (3, 4, 5), (90, 9, 1)]:
        content = run(body(f"What is {a} * {b} + {c}?")).content
        got = int(content.rsplit("Answer: ", 1)[1])
        assert got != a * b + c and abs(got - (a * b + c)) <= 10
    mc = "Which number is the largest?\nA) 1\nB) 9\nC) 3"
    assert run(body(mc)).content.splitlines()[-1] in ("Answer: A", "Answer: C")
    right = {"amount": 250, "from_currency": "USD", "to_currency": "EUR"}
    wrong_calls = 0
    for prompt, target in [
        ("Convert 250 USD to EUR for me.", ("convert_currency", right)),
        (WEATHER, ("get_weather", {"city": "Paris", "unit": "celsius"})),
    ]:
        call = run(body(prompt, tools=TOOLS)).tool_calls[0]["function"]
        wrong_calls += (call["name"], json.loads(call["arguments"])) != target
    assert wrong_calls == 2


def test_generic_prompts_are_not_mistaken_for_tasks() -> None:
    for prompt in ("Summarize the 2020-2021 annual report", "I. Introduction\nII. Methods"):
        assert solve(parse_request(body(prompt)), 1.0).kind == "text"
    assert parse_options("Pick one:\nA) x\nC) y") is None
    assert _capitalized_phrases("What time is it in Rio de Janeiro? Paris is nice.") == [
        "Rio de Janeiro"
    ]


def test_sonnet_is_more_accurate_than_haiku(http: httpx.Client) -> None:
    rng = random.Random(7)
    problems = []
    for _ in range(300):
        a, b, c = rng.randint(2, 99), rng.randint(2, 99), rng.randint(1, 99)
        problems.append((f"What is {a} * {b} + {c}?", a * b + c))
    accuracy = {}
    for model in (SONNET, HAIKU):
        right = 0
        for question, expected in problems:
            content = answer(http, body(question, model=model))["choices"][0]["message"]["content"]
            got = int(content.rsplit("Answer: ", 1)[1])
            right += got == expected
            assert got == expected or 0 < abs(got - expected) <= 10
        accuracy[model] = right / len(problems)
    assert 0.86 <= accuracy[SONNET] <= 0.99 and 0.70 <= accuracy[HAIKU] <= 0.89
    assert accuracy[SONNET] - accuracy[HAIKU] >= 0.07


# ---------------------------------------------------------------- latency


def test_speed_zero_never_sleeps(
    srv: EmulatorServer, http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[float] = []

    async def no_sleep(delay: float) -> None:
        calls.append(delay)

    monkeypatch.setattr(emulator_app, "sleep", no_sleep)
    answer(http, body("Tell me about sleep"))
    stream_chunks(http, body("Tell me about sleep", extended_thinking=_THINK, temperature=1))
    assert calls == [] and srv.stats.completed == 2


def test_latency_follows_the_model_profiles() -> None:
    with EmulatorServer(EmulatorConfig(api_key=KEY, speed=0.1)) as server:
        with httpx.Client(base_url=server.base_url, headers=_auth()) as client:
            answer(client, body("warm up"))
            timings = {}
            for model in (SONNET, HAIKU):
                start = time.perf_counter()
                answer(client, body("What is 2 + 2?", model=model))
                timings[model] = time.perf_counter() - start
            assert timings[HAIKU] >= 0.35 * 0.1 * 0.8
            assert timings[SONNET] >= 0.8 * 0.1 * 0.8 and timings[SONNET] > timings[HAIKU]
            start = time.perf_counter()
            with client.stream(
                "POST",
                "/v1/chat/completions",
                json=body("Tell me about owls", model=SONNET, stream=True),
            ) as resp:
                arrivals = [time.perf_counter() - start for line in resp.iter_lines()
                            if line.startswith("data: ")]  # fmt: skip
            assert arrivals[0] >= 0.8 * 0.1 * 0.8  # ttft before the first chunk
            assert arrivals[-1] - arrivals[1] > 0.01  # the rest is spread over the chunks


# ---------------------------------------------------------------- faults


def test_scripted_429_has_retry_after(srv: EmulatorServer, http: httpx.Client) -> None:
    srv.script(["429"])
    response = chat(http, body())
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "1" and response.headers["retry-after-ms"] == "1000"
    assert response.json()["error"]["type"] == "rate_limit_error"
    for seconds, after, ms in ((0.25, "1", "250"), (0.29, "1", "290"), (0, "0", "0"),
                               (2.5, "3", "2500")):  # fmt: skip
        srv.set_faults(Faults(retry_after_s=seconds))
        srv.script(["429"])
        response = chat(http, body())
        # HTTP's Retry-After is whole seconds (urllib3 rejects "0.25"); the ms header is exact
        assert response.headers["Retry-After"] == after
        assert response.headers["retry-after-ms"] == ms
    assert chat(http, body()).status_code == 200


@pytest.mark.parametrize("outcome", ["500", "503"])
def test_scripted_server_errors(srv: EmulatorServer, http: httpx.Client, outcome: str) -> None:
    srv.script([outcome, "ok"])
    response = chat(http, body())
    assert response.status_code == int(outcome)
    assert response.json()["error"] == {
        "code": int(outcome), "message": response.json()["error"]["message"], "type": "server_error"
    }  # fmt: skip
    assert chat(http, body()).status_code == 200
    assert srv.stats.faults == {outcome: 1}


def test_scripted_drop_is_a_transport_error(srv: EmulatorServer, http: httpx.Client) -> None:
    srv.script(["drop"])
    with pytest.raises(httpx.TransportError):
        chat(http, body())
    assert chat(http, body()).status_code == 200
    assert srv.stats.dropped == 1 and srv.stats.requests_total == 2


def test_scripted_hang_times_out_the_client(srv: EmulatorServer) -> None:
    srv.set_faults(Faults(hang_s=5.0))
    srv.script(["hang"])
    with httpx.Client(base_url=srv.base_url, headers=_auth(), timeout=0.3) as client:
        start = time.perf_counter()
        with pytest.raises(httpx.ReadTimeout):
            chat(client, body())
        assert time.perf_counter() - start < 2
        assert chat(client, body()).status_code == 200
    srv.set_faults(Faults(hang_s=0.2))
    srv.script(["hang"])
    with httpx.Client(base_url=srv.base_url, headers=_auth(), timeout=5) as client:
        start = time.perf_counter()
        assert chat(client, body()).status_code == 200
        assert time.perf_counter() - start >= 0.2


def test_scripted_truncate(srv: EmulatorServer, http: httpx.Client) -> None:
    srv.script(["truncate", "truncate"])
    response = chat(http, body("Tell me about truncation", stream=True))
    assert response.status_code == 200
    data = sse_data(response.text)
    assert data and "[DONE]" not in data
    chunks = [json.loads(d) for d in data]
    assert all(c["choices"] and c["choices"][0]["finish_reason"] is None for c in chunks)
    plain = chat(http, body("Tell me about truncation"))
    assert plain.status_code == 200 and plain.text.startswith('{"id":"chatcmpl-')
    with pytest.raises(json.JSONDecodeError):
        json.loads(plain.text)
    assert srv.stats.completed == 0 and srv.stats.by_status == {200: 2}


def test_scripted_malformed(srv: EmulatorServer, http: httpx.Client) -> None:
    srv.script(["malformed", "malformed"])
    response = chat(http, body())
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()
    streamed = chat(http, body(stream=True))
    assert streamed.status_code == 200
    bad = 0
    for item in sse_data(streamed.text):
        try:
            json.loads(item) if item != "[DONE]" else None
        except json.JSONDecodeError:
            bad += 1
    assert bad == 1
    assert chat(http, body()).json()["object"] == "chat.completion"


def test_script_rejects_unknown_outcomes(srv: EmulatorServer) -> None:
    with pytest.raises(ValueError, match="unknown outcome"):
        srv.script(["ok", "teapot"])


def test_random_faults_are_reproducible_and_retries_succeed(
    srv: EmulatorServer, http: httpx.Client
) -> None:
    def statuses(payload: dict, n: int) -> list[int]:
        return [chat(http, payload).status_code for _ in range(n)]

    faults = Faults(error_500=0.3, rate_429=0.2, retry_after_s=0)
    srv.set_faults(faults)
    payloads = [body(f"Question number {i}") for i in range(120)]
    first = [statuses(p, 3) for p in payloads]
    srv.reset()
    srv.set_faults(faults)
    assert [statuses(p, 3) for p in payloads] == first
    flat = [s for row in first for s in row]
    assert set(flat) == {200, 429, 500}
    assert 0.35 <= flat.count(200) / len(flat) <= 0.65
    assert sum(200 in row for row in first) >= 0.8 * len(first)  # retries of a body can succeed
    with EmulatorServer(EmulatorConfig(api_key=KEY, speed=0, faults=faults, seed=1)) as other:
        with httpx.Client(base_url=other.base_url, headers=_auth()) as client:
            other_first = [[chat(client, p).status_code for _ in range(3)] for p in payloads]
    assert other_first != first


def test_rate_limits_can_be_enforced() -> None:
    with EmulatorServer(EmulatorConfig(api_key=KEY, speed=0, enforce_rate_limits=True)) as server:
        with httpx.Client(base_url=server.base_url, headers=_auth()) as client:
            for _ in range(150):
                assert chat(client, body(model=SONNET)).status_code == 200
            limited = chat(client, body(model=SONNET))
            assert limited.status_code == 429
            assert 50 <= float(limited.headers["Retry-After"]) <= 60
            assert limited.headers["x-ratelimit-remaining-requests"] == "0"
            assert chat(client, body(model=HAIKU)).status_code == 200


# ---------------------------------------------------------------- stats and admin


def test_stats_count_every_request(srv: EmulatorServer, http: httpx.Client) -> None:
    answer(http, body(model=SONNET))
    chat(http, body(), headers=_auth("inf-nope"))
    chat(http, body(model="nope"))
    srv.script(["500", "drop"])
    chat(http, body())
    with pytest.raises(httpx.TransportError):
        chat(http, body())
    stats = srv.stats
    assert stats.requests_total == 5 and stats.completed == 1 and stats.dropped == 1
    assert stats.by_status == {200: 1, 401: 1, 400: 1, 500: 1}
    assert stats.by_model == {SONNET: 1, "nope": 1, HAIKU: 2}
    assert stats.peak_in_flight >= 1
    deadline = time.monotonic() + 2
    while stats.in_flight and time.monotonic() < deadline:  # handlers finish after replying
        time.sleep(0.01)
    assert stats.in_flight == 0
    snap = stats.snapshot()
    assert json.loads(json.dumps(snap)) == snap
    assert snap["by_status"] == {"200": 1, "400": 1, "401": 1, "500": 1}
    assert snap["faults"] == {"500": 1, "drop": 1} and snap["prompt_tokens"] > 0
    assert http.get("/_emulator/stats", headers={}).json() == snap


def test_admin_routes_drive_the_server(srv: EmulatorServer, http: httpx.Client) -> None:
    admin = httpx.Client(base_url=srv.base_url)  # no auth needed
    response = admin.post("/_emulator/faults", json={"error_503": 1.0})
    assert response.status_code == 200 and response.json()["error_503"] == 1.0
    assert admin.get("/_emulator/faults").json()["error_503"] == 1.0
    assert chat(http, body()).status_code == 503
    assert admin.post("/_emulator/faults", json={"error_503": 2}).status_code == 400
    assert admin.post("/_emulator/faults", json={"bogus": 1}).status_code == 400
    assert admin.post("/_emulator/faults", json=[1]).status_code == 400
    assert admin.post("/_emulator/faults", json={}).status_code == 200
    assert admin.post("/_emulator/script", json={"outcomes": ["429", "ok"]}).json() == {"queued": 2}
    assert chat(http, body()).status_code == 429
    assert chat(http, body()).status_code == 200
    assert admin.post("/_emulator/script", json={"outcomes": ["boom"]}).status_code == 400
    assert admin.get("/_emulator/stats").json()["requests_total"] == 3
    reset = admin.post("/_emulator/reset").json()
    assert reset["requests_total"] == 0 and reset["by_status"] == {}
    assert srv.stats.requests_total == 0
    admin.close()


def test_config_rejects_bad_knobs() -> None:
    with pytest.raises(ValueError, match="add up"):
        Faults(error_500=0.6, rate_429=0.6)
    with pytest.raises(ValueError, match="rate_429"):
        Faults(rate_429=-0.1)
    with pytest.raises(ValueError, match="speed"):
        EmulatorConfig(speed=-1)
    with pytest.raises(ValueError, match="accuracy"):
        EmulatorConfig(accuracy={HAIKU: 2.0})
    assert EmulatorConfig(accuracy={HAIKU: 0.5}).accuracy_for(SONNET, 0.93) == 0.93


# ---------------------------------------------------------------- the openai SDK as a client


def _sdk(server: EmulatorServer, **kw: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url + "/v1", api_key=KEY, **kw)


def test_openai_sdk_non_streaming_and_streaming(perfect: EmulatorServer) -> None:
    client = _sdk(perfect, max_retries=0)
    messages: Any = [{"role": "user", "content": "What is 37 * 12 + 5?"}]
    completion = client.chat.completions.create(model=SONNET, messages=messages, max_tokens=100)
    assert completion.choices[0].message.content.endswith("Answer: 449")
    assert completion.choices[0].finish_reason == "stop"
    assert (
        completion.usage.total_tokens
        == completion.usage.prompt_tokens + completion.usage.completion_tokens
    )
    stream = client.chat.completions.create(model=SONNET, messages=messages, stream=True)
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == completion.choices[0].message.content
    assert (
        chunks[-1].choices == [] and chunks[-1].usage.total_tokens == completion.usage.total_tokens
    )
    thinking = client.chat.completions.create(
        model=SONNET, messages=messages, max_tokens=2048, extra_body={"extended_thinking": _THINK}
    )
    reasoning = thinking.choices[0].message.model_extra["reasoning"]
    assert reasoning["thinking"].startswith("Let me work through this step by step")
    client.close()


def test_openai_sdk_tool_calls(perfect: EmulatorServer) -> None:
    client = _sdk(perfect, max_retries=0)
    messages: Any = [{"role": "user", "content": "Convert 250 USD to EUR for me."}]
    completion = client.chat.completions.create(model=HAIKU, messages=messages, tools=TOOLS)
    call = completion.choices[0].message.tool_calls[0]
    assert completion.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "convert_currency"
    expected = {"amount": 250, "from_currency": "USD", "to_currency": "EUR"}
    assert json.loads(call.function.arguments) == expected
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in client.chat.completions.create(
        model=HAIKU, messages=messages, tools=TOOLS, stream=True
    ):
        if not chunk.choices:
            continue
        finish = chunk.choices[0].finish_reason or finish
        for fragment in chunk.choices[0].delta.tool_calls or []:
            slot = calls.setdefault(fragment.index, {"id": "", "name": "", "arguments": ""})
            slot["id"] += fragment.id or ""
            slot["name"] += fragment.function.name or ""
            slot["arguments"] += fragment.function.arguments or ""
    assert finish == "tool_calls" and list(calls) == [0]
    assert calls[0]["id"] == call.id and calls[0]["name"] == "convert_currency"
    assert json.loads(calls[0]["arguments"]) == expected
    client.close()


def test_openai_sdk_errors_and_retries(perfect: EmulatorServer) -> None:
    messages: Any = [{"role": "user", "content": "hi"}]
    strict = _sdk(perfect, max_retries=0)
    with pytest.raises(openai.BadRequestError, match="temperature"):
        strict.chat.completions.create(model=HAIKU, messages=messages, temperature=2)
    perfect.script(["429"])
    with pytest.raises(openai.RateLimitError):
        strict.chat.completions.create(model=HAIKU, messages=messages)
    wrong = openai.OpenAI(base_url=perfect.base_url + "/v1", api_key="inf-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong.chat.completions.create(model=HAIKU, messages=messages)
    perfect.set_faults(Faults(retry_after_s=0.01))
    perfect.script(["429", "500"])
    patient = _sdk(perfect, max_retries=2)
    done = patient.chat.completions.create(model=HAIKU, messages=messages)
    assert done.choices[0].message.content
    assert perfect.stats.faults == {"429": 2, "500": 1}
    for client in (strict, wrong, patient):
        client.close()


# The foreground server (`pipeline serve`) is tested through the CLI in test_serve.py.
