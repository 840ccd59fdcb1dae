"""ChatClient end to end over httpx.MockTransport: parsing, the retry loop, budgets, key hygiene."""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import AsyncIterator, Callable

import anyio
import httpx
import pytest

from pipeline.client import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ChatClient,
    ChatError,
    DeadlineExceededError,
    Endpoint,
    ProtocolError,
    RateLimitError,
    RetryEvent,
    RetryPolicy,
    ServerError,
    chat_url,
)

pytestmark = pytest.mark.anyio

KEY = "inf-SECRET-0123456789abcdefXYZ"
BASE = "https://us.inference.heroku.com"
BODY = {"model": "claude-4-5-haiku", "messages": [{"role": "user", "content": "hi"}]}

Handler = Callable[[httpx.Request], object]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class FakeTime:
    """A recording no-op sleep with a fake clock that the sleeps advance."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


@pytest.fixture
def events() -> list[RetryEvent]:
    return []


@pytest.fixture
def make(fake: FakeTime, events: list[RetryEvent]):
    clients: list[ChatClient] = []

    def _make(handler: Handler, *, clock: bool = False, **policy: object) -> ChatClient:
        policy.setdefault("attempt_timeout_s", 5.0)
        client = ChatClient(
            retry=RetryPolicy(**policy),
            transport=httpx.MockTransport(handler),
            sleep=fake.sleep,
            on_retry=events.append,
            **({"clock": fake.clock} if clock else {}),
        )
        clients.append(client)
        return client

    return _make


def endpoint(base: str = BASE, **headers: str) -> Endpoint:
    return Endpoint(base, KEY, headers)


def answer(message: dict | None = None, **extra: object) -> dict:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "claude-4-5-haiku",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": message or {"role": "assistant", "content": "Hello"},
            }
        ],
        "usage": {"prompt_tokens": 25, "completion_tokens": 12, "total_tokens": 37},
    }
    body.update(extra)
    return body


def ok(body: dict | None = None, **headers: str) -> httpx.Response:
    return httpx.Response(200, json=answer() if body is None else body, headers=headers)


def sequence(*responses: object) -> tuple[Handler, list[httpx.Request]]:
    """A handler answering with each item in turn (raising exceptions), and the requests seen."""
    seen: list[httpx.Request] = []
    items = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        item = items.pop(0) if len(items) > 1 else items[0]
        if isinstance(item, BaseException):
            raise item
        if isinstance(item, httpx.Response) and hasattr(item, "_content"):  # fresh copy per use
            return httpx.Response(item.status_code, headers=item.headers, content=item.content)
        return item

    return handler, seen


# --- request mapping and parsing ------------------------------------------------------------


async def test_request_and_plain_answer(make) -> None:
    handler, seen = sequence(
        ok(
            answer(usage={"prompt_tokens": 25, "completion_tokens": 12, "total_tokens": 37,
                          "cached_tokens": 5, "reasoning_tokens": 2}),
            **{"x-request-id": "req-1", "x-ratelimit-remaining-requests": "149",
               "x-ratelimit-reset-tokens": "51s", "x-other": "no"},
        )
    )  # fmt: skip
    client = make(handler)
    result = await client.complete(endpoint(**{"X-Heroku-Prompt-Caching": "false"}), BODY)
    request = seen[0]
    assert str(request.url) == "https://us.inference.heroku.com/v1/chat/completions"
    assert request.method == "POST"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == "pipeline/0.1"
    assert request.headers["x-heroku-prompt-caching"] == "false"
    assert json.loads(request.content) == BODY
    assert result.text == "Hello"
    assert result.finish_reason == "stop"
    assert result.usage["cached_tokens"] == 5 and result.usage["reasoning_tokens"] == 2
    assert (result.prompt_tokens, result.completion_tokens, result.total_tokens) == (25, 12, 37)
    assert result.response_id == "chatcmpl-1" and result.model == "claude-4-5-haiku"
    assert result.http_status == 200 and result.request_id == "req-1"
    assert result.rate_limit == {
        "x-ratelimit-remaining-requests": "149",
        "x-ratelimit-reset-tokens": "51s",
    }
    assert result.attempts == 1 and result.ttft_s is None and result.latency_s >= 0
    assert result.reasoning is None and result.tool_calls == []
    await client.aclose()


async def test_tool_calls_with_null_content(make) -> None:
    call = {
        "id": "toolu_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
    }
    message = {"role": "assistant", "content": None, "tool_calls": [call]}
    body = answer(message)
    body["choices"][0]["finish_reason"] = "tool_calls"
    handler, _ = sequence(ok(body))
    result = await make(handler).complete(endpoint(), BODY)
    assert result.text is None
    assert result.tool_calls == [call]
    assert result.finish_reason == "tool_calls"


async def test_tool_call_arguments_sent_as_object_become_a_string(make) -> None:
    call = {"id": "t", "type": "function", "function": {"name": "f", "arguments": {"a": 1}}}
    handler, _ = sequence(ok(answer({"content": "", "tool_calls": [call]})))
    result = await make(handler).complete(endpoint(), BODY)
    assert result.text == ""
    assert result.tool_calls[0]["function"]["arguments"] == '{"a": 1}'


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("reasoning", {"thinking": "Because."}),
        ("reasoning", "Because."),
        ("reasoning", [{"type": "thinking", "thinking": "Because."}]),
        ("reasoning", {"text": "Because."}),
        ("reasoning_content", "Because."),
    ],
)
async def test_reasoning_shapes(make, field: str, value: object) -> None:
    handler, _ = sequence(ok(answer({"role": "assistant", "content": "42", field: value})))
    result = await make(handler).complete(endpoint(), BODY)
    assert result.reasoning == "Because." and result.text == "42"


async def test_unreadable_reasoning_is_none(make) -> None:
    handler, _ = sequence(ok(answer({"content": "x", "reasoning": {"signature": 5}})))
    assert (await make(handler).complete(endpoint(), BODY)).reasoning is None


@pytest.mark.parametrize(
    ("usage", "counts", "known"),
    [
        (None, (None, None, None), False),  # no usage object: unknown, not zero
        ({}, (None, None, None), False),
        ({"prompt_tokens": 3, "completion_tokens": 4}, (3, 4, 7), True),
        ({"input_tokens": 3, "output_tokens": 4}, (3, 4, 7), True),
        ({"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}, (0, 0, 0), True),
        ({"prompt_tokens": 3}, (3, None, None), False),
        ({"completion_tokens": 4, "total_tokens": 9}, (None, 4, 9), False),
        ({"prompt_tokens": None, "input_tokens": 3, "completion_tokens": "4"}, (3, 4, 7), True),
        ({"prompt_tokens": 3.0, "completion_tokens": 4, "total_tokens": 7}, (3, 4, 7), True),
        ({"prompt_tokens": -1, "completion_tokens": True, "total_tokens": "n/a"},
         (None, None, None), False),
    ],
)  # fmt: skip
async def test_usage_tolerance(
    make, usage: dict | None, counts: tuple[int | None, ...], known: bool
) -> None:
    body = answer()
    if usage is None:
        del body["usage"]
    else:
        body["usage"] = usage
    handler, _ = sequence(ok(body))
    result = await make(handler).complete(endpoint(), BODY)
    assert (result.prompt_tokens, result.completion_tokens, result.total_tokens) == counts
    assert result.usage_known is known
    assert result.usage == usage


async def test_null_usage_is_no_usage(make) -> None:
    handler, _ = sequence(ok(answer(usage=None)))
    result = await make(handler).complete(endpoint(), BODY)
    assert result.usage is None and result.total_tokens is None and not result.usage_known


@pytest.mark.parametrize(
    ("base", "url"),
    [
        ("https://us.inference.heroku.com", "https://us.inference.heroku.com/v1/chat/completions"),
        ("https://us.inference.heroku.com/", "https://us.inference.heroku.com/v1/chat/completions"),
        ("https://api.example.com/v1", "https://api.example.com/v1/chat/completions"),
        ("https://api.example.com/v1/", "https://api.example.com/v1/chat/completions"),
        ("http://127.0.0.1:8000/openai/v1", "http://127.0.0.1:8000/openai/v1/chat/completions"),
        ("https://x/v1/chat/completions", "https://x/v1/chat/completions"),
    ],
)
async def test_base_url_joining(make, base: str, url: str) -> None:
    assert chat_url(base) == url
    handler, seen = sequence(ok())
    await make(handler).complete(endpoint(base), BODY)
    assert str(seen[0].url) == url


@pytest.mark.parametrize("key", ["", "  \n", None, "absent"])
async def test_endpoint_without_a_key_sends_no_authorization(make, key: str | None) -> None:
    handler, seen = sequence(ok())
    base = "http://127.0.0.1:9"
    ep = Endpoint(base) if key == "absent" else Endpoint(base, key)  # type: ignore[arg-type]
    assert ep.api_key == ""
    assert (await make(handler).complete(ep, BODY)).text == "Hello"
    assert "authorization" not in seen[0].headers


async def test_an_explicit_authorization_header_replaces_the_bearer_key(make) -> None:
    handler, seen = sequence(ok())
    ep = Endpoint(BASE, KEY, {"Authorization": "Token other", "Content-Type": "application/json"})
    await make(handler).complete(ep, BODY)
    assert seen[0].headers.get_list("authorization") == ["Token other"]
    assert seen[0].headers.get_list("content-type") == ["application/json"]


async def test_body_must_be_a_dict(make) -> None:
    handler, _ = sequence(ok())
    with pytest.raises(TypeError):
        await make(handler).complete(endpoint(), [1, 2])  # type: ignore[arg-type]


# --- errors and the retry loop --------------------------------------------------------------


def error(status: int, message: str = "nope", **headers: str) -> httpx.Response:
    body = {"error": {"code": status, "message": message, "type": "some_error"}}
    return httpx.Response(status, json=body, headers=headers)


async def test_429_then_200_honours_retry_after(make, fake, events) -> None:
    handler, seen = sequence(error(429, "slow down", **{"retry-after-ms": "250"}), ok())
    result = await make(handler).complete(endpoint(), BODY)
    assert result.text == "Hello" and result.attempts == 2
    assert len(seen) == 2
    assert fake.sleeps == [0.25]
    assert events == [RetryEvent(1, "rate_limit", 429, 0.25, "HTTP 429 rate_limit: slow down")]


async def test_503_exhausts_max_attempts_with_backoff(make, fake, events) -> None:
    handler, seen = sequence(error(503, "overloaded"))
    client = make(handler, max_attempts=4, backoff_initial_s=0.5, backoff_max_s=30)
    with pytest.raises(ServerError) as info:
        await client.complete(endpoint(), BODY)
    err = info.value
    assert err.kind == "server" and err.http_status == 503 and err.attempts == 4
    assert err.retryable is True and "overloaded" in err.message
    assert len(seen) == 4 and len(events) == 3
    for sleep, base in zip(fake.sleeps, [0.5, 1.0, 2.0], strict=True):
        assert 0.75 * base <= sleep <= base


async def test_400_is_not_retried(make, fake) -> None:
    handler, seen = sequence(error(400, "Invalid request: 'messages' field is required"))
    with pytest.raises(BadRequestError) as info:
        await make(handler).complete(endpoint(), BODY)
    err = info.value
    assert len(seen) == 1 and fake.sleeps == []
    assert (err.kind, err.http_status, err.attempts, err.retryable) == (
        "bad_request",
        400,
        1,
        False,
    )
    assert err.message == "HTTP 400 bad_request: Invalid request: 'messages' field is required"
    assert err.error_code == "400" and err.error_type == "some_error"


@pytest.mark.parametrize(
    ("response", "text"),
    [
        (httpx.Response(502, text="<html><body>Bad Gateway</body></html>"), "Bad Gateway"),
        (httpx.Response(502, json={"error": "upstream died"}), "upstream died"),
        (httpx.Response(502, json={"message": "flat message"}), "flat message"),
        (httpx.Response(502), "Bad Gateway"),  # empty body: the reason phrase
    ],
)
async def test_error_bodies_are_read_tolerantly(make, response, text) -> None:
    handler, _ = sequence(response)
    with pytest.raises(ServerError) as info:
        await make(handler, max_attempts=1).complete(endpoint(), BODY)
    assert text in info.value.message and "\n" not in info.value.message


async def test_x_should_retry_header_is_obeyed(make) -> None:
    handler, seen = sequence(error(503, **{"x-should-retry": "false"}))
    with pytest.raises(ServerError):
        await make(handler).complete(endpoint(), BODY)
    assert len(seen) == 1
    handler, seen = sequence(error(400, **{"x-should-retry": "true"}), ok())
    assert (await make(handler).complete(endpoint(), BODY)).attempts == 2


async def test_connection_error_then_success(make, events) -> None:
    handler, seen = sequence(httpx.ConnectError("connection refused"), ok())
    result = await make(handler).complete(endpoint(), BODY)
    assert result.attempts == 2 and len(seen) == 2
    assert events[0].kind == "connection" and events[0].http_status is None


async def test_connection_errors_exhaust_to_a_transport_error(make) -> None:
    handler, _ = sequence(httpx.ReadError("reset by peer"))
    with pytest.raises(APIConnectionError) as info:
        await make(handler, max_attempts=3).complete(endpoint(), BODY)
    err = info.value
    assert err.kind == "connection" and err.attempts == 3 and err.http_status is None
    assert isinstance(err.__cause__, httpx.ReadError)


async def test_attempt_timeout(make, events) -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        await anyio.sleep(10)
        return ok()

    client = make(handler, attempt_timeout_s=0.05, max_attempts=2)
    with anyio.fail_after(5):
        with pytest.raises(APITimeoutError) as info:
            await client.complete(endpoint(), BODY)
    err = info.value
    assert err.kind == "timeout" and err.attempts == 2 and err.retryable
    assert "0.05s" in err.message
    assert [e.kind for e in events] == ["timeout"]


async def test_timeout_then_success(make) -> None:
    calls = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            await anyio.sleep(10)
        return ok()

    result = await make(handler, attempt_timeout_s=0.05).complete(endpoint(), BODY)
    assert result.attempts == 2


async def test_deadline_stops_retrying(make, fake) -> None:
    handler, seen = sequence(error(503, "busy", **{"retry-after": "4"}))
    client = make(handler, clock=True, deadline_s=10.0, max_attempts=10)
    with pytest.raises(DeadlineExceededError) as info:
        await client.complete(endpoint(), BODY)
    err = info.value
    assert len(seen) == 3 and fake.sleeps == [4.0, 4.0]  # the 3rd retry would start at 12s
    assert err.kind == "deadline" and err.attempts == 3 and err.http_status == 503
    assert err.last_kind == "server" and isinstance(err.__cause__, ServerError)
    assert "busy" in err.message and err.latency_s == 0.0 and err.elapsed_s == 8.0


async def test_no_deadline_means_only_attempts_bound(make, fake) -> None:
    handler, seen = sequence(error(429, **{"retry-after": "100"}))
    with pytest.raises(RateLimitError):
        await make(handler, clock=True, deadline_s=None, max_attempts=3).complete(endpoint(), BODY)
    assert len(seen) == 3 and fake.sleeps == [100.0, 100.0]


@pytest.mark.parametrize("header", [{"retry-after": "300"}, {"retry-after-ms": "300000"}])
async def test_a_long_retry_after_is_honoured(make, fake, events, header) -> None:
    handler, seen = sequence(error(429, "slow down", **header), ok())
    result = await make(handler, clock=True, deadline_s=900).complete(endpoint(), BODY)
    assert result.attempts == 2 and fake.sleeps == [300.0]
    assert events[0].delay_s == 300.0


async def test_a_retry_after_past_the_deadline_gives_up_at_once(make, fake) -> None:
    handler, seen = sequence(error(429, "slow down", **{"retry-after": "300"}), ok())
    with pytest.raises(DeadlineExceededError) as info:
        await make(handler, clock=True, deadline_s=200).complete(endpoint(), BODY)
    err = info.value
    assert len(seen) == 1 and fake.sleeps == []  # never retried sooner than asked
    assert err.retryable and err.last_kind == "rate_limit" and err.http_status == 429
    assert err.retry_after_s == 300.0 and "200s" in err.message and "slow down" in err.message


async def test_retry_after_is_kept_on_errors_that_are_not_retried(make) -> None:
    handler, _ = sequence(error(429, **{"retry-after": "30", "x-should-retry": "false"}))
    with pytest.raises(RateLimitError) as info:
        await make(handler).complete(endpoint(), BODY)
    assert info.value.retry_after_s == 30.0 and info.value.attempts == 1


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text="not json"),
        httpx.Response(200, json={"id": "x", "choices": []}),
        httpx.Response(200, json=["a list"]),
    ],
)
async def test_unusable_200_is_a_retryable_protocol_error(make, response) -> None:
    handler, seen = sequence(response)
    with pytest.raises(ProtocolError) as info:
        await make(handler, max_attempts=2).complete(endpoint(), BODY)
    assert info.value.kind == "protocol" and info.value.retryable and len(seen) == 2
    assert info.value.http_status == 200


@pytest.mark.parametrize(
    "message", [{"content": "", "tool_calls": [{"id": "t", "function": "f"}]}, "a string"]
)
async def test_odd_message_shapes_never_escape_as_non_chat_errors(make, message) -> None:
    handler, _ = sequence(ok(answer(message)))
    try:
        result = await make(handler, max_attempts=1).complete(endpoint(), BODY)
    except ChatError as exc:  # a broken answer is a protocol error, never an AttributeError
        assert isinstance(exc, ProtocolError) and isinstance(message, str)
    else:
        assert result.tool_calls == [
            {"id": "t", "type": "function", "function": {"name": None, "arguments": ""}}
        ]


@pytest.mark.parametrize(("calls", "count"), [({"id": "t", "function": {"name": "f"}}, 1),
                                              ("junk", 0)])  # fmt: skip
async def test_tool_calls_that_are_not_a_list(make, calls: object, count: int) -> None:
    handler, _ = sequence(ok(answer({"content": "", "tool_calls": calls})))
    result = await make(handler).complete(endpoint(), BODY)
    assert len(result.tool_calls) == count


async def test_200_carrying_an_error_object_is_classified_by_its_code(make) -> None:
    body = {"error": {"code": 429, "message": "too many", "type": "rate_limit_error"}}
    handler, seen = sequence(httpx.Response(200, json=body), ok())
    result = await make(handler).complete(endpoint(), BODY)
    assert result.attempts == 2
    handler, seen = sequence(httpx.Response(200, json={"error": {"code": 400, "message": "bad"}}))
    with pytest.raises(BadRequestError):
        await make(handler).complete(endpoint(), BODY)
    assert len(seen) == 1


async def test_failed_response_is_closed_before_sleeping(make, fake) -> None:
    closed: list[bool] = []

    class Tracked(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield b'{"error": {"message": "busy"}}'

        async def aclose(self) -> None:
            closed.append(True)

    async def sleep(seconds: float) -> None:
        assert closed == [True]

    handler, _ = sequence(httpx.Response(503, stream=Tracked()), ok())
    client = ChatClient(transport=httpx.MockTransport(handler), sleep=sleep)
    assert (await client.complete(endpoint(), BODY)).attempts == 2
    await client.aclose()


class BadBody(httpx.AsyncByteStream):
    """An error body that breaks off (or stalls) after its first piece, or fails to close."""

    def __init__(self, mode: str) -> None:
        self.mode = mode

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b'{"error": {"message": "slow'
        if self.mode == "lost":
            raise httpx.ReadError("connection reset by peer")
        if self.mode == "stall":
            await anyio.sleep(10)
        yield b' down"}}'

    async def aclose(self) -> None:
        if self.mode == "close":
            raise httpx.ReadError("reset while closing")


@pytest.mark.parametrize("mode", ["lost", "stall", "close"])
async def test_a_broken_error_body_keeps_the_status_and_its_retry_after(make, fake, mode) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls > 1:
            return ok()
        return httpx.Response(429, headers={"retry-after": "7"}, stream=BadBody(mode))

    with anyio.fail_after(5):
        result = await make(handler, attempt_timeout_s=0.3).complete(endpoint(), BODY)
    assert result.attempts == 2 and fake.sleeps == [7.0]  # the wait asked for, not a backoff


async def test_a_broken_error_body_still_gives_a_non_retryable_status(make) -> None:
    handler, seen = sequence(httpx.Response(400, stream=BadBody("lost")))
    with pytest.raises(BadRequestError) as info:
        await make(handler).complete(endpoint(), BODY)
    assert info.value.http_status == 400 and len(seen) == 1


async def test_an_in_stream_error_survives_a_failing_close(make) -> None:
    class ErrorThenBadClose(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield b'data: {"error": {"code": 400, "message": "too long"}}\n\n'

        async def aclose(self) -> None:
            raise httpx.ReadError("reset while closing")

    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"content-type": "text/event-stream"}
        return httpx.Response(200, headers=headers, stream=ErrorThenBadClose())

    with pytest.raises(BadRequestError) as info:
        await make(handler).complete(endpoint(), {**BODY, "stream": True})
    assert "too long" in info.value.message and info.value.attempts == 1


async def test_non_chat_exceptions_propagate(make) -> None:
    handler, _ = sequence(RuntimeError("a bug"))
    with pytest.raises(RuntimeError):
        await make(handler).complete(endpoint(), BODY)


# --- the key never leaks --------------------------------------------------------------------


def test_endpoint_repr_hides_the_key() -> None:
    ep = Endpoint(BASE, KEY, {"X-Heroku-Prompt-Caching": "false", "X-Api-Key": KEY})
    assert KEY not in repr(ep) and KEY not in str(ep) and KEY not in f"{ep!r} {ep}"
    assert "X-Heroku-Prompt-Caching" in repr(ep)


def test_endpoint_strips_and_validates_the_key() -> None:
    assert Endpoint(BASE, f" {KEY}\n").api_key == KEY
    with pytest.raises(ValueError) as info:
        Endpoint(BASE, "inf-abc\r\ndef")
    assert "abc" not in str(info.value)


def _assert_clean(err: ChatError, caplog: pytest.LogCaptureFixture) -> None:
    logging.getLogger("test").exception("request failed", exc_info=err)
    text = "".join(traceback.format_exception(err))
    for shown in (str(err), repr(err), err.message, text, caplog.text):
        assert KEY not in shown
        assert "SECRET" not in shown


async def test_key_not_leaked_by_401_that_echoes_it(make, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    handler, _ = sequence(error(401, f"Invalid key {KEY} (header: Bearer {KEY})"))
    with pytest.raises(AuthenticationError) as info:
        await make(handler).complete(endpoint(), BODY)
    assert info.value.kind == "auth" and "Invalid key ***" in info.value.message
    _assert_clean(info.value, caplog)


async def test_key_not_leaked_by_transport_errors(make, caplog, events) -> None:
    caplog.set_level(logging.DEBUG)

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot send {request.headers['authorization']}", request=request)

    with pytest.raises(APIConnectionError) as info:
        await make(handler, max_attempts=3).complete(endpoint(), BODY)
    assert len(events) == 2 and all(KEY not in e.message for e in events)
    assert "retry 1/3" in caplog.text  # the retries were logged...
    _assert_clean(info.value, caplog)  # ...without the key, as is the chained cause


async def test_key_not_leaked_by_deadline_errors(make, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    handler, _ = sequence(error(500, f"echo {KEY}", **{"retry-after": "60"}))
    with pytest.raises(DeadlineExceededError) as info:
        await make(handler, clock=True, deadline_s=30).complete(endpoint(), BODY)
    _assert_clean(info.value, caplog)


async def test_client_works_as_context_manager() -> None:
    handler, _ = sequence(ok())
    async with ChatClient(transport=httpx.MockTransport(handler)) as client:
        assert (await client.complete(endpoint(), BODY)).text == "Hello"


def test_unknown_backend_is_rejected() -> None:
    with pytest.raises(ValueError):
        ChatClient(http_backend="requests")
