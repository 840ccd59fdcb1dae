"""The client's error tree: one class per failure kind, raised only by `ChatClient.complete`.

ChatError                              the request failed for good
 ├── APIStatusError                    the server answered with an error (status or in-stream)
 │    ├── BadRequestError              bad_request     400, other 4xx
 │    ├── AuthenticationError          auth            401
 │    ├── PermissionDeniedError        forbidden       403
 │    ├── NotFoundError                not_found       404
 │    ├── RequestTooLargeError         too_large       413
 │    ├── UnprocessableEntityError     unprocessable   422
 │    ├── RateLimitError               rate_limit      429
 │    └── ServerError                  server          409, 5xx, 529
 ├── TransportError                    no usable answer came back
 │    ├── APITimeoutError              timeout         attempt timeout, httpx timeouts, 408
 │    └── APIConnectionError           connection      connect/read/write failures
 ├── ProtocolError                     protocol        malformed JSON, truncated stream,
 │                                                     no choices, unexpected status
 └── DeadlineExceededError             deadline        the request's total deadline cut an
                                                       attempt short, or the next attempt
                                                       would start (or wait) past it

Every error carries `kind`, `http_status`, `attempts`, `retryable`, `latency_s` (the last
attempt, send to failure), `elapsed_s` (the whole request, waits included), the server's
`retry_after_s` if it sent one, and a short, one-line `message` that never contains the API
key. Third-party exceptions (http11's, httpx, aiohttp,
OSError) are translated once, in `translate`, and kept as `__cause__`.
"""

from __future__ import annotations

import re
import sys

from .http11 import HTTPTransportError

KINDS = (
    "bad_request", "auth", "forbidden", "not_found", "too_large", "unprocessable",
    "rate_limit", "server", "timeout", "connection", "protocol", "deadline",
)  # fmt: skip

_MAX_MESSAGE = 300
_BEARER = re.compile(r"(?i)bearer\s+\S+")
MIN_SECRET_LEN = 8  # shorter keys are dummies ("x", "EMPTY"): redacting them mangles messages
# The key is redacted as a whole token, not inside a longer word. A "." joins a token only
# between token characters ("key inf-abc." ends a sentence); a %XX or backslash escape just
# before the key is a boundary (URL-encoded or JSON-escaped echoes of a request).
_T = r"[A-Za-z0-9_\-]"
_BEFORE = rf"(?:(?<!{_T})(?<!{_T}\.)|(?<=%[0-9A-Fa-f]{{2}})|(?<=\\[nrt]))"
_AFTER = rf"(?!{_T})(?!\.{_T})"


