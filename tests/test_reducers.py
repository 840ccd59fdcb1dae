"""Epoch reducers (`run.reducer`): how a sample's epochs make its score, in every table."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from pipeline.compare import compare
from pipeline.config import load_config
from pipeline.errors import ConfigError
from pipeline.report.tables import reduced
from pipeline.runner import RunOptions, run
from tests.helpers import arith, demo_config
from tests.test_compare import _row, _rows, _run

EPOCHS = {  # sample -> its epochs' scores
    "a": [1.0, 0.0, 1.0], "b": [1.0, 0.0], "c": [0.0, 0.0, 1.0], "d": [0.5, 0.5, 1.0],
}
EXPECTED = {
    "mean": {"a": 2 / 3, "b": 0.5, "c": 1 / 3, "d": 2 / 3},
    "max": {"a": 1.0, "b": 1.0, "c": 1.0, "d": 1.0},
    "majority": {"a": 1.0, "b": 0.0, "c": 0.0, "d": 0.5},  # b: a tie goes to the lower
}


@pytest.mark.parametrize("reducer", ["mean", "max", "majority"])
def test_each_reducer_by_hand(reducer: str):
    frame = pl.DataFrame([{"s": s, "score": v} for s, vs in EPOCHS.items() for v in vs])
    got = dict(frame.group_by("s").agg(reduced(pl.col("score"), reducer)).iter_rows())
    assert got == pytest.approx(EXPECTED[reducer])


def test_a_baseline_comparison_reduces_both_runs_the_new_runs_way():
    def rows(scores_by_epoch: list[list[float]]) -> list[dict]:
        return [r for e, scores in enumerate(scores_by_epoch, 1)
                for r in _rows(scores, epoch=e)]

    # 25 samples: each right in 2 of 3 epochs in the baseline, 1 of 3 in the new run
    base = rows([[1.0] * 25, [1.0] * 25, [0.0] * 25])
    new = rows([[1.0] * 25, [0.0] * 25, [0.0] * 25])
    config = {"config": {"run": {"reducer": "majority"}}}
    got = compare(_run(base, "a"), _run(new, "b", **config))
    r = _row(got.frame)
    assert (r["base_score"], r["new_score"], r["diff"]) == (1.0, 0.0, -1.0)
    assert any("the baseline reduced each sample's epochs by mean, this run by majority" in w
               for w in got.warnings)
    mean = _row(compare(_run(base, "a"), _run(new, "b")).frame)
    assert mean["diff"] == pytest.approx(-1 / 3)


def test_a_run_reduced_by_majority_vote_end_to_end(tmp_path: Path):
    cfg = demo_config(tmp_path, datasets=[arith(120)], models=[{"id": "claude-4-5-haiku"}],
                      generation={"temperature": 1.0, "max_tokens": 256},
                      run={"epochs": 3, "reducer": "majority"})
    out = run(load_config(cfg), RunOptions(progress=False))
    res = pl.read_parquet(out.folder / "results.parquet")
    per_sample = res.group_by("sample_id").agg(pl.col("score").fill_null(0.0))
    votes = [1.0 if sum(s) >= 2 else 0.0 for s in per_sample["score"].to_list()]
    means = [sum(s) / 3 for s in per_sample["score"].to_list()]
    assert any(0 < m < 1 for m in means)  # some samples' epochs disagree
    summary = pl.read_parquet(out.folder / "summary.parquet").row(0, named=True)
    assert summary["accuracy"] == pytest.approx(sum(votes) / 120)
    assert summary["accuracy"] != pytest.approx(sum(means) / 120)
    assert "reduced to their most common score (majority vote" in (
        out.folder / "report.md").read_text()


def test_an_unknown_reducer_is_a_config_error(tmp_path: Path):
    cfg = demo_config(tmp_path, datasets=[arith(3)], run={"epochs": 3, "reducer": "median"})
    with pytest.raises(ConfigError) as info:
        load_config(cfg)
    assert "run.reducer" in str(info.value) and "'mean', 'max' or 'majority'" in str(info.value)
