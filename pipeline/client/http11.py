"""A minimal HTTP/1.1 keep-alive client on asyncio streams: the default `http_backend`.

Why hand-written: `ChatClient` sends one kind of request (a POST with a JSON body) and reads
one kind of answer (JSON or SSE), thousands of times. Measured with `bench/bench_client.py`,
a bare keep-alive loop on asyncio streams costs a third of the client CPU of a bare aiohttp
loop, and importing it costs nothing (aiohttp: 250-350 ms, 100 ms of it two SSL contexts it
builds at import; httpx: 130 ms). What it handles: Content-Length, chunked and
read-until-close bodies, `Connection: close`, keep-alive reuse with an idle expiry, 1xx
interim answers, gzip/deflate bodies, and https with the system CA store (built on the first
https request only). What it does not: proxies (`ChatClient` uses httpx when a proxy
variable is set), HTTP/2, redirects (the chat client follows none), cookies.

The response has the attribute names of `httpx.Response` that `ChatClient` reads
(`status_code`, `reason_phrase`, `headers`, `aiter_bytes`, `aclose`, `is_closed`), so the
client's reading code serves both backends. Failures raise `HTTPTransportError`s, which
`errors.exception_kind` classifies; OSError and TimeoutError pass through as they are.
"""

from __future__ import annotations

import asyncio
import re
import time
import zlib
from collections.abc import AsyncGenerator, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ssl

KEEPALIVE_S = 5.0  # an idle connection older than this is closed, not reused (as httpx)
_READ = 65536
_LIMIT = 2**20  # longest header block or chunk-size line accepted
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_NO_BODY = (204, 304)


class HTTPTransportError(Exception):
    """A failure of the HTTP exchange; `kind` and `retryable` as `errors.exception_kind` needs."""

    kind = "connection"
    retryable = True


class ServerDisconnectedError(HTTPTransportError):
    """The server closed the connection before the answer was complete."""


class RemoteProtocolError(HTTPTransportError):
    """The server's answer is not valid HTTP/1.1."""


class LocalProtocolError(HTTPTransportError):
    """What we were asked to send is not valid HTTP (a bad header name): retrying won't help."""

    kind = "protocol"
    retryable = False


class UnsupportedURLError(HTTPTransportError):
    """Not an http:// or https:// URL with a host."""

    retryable = False


class _Origin:
    """Where a URL's requests go, parsed once per URL."""

    __slots__ = ("key", "host", "port", "tls", "target", "host_header")

    def __init__(self, url: str) -> None:
        scheme, sep, rest = url.partition("://")
        scheme = scheme.lower()
        if not sep or scheme not in ("http", "https"):
            raise UnsupportedURLError(f"unsupported URL {url!r}: only http:// and https://")
        authority, slash, path = rest.partition("/")
        authority = authority.rpartition("@")[2]  # user:password@ is not supported: dropped
        self.tls = scheme == "https"
        default = 443 if self.tls else 80
        if authority.startswith("["):  # [IPv6]:port
            host, _, port = authority[1:].partition("]")
            port = port.removeprefix(":")
        else:
            host, _, port = authority.partition(":")
        if not host:
            raise UnsupportedURLError(f"URL {url!r} has no host")
        try:
            self.port = int(port) if port else default
        except ValueError:
            raise UnsupportedURLError(f"URL {url!r} has a bad port") from None
        self.host = host
        self.target = slash + path if slash else "/"
        shown = f"[{host}]" if ":" in host else host
        self.host_header = shown if self.port == default else f"{shown}:{self.port}"
        self.key = (self.tls, host, self.port)


class Prepared:
    """A request's origin and encoded head up to its Content-Length (see `Pool.prepare`)."""

    __slots__ = ("origin", "head")

    def __init__(self, origin: _Origin, head: bytes) -> None:
        self.origin = origin
        self.head = head


