"""Faults and limits on the emulator: every item ends in exactly one final row, the server's
count of requests equals the journal's attempts, the budget holds, rate limits cooperate,
and stopping is quick."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from pipeline.config import load_config
from pipeline.journal import read_journal
from pipeline.runner import RunOptions, run
from tests.helpers import ROOT, arith, demo_config

FAULTS = ("rate_429", "error_500", "error_503", "drop", "hang", "truncate_stream", "malformed")


async def no_sleep(_s: float) -> None:
    return None


def fault_config(tmp_path: Path, faults: dict, **run_over) -> Path:
    return demo_config(
        tmp_path, datasets=[arith(30)],
        generation={"max_tokens": 64, "temperature": 0.0, "stream": True},
        provider={"kind": "local", "emulator": {
            "speed": 0.0, "seed": 7,
            "faults": {**faults, "retry_after_s": 0.05, "hang_s": 3.0}}},
        run={"concurrency": 8, "max_attempts": 12, "attempt_timeout_s": 0.5, **run_over})


@pytest.mark.parametrize("fault", [*FAULTS, "mixed"])
def test_each_fault_ends_every_item_once_and_counts_every_attempt(tmp_path: Path, fault: str):
    faults = ({f: 0.2 / len(FAULTS) for f in FAULTS} if fault == "mixed" else {fault: 0.2})
    out = run(load_config(fault_config(tmp_path, faults)), RunOptions(progress=False,
                                                                        sleep=no_sleep))
    df = pl.read_parquet(out.folder / "results.parquet")
    assert df.height == 60 and df["key"].n_unique() == 60
    assert df["final"].all() and (df["status"] == "ok").all()
    journal = list(read_journal(out.folder))
    assert len(journal) == 60  # one record per item: nothing recorded twice
    attempts = sum(r["attempts"] for r in journal)
    assert out.emulator_stats["requests_total"] == attempts
    if fault != "mixed":
        assert attempts > 60  # the fault happened and was retried


def test_mixed_faults_keep_the_budget(tmp_path: Path):
    faults = {f: 0.2 / len(FAULTS) for f in FAULTS}
    out = run(load_config(fault_config(tmp_path, faults, max_cost_usd=0.004)),
              RunOptions(progress=False, sleep=no_sleep))
    assert out.status == "budget_exhausted"
    journal = list(read_journal(out.folder))
    spent = sum(r.get("cost_usd") or 0 for r in journal)
    assert 0.002 < spent <= 0.004
    df = pl.read_parquet(out.folder / "results.parquet")
    assert df.height == len(journal) == df["key"].n_unique()
    assert out.emulator_stats["requests_total"] == sum(r["attempts"] for r in journal)


def rate_limited(tmp_path: Path, **model_over) -> Path:
    return demo_config(
        tmp_path, datasets=[arith(40)], models=[{"id": "claude-4-5-haiku", **model_over}],
        run={"concurrency": 16, "max_attempts": 6, "rate_limits": bool(model_over)})


def test_a_servers_rate_limit_costs_no_item_its_attempts(tmp_path: Path):
    out = run(load_config(rate_limited(tmp_path)), RunOptions(
        progress=False, emulator_overrides={
            "enforce_rate_limits": True, "rate_window_s": 1.0,
            "rate_limits": {"*": (10, 10_000_000)}}))
    df = pl.read_parquet(out.folder / "results.parquet")
    assert (df["status"] == "ok").all() and df.height == 40
    limits = json.loads((out.folder / "manifest.json").read_text())["rate_limits"]
    haiku = limits["claude-4-5-haiku"]
    # the server's limit was binding: the run waited on its headers (and any 429s)
    assert haiku["header_pauses"] + haiku["rate_limited"] > 0 and haiku["trace"]
    assert haiku["rate_limited"] == out.emulator_stats["by_status"].get("429", 0)
    assert haiku["rate_limited"] <= 16  # at most the first burst, before any headers came


def test_a_declared_rate_limit_gets_no_429_at_all(tmp_path: Path):
    out = run(load_config(rate_limited(tmp_path, rpm=600)), RunOptions(
        progress=False, emulator_overrides={
            "enforce_rate_limits": True, "rate_window_s": 1.0,
            "rate_limits": {"*": (10, 10_000_000)}}))
    df = pl.read_parquet(out.folder / "results.parquet")
    assert (df["status"] == "ok").all() and (df["attempts"] == 1).all()
    assert "429" not in out.emulator_stats["by_status"]


def test_one_models_rate_limit_does_not_slow_another(tmp_path: Path):
    cfg = demo_config(tmp_path, datasets=[arith(12)],
                      models=[{"id": "claude-4-5-haiku"}, {"id": "claude-4-5-sonnet"}],
                      run={"concurrency": 8})
    out = run(load_config(cfg), RunOptions(progress=False, emulator_overrides={
        "enforce_rate_limits": True, "rate_window_s": 1.0,
        "rate_limits": {"claude-4-5-haiku": (2, 10_000_000)}}))
    rows = list(read_journal(out.folder))
    assert all(r["status"] == "ok" for r in rows) and len(rows) == 24
    sonnet = sorted(r["finished_at"] for r in rows if r["model"] == "claude-4-5-sonnet")
    haiku = sorted(r["finished_at"] for r in rows if r["model"] == "claude-4-5-haiku")
    assert sonnet[-1] < haiku[5]  # Sonnet finished while Haiku was still being paced


def test_a_retry_after_longer_than_the_deadline_ends_items_at_once(tmp_path: Path, capsys):
    from pipeline.cli import main

    cfg = demo_config(tmp_path, datasets=[arith(6)], models=[{"id": "claude-4-5-haiku"}],
                      provider={"kind": "local", "emulator": {
                          "speed": 0.0, "faults": {"rate_429": 1.0, "retry_after_s": 1000}}},
                      run={"concurrency": 2, "deadline_s": 60})
    start = time.monotonic()
    assert main(["run", str(cfg), "--run-id", "w", "--no-progress"]) == 3
    assert time.monotonic() - start < 20
    err = capsys.readouterr().err
    assert "asked to wait" in err or "deadline" in err
    rows = list(read_journal(tmp_path / "reports/w"))
    assert rows and all(r["status"] == "error" and r["retryable"] for r in rows)
    assert all(r["attempts"] == 1 for r in rows)  # no retry sooner than asked


def _start(cfg: Path, run_id: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline", "run", str(cfg), "--run-id", run_id, "--no-progress"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_a_stop_does_not_wait_for_items_in_backoff(tmp_path: Path):
    cfg = demo_config(tmp_path, datasets=[arith(20)],
                      provider={"kind": "local", "emulator": {
                          "speed": 0.0, "faults": {"rate_429": 1.0, "retry_after_s": 20}}},
                      run={"concurrency": 4})
    proc = _start(cfg, "b")
    time.sleep(2.0)  # every item is waiting out a 20 s Retry-After by now
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert time.monotonic() - sent < 8  # not the 25 s drain, not the 20 s pause
    assert json.loads((tmp_path / "reports/b/manifest.json").read_text())["status"] == \
        "interrupted"
    rows = list(read_journal(tmp_path / "reports/b"))
    # the attempts they made are on record, and they stay pending for a resume
    assert rows and all(r["error_type"] == "stopped" and r["retryable"] for r in rows)
    assert all(r["attempts"] >= 1 and r["http_status"] == 429 for r in rows)


def test_two_signals_together_are_one(tmp_path: Path):
    cfg = demo_config(tmp_path, speed=0.5, datasets=[arith(60)], run={"concurrency": 4})
    proc = _start(cfg, "d")
    journal = tmp_path / "reports/d/journal.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if journal.exists() and journal.read_text().count("\n") >= 4:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.01)
    proc.send_signal(signal.SIGINT)  # as `timeout -s INT` reaching process and group
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    m = json.loads((tmp_path / "reports/d/manifest.json").read_text())
    assert m["status"] == "interrupted"  # drained, not aborted


def test_429s_with_a_budget_never_deadlock(tmp_path: Path):
    """A sender used to hold its model's admission while waiting on the budget that the
    model's own retries (needing that admission) would free: the run hung at 118 items."""
    cfg = demo_config(tmp_path, run={"concurrency": 16, "max_cost_usd": 0.05},
                      provider={"kind": "local", "emulator": {
                          "speed": 0.0, "faults": {"rate_429": 0.2, "retry_after_s": 0.05}}})
    out = run(load_config(cfg), RunOptions(progress=False))  # pytest-timeout guards a hang
    assert out.status == "budget_exhausted" and out.sent > 60
