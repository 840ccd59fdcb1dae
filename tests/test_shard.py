"""`pipeline run --shard K/N --run-id RUN` and `pipeline report RUN`: a run split by key hash
into shards that run apart (N Heroku worker dynos) and merge into the single-process run."""

from __future__ import annotations

import sys
from collections import Counter

import pytest

from pipeline.cli import main
from pipeline.config import load_config, parse_config
from pipeline.journal import read_journal
from pipeline.plan import Plan, shard_of
from pipeline.runner import RunOptions, run
from pipeline.shards import LIMITS_NOTE, divide_limits, parse_shard
from tests.helpers import demo_config
from tests.sharding import assert_same_run, manifest, shard_until

N_ITEMS = 640  # the demo: 320 samples x 2 models


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    """The demo run in one process: what every sharded run must equal."""
    tmp = tmp_path_factory.mktemp("single")
    return run(load_config(demo_config(tmp)), RunOptions(run_id="one", progress=False)).folder


def test_plan_shards_partition_the_plan(tmp_path):
    loaded = load_config(demo_config(tmp_path))
    every = [i.key for i in Plan(loaded).items()]
    parts = [[i.key for i in Plan(loaded, shard=(k, 3)).items()] for k in (1, 2, 3)]
    assert sorted(sum(parts, [])) == sorted(every)  # disjoint, nothing lost
    for k, keys in enumerate(parts, start=1):
        assert keys and all(int(key[:8], 16) % 3 == k - 1 == shard_of(key, 3) - 1
                            for key in keys)
        assert Plan(loaded, shard=(k, 3)).total == len(keys)
        # the shard keeps the plan's representative order
        assert keys == [key for key in every if shard_of(key, 3) == k]


def test_three_shards_merge_into_the_single_run(tmp_path, single, capsys):
    config = demo_config(tmp_path)
    for k in (1, 2, 3):
        assert main(["run", str(config), "--shard", f"{k}/3", "--run-id", "R",
                     "--no-progress"]) == 0
    run_folder = tmp_path / "reports" / "R"
    assert f"merge the shards with: pipeline report {run_folder}" in capsys.readouterr().out
    shards = sorted(p.name for p in (run_folder / "shards").iterdir())
    assert shards == ["01-of-03", "02-of-03", "03-of-03"]
    one = manifest(run_folder / "shards" / "01-of-03")
    assert one["shard"] == {"index": 1, "count": 3}
    assert one["limits"]["note"] == LIMITS_NOTE
    assert one["limits"]["concurrency"] == 11  # 32 / 3, rounded up
    assert one["totals"]["planned"] == one["totals"]["done"] < N_ITEMS

    assert main(["report", str(run_folder), "-q"]) == 0
    assert_same_run(run_folder, single)
    top = manifest(run_folder)
    assert top["shards"]["count"] == 3 and top["shards"]["note"] == LIMITS_NOTE
    assert [s["folder"] for s in top["shards"]["folders"]] == [f"shards/{s}" for s in shards]
    assert top["totals"]["planned"] == N_ITEMS and top["models"] == manifest(single)["models"]


def test_killed_shard_resumes_only_what_it_had_not_finished(tmp_path, single):
    loaded = load_config(demo_config(tmp_path))
    shard_until(loaded, "R", (2, 3), stop_after=60)
    folder = tmp_path / "reports" / "R" / "shards" / "02-of-03"
    before = list(read_journal(folder))
    assert 60 <= len(before) and not (folder / "results.parquet").exists()

    again = run(loaded, RunOptions(run_id="R", shard=(2, 3), progress=False))
    assert again.skipped == len(before)
    assert again.sent == again.planned - len(before)
    assert again.emulator_stats["requests_total"] == again.planned - len(before)
    assert set(Counter(r["key"] for r in read_journal(folder)).values()) == {1}

    for k in (1, 3):
        run(loaded, RunOptions(run_id="R", shard=(k, 3), progress=False))
    assert main(["report", str(tmp_path / "reports" / "R"), "-q"]) == 0
    assert_same_run(tmp_path / "reports" / "R", single)


def test_report_of_part_of_the_shards_is_incomplete(tmp_path, capsys):
    config = demo_config(tmp_path)
    assert main(["run", str(config), "--shard", "1/2", "--run-id", "R", "-q"]) == 0
    run_folder = tmp_path / "reports" / "R"
    assert main(["report", str(run_folder), "-q"]) == 3
    top = manifest(run_folder)
    done = manifest(run_folder / "shards" / "01-of-02")["totals"]["done"]
    assert top["status"] == "incomplete"
    assert top["totals"]["pending"] == N_ITEMS - done
    # a shard's own folder reports on its own items
    assert main(["report", str(run_folder / "shards" / "01-of-02"), "-q"]) == 0
    assert manifest(run_folder / "shards" / "01-of-02")["totals"]["planned"] == done


