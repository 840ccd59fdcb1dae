"""Micro-benchmark: client CPU per chat request, for each way of sending one.

Every client mode runs in a fresh process against the same server (its own process): a tiny
canned-answer HTTP/1.1 server in this file (default; it costs the client nothing it would not
pay against a real server), or `pipeline serve --speed 0` with `--server emulator`. Prints
client CPU (user+sys, `resource.getrusage`) per request while sending, and the import time of
each mode's HTTP stack, which is what a `pipeline run` pays before its first request.

    .venv/bin/python bench/bench_client.py                     # 20,000 requests, concurrency 64
    .venv/bin/python bench/bench_client.py --n 5000 --stream   # SSE answers
    .venv/bin/python bench/bench_client.py --server emulator

Modes: raw-aiohttp (a bare aiohttp loop: post, read, json.loads), raw-asyncio (a bare
keep-alive loop on asyncio streams: the floor for a hand-written client), and ChatClient with
each `http_backend`: httpx (httpx's own pool), aiohttp (httpx over httpx-aiohttp), asyncio
(pipeline/client/http11.py, the default).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODES = ["raw-aiohttp", "raw-asyncio", "httpx", "aiohttp", "asyncio"]
SYSTEM = "Solve the arithmetic problem. End with a line 'Answer: <number>'."
_CL = re.compile(rb"(?i)\r\ncontent-length:\s*(\d+)")


def cpu_s() -> float:
    """User + system CPU seconds of this process so far."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# --- the canned server ------------------------------------------------------------------


