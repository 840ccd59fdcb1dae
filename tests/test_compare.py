"""Comparing a run with a baseline run: the tests, the verdicts, the files, the commands."""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from pipeline.cli import main
from pipeline.compare import (
    ALL,
    RunData,
    compare,
    describe,
    load_run,
    request_changes,
    resolve_baseline,
)
from pipeline.config import load_config
from pipeline.errors import ConfigError, InputError, RunStateError
from pipeline.stats import mcnemar_exact, paired_test, t_quantile, t_two_sided_p
from tests.helpers import ROOT, arith, demo_config

# --- the statistics, against hand-computed values ---------------------------------------------


@pytest.mark.parametrize(("b", "c", "p"), [
    (1, 9, 0.021484375),  # 2 * (C(10,0) + C(10,1)) / 2^10 = 22 / 1024
    (9, 1, 0.021484375),
    (0, 0, 1.0),
    (5, 5, 1.0),
    (0, 5, 0.0625),  # 2 / 2^5
    (0, 8, 0.0078125),  # 2 / 2^8
    (2, 10, 0.0385742187),  # 2 * (1 + 12 + 66) / 4096 = 158 / 4096
])
def test_mcnemar_exact(b: int, c: int, p: float):
    assert mcnemar_exact(b, c) == pytest.approx(p, abs=1e-10)


def test_student_t_against_closed_forms_and_tables():
    for t in (0.3, 1.0, 2.5, 10.0):
        assert t_two_sided_p(t, 1) == pytest.approx(1 - 2 / math.pi * math.atan(t), rel=1e-12)
        assert t_two_sided_p(t, 2) == pytest.approx(1 - t / math.sqrt(2 + t * t), rel=1e-12)
    for df, q in ((1, 12.7062047), (5, 2.5705818), (19, 2.0930241), (24, 2.0638986),
                  (100, 1.9839715)):
        assert t_quantile(0.975, df) == pytest.approx(q, abs=1e-6)
        assert t_two_sided_p(q, df) == pytest.approx(0.05, abs=1e-7)


# --- compare() on hand-made results -------------------------------------------------------------


def _rows(scores: list[float | None], *, model: str = "m", dataset: str = "d", epoch: int = 1,
          status: list[str] | None = None, final: bool = True) -> list[dict[str, Any]]:
    out = []
    for i, s in enumerate(scores):
        st = status[i] if status else "ok"
        out.append({"dataset": dataset, "sample_id": f"s{i}", "model": model, "epoch": epoch,
                    "status": st, "final": final, "score": s if st == "ok" else None,
                    "cost_usd": 0.001, "prompt_tokens": 10 if st == "ok" else None,
                    "completion_tokens": 5 if st == "ok" else None,
                    "latency_s": 0.1 * (i + 1) if st == "ok" else None})
    return out


def _run(rows: list[dict[str, Any]], run_id: str, **manifest: Any) -> RunData:
    frame = pl.DataFrame(rows, schema={
        "dataset": pl.String, "sample_id": pl.String, "model": pl.String, "epoch": pl.Int32,
        "status": pl.String, "final": pl.Boolean, "score": pl.Float64, "cost_usd": pl.Float64,
        "prompt_tokens": pl.Int64, "completion_tokens": pl.Int64, "latency_s": pl.Float64})
    m = {"run_id": run_id, "status": "complete", "request_fingerprint": "f", **manifest}
    return RunData(Path(run_id), m, frame.filter(pl.col("final")))


def _row(frame: pl.DataFrame, dataset: str = "d", model: str = "m") -> dict[str, Any]:
    got = frame.filter((pl.col("dataset") == dataset) & (pl.col("model") == model))
    assert got.height == 1
    return got.row(0, named=True)


# 25 samples: 20 unchanged passes, 5 passes lost. Differences: twenty 0s, five -1s.
# mean -0.2; variance (20 * 0.2^2 + 5 * 0.8^2) / 24 = 1/6; se = sqrt(1/6 / 25);
# 95% t interval with 24 df: -0.2 -+ 2.0638986 * 0.0816497 = (-0.368517, -0.031483).
BASE = [1.0] * 25
LOST5 = [1.0] * 20 + [0.0] * 5
CI5 = (-0.3685170, -0.0314830)


