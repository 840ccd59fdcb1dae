"""`pipeline run CONFIG --engine ray`: the demo on a local Ray instance (2 CPUs, started once
for the module) equals the single-process run, and a shard killed part-way is resumed by the
next Ray run without sending what it had finished."""

from __future__ import annotations

from collections import Counter

import pytest
import ray  # in the dev extra: CI runs these tests, never skips them

from pipeline.cli import main
from pipeline.config import load_config
from pipeline.engines.ray import run_on_ray
from pipeline.journal import read_journal
from pipeline.runner import RunOptions, run
from tests.helpers import arith, demo_config
from tests.sharding import assert_same_run, manifest, shard_until


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    """One local Ray instance for the module (starting one takes seconds)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("single")
    return run(load_config(demo_config(tmp)), RunOptions(run_id="one", progress=False)).folder


def test_ray_run_equals_the_single_process_run(tmp_path, single, capsys):
    config = demo_config(tmp_path)
    assert main(["run", str(config), "--engine", "ray", "--shards", "2", "--run-id", "RAY",
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "2 shards on Ray: 640 items finished now" in out
    folder = tmp_path / "reports" / "RAY"
    assert sorted(p.name for p in (folder / "shards").iterdir()) == ["01-of-02", "02-of-02"]
    assert_same_run(folder, single)
    assert manifest(folder)["shards"]["count"] == 2


def test_ray_resumes_a_killed_shard(tmp_path, single):
    loaded = load_config(demo_config(tmp_path))
    shard_until(loaded, "K", (1, 2), stop_after=50)  # a worker killed part-way
    first = tmp_path / "reports" / "K" / "shards" / "01-of-02"
    before = len(list(read_journal(first)))

    got = run_on_ray(loaded, run_id="K")  # N: the run's 2 shards (also the CPUs)
    assert got.shards == 2 and got.status == "complete"
    one, two = got.per_shard
    assert one["skipped"] == before and one["sent"] == one["planned"] - before
    assert one["emulator_requests"] == one["planned"] - before
    assert two["skipped"] == 0 and two["emulator_requests"] == two["planned"]
    assert set(Counter(r["key"] for r in read_journal(first)).values()) == {1}
    assert_same_run(got.folder, single)


def test_ray_picks_one_shard_per_cpu(tmp_path):
    loaded = load_config(demo_config(tmp_path, datasets=[arith(10)]))
    got = run_on_ray(loaded)  # a new run: N from ray.cluster_resources(): 2 CPUs
    assert got.shards == 2 and got.status == "complete" and got.sent == 20
    assert sorted(p.name for p in (got.folder / "shards").iterdir()) == ["01-of-02", "02-of-02"]
