"""Run folders in an S3-compatible store, against moto's S3 server on 127.0.0.1: the round trip
(part of a run, the local folder lost, a resume elsewhere), the journal synced while the run
goes on (and after a kill -9), listing, failures, and credentials never written anywhere."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from pipeline.cli import main
from pipeline.config import load_config
from pipeline.errors import ConfigError, InputError
from pipeline.journal import read_journal
from pipeline.runfolder import new_run_id
from pipeline.runner import RunOptions, run
from pipeline.store import S3Url, Store, list_runs, parse_s3_url, run_files
from tests.helpers import ROOT, arith, demo_config, emulator, run_until

pytest.importorskip("moto.server")
from moto.server import ThreadedMotoServer  # noqa: E402
from pyarrow import fs as pafs  # noqa: E402

KEY_ID = "AKIAPIPELINETESTKEY7"
SECRET = "s3cr3t/DO+NOT+LEAK/0123456789abcdefXYZ"
TOKEN = "session-token-DO-NOT-LEAK-42"
N = 2 * 30  # arith(30) x two models


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(moto_url: str, tmp_path: Path, monkeypatch) -> dict[str, Any]:
    """A fresh bucket, the AWS environment pointing at it, and a cache dir of this test."""
    bucket = f"b-{uuid.uuid4().hex[:12]}"
    fs = pafs.S3FileSystem(access_key="admin", secret_key="admin", endpoint_override=moto_url,
                           allow_bucket_creation=True)
    fs.create_dir(bucket)
    for k in ("AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(k, raising=False)
    env = {"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET,
           "AWS_SESSION_TOKEN": TOKEN, "AWS_ENDPOINT_URL": moto_url, "AWS_REGION": "us-east-1",
           "PIPELINE_CACHE_DIR": str(tmp_path / "cache-1")}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return {"fs": fs, "bucket": bucket, "url": f"s3://{bucket}/evals/weekly", "env": env}


def objects(s3: dict[str, Any], under: str = "") -> dict[str, bytes]:
    """Every object in the test's bucket (under a prefix), with its bytes."""
    fs = s3["fs"]
    out = {}
    where = pafs.FileSelector(f"{s3['bucket']}/{under}".rstrip("/"), recursive=True,
                              allow_not_found=True)
    for info in fs.get_file_info(where):
        if info.type == pafs.FileType.File:
            with fs.open_input_stream(info.path) as f:
                out[info.path.removeprefix(s3["bucket"] + "/")] = f.read()
    return out


def stored_journal(s3: dict[str, Any], run_id: str) -> list[dict[str, Any]]:
    """The journal as the store holds it: its segments chained from byte 0."""
    prefix = f"evals/weekly/{run_id}/journal/"
    segs = {int(k[len(prefix):-6]): v for k, v in objects(s3, prefix).items()}
    data, at = b"", 0
    while at in segs and segs[at]:
        data += segs[at]
        at += len(segs[at])
    return [json.loads(line) for line in data.decode().splitlines()]


def fresh_machine(tmp_path: Path, monkeypatch, n: int) -> Path:
    """Another dyno: its own empty cache."""
    cache = tmp_path / f"cache-{n}"
    monkeypatch.setenv("PIPELINE_CACHE_DIR", str(cache))
    return cache


def no_secret_in(blobs: dict[str, bytes]) -> None:
    for name, data in blobs.items():
        for secret in (KEY_ID, SECRET, TOKEN):
            assert secret.encode() not in data, f"{secret[:6]}... written to {name}"


# -- URLs and config -------------------------------------------------------------------------

@pytest.mark.parametrize("url, bucket, prefix", [
    ("s3://evals", "evals", ""),
    ("s3://evals/", "evals", ""),
    ("s3://evals/team/weekly/", "evals", "team/weekly"),
    ("s3://my.bucket-1/a", "my.bucket-1", "a"),
])
def test_s3_urls_parse(url: str, bucket: str, prefix: str):
    assert parse_s3_url(url) == S3Url(bucket, prefix)
    assert str(S3Url(bucket, prefix)) == url.rstrip("/")


@pytest.mark.parametrize("value, expect", [
    ("gs://bucket/x", "gs:// is not supported"),
    ("http://host/x", "http:// is not supported"),
    ("s3://Bucket/x", "not a bucket name"),
    ("s3://evals/a/../b", "'..'"),
    ("s3://evals/a?versionId=1", "no '?'"),
    (f"s3://{KEY_ID}:{SECRET}@evals/x", "credentials do not belong in the URL"),
])
def test_bad_output_dirs_name_the_field(tmp_path: Path, value: str, expect: str):
    cfg = demo_config(tmp_path, output_dir=value)
    with pytest.raises(ConfigError) as err:
        load_config(cfg)
    assert f"{cfg}: output_dir: " in str(err.value) and expect in str(err.value)
    assert SECRET not in str(err.value) and KEY_ID not in str(err.value)


