"""Figures, statuses and bills a scheduled job can trust: one test per way they went wrong.

Each test pins a case where the pipeline used to report a figure that looked right and was
not (epochs, missing usage, budgets, partial runs, superseded work, unknown prices, finish
reasons, statuses of failed jobs); they run whole configs on the built-in emulator.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import polars as pl
import pytest

from pipeline.cli import main
from pipeline.config import load_config
from pipeline.emulator import EmulatorConfig, EmulatorServer
from pipeline.journal import read_journal
from pipeline.runner import RunOptions, run
from tests.helpers import ROOT, arith, demo_config


def results(folder: Path) -> pl.DataFrame:
    return pl.read_parquet(folder / "results.parquet")


def manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


# 1. Epochs must not inflate certainty -------------------------------------------------------

def test_epochs_with_identical_answers_give_the_same_intervals(tmp_path: Path):
    figures = {}
    for epochs in (1, 3):
        loaded = load_config(demo_config(tmp_path / str(epochs), run={"epochs": epochs}))
        out = run(loaded, RunOptions(progress=False))
        summ = pl.read_parquet(out.folder / "summary.parquet")
        comp = pl.read_parquet(out.folder / "comparison.parquet")
        figures[epochs] = (
            summ.select("model", "samples", "accuracy", "accuracy_ci_low", "accuracy_ci_high")
            .sort("model").rows(),
            comp.select("n", "mean_diff", "ci_low", "ci_high").rows(),
        )
        assert summ["epochs"].to_list() == [epochs, epochs]
        assert summ["items"].to_list() == [320 * epochs] * 2
    # temperature 0: three identical epochs are one sample each, not three. (Equal up to
    # float rounding: the rows arrive in completion order, and sums in another order can
    # differ in the last bit.)
    (s1, c1), (s3, c3) = figures[1], figures[3]
    assert [r[:2] for r in s1] == [r[:2] for r in s3] and [r[0] for r in c1] == [r[0] for r in c3]
    assert [r[2:] for r in s1] == [pytest.approx(r[2:], rel=1e-12) for r in s3]
    assert [r[1:] for r in c1] == [pytest.approx(r[1:], rel=1e-12) for r in c3]


def test_epochs_at_temperature_one_vary_and_report_pass_at_k(tmp_path: Path):
    loaded = load_config(demo_config(
        tmp_path, datasets=[arith(60)], run={"epochs": 4},
        generation={"max_tokens": 512, "temperature": 1.0}))
    out = run(loaded, RunOptions(progress=False))
    summ = pl.read_parquet(out.folder / "summary.parquet")
    for r in summ.iter_rows(named=True):
        assert r["samples"] == 60 and r["items"] == 240
        assert r["agreement"] < 1.0  # the emulator samples at temperature > 0
        assert r["pass_at_k"] >= r["accuracy"]
    md = (out.folder / "report.md").read_text()
    assert "pass@4" in md and "agreement" in md


# 2. Missing usage is unknown, not zero --------------------------------------------------------

def test_answers_without_usage_are_estimated_and_flagged(tmp_path: Path):
    loaded = load_config(demo_config(tmp_path, datasets=[arith(10)]))
    out = run(loaded, RunOptions(progress=False, emulator_overrides={"usage": "never"}))
    df = results(out.folder)
    assert df["usage_estimated"].all()
    assert (df["prompt_tokens"] > 0).all() and (df["completion_tokens"] > 0).all()
    assert (df["cost_usd"] > 0).all()
    for rec in read_journal(out.folder):
        assert rec["usage"] is None and rec["usage_estimated"] is True
    summ = pl.read_parquet(out.folder / "summary.parquet")
    assert summ["usage_estimated"].to_list() == [10, 10]
    assert manifest(out.folder)["totals"]["usage_estimated_rows"] == 20
    md = (out.folder / "report.md").read_text()
    assert "without usage" in md and "estimated" in md


# 3. A budget is never overshot ----------------------------------------------------------------

def test_budget_is_never_overshot_on_the_demo(tmp_path: Path, capsys):
    cfg = demo_config(tmp_path, run={"concurrency": 32, "max_cost_usd": 0.05})
    assert main(["run", str(cfg), "--run-id", "b", "--no-progress"]) == 3
    assert "max_cost_usd" in capsys.readouterr().err
    folder = tmp_path / "reports/b"
    spent = sum(r.get("cost_usd") or 0 for r in read_journal(folder))
    assert 0.03 < spent <= 0.05
    assert manifest(folder)["totals"]["spent_usd"] == pytest.approx(spent)
    assert manifest(folder)["status"] == "budget_exhausted"
    # a resume spends nothing more: the cap counts what earlier invocations spent
    assert main(["run", str(cfg), "--run-id", "b", "--no-progress"]) == 3
    assert sum(r.get("cost_usd") or 0 for r in read_journal(folder)) == pytest.approx(spent)


# 4. Partial runs are representative and paired ------------------------------------------------

def test_a_run_stopped_by_its_budget_is_representative_and_paired(tmp_path: Path):
    cfg = demo_config(tmp_path, run={"concurrency": 8, "max_cost_usd": 0.04})
    out = run(load_config(cfg), RunOptions(progress=False))
    assert out.status == "budget_exhausted"
    df = results(out.folder)
    assert 60 < df.height < 640
    share = df.group_by("dataset").len().sort("dataset")
    # the demo has 120 arithmetic, 120 multiple-choice and 80 tool samples
    expected = {"arithmetic": 120 / 320, "multiple_choice": 120 / 320, "tools": 80 / 320}
    for name, n in share.iter_rows():
        assert abs(n / df.height - expected[name]) < 0.08, share
    per_sample = df.group_by("dataset", "sample_id").len()
    unpaired = per_sample.filter(pl.col("len") != 2).height
    assert unpaired <= 8  # at most the requests in flight when it stopped


# 5. The bill shows superseded work; a resume never hides it ------------------------------------

def test_a_resume_that_would_supersede_paid_answers_is_refused(tmp_path: Path, capsys):
    cfg = demo_config(tmp_path, datasets=[arith(10)])
    assert main(["run", str(cfg), "--run-id", "s", "--no-progress"]) == 0
    data = cfg.read_text().replace('"{question}"', '"Q: {question}"')
    cfg.write_text(data)
    assert main(["run", str(cfg), "--run-id", "s", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "20 requests the run already paid for" in err
    assert "datasets.arith.template" in err and "another --run-id" in err
    assert len(list(read_journal(tmp_path / "reports/s"))) == 20  # nothing sent


def test_a_resume_may_add_work_and_spent_equals_the_journal(tmp_path: Path):
    cfg = demo_config(tmp_path, datasets=[arith(10)])
    assert main(["run", str(cfg), "--run-id", "g", "--no-progress"]) == 0
    cfg.write_text(cfg.read_text().replace('"limit" = 10', '"limit" = 15'))
    out = run(load_config(cfg), RunOptions(run_id="g", progress=False))
    assert out.skipped == 20 and out.sent == 10
    folder = tmp_path / "reports/g"
    totals = manifest(folder)["totals"]
    journal = sum(r.get("cost_usd") or 0 for r in read_journal(folder))
    assert totals["spent_usd"] == pytest.approx(journal)
    assert totals["cost_usd"] == pytest.approx(journal)
    assert totals["spent_outside_results_usd"] == pytest.approx(0.0)


# 6. Latency of the whole request, not only its last attempt -----------------------------------

def test_elapsed_covers_retries_and_latency_the_last_attempt(tmp_path: Path):
    with EmulatorServer(EmulatorConfig(api_key="k", speed=0.0)) as srv:
        srv.script(["503", "503"])
        cfg = demo_config(tmp_path, datasets=[arith(1)], models=[{"id": "claude-4-5-haiku"}],
                          provider={"kind": "openai", "base_url": srv.base_url,
                                    "key_env": "K"})
        out = run(load_config(cfg), RunOptions(progress=False, env={"K": "k"}))
    (row,) = results(out.folder).iter_rows(named=True)
    assert row["attempts"] == 3
    assert row["elapsed_s"] > row["latency_s"] + 0.5  # two backoffs of about 0.4 s and more


# 8. Unknown is not zero; the model that answered; finish reasons ------------------------------

def test_a_model_without_a_price_has_unknown_cost_everywhere(tmp_path: Path, capsys):
    cfg = demo_config(tmp_path, datasets=[arith(5)],
                      models=[{"id": "gpt-oss-120b"}, {"id": "claude-4-5-haiku"}])
    out = run(load_config(cfg), RunOptions(progress=False))
    summ = {r["model"]: r for r in pl.read_parquet(out.folder / "summary.parquet")
            .iter_rows(named=True)}
    assert summ["gpt-oss-120b"]["cost_usd"] is None
    assert summ["claude-4-5-haiku"]["cost_usd"] > 0
    totals = manifest(out.folder)["totals"]
    assert totals["cost_usd"] is None and totals["unpriced_rows"] == 5
    assert totals["priced_cost_usd"] == pytest.approx(summ["claude-4-5-haiku"]["cost_usd"])
    html = (out.folder / "report.html").read_text()
    assert "unknown" in html
    assert "gpt-oss-120b: no price known" in (out.folder / "report.md").read_text()
    # what the run folder spent: a lower bound, never a total that counts no price as $0
    from pipeline.report.sections import fmt

    priced = fmt(totals["spent_usd"], "usd")  # as the report's tables write money
    assert totals["spent_usd"] > 0 and totals["spent_known"] is False
    assert (f"**Spent in this run folder:** at least {priced}: 5 answers have no price"
            in (out.folder / "report.md").read_text())
    from pipeline.cli import main

    assert main(["report", str(out.folder), "--json", "-q"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["cost"]["spent_usd"] is None and doc["cost"]["spent_known"] is False
    assert doc["cost"]["spent_priced_usd"] == pytest.approx(totals["spent_usd"])


def test_a_run_with_no_price_at_all_never_says_it_spent_0(tmp_path: Path, capsys):
    from pipeline.runner import _Progress

    cfg = demo_config(tmp_path, datasets=[arith(4)], models=[{"id": "gpt-oss-120b"}])
    out = run(load_config(cfg), RunOptions(progress=False))
    md = (out.folder / "report.md").read_text()
    assert ("**Spent in this run folder:** unknown: 4 answers have no price (set "
            "models.price to count them)") in md and "$0 " not in md
    # the progress line, as a scheduler's log shows it
    progress = _Progress(4, 0, RunOptions(progress=False))
    for rec in read_journal(out.folder):
        progress.update(rec)
    assert "cost unknown (no price)" in progress.line() and "$" not in progress.line()
    priced = {"status": "ok", "model": "m", "cost_usd": 0.25}
    progress.update(priced)
    assert "at least $0.2500 spent now (4 answers without a price)" in progress.line()
    progress.close()


def test_an_answer_from_another_model_is_flagged(tmp_path: Path, capsys):
    cfg = demo_config(tmp_path, datasets=[arith(5)], models=[{"id": "claude-4-5-haiku"}])
    out = run(load_config(cfg), RunOptions(
        progress=False, emulator_overrides={"response_model": "qwen2.5-0.5b-instruct"}))
    df = results(out.folder)
    assert df["response_model"].to_list() == ["qwen2.5-0.5b-instruct"] * 5
    assert df["model_mismatch"].all()
    assert any("another model" in w for w in out.warnings)


def test_answers_cut_by_max_tokens_are_counted_and_warned(tmp_path: Path):
    cfg = demo_config(tmp_path, datasets=[arith(10)], generation={"max_tokens": 4})
    out = run(load_config(cfg), RunOptions(progress=False))
    by_ds = pl.read_parquet(out.folder / "summary_by_dataset.parquet")
    assert by_ds["cut_by_max_tokens"].to_list() == [10, 10]
    assert any("cut by max_tokens" in w for w in out.warnings)
    assert "cut by max_tokens" in (out.folder / "report.md").read_text()


# 9. A failed job never turns green --------------------------------------------------------------

def test_a_mistyped_model_stops_the_run_and_stays_red_on_rerun(tmp_path: Path, capsys):
    with EmulatorServer(EmulatorConfig(api_key="k", speed=0.0)) as srv:
        cfg = demo_config(tmp_path, datasets=[arith(40)],
                          models=[{"id": "claude-4-5-haiku"}, {"id": "my-model"}],
                          provider={"kind": "openai", "base_url": srv.base_url, "key_env": "K"},
                          run={"concurrency": 4})
        os.environ["K"] = "k"
        try:
            assert main(["run", str(cfg), "--run-id", "t", "--no-progress"]) == 3
            err = capsys.readouterr().err
            assert "my-model: its first 10 requests were all refused with HTTP 400" in err
            sent = srv.stats.requests_total
            assert sent < 60  # it did not send all 80 requests
            assert main(["run", str(cfg), "--run-id", "t", "--no-progress"]) == 3
        finally:
            del os.environ["K"]
    assert manifest(tmp_path / "reports/t")["status"] in ("failed", "incomplete")


def test_permanent_errors_above_max_error_rate_fail_the_run_resumed_or_not(tmp_path: Path,
                                                                             capsys):
    rows = tmp_path / "rows.jsonl"
    lines = [{"question": f"What is {i} + 1?", "answer": str(i + 1)} for i in range(10)]
    lines[3]["generation"] = {"max_tokens": 6000}  # Haiku refuses it with a 400
    rows.write_text("".join(json.dumps(x) + "\n" for x in lines))
    ds = arith(10, path=str(rows))
    cfg = demo_config(tmp_path, datasets=[ds], models=[{"id": "claude-4-5-haiku"}])
    assert main(["run", str(cfg), "--run-id", "e", "--no-progress"]) == 3
    assert "1 of 10 items failed for good" in capsys.readouterr().err
    assert manifest(tmp_path / "reports/e")["status"] == "complete_with_errors"
    assert main(["run", str(cfg), "--run-id", "e", "--no-progress"]) == 3  # still red
    cfg = demo_config(tmp_path, datasets=[ds], models=[{"id": "claude-4-5-haiku"}],
                      run={"max_error_rate": 0.1})
    assert main(["run", str(cfg), "--run-id", "e", "--no-progress"]) == 0


# 10. validate checks what can be known without paying ----------------------------------------

def test_validate_reports_every_setup_problem(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.delenv("INFERENCE_URL", raising=False)
    monkeypatch.delenv("INFERENCE_KEY", raising=False)
    cfg = demo_config(tmp_path, datasets=[arith(3)], provider={"kind": "heroku"},
                      models=[{"id": "claude-4-5-haiku"}],
                      generation={"max_tokens": 5000})
    assert main(["validate", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "INFERENCE_URL is not set" in err
    assert "max_tokens 5000 exceeds claude-4-5-haiku's limit of 4096" in err


def test_validate_knows_the_emulators_models_and_context_windows(tmp_path: Path, capsys):
    big = tmp_path / "big.jsonl"
    big.write_text(json.dumps({"question": "What is 1 + 1? " + "word " * 170_000,
                               "answer": "2"}) + "\n"
                   + json.dumps({"question": "What is 2 + 2?", "answer": "4"}) + "\n")
    cfg = demo_config(tmp_path, datasets=[arith(2, path=str(big))],
                      models=[{"id": "claude-4-5-haiku"}, {"id": "claude-9-opus"}])
    assert main(["validate", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "the emulator serves no model 'claude-9-opus'" in err
    assert "context window of 200,000 tokens" in err and "sample '1'" in err


def test_a_prompt_too_long_is_refused_without_sending(tmp_path: Path):
    big = tmp_path / "big.jsonl"
    big.write_text(json.dumps({"question": "What is 1 + 1? " + "word " * 170_000,
                               "answer": "2"}) + "\n"
                   + json.dumps({"question": "What is 2 + 2?", "answer": "4"}) + "\n")
    cfg = demo_config(tmp_path, datasets=[arith(2, path=str(big))],
                      models=[{"id": "claude-4-5-haiku"}])
    out = run(load_config(cfg), RunOptions(progress=False))
    assert out.emulator_stats["requests_total"] == 1
    df = results(out.folder).sort("sample_id")
    assert df["status"].to_list() == ["error", "ok"]
    assert df["error_type"][0] == "context_window" and df["attempts"][0] == 0


# 16, 17, 18. Input that used to slip through ---------------------------------------------------

def test_an_empty_run_id_is_refused(tmp_path: Path, capsys):
    cfg = demo_config(tmp_path, datasets=[arith(1)])
    assert main(["run", str(cfg), "--run-id", "", "--no-progress"]) == 2
    assert "--run-id" in capsys.readouterr().err
    assert not (tmp_path / "reports").exists()


def test_thinking_against_no_thinking_on_one_model(tmp_path: Path):
    thinking = {"temperature": 1.0, "max_tokens": 2048, "extended_thinking": {
        "enabled": True, "budget_tokens": 1024, "include_reasoning": True}}
    cfg = demo_config(tmp_path, datasets=[arith(8)], models=[
        {"id": "claude-4-5-sonnet", "label": "sonnet"},
        {"id": "claude-4-5-sonnet", "label": "sonnet-thinking", "generation": thinking}])
    out = run(load_config(cfg), RunOptions(progress=False))
    df = results(out.folder)
    assert (df["status"] == "ok").all()
    plain = df.filter(pl.col("model") == "sonnet")
    deep = df.filter(pl.col("model") == "sonnet-thinking")
    assert plain["reasoning"].is_null().all() and deep["reasoning"].is_not_null().all()
    assert deep["completion_tokens"].sum() > plain["completion_tokens"].sum()


def test_run_outputs_have_the_usual_permissions(tmp_path: Path):
    old = os.umask(0o022)
    try:
        out = run(load_config(demo_config(tmp_path, datasets=[arith(2)])),
                  RunOptions(progress=False))
    finally:
        os.umask(old)
    for name in ("results.parquet", "results.csv", "report.html", "manifest.json",
                 "journal.jsonl"):
        assert (out.folder / name).stat().st_mode & 0o777 == 0o644, name


def test_an_endpoint_without_auth_gets_no_authorization_header(tmp_path: Path):
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        body = {"id": "x", "object": "chat.completion", "model": "local-model",
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": "Answer: 2"}}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}
        return httpx.Response(200, json=body)

    cfg = demo_config(tmp_path, datasets=[arith(2)], models=[{"id": "local-model"}],
                      provider={"kind": "openai", "base_url": "http://127.0.0.1:9/v1"})
    out = run(load_config(cfg), RunOptions(progress=False, env={},
                                           transport=httpx.MockTransport(handler)))
    assert seen == [None, None]
    assert (results(out.folder)["status"] == "ok").all()


def test_validate_online_asks_heroku_which_models_it_serves(tmp_path: Path, capsys,
                                                           monkeypatch):
    with EmulatorServer(EmulatorConfig(api_key="inf-key-12345678", speed=0.0)) as srv:
        monkeypatch.setenv("INFERENCE_URL", srv.base_url)
        monkeypatch.setenv("INFERENCE_KEY", "inf-key-12345678")
        cfg = demo_config(tmp_path, datasets=[arith(2)], provider={"kind": "heroku"},
                          models=[{"id": "claude-4-5-haiku"}, {"id": "claude-9-opus"}])
        assert main(["validate", str(cfg)]) == 0  # offline: only a warning
        assert "'claude-9-opus' is not in this pipeline's catalogue" in capsys.readouterr().err
        assert main(["validate", str(cfg), "--online"]) == 2
        err = capsys.readouterr().err
        assert "the endpoint does not serve 'claude-9-opus'" in err
        assert srv.stats.requests_total == 0  # a free GET, no chat request


def test_estimated_usage_counts_its_worst_case_against_the_budget(tmp_path: Path):
    cfg = demo_config(tmp_path, datasets=[arith(60)], generation={"max_tokens": 64},
                      run={"concurrency": 4, "max_cost_usd": 0.01})
    out = run(load_config(cfg), RunOptions(progress=False, emulator_overrides={"usage": "never"}))
    rows = list(read_journal(out.folder))
    assert out.status == "budget_exhausted" and rows
    bounds = sum(r["cost_bound_usd"] for r in rows)
    assert bounds <= 0.01  # what the run could have spent stays under the cap
    assert all(r["cost_bound_usd"] >= r["cost_usd"] for r in rows)
    assert manifest(out.folder)["totals"]["spent_known"] is False


def test_items_left_to_retry_are_no_answers_in_accuracy_or_comparisons(tmp_path: Path):
    def handler(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content)["model"] == "claude-4-5-haiku":  # always a 503
            return httpx.Response(503, json={"error": {"message": "busy", "code": 503}})
        body = {"id": "x", "object": "chat.completion", "model": "claude-4-5-sonnet",
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": "Answer: 1"}}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}
        return httpx.Response(200, json=body)

    cfg = demo_config(tmp_path, datasets=[arith(6)],
                      models=[{"id": "claude-4-5-sonnet"}, {"id": "claude-4-5-haiku"}],
                      provider={"kind": "openai", "base_url": "http://127.0.0.1:9/v1"},
                      run={"max_attempts": 1, "concurrency": 2})
    out = run(load_config(cfg), RunOptions(progress=False, env={},
                                           transport=httpx.MockTransport(handler)))
    assert out.status == "incomplete" and out.pending == 6
    summ = {r["model"]: r for r in pl.read_parquet(out.folder / "summary.parquet")
            .iter_rows(named=True)}
    assert summ["claude-4-5-haiku"]["samples"] == 0 and summ["claude-4-5-haiku"]["pending"] == 6
    assert summ["claude-4-5-haiku"]["accuracy"] is None  # not 0%: nothing was answered
    # the headline says why: no answers yet, not "not scored" (that is an outputs-only
    # dataset) and no comparison made of nothing
    assert manifest(out.folder)["headline"] == [
        "arith: claude-4-5-haiku has no answers here yet (6 pending), so claude-4-5-haiku is "
        "not compared with claude-4-5-sonnet."]
    assert pl.read_parquet(out.folder / "comparison.parquet")["n"].to_list() == [0]
    assert any("6 items are still pending" in w for w in out.warnings)


def test_a_rescore_with_another_config_says_so(tmp_path: Path, capsys):
    cfg = demo_config(tmp_path, datasets=[arith(3)])
    assert main(["run", str(cfg), "--run-id", "r", "--no-progress"]) == 0
    other = demo_config(tmp_path / "other", datasets=[arith(3, scorers=["includes"])])
    before = manifest(tmp_path / "reports/r")["finished_at"]
    assert main(["report", str(tmp_path / "reports/r"), "--config", str(other)]) == 0
    m = manifest(tmp_path / "reports/r")
    assert m["scored_with"] == str(other) and m["finished_at"] == before
    assert m["scorers"] == {"arith": [{"name": "includes"}]}
    md = (tmp_path / "reports/r/report.md").read_text()
    assert f"**Scored with:** {other}" in md and "**Rescored:**" in md


def test_a_price_change_on_resume_is_a_warning(tmp_path: Path, capsys):
    cfg = demo_config(tmp_path, datasets=[arith(3)], models=[{"id": "claude-4-5-haiku"}])
    assert main(["run", str(cfg), "--run-id", "p", "--no-progress"]) == 0
    assert manifest(tmp_path / "reports/p")["prices"] == {"claude-4-5-haiku": [1.0, 5.0]}
    capsys.readouterr()
    cfg = demo_config(tmp_path, datasets=[arith(4)],
                      models=[{"id": "claude-4-5-haiku", "price": {"input": 2.0, "output": 5.0}}])
    assert main(["run", str(cfg), "--run-id", "p", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "warning: claude-4-5-haiku: price changed since this run began (1/5 -> 2/5 USD" in err


def test_the_comparison_in_passes_equals_it_in_one(monkeypatch):
    # samples split by hash into passes (bounded memory at a million rows): same figures
    import random

    from pipeline.report import tables

    rng = random.Random(7)
    rows = [{"dataset": "d", "sample_id": str(i), "model": m, "epoch": e, "final": True,
             "score": float(rng.random() < p)}
            for i in range(500) for m, p in (("a", 0.6), ("b", 0.5), ("c", 0.7))
            for e in (1, 2) if not (m == "c" and i % 7 == 0)]
    frame = pl.DataFrame(rows)
    whole = tables.comparison(frame, 2, {"model": ["a", "b", "c"], "dataset": ["d"]})
    monkeypatch.setattr(tables, "PAIR_ROWS", 37)
    split = tables.comparison(frame, 2, {"model": ["a", "b", "c"], "dataset": ["d"]})
    assert whole["n"].to_list() == [500, 500 - 72] == split["n"].to_list()
    for col in ("mean_diff", "ci_low", "ci_high", "wins", "losses", "ties"):
        assert split[col].to_list() == pytest.approx(whole[col].to_list(), rel=1e-12, abs=1e-12)


def test_a_server_that_ignores_tools_is_named_not_scored_silently(tmp_path: Path):
    def handler(request: httpx.Request) -> httpx.Response:
        body = {"id": "x", "object": "chat.completion", "model": "m",
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": "It is sunny."}}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}
        return httpx.Response(200, json=body)

    tools = {"name": "tools", "path": str(ROOT / "datasets/demo/tools.jsonl"), "limit": 6,
             "scorers": ["tool_call"]}
    cfg = demo_config(tmp_path, datasets=[tools, arith(6)], models=[{"id": "m"}],
                      provider={"kind": "openai", "base_url": "http://127.0.0.1:9/v1"})
    out = run(load_config(cfg), RunOptions(progress=False, env={},
                                           transport=httpx.MockTransport(handler)))
    (warning,) = [w for w in out.warnings if "called a tool" in w]
    assert warning.startswith("m on tools: none of its 6 answers called a tool")
    assert "--chat_format chatml-function-calling" in (out.folder / "report.md").read_text()
