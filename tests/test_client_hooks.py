"""AttemptHooks: call order and arguments, waits handed to the caller, hook errors propagate."""

from __future__ import annotations

import anyio
import httpx
import pytest

from pipeline.client import (
    AttemptHooks,
    AttemptReport,
    BadRequestError,
    ChatClient,
    ChatError,
    DeadlineExceededError,
    Endpoint,
    RetryPolicy,
    ServerError,
)

pytestmark = pytest.mark.anyio

KEY = "inf-SECRET-hooks-0123456789"
BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
ENDPOINT = Endpoint("https://x.example", KEY)
ANSWER = {
    "id": "c",
    "choices": [{"index": 0, "finish_reason": "stop", "message": {"content": "Hello"}}],
    "usage": {"prompt_tokens": 25, "completion_tokens": 12, "total_tokens": 37},
}
LIMITS = {"x-ratelimit-remaining-requests": "149", "x-ratelimit-reset-tokens": "51s"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Stop(Exception):
    """The runner's own exception, raised from a hook to abandon an item."""


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:  # the client's own sleep: must stay unused
        self.sleeps.append(seconds)
        self.now += seconds


class Recorder:
    """Hooks that record every call; the fake clock moves as the waits and hooks take time."""

    def __init__(self, clock: Clock, *, raise_before: int | None = None,
                 raise_wait: bool = False, before_s: float = 0.0) -> None:  # fmt: skip
        self.clock = clock
        self.calls: list[tuple[str, object]] = []
        self.raise_before, self.raise_wait, self.before_s = raise_before, raise_wait, before_s

    async def before_attempt(self, attempt: int) -> None:
        self.calls.append(("before", attempt))
        self.clock.now += self.before_s
        if attempt == self.raise_before:
            raise Stop("run stopping")

    def after_attempt(self, report: AttemptReport) -> None:
        self.calls.append(("after", report))

    async def wait_retry(self, delay_s: float) -> None:
        self.calls.append(("wait", delay_s))
        if self.raise_wait:
            raise Stop("run stopping")
        self.clock.now += delay_s

    def names(self) -> list[object]:
        return [c[0] if c[0] == "after" else c for c in self.calls]

    def reports(self) -> list[AttemptReport]:
        return [r for name, r in self.calls if name == "after"]  # type: ignore[misc]


def client_for(clock: Clock, *responses: object, **policy: object) -> tuple[ChatClient, list]:
    items = list(responses)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        clock.now += 0.5  # each attempt takes half a second
        item = items.pop(0) if len(items) > 1 else items[0]
        if isinstance(item, BaseException):
            raise item
        assert isinstance(item, httpx.Response)
        return httpx.Response(item.status_code, headers=item.headers, content=item.content)

    policy.setdefault("attempt_timeout_s", 5.0)
    client = ChatClient(retry=RetryPolicy(**policy), transport=httpx.MockTransport(handler),
                        sleep=clock.sleep, clock=clock)  # fmt: skip
    return client, seen


def ok() -> httpx.Response:
    return httpx.Response(200, json=ANSWER, headers=LIMITS)


def error(status: int, **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"message": "no"}}, headers=headers)


def test_a_recorder_is_an_attempt_hooks() -> None:
    hooks: AttemptHooks = Recorder(Clock())  # a static check as much as a runtime one
    assert hooks is not None


async def test_success() -> None:
    clock = Clock()
    hooks = Recorder(clock)
    client, seen = client_for(clock, ok())
    async with client:
        result = await client.complete(ENDPOINT, BODY, hooks=hooks)
    assert hooks.names() == [("before", 1), "after"]
    assert hooks.reports() == [
        AttemptReport(attempt=1, ok=True, kind=None, http_status=200, retry_after_s=None,
                      rate_limit=LIMITS, prompt_tokens=25, completion_tokens=12,
                      started=100.0, finished=100.5, will_retry=False)
    ]  # fmt: skip
    assert result.latency_s == 0.5 and result.elapsed_s == 0.5 and clock.sleeps == []


