"""The whole path on the built-in emulator: config -> requests -> journal -> tables -> reports."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from pipeline.config import load_config
from pipeline.journal import read_journal
from pipeline.runner import RunOptions, run
from tests.helpers import arith, demo_config, run_until

N_SAMPLES = 320
N_ITEMS = 2 * N_SAMPLES


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("demo")
    loaded = load_config(demo_config(tmp))
    return run(loaded, RunOptions(progress=False))


def test_demo_writes_every_file(demo_run):
    names = {p.name for p in demo_run.folder.iterdir()}
    for name in ("results.parquet", "results.csv", "summary.parquet", "summary.csv",
                 "summary_by_dataset.csv", "comparison.csv", "manifest.json", "report.md",
                 "report.html", "journal.jsonl"):
        assert name in names
    assert not [n for n in names if n.startswith(".")], "temporary files left behind"


def test_demo_results_rows_models_scores_tokens_cost(demo_run):
    assert demo_run.status == "complete" and demo_run.sent == N_ITEMS
    assert demo_run.emulator_stats["requests_total"] == N_ITEMS
    df = pl.read_parquet(demo_run.folder / "results.parquet")
    assert df.height == N_ITEMS and df["key"].n_unique() == N_ITEMS
    assert sorted(df["model"].unique()) == ["claude-4-5-haiku", "claude-4-5-sonnet"]
    assert sorted(df["dataset"].unique()) == ["arithmetic", "multiple_choice", "tools"]
    assert df["status"].to_list() == ["ok"] * N_ITEMS
    assert df["score"].is_between(0, 1).all()
    assert (df["prompt_tokens"] > 0).all() and (df["completion_tokens"] > 0).all()
    assert (df["cost_usd"] > 0).all()
    tools = df.filter(pl.col("dataset") == "tools")
    assert (tools["finish_reason"] == "tool_calls").mean() > 0.9
    csv = pl.read_csv(demo_run.folder / "results.csv", infer_schema=False)
    assert csv.height == N_ITEMS


def test_demo_sonnet_beats_haiku_and_costs_more(demo_run):
    summ = pl.read_parquet(demo_run.folder / "summary.parquet")
    by = {r["model"]: r for r in summ.iter_rows(named=True)}
    sonnet, haiku = by["claude-4-5-sonnet"], by["claude-4-5-haiku"]
    assert sonnet["samples"] == haiku["samples"] == N_SAMPLES
    assert 0.8 < sonnet["accuracy"] <= 1.0 and 0.6 < haiku["accuracy"] < sonnet["accuracy"]
    assert sonnet["cost_usd"] > haiku["cost_usd"] > 0
    # the cost column is the price table applied to the tokens
    df = pl.read_parquet(demo_run.folder / "results.parquet").filter(
        pl.col("model") == "claude-4-5-haiku")
    expected = (df["prompt_tokens"].sum() * 1.0 + df["completion_tokens"].sum() * 5.0) / 1e6
    assert haiku["cost_usd"] == pytest.approx(expected)
    correct = haiku["accuracy"] * haiku["samples"]
    assert haiku["cost_per_correct_usd"] == pytest.approx(expected / correct)


def test_demo_manifest_and_report(demo_run):
    m = json.loads((demo_run.folder / "manifest.json").read_text())
    assert m["status"] == "complete" and m["totals"]["done"] == N_ITEMS
    assert {d["name"] for d in m["datasets"]} == {"arithmetic", "multiple_choice", "tools"}
    assert all(len(d["sha256"]) == 64 for d in m["datasets"])
    # looked up once the sending is over (not before the first request), still recorded
    assert {"python", "pipeline", "pydantic", "anyio"} <= set(m["versions"])
    md = (demo_run.folder / "report.md").read_text()
    assert "| claude-4-5-sonnet |" in md and "## Comparison" in md
    html = (demo_run.folder / "report.html").read_text()
    assert html.startswith("<!doctype html>") and "<svg" in html
    assert "http://" not in html.replace("http://www.w3.org", "")  # self-contained


def test_resume_after_cancel_sends_only_what_is_missing(tmp_path: Path):
    loaded = load_config(demo_config(tmp_path))
    stop_after = 150

    run_until(loaded, "r1", stop_after)
    folder = tmp_path / "reports" / "r1"
    journaled = list(read_journal(folder))
    assert stop_after <= len(journaled) < N_ITEMS
    assert not (folder / "results.parquet").exists()  # no half-written results
    assert "python" in json.loads((folder / "manifest.json").read_text())["versions"]

    second = run(loaded, RunOptions(run_id="r1", progress=False))
    assert second.skipped == len(journaled)
    assert second.sent == N_ITEMS - len(journaled)
    assert second.emulator_stats["requests_total"] == N_ITEMS - len(journaled)
    df = pl.read_parquet(folder / "results.parquet")
    assert df.height == N_ITEMS and df["key"].n_unique() == N_ITEMS
    keys = [r["key"] for r in read_journal(folder)]
    assert len(keys) == len(set(keys)) == N_ITEMS  # each item journaled exactly once

    third = run(loaded, RunOptions(run_id="r1", progress=False))
    assert third.sent == 0 and third.emulator_stats["requests_total"] == 0


def test_streaming_run_matches_and_records_ttft(tmp_path: Path):
    loaded = load_config(demo_config(
        tmp_path, generation={"max_tokens": 512, "temperature": 0.0, "stream": True}))
    out = run(loaded, RunOptions(progress=False))
    df = pl.read_parquet(out.folder / "results.parquet")
    assert df.height == N_ITEMS and (df["status"] == "ok").all()
    assert df["ttft_s"].is_not_null().all()
    assert df["score"].mean() > 0.7


def test_faults_are_retried_and_counted(tmp_path: Path):
    loaded = load_config(demo_config(
        tmp_path, provider={"kind": "local", "emulator": {
            "speed": 0.0, "faults": {"rate_429": 0.2, "error_503": 0.1, "retry_after_s": 0.0}}},
        run={"concurrency": 32, "max_attempts": 10, "attempt_timeout_s": 10}))
    slept: list[float] = []

    async def no_sleep(s: float) -> None:  # backoff zeroed; the delays are still recorded
        slept.append(s)

    out = run(loaded, RunOptions(progress=False, sleep=no_sleep))
    df = pl.read_parquet(out.folder / "results.parquet")
    assert (df["status"] == "ok").all()
    assert (df["attempts"] > 1).sum() > 50
    assert len(slept) == int((df["attempts"] - 1).sum()) and all(s > 0 for s in slept)
    assert out.emulator_stats["requests_total"] == int(df["attempts"].sum())


def test_a_max_tokens_above_a_models_limit_is_refused_before_sending(tmp_path: Path):
    from pipeline.errors import ConfigError

    loaded = load_config(demo_config(tmp_path, generation={"max_tokens": 6000}))
    with pytest.raises(ConfigError, match="max_tokens 6000 exceeds claude-4-5-haiku's limit"):
        run(loaded, RunOptions(progress=False))
    assert not (tmp_path / "reports").exists()


def test_bad_requests_become_error_rows(tmp_path: Path):
    # A row's own max_tokens above Haiku's limit of 4096: a 400 for Haiku, fine for Sonnet.
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(
        json.dumps({"question": f"What is {i} + 2?", "answer": str(i + 2),
                    "generation": {"max_tokens": 6000}}) + "\n" for i in range(5)))
    loaded = load_config(demo_config(tmp_path, datasets=[arith(5, path=str(rows))]))
    out = run(loaded, RunOptions(progress=False))
    df = pl.read_parquet(out.folder / "results.parquet")
    haiku = df.filter(pl.col("model") == "claude-4-5-haiku")
    assert (haiku["status"] == "error").all() and (haiku["http_status"] == 400).all()
    assert (haiku["error_type"] == "bad_request").all() and (haiku["attempts"] == 1).all()
    assert haiku["error_message"].str.contains("max_tokens").all()
    assert (df.filter(pl.col("model") == "claude-4-5-sonnet")["status"] == "ok").all()
    assert out.status == "complete_with_errors" and out.failed_items == 5
    assert "## Errors" in (out.folder / "report.md").read_text()
