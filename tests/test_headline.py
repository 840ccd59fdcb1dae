"""Headline figures that don't mislead: micro and macro accuracy side by side and labelled,
outputs-only rows out of accuracy but in tokens and cost, per-group rows, and the reference
model of the comparison (report/tables.py and report/sections.py on hand-made results)."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from pipeline.config import parse_config
from pipeline.errors import ConfigError
from pipeline.report import tables
from pipeline.report.markdown import render_markdown
from pipeline.report.sections import build_sections, model_section

ORDER = {"model": ["a", "b"], "dataset": ["big", "small", "free"]}


def row(dataset: str, sample: int, model: str, score: float | None, **over: Any) -> dict:
    return {"dataset": dataset, "sample_id": str(sample), "model": model, "epoch": 1,
            "status": "ok", "final": True, "finish_reason": "stop", "score": score,
            "prompt_tokens": 10, "completion_tokens": 5, "usage_estimated": False,
            "cost_usd": 0.001, "model_mismatch": False, "attempts": 1, "latency_s": 0.1,
            "elapsed_s": 0.1, "ttft_s": None, "error_type": None, "http_status": None,
            "error_message": None, "scored": dataset != "free", "group": None, **over}


def frame() -> pl.DataFrame:
    """Model a: 10/10 on `big`, 0/2 on `small`; model b: 5/10 and 2/2; `free` is
    outputs-only (3 samples, no score)."""
    rows = [row("big", i, "a", 1.0) for i in range(10)]
    rows += [row("small", i, "a", 0.0) for i in range(2)]
    rows += [row("big", i, "b", float(i < 5)) for i in range(10)]
    rows += [row("small", i, "b", 1.0) for i in range(2)]
    rows += [row("free", i, m, None) for i in range(3) for m in ("a", "b")]
    return pl.DataFrame(rows)


def by_model(df: pl.DataFrame) -> dict[str, dict]:
    return {r["model"]: r for r in df.iter_rows(named=True)}


def test_micro_and_macro_differ_and_are_both_given():
    summ = by_model(tables.summary(frame(), 1, ORDER))
    a, b = summ["a"], summ["b"]
    assert a["accuracy"] == pytest.approx(10 / 12)  # micro: every scored sample
    assert a["accuracy_macro"] == pytest.approx((1.0 + 0.0) / 2)  # macro: mean of datasets
    assert b["accuracy"] == pytest.approx(7 / 12)
    assert b["accuracy_macro"] == pytest.approx((0.5 + 1.0) / 2)
    assert a["macro_datasets"] == b["macro_datasets"] == 2  # the outputs-only one is in neither
    # The macro average ranks them the other way round: that is why both are shown.
    assert (a["accuracy"] > b["accuracy"]) and (a["accuracy_macro"] < b["accuracy_macro"])
    sec = model_section(tables.summary(frame(), 1, ORDER))
    assert "accuracy (micro)" in sec.headers and "accuracy (macro)" in sec.headers
    cells = dict(zip(sec.headers, sec.rows[0], strict=True))
    assert cells["accuracy (micro)"] == "83.3%" and cells["accuracy (macro)"] == "50.0%"
    assert "micro: every scored sample weighs the same" in sec.note
    assert "macro: the mean of the datasets' accuracies" in sec.note


def test_one_dataset_shows_one_accuracy_unlabelled():
    one = frame().filter(pl.col("dataset") == "big")
    sec = model_section(tables.summary(one, 1, ORDER))
    assert "accuracy" in sec.headers and "accuracy (macro)" not in sec.headers
    assert "macro" not in sec.note


def test_outputs_only_rows_are_out_of_accuracy_but_in_tokens_and_cost():
    df = frame()
    by_ds = {(r["model"], r["dataset"]): r
             for r in tables.summary_by_dataset(df, 1, ORDER).iter_rows(named=True)}
    free = by_ds[("a", "free")]
    assert free["accuracy"] is None and free["accuracy_ci_low"] is None
    assert free["samples"] == 3 and free["scored_samples"] == 0 and free["items"] == 3
    assert free["prompt_tokens"] == 30 and free["cost_usd"] == pytest.approx(0.003)
    assert free["cost_per_correct_usd"] is None
    a = by_model(tables.summary(df, 1, ORDER))["a"]
    assert a["samples"] == 15 and a["scored_samples"] == 12 and a["items"] == 15
    assert a["prompt_tokens"] == 150 and a["cost_usd"] == pytest.approx(0.015)
    # Not counted as 0: the same accuracy as without the outputs-only dataset at all.
    without = by_model(tables.summary(df.filter(pl.col("scored")), 1, ORDER))["a"]
    assert a["accuracy"] == without["accuracy"]
    assert (a["accuracy_ci_low"], a["accuracy_ci_high"]) == (
        without["accuracy_ci_low"], without["accuracy_ci_high"])
    # $/correct is what the scored answers cost per correct one.
    assert a["cost_per_correct_usd"] == pytest.approx(0.012 / 10)
    md = render_markdown({"run_id": "r"}, build_sections(
        df, tables.summary(df, 1, ORDER), tables.summary_by_dataset(df, 1, ORDER),
        tables.comparisons(df, 1, ORDER)))
    assert "| free | a | 3 | 0 | not scored | – |" in md
    assert "| all datasets (micro) | a | 15 | 12 | 83.3% |" in md  # samples, scored
    assert "| all datasets (macro) | a | 2 datasets |  | 50.0% |" in md


def test_an_error_in_a_scored_dataset_still_counts_as_wrong():
    df = pl.DataFrame([row("big", 0, "a", 1.0),
                       row("big", 1, "a", None, status="error", error_type="bad_request")])
    assert by_model(tables.summary(df, 1, ORDER))["a"]["accuracy"] == 0.5


def test_results_without_a_scored_column_are_all_scored():
    df = frame().filter(pl.col("dataset") != "free").drop("scored")
    assert by_model(tables.summary(df, 1, ORDER))["a"]["accuracy"] == pytest.approx(10 / 12)


def test_groups_give_rows_per_model_dataset_and_group_with_samples_as_the_unit():
    rows = []
    for i in range(12):
        level = "10" if i < 4 else "2" if i < 8 else None  # four rows lack the key
        for epoch in (1, 2):
            rows.append(row("big", i, "a", float(i % 2 == 0 or epoch == 1), epoch=epoch,
                            group=level))
    rows.append(row("small", 0, "a", 1.0))  # a dataset without group_by
    by_group = tables.summary_by_group(pl.DataFrame(rows), 2, ORDER, datasets=["big"])
    assert by_group.select("model", "dataset", "group").rows() == [
        ("a", "big", "2"), ("a", "big", "10"), ("a", "big", "(none)")]  # 2 before 10
    assert by_group["samples"].to_list() == [4, 4, 4]  # samples, not epochs
    assert by_group["items"].to_list() == [8, 8, 8]
    assert by_group["accuracy"].to_list() == pytest.approx([0.75, 0.75, 0.75])
    assert "latency_p50_s" not in by_group.columns


def test_the_comparison_is_against_the_reference_model():
    df = frame()
    first = tables.comparison(df, 1, ORDER)
    assert first.select("baseline", "model").rows() == [("a", "b")]
    chosen = tables.comparison(df, 1, ORDER, reference="b")
    assert chosen.select("baseline", "model").rows() == [("b", "a")]
    assert chosen["mean_diff"][0] == pytest.approx(-first["mean_diff"][0])
    assert chosen["n"][0] == 12  # paired on scored samples only
    assert tables.comparison(df, 1, ORDER, reference="gone").height == 0


def test_run_reference_is_checked_against_the_models():
    raw = {"name": "t", "models": [{"id": "claude-4-5-haiku"}, {"id": "m2", "label": "two"}],
           "datasets": [{"name": "d", "path": "x.jsonl"}]}
    assert parse_config(raw).reference_model == "claude-4-5-haiku"  # the first by default
    assert parse_config({**raw, "run": {"reference": "two"}}).reference_model == "two"
    with pytest.raises(ConfigError, match=r"run\.reference: no model named 'm2'.*"
                                          r"its models: claude-4-5-haiku, two"):
        parse_config({**raw, "run": {"reference": "m2"}})  # a labelled model goes by label


def test_a_score_gate_on_an_outputs_only_dataset_is_a_config_error():
    raw = {"name": "t", "models": [{"id": "claude-4-5-haiku"}],
           "datasets": [{"name": "d", "path": "x.jsonl", "scorers": []}],
           "gates": {"score": [{"dataset": "d", "min": 0.5}]}}
    with pytest.raises(ConfigError, match=r"gates\.score\[0\]\.dataset: 'd' has scorers = \[\]"):
        parse_config(raw)


def test_every_dataset_and_run_key_is_in_the_readmes_config_reference():
    from pipeline.config import Dataset, RunSettings
    from tests.helpers import ROOT

    readme = (ROOT / "README.md").read_text()
    reference = readme[readme.index("## Config reference"):readme.index("### Gates")]
    missing = [f"{table}.{key}" for table, model in (("datasets", Dataset), ("run", RunSettings))
               for key in model.model_fields
               if f"`{table}.{key}`" not in reference and f"]] {key}`" not in reference]
    assert missing == []
