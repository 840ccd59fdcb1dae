"""A fast canned-answer OpenAI-compatible server for the benchmarks, in its own process.

An asyncio Protocol-level HTTP/1.1 server (keep-alive, one request at a time per connection,
Content-Length bodies; no pipelining, no chunked bodies) so the server is never what a
benchmark measures: it serves well over 10,000 requests/s on one core (`--measure` checks).

    POST /v1/chat/completions   a valid chat.completion: choices[0].message.content
                                "Answer: 42", finish_reason "stop", usage, the request's model
    GET  /stats                 {"requests", "first_request_time", "last_request_time",
                                 "cpu_s", "delay_ms"}: completions received since the last
                                 reset, the time.time() of the first and last, and this
                                 process's CPU seconds (user+sys, since it started)
    POST /reset                 zero the counters (and ?delay_ms=N sets the delay)

    python bench/fast_server.py --port 0 [--delay-ms 100]   # prints "listening on http://..."
    python bench/fast_server.py --measure                   # requests/s on one core
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

_MAX_HEAD = 64 * 1024
_MAX_BODY = 16 * 1024 * 1024
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            411: "Length Required", 413: "Content Too Large", 431: "Headers Too Large"}


def cpu_s() -> float:
    """User + system CPU seconds of this process."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class Stats:
    """What the harness reads: completions received, the first one's wall-clock time."""

    def __init__(self, delay_ms: float) -> None:
        self.delay_s = delay_ms / 1000
        self.connections = 0
        self.reset()

    def reset(self) -> None:
        self.requests = 0
        self.first: float | None = None
        self.last: float | None = None
        self.seq = 0
        self.in_flight = 0
        self.max_in_flight = 0  # requests received and not answered yet, at most
        self.max_connections = 0

    def arrived(self) -> int:
        now = time.time()
        if self.first is None:
            self.first = now
        self.last = now
        self.requests += 1
        self.seq += 1
        self.in_flight += 1
        if self.in_flight > self.max_in_flight:
            self.max_in_flight = self.in_flight
        return self.seq

    def as_json(self) -> dict:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return {"requests": self.requests, "first_request_time": self.first,
                "last_request_time": self.last, "cpu_s": r.ru_utime + r.ru_stime,
                "user_s": r.ru_utime, "sys_s": r.ru_stime, "delay_ms": self.delay_s * 1000,
                "max_in_flight": self.max_in_flight, "connections": self.connections,
                "max_connections": self.max_connections}


_OK = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"


def response(status: int, body: bytes, keep_alive: bool) -> bytes:
    """The response's bytes (the common case from a ready-made head)."""
    if status == 200 and keep_alive:
        return _OK % len(body) + body
    head = (f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
            f"content-type: application/json\r\ncontent-length: {len(body)}\r\n"
            + ("" if keep_alive else "connection: close\r\n") + "\r\n")
    return head.encode("latin-1") + body


def error_body(message: str) -> bytes:
    return json.dumps({"error": {"message": message, "type": "invalid_request_error"}}).encode()


# The canned answer, filled in with: sequence number, created, model (as sent, a JSON string),
# prompt tokens (a quarter of the body's bytes), total tokens.
_ANSWER = (b'{"id":"chatcmpl-bench-%d","object":"chat.completion","created":%d,"model":"%s",'
           b'"choices":[{"index":0,"message":{"role":"assistant","content":"Answer: 42"},'
           b'"finish_reason":"stop"}],'
           b'"usage":{"prompt_tokens":%d,"completion_tokens":4,"total_tokens":%d}}')
# The request's "model" string, escapes kept (so it goes back out as valid JSON); a regex and
# not json.loads, so the server spends microseconds per request.
_MODEL = re.compile(rb'"model"\s*:\s*"((?:[^"\\]|\\.)*)"')


def _header(head: bytes, name: bytes) -> bytes | None:
    """A header's value from a lowered request head (the first one), or None."""
    i = head.find(b"\n" + name + b":")
    if i < 0:
        return None
    start = i + len(name) + 2
    stop = head.find(b"\r", start)
    return head[start:stop if stop >= 0 else len(head)].strip()


