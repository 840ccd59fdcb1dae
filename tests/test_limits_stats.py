"""Budgets, rate limiters, per-model gates, and the statistics helpers."""

from __future__ import annotations

import math
from types import SimpleNamespace

import anyio
import pytest

from pipeline.limits import (
    Budget,
    BudgetExhausted,
    GateClosed,
    ModelGate,
    RateLimiter,
    parse_duration,
)
from pipeline.stats import mean_interval, paired_difference, pass_at_k, percentile, wilson


def test_rate_limiter_never_puts_more_than_the_limit_in_any_window():
    clock = [100.0]
    lim = RateLimiter(60, clock=lambda: clock[0])  # 60 per minute: about one a second
    starts = []
    for _ in range(200):
        clock[0] += lim.reserve()
        starts.append(clock[0])
    for i, t in enumerate(starts):  # any 60 s window, wherever it starts, holds <= 60
        assert sum(1 for u in starts[i:] if u < t + 60.0) <= 60
    clock[0] += 100  # idle time does not bank a burst beyond one
    assert lim.reserve() == 0.0 and lim.reserve() > 0.9


def test_rate_limiter_weights_and_adjust():
    clock = [0.0]
    lim = RateLimiter(1000, window_s=60, margin=1.0, clock=lambda: clock[0])
    assert lim.reserve(500) == 0.0
    assert lim.reserve(10) == pytest.approx(30.0)  # 500 tokens are half a minute's worth
    lim.adjust(-500)  # the first request used nothing after all
    assert lim.reserve(1) == pytest.approx(0.6)


def test_rate_limiter_acquire_sleeps_exactly_the_wait():
    slept = []

    async def sleep(s):
        slept.append(s)

    lim = RateLimiter(120, margin=1.0, clock=lambda: 0.0, sleep=sleep)

    async def go():
        for _ in range(3):
            await lim.acquire()

    anyio.run(go)
    assert slept == pytest.approx([0.5, 1.0])


def test_budget_reserves_worst_case_and_never_passes_the_cap():
    async def go():
        b = Budget(1.0, spent=0.2)
        r1 = await b.reserve(0.5)
        assert b.fits(0.3) and not b.fits(0.31)
        r2 = await b.reserve(0.3)
        order = []

        async def third():
            r3 = await b.reserve(0.4)  # must wait for r1 or r2 to settle
            order.append("third")
            b.settle(r3, 0.05)

        async with anyio.create_task_group() as tg:
            tg.start_soon(third)
            await anyio.sleep(0.01)
            assert order == []
            order.append("settle")
            b.settle(r1, 0.1)  # cost less than reserved: room frees up
        assert order == ["settle", "third"]
        b.settle(r2, 0.3)
        assert b.spent == pytest.approx(0.2 + 0.1 + 0.05 + 0.3)
        assert b.reserved == 0 and b.in_flight == 0
        with pytest.raises(BudgetExhausted):
            await b.reserve(0.5)  # nothing in flight to wait for

    anyio.run(go)


def test_budget_waiter_gives_up_when_stopping():
    async def go():
        b = Budget(1.0)
        r = await b.reserve(0.9)
        stop = [False]
        got = []

        async def waiter():
            got.append(await b.reserve(0.5, lambda: stop[0]))

        async with anyio.create_task_group() as tg:
            tg.start_soon(waiter)
            await anyio.sleep(0.01)
            stop[0] = True
            b.wake()
        assert got == [None]
        b.release(r)

    anyio.run(go)


def report(ok=True, kind=None, retry_after=None, headers=None, started=0.0, prompt=None,
           completion=None):
    return SimpleNamespace(ok=ok, kind=kind, retry_after_s=retry_after, rate_limit=headers or {},
                           started=started, prompt_tokens=prompt, completion_tokens=completion)


def test_gate_429_pauses_the_model_and_halves_concurrency_once_per_burst():
    clock = [10.0]
    gate = ModelGate("m", concurrency=16, clock=lambda: clock[0])
    gate.feedback(report(False, "rate_limit", retry_after=3.0, started=9.0))
    assert gate.pause_until == 13.0 and gate.limit == 8
    gate.feedback(report(False, "rate_limit", retry_after=1.0, started=9.5))  # same burst
    assert gate.limit == 8 and gate.pause_until == 13.0 and gate.rate_limited == 2
    clock[0] = 20.0
    gate.feedback(report(False, "rate_limit", started=19.0))  # sent after the decrease
    assert gate.limit == 4 and gate.pause_until == 21.0  # 1 s without Retry-After
    for _ in range(20):
        gate.feedback(report())
    assert gate.limit == 16
    snap = gate.snapshot()
    assert snap["concurrency"] == {"max": 16, "min": 4, "final": 16, "decreases": 2}
    assert [e["event"] for e in snap["trace"]][-1] == "recovered"


def test_gate_admit_waits_out_a_pause_and_the_rate():
    clock = [0.0]
    slept = []

    async def sleep(s):
        slept.append(round(s, 3))
        clock[0] += s

    gate = ModelGate("m", concurrency=4, rpm=60, clock=lambda: clock[0], sleep=sleep)
    gate.requests = RateLimiter(60, margin=1.0, clock=lambda: clock[0])

    async def go():
        await gate.admit(0)
        gate.pause(clock[0] + 5.0, "429")
        await gate.admit(0)

    anyio.run(go)
    assert slept == [5.0]  # the pause covered the one-second spacing
    assert clock[0] == 5.0


