"""Limits on sending: the cost budget, per-model request and token rates, 429 pauses and
adaptive concurrency. Awaitable and non-polling: every wait is computed, then slept once.

Per model, one `ModelGate` governs first attempts and retries alike:
- requests per minute and tokens per minute, spaced so that any one-minute window holds
  at most the limit (with a 2 % margin for timing jitter);
- a 429 pauses the model until its Retry-After (1 s when the server gives none), and
  `x-ratelimit-remaining-*: 0` pauses it until the matching reset, before a 429 happens;
- concurrency adapts: halved on a 429 (once per burst: 429s of requests sent before the
  last decrease don't count again), +1 per success, between 1 and `run.concurrency`.
Two models never share a gate, so one model's limits never slow another.
"""

from __future__ import annotations

import math
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio

from pipeline.catalog import RATE_WINDOW_S

MARGIN = 1.02  # space requests 2 % wider than the published rate
DEFAULT_429_PAUSE_S = 1.0
MAX_TRACE = 200


class BudgetExhausted(Exception):
    """No request fits in what is left of the budget, and none is in flight to free any."""


class PausedTooLong(Exception):
    """The endpoint asked this model to wait longer than a request may take (deadline_s)."""


@dataclass(slots=True)
class Reservation:
    """Money set aside for one request until its cost is known."""

    amount: float


class Budget:
    """A spending cap that is never passed: each request reserves its worst-case cost before
    it is sent, and the difference is released when its real cost is known."""

    def __init__(self, limit: float | None, spent: float = 0.0) -> None:
        self.limit = limit
        self.spent = spent
        self.reserved = 0.0
        self.in_flight = 0
        self._changed = anyio.Event()
        # Reservations are granted first come, first served: a cheap request never jumps a
        # dear one that waits, so a run stopped by its budget stays paired across models.
        self._queue: deque[object] = deque()

    @property
    def exhausted(self) -> bool:
        """Whether nothing more can be spent."""
        return self.limit is not None and self.spent >= self.limit

    def fits(self, amount: float) -> bool:
        """Whether a request of this worst-case cost may start now."""
        return self.limit is None or self.spent + self.reserved + amount <= self.limit + 1e-12

    async def reserve(
        self, amount: float, stopping: Callable[[], bool] = lambda: False
    ) -> Reservation | None:
        """Set `amount` aside, waiting for requests in flight to settle if it does not fit;
        BudgetExhausted when it cannot fit even with nothing in flight, None when `stopping`
        turned true while waiting (call `wake` to make waiters look)."""
        if self.limit is None:
            return Reservation(0.0)
        ticket = object()
        self._queue.append(ticket)
        try:
            while self._queue[0] is not ticket or not self.fits(amount):
                if stopping():
                    return None
                if self._queue[0] is ticket and self.in_flight == 0:
                    if amount > self.limit:
                        raise BudgetExhausted(
                            f"max_cost_usd {self.limit:g} is less than one request may cost "
                            f"(${amount:.4f}: its prompt and max_tokens at the model's prices); "
                            "raise it or lower max_tokens")
                    raise BudgetExhausted(
                        f"max_cost_usd {self.limit:g} reached: ${self.spent:.4f} spent, and the "
                        f"next request could cost up to ${amount:.4f}"
                    )
                await self._changed.wait()
        finally:
            self._queue.remove(ticket)
            self.wake()
        self.reserved += amount
        self.in_flight += 1
        return Reservation(amount)

    def settle(self, reservation: Reservation, cost: float | None) -> None:
        """The request finished: count its cost, release its reservation."""
        self.spent += cost or 0.0
        if self.limit is None:
            return
        self.in_flight -= 1
        # Nothing in flight means nothing reserved (no float drift left behind).
        self.reserved = max(0.0, self.reserved - reservation.amount) if self.in_flight else 0.0
        self.wake()

    def release(self, reservation: Reservation) -> None:
        """The request was not sent after all."""
        self.settle(reservation, 0.0)

    def wake(self) -> None:
        """Make waiting reservations look again."""
        self._changed.set()
        self._changed = anyio.Event()


class RateLimiter:
    """Spaces events so that any window of `window_s` holds at most `per_window` of them.

    Each caller reserves its slot arithmetically (GCRA without burst) and sleeps exactly
    until it; weights let one limiter count tokens, and `adjust` corrects a reservation
    once the real weight is known."""

    def __init__(
        self, per_window: float, *, window_s: float = RATE_WINDOW_S, margin: float = MARGIN,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = anyio.sleep,
    ) -> None:
        if per_window <= 0:
            raise ValueError("per_window must be positive")
        self.per_window, self.window_s = per_window, window_s
        self.interval = window_s / per_window * margin
        self._tat = -math.inf  # theoretical arrival time of the next event
        self._clock, self._sleep = clock, sleep

    def reserve(self, weight: float = 1.0) -> float:
        """Reserve the next slot; returns how long to wait before using it."""
        now = self._clock()
        at = max(self._tat, now)
        self._tat = at + self.interval * weight
        return at - now

    def adjust(self, weight: float) -> None:
        """Add (or, negative, give back) weight to the schedule after the fact."""
        self._tat += self.interval * weight

    async def acquire(self, weight: float = 1.0) -> None:
        """Wait for the next slot."""
        wait = self.reserve(weight)
        if wait > 0:
            await self._sleep(wait)


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)?")