async def test_success_with_unknown_usage_reports_none() -> None:
    clock = Clock()
    hooks = Recorder(clock)
    body = {k: v for k, v in ANSWER.items() if k != "usage"}
    client, _ = client_for(clock, httpx.Response(200, json=body))
    async with client:
        await client.complete(ENDPOINT, BODY, hooks=hooks)
    (report,) = hooks.reports()
    assert report.ok and report.prompt_tokens is None and report.completion_tokens is None
    assert report.rate_limit == {}


async def test_retry_after_429_is_waited_by_the_hook() -> None:
    clock = Clock()
    hooks = Recorder(clock)
    limited = error(429, **{"retry-after": "3", "x-ratelimit-remaining-requests": "0"})
    client, seen = client_for(clock, limited, ok())
    async with client:
        result = await client.complete(ENDPOINT, BODY, hooks=hooks)
    assert hooks.names() == [("before", 1), "after", ("wait", 3.0), ("before", 2), "after"]
    first, second = hooks.reports()
    assert first == AttemptReport(
        attempt=1, ok=False, kind="rate_limit", http_status=429, retry_after_s=3.0,
        rate_limit={"x-ratelimit-remaining-requests": "0"}, prompt_tokens=None,
        completion_tokens=None, started=100.0, finished=100.5, will_retry=True,
    )  # fmt: skip
    assert second.ok and second.attempt == 2 and not second.will_retry
    assert (second.started, second.finished) == (103.5, 104.0)
    assert clock.sleeps == []  # the hook's wait replaced the client's own sleep
    assert result.attempts == 2 and result.latency_s == 0.5 and result.elapsed_s == 4.0


async def test_backoff_without_retry_after_is_handed_to_the_hook() -> None:
    clock = Clock()
    hooks = Recorder(clock)
    client, _ = client_for(clock, httpx.ConnectError("refused"), ok(), backoff_initial_s=2.0)
    async with client:
        await client.complete(ENDPOINT, BODY, hooks=hooks)
    first = hooks.reports()[0]
    assert (first.kind, first.http_status, first.retry_after_s) == ("connection", None, None)
    (wait,) = [c[1] for c in hooks.calls if c[0] == "wait"]
    assert 1.5 <= wait <= 2.0  # type: ignore[operator]


async def test_non_retryable_400() -> None:
    clock = Clock()
    hooks = Recorder(clock)
    client, seen = client_for(clock, error(400, **{"retry-after": "9"}))
    async with client:
        with pytest.raises(BadRequestError):
            await client.complete(ENDPOINT, BODY, hooks=hooks)
    assert hooks.names() == [("before", 1), "after"]
    (report,) = hooks.reports()
    assert (report.ok, report.kind, report.http_status, report.will_retry) == (
        False, "bad_request", 400, False,
    )  # fmt: skip
    assert report.retry_after_s == 9.0  # what the server asked, even when not retrying
    assert len(seen) == 1


async def test_last_attempt_reports_no_retry() -> None:
    clock = Clock()
    hooks = Recorder(clock)
    client, _ = client_for(clock, error(503), max_attempts=2)
    async with client:
        with pytest.raises(ServerError):
            await client.complete(ENDPOINT, BODY, hooks=hooks)
    assert [r.will_retry for r in hooks.reports()] == [True, False]
    assert [c[0] for c in hooks.calls] == ["before", "after", "wait", "before", "after"]


@pytest.mark.parametrize("raise_before", [1, 2])
async def test_before_attempt_raising_propagates_unchanged(raise_before: int) -> None:
    clock = Clock()
    hooks = Recorder(clock, raise_before=raise_before)
    client, seen = client_for(clock, error(503), ok())
    async with client:
        with pytest.raises(Stop):
            await client.complete(ENDPOINT, BODY, hooks=hooks)
    assert len(seen) == raise_before - 1  # the attempt it guarded was never sent


