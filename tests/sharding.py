"""Helpers for the sharded-run tests (test_shard.py, test_ray.py)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from pipeline.journal import read_journal
from tests.helpers import run_until

# What must not change when a run is split: each item's answer, score and cost.
COMPARED = ["key", "dataset", "sample_id", "model", "epoch", "status", "final", "score",
            "prompt_tokens", "completion_tokens", "cost_usd"]
TOTALS = ["planned", "done", "pending", "results", "ok", "errors", "failed_items",
          "prompt_tokens", "completion_tokens"]
MONEY = ["cost_usd", "spent_usd"]
SUMMARY = ["model", "samples", "items", "accuracy", "accuracy_ci_low", "accuracy_ci_high", "ok",
           "errors", "failed", "pending", "prompt_tokens", "completion_tokens"]


def manifest(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "manifest.json").read_text())


def assert_same_run(merged: Path, single: Path) -> None:
    """The merged sharded run has exactly the keys, scores and totals of the single-process
    run, and its journals hold every key once."""
    a = pl.read_parquet(merged / "results.parquet").select(COMPARED).sort("key")
    b = pl.read_parquet(single / "results.parquet").select(COMPARED).sort("key")
    assert a["key"].n_unique() == a.height == b.height
    assert a.equals(b)
    counts = Counter(r["key"] for r in read_journal(merged))
    assert set(counts) == set(a["key"]) and set(counts.values()) == {1}
    ma, mb = manifest(merged), manifest(single)
    assert ma["status"] == mb["status"] == "complete"
    assert {k: ma["totals"][k] for k in TOTALS} == {k: mb["totals"][k] for k in TOTALS}
    for k in MONEY:  # the same costs summed in another order
        assert ma["totals"][k] == pytest.approx(mb["totals"][k], rel=1e-12)
    sa = pl.read_parquet(merged / "summary.parquet").sort("model")
    sb = pl.read_parquet(single / "summary.parquet").sort("model")
    assert sa.select(SUMMARY).equals(sb.select(SUMMARY))
    assert sa["cost_usd"].to_list() == pytest.approx(sb["cost_usd"].to_list(), rel=1e-12)

def shard_until(loaded: Any, run_id: str, shard: tuple[int, int], stop_after: int) -> None:
    """Run one shard in-process and cancel it once `stop_after` records landed (a worker
    killed part-way); asserts that it was cut short."""
    run_until(loaded, run_id, stop_after, shard=shard)