def test_gate_sends_no_more_than_the_headers_allow_then_probes():
    clock = [0.0]
    slept = []

    async def sleep(s):
        slept.append(round(s, 3))
        clock[0] += s

    gate = ModelGate("m", concurrency=8, clock=lambda: clock[0], sleep=sleep)

    async def go():
        await gate.admit(0)
        gate.feedback(report(headers={"x-ratelimit-remaining-requests": "2",
                                      "x-ratelimit-reset-requests": "20s"}))
        await gate.admit(0)
        await gate.admit(0)  # the two the server said it still takes
        assert slept == []
        await gate.admit(0)  # a third waits for the reset, then goes alone as a probe
        assert slept == [20.0]
        order = []

        async def waiter():
            await gate.admit(0)
            order.append("after the probe's answer")

        async with anyio.create_task_group() as tg:
            tg.start_soon(waiter)
            await anyio.sleep(0.01)
            assert order == []  # waits for the probe's headers, not for time
            gate.feedback(report(headers={"x-ratelimit-remaining-requests": "5",
                                          "x-ratelimit-reset-requests": "1m2s"}))
        assert order == ["after the probe's answer"]

    anyio.run(go)
    assert gate.header_pauses == 0


def test_gate_without_headers_has_no_allowance_and_close_stops_waiters():
    gate = ModelGate("m", concurrency=1)

    async def go():
        await gate.admit(0)
        gate.feedback(report())  # no headers: nothing known, nothing held back
        assert gate.allowance is None
        await gate.admit(0)  # the one attempt allowed on the wire
        caught = []

        async def waiter():
            try:
                await gate.admit(0)
            except GateClosed:
                caught.append(True)

        async with anyio.create_task_group() as tg:
            tg.start_soon(waiter)
            await anyio.sleep(0.01)
            gate.close()
        assert caught == [True]

    anyio.run(go)


def test_gate_tokens_are_corrected_by_real_usage():
    clock = [0.0]
    gate = ModelGate("m", concurrency=4, tpm=6000, clock=lambda: clock[0])
    gate.tokens = RateLimiter(6000, margin=1.0, clock=lambda: clock[0])
    assert gate.tokens.reserve(1000) == 0.0
    gate.feedback(report(prompt=100, completion=100), reserved_tokens=1000)
    assert gate.tokens.reserve(1) == pytest.approx(2.0)  # 200 tokens at 100/s


@pytest.mark.parametrize(("text", "seconds"), [
    ("51s", 51.0), ("1m30s", 90.0), ("250ms", 0.25), ("0.5", 0.5), ("2h", 7200.0),
    ("", None), ("soon", None), ("5x", None)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


def test_percentile_and_wilson():
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([], 50) is None
    lo, hi = wilson(8, 10)
    assert 0.44 < lo < 0.5 and 0.94 < hi < 0.97
    assert wilson(0, 0) is None


def test_mean_interval_counts_samples_not_epochs():
    binary = [1.0] * 8 + [0.0] * 2
    assert mean_interval(binary) == wilson(8, 10)
    means = [1.0, 1.0, 2 / 3, 1 / 3, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0]
    assert mean_interval(means) == wilson(sum(means), 10)
    assert mean_interval([]) is None


def test_epochs_that_disagree_never_narrow_the_interval_near_zero():
    """One of 26 samples right in 1 of 3 epochs: a normal interval collapsed to 0-3.8%
    (found on a real model); the interval must stay at least as wide as one epoch's."""
    one_epoch = wilson(1, 26)
    lo, hi = mean_interval([1 / 3] + [0.0] * 25)
    assert lo >= 0 and hi - lo >= (wilson(0, 26)[1] - wilson(0, 26)[0]) * 0.9
    assert hi > 0.1 and hi < one_epoch[1]


def test_pass_at_k():
    assert pass_at_k(3, 0, 3) == 0.0 and pass_at_k(3, 1, 3) == 1.0
    assert pass_at_k(5, 2, 1) == pytest.approx(0.4)
    assert pass_at_k(5, 2, 2) == pytest.approx(1 - 3 / 10)
    # fewer attempts than k: undefined (NaN), never pass@n in disguise
    assert math.isnan(pass_at_k(1, 1, 3)) and math.isnan(pass_at_k(2, 0, 3))


def test_a_sample_short_of_k_epochs_is_left_out_of_pass_at_k():
    import polars as pl

    from pipeline.report.tables import summary

    rows = [{"dataset": "d", "sample_id": s, "model": "m", "epoch": e, "final": True,
             "status": "ok", "score": v}
            for s, scores in (("a", [0, 0, 1]), ("b", [0, 0, 0]), ("c", [1]))
            for e, v in enumerate(scores, 1)]
    from pipeline.records import row_schema

    schema = row_schema()
    frame = pl.DataFrame([{**dict.fromkeys(schema), **r, "score": float(r["score"])}
                          for r in rows], schema=schema)
    got = summary(frame, 3).row(0, named=True)
    # "c" has 1 of 3 epochs: pass@3 over a and b only (1 and 0), not c's pass@1 of 1
    assert got["pass_at_k"] == 0.5 and got["pass_at_k_samples"] == 2 and got["samples"] == 3


def test_paired_difference():
    d = paired_difference([1, 0, 1, 0], [1, 1, 1, 1])
    assert d["mean_diff"] == 0.5 and d["wins"] == 2 and d["losses"] == 0 and d["ties"] == 2
    assert d["ci_low"] < 0.5 < d["ci_high"]
    assert math.isnan(paired_difference([], [])["mean_diff"])