def parse_duration(text: str | None) -> float | None:
    """Seconds in a rate-limit reset value: "51s", "1m30s", "250ms", "0.5" (seconds)."""
    if not text:
        return None
    text = text.strip().lower()
    total, pos = 0.0, 0
    scale = {"ms": 0.001, "h": 3600.0, "m": 60.0, "s": 1.0, None: 1.0}
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            return None
        total += float(m.group(1)) * scale[m.group(2)]
        pos = m.end()
    return total if pos == len(text) and pos > 0 else None


def _int(value: str | None) -> int | None:
    try:
        return int(float(value)) if value is not None else None
    except ValueError:
        return None


class GateClosed(Exception):
    """The run is stopping: the gate admits no more attempts."""


class ModelGate:
    """Everything that decides when one model's next attempt may go (see the module doc).

    Attempts are admitted one at a time in arrival order (a FIFO turnstile), so a retry
    waiting out a pause is not overtaken by newer attempts, and at most `limit` (adaptive)
    attempts are on the wire at once. When responses carry `x-ratelimit-remaining-requests`,
    no more attempts go out before the matching reset than the server said it would take;
    after the reset one probe goes first and its answer's headers tell how many may follow.
    """

    def __init__(
        self, name: str, *, concurrency: int, rpm: int | None = None, tpm: int | None = None,
        window_s: float = RATE_WINDOW_S, max_pause_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = anyio.sleep,
    ) -> None:
        self.name = name
        self.max_pause_s = max_pause_s
        self.max = concurrency
        self.limit = float(concurrency)
        self.in_flight = 0  # items started and not finished (waiting retries included)
        self.active = 0  # attempts admitted and not yet reported back
        self.rpm, self.tpm = rpm, tpm
        self.requests = RateLimiter(rpm, window_s=window_s, clock=clock) if rpm else None
        self.tokens = RateLimiter(tpm, window_s=window_s, clock=clock) if tpm else None
        self.pause_until = -math.inf
        self.allowance: int | None = None  # attempts the server still takes before...
        self.allowance_until = math.inf  # ...this time; None: the server did not say
        self.closed = False
        self._clock, self._sleep = clock, sleep
        self._t0 = clock()
        self._last_decrease = -math.inf
        self._changed = anyio.Event()
        self._waited = False  # whether anyone waits on _changed (a wake is free otherwise)
        # FIFO. fast_acquire: an uncontended acquire does not yield to the event loop (a
        # loop trip per request: 0.236 -> 0.180 ms of client CPU per item at 20,000 items,
        # bench/bench_scale.py). The sender's loop still yields once `concurrency` requests
        # are in flight, and the dispatcher every 64 items, so nothing is starved.
        self._turn = anyio.Lock(fast_acquire=True)
        self.rate_limited = 0
        self.header_pauses = 0
        self.paused_s = 0.0
        self.decreases = 0
        self.min_limit = concurrency
        self.trace: list[dict[str, Any]] = []

    # -- items -------------------------------------------------------------------------------
    @property
    def has_slot(self) -> bool:
        """Whether another item of this model may start now."""
        return self.in_flight < max(1, int(self.limit))

    async def wait_slot(self) -> None:
        """Wait until something changed (an item or attempt ended, the limit moved, a stop)."""
        await self._wait_change()

    def take(self) -> None:
        """An item of this model starts."""
        self.in_flight += 1

    def give(self) -> None:
        """An item of this model ended."""
        self.in_flight -= 1
        self.wake()

    def wake(self) -> None:
        """Wake whoever waits on this gate (a new event only if someone waited: the runner
        wakes a gate per item, and most of the time nobody is waiting)."""
        if self._waited:
            self._waited = False
            self._changed.set()
            self._changed = anyio.Event()

    async def _wait_change(self) -> None:
        self._waited = True
        await self._changed.wait()

    def close(self) -> None:
        """Admit nothing more (the run is stopping); waiters raise GateClosed."""
        self.closed = True
        self.wake()

    # -- admission of one attempt ----------------------------------------------------------
    async def admit(self, tokens: int, sleep: Callable[[float], Awaitable[Any]] | None = None
                    ) -> int:
        """Wait until an attempt of about `tokens` tokens may be sent; returns the tokens
        reserved (hand them back to `feedback`, or call `cancel_attempt` if it never goes).

        Raises GateClosed when the run stops, PausedTooLong when the endpoint asked for a
        pause longer than a request may take."""
        sleep = sleep or self._sleep
        async with self._turn:
            while True:
                if self.closed:
                    raise GateClosed
                now = self._clock()
                if self.allowance is not None and now >= self.allowance_until:
                    self.allowance, self.allowance_until = 1, math.inf  # one probe
                until = self.pause_until
                if self.allowance is not None and self.allowance <= 0:
                    until = max(until, self.allowance_until)
                if until > now:
                    if self.max_pause_s is not None and until - now > self.max_pause_s:
                        if until == math.inf:  # waiting for a probe's answer
                            await self._wait_change()
                            continue
                        raise PausedTooLong(
                            f"{self.name}: the endpoint asked to wait {until - now:.0f}s before "
                            f"the next request, longer than run.deadline_s "
                            f"({self.max_pause_s:g}s); resume later")
                    if until == math.inf:
                        await self._wait_change()
                    else:
                        await sleep(until - now)
                    continue
                if self.active >= max(1, int(self.limit)):
                    await self._wait_change()
                    continue
                break
            wait = self.requests.reserve() if self.requests is not None else 0.0
            reserved = 0
            if self.tokens is not None:
                reserved = tokens
                wait = max(wait, self.tokens.reserve(tokens))
            if wait > 0:
                await sleep(wait)
            self.active += 1
            if self.allowance is not None:
                self.allowance -= 1
        return reserved

    def cancel_attempt(self, reserved_tokens: int = 0) -> None:
        """An admitted attempt was not sent (or got no report): free its place."""
        self.active = max(0, self.active - 1)
        if self.allowance is not None:
            self.allowance += 1  # it was counted against what the server takes
        if self.tokens is not None and reserved_tokens:
            self.tokens.adjust(-reserved_tokens)
        self.wake()

    def pause(self, until: float, event: str) -> None:
        """Hold every attempt of this model until `until` (clock time)."""
        now = self._clock()
        if until <= self.pause_until or until <= now:
            return
        self.paused_s += until - max(self.pause_until, now)
        self.pause_until = until
        self._note(event, pause_s=round(until - now, 3))

    # -- what came back ----------------------------------------------------------------------
    def feedback(self, report: Any, reserved_tokens: int = 0) -> None:
        """Learn from one attempt's AttemptReport: 429s, rate-limit headers, token usage."""
        now = self._clock()
        self.active = max(0, self.active - 1)
        if self.tokens is not None and reserved_tokens:
            used = 0
            if report.ok and report.prompt_tokens is not None:
                used = report.prompt_tokens + (report.completion_tokens or 0)
            elif report.ok:
                used = reserved_tokens
            self.tokens.adjust(used - reserved_tokens)
        if report.ok:
            if self.limit < self.max:
                self.limit = min(float(self.max), self.limit + 1.0)
                if self.limit >= self.max:
                    self._note("recovered")
        elif report.kind == "rate_limit":
            self.rate_limited += 1
            delay = report.retry_after_s
            self.pause(now + (DEFAULT_429_PAUSE_S if delay is None else delay), "429")
            if report.started > self._last_decrease:
                self._last_decrease = now
                self.decreases += 1
                self.limit = max(1.0, self.limit / 2)
                self.min_limit = min(self.min_limit, int(self.limit))
                self._note("halved")
        self._headers(report.rate_limit, now)
        self.wake()

    def _headers(self, headers: Mapping[str, str], now: float) -> None:
        remaining = _int(headers.get("x-ratelimit-remaining-requests")) if headers else None
        if remaining is None:
            self.allowance, self.allowance_until = None, math.inf
        else:
            reset = parse_duration(headers.get("x-ratelimit-reset-requests"))
            # Attempts still on the wire may not be counted in `remaining` yet.
            self.allowance = remaining - self.active
            self.allowance_until = now + reset if reset is not None else now + 1.0
            if self.allowance <= 0:
                self.header_pauses += 1
                self._note("no requests left", pause_s=round(self.allowance_until - now, 3))
        tokens_left = _int(headers.get("x-ratelimit-remaining-tokens")) if headers else None
        if tokens_left is not None and tokens_left <= 0:
            reset = parse_duration(headers.get("x-ratelimit-reset-tokens"))
            if reset is not None and reset > 0:
                self.header_pauses += 1
                self.pause(now + reset, "no tokens left")

    def _note(self, event: str, **extra: Any) -> None:
        if len(self.trace) < MAX_TRACE:
            self.trace.append({"t": round(self._clock() - self._t0, 3), "event": event,
                               "concurrency": int(self.limit), **extra})

    def snapshot(self) -> dict[str, Any]:
        """What the manifest keeps of this model's rate limiting."""
        return {
            "rpm": self.rpm, "tpm": self.tpm, "rate_limited": self.rate_limited,
            "paused_s": round(self.paused_s, 3), "header_pauses": self.header_pauses,
            "concurrency": {"max": self.max, "min": self.min_limit, "final": int(self.limit),
                            "decreases": self.decreases},
            "trace": self.trace,
        }
