"""Request-rate limits: an awaitable, non-polling limiter per model (GCRA / leaky bucket)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import anyio


class Budget:
    """A spending cap: no request starts once `spent` reaches `limit` (None: no cap)."""

    def __init__(self, limit: float | None, spent: float = 0.0) -> None:
        self.limit, self.spent = limit, spent

    @property
    def exhausted(self) -> bool:
        """Whether the cap is reached."""
        return self.limit is not None and self.spent >= self.limit

    def add(self, cost: float | None) -> None:
        """Count what a finished request cost."""
        self.spent += cost or 0.0


class RateLimiter:
    """Spaces request starts to `per_minute`, allowing a burst of `burst` at once.

    Each caller reserves its slot arithmetically and sleeps exactly until it; nobody polls.
    """

    def __init__(
        self, per_minute: float, *, burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self.interval = 60.0 / per_minute
        self.burst = burst if burst is not None else max(1, int(per_minute // 10))
        self._tolerance = (self.burst - 1) * self.interval
        self._tat = 0.0  # theoretical arrival time of the next request
        self._clock, self._sleep = clock, sleep

    def reserve(self) -> float:
        """Reserve the next slot; returns how long to wait before using it."""
        now = self._clock()
        tat = max(self._tat, now)
        self._tat = tat + self.interval
        return max(0.0, tat - now - self._tolerance)

    async def acquire(self) -> None:
        """Wait for the next slot."""
        wait = self.reserve()
        if wait > 0:
            await self._sleep(wait)
