"""The retry rules pinned as a table: statuses, x-should-retry, retry-after forms, exceptions."""

from __future__ import annotations

from email.utils import formatdate

import httpx
import pytest

from pipeline.client import ProtocolError, RetryDecision, RetryPolicy, classify
from pipeline.client.errors import APIConnectionError
from pipeline.client.retry import backoff_s, error_kind, retry_after_s

NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("status", "retry", "kind"),
    [
        (400, False, "bad_request"),
        (401, False, "auth"),
        (403, False, "forbidden"),
        (404, False, "not_found"),
        (405, False, "bad_request"),
        (408, True, "timeout"),
        (409, True, "server"),
        (413, False, "too_large"),
        (418, False, "bad_request"),
        (422, False, "unprocessable"),
        (429, True, "rate_limit"),
        (500, True, "server"),
        (501, True, "server"),
        (502, True, "server"),
        (503, True, "server"),
        (504, True, "server"),
        (529, True, "server"),
        (302, False, "protocol"),
    ],
)
def test_status_table(status: int, retry: bool, kind: str) -> None:
    assert classify(status, {}, None) == RetryDecision(retry, kind, None)


@pytest.mark.parametrize(
    ("status", "value", "retry"),
    [
        (400, "true", True),
        (401, "TRUE", True),
        (429, "false", False),
        (503, " False ", False),
        (500, "maybe", True),  # unknown values are ignored
        (400, "maybe", False),
    ],
)
def test_x_should_retry_overrides_status(status: int, value: str, retry: bool) -> None:
    decision = classify(status, {"x-should-retry": value}, None)
    assert decision.retry is retry
    assert decision.kind == classify(status, {}, None).kind


def test_x_should_retry_false_drops_the_delay() -> None:
    headers = {"x-should-retry": "false", "retry-after": "3"}
    assert classify(429, headers, None) == RetryDecision(False, "rate_limit", None)


@pytest.mark.parametrize(
    ("headers", "delay"),
    [
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "250", "retry-after": "10"}, 0.25),  # ms wins
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "2.5"}, 2.5),
        ({"retry-after": formatdate(NOW + 30, usegmt=True)}, 30.0),
        ({"retry-after": "120"}, 120.0),
        ({"retry-after": "121"}, 121.0),  # no cap: the caller weighs it against its deadline
        ({"retry-after": "86400"}, 86400.0),
        ({"retry-after": "1e400"}, None),  # infinite
        ({"retry-after": "0"}, None),
        ({"retry-after": "-3"}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after": "inf"}, None),
        ({"retry-after": "soon"}, None),
        ({"retry-after": formatdate(NOW - 30, usegmt=True)}, None),  # in the past
        ({"retry-after": formatdate(NOW + 500, usegmt=True)}, 500.0),
        ({"retry-after-ms": "0", "retry-after": "5"}, None),  # a parsed ms value decides
        ({"retry-after-ms": "abc", "retry-after": "5"}, 5.0),  # unparsable ms falls through
        ({"retry-after-ms": "200000"}, 200.0),
        ({"retry-after-ms": "nan", "retry-after": "5"}, None),
        ({}, None),
    ],
)
def test_retry_after_forms(headers: dict[str, str], delay: float | None) -> None:
    decision = classify(429, headers, None, now=NOW)
    assert decision.retry is True
    assert decision.delay_s == (pytest.approx(delay) if delay is not None else None)


def test_retry_after_cap_is_optional() -> None:
    headers = {"retry-after": "200"}
    assert classify(503, headers, None, max_retry_after_s=300).delay_s == 200.0
    assert classify(503, headers, None, max_retry_after_s=100).delay_s is None
    assert retry_after_s(headers) == 200.0
    assert retry_after_s(headers, max_s=100) is None


def test_no_delay_when_not_retrying() -> None:
    assert classify(400, {"retry-after": "5"}, None).delay_s is None


def test_headers_are_read_case_insensitively() -> None:
    headers = httpx.Headers({"Retry-After": "4", "X-Should-Retry": "true"})
    assert classify(400, headers, None) == RetryDecision(True, "bad_request", 4.0)


def _refused() -> httpx.ConnectTimeout:
    exc = httpx.ConnectTimeout("refused")
    exc.__cause__ = ConnectionRefusedError("refused")
    return exc


@pytest.mark.parametrize(
    ("exc", "retry", "kind"),
    [
        (httpx.ConnectError("x"), True, "connection"),
        (httpx.ReadError("x"), True, "connection"),
        (httpx.WriteError("x"), True, "connection"),
        (httpx.RemoteProtocolError("x"), True, "connection"),
        (httpx.ReadTimeout("x"), True, "timeout"),
        (httpx.ConnectTimeout("x"), True, "timeout"),
        (httpx.PoolTimeout("x"), True, "timeout"),
        (_refused(), True, "connection"),  # httpx-aiohttp's mapping of a refused connect
        (httpx.UnsupportedProtocol("x"), False, "connection"),
        (httpx.LocalProtocolError("x"), False, "protocol"),
        (httpx.DecodingError("x"), True, "protocol"),
        (TimeoutError(), True, "timeout"),
        (ConnectionResetError(), True, "connection"),
        (ProtocolError("truncated", retryable=True), True, "protocol"),
        (APIConnectionError("bad url", retryable=False), False, "connection"),
        (ValueError("not ours"), False, "protocol"),
    ],
)
def test_exception_table(exc: BaseException, retry: bool, kind: str) -> None:
    assert classify(None, None, exc) == RetryDecision(retry, kind, None)


def test_exception_on_a_2xx_is_classified_by_the_exception() -> None:
    exc = ProtocolError("no choices", retryable=True)
    assert classify(200, {}, exc) == RetryDecision(True, "protocol", None)


def test_nothing_to_go_on_is_not_retried() -> None:
    assert classify(None, None, None) == RetryDecision(False, "protocol", None)


@pytest.mark.parametrize(
    ("code", "type_", "status", "expected"),
    [
        (429, None, 200, ("rate_limit", True)),
        ("503", None, 200, ("server", True)),
        (400, "invalid_request_error", 200, ("bad_request", False)),
        (None, "rate_limit_error", 200, ("rate_limit", True)),
        ("context_length_exceeded", "invalid_request_error", 200, ("bad_request", False)),
        (None, "overloaded_error", 200, ("server", True)),
        ("rate_limit_exceeded", "requests", 200, ("rate_limit", True)),  # OpenAI's shape
        ("rate_limit_exceeded", None, 200, ("rate_limit", True)),
        ("server_error", "weird", 200, ("server", True)),
        (None, None, 200, ("protocol", True)),
        (None, None, 401, ("auth", False)),
    ],
)
def test_in_stream_error_kinds(code, type_, status, expected) -> None:
    assert error_kind(code, type_, status) == expected


def test_backoff_grows_is_capped_and_jittered() -> None:
    policy = RetryPolicy(backoff_initial_s=0.5, backoff_max_s=4.0)
    assert [backoff_s(n, policy, rand=0.0) for n in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert backoff_s(1, policy, rand=1.0) == 0.375
    assert backoff_s(10_000, policy, rand=0.0) == 4.0


@pytest.mark.parametrize(
    "kwargs",
    [{"max_attempts": 0}, {"attempt_timeout_s": 0}, {"deadline_s": 0}, {"backoff_max_s": -1}],
)
def test_policy_rejects_unbounded_or_invalid_budgets(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)
