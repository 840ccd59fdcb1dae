"""A complete answer is a result: a connection lost after it (or a failed close) is no error."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from aiohttp import web

from pipeline.client import (
    APIConnectionError,
    ChatClient,
    Endpoint,
    ProtocolError,
    RetryPolicy,
)

pytestmark = pytest.mark.anyio

KEY = "inf-SECRET-complete-0123456789"
BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
STREAM = {**BODY, "stream": True}
USAGE = {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3}
ANSWER = json.dumps(
    {
        "id": "c",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"content": "Hello"}}],
        "usage": USAGE,
    }
).encode()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def chunk(delta: dict, finish: str | None = None) -> bytes:
    payload = {"id": "s", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


COMPLETE = [chunk({"content": "Hel"}), chunk({"content": "lo"}, "stop"), b"data: [DONE]\n\n"]


class Broken(httpx.AsyncByteStream):
    """A body that delivers its pieces, then fails reading (`fail`) and/or closing."""

    def __init__(self, pieces: list[bytes], fail: Exception | None, close_fails: bool) -> None:
        self.pieces, self.fail, self.close_fails = pieces, fail, close_fails

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            yield piece
        if self.fail is not None:
            raise self.fail

    async def aclose(self) -> None:
        if self.close_fails:
            raise httpx.ReadError("connection reset while closing")


def client_for(
    pieces: list[bytes],
    *,
    fail: Exception | None = None,
    close_fails: bool = False,
    sse: bool = True,
    max_attempts: int = 1,
) -> tuple[ChatClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    ctype = "text/event-stream" if sse else "application/json"

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        stream = Broken(pieces, fail, close_fails)
        return httpx.Response(200, headers={"content-type": ctype}, stream=stream)

    async def no_sleep(seconds: float) -> None:
        return None

    policy = RetryPolicy(max_attempts=max_attempts, attempt_timeout_s=5)
    return ChatClient(retry=policy, transport=httpx.MockTransport(handler), sleep=no_sleep), seen


ENDPOINT = Endpoint("https://x.example", KEY)
LOST = [
    httpx.ReadError("connection reset by peer"),
    httpx.RemoteProtocolError("peer closed connection without sending complete message body"),
]


# --- streams ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fail", LOST, ids=type)
async def test_connection_lost_after_done_is_a_success(fail: Exception) -> None:
    client, seen = client_for(COMPLETE, fail=fail, max_attempts=3)
    async with client:
        result = await client.complete(ENDPOINT, STREAM)
    assert (result.text, result.finish_reason, result.attempts) == ("Hello", "stop", 1)
    assert len(seen) == 1  # not sent (and paid) twice


async def test_failed_close_after_done_is_a_success() -> None:
    client, seen = client_for(COMPLETE, close_fails=True, max_attempts=3)
    async with client:
        assert (await client.complete(ENDPOINT, STREAM)).text == "Hello"
    assert len(seen) == 1


@pytest.mark.parametrize("tail", [b"data: [DONE]\n", b"data: [DONE]"])
async def test_done_whose_line_ending_was_lost_is_a_success(tail: bytes) -> None:
    client, seen = client_for(COMPLETE[:2] + [tail], fail=LOST[0], max_attempts=3)
    async with client:
        assert (await client.complete(ENDPOINT, STREAM)).text == "Hello"
    assert len(seen) == 1


@pytest.mark.parametrize(
    ("pieces", "error"),
    [
        (COMPLETE[:2], APIConnectionError),  # finish_reason but no [DONE]
        (COMPLETE[:2] + [b"data: [DO"], APIConnectionError),  # [DONE] cut
        (COMPLETE[:1], APIConnectionError),  # no finish_reason, no [DONE]
        ([chunk({"content": "a"}), b"data: [DONE]\n\n"], ProtocolError),  # no finish_reason
        (COMPLETE[:1] + [b'data: {"id": "s", "cho'], APIConnectionError),  # cut mid-chunk
    ],
)
async def test_incomplete_stream_then_lost_connection_stays_an_error(pieces, error) -> None:
    client, seen = client_for(pieces, fail=LOST[0], max_attempts=2)
    async with client:
        with pytest.raises(error) as info:
            await client.complete(ENDPOINT, STREAM)
    assert info.value.retryable and len(seen) == 2


# --- whole JSON bodies -----------------------------------------------------------------------


@pytest.mark.parametrize("fail", LOST, ids=type)
async def test_connection_lost_after_a_whole_json_body_is_a_success(fail: Exception) -> None:
    client, seen = client_for([ANSWER[:40], ANSWER[40:]], fail=fail, sse=False, max_attempts=3)
    async with client:
        result = await client.complete(ENDPOINT, BODY)
    assert result.text == "Hello" and result.total_tokens == 3 and len(seen) == 1


async def test_failed_close_after_a_whole_json_body_is_a_success() -> None:
    client, seen = client_for([ANSWER], close_fails=True, sse=False, max_attempts=3)
    async with client:
        assert (await client.complete(ENDPOINT, BODY)).text == "Hello"
    assert len(seen) == 1


async def test_connection_lost_inside_a_json_body_stays_an_error() -> None:
    client, seen = client_for([ANSWER[:-1]], fail=LOST[0], sse=False, max_attempts=2)
    async with client:
        with pytest.raises(APIConnectionError) as info:
            await client.complete(ENDPOINT, BODY)
    assert info.value.retryable and len(seen) == 2
    assert isinstance(info.value.__cause__, httpx.ReadError)


# --- a real socket closed after the answer, both HTTP backends -------------------------------

CALLS = web.AppKey("calls", list)


async def _cut_after_answer(request: web.Request) -> web.StreamResponse:
    """Write a complete answer in a chunked body, then drop the socket without the last chunk."""
    request.app[CALLS].append(request.path)
    body = await request.json()
    sse = bool(body.get("stream"))
    response = web.StreamResponse(
        headers={"content-type": "text/event-stream" if sse else "application/json"}
    )
    response.enable_chunked_encoding()
    await response.prepare(request)
    await response.write(b"".join(COMPLETE) if sse else ANSWER)
    assert request.transport is not None
    request.transport.abort()
    return response


@asynccontextmanager
async def cutting_server() -> AsyncIterator[tuple[str, list]]:
    app = web.Application()
    app[CALLS] = []
    app.router.add_post("/v1/chat/completions", _cut_after_answer)
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", app[CALLS]
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("backend", ["asyncio", "httpx", "aiohttp"])
@pytest.mark.parametrize("body", [STREAM, BODY], ids=["stream", "json"])
async def test_socket_closed_after_the_answer(backend: str, body: dict) -> None:
    async def no_sleep(seconds: float) -> None:
        return None

    policy = RetryPolicy(max_attempts=3, attempt_timeout_s=5)
    async with cutting_server() as (base, calls):
        async with ChatClient(http_backend=backend, retry=policy, sleep=no_sleep) as client:
            result = await client.complete(Endpoint(base, KEY), body)
    assert (result.text, result.finish_reason, result.attempts) == ("Hello", "stop", 1)
    assert len(calls) == 1