async def test_wait_retry_raising_propagates_unchanged() -> None:
    clock = Clock()
    hooks = Recorder(clock, raise_wait=True)
    client, seen = client_for(clock, error(429, **{"retry-after": "30"}), ok())
    async with client:
        with pytest.raises(Stop) as info:
            await client.complete(ENDPOINT, BODY, hooks=hooks)
    assert not isinstance(info.value, ChatError) and len(seen) == 1
    assert hooks.names() == [("before", 1), "after", ("wait", 30.0)]


async def test_after_attempt_raising_propagates_unchanged() -> None:
    class Failing(Recorder):
        def after_attempt(self, report: AttemptReport) -> None:
            raise Stop("bug in the caller")

    clock = Clock()
    client, _ = client_for(clock, ok())
    async with client:
        with pytest.raises(Stop):
            await client.complete(ENDPOINT, BODY, hooks=Failing(clock))


async def test_time_in_later_before_attempt_counts_against_the_deadline() -> None:
    clock = Clock()
    hooks = Recorder(clock, before_s=20.0)  # each before_attempt takes 20 s (a rate limit)
    client, seen = client_for(clock, error(503, **{"retry-after": "1"}), ok(), deadline_s=10.0)
    async with client:
        with pytest.raises(DeadlineExceededError) as info:
            await client.complete(ENDPOINT, BODY, hooks=hooks)
    err = info.value
    # The first before_attempt's 20 s came before the clock started; the second's did not.
    assert len(seen) == 1 and err.attempts == 1 and err.retryable
    assert hooks.names() == [("before", 1), "after", ("wait", 1.0), ("before", 2)]
    assert err.elapsed_s == 21.5 and "before attempt 2" in err.message


async def test_a_wait_ending_past_the_deadline_skips_before_attempt() -> None:
    class Slow(Recorder):
        async def wait_retry(self, delay_s: float) -> None:
            await super().wait_retry(delay_s)
            self.clock.now += 60.0  # e.g. the model's 429 pause ran long

    clock = Clock()
    hooks = Slow(clock)
    client, seen = client_for(clock, error(503, **{"retry-after": "1"}), ok(), deadline_s=10.0)
    async with client:
        with pytest.raises(DeadlineExceededError):
            await client.complete(ENDPOINT, BODY, hooks=hooks)
    assert hooks.names() == [("before", 1), "after", ("wait", 1.0)] and len(seen) == 1


async def test_retry_after_past_the_deadline_reports_no_retry_and_waits_not() -> None:
    clock = Clock()
    hooks = Recorder(clock)
    client, seen = client_for(clock, error(429, **{"retry-after": "300"}), deadline_s=60.0)
    async with client:
        with pytest.raises(DeadlineExceededError) as info:
            await client.complete(ENDPOINT, BODY, hooks=hooks)
    assert hooks.names() == [("before", 1), "after"]
    (report,) = hooks.reports()
    assert report.retry_after_s == 300.0 and report.will_retry is False
    assert info.value.last_kind == "rate_limit"


async def test_attempt_cut_by_the_deadline_is_reported() -> None:
    hooks = Recorder(Clock())

    async def handler(request: httpx.Request) -> httpx.Response:
        await anyio.sleep(10)
        return httpx.Response(200, json=ANSWER)

    policy = RetryPolicy(deadline_s=0.1, attempt_timeout_s=5)
    async with ChatClient(retry=policy, transport=httpx.MockTransport(handler)) as client:
        with anyio.fail_after(3):
            with pytest.raises(DeadlineExceededError):
                await client.complete(ENDPOINT, BODY, hooks=hooks)
    assert hooks.names() == [("before", 1), "after"]
    (report,) = hooks.reports()
    assert (report.ok, report.kind, report.will_retry) == (False, "deadline", False)
    assert report.finished - report.started >= 0.09


async def test_without_hooks_the_client_sleeps_itself() -> None:
    clock = Clock()
    client, _ = client_for(clock, error(429, **{"retry-after": "3"}), ok())
    async with client:
        assert (await client.complete(ENDPOINT, BODY)).attempts == 2
    assert clock.sleeps == [3.0]
