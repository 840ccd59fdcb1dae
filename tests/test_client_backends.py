"""Every HTTP backend ("asyncio", "httpx", "aiohttp") against a tiny aiohttp server on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from aiohttp import web

from pipeline.client import (
    APIConnectionError,
    AuthenticationError,
    ChatClient,
    Endpoint,
    RetryPolicy,
)

BACKENDS = ["asyncio", "httpx", "aiohttp"]
pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("backend", BACKENDS)]

KEY = "inf-SECRET-backend-0123456789"
BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
STATE = web.AppKey("state", dict)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _chunk(delta: dict, finish: str | None = None) -> bytes:
    payload = {"id": "s", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


async def _chat(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    state["calls"] += 1
    if request.headers.get("authorization") != f"Bearer {KEY}":
        return web.json_response({"error": {"message": "bad key"}}, status=401)
    body = await request.json()
    if body.get("model") == "flaky" and state["calls"] == 1:
        return web.json_response({"error": {"message": "busy"}}, status=503)
    if not body.get("stream"):
        message = {"role": "assistant", "content": "pong"}
        return web.json_response(
            {
                "id": "c1",
                "model": body["model"],
                "choices": [{"index": 0, "finish_reason": "stop", "message": message}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            },
            headers={"x-request-id": "r1", "x-ratelimit-remaining-requests": "9"},
        )
    response = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await response.prepare(request)
    for piece in (
        _chunk({"content": "po"}),
        _chunk({"content": "ng"}, "stop"),
        b"data: [DONE]\n\n",
    ):
        await response.write(piece)
    await response.write_eof()
    return response


@asynccontextmanager
async def server() -> AsyncIterator[tuple[str, dict]]:
    app = web.Application()
    app[STATE] = {"calls": 0}
    app.router.add_post("/v1/chat/completions", _chat)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", app[STATE]
    finally:
        await runner.cleanup()


def _client(backend: str, **policy: object) -> ChatClient:
    async def no_sleep(seconds: float) -> None:
        return None

    return ChatClient(http_backend=backend, retry=RetryPolicy(**policy), sleep=no_sleep)


async def test_plain_stream_and_retry(backend: str) -> None:
    async with server() as (base, state), _client(backend, attempt_timeout_s=5) as client:
        endpoint = Endpoint(base, KEY)
        plain = await client.complete(endpoint, BODY)
        assert (plain.text, plain.total_tokens, plain.request_id) == ("pong", 2, "r1")
        assert plain.rate_limit == {"x-ratelimit-remaining-requests": "9"}
        streamed = await client.complete(endpoint, {**BODY, "stream": True})
        assert (streamed.text, streamed.finish_reason) == ("pong", "stop")
        assert streamed.ttft_s is not None
        for _ in range(5):  # the pool is reused across requests
            assert (await client.complete(endpoint, BODY)).attempts == 1
        state["calls"] = 0
        flaky = await client.complete(endpoint, {**BODY, "model": "flaky"})
        assert flaky.attempts == 2


async def test_connection_refused(backend: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with _client(backend, max_attempts=2, attempt_timeout_s=5) as client:
        with pytest.raises(APIConnectionError) as info:
            await client.complete(Endpoint(f"http://127.0.0.1:{port}", KEY), BODY)
    err = info.value
    assert err.kind == "connection" and err.attempts == 2 and KEY not in repr(err)


async def test_key_stays_out_of_transport_logs(
    backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with server() as (base, _), _client(backend) as client:
        await client.complete(Endpoint(base, KEY), BODY)
        wrong = KEY[::-1]
        with pytest.raises(AuthenticationError) as info:
            await client.complete(Endpoint(base, wrong), BODY)
    assert info.value.kind == "auth" and info.value.attempts == 1
    assert caplog.records or backend == "asyncio"  # httpx/httpcore did log at DEBUG
    assert KEY not in caplog.text and wrong not in caplog.text