def test_paired_interval_and_mcnemar_by_hand():
    got = compare(_run(_rows(BASE), "a"), _run(_rows(LOST5), "b")).frame
    r = _row(got)
    assert r["shared_samples"] == 25 and r["base_score"] == 1.0 and r["new_score"] == 0.8
    assert r["diff"] == pytest.approx(-0.2)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx(CI5, abs=1e-6)
    assert r["test"] == "mcnemar" and r["p_value"] == pytest.approx(0.0625)  # b=0, c=5
    assert (r["wins"], r["losses"]) == (0, 5)
    # The verdict follows the test's p (0.0625), not the interval that excludes 0.
    assert r["verdict"] == "no significant change"


def test_eight_lost_is_regressed_and_eight_won_is_improved():
    lost8 = [1.0] * 17 + [0.0] * 8
    r = _row(compare(_run(_rows(BASE), "a"), _run(_rows(lost8), "b")).frame)
    assert r["p_value"] == pytest.approx(0.0078125) and r["verdict"] == "regressed"
    assert r["diff"] == pytest.approx(-8 / 25)
    r = _row(compare(_run(_rows(lost8), "a"), _run(_rows(BASE), "b")).frame)
    assert r["diff"] == pytest.approx(8 / 25) and r["verdict"] == "improved"


def test_errors_count_as_wrong_so_a_rising_error_rate_regresses():
    status = ["ok"] * 17 + ["error"] * 8  # final errors: a 400, say
    new = _run(_rows(BASE, status=status), "b")
    r = _row(compare(_run(_rows(BASE), "a"), new).frame)
    assert r["new_score"] == pytest.approx(17 / 25) and r["verdict"] == "regressed"
    assert (r["base_error_rate"], r["new_error_rate"]) == (0.0, pytest.approx(8 / 25))
    assert r["new_tokens_per_item"] == 15.0  # per successful answer
    assert r["new_cost_per_item"] == pytest.approx(0.001)
    # latency percentiles of the 17 successful answers only: 0.1 .. 1.7
    assert r["new_latency_p50_s"] == pytest.approx(0.9)
    assert r["base_latency_p95_s"] == pytest.approx(0.1 + 0.95 * 24 * 0.1)


def test_pending_items_are_left_out_and_counted():
    pending = _rows([0.0] * 5, final=False)  # errors left to retry: no answer yet
    new_rows = _rows(LOST5[:20]) + [dict(r, sample_id=f"s{20 + i}")
                                    for i, r in enumerate(pending)]
    got = compare(_run(_rows(BASE), "a"), _run(new_rows, "b"))
    r = _row(got.frame)
    assert r["shared_samples"] == 20 and r["base_only"] == 5 and r["new_only"] == 0
    assert r["diff"] == 0.0 and r["new_error_rate"] == 0.0
    assert any("20 samples both runs finished (5 finished only in the baseline" in w
               for w in got.warnings)


def test_epochs_cluster_by_sample():
    base = _run(_rows(BASE), "a")
    one = _row(compare(base, _run(_rows(LOST5), "b")).frame)
    three = _row(compare(base, _run(
        [r for e in (1, 2, 3) for r in _rows(LOST5, epoch=e)], "b")).frame)
    # every epoch answers alike: the same samples, the same interval, not a narrower one
    assert three["shared_samples"] == 25 and three["test"] == "paired-t"
    assert (three["diff"], three["ci_low"], three["ci_high"]) == pytest.approx(
        (one["diff"], one["ci_low"], one["ci_high"]), abs=1e-12)
    # epochs that disagree are averaged per sample first: 2 of 3 right is 2/3
    mixed = [r for e in (1, 2) for r in _rows(BASE, epoch=e)] + _rows(LOST5, epoch=3)
    r = _row(compare(base, _run(mixed, "b")).frame)
    assert r["new_score"] == pytest.approx((20 + 5 * 2 / 3) / 25)
    d = [0.0] * 20 + [-1 / 3] * 5
    mean = sum(d) / 25
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / 24)
    half = 2.0638986 * sd / 5
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((mean - half, mean + half), abs=1e-6)
    assert r["p_value"] == pytest.approx(t_two_sided_p(mean / (sd / 5), 24), rel=1e-9)


