"""Datasets as people have them, end to end on the emulator: outputs-only datasets, group_by,
metadata carried into the results, prompts stored once per sample beside the answers, the
reference model, and run folders whose row parts predate these columns."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.cli import main
from pipeline.compare import compare_runs
from pipeline.config import load_config
from pipeline.journal import read_journal
from pipeline.results import parts_of
from pipeline.runner import RunOptions, run
from tests.helpers import ROOT, arith, demo_config

MMLU = ROOT / "datasets/mmlu/test_50_per_subject.jsonl"  # metadata {"subject", "row"}


def results(folder: Path) -> pl.DataFrame:
    return pl.read_parquet(folder / "results.parquet")


def table(folder: Path, name: str) -> pl.DataFrame:
    return pl.read_parquet(folder / f"{name}.parquet")


def unscored(tmp_path: Path, n: int = 6) -> dict:
    """An outputs-only dataset whose rows have no target at all."""
    path = tmp_path / "free.jsonl"
    path.write_text("".join(json.dumps({"id": f"f{i}", "prompt": f"Tell me about {i}.",
                                        "metadata": {"topic": "numbers"}}) + "\n"
                            for i in range(n)))
    return {"name": "free", "path": str(path), "scorers": []}


def test_an_outputs_only_dataset_is_answered_costed_and_left_out_of_accuracy(tmp_path: Path):
    alone = run(load_config(demo_config(tmp_path / "a", datasets=[arith(20)])),
                RunOptions(run_id="a", progress=False))
    both = run(load_config(demo_config(tmp_path / "b", datasets=[arith(20), unscored(tmp_path)])),
               RunOptions(run_id="b", progress=False))
    assert alone.status == both.status == "complete" and both.sent == 2 * 26
    free = results(both.folder).filter(pl.col("dataset") == "free")
    assert free.height == 12 and free["score"].is_null().all() and not free["scored"].any()
    assert (free["status"] == "ok").all() and (free["output_text"].str.len_chars() > 0).all()
    assert free["target"].is_null().all()
    # The scored dataset's figures are unchanged by the outputs-only one beside it.
    cols = ["model", "samples", "accuracy", "accuracy_ci_low", "accuracy_ci_high"]
    arith_alone = table(alone.folder, "summary_by_dataset").select(cols)
    arith_both = table(both.folder, "summary_by_dataset").filter(
        pl.col("dataset") == "arith").select(cols)
    assert arith_alone.equals(arith_both)
    s_alone, s_both = table(alone.folder, "summary"), table(both.folder, "summary")
    assert s_alone["accuracy"].to_list() == s_both["accuracy"].to_list()
    assert s_both["samples"].to_list() == [26, 26]
    assert s_both["scored_samples"].to_list() == [20, 20]
    # ... but its tokens and cost are counted.
    assert (s_both["prompt_tokens"] > s_alone["prompt_tokens"]).all()
    assert (s_both["cost_usd"] > s_alone["cost_usd"]).all()
    by_ds = table(both.folder, "summary_by_dataset").filter(pl.col("dataset") == "free")
    assert by_ds["accuracy"].to_list() == [None, None] and by_ds["samples"].to_list() == [6, 6]
    md = (both.folder / "report.md").read_text()
    assert "| free | claude-4-5-sonnet | 6 | 0 | not scored |" in md
    comp = table(both.folder, "comparison")
    assert comp["n"].to_list() == [20]  # paired on the scored samples only
    # A comparison between runs leaves it out too: it has no score to compare.
    between = compare_runs(both.folder, both.folder)
    assert "free" not in between["dataset"].to_list()


def test_a_scored_dataset_row_without_a_target_is_a_clear_error(tmp_path: Path, capsys):
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"question": "What is 1 + 1?", "answer": "2"}) + "\n"
                    + json.dumps({"question": "What is 2 + 2?"}) + "\n")
    cfg = demo_config(tmp_path, datasets=[{**arith(), "path": str(data)}])
    assert main(["run", str(cfg), "--run-id", "t", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{data}:2: missing column 'answer' (the target)" in err[0]
    assert "set scorers = [] to collect answers unscored" in err[0]
    assert not (tmp_path / "reports/t/journal.jsonl").exists()  # nothing was sent


def test_group_by_a_metadata_key_and_a_column(tmp_path: Path):
    mmlu = {"name": "mmlu", "path": str(MMLU), "scorers": ["choice"], "limit": 60,
            "group_by": "subject"}
    cfg = demo_config(tmp_path, datasets=[arith(30, group_by="difficulty"), mmlu,
                                          arith(5, name="plain")])
    out = run(load_config(cfg), RunOptions(run_id="g", progress=False))
    assert out.status == "complete"
    res = results(out.folder)
    mm = res.filter(pl.col("dataset") == "mmlu")
    subjects = mm["metadata"].map_elements(lambda m: json.loads(m)["subject"],
                                           return_dtype=pl.String)
    assert mm["group"].to_list() == subjects.to_list()
    ar = res.filter(pl.col("dataset") == "arith")
    assert set(ar["group"].unique()) == {"1", "2"}  # the top-level `difficulty` column
    assert res.filter(pl.col("dataset") == "plain")["group"].is_null().all()
    by_group = table(out.folder, "summary_by_group")
    assert set(by_group["dataset"].unique()) == {"arith", "mmlu"}
    assert by_group.height == 2 * (2 + mm["group"].n_unique())  # model x dataset x group
    per_ds = by_group.group_by("model", "dataset").agg(pl.col("samples").sum())
    assert sorted(per_ds.rows()) == sorted(
        [(m, "arith", 30) for m in ("claude-4-5-sonnet", "claude-4-5-haiku")]
        + [(m, "mmlu", 60) for m in ("claude-4-5-sonnet", "claude-4-5-haiku")])
    # Each group's accuracy is its samples' mean score.
    one = by_group.filter((pl.col("dataset") == "arith") & (pl.col("group") == "2")
                          & (pl.col("model") == "claude-4-5-haiku"))
    expect = ar.filter((pl.col("group") == "2") & (pl.col("model") == "claude-4-5-haiku"))
    assert one["accuracy"][0] == pytest.approx(expect["score"].mean())
    md = (out.folder / "report.md").read_text()
    assert "## By group" in md and "| arith | 2 | claude-4-5-haiku |" in md
    csv = pl.read_csv(out.folder / "summary_by_group.csv")
    assert csv.height == by_group.height
    # group_by is read at finalize, not journaled: a rebuild without it drops the table.
    ungrouped = {k: v for k, v in mmlu.items() if k != "group_by"}
    plain = demo_config(tmp_path / "plain", datasets=[arith(30), ungrouped,
                                                      arith(5, name="plain")])
    assert main(["report", str(out.folder), "--config", str(plain)]) == 0
    assert not (out.folder / "summary_by_group.parquet").exists()
    assert not (out.folder / "summary_by_group.csv").exists()
    assert "## By group" not in (out.folder / "report.md").read_text()
    assert results(out.folder)["group"].is_null().all()


def test_metadata_is_carried_into_results_from_jsonl_and_parquet(tmp_path: Path):
    meta = {"source": "exam", "tags": ["a", "b"], "level": {"n": 3}}
    jsonl = tmp_path / "m.jsonl"
    jsonl.write_text(json.dumps({"id": "j1", "question": "What is 2 + 3?", "answer": "5",
                                 "metadata": meta}) + "\n"
                     + json.dumps({"id": "j2", "question": "What is 1 + 3?", "answer": "4"})
                     + "\n")
    table_ = pa.Table.from_pylist([{"id": "p1", "question": "What is 4 + 4?", "answer": "8",
                                    "metadata": {"when": dt.date(2026, 1, 2), "k": 1}}])
    pq.write_table(table_, tmp_path / "m.parquet")
    cfg = demo_config(tmp_path, datasets=[
        {**arith(), "name": "j", "path": str(jsonl)},
        {**arith(), "name": "p", "path": str(tmp_path / "m.parquet")}])
    out = run(load_config(cfg), RunOptions(run_id="m", progress=False))
    assert out.status == "complete"
    res = results(out.folder)
    got = {(r["sample_id"], r["model"]): r["metadata"] for r in res.iter_rows(named=True)}
    for model in ("claude-4-5-sonnet", "claude-4-5-haiku"):  # every row, not once per sample
        assert json.loads(got[("j1", model)]) == meta
        assert got[("j2", model)] is None  # no metadata: null
        assert json.loads(got[("p1", model)]) == {"when": "2026-01-02", "k": 1}
    csv = pl.read_csv(out.folder / "results.csv", infer_schema=False)
    assert json.loads(csv.filter(pl.col("sample_id") == "j1")["metadata"][0]) == meta


def test_prompts_are_stored_once_per_sample_and_join_the_results(tmp_path: Path):
    cfg = demo_config(tmp_path, datasets=[arith(12, system="Be brief.")],
                      run={"epochs": 2})
    out = run(load_config(cfg), RunOptions(run_id="p", progress=False))
    assert out.status == "complete"
    prompts = table(out.folder, "prompts")
    assert prompts.columns == ["dataset", "sample_id", "messages"]
    assert prompts.height == 12 and prompts["sample_id"].n_unique() == 12
    res = results(out.folder)
    assert "messages" not in res.columns  # not repeated on every answer
    joined = res.join(prompts, on=["dataset", "sample_id"], how="left")
    assert joined.height == res.height == 48 and joined["messages"].null_count() == 0
    first = joined.filter(pl.col("sample_id") == "arith-000").row(0, named=True)
    assert json.loads(first["messages"]) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is (3 + 42) * 16?"}]
    # In the journal, the messages ride on one record of each sample (of 4: 2 models x 2 epochs).
    records = list(read_journal(out.folder))
    carrying = [r for r in records if "messages" in r]
    assert len(records) == 48 and len(carrying) == 12
    assert all(r["epoch"] == 1 and r["model"] == "claude-4-5-sonnet" for r in carrying)


def test_prompts_stay_one_per_sample_when_a_model_is_added_in_front(tmp_path: Path):
    haiku = demo_config(tmp_path, datasets=[arith(8)], models=[{"id": "claude-4-5-haiku"}])
    run(load_config(haiku), RunOptions(run_id="f", progress=False))
    both = demo_config(tmp_path, datasets=[arith(8)])  # sonnet first, then haiku
    out = run(load_config(both), RunOptions(run_id="f", progress=False))
    assert out.status == "complete" and out.skipped == 8
    carrying = [r for r in read_journal(out.folder) if "messages" in r]
    assert len(carrying) == 16  # each sample's messages journaled twice, once per first model
    prompts = table(out.folder, "prompts")
    assert prompts.height == 8 and prompts["sample_id"].n_unique() == 8


def test_the_reference_model_is_set_in_the_config(tmp_path: Path):
    first = run(load_config(demo_config(tmp_path / "a", datasets=[arith(20)])),
                RunOptions(run_id="a", progress=False))
    comp = table(first.folder, "comparison")
    assert comp.select("baseline", "model").rows() == [("claude-4-5-sonnet", "claude-4-5-haiku")]
    chosen = run(load_config(demo_config(tmp_path / "b", datasets=[arith(20)],
                                         run={"reference": "claude-4-5-haiku"})),
                 RunOptions(run_id="b", progress=False))
    comp_b = table(chosen.folder, "comparison")
    assert comp_b.select("baseline", "model").rows() == [("claude-4-5-haiku", "claude-4-5-sonnet")]
    assert comp_b["mean_diff"][0] == pytest.approx(-comp["mean_diff"][0])
    md = (chosen.folder / "report.md").read_text()
    assert "| arith | claude-4-5-sonnet | 20 |" in md and "accuracy diff vs claude-4-5-haiku" in md
    assert "wins of claude-4-5-sonnet over claude-4-5-haiku" in md


def test_an_unknown_reference_is_one_line_naming_its_field(tmp_path: Path, capsys):
    cfg = demo_config(tmp_path, datasets=[arith(5)], run={"reference": "gpt-9"})
    assert main(["run", str(cfg), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "run.reference: no model named 'gpt-9'" in err[0]


def test_a_run_folder_whose_parts_predate_the_new_columns_is_still_read(tmp_path: Path):
    cfg = demo_config(tmp_path, datasets=[arith(6, group_by="difficulty")])
    out = run(load_config(cfg), RunOptions(run_id="o", progress=False))
    # As written before metadata and messages existed: in neither the journal nor the parts.
    journal = out.folder / "journal.jsonl"
    old = [{k: v for k, v in json.loads(line).items() if k not in ("metadata", "messages")}
           for line in journal.read_text().splitlines()]
    journal.write_text("".join(json.dumps(r) + "\n" for r in old))
    rows = pl.concat([pl.read_parquet(p) for p in parts_of(out.folder)])
    for part in parts_of(out.folder):
        part.unlink()
    size = journal.stat().st_size  # a part's name says how much of the journal it covers
    rows.drop("metadata", "messages").write_parquet(
        out.folder / "rows" / f"part-000001-{size:012d}.parquet")
    old_parts = len(parts_of(out.folder))
    # A resume adds parts with the new columns beside the old ones, and reads both.
    more = demo_config(tmp_path, datasets=[arith(9, group_by="difficulty")])
    again = run(load_config(more), RunOptions(run_id="o", progress=False))
    assert again.status == "complete" and again.skipped == 12 and again.sent == 6
    assert len(parts_of(out.folder)) > old_parts
    res = results(out.folder)
    assert res.height == 18 and res["metadata"].null_count() == 12
    assert res["group"].null_count() == 12  # no metadata, so no group for the old rows
    assert table(out.folder, "prompts")["sample_id"].to_list() == [
        "arith-006", "arith-007", "arith-008"]
    # A rebuild from the journal reads the old records as they are.
    assert main(["report", str(out.folder)]) == 0
    cols = ["key", "status", "score", "metadata", "group", "cost_usd"]
    assert results(out.folder).select(cols).sort("key").equals(res.select(cols).sort("key"))
