"""One-minute sliding windows per model: the x-ratelimit-* headers and optional enforcement."""

from __future__ import annotations

import math
from collections import deque

WINDOW_S = 60.0


class SlidingWindow:
    """Requests and tokens seen in the last minute for one model."""

    __slots__ = ("rpm", "tpm", "_events", "_tokens")

    def __init__(self, rpm: int, tpm: int) -> None:
        self.rpm = rpm
        self.tpm = tpm
        self._events: deque[tuple[float, int]] = deque()
        self._tokens = 0

    def _expire(self, now: float) -> None:
        events = self._events
        cutoff = now - WINDOW_S
        while events and events[0][0] <= cutoff:
            self._tokens -= events.popleft()[1]

    def retry_after(self, now: float, tokens: int) -> float | None:
        """Seconds until a request of this size fits, or None if it fits now."""
        self._expire(now)
        if len(self._events) < self.rpm and self._tokens + tokens <= self.tpm:
            return None
        if not self._events:
            return WINDOW_S
        return max(0.001, self._events[0][0] + WINDOW_S - now)

    def add(self, now: float, tokens: int) -> None:
        """Record a request that was answered."""
        self._expire(now)
        self._events.append((now, tokens))
        self._tokens += tokens

    def headers(self, now: float) -> dict[str, str]:
        """The six x-ratelimit-* headers as of now."""
        self._expire(now)
        reset = f"{math.ceil(self._events[0][0] + WINDOW_S - now)}s" if self._events else "0s"
        return {
            "x-ratelimit-limit-requests": str(self.rpm),
            "x-ratelimit-limit-tokens": str(self.tpm),
            "x-ratelimit-remaining-requests": str(max(0, self.rpm - len(self._events))),
            "x-ratelimit-remaining-tokens": str(max(0, self.tpm - self._tokens)),
            "x-ratelimit-reset-requests": reset,
            "x-ratelimit-reset-tokens": reset,
        }