def test_paired_t_for_non_binary_scores():
    got = paired_test([0.5, 0.25, 1.0, 0.0], [0.75, 0.25, 0.5, 0.5])
    # differences 0.25, 0, -0.5, 0.5: mean 0.0625, sd sqrt(0.4323/3)
    d = [0.25, 0.0, -0.5, 0.5]
    sd = math.sqrt(sum((x - 0.0625) ** 2 for x in d) / 3)
    assert got["test"] == "paired-t" and got["diff"] == pytest.approx(0.0625)
    assert got["p_value"] == pytest.approx(t_two_sided_p(0.0625 / (sd / 2), 3))
    assert got["ci_high"] - got["diff"] == pytest.approx(3.1824463 * sd / 2, rel=1e-6)


def test_too_few_samples_never_gets_a_verdict():
    r = _row(compare(_run(_rows([1.0] * 10), "a"), _run(_rows([0.0] * 10), "b")).frame)
    assert r["p_value"] < 0.01 and r["verdict"] == "too few samples"
    assert describe(r).endswith("too few samples (10 shared)")


def test_all_row_pools_datasets_per_model():
    a = _run(_rows(BASE) + _rows(BASE, dataset="e") + _rows(BASE, model="n")
             + _rows(BASE, dataset="f"), "a")
    b = _run(_rows(LOST5) + _rows(LOST5, dataset="e") + _rows(BASE, model="n"), "b")
    compared = compare(a, b)
    assert "only the baseline has m on f: not compared" in compared.warnings
    got = compared.frame
    assert got["base_only"].sum() == 0  # f is not compared, so not counted as left out
    assert got.select("dataset", "model").rows() == [
        (ALL, "m"), ("d", "m"), ("e", "m"), (ALL, "n"), ("d", "n")]
    pooled = _row(got, ALL, "m")
    assert pooled["shared_samples"] == 50 and pooled["losses"] == 10
    assert pooled["p_value"] == pytest.approx(2 / 2**10) and pooled["verdict"] == "regressed"
    assert _row(got, ALL, "n")["verdict"] == "no significant change"


def test_describe_in_plain_words():
    row = {"dataset": "gsm8k", "model": "claude-4-5-haiku", "base_score": 0.81,
           "new_score": 0.765, "diff": -0.045, "ci_low": -0.079, "ci_high": -0.011,
           "p_value": 0.0104, "verdict": "regressed", "shared_samples": 200}
    assert describe(row) == ("claude-4-5-haiku on gsm8k: 81.0 % → 76.5 %, −4.5 pp "
                             "(95 % CI −7.9 to −1.1), p = 0.01: regressed")
    row.update(dataset=ALL, diff=0.02, ci_low=-0.01, ci_high=0.05, p_value=0.0004,
               verdict="no significant change")
    assert describe(row).startswith("claude-4-5-haiku on all datasets:")
    assert "+2.0 pp (95 % CI −1.0 to 5.0), p < 0.001" in describe(row)


def test_nothing_shared_is_refused():
    with pytest.raises(RunStateError, match="share no sample"):
        compare(_run(_rows(BASE), "a"), _run(_rows(BASE, model="other"), "b"))


def test_request_differences_are_named_not_refused():
    rc = {"epochs": 1, "generation": {"temperature": 0.0},
          "models": {"m": {"id": "x"}, "gone": {"id": "y"}},
          "datasets": {"d": {"system": "Be brief.", "template": "{q}"}}}
    rc2 = {**rc, "models": {"m": {"id": "x"}},
           "datasets": {"d": {"system": "Think first.", "template": "{q}"}}}
    assert request_changes(rc, rc2, {"d"}, {"m"}) == ["datasets.d.system"]
    got = compare(_run(_rows(BASE), "a", request_config=rc),
                  _run(_rows(BASE), "b", request_config=rc2, request_fingerprint="g"))
    assert any("different requests (datasets.d.system)" in w for w in got.warnings)