@pytest.mark.parametrize(("args", "says"), [
    (["--shard", "0/3", "--run-id", "R"], "--shard 0/3: K must be between 1 and N"),
    (["--shard", "4/3", "--run-id", "R"], "--shard 4/3: K must be between 1 and N"),
    (["--shard", "1/0", "--run-id", "R"], "--shard 1/0: K must be between 1 and N"),
    (["--shard", "two", "--run-id", "R"], "--shard 'two': write K/N"),
    (["--shard", "1/3"], "--shard 1/3: needs --run-id RUN"),
    (["--shard", "1/3", "--run-id", "R", "--resume"], "--shard: leave out --resume"),
    (["--shard", "1/3", "--run-id", "R", "--baseline", "latest"],
     "--shard: compare the merged run instead"),
    (["--shards", "2"], "--shards and --address go with --engine ray"),
    (["--engine", "ray", "--shard", "1/2", "--run-id", "R"], "--engine ray splits the run"),
])
def test_bad_shard_flags_are_one_line_errors(tmp_path, capsys, args, says):
    config = demo_config(tmp_path)
    assert main(["run", str(config), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {says}"), err
    assert not (tmp_path / "reports").exists()  # nothing was sent, no folder made


def test_shards_of_another_count_are_refused(tmp_path, capsys):
    config = demo_config(tmp_path)
    assert main(["run", str(config), "--shard", "1/2", "--run-id", "R", "-q"]) == 0
    capsys.readouterr()
    assert main(["run", str(config), "--shard", "1/3", "--run-id", "R", "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already split into 2 shards" in err[0]
    # nor can a single-process run folder take shards
    assert main(["run", str(config), "--run-id", "S", "-q"]) == 0
    capsys.readouterr()
    assert main(["run", str(config), "--shard", "1/2", "--run-id", "S", "-q"]) == 2
    assert "a single-process run" in capsys.readouterr().err


def test_limits_are_divided_among_shards():
    cfg = parse_config({
        "name": "x", "provider": {"kind": "heroku"},
        "models": [{"id": "claude-4-5-sonnet"}, {"id": "m2", "rpm": 10, "tpm": 1000,
                                                   "price": {"input": 1, "output": 1}}],
        "datasets": [{"name": "d", "path": "d.jsonl"}],
        "run": {"concurrency": 10, "max_cost_usd": 3.0},
    }, source="test")
    part = divide_limits(cfg, 4)
    assert part.run.concurrency == 3 and part.run.max_cost_usd == 0.75
    from pipeline.catalog import CATALOG

    facts = CATALOG["claude-4-5-sonnet"]
    assert (part.models[0].rpm, part.models[0].tpm) == (facts.rpm // 4, facts.tpm // 4)
    assert (part.models[1].rpm, part.models[1].tpm) == (2, 250)
    assert divide_limits(cfg, 100).models[1].rpm == 1  # never zero
    assert divide_limits(cfg, 100).run.concurrency == 1
    assert parse_shard(" 2 / 4 ").name == "02-of-04"
    assert parse_shard("7/120").name == "007-of-120"


def test_engine_ray_without_ray_installed_says_how_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    assert main(["run", str(demo_config(tmp_path)), "--engine", "ray"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: --engine ray: Ray is not installed; pip install 'pipeline[ray]'"]


def test_a_shard_stopped_by_its_budget_resumes_without_resending(tmp_path):
    # A shard's items keep their run-wide positions: its resume index must span them all,
    # not the shard's own count (items past it were sent again before).
    from tests.helpers import arith

    models = [{"id": "claude-4-5-sonnet"}, {"id": "claude-4-5-haiku"}]
    small = demo_config(tmp_path, datasets=[arith(20)], models=models,
                        run={"max_cost_usd": 0.012}, generation={"max_tokens": 256})
    big = tmp_path / "big.toml"
    big.write_text(small.read_text().replace("0.012", "1.0"))
    first = run(load_config(small), RunOptions(progress=False, run_id="R", shard=(1, 2)))
    assert first.status == "budget_exhausted" and 0 < first.sent < first.planned
    again = run(load_config(big), RunOptions(progress=False, run_id="R", shard=(1, 2)))
    assert again.status == "complete"
    assert again.emulator_stats["requests_total"] == first.planned - first.sent
    ok = Counter(r["key"] for r in read_journal(again.folder) if r["status"] == "ok")
    assert set(ok.values()) == {1} and sum(ok.values()) == first.planned