class ChatError(Exception):
    """A chat request that failed for good (after retries, or not retryable)."""

    default_kind = "protocol"

    def __init__(
        self,
        message: str,
        *,
        kind: str | None = None,
        http_status: int | None = None,
        retryable: bool = False,
        attempts: int = 1,
        latency_s: float = 0.0,
        elapsed_s: float = 0.0,
        retry_after_s: float | None = None,
        request_id: str | None = None,
        rate_limit: dict[str, str] | None = None,
        error_code: str | None = None,
        error_type: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind or self.default_kind
        self.http_status = http_status
        self.retryable = retryable
        self.attempts = attempts
        self.latency_s = latency_s
        self.elapsed_s = elapsed_s
        self.retry_after_s = retry_after_s
        self.request_id = request_id
        self.rate_limit = rate_limit if rate_limit is not None else {}
        self.error_code = error_code
        self.error_type = error_type

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(kind={self.kind!r}, http_status={self.http_status!r}, "
            f"attempts={self.attempts}, message={self.message!r})"
        )


class APIStatusError(ChatError):
    """The server answered with an error status or an in-stream error."""


class BadRequestError(APIStatusError):
    """400 and other non-retryable 4xx: the request itself is wrong."""

    default_kind = "bad_request"


class AuthenticationError(APIStatusError):
    """401: missing or invalid key."""

    default_kind = "auth"


class PermissionDeniedError(APIStatusError):
    """403: no access to the model, or a CDN/WAF block."""

    default_kind = "forbidden"


class NotFoundError(APIStatusError):
    """404: unknown path or model."""

    default_kind = "not_found"


class RequestTooLargeError(APIStatusError):
    """413: request body too large."""

    default_kind = "too_large"


class UnprocessableEntityError(APIStatusError):
    """422: the server understood the request but cannot process it."""

    default_kind = "unprocessable"


class RateLimitError(APIStatusError):
    """429: rate limited."""

    default_kind = "rate_limit"


class ServerError(APIStatusError):
    """5xx, 529 and 409: a server-side failure."""

    default_kind = "server"


class TransportError(ChatError):
    """No usable answer came back over the wire."""

    default_kind = "connection"


class APITimeoutError(TransportError):
    """The attempt ran past its timeout (or the server answered 408)."""

    default_kind = "timeout"


class APIConnectionError(TransportError):
    """Connecting, sending or receiving failed."""

    default_kind = "connection"


class ProtocolError(ChatError):
    """The answer broke the protocol: malformed JSON, truncated stream, no choices."""

    default_kind = "protocol"


class DeadlineExceededError(ChatError):
    """The request's total deadline passed; retryable, as a later run may have more time."""

    default_kind = "deadline"
    last_kind: str | None = None  # kind of the last failure before the deadline ("timeout" if none)


ERROR_CLASSES: dict[str, type[ChatError]] = {
    "bad_request": BadRequestError,
    "auth": AuthenticationError,
    "forbidden": PermissionDeniedError,
    "not_found": NotFoundError,
    "too_large": RequestTooLargeError,
    "unprocessable": UnprocessableEntityError,
    "rate_limit": RateLimitError,
    "server": ServerError,
    "timeout": APITimeoutError,
    "connection": APIConnectionError,
    "protocol": ProtocolError,
    "deadline": DeadlineExceededError,
}


Secrets = str | tuple[str, ...] | None  # a key, or an endpoint's `secrets`


def redact(text: str, secret: Secrets) -> str:
    """Remove the key(s) (and any bearer token) from text, and squeeze it to one short line."""
    for value in _values(secret):
        if len(value) >= MIN_SECRET_LEN and value in text:
            text = re.sub(_BEFORE + re.escape(value) + _AFTER, "***", text)
    if "earer" in text:
        text = _BEARER.sub("Bearer ***", text)
    text = " ".join(text.split())
    if len(text) > _MAX_MESSAGE:
        text = text[: _MAX_MESSAGE - 3] + "..."
    return text


def exception_kind(exc: BaseException) -> tuple[str, bool] | None:
    """Kind and retryability of a third-party exception, or None when it is not ours to catch."""
    if isinstance(exc, ChatError):
        return exc.kind, exc.retryable
    if isinstance(exc, HTTPTransportError):  # the default backend's (http11)
        return exc.kind, exc.retryable
    httpx = sys.modules.get("httpx")  # if it was never imported, none of its errors exist
    if httpx is not None and isinstance(exc, httpx.HTTPError | httpx.InvalidURL):
        return _httpx_kind(exc, httpx)
    if isinstance(exc, TimeoutError):  # anyio.fail_after, asyncio timeouts
        return "timeout", True
    if isinstance(exc, OSError):
        return "connection", True
    aiohttp = sys.modules.get("aiohttp")  # if it was never imported, none of its errors exist
    if aiohttp is not None and isinstance(exc, aiohttp.ClientError):
        if isinstance(exc, aiohttp.ClientConnectionError):
            return "connection", True
        return "protocol", True
    return None


def _httpx_kind(exc: BaseException, httpx: object) -> tuple[str, bool] | None:
    if isinstance(exc, httpx.TimeoutException):  # type: ignore[attr-defined]
        # httpx-aiohttp maps every aiohttp connection error to ConnectTimeout: look at the cause.
        cause = exc.__cause__
        if cause is not None and not isinstance(cause, TimeoutError):
            return "connection", True
        return "timeout", True
    if isinstance(exc, httpx.UnsupportedProtocol):  # type: ignore[attr-defined]
        return "connection", False
    if isinstance(exc, httpx.LocalProtocolError):  # type: ignore[attr-defined]
        return "protocol", False  # we sent something invalid: retry won't help
    if isinstance(exc, httpx.RemoteProtocolError):  # type: ignore[attr-defined]
        return "connection", True  # peer closed or spoke broken HTTP
    if isinstance(exc, httpx.DecodingError):  # type: ignore[attr-defined]
        return "protocol", True
    if isinstance(exc, httpx.TransportError):  # type: ignore[attr-defined]
        return "connection", True
    if isinstance(exc, httpx.InvalidURL):  # type: ignore[attr-defined]
        return "connection", False
    return None  # other httpx errors (HTTPStatusError, StreamError): not a transport failure


def _values(secret: Secrets) -> tuple[str, ...]:
    return (secret,) if isinstance(secret, str) else secret or ()


def _scrub_chain(exc: BaseException, secret: tuple[str, ...]) -> None:
    """Rewrite args of the exception chain that mention the key, so tracebacks can't leak it."""
    seen: set[int] = set()
    node: BaseException | None = exc
    while node is not None and id(node) not in seen:
        seen.add(id(node))
        try:
            if any(isinstance(a, str) and any(v in a for v in secret) for a in node.args):
                node.args = tuple(redact(a, secret) if isinstance(a, str) else a for a in node.args)
        except Exception:  # noqa: BLE001 - best effort on foreign exception types
            pass
        node = node.__cause__ or node.__context__


def translate(
    exc: BaseException, *, secret: Secrets, timeout_s: float | None = None
) -> ChatError | None:
    """Turn a third-party exception into a ChatError chained `from exc`, or None if not ours."""
    found = exception_kind(exc)
    if found is None:
        return None
    kind, retryable = found
    secrets = tuple(v for v in _values(secret) if len(v) >= MIN_SECRET_LEN)
    if secrets:
        _scrub_chain(exc, secrets)
    if isinstance(exc, TimeoutError) and not str(exc) and timeout_s is not None:
        detail = f"attempt timed out after {timeout_s:g}s"
    else:
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    error = ERROR_CLASSES[kind](redact(f"{kind}: {detail}", secret), kind=kind, retryable=retryable)
    error.__cause__ = exc
    error.__suppress_context__ = True
    return error