def test_folders_that_are_not_finished_runs_are_refused(tmp_path: Path):
    with pytest.raises(RunStateError, match="not a run folder"):
        load_run(tmp_path)
    (tmp_path / "manifest.json").write_text("{}")
    with pytest.raises(RunStateError, match="no results.parquet"):
        load_run(tmp_path)
    with pytest.raises(RunStateError, match="no earlier complete run of 'demo' under"):
        resolve_baseline("latest", tmp_path / "reports", name="demo", run_id="demo-1")
    with pytest.raises(RunStateError, match="no such run folder"):
        resolve_baseline(str(tmp_path / "nope"), tmp_path, name="demo", run_id="demo-1")


def test_latest_is_the_newest_earlier_complete_run_of_the_config(tmp_path: Path):
    runs = {"demo-1": ("2026-01-01T10:00:00Z", "complete", "demo"),
            "demo-2": ("2026-01-02T10:00:00Z", "complete_with_errors", "demo"),
            "demo-3": ("2026-01-03T10:00:00Z", "incomplete", "demo"),
            "other-4": ("2026-01-04T10:00:00Z", "complete", "other"),
            "demo-5": ("2026-01-05T10:00:00Z", "complete", "demo")}
    for run_id, (created, status, name) in runs.items():
        (tmp_path / run_id).mkdir()
        (tmp_path / run_id / "manifest.json").write_text(json.dumps(
            {"run_id": run_id, "name": name, "created_at": created, "status": status}))
        (tmp_path / run_id / "results.parquet").write_bytes(b"")

    def latest(run_id: str, created_at: str | None = None) -> Path:
        return resolve_baseline("latest", tmp_path, name="demo", run_id=run_id,
                                created_at=created_at)

    assert latest("demo-6") == tmp_path / "demo-5"
    assert latest("demo-5") == tmp_path / "demo-2"
    # resuming demo-3: runs started after it are not "earlier"
    assert latest("demo-3", "2026-01-03T10:00:00Z") == tmp_path / "demo-2"
    # a run id under output_dir is a run folder too; the run's own folder is refused
    assert resolve_baseline("demo-1", tmp_path, name="demo", run_id="demo-6") == tmp_path / "demo-1"
    with pytest.raises(InputError, match="this run's own folder"):
        resolve_baseline(str(tmp_path / "demo-5"), tmp_path, name="demo", run_id="demo-5")


# --- end to end on the emulator -----------------------------------------------------------------

MC = {"name": "mc", "path": str(ROOT / "datasets/demo/multiple_choice.parquet"),
      "template": "{question}", "columns": {"target": "answer"}, "scorers": ["choice"],
      "limit": 40}


def _config(tmp: Path, sub: str, **emulator: Any) -> Path:
    return demo_config(tmp / sub, output_dir=str(tmp / "reports"),
                       provider={"kind": "local", "emulator": {"speed": 0.0, **emulator}},
                       datasets=[arith(60), MC])


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """A baseline run, then one where haiku's accuracy fell, run with --baseline latest."""
    tmp = tmp_path_factory.mktemp("baseline")
    assert main(["run", str(_config(tmp, "a")), "--no-progress"]) == 0
    (first,) = (tmp / "reports").iterdir()
    cfg = _config(tmp, "b", accuracy={"claude-4-5-haiku": 0.5})
    assert main(["run", str(cfg), "--no-progress", "--baseline", "latest"]) == 0
    (second,) = [p for p in (tmp / "reports").iterdir() if p != first]
    return tmp, first, second, cfg


