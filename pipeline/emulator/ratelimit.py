"""Sliding windows per model (the catalogue's one minute by default): the x-ratelimit-*
headers and enforcement."""

from __future__ import annotations

import math
from collections import deque

from pipeline.catalog import RATE_WINDOW_S


class SlidingWindow:
    """Requests and tokens answered in the last window_s seconds for one model."""

    __slots__ = ("rpm", "tpm", "window_s", "_events", "_tokens")

    def __init__(self, rpm: int, tpm: int, window_s: float = RATE_WINDOW_S) -> None:
        self.rpm = rpm
        self.tpm = tpm
        self.window_s = window_s
        self._events: deque[tuple[float, int]] = deque()
        self._tokens = 0

    def _expire(self, now: float) -> None:
        events = self._events
        cutoff = now - self.window_s
        while events and events[0][0] <= cutoff:
            self._tokens -= events.popleft()[1]

    def retry_after(self, now: float, tokens: int) -> float | None:
        """Seconds until a request of this size fits, or None if it fits now.

        Walks the oldest requests out of the window until both the request count and the
        tokens fit; a request larger than the whole token limit never fits: one window.
        """
        self._expire(now)
        count, used = len(self._events), self._tokens
        if count < self.rpm and used + tokens <= self.tpm:
            return None
        for at, spent in self._events:
            count -= 1
            used -= spent
            if count < self.rpm and used + tokens <= self.tpm:
                return max(0.001, at + self.window_s - now)
        return self.window_s

    def add(self, now: float, tokens: int) -> None:
        """Record a request that was answered."""
        self._expire(now)
        self._events.append((now, tokens))
        self._tokens += tokens

    def headers(self, now: float) -> dict[str, str]:
        """The six x-ratelimit-* headers as of now; reset is when the oldest request leaves."""
        self._expire(now)
        events = self._events
        reset = f"{math.ceil(events[0][0] + self.window_s - now)}s" if events else "0s"
        return {
            "x-ratelimit-limit-requests": str(self.rpm),
            "x-ratelimit-limit-tokens": str(self.tpm),
            "x-ratelimit-remaining-requests": str(max(0, self.rpm - len(events))),
            "x-ratelimit-remaining-tokens": str(max(0, self.tpm - self._tokens)),
            "x-ratelimit-reset-requests": reset,
            "x-ratelimit-reset-tokens": reset,
        }
