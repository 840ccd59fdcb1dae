"""Retry rules as values: the policy's three budgets, `classify` and the backoff schedule."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import exception_kind

RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})

STATUS_KINDS: dict[int, str] = {
    400: "bad_request",
    401: "auth",
    403: "forbidden",
    404: "not_found",
    408: "timeout",
    409: "server",
    413: "too_large",
    422: "unprocessable",
    429: "rate_limit",
}

# error.type strings seen in OpenAI-compatible bodies, for in-stream errors without a status code.
TYPE_KINDS: dict[str, str] = {
    "invalid_request_error": "bad_request",
    "authentication_error": "auth",
    "authorization_error": "forbidden",
    "permission_error": "forbidden",
    "not_found_error": "not_found",
    "request_too_large": "too_large",
    "rate_limit_error": "rate_limit",
    "rate_limit_exceeded": "rate_limit",
    "server_error": "server",
    "api_error": "server",
    "overloaded_error": "server",
    "timeout_error": "timeout",
}

RETRYABLE_KINDS = frozenset({"rate_limit", "server", "timeout", "connection", "protocol"})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Three bounded budgets per request: attempts, per-attempt timeout, total deadline."""

    max_attempts: int = 6
    attempt_timeout_s: float = 120.0  # one attempt, send to end of body
    deadline_s: float | None = 900.0  # whole request from first send: bounds attempts and waits
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.attempt_timeout_s <= 0:
            raise ValueError("attempt_timeout_s must be positive")
        if self.deadline_s is not None and self.deadline_s <= 0:
            raise ValueError("deadline_s must be positive or None")
        if self.backoff_initial_s < 0 or self.backoff_max_s < 0:
            raise ValueError("backoff delays must not be negative")


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """What to do after a failed attempt; `delay_s` comes from headers, None means backoff."""

    retry: bool
    kind: str
    delay_s: float | None = None


@dataclass(frozen=True, slots=True)
class RetryEvent:
    """One retry about to happen, reported to `on_retry` before the backoff sleep."""

    attempt: int  # the attempt that failed (1-based)
    kind: str
    http_status: int | None
    delay_s: float
    message: str


def status_kind(status: int) -> str:
    """The error kind of an HTTP status."""
    kind = STATUS_KINDS.get(status)
    if kind is not None:
        return kind
    if status >= 500:
        return "server"
    if status >= 400:
        return "bad_request"
    return "protocol"  # 1xx/3xx where a 2xx was due


def status_retryable(status: int) -> bool:
    """Whether a status is worth another attempt without header advice."""
    return status in RETRY_STATUSES or status >= 500


def retry_after_s(
    headers: Mapping[str, str], *, max_s: float | None = None, now: float | None = None
) -> float | None:
    """The server's requested delay: retry-after-ms, then Retry-After seconds or HTTP date.

    Any positive finite value counts, however large (the caller weighs it against its
    deadline); `max_s`, when given, drops larger values.
    """
    value: float | None = None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        try:
            value = float(raw_ms) / 1000.0
        except ValueError:
            value = None
    if value is None:
        raw = headers.get("retry-after")
        if raw is not None:
            try:
                value = float(raw)
            except ValueError:
                value = _http_date_delay(raw, now)
    if value is None or not 0 < value < math.inf or (max_s is not None and value > max_s):
        return None  # NaN fails 0 < value
    return value


def _http_date_delay(raw: str, now: float | None) -> float | None:
    from email.utils import parsedate_to_datetime  # the email package: 5-15 ms to import

    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return when.timestamp() - (time.time() if now is None else now)


def classify(
    status: int | None,
    headers: Mapping[str, str] | None = None,
    exc: BaseException | None = None,
    *,
    max_retry_after_s: float | None = None,
    now: float | None = None,
) -> RetryDecision:
    """Decide retry, kind and header delay from a status, its headers, and/or an exception.

    A non-2xx status decides the kind; otherwise the exception does. `x-should-retry`
    overrides the status rule; retry-after headers only give a delay when retrying.
    `now` (epoch seconds) pins the clock for HTTP-date Retry-After values.
    """
    if status is not None and not 200 <= status < 300:
        kind, retry = status_kind(status), status_retryable(status)
    elif exc is not None:
        found = exception_kind(exc)
        kind, retry = found if found is not None else ("protocol", False)
    else:
        kind, retry = "protocol", False  # a 2xx with nothing wrong is not a failure to classify
    delay = None
    if headers is not None:
        should = headers.get("x-should-retry")
        if should is not None:
            should = should.strip().lower()
            if should == "true":
                retry = True
            elif should == "false":
                retry = False
        if retry:
            delay = retry_after_s(headers, max_s=max_retry_after_s, now=now)
    return RetryDecision(retry, kind, delay)


def error_kind(code: object, type_: object, http_status: int | None) -> tuple[str, bool]:
    """Kind and retryability of a server error body: its code, else its type, else the status."""
    status = _as_status(code)
    if status is not None:
        return status_kind(status), status_retryable(status)
    for name in (code, type_):  # OpenAI: {"type": "requests", "code": "rate_limit_exceeded"}
        if isinstance(name, str) and name in TYPE_KINDS:
            kind = TYPE_KINDS[name]
            return kind, kind in RETRYABLE_KINDS
    if http_status is not None and not 200 <= http_status < 300:
        return status_kind(http_status), status_retryable(http_status)
    return "protocol", True  # an unexplained in-stream error: treat like a broken stream


def _as_status(code: object) -> int | None:
    if isinstance(code, bool):
        return None
    if isinstance(code, int):
        value = code
    elif isinstance(code, str) and code.isdigit():
        value = int(code)
    else:
        return None
    return value if 400 <= value <= 599 else None


def backoff_s(attempt: int, policy: RetryPolicy, rand: float | None = None) -> float:
    """Exponential backoff with jitter (openai-python style) after the given failed attempt."""
    base = min(policy.backoff_initial_s * 2.0 ** min(attempt - 1, 60), policy.backoff_max_s)
    jitter = 1.0 - 0.25 * (random.random() if rand is None else rand)
    return base * jitter
