"""The rate limiter's arithmetic and the statistics helpers."""

from __future__ import annotations

import math

import anyio
import pytest

from pipeline.limits import RateLimiter
from pipeline.stats import paired_difference, percentile, wilson


def test_rate_limiter_spaces_requests_after_the_burst():
    clock = [100.0]
    lim = RateLimiter(60, burst=2, clock=lambda: clock[0])
    waits = [lim.reserve() for _ in range(5)]
    assert waits == pytest.approx([0.0, 0.0, 1.0, 2.0, 3.0])
    clock[0] += 10  # idle time refills the burst
    assert lim.reserve() == 0.0


def test_rate_limiter_acquire_sleeps_exactly_the_wait():
    slept = []

    async def sleep(s):
        slept.append(s)

    lim = RateLimiter(120, burst=1, clock=lambda: 0.0, sleep=sleep)

    async def go():
        for _ in range(3):
            await lim.acquire()

    anyio.run(go)
    assert slept == pytest.approx([0.5, 1.0])


def test_percentile_and_wilson():
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([], 50) is None
    lo, hi = wilson(8, 10)
    assert 0.44 < lo < 0.5 and 0.94 < hi < 0.97
    assert wilson(0, 0) is None


def test_paired_difference():
    d = paired_difference([1, 0, 1, 0], [1, 1, 1, 1])
    assert d["mean_diff"] == 0.5 and d["wins"] == 2 and d["losses"] == 0 and d["ties"] == 2
    assert d["ci_low"] < 0.5 < d["ci_high"]
    assert math.isnan(paired_difference([], [])["mean_diff"])
