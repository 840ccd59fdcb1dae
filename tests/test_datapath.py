"""The streaming data path: result rows in parts, resume from compact indexes, the record
schema's version, and datasets checked beside the sending."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from pipeline.cli import main
from pipeline.config import load_config
from pipeline.journal import read_journal
from pipeline.plan import Plan
from pipeline.results import ROWS, parts_of
from pipeline.runner import RunOptions, run
from tests.helpers import arith, demo_config, emulator, run_until


def results(folder: Path) -> pl.DataFrame:
    return pl.read_parquet(folder / "results.parquet")


def manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def _answers(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select("key", "status", "score", "prompt_tokens", "completion_tokens",
                        "cost_usd").sort("key")


def test_rows_are_flushed_in_parts_that_cover_the_journal(tmp_path: Path, monkeypatch):
    monkeypatch.setattr("pipeline.results.PART_ROWS", 50)
    cfg = demo_config(tmp_path)
    out = run(load_config(cfg), RunOptions(run_id="r", progress=False))
    assert out.status == "complete"
    parts = parts_of(out.folder)
    assert len(parts) == 13  # 640 rows in parts of 50
    rows = pl.concat([pl.read_parquet(p) for p in parts])
    assert rows.height == 640 and rows["key"].n_unique() == 640
    # The last part's name says it covers the whole journal.
    size = (out.folder / "journal.jsonl").stat().st_size
    assert parts[-1].name.endswith(f"-{size:012d}.parquet")
    assert results(out.folder).height == 640


def test_a_crash_tail_is_scored_from_the_journal_and_a_resume_sends_only_the_rest(
        tmp_path: Path, monkeypatch):
    monkeypatch.setattr("pipeline.results.PART_ROWS", 64)
    # records scored one by one as they land (no batch waits in the worker)
    monkeypatch.setattr("pipeline.results.RowFeeder.BATCH", 1)
    monkeypatch.setattr("pipeline.results.RowFeeder.MAX_PENDING", 0)
    loaded = load_config(demo_config(tmp_path))
    run_until(loaded, "r", stop_after=150)  # a process killed part-way: no finalize
    folder = tmp_path / "reports" / "r"
    parts_of(folder)[-1].unlink()  # as if killed before it flushed its last rows
    journaled = sum(1 for _ in read_journal(folder))
    in_parts = sum(pl.read_parquet(p).height for p in parts_of(folder))
    assert in_parts < journaled  # the tail after the last part is only in the journal
    sent: list[str] = []
    out = run(loaded, RunOptions(run_id="r", progress=False,
                                 on_record=lambda rec: sent.append(rec["key"])))
    assert out.status == "complete"
    assert out.skipped == journaled and len(sent) == 640 - journaled
    frame = results(folder)
    assert frame.height == 640 and frame["key"].n_unique() == 640
    # The same answers as a run never interrupted.
    whole = run(load_config(demo_config(tmp_path / "b")), RunOptions(run_id="w", progress=False))
    assert _answers(frame).equals(_answers(results(whole.folder)))
    assert manifest(folder)["totals"]["attempts"] == manifest(whole.folder)["totals"]["attempts"]


def test_a_resume_skips_done_samples_unread(tmp_path: Path, monkeypatch):
    loaded = load_config(demo_config(tmp_path))
    run_until(loaded, "r", stop_after=400)
    built: list[str] = []
    from pipeline.datasets import SampleBuilder

    original = SampleBuilder.build

    def spy(self, where, row, index):
        built.append(where)
        return original(self, where, row, index)

    monkeypatch.setattr(SampleBuilder, "build", spy)
    out = run(loaded, RunOptions(run_id="r", progress=False))
    assert out.status == "complete" and out.skipped >= 390
    # Only samples with an item left were read (a sample has 2 items, one per model); the
    # datasets are small enough to be checked whole first, which reads every row once.
    checked = 320
    assert len(built) - checked <= (640 - out.skipped)
    assert manifest(out.folder)["positions_valid"] is True


def test_a_resume_after_the_requests_changed_falls_back_to_keys(tmp_path: Path):
    cfg = demo_config(tmp_path, datasets=[arith(10)])
    out = run(load_config(cfg), RunOptions(run_id="r", progress=False))
    assert out.status == "complete"
    bigger = demo_config(tmp_path, datasets=[arith(10), arith(5, name="more")])
    sent: list[str] = []
    out = run(load_config(bigger), RunOptions(run_id="r", progress=False,
                                              on_record=lambda rec: sent.append(rec["dataset"])))
    assert out.status == "complete" and out.skipped == 20 and sent == ["more"] * 10
    m = manifest(out.folder)
    assert m["positions_valid"] is False and m["totals"]["done"] == 30
    again = run(load_config(bigger), RunOptions(run_id="r", progress=False))
    assert again.sent == 0 and again.skipped == 30  # keys still identify the done items


def test_retried_items_keep_only_their_latest_row_and_spent_counts_every_record(
        tmp_path: Path):
    cfg = demo_config(tmp_path, provider=emulator(faults={"error_500": 0.3}),
                      datasets=[arith(40)], run={"max_attempts": 1})
    loaded = load_config(cfg)
    first = run(loaded, RunOptions(run_id="r", progress=False))
    assert first.status == "incomplete"
    healed = demo_config(tmp_path, provider=emulator(), datasets=[arith(40)],
                         run={"max_attempts": 1})
    out = run(load_config(healed), RunOptions(run_id="r", progress=False))
    assert out.status == "complete" and out.skipped == 80 - first.errors
    frame = results(out.folder)
    assert frame.height == 80 and frame["key"].n_unique() == 80
    assert (frame["status"] == "ok").all()
    records = list(read_journal(out.folder))
    assert len(records) > 80  # the failed attempts are journaled, and counted in attempts
    assert manifest(out.folder)["totals"]["records"] == len(records)
    assert manifest(out.folder)["totals"]["attempts"] == sum(r["attempts"] for r in records)


def test_a_journal_of_another_record_schema_is_refused_in_one_line(tmp_path: Path, capsys):
    cfg = demo_config(tmp_path, datasets=[arith(3)])
    out = run(load_config(cfg), RunOptions(run_id="r", progress=False))
    journal = out.folder / "journal.jsonl"
    lines = journal.read_text().splitlines()
    old = [json.dumps({**json.loads(line), "schema_version": 1}) for line in lines]
    journal.write_text("\n".join(old) + "\n")
    import shutil

    shutil.rmtree(out.folder / ROWS)
    assert main(["report", str(out.folder)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "older pipeline (record schema 1" in err[0]
    assert "journal.jsonl:1" in err[0]
    newer = [json.dumps({**json.loads(line), "schema_version": 9}) for line in lines]
    journal.write_text("\n".join(newer) + "\n")
    assert main(["run", str(cfg), "--run-id", "r"]) == 2
    assert "newer pipeline (record schema 9" in capsys.readouterr().err


def test_a_bad_row_in_a_large_dataset_stops_the_run_beside_the_sending(tmp_path: Path, capsys):
    data = tmp_path / "big.jsonl"
    rows = [json.dumps({"id": i, "question": f"What is {i} + 1?", "answer": str(i + 1)})
            for i in range(3000)]
    rows[2500] = '{"id": 2500, "question": "broken'
    data.write_text("\n".join(rows) + "\n")
    cfg = demo_config(tmp_path, datasets=[{
        "name": "big", "path": str(data), "template": "{question}",
        "columns": {"target": "answer"}, "scorers": ["numeric"]}],
        models=[{"id": "claude-4-5-haiku"}], run={"concurrency": 4})
    code = main(["run", str(cfg), "--run-id", "r", "-q"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{data}:2501: malformed JSON" in err
    folder = tmp_path / "reports" / "r"
    assert manifest(folder)["status"] == "failed"
    assert sum(1 for _ in read_journal(folder)) < 2500  # stopped before the bad row's turn


def test_a_duplicate_id_in_a_large_dataset_is_found_from_digests(tmp_path: Path):
    data = tmp_path / "dup.jsonl"
    rows = [json.dumps({"id": i % 2999, "q": "x", "answer": "1"}) for i in range(3000)]
    data.write_text("\n".join(rows) + "\n")
    cfg = demo_config(tmp_path, datasets=[{"name": "d", "path": str(data),
                                           "template": "{q}", "columns": {"target": "answer"}}])
    from pipeline.errors import DatasetError

    with pytest.raises(DatasetError, match=r"dup.jsonl:3000: duplicate id '0'"):
        Plan(load_config(cfg)).check()


def test_counts_are_exact_without_parsing(tmp_path: Path):
    data = tmp_path / "blank.jsonl"
    data.write_text('{"id": 1, "q": "a", "answer": "1"}\n\n   \n{"id": 2, "q": "b", "answer": "2"}')
    cfg = demo_config(tmp_path, datasets=[{"name": "d", "path": str(data),
                                           "template": "{q}", "columns": {"target": "answer"}}])
    plan = Plan(load_config(cfg))
    (info,) = plan.describe()
    assert info["samples"] == 2 and plan.total == 4


@pytest.mark.parametrize("blank", ["\n", " \n", "\t\n", "\r\n", "\f\n", "\v\n", "  \t \r\n"])
def test_every_kind_of_blank_line_is_no_row(tmp_path: Path, blank: str):
    from pipeline.datasets import count_rows

    row = json.dumps({"id": 1, "q": "x" * 90}) + "\n"
    # 1 MiB blocks: put blank lines at the start, at a block's edge, and at the end
    per_block = (1 << 20) // len(row)
    text = blank + row * per_block + blank * 3 + row * per_block + blank + row.rstrip("\n")
    (tmp_path / "d.jsonl").write_text(text, newline="")
    assert count_rows(tmp_path / "d.jsonl", "jsonl") == 2 * per_block + 1


def test_a_slow_scorer_does_not_stall_the_sending(tmp_path: Path, monkeypatch):
    # Each scorer waits until every item is journaled: scored on the event loop, the first
    # answer's scoring would hold the sending back and no score could be 1.
    import threading

    from pipeline.scoring import SCORERS, Score

    every = threading.Event()
    seen: list[str] = []

    def on_record(rec: dict) -> None:
        seen.append(rec["key"])
        if len(seen) == 640:
            every.set()

    def waits(out) -> Score:
        return Score(1.0 if every.wait(20) else 0.0, "waited")

    for name in ("numeric", "choice", "tool_call"):
        monkeypatch.setitem(SCORERS._loaded, name, waits)
    out = run(load_config(demo_config(tmp_path)),
              RunOptions(run_id="r", progress=False, on_record=on_record))
    assert out.status == "complete"
    frame = results(out.folder)
    assert frame.height == 640 and frame["score"].min() == 1.0


@pytest.mark.parametrize("shape", [{}, {"limit": 37}, {"sample": 29, "seed": 3}])
def test_a_resume_skips_runs_of_done_samples_in_bulk_with_the_same_items(tmp_path: Path,
                                                                          shape: dict):
    # One dataset: finished samples are passed over in one loop (next_pending_sample), and
    # the items left are exactly those the sample-by-sample walk gives, at the same positions.
    import random

    from pipeline.resume import DoneIndex

    rest = {k: v for k, v in shape.items() if k != "limit"}
    cfg = demo_config(tmp_path, datasets=[arith(shape.get("limit", 60), **rest)],
                      run={"epochs": 2})
    plan = Plan(load_config(cfg))
    plan.describe()
    per = plan.items_per_sample
    samples = plan.total // per
    rng = random.Random(11)
    for trial in range(40):
        share = [0.0, 0.5, 0.95, 1][trial % 4]
        done_samples = {s for s in range(samples) if rng.random() < share}
        if trial % 5 == 0:  # long runs: a done prefix
            done_samples |= set(range(rng.randrange(samples + 1)))
        bits = bytearray((samples + 7) // 8 + rng.randrange(2))
        pos_bits = bytearray((samples * per + 7) // 8 + 1)
        for s in done_samples:
            bits[s >> 3] |= 1 << (s & 7)
            for p in range(s * per, s * per + per):
                pos_bits[p >> 3] |= 1 << (p & 7)
        for s in rng.sample(range(samples), min(3, samples)):  # partly done samples
            if s not in done_samples:
                p = s * per + rng.randrange(per)
                pos_bits[p >> 3] |= 1 << (p & 7)
        index = DoneIndex(bits=pos_bits, sample_bits=bits)
        slow = [(i.key, i.position) for i in plan.items(index.position_done, index.sample_done)]
        fast = [(i.key, i.position) for i in plan.items(
            index.position_done, index.sample_done, index.next_pending_sample)]
        assert fast == slow
        assert len(slow) == samples * per - bin(int.from_bytes(pos_bits, "little")).count("1")


def test_next_pending_sample_reads_the_bitmap():
    from pipeline.resume import DoneIndex

    bits = bytearray([0xFF, 0xFF, 0b1110_1111, 0xFF])
    index = DoneIndex(sample_bits=bits)
    assert [index.next_pending_sample(i) for i in (0, 5, 16, 20, 21, 28)] == [20, 20, 20, 20,
                                                                             32, 32]
    assert DoneIndex(sample_bits=bytearray([0b0000_0011])).next_pending_sample(0) == 2
    assert DoneIndex(sample_bits=None).next_pending_sample(7) == 7


def _big_dataset(tmp_path: Path, rows: int = 1500) -> Path:
    """A JSONL dataset over 1 MiB and 1,000 rows: describe() counts and hashes its first
    block only, the rest beside the sending."""
    data = tmp_path / "big.jsonl"
    with data.open("w") as f:
        for i in range(rows):
            f.write(json.dumps({"id": i, "question": f"What is {i} + 1?", "answer": str(i + 1),
                                "metadata": {"pad": "x" * 700}}) + "\n")
    assert data.stat().st_size > 1 << 20
    return data


def _big_config(tmp_path: Path, data: Path, **over) -> Path:
    return demo_config(tmp_path, datasets=[{
        "name": "big", "path": str(data), "template": "{question}",
        "columns": {"target": "answer"}, "scorers": ["numeric"], **over}],
        models=[{"id": "claude-4-5-haiku"}], run={"concurrency": 8})


def test_a_large_dataset_is_counted_and_hashed_after_its_first_rows(tmp_path: Path):
    data = _big_dataset(tmp_path)
    cfg = _big_config(tmp_path, data)
    plan = Plan(load_config(cfg))
    (info,) = plan.describe(defer_after=1000)
    assert plan.deferred and set(info) == {"name", "path", "format"}
    first = next(plan.items())  # the items need no count of the rows
    assert first.position == 0 and first.sample.sample_id == "0"
    assert sum(1 for _ in plan.described()) >= 1 and not plan.deferred
    whole = Plan(load_config(cfg))
    assert [info] == whole.describe() and plan.total == whole.total == 1500
    assert list(plan.described()) == []  # read once
    # read whole at once: a small file, a sample, a limit up to the bound, two datasets
    for over in ({"limit": 1000}, {"sample": 1200}):
        plan = Plan(load_config(_big_config(tmp_path, data, **over)))
        (info,) = plan.describe(defer_after=1000)
        assert not plan.deferred and len(info["sha256"]) == 64
    two = demo_config(tmp_path, datasets=[arith(3), {"name": "big", "path": str(data),
                                                     "template": "{question}"}])
    plan = Plan(load_config(two))
    plan.describe(defer_after=1000)
    assert not plan.deferred
    plan = Plan(load_config(demo_config(tmp_path, datasets=[arith(1200)])))
    plan.describe(defer_after=1000)
    assert not plan.deferred  # the demo's arithmetic file is read whole in its first block


def test_a_fresh_run_records_the_checksum_read_beside_the_sending(tmp_path: Path):
    import hashlib

    from pipeline.resume import fingerprint, request_config

    data = _big_dataset(tmp_path)
    cfg = _big_config(tmp_path, data, limit=1001)
    out = run(load_config(cfg), RunOptions(run_id="r", progress=False))
    assert out.status == "complete" and out.sent == out.planned == 1001
    m = manifest(out.folder)
    (info,) = m["datasets"]
    assert info["sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()
    assert info["samples"] == 1001 and m["totals"]["planned"] == 1001
    whole = Plan(load_config(cfg))
    expected = request_config(whole, whole.describe())
    assert m["request_config"] == expected and m["request_fingerprint"] == fingerprint(expected)
    again = run(load_config(cfg), RunOptions(run_id="r", progress=False))
    assert again.sent == 0 and again.skipped == 1001
    assert manifest(out.folder)["positions_valid"] is True  # the same requests: by position


def test_a_run_stopped_before_its_checksum_was_written_resumes_by_keys(tmp_path: Path):
    from pipeline.errors import RunStateError

    data = _big_dataset(tmp_path)
    cfg = _big_config(tmp_path, data, limit=1001)
    run_until(load_config(cfg), "r", 40)
    folder = tmp_path / "reports" / "r"
    m = manifest(folder)  # an interrupted run still reads the rest of the file first
    assert m["status"] == "interrupted" and len(m["datasets"][0]["sha256"]) == 64
    assert m["request_fingerprint"]
    # as a process killed within the first second would leave it (the first manifest)
    for key in ("request_config", "request_fingerprint", "versions"):
        m.pop(key)
    m["datasets"] = [{k: v for k, v in d.items() if k in ("name", "path", "format")}
                     for d in m["datasets"]]
    (folder / "manifest.json").write_text(json.dumps(m))
    journaled = sum(1 for _ in read_journal(folder))
    # an answered row changed since: refused, as with a checksum that differs
    text = data.read_text()
    data.write_text(text.replace('"What is 0 + 1?"', '"What is 0 + 2?"', 1))
    with pytest.raises(RunStateError, match="no longer makes 1 requests"):
        run(load_config(cfg), RunOptions(run_id="r", progress=False))
    data.write_text(text)
    out = run(load_config(cfg), RunOptions(run_id="r", progress=False))
    assert out.status == "complete" and out.skipped == journaled
    assert out.sent == 1001 - journaled