class _Connection:
    __slots__ = ("key", "reader", "writer", "idle_since")

    def __init__(
        self, key: tuple, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.key = key
        self.reader = reader
        self.writer = writer
        self.idle_since = 0.0

    def usable(self, now: float) -> bool:
        """Whether an idle connection can carry another request (not closed, not expired)."""
        return (
            now - self.idle_since < KEEPALIVE_S
            and not self.writer.is_closing()
            and not self.reader.at_eof()
        )

    def close(self) -> None:
        try:
            self.writer.close()
        except Exception:  # noqa: BLE001 - closing a broken transport is not an error
            pass


class Response:
    """An answer whose body is read with `aiter_bytes`; closing it frees its connection."""

    __slots__ = (
        "status_code", "reason_phrase", "headers", "is_closed", "_pool", "_conn", "_framing",
        "_length", "_keep_alive", "_consumed",
    )  # fmt: skip

    def __init__(
        self,
        pool: Pool,
        conn: _Connection,
        status: int,
        reason: str,
        headers: dict[str, str],
        framing: str,
        length: int,
        keep_alive: bool,
    ) -> None:
        self.status_code = status
        self.reason_phrase = reason
        self.headers = headers
        self.is_closed = False
        self._pool = pool
        self._conn: _Connection | None = conn
        self._framing = framing  # "length", "chunked" or "close"
        self._length = length
        self._keep_alive = keep_alive
        self._consumed = False

    async def aiter_bytes(self) -> AsyncGenerator[bytes, None]:
        """The body, decoded if gzip/deflate; ServerDisconnectedError if it is cut short."""
        conn = self._conn
        if conn is None or self._consumed:
            return
        self._consumed = True
        coding = self.headers.get("content-encoding")
        if coding in ("gzip", "deflate", "x-gzip"):
            decoder = zlib.decompressobj(47 if coding != "deflate" else 15)
            async for part in self._raw(conn.reader):
                data = _inflate(decoder, part)
                if data:
                    yield data
            data = decoder.flush()
            if data:
                yield data
        else:
            async for part in self._raw(conn.reader):
                yield part
        self._release(reuse=self._keep_alive and self._framing != "close")

    async def _raw(self, reader: asyncio.StreamReader) -> AsyncGenerator[bytes, None]:
        framing = self._framing
        if framing == "length":
            left = self._length
            while left:
                data = await reader.read(left if left < _READ else _READ)
                if not data:
                    raise ServerDisconnectedError(
                        f"server closed the connection with {left} bytes of the body unsent"
                    )
                left -= len(data)
                yield data
        elif framing == "chunked":
            while True:
                line = await reader.readline()
                if not line.endswith(b"\n"):
                    raise ServerDisconnectedError("server closed the connection mid-body")
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise RemoteProtocolError("malformed chunk size in a chunked body") from None
                if size == 0:
                    while True:  # trailers, up to the empty line
                        line = await reader.readline()
                        if not line.endswith(b"\n"):
                            raise ServerDisconnectedError("server closed the connection mid-body")
                        if line in (b"\r\n", b"\n"):
                            return
                while size:
                    data = await reader.read(size if size < _READ else _READ)
                    if not data:
                        raise ServerDisconnectedError("server closed the connection mid-chunk")
                    size -= len(data)
                    yield data
                end = await reader.readline()
                if end not in (b"\r\n", b"\n"):
                    if not end.endswith(b"\n"):
                        raise ServerDisconnectedError("server closed the connection mid-body")
                    raise RemoteProtocolError("chunk not followed by CRLF in a chunked body")
        else:  # delimited by the connection closing
            while True:
                data = await reader.read(_READ)
                if not data:
                    return
                yield data

    async def aclose(self) -> None:
        """Free the connection: back to the pool if the body was read to its end, else closed."""
        self._release(reuse=False)

    def _release(self, *, reuse: bool) -> None:
        if self.is_closed:
            return
        self.is_closed = True
        conn, self._conn = self._conn, None
        if conn is not None:
            self._pool._release(conn, reuse)


class Pool:
    """Keep-alive connections per origin, at most `max_connections` carrying requests at once."""

    def __init__(self, max_connections: int, user_agent: str) -> None:
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: dict[tuple, list[_Connection]] = {}
        self._agent = user_agent
        self._ssl: ssl.SSLContext | None = None
        self._closed = False

    def prepare(self, url: str, headers: Mapping[str, str]) -> Prepared:
        """Check and encode what every request to this URL with these headers sends."""
        origin = _Origin(url)
        lines = [f"POST {origin.target} HTTP/1.1\r\nhost: {origin.host_header}\r\n"
                 f"user-agent: {self._agent}\r\n"]  # fmt: skip
        for name, value in headers.items():
            if not _TOKEN.fullmatch(name):
                raise LocalProtocolError(f"invalid HTTP header name {name!r}")
            if "\r" in value or "\n" in value:
                raise LocalProtocolError(f"invalid value for HTTP header {name!r}")
            lines.append(f"{name}: {value}\r\n")
        return Prepared(origin, "".join(lines).encode("utf-8"))

    async def post(self, prepared: Prepared, content: bytes) -> Response:
        """Send a POST and read the status and headers; the caller reads and closes the body."""
        origin = prepared.origin
        await self._slots.acquire()
        conn = None
        try:
            conn = self._idle_connection(origin.key)
            if conn is None:
                conn = await self._connect(origin)
            writer = conn.writer
            writer.write(b"%scontent-length: %d\r\n\r\n%s" % (prepared.head, len(content), content))
            await writer.drain()
            return await self._read_head(conn)
        except BaseException:
            if conn is not None:
                conn.close()
            self._slots.release()
            raise

    def _idle_connection(self, key: tuple) -> _Connection | None:
        idle = self._idle.get(key)
        if not idle:
            return None
        now = time.monotonic()
        while idle:
            conn = idle.pop()  # the most recently used: the least likely to be expired
            if conn.usable(now):
                return conn
            conn.close()
        return None

    async def _connect(self, origin: _Origin) -> _Connection:
        if self._closed:
            raise ServerDisconnectedError("the client is closed")
        if origin.tls:
            context = self._ssl
            if context is None:
                import ssl

                context = self._ssl = ssl.create_default_context()  # the system CA store
                context.set_alpn_protocols(["http/1.1"])
            reader, writer = await asyncio.open_connection(
                origin.host, origin.port, ssl=context, server_hostname=origin.host, limit=_LIMIT
            )
        else:
            reader, writer = await asyncio.open_connection(origin.host, origin.port, limit=_LIMIT)
        return _Connection(origin.key, reader, writer)

    async def _read_head(self, conn: _Connection) -> Response:
        reader = conn.reader
        while True:
            try:
                block = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError as exc:
                what = "before answering" if not exc.partial else "in the middle of the headers"
                raise ServerDisconnectedError(f"server closed the connection {what}") from None
            except asyncio.LimitOverrunError:
                raise RemoteProtocolError("response header block too large") from None
            lines = block.decode("latin-1").split("\r\n")
            version, _, rest = lines[0].partition(" ")
            code, _, reason = rest.partition(" ")
            if not version.startswith("HTTP/1.") or len(code) != 3 or not code.isdigit():
                raise RemoteProtocolError(f"malformed status line {lines[0][:80]!r}")
            status = int(code)
            if 100 <= status < 200 and status != 101:
                continue  # an interim answer (100 Continue, 103 Early Hints): the real one follows
            break
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if not line:
                continue
            name, sep, value = line.partition(":")
            if not sep:
                raise RemoteProtocolError(f"malformed header line {line[:80]!r}")
            name = name.strip().lower()
            value = value.strip()
            old = headers.get(name)
            headers[name] = value if old is None else f"{old}, {value}"
        connection = headers.get("connection", "").lower()
        keep_alive = "close" not in connection and (
            version == "HTTP/1.1" or "keep-alive" in connection
        )
        length = 0
        if status in _NO_BODY or status == 101:
            framing = "length"
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            framing = "chunked"
        elif "content-length" in headers:
            framing = "length"
            try:
                length = int(headers["content-length"].split(",")[0])
            except ValueError:
                raise RemoteProtocolError("malformed Content-Length") from None
            if length < 0:
                raise RemoteProtocolError("negative Content-Length")
        else:
            framing = "close"
        return Response(self, conn, status, reason, headers, framing, length, keep_alive)

    def _release(self, conn: _Connection, reuse: bool) -> None:
        self._slots.release()
        if reuse and not self._closed:
            conn.idle_since = time.monotonic()
            self._idle.setdefault(conn.key, []).append(conn)
        else:
            conn.close()

    async def aclose(self) -> None:
        """Close the idle connections; those carrying a request close when their answer does."""
        self._closed = True
        idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()


def _inflate(decoder: zlib._Decompress, data: bytes) -> bytes:
    try:
        return decoder.decompress(data)
    except zlib.error as exc:
        raise RemoteProtocolError(f"undecodable compressed body: {exc}") from None