def test_e2e_haiku_regressed_sonnet_unchanged(two_runs, capsys):
    tmp, first, second, _ = two_runs
    frame = pl.read_parquet(second / "baseline.parquet")
    assert (second / "baseline.csv").exists()
    haiku, sonnet = _row(frame, ALL, "claude-4-5-haiku"), _row(frame, ALL, "claude-4-5-sonnet")
    assert haiku["verdict"] == "regressed" and haiku["diff"] < -0.15
    assert haiku["ci_high"] < 0 and haiku["p_value"] < 0.001 and haiku["test"] == "mcnemar"
    assert sonnet["verdict"] == "no significant change" and sonnet["diff"] == 0.0
    assert _row(frame, "arith", "claude-4-5-haiku")["verdict"] == "regressed"
    assert frame["shared_samples"].to_list() == [100, 60, 40] * 2
    # the baseline's figures are the tables' figures when every sample is shared
    for folder, col in ((first, "base_score"), (second, "new_score")):
        tables = pl.read_parquet(folder / "summary_by_dataset.parquet")
        for r in tables.iter_rows(named=True):
            assert _row(frame, r["dataset"], r["model"])[col] == pytest.approx(r["accuracy"])
    for folder, col in ((first, "base_score"), (second, "new_score")):
        for r in pl.read_parquet(folder / "summary.parquet").iter_rows(named=True):
            assert _row(frame, ALL, r["model"])[col] == pytest.approx(r["accuracy"])
    report = (second / "report.md").read_text()
    sentence = describe(haiku)
    assert sentence.startswith("claude-4-5-haiku on all datasets: ") and "−" in sentence
    assert f"- {sentence}" in report
    # the answer first, then what changed since the baseline, then the tables
    assert report.index("## Headline") < report.index("## Change against baseline") < \
        report.index("## Models") < report.index("## By dataset")
    assert f"against run {first.name}" in report.lower()
    assert html.escape(sentence) in (second / "report.html").read_text()
    manifest = json.loads((second / "manifest.json").read_text())
    assert manifest["baseline"]["run_id"] == first.name
    assert {(r["dataset"], r["model"]) for r in manifest["baseline"]["regressed"]} >= {
        (ALL, "claude-4-5-haiku"), ("arith", "claude-4-5-haiku")}
    assert manifest["baseline"]["improved"] == []
    assert "baseline.parquet" in manifest["files"]


def test_e2e_compare_command_prints_and_writes_nothing(two_runs, capsys):
    _, first, second, _ = two_runs
    before = {p: p.stat().st_mtime_ns for f in (first, second) for p in f.iterdir()}
    capsys.readouterr()
    assert main(["compare", str(first), str(second)]) == 0
    out = capsys.readouterr().out
    frame = pl.read_parquet(second / "baseline.parquet")
    for r in frame.iter_rows(named=True):
        assert describe(r) in out
    assert main(["compare", str(first), str(second), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["dataset"], r["model"], r["verdict"]) for r in rows] == frame.select(
        "dataset", "model", "verdict").rows()
    after = {p: p.stat().st_mtime_ns for f in (first, second) for p in f.iterdir()}
    assert after == before


def test_e2e_report_keeps_the_baseline_and_a_resume_without_it_drops_it(two_runs, capsys):
    tmp, first, second, cfg = two_runs
    assert main(["report", str(second)]) == 0
    assert "claude-4-5-haiku on all datasets" in capsys.readouterr().out
    assert "## Change against baseline" in (second / "report.md").read_text()
    # the first run's report against the second, given as a folder: haiku improved
    assert main(["report", str(first), "--baseline", str(second)]) == 0
    got = pl.read_parquet(first / "baseline.parquet")
    assert _row(got, ALL, "claude-4-5-haiku")["verdict"] == "improved"
    # a resume without --baseline: the files would no longer describe the run, so they go
    cfg_a = tmp / "a" / "config.toml"
    assert main(["run", str(cfg_a), "--run-id", first.name, "--no-progress"]) == 0
    assert not (first / "baseline.parquet").exists() and not (first / "baseline.csv").exists()
    assert "Change against baseline" not in (first / "report.md").read_text()
    assert "baseline" not in json.loads((first / "manifest.json").read_text())
    capsys.readouterr()
    assert main(["report", str(first), "--baseline", "latest"]) == 2  # nothing earlier
    assert "no earlier complete run of 'demo'" in capsys.readouterr().err