def test_store_problems_are_one_line_exit_2_nothing_sent(s3, tmp_path: Path, monkeypatch,
                                                          capsys):
    cfg = demo_config(tmp_path, datasets=[arith(3)], output_dir=s3["url"])

    def fails(expect: str) -> None:
        assert main(["run", str(cfg), "--no-progress"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: output_dir s3://"), err
        assert expect in err[0] and SECRET not in err[0]
        assert not (tmp_path / "cache-1").exists()  # no run folder: nothing started or sent

    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    fails("AWS_SECRET_ACCESS_KEY not set")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    fails("cannot reach the store")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3["env"]["AWS_ENDPOINT_URL"])
    cfg = demo_config(tmp_path, datasets=[arith(3)], output_dir="s3://no-such-bucket/x")
    fails("bucket 'no-such-bucket' does not exist")


# -- the round trip ----------------------------------------------------------------------------

def test_round_trip_a_lost_working_copy_resumes_from_the_store(s3, tmp_path: Path,
                                                               monkeypatch):
    loaded = load_config(demo_config(tmp_path, datasets=[arith(30)], output_dir=s3["url"]))
    stop_after = 25

    run_until(loaded, "wk", stop_after)  # the first dyno stops part-way
    first = tmp_path / "cache-1"
    local = list(read_journal(first / "s3" / s3["bucket"] / "evals/weekly/wk"))
    assert stop_after <= len(local) < N
    # what was paid for is in the store although the run was interrupted
    assert [r["key"] for r in stored_journal(s3, "wk")] == [r["key"] for r in local]
    assert json.loads(objects(s3)["evals/weekly/wk/manifest.json"])["status"] == "interrupted"

    shutil.rmtree(first)  # the dyno's disk is gone
    fresh_machine(tmp_path, monkeypatch, 2)
    second = run(loaded, RunOptions(run_id="wk", progress=False))
    assert second.status == "complete" and second.store_url == f"{s3['url']}/wk"
    assert second.skipped == len(local)
    # the emulator's own counter: only what was not finished was sent again
    assert second.emulator_stats["requests_total"] == N - len(local) == second.sent
    keys = [r["key"] for r in stored_journal(s3, "wk")]
    assert len(keys) == len(set(keys)) == N  # each item journaled once, in the store too

    # the stored results equal a one-shot run's (the emulator answers deterministically)
    oneshot = run(load_config(demo_config(tmp_path / "local", datasets=[arith(30)])),
                  RunOptions(run_id="one", progress=False))
    cols = ["key", "model", "status", "output_text", "score", "prompt_tokens", "cost_usd"]
    stored = run_files(s3["url"], "wk", ["results.parquet"])
    assert stored == tmp_path / "cache-2" / "s3" / s3["bucket"] / "evals/weekly/wk"
    got = pl.read_parquet(stored / "results.parquet").select(cols).sort("key")
    want = pl.read_parquet(oneshot.folder / "results.parquet").select(cols).sort("key")
    assert got.equals(want)

    blobs = objects(s3)
    assert {"manifest.json", "results.parquet", "summary.parquet", "report.html",
            "report.md"} <= {k.rsplit("/", 1)[1] for k in blobs}
    assert not [k for k in blobs if k.endswith(("run.lock", ".store-sync.json"))]
    no_secret_in(blobs)
    no_secret_in({str(p): p.read_bytes() for p in (tmp_path / "cache-2").rglob("*")
                  if p.is_file()})
    manifest = json.loads(blobs["evals/weekly/wk/manifest.json"])
    assert manifest["status"] == "complete" and manifest["config"]["output_dir"] == s3["url"]


def test_the_journal_is_in_the_store_while_the_run_goes_on(s3, tmp_path: Path):
    loaded = load_config(demo_config(tmp_path, speed=0.05, datasets=[arith(30)],
                                     output_dir=s3["url"],
                                     run={"concurrency": 2, "sync_interval_s": 0.1}))
    seen: list[int] = []

    def on_record(_rec: dict) -> None:
        count[0] += 1
        if count[0] % 6 == 0:
            seen.append(len(stored_journal(s3, "live")))  # what the store holds right now

    count = [0]

    out = run(loaded, RunOptions(run_id="live", progress=False, on_record=on_record))
    assert out.status == "complete"
    assert seen[-1] >= 10, seen  # most of the journal was stored before the run ended
    assert seen == sorted(seen)  # lines are only ever added
    segs = [k for k in objects(s3) if "/live/journal/" in k]
    assert segs == ["evals/weekly/live/journal/000000000000000.jsonl"]  # compacted at the end
    assert len(stored_journal(s3, "live")) == N


def test_a_killed_process_loses_at_most_the_last_interval(s3, tmp_path: Path, monkeypatch):
    """kill -9 (a dyno's end without grace): the store holds the journal as of the last sync,
    and a resume on another machine sends exactly what the store does not hold."""
    cfg = demo_config(tmp_path, speed=0.1, datasets=[arith(30)], output_dir=s3["url"],
                      run={"concurrency": 2, "sync_interval_s": 0.2})
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "run", str(cfg), "--run-id", "k", "--no-progress"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(stored_journal(s3, "k")) < 8:
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()  # still running: synced mid-run
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    held = stored_journal(s3, "k")
    local = list(read_journal(tmp_path / "cache-1" / "s3" / s3["bucket"] / "evals/weekly/k"))
    assert 8 <= len(held) <= len(local) < N
    assert [r["key"] for r in held] == [r["key"] for r in local[:len(held)]]

    fresh_machine(tmp_path, monkeypatch, 2)
    out = run(load_config(cfg), RunOptions(run_id="k", progress=False))
    assert out.status == "complete"
    assert out.emulator_stats["requests_total"] == N - len(held)
    keys = [r["key"] for r in stored_journal(s3, "k")]
    assert len(keys) == len(set(keys)) == N


# -- listing, --resume, new ids ----------------------------------------------------------------

def test_resume_and_listing_work_on_the_store(s3, tmp_path: Path, monkeypatch, capsys):
    cfg = demo_config(tmp_path, datasets=[arith(3)], output_dir=s3["url"])
    assert main(["run", str(cfg), "--run-id", "a", "--no-progress"]) == 0
    assert main(["run", str(cfg), "--run-id", "b", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"stored in: {s3['url']}/b" in out and SECRET not in out
    fresh_machine(tmp_path, monkeypatch, 2)
    assert main(["run", str(cfg), "--resume", "--no-progress"]) == 0
    again = capsys.readouterr().out
    assert "0 items finished now, 6 already done" in again and f"{s3['url']}/b" in again

    runs = list_runs(s3["url"], "demo")
    assert [r for r, _ in runs] == ["a", "b"] and runs[0][1]["status"] == "complete"
    assert list_runs(s3["url"], "other") == []
    folder = run_files(s3["url"], "a", ["manifest.json", "summary.parquet"])
    assert pl.read_parquet(folder / "summary.parquet").height == 2
    store = Store.open(s3["url"])
    assert store.run_ids() == ["a", "b"] and store.latest_run("demo") == "b"
    assert len(list(read_journal(store.fetch("a", ["journal.jsonl"])))) == 6
    # `pipeline report` on a stored run: restored on this machine, rebuilt, uploaded again
    fresh_machine(tmp_path, monkeypatch, 3)
    capsys.readouterr()
    assert main(["report", f"{s3['url']}/a"]) == 0
    assert "status: complete" in capsys.readouterr().out
    assert "rescored_at" in json.loads(objects(s3)["evals/weekly/a/manifest.json"])
    assert main(["report", f"{s3['url']}/nope"]) == 2
    assert "no such run in the store" in capsys.readouterr().err
    # local dirs through the same helpers
    local = demo_config(tmp_path / "loc", datasets=[arith(2)])
    assert main(["run", str(local), "--run-id", "x", "--no-progress"]) == 0
    assert [r for r, _ in list_runs(str(tmp_path / "loc" / "reports"), "demo")] == ["x"]


def test_new_run_ids_avoid_ids_taken_elsewhere(tmp_path: Path):
    base = new_run_id("demo", tmp_path)
    assert new_run_id("demo", tmp_path, taken={base}.__contains__) == f"{base}-2"


# -- failures --------------------------------------------------------------------------------

def test_a_failed_sync_is_retried_and_a_failed_end_exits_3(s3, tmp_path: Path, monkeypatch,
                                                           capsys):
    cfg = demo_config(tmp_path, speed=0.05, datasets=[arith(10)], output_dir=s3["url"],
                      run={"concurrency": 2, "sync_interval_s": 0.05})
    real_put = Store._put
    calls = {"segments": 0}

    def flaky(self: Store, path: str, data: bytes) -> None:
        if "/journal/" in path:
            calls["segments"] += 1
            if calls["segments"] <= 2:
                raise OSError(f"AWS Error SLOW_DOWN (key {KEY_ID}, secret {SECRET})")
        real_put(self, path, data)

    monkeypatch.setattr(Store, "_put", flaky)
    assert main(["run", str(cfg), "--run-id", "f", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "journal upload failed (AWS Error SLOW_DOWN" in err and "retrying" in err
    assert "periodic journal uploads" in err and SECRET not in err and KEY_ID not in err
    assert len(stored_journal(s3, "f")) == 20

    # the store goes away before the end: exit 3, one line, the local copy named
    cfg = demo_config(tmp_path, datasets=[arith(5)], output_dir=s3["url"])

    def down(self: Store, path: str, data: bytes) -> None:
        if not path.endswith("manifest.json") or "interrupted" in data.decode():
            raise OSError("AWS Error NETWORK_CONNECTION")
        real_put(self, path, data)

    monkeypatch.setattr(Store, "_put", down)
    assert main(["run", str(cfg), "--run-id", "g", "--no-progress"]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    lines = [e for e in err if e.startswith("error: ")]
    local = tmp_path / "cache-1" / "s3" / s3["bucket"] / "evals/weekly/g"
    assert len(lines) == 1 and "final upload failed" in lines[0] and str(local) in lines[0]
    assert len(list(read_journal(local))) == 10
    # back up: a rerun on the same machine sends nothing and uploads what was missing
    monkeypatch.setattr(Store, "_put", real_put)
    out = run(load_config(cfg), RunOptions(run_id="g", progress=False))
    assert out.emulator_stats["requests_total"] == 0
    assert len(stored_journal(s3, "g")) == 10


def test_start_without_write_access_sends_nothing(s3, tmp_path: Path, monkeypatch, capsys):
    cfg = demo_config(tmp_path, datasets=[arith(3)], output_dir=s3["url"])

    def denied(self: Store, path: str, data: bytes) -> None:
        raise OSError("AWS Error ACCESS_DENIED during PutObject operation")

    monkeypatch.setattr(Store, "_put", denied)
    assert main(["run", str(cfg), "--run-id", "ro", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot write to the store (AWS Error ACCESS_DENIED" in err[0]
    assert "nothing was sent" in err[0]
    assert not (tmp_path / "cache-1/s3" / s3["bucket"] / "evals/weekly/ro/journal.jsonl").exists()


def test_open_rejects_a_url_with_credentials_without_repeating_them():
    with pytest.raises(InputError) as err:
        Store.open(f"s3://{KEY_ID}:{SECRET}@bucket/x", env={})
    assert SECRET not in str(err.value) and "credentials do not belong" in str(err.value)


def test_validate_checks_the_store(s3, tmp_path: Path, monkeypatch, capsys):
    cfg = demo_config(tmp_path, datasets=[arith(3)], output_dir=s3["url"])
    assert main(["validate", str(cfg), "--online"]) == 0
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    assert main(["validate", str(cfg)]) == 2
    assert "output_dir s3://" in capsys.readouterr().err  # no request needed to know
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    cfg = demo_config(tmp_path, datasets=[arith(3)], output_dir="s3://missing-bucket/x")
    assert main(["validate", str(cfg)]) == 0  # offline: the bucket is not asked
    assert main(["validate", str(cfg), "--online"]) == 2
    assert "bucket 'missing-bucket' does not exist" in capsys.readouterr().err


def test_a_working_copy_is_kept_when_it_extends_the_store_and_replaced_when_behind(
        s3, tmp_path: Path, monkeypatch):
    def lines(*names: str) -> bytes:
        return b"".join(json.dumps({"key": n}).encode() + b"\n" for n in names)

    def append(syncer, data: bytes) -> None:
        with (syncer.folder / "journal.jsonl").open("ab") as f:
            f.write(data)

    store = Store.open(s3["url"])
    one = store.attach("r")  # machine 1, a new run
    (one.folder / "manifest.json").write_text("{}")
    append(one, lines("a", "b"))
    assert one.sync_journal() == len(lines("a", "b"))
    append(one, lines("c") + b'{"key": "torn')  # a line being written is not uploaded
    # the upload of "c" reached the store but its answer was lost: the record is behind
    store._put(store.url.path("r", f"journal/{one.offset:015d}.jsonl"), lines("c"))
    append(one, b'"}\n' + lines("d"))
    one = store.attach("r")
    assert one.offset == len(lines("a", "b", "c")) and not one.warnings  # kept as is
    one.sync_journal()
    assert [r["key"] for r in stored_journal(s3, "r")] == ["a", "b", "c", "torn", "d"]

    fresh_machine(tmp_path, monkeypatch, 2)
    two = Store.open(s3["url"]).attach("r")  # machine 2 restores and goes on
    assert (two.folder / "journal.jsonl").read_bytes() == \
        (one.folder / "journal.jsonl").read_bytes()
    append(two, lines("e"))
    two.push()
    assert len([k for k in objects(s3) if "/r/journal/" in k]) == 1  # compacted

    append(one, lines("x"))  # machine 1 wrote a line the store never got, then came back
    one = store.attach("r")
    assert [r["key"] for r in read_journal(one.folder)] == ["a", "b", "c", "torn", "d", "e"]
    assert one.warnings and "replaced by the store's copy" in one.warnings[0]
    aside = list(one.folder.glob(".journal-replaced-*.jsonl"))
    assert len(aside) == 1 and aside[0].read_bytes().endswith(lines("x"))


def test_baseline_latest_works_on_the_store(s3, tmp_path: Path, monkeypatch, capsys):
    ds = [arith(25)]
    cfg = demo_config(tmp_path, datasets=ds, output_dir=s3["url"])
    assert main(["run", str(cfg), "--run-id", "w1", "-q"]) == 0
    fresh_machine(tmp_path, monkeypatch, 2)  # next week, another dyno
    worse = demo_config(tmp_path, datasets=ds, output_dir=s3["url"],
                        gates={"no_regression": True},
                        provider=emulator(accuracy={"claude-4-5-haiku": 0.1}))
    capsys.readouterr()
    code = main(["run", str(worse), "--run-id", "w2", "--baseline", "latest", "--json"])
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert doc["baseline"]["run_id"] == "w1" and code == 1
    assert "gate no_regression failed: claude-4-5-haiku" in err
    assert "evals/weekly/w2/baseline.parquet" in objects(s3)
    assert main(["run", str(cfg), "--run-id", "w3", "--baseline", "nope", "-q"]) == 2
    assert "--baseline nope: no earlier run with that id" in capsys.readouterr().err


def test_history_works_on_the_store(s3, tmp_path: Path, monkeypatch, capsys):
    cfg = demo_config(tmp_path, datasets=[arith(3)], output_dir=s3["url"])
    assert main(["run", str(cfg), "--run-id", "h1", "-q"]) == 0
    assert main(["run", str(cfg), "--run-id", "h2", "-q"]) == 0
    fresh_machine(tmp_path, monkeypatch, 2)
    capsys.readouterr()
    assert main(["history", str(cfg), "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert [r["run_id"] for r in runs] == ["h1", "h2"]
    assert all(r["status"] == "complete" and len(r["models"]) == 2 for r in runs)
    assert runs[0]["models"][0]["accuracy"] is not None


def test_a_stored_judged_run_resumed_on_another_machine_pays_no_verdict_twice(
        s3, tmp_path: Path, monkeypatch):
    judge = {"name": "judge", "model": "claude-4-5-sonnet"}
    loaded = load_config(demo_config(tmp_path, datasets=[arith(10, scorers=[judge])],
                                     output_dir=s3["url"]))
    first = run(loaded, RunOptions(run_id="wk", progress=False))
    assert first.status == "complete" and first.judged == 20
    assert "evals/weekly/wk/judge.jsonl" in objects(s3)
    shutil.rmtree(tmp_path / "cache-1")  # the dyno's disk is gone
    fresh_machine(tmp_path, monkeypatch, 2)
    second = run(loaded, RunOptions(run_id="wk", progress=False))
    assert second.emulator_stats["requests_total"] == 0  # no answer, no verdict again
    res = pl.read_parquet(second.folder / "results.parquet")
    assert res["score_judge"].null_count() == 0


def test_verdicts_are_uploaded_while_the_judge_runs(s3, tmp_path: Path):
    from pipeline.store import Store

    judge = {"name": "judge", "model": "claude-4-5-sonnet"}
    loaded = load_config(demo_config(tmp_path, datasets=[arith(4, scorers=[judge])],
                                     output_dir=s3["url"]))
    first = run(loaded, RunOptions(run_id="wk", progress=False))
    store = Store.open(s3["url"])
    syncer = store.attach("wk")
    with (first.folder / "judge.jsonl").open("a") as f:  # a verdict landed since, half a line
        f.write('{"key": "x"}\n{"torn')
    assert syncer.sync_journal() > 0
    stored = objects(s3)["evals/weekly/wk/judge.jsonl"]
    assert stored.endswith(b'{"key": "x"}\n') and syncer.sync_journal() == 0
