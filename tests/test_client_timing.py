"""Timing figures (last attempt vs whole request) and the request deadline as a hard bound."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import anyio
import httpx
import pytest

from pipeline.client import (
    ChatClient,
    DeadlineExceededError,
    Endpoint,
    RetryPolicy,
    ServerError,
)

pytestmark = pytest.mark.anyio

KEY = "inf-SECRET-timing-0123456789"
BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
ANSWER = {
    "id": "c",
    "choices": [{"index": 0, "finish_reason": "stop", "message": {"content": "Hello"}}],
    "usage": {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3},
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class FakeTime:
    """A fake clock that sleeps (and handlers) advance; `overshoot` makes sleeps run late."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self.overshoot = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds + self.overshoot


def scripted(fake: FakeTime, *steps: tuple[float, httpx.Response]):
    """A handler that takes `seconds` of fake time, then answers, for each step in turn."""
    items = list(steps)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        seconds, response = items.pop(0) if len(items) > 1 else items[0]
        fake.now += seconds
        return httpx.Response(response.status_code, headers=response.headers,
                              content=response.content)  # fmt: skip

    return handler, seen


def busy(**headers: str) -> httpx.Response:
    return httpx.Response(503, json={"error": {"message": "busy"}}, headers=headers)


def client(handler, *, fake: FakeTime | None = None, **policy: object) -> ChatClient:
    policy.setdefault("attempt_timeout_s", 5.0)
    extra: dict = {"clock": fake.clock, "sleep": fake.sleep} if fake else {}
    if not fake:

        async def no_sleep(seconds: float) -> None:
            return None

        extra["sleep"] = no_sleep
    return ChatClient(retry=RetryPolicy(**policy), transport=httpx.MockTransport(handler), **extra)


ENDPOINT = Endpoint("https://x.example", KEY)


# --- latency_s (last attempt) and elapsed_s (whole request) ---------------------------------


async def test_success_after_retry_separates_last_attempt_from_whole_request() -> None:
    fake = FakeTime()
    handler, _ = scripted(
        fake, (2.0, busy(**{"retry-after": "5"})), (3.0, httpx.Response(200, json=ANSWER))
    )
    async with client(handler, fake=fake) as c:
        result = await c.complete(ENDPOINT, BODY)
    assert result.attempts == 2 and fake.sleeps == [5.0]
    assert result.latency_s == 3.0  # send to end of body, last attempt only
    assert result.elapsed_s == 10.0  # 2 s attempt + 5 s wait + 3 s attempt


async def test_error_separates_last_attempt_from_whole_request() -> None:
    fake = FakeTime()
    handler, _ = scripted(fake, (2.0, busy(**{"retry-after": "5"})), (3.0, busy()))
    async with client(handler, fake=fake, max_attempts=2) as c:
        with pytest.raises(ServerError) as info:
            await c.complete(ENDPOINT, BODY)
    assert info.value.attempts == 2
    assert info.value.latency_s == 3.0 and info.value.elapsed_s == 10.0


async def test_single_attempt_elapsed_covers_latency() -> None:
    handler, _ = scripted(FakeTime(), (0.0, httpx.Response(200, json=ANSWER)))
    async with client(handler) as c:
        result = await c.complete(ENDPOINT, BODY)
    assert 0 <= result.latency_s <= result.elapsed_s


# --- the deadline bounds every attempt -------------------------------------------------------


async def test_deadline_cuts_the_first_attempt_short() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        await anyio.sleep(10)
        return httpx.Response(200, json=ANSWER)

    async with client(handler, deadline_s=0.2, attempt_timeout_s=5) as c:
        with anyio.fail_after(2):  # the attempt timeout (5 s) must not be the bound
            with pytest.raises(DeadlineExceededError) as info:
                await c.complete(ENDPOINT, BODY)
    err = info.value
    assert err.kind == "deadline" and err.retryable and err.attempts == 1
    assert err.last_kind == "timeout" and err.http_status is None
    assert "deadline 0.2s" in err.message and "attempt 1" in err.message
    assert 0.15 <= err.elapsed_s < 1.0 and 0.15 <= err.latency_s <= err.elapsed_s


async def test_deadline_cuts_a_retry_short_and_names_the_last_error() -> None:
    calls = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            return busy(**{"retry-after-ms": "1"})
        await anyio.sleep(10)
        return httpx.Response(200, json=ANSWER)

    async with client(handler, deadline_s=0.3, attempt_timeout_s=5) as c:
        with anyio.fail_after(2):
            with pytest.raises(DeadlineExceededError) as info:
                await c.complete(ENDPOINT, BODY)
    err = info.value
    assert calls == 2 and err.attempts == 2 and err.retryable
    assert err.last_kind == "server" and err.http_status == 503
    assert "deadline 0.3s" in err.message and "busy" in err.message
    assert isinstance(err.__cause__, ServerError)
    assert err.elapsed_s < 1.0


async def test_no_time_left_after_the_wait_raises_before_sending() -> None:
    fake = FakeTime()
    fake.overshoot = 20.0  # the wait ran long (a slow event loop, a suspended dyno)
    handler, seen = scripted(
        fake, (0.0, busy(**{"retry-after": "4"})), (0.0, httpx.Response(200, json=ANSWER))
    )
    async with client(handler, fake=fake, deadline_s=10.0) as c:
        with pytest.raises(DeadlineExceededError) as info:
            await c.complete(ENDPOINT, BODY)
    err = info.value
    assert len(seen) == 1 and err.attempts == 1 and err.retryable
    assert "before attempt 2" in err.message and "busy" in err.message
    assert err.elapsed_s == 24.0 and err.last_kind == "server"


async def test_deadline_longer_than_the_attempt_timeout_keeps_the_attempt_timeout() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        await anyio.sleep(10)
        return httpx.Response(200, json=ANSWER)

    async with client(handler, deadline_s=60, attempt_timeout_s=0.05, max_attempts=2) as c:
        with anyio.fail_after(2):
            with pytest.raises(Exception) as info:
                await c.complete(ENDPOINT, BODY)
    assert info.value.kind == "timeout" and info.value.attempts == 2  # type: ignore[attr-defined]


class HeldOpen(httpx.AsyncByteStream):
    """A complete SSE answer, then the connection held open."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        chunk = {"id": "s", "choices": [{"index": 0, "delta": {"content": "a"},
                                         "finish_reason": "stop"}]}  # fmt: skip
        yield b"data: " + json.dumps(chunk).encode() + b"\n\ndata: [DONE]\n\n"
        await anyio.sleep(10)


async def test_a_stream_held_open_after_done_does_not_outlast_the_deadline() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"},
                              stream=HeldOpen())  # fmt: skip

    async with client(handler, deadline_s=0.3, attempt_timeout_s=30) as c:
        with anyio.fail_after(5):
            result = await c.complete(ENDPOINT, {**BODY, "stream": True})
    assert result.text == "a" and result.attempts == 1
    assert result.elapsed_s < 0.6
