"""The default backend (pipeline/client/http11.py) through ChatClient: against the emulator
with scripted faults, and against a raw socket server for the HTTP/1.1 framing it must
handle (chunked, Content-Length, read-until-close, Connection: close, reuse, 1xx, gzip)."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager

import pytest

from pipeline.client import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    ChatClient,
    Endpoint,
    RetryEvent,
    RetryPolicy,
)
from pipeline.emulator.config import EmulatorConfig, Faults
from pipeline.emulator.server import EmulatorServer
from tests.helpers import ROOT

pytestmark = pytest.mark.anyio

KEY = "inf-SECRET-http11-0123456789abcdef"
HAIKU = "claude-4-5-haiku"
BODY = {"model": HAIKU, "max_tokens": 64, "messages": [{"role": "user", "content": "2+2?"}]}
STREAM = {**BODY, "stream": True}
FINISHED = ("stop", "length")  # a whole answer, as the emulator sends it


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    config = EmulatorConfig(api_key=KEY, speed=0.0, faults=Faults(retry_after_s=0.05, hang_s=5.0))
    with EmulatorServer(config) as server:
        yield server


@pytest.fixture
def emu(emulator: EmulatorServer) -> EmulatorServer:
    emulator.reset()
    return emulator


def client(*, sleeps: list[float] | None = None, events: list | None = None,
           **policy: object) -> ChatClient:
    async def sleep(seconds: float) -> None:
        if sleeps is not None:
            sleeps.append(seconds)

    made = ChatClient(retry=RetryPolicy(**{"attempt_timeout_s": 5.0, **policy}), sleep=sleep,
                      on_retry=None if events is None else events.append)
    assert made.http_backend == "asyncio"  # the default, so these tests test http11
    return made


# ------------------------------------------------------------------------ the emulator


@pytest.mark.parametrize("body", [BODY, STREAM], ids=["json", "stream"])
async def test_answers_and_connection_reuse(emu: EmulatorServer, body: dict) -> None:
    async with client() as c:
        for _ in range(4):
            answer = await c.complete(Endpoint(emu.base_url, KEY), body)
            assert answer.finish_reason in FINISHED and answer.text
            assert answer.usage_known and answer.request_id and answer.http_status == 200
            assert answer.attempts == 1
        if body.get("stream"):
            assert answer.ttft_s is not None
        idle = [conn for conns in c._pool._idle.values() for conn in conns]  # type: ignore[union-attr]
        assert len(idle) == 1  # one connection carried all four
    assert emu.stats.requests_total == 4


@pytest.mark.parametrize("body", [BODY, STREAM], ids=["json", "stream"])
async def test_429_waits_what_retry_after_says(emu: EmulatorServer, body: dict) -> None:
    emu.script(["429", "ok"])
    sleeps: list[float] = []
    async with client(sleeps=sleeps) as c:
        answer = await c.complete(Endpoint(emu.base_url, KEY), body)
    assert answer.attempts == 2 and answer.finish_reason in FINISHED
    assert sleeps == [0.05]  # retry-after-ms, not the backoff
    assert emu.stats.requests_total == 2


@pytest.mark.parametrize("body", [BODY, STREAM], ids=["json", "stream"])
async def test_500_then_success(emu: EmulatorServer, body: dict) -> None:
    emu.script(["500", "503", "ok"])
    events: list[RetryEvent] = []
    async with client(events=events) as c:
        answer = await c.complete(Endpoint(emu.base_url, KEY), body)
    assert answer.attempts == 3 and answer.text
    assert [(e.kind, e.http_status) for e in events] == [("server", 500), ("server", 503)]


@pytest.mark.parametrize("outcome", ["drop", "truncate", "malformed"])
async def test_a_broken_answer_is_retried(emu: EmulatorServer, outcome: str) -> None:
    emu.script([outcome, "ok"])
    events: list[RetryEvent] = []
    async with client(events=events) as c:
        answer = await c.complete(Endpoint(emu.base_url, KEY), STREAM)
    assert answer.attempts == 2 and answer.finish_reason in FINISHED
    assert events[0].kind == ("connection" if outcome == "drop" else "protocol")
    assert emu.stats.requests_total == 2  # nothing sent twice behind the client's back


async def test_an_attempt_timeout_closes_the_connection(emu: EmulatorServer) -> None:
    emu.script(["hang"])
    async with client(max_attempts=1, attempt_timeout_s=0.3) as c:
        with pytest.raises(APITimeoutError) as info:
            await c.complete(Endpoint(emu.base_url, KEY), STREAM)
        assert info.value.kind == "timeout" and "0.3" in info.value.message
        assert not any(c._pool._idle.values())  # type: ignore[union-attr]
        answer = await c.complete(Endpoint(emu.base_url, KEY), STREAM)  # a fresh connection
        assert answer.finish_reason in FINISHED


async def test_the_key_stays_out_of_status_errors(emu: EmulatorServer) -> None:
    wrong = KEY[::-1]
    async with client() as c:
        with pytest.raises(AuthenticationError) as info:
            await c.complete(Endpoint(emu.base_url, wrong), BODY)
    assert info.value.http_status == 401 and info.value.attempts == 1
    assert wrong not in str(info.value) and wrong not in repr(info.value)


# ------------------------------------------------------------------ a raw socket server

Reply = Callable[[bytes], list[bytes | None]]  # request bytes -> pieces to send; None: close


@asynccontextmanager
async def raw_server(reply: Reply) -> AsyncIterator[tuple[str, dict]]:
    """Answers each request with reply(request); counts connections and requests."""
    seen = {"connections": 0, "requests": 0, "last": b""}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen["connections"] += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                request = head + await reader.readexactly(length)
                seen["requests"] += 1
                seen["last"] = request
                for piece in reply(request):
                    if piece is None:
                        writer.close()
                        return
                    writer.write(piece)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        server.close()


def _sse(text: str = "Hello") -> bytes:
    chunks = [{"id": "s", "choices": [{"index": 0, "delta": {"content": text},
                                       "finish_reason": None}]},
              {"id": "s", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}]
    return b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + \
        b"data: [DONE]\n\n"


def _json(text: str = "Hello") -> bytes:
    return json.dumps({"id": "c", "choices": [{"index": 0, "finish_reason": "stop",
                                               "message": {"content": text}}]}).encode()


def chunked(data: bytes, size: int = 7) -> bytes:
    parts = [b"%x;ext=1\r\n%s\r\n" % (len(data[i:i + size]), data[i:i + size])
             for i in range(0, len(data), size)]
    return b"".join(parts) + b"0\r\nx-trailer: t\r\n\r\n"


SSE_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
JSON_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"


async def test_chunked_and_length_bodies_reuse_one_connection() -> None:
    def reply(request: bytes) -> list[bytes | None]:
        if b'"stream":true' in request:
            return [SSE_HEAD + b"transfer-encoding: chunked\r\n\r\n", chunked(_sse())]
        body = _json()
        return [JSON_HEAD + b"content-length: %d\r\n\r\n" % len(body), body[:10], body[10:]]

    async with raw_server(reply) as (base, seen), client() as c:
        for body in (BODY, STREAM, BODY, STREAM):
            answer = await c.complete(Endpoint(base, KEY), body)
            assert (answer.text, answer.finish_reason) == ("Hello", "stop")
    assert seen == {**seen, "connections": 1, "requests": 4}
    head = seen["last"].split(b"\r\n\r\n")[0].decode()
    assert head.startswith("POST /v1/chat/completions HTTP/1.1\r\n")
    assert f"authorization: Bearer {KEY}" in head and "host: 127.0.0.1:" in head


@pytest.mark.parametrize("framing", ["close-delimited", "connection-close", "http/1.0"])
async def test_a_connection_the_server_ends_is_not_reused(framing: str) -> None:
    def reply(request: bytes) -> list[bytes | None]:
        body = _json()
        if framing == "close-delimited":
            return [JSON_HEAD + b"\r\n", body, None]
        if framing == "connection-close":
            return [JSON_HEAD + b"connection: close\r\ncontent-length: %d\r\n\r\n" % len(body)
                    + body]
        return [b"HTTP/1.0 200 OK\r\ncontent-length: %d\r\n\r\n" % len(body) + body]

    async with raw_server(reply) as (base, seen), client() as c:
        for _ in range(3):
            assert (await c.complete(Endpoint(base, KEY), BODY)).text == "Hello"
    assert seen["connections"] == 3 and seen["requests"] == 3


async def test_interim_answers_and_gzip() -> None:
    def reply(request: bytes) -> list[bytes | None]:
        body = gzip.compress(_json("zipped"))
        return [b"HTTP/1.1 100 Continue\r\n\r\n",
                JSON_HEAD + b"content-encoding: gzip\r\ncontent-length: %d\r\n\r\n" % len(body)
                + body]

    async with raw_server(reply) as (base, _), client() as c:
        assert (await c.complete(Endpoint(base, KEY), BODY)).text == "zipped"


@pytest.mark.parametrize("cut", ["mid-chunk", "between-chunks", "mid-length", "mid-headers",
                                 "no-answer"])
async def test_a_connection_dropped_mid_answer(cut: str) -> None:
    sse = _sse()
    pieces: dict[str, list[bytes | None]] = {
        "mid-chunk": [SSE_HEAD + b"transfer-encoding: chunked\r\n\r\n",
                      b"%x\r\n" % len(sse) + sse[:20], None],
        "between-chunks": [SSE_HEAD + b"transfer-encoding: chunked\r\n\r\n",
                           b"%x\r\n" % 20 + sse[:20] + b"\r\n", None],
        "mid-length": [SSE_HEAD + b"content-length: %d\r\n\r\n" % len(sse), sse[:30], None],
        "mid-headers": [b"HTTP/1.1 200 OK\r\ncontent-ty", None],
        "no-answer": [None],
    }
    calls: list[int] = []

    def reply(request: bytes) -> list[bytes | None]:
        calls.append(1)
        if len(calls) == 1:
            return pieces[cut]
        return [SSE_HEAD + b"transfer-encoding: chunked\r\n\r\n", chunked(sse)]

    async with raw_server(reply) as (base, _):
        async with client(max_attempts=1) as c:
            with pytest.raises(APIConnectionError) as info:
                await c.complete(Endpoint(base, KEY), STREAM)
        assert info.value.kind == "connection" and info.value.retryable
        assert "server closed the connection" in info.value.message
        calls.clear()
        async with client(max_attempts=2) as c:
            answer = await c.complete(Endpoint(base, KEY), STREAM)
        assert answer.attempts == 2 and answer.text == "Hello"


async def test_the_key_stays_out_of_transport_errors() -> None:
    def reply(request: bytes) -> list[bytes | None]:
        auth = next(line for line in request.split(b"\r\n") if line.startswith(b"authorization"))
        return [b"HTTTP/9 " + auth.split(b" ", 2)[2] + b" nonsense\r\n\r\n", None]

    async with raw_server(reply) as (base, _), client(max_attempts=1) as c:
        with pytest.raises(APIConnectionError) as info:
            await c.complete(Endpoint(base, KEY), BODY)
    err = info.value
    assert "malformed status line" in err.message and "***" in err.message
    chain = [err, err.__cause__]
    assert all(KEY not in str(e) and KEY not in repr(e) for e in chain)


async def test_a_bad_header_name_fails_once_without_sending() -> None:
    async with raw_server(lambda r: [None]) as (base, seen), client() as c:
        with pytest.raises(Exception) as info:
            await c.complete(Endpoint(base, KEY, headers={"bad header": "x"}), BODY)
    assert info.value.kind == "protocol" and info.value.attempts == 1  # type: ignore[attr-defined]
    assert seen["connections"] == 0


async def test_refused_and_unsupported_urls() -> None:
    async with client(max_attempts=2) as c:
        with pytest.raises(APIConnectionError) as info:
            await c.complete(Endpoint("ftp://example.invalid", KEY), BODY)
        assert info.value.attempts == 1 and not info.value.retryable


def test_a_proxy_variable_sends_through_httpx(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    assert ChatClient().http_backend == "httpx"
    monkeypatch.delenv("HTTPS_PROXY")
    assert ChatClient().http_backend == "asyncio"


def test_the_default_backend_imports_neither_httpx_nor_aiohttp() -> None:
    code = ("import sys, pipeline.runner, pipeline.client; pipeline.client.ChatClient(); "
            "print(sorted(m for m in ('httpx', 'aiohttp') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)
    assert out.stdout.strip() == "[]"