def test_baseline_latest_with_no_earlier_run_exits_2_and_sends_nothing(tmp_path: Path, capsys):
    cfg = _config(tmp_path, "a")
    assert main(["run", str(cfg), "--baseline", "latest"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: --baseline latest: no earlier complete run of 'demo' under "
                   f"{tmp_path / 'reports'}/; run once without --baseline first"]
    assert not (tmp_path / "reports").exists()  # no run folder: nothing was sent
    assert main(["run", str(cfg), "--baseline", str(tmp_path / "nope")]) == 2
    assert "no such run folder" in capsys.readouterr().err


def test_emulator_accuracy_in_config_names_unknown_models(tmp_path: Path):
    with pytest.raises(ConfigError, match="provider.emulator.accuracy: 'claude-4-5-haik' is "
                       "not a model id"):
        load_config(_config(tmp_path, "a", accuracy={"claude-4-5-haik": 0.5}))
    with pytest.raises(ConfigError, match="provider.emulator.accuracy"):
        load_config(_config(tmp_path, "b", accuracy=1.5))
    cfg = load_config(_config(tmp_path, "c", accuracy=0.5)).config
    assert cfg.provider.emulator.accuracy == 0.5


class _FakeStore:
    """What resolve_baseline asks of a store: its runs, whether a run is there, a fetch."""

    url = "s3://bucket/evals"

    def __init__(self, runs: dict[str, dict], cache: Path) -> None:
        self._runs, self.cache, self.fetched = runs, cache, []

    def runs(self, name: str) -> list[tuple[str, dict]]:
        found = [(r, m) for r, m in self._runs.items() if m["name"] == name]
        return sorted(found, key=lambda r: (r[1]["created_at"], r[0]))

    def exists(self, run_id: str) -> bool:
        return run_id in self._runs

    def fetch(self, run_id: str, names: list[str]) -> Path:
        self.fetched.append((run_id, names))
        return self.cache / run_id


def test_latest_follows_one_rule_in_a_folder_and_in_a_store(tmp_path: Path):
    runs = {"w-1": ("2026-01-01T10:00:00Z", "complete"),
            "w-2": ("2026-01-08T10:00:00Z", "complete"),
            "w-2b": ("2026-01-08T10:00:00Z", "complete"),  # the same second, sorts after w-2
            "w-3": ("2026-01-15T10:00:00Z", "failed"),
            "w-4": ("2026-01-22T10:00:00Z", "complete")}
    manifests = {}
    for run_id, (created, status) in runs.items():
        manifests[run_id] = {"run_id": run_id, "name": "weekly", "created_at": created,
                             "status": status}
        (tmp_path / "out" / run_id).mkdir(parents=True)
        (tmp_path / "out" / run_id / "manifest.json").write_text(json.dumps(manifests[run_id]))
    store = _FakeStore(manifests, tmp_path / "cache")
    # (this run, when it started if resumed, the baseline); w-3 without a start: its manifest's
    cases = [("w-9", None, "w-4"), ("w-4", None, "w-2b"), ("w-3", None, "w-2b"),
             ("w-2b", "2026-01-08T10:00:00Z", "w-2"), ("w-3", "2026-01-15T10:00:00Z", "w-2b")]
    for run_id, created_at, expected in cases:
        for where, base in ((tmp_path / "out", tmp_path / "out"), (store, tmp_path / "cache")):
            got = resolve_baseline("latest", where, name="weekly", run_id=run_id,
                                   created_at=created_at)
            assert got == base / expected, (run_id, created_at, where)
    assert store.fetched[-1] == ("w-2b", ["manifest.json", "results.parquet"])
    assert resolve_baseline("latest", store, name="weekly", run_id="w-2b") == \
        tmp_path / "cache" / "w-2"
    assert resolve_baseline("w-1", store, name="weekly", run_id="w-4") == tmp_path / "cache/w-1"
    for spec in ("w-4", "nope"):
        with pytest.raises(RunStateError, match=f"--baseline {spec}: no earlier run with that "
                                                "id in s3://bucket/evals"):
            resolve_baseline(spec, store, name="weekly", run_id="w-4")
    with pytest.raises(RunStateError, match="no earlier complete run of 'other' in s3://"):
        resolve_baseline("latest", store, name="other", run_id="w-4")
    with pytest.raises(InputError, match="--baseline: empty"):
        resolve_baseline(" ", store, name="weekly", run_id="w-4")