class HttpProtocol(asyncio.Protocol):
    """One connection: parse a request from the buffer, answer it, then the next one."""

    def __init__(self, stats: Stats) -> None:
        self.stats = stats
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.busy = False  # an answer is delayed: further bytes wait in the buffer
        self.closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        stats = self.stats
        stats.connections += 1
        stats.max_connections = max(stats.max_connections, stats.connections)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.stats.connections -= 1
        if self.busy:  # a delayed answer that will not be sent
            self.busy = False
            self.stats.in_flight -= 1

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.busy:
            self.process()

    def process(self) -> None:
        while self.transport is not None and not self.busy and not self.closing:
            buf = self.buf
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > _MAX_HEAD:
                    self.send(431, error_body("request head too large"), False)
                return
            head = bytes(buf[:end])
            parts = head[:head.find(b"\r\n") % (end + 1)].split(b" ")
            if len(parts) != 3:
                self.send(400, error_body("bad request line"), False)
                return
            head = head.lower()
            if _header(head, b"transfer-encoding") is not None:
                self.send(411, error_body("chunked bodies are not supported"), False)
                return
            value = _header(head, b"content-length")
            length = 0 if value is None else int(value) if value.isdigit() else -1
            if length < 0 or length > _MAX_BODY:
                self.send(413 if length > 0 else 400, error_body("bad content-length"), False)
                return
            if len(buf) < end + 4 + length:
                return  # the body is still coming
            keep_alive = parts[2] == b"HTTP/1.1"
            value = _header(head, b"connection")
            if value is not None:
                keep_alive = value != b"close" if keep_alive else value == b"keep-alive"
            body = bytes(buf[end + 4:end + 4 + length])
            del buf[:end + 4 + length]
            self.handle(parts[0].decode("latin-1"), parts[1].decode("latin-1"), body,
                        keep_alive)

    def handle(self, method: str, target: str, body: bytes, keep_alive: bool) -> None:
        if method == "POST" and target.endswith("/chat/completions"):
            seq = self.stats.arrived()
            model = _MODEL.search(body)
            if model is None:
                self.stats.in_flight -= 1
                self.send(400, error_body("body must be JSON with a string 'model'"), keep_alive)
                return
            answer = _ANSWER % (seq, int(time.time()), model[1],
                                max(1, len(body) // 4), max(1, len(body) // 4) + 4)
            if self.stats.delay_s > 0:
                self.busy = True
                loop = asyncio.get_running_loop()
                loop.call_later(self.stats.delay_s, self.delayed, answer, keep_alive)
            else:
                self.stats.in_flight -= 1
                self.send(200, answer, keep_alive)
            return
        url = urlsplit(target)
        path = url.path.rstrip("/")
        if path.endswith("/chat/completions"):
            self.send(405, error_body("use POST"), keep_alive)
        elif path == "/stats" and method == "GET":
            self.send(200, json.dumps(self.stats.as_json()).encode(), keep_alive)
        elif path == "/reset" and method == "POST":
            delay = parse_qs(url.query).get("delay_ms")
            if delay:
                self.stats.delay_s = float(delay[0]) / 1000
            self.stats.reset()
            self.send(200, json.dumps(self.stats.as_json()).encode(), keep_alive)
        else:
            self.send(404, error_body(f"no route {method} {path}"), keep_alive)

    def delayed(self, answer: bytes, keep_alive: bool) -> None:
        if not self.busy:  # the connection was lost meanwhile
            return
        self.busy = False
        self.stats.in_flight -= 1
        self.send(200, answer, keep_alive)
        self.process()

    def send(self, status: int, body: bytes, keep_alive: bool) -> None:
        if self.transport is None:
            return
        self.transport.write(response(status, body, keep_alive))
        if not keep_alive:
            self.closing = True
            self.transport.close()


async def serve(host: str, port: int, delay_ms: float) -> None:
    loop = asyncio.get_running_loop()
    stats = Stats(delay_ms)
    server = await loop.create_server(lambda: HttpProtocol(stats), host, port, backlog=1024)
    bound = server.sockets[0].getsockname()[1]
    print(f"listening on http://{host}:{bound}", flush=True)
    async with server:
        await server.serve_forever()


def start(delay_ms: float = 0, cpu: int | None = None) -> tuple[subprocess.Popen, str]:
    """This server in its own process (pinned to `cpu` with taskset when given): (proc, url)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--port", "0",
           "--delay-ms", str(delay_ms)]
    if cpu is not None:
        cmd = ["taskset", "-c", str(cpu), *cmd]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "listening on " not in line:
        proc.kill()
        raise RuntimeError(f"fast_server did not start: {line!r}")
    return proc, line.split("listening on ", 1)[1].strip()


class _LoadClient(asyncio.Protocol):
    """A lean keep-alive client for --measure: send, wait for the whole answer, repeat."""

    def __init__(self, request: bytes, left: list[int], done: asyncio.Future) -> None:
        self.request, self.left, self.done = request, left, done
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.next()

    def next(self) -> None:
        if self.left[0] <= 0:
            self.transport.close()
            if not self.done.done():
                self.done.set_result(None)
            return
        self.left[0] -= 1
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buf[:end]).lower()
        i = head.find(b"content-length:")
        n = int(head[i + 15:].split(b"\r\n", 1)[0])
        if len(self.buf) >= end + 4 + n:
            assert self.buf.startswith(b"HTTP/1.1 200"), bytes(self.buf[:200])
            del self.buf[:end + 4 + n]
            self.next()


async def _load(host: str, port: int, total: int, connections: int) -> float:
    body = json.dumps({"model": "bench-model", "max_tokens": 256, "messages": [
        {"role": "system", "content": "Solve the arithmetic problem."},
        {"role": "user", "content": "What is 17 * 3 + 5?"}]}).encode()
    request = (b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: "
               b"application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
    loop = asyncio.get_running_loop()
    left = [total]
    futures = [loop.create_future() for _ in range(connections)]
    t0 = time.perf_counter()
    for f in futures:
        await loop.create_connection(lambda f=f: _LoadClient(request, left, f), host, port)
    await asyncio.gather(*futures)
    return time.perf_counter() - t0


def measure(total: int, connections: int) -> dict:
    """Requests/s of this server pinned to core 1, loaded by lean clients on the other cores.

    Two load processes (so the client side is not the limit where it can be avoided) share
    the requests; the server's own CPU seconds per request give its one-core capacity even
    when the load generators are the limit."""
    import urllib.request

    pin = shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2
    proc, url = start(0, cpu=1 if pin else None)
    try:
        host, port = urlsplit(url).hostname, urlsplit(url).port
        with urllib.request.urlopen(
                urllib.request.Request(url + "/reset", data=b"", method="POST")) as r:
            cpu0 = json.loads(r.read())["cpu_s"]
        loaders = []
        for _ in range(2):
            cmd = [sys.executable, str(Path(__file__).resolve()), "--load", f"{host}:{port}",
                   "--requests", str(total // 2), "--connections", str(max(1, connections // 2))]
            if pin:
                cmd = ["taskset", "-c", "0", *cmd]
            loaders.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True))
        t0 = time.perf_counter()
        for p in loaders:
            p.communicate(timeout=600)
            if p.returncode:
                raise RuntimeError("load client failed")
        wall = time.perf_counter() - t0
        with urllib.request.urlopen(url + "/stats") as r:
            stats = json.loads(r.read())
    finally:
        proc.terminate()
        proc.wait(10)
    served = stats["requests"]
    span = stats["last_request_time"] - stats["first_request_time"]
    cpu = stats["cpu_s"] - cpu0  # the server's CPU while serving, start-up left out
    return {"requests": served, "wall_s": wall, "requests_per_s": served / span,
            "server_cpu_s": cpu, "server_busy": cpu / span,
            "one_core_capacity_per_s": served / cpu}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--delay-ms", type=float, default=0.0, help="answer after this delay")
    ap.add_argument("--measure", action="store_true",
                    help="start a server on core 1, load it from core 0, print requests/s")
    ap.add_argument("--load", metavar="HOST:PORT", help=argparse.SUPPRESS)
    ap.add_argument("--requests", type=int, default=100_000)
    ap.add_argument("--connections", type=int, default=64)
    args = ap.parse_args(argv)
    if args.load:
        host, port = args.load.rsplit(":", 1)
        wall = asyncio.run(_load(host, int(port), args.requests, args.connections))
        print(json.dumps({"wall_s": wall}))
        return 0
    if args.measure:
        res = measure(args.requests, args.connections)
        print(f"fast_server: {res['requests']:,} requests at {res['requests_per_s']:,.0f}/s, "
              f"server {100 * res['server_busy']:.0f}% busy on one core, "
              f"{1e6 * res['server_cpu_s'] / res['requests']:.1f} us CPU/request: "
              f"capacity {res['one_core_capacity_per_s']:,.0f} requests/s")
        return 0
    try:
        asyncio.run(serve(args.host, args.port, args.delay_ms))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