def _answers() -> tuple[bytes, bytes]:
    """A JSON answer and an SSE answer (chunked), shaped like the emulator's."""
    text = "Let me work it out step by step. 12 * 7 = 84, plus 5 is 89.\nAnswer: 89"
    usage = {"prompt_tokens": 40, "completion_tokens": 30, "total_tokens": 70}
    body = json.dumps({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": text}}],
        "usage": usage,
    }).encode()
    plain = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-request-id: r1\r\n"
             b"content-length: %d\r\n\r\n" % len(body)) + body
    events = []
    for i, piece in enumerate(re.findall(r"\S+\s*", text)):
        delta = {"role": "assistant", "content": piece} if i == 0 else {"content": piece}
        events.append({"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "m",
                       "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
    events.append({"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "m",
                   "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                   "usage": usage})
    sse = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)
    sse += b"data: [DONE]\n\n"
    stream = (b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nx-request-id: r1\r\n"
              b"transfer-encoding: chunked\r\n\r\n"
              + b"%x\r\n" % len(sse) + sse + b"\r\n0\r\n\r\n")
    return plain, stream


class _Canned(asyncio.Protocol):
    plain, stream = _answers()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            m = _CL.search(self.buf, 0, end + 2)
            size = int(m.group(1)) if m else 0
            if len(self.buf) < end + 4 + size:
                return
            body = self.buf[end + 4 : end + 4 + size]
            self.buf = self.buf[end + 4 + size :]
            self.transport.write(self.stream if b'"stream":true' in body else self.plain)


async def _serve() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Canned, "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    print(f"listening on http://127.0.0.1:{port}", flush=True)
    await server.serve_forever()


def start_server(kind: str) -> tuple[subprocess.Popen[str], str]:
    if kind == "emulator":
        cmd = [sys.executable, "-m", "pipeline", "serve", "--port", "0", "--speed", "0"]
    else:
        cmd = [sys.executable, __file__, "--serve"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    return proc, line.split("listening on ", 1)[1].split()[0]


# --- the clients ------------------------------------------------------------------------


def bodies(n: int, stream: bool) -> list[dict]:
    out = []
    for i in range(n):
        out.append({"model": "claude-4-5-haiku", "max_tokens": 256, "temperature": 0.0,
                    "stream": stream,
                    "messages": [{"role": "system", "content": SYSTEM},
                                 {"role": "user", "content": f"What is {i % 997} * 7 + 5?"}]})
    return out


async def raw_aiohttp(url: str, items: list[dict], conc: int) -> None:
    import aiohttp

    headers = {"authorization": "Bearer bench-key-0123456789", "content-type": "application/json"}
    it = iter(items)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=conc)) as session:

        async def worker() -> None:
            for body in it:
                data = json.dumps(body).encode()
                async with session.post(url, data=data, headers=headers) as r:
                    if body["stream"]:
                        async for line in r.content:
                            if line.startswith(b"data: {"):
                                json.loads(line[6:])
                    else:
                        assert r.status == 200 and json.loads(await r.read())["choices"]

        await asyncio.gather(*(worker() for _ in range(conc)))


async def raw_asyncio(url: str, items: list[dict], conc: int) -> None:
    """One keep-alive connection per worker; Content-Length and chunked bodies."""
    host, _, port = url.split("//", 1)[1].split("/", 1)[0].partition(":")
    path = "/" + url.split("//", 1)[1].split("/", 1)[1]
    it = iter(items)

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        for body in it:
            data = json.dumps(body).encode()
            writer.write(
                f"POST {path} HTTP/1.1\r\nhost: {host}:{port}\r\ncontent-type: application/json"
                f"\r\nauthorization: Bearer bench-key-0123456789\r\ncontent-length: {len(data)}"
                "\r\n\r\n".encode() + data
            )
            head = await reader.readuntil(b"\r\n\r\n")
            m = _CL.search(head)
            if m:
                payload = await reader.readexactly(int(m.group(1)))
            else:
                parts = []
                while True:
                    size = int((await reader.readline()).split(b";")[0], 16)
                    chunk = await reader.readexactly(size + 2)
                    if size == 0:
                        break
                    parts.append(chunk[:-2])
                payload = b"".join(parts)
            if body["stream"]:
                for line in payload.split(b"\n"):
                    if line.startswith(b"data: {"):
                        json.loads(line[6:])
            else:
                assert json.loads(payload)["choices"]
        writer.close()

    await asyncio.gather(*(worker() for _ in range(conc)))


async def chat_client(backend: str, url: str, items: list[dict], conc: int) -> None:
    from pipeline.client import ChatClient, Endpoint, RetryPolicy

    endpoint = Endpoint(url, "bench-key-0123456789")
    it = iter(items)
    kwargs: dict = {"retry": RetryPolicy(max_attempts=1, attempt_timeout_s=60),
                    "max_connections": conc}
    async with ChatClient(http_backend=backend, **kwargs) as client:
        assert client.http_backend == backend

        async def worker() -> None:
            for body in it:
                answer = await client.complete(endpoint, body)
                assert answer.finish_reason == "stop", answer

        await asyncio.gather(*(worker() for _ in range(conc)))


def one(mode: str, url: str, n: int, conc: int, stream: bool) -> dict:
    """Run one mode in this process: import time of its stack, then CPU while sending."""
    t0 = time.perf_counter()
    if mode == "raw-aiohttp":
        import aiohttp  # noqa: F401
    elif mode != "raw-asyncio":
        sys.path.insert(0, str(ROOT))
        from pipeline.client import ChatClient

        ChatClient(http_backend=mode)  # imports what the backend needs
    import_s = time.perf_counter() - t0
    items = bodies(n, stream)
    warm = bodies(200, stream)
    if mode == "raw-aiohttp":
        run = raw_aiohttp
    elif mode == "raw-asyncio":
        run = raw_asyncio
    else:
        def run(u: str, i: list[dict], c: int):  # type: ignore[misc]
            return chat_client(mode, u, i, c)

    if mode.startswith("raw-"):
        url += "/v1/chat/completions"

    async def both() -> tuple[float, float]:
        await run(url, warm, conc)  # warm the code paths (not the pool: each run opens its own)
        c0, t0 = cpu_s(), time.perf_counter()
        await run(url, items, conc)
        return cpu_s() - c0, time.perf_counter() - t0

    cpu, wall = asyncio.run(both())
    mods = sorted(m for m in ("httpx", "aiohttp", "httpcore") if m in sys.modules)
    return {"mode": mode, "n": n, "cpu_s": cpu, "wall_s": wall, "import_s": import_s,
            "imported": mods}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000, help="requests per mode")
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--stream", action="store_true", help="ask for SSE answers")
    ap.add_argument("--server", choices=["canned", "emulator"], default="canned")
    ap.add_argument("--modes", nargs="+", default=MODES, choices=MODES)
    ap.add_argument("--repeat", type=int, default=1, help="runs per mode (the best is shown)")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        asyncio.run(_serve())
        return
    if args.one:
        print(json.dumps(one(args.one, args.url, args.n, args.concurrency, args.stream)))
        return
    proc, url = start_server(args.server)
    rows = []
    try:
        for mode in args.modes:
            runs = []
            for _ in range(args.repeat):
                cmd = [sys.executable, __file__, "--one", mode, "--url", url, "--n", str(args.n),
                       "--concurrency", str(args.concurrency)] + (["--stream"] * args.stream)
                out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
                if out.returncode:
                    sys.exit(f"{mode} failed:\n{out.stderr}")
                runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
            rows.append(min(runs, key=lambda r: r["cpu_s"]))
    finally:
        proc.terminate()
        proc.wait(10)
    base = next((r["cpu_s"] / r["n"] for r in rows if r["mode"] == "raw-aiohttp"), None)
    print(f"\n{args.n} requests, concurrency {args.concurrency}, "
          f"{'SSE' if args.stream else 'JSON'} answers, {args.server} server\n")
    print(f"{'mode':<15} {'CPU ms/req':>10} {'x raw aiohttp':>13} {'req/s':>7} "
          f"{'import ms':>9}  imports")
    for r in rows:
        per = r["cpu_s"] / r["n"]
        ratio = f"{per / base:.2f}" if base else "-"
        print(f"{r['mode']:<15} {1000 * per:>10.3f} {ratio:>13} {r['n'] / r['wall_s']:>7.0f} "
              f"{1000 * r['import_s']:>9.0f}  {','.join(r['imported']) or '-'}")
    print(f"\nmachine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
