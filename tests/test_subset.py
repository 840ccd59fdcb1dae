"""`sample = N` with `seed`: a reproducible random subset drawn without loading the dataset,
nested as N grows, part of the request fingerprint (a resume with another seed is refused)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.cli import main
from pipeline.config import LoadedConfig, load_config, parse_config
from pipeline.errors import ConfigError, DatasetError
from pipeline.plan import Plan
from pipeline.runner import RunOptions, run
from pipeline.subset import choose_rows, is_chosen
from tests.helpers import ROOT, arith, demo_config

ARITH = ROOT / "datasets/demo/arithmetic.jsonl"  # 120 rows, ids arith-000 ... arith-119


def sampled(**over) -> dict:
    """The demo's arithmetic dataset (120 rows) with these settings and no limit."""
    spec = arith(**over)
    del spec["limit"]
    return spec


def drawn(bits: bytearray | None, rows: int) -> list[int]:
    return [i for i in range(rows) if is_chosen(bits, i)]


def plan_of(*datasets: dict, models: int = 1) -> Plan:
    raw = {"name": "t", "models": [{"id": "claude-4-5-haiku"}, {"id": "claude-4-5-sonnet"}][
        :models], "datasets": list(datasets)}
    return Plan(LoadedConfig(parse_config(raw), Path("t.toml"), raw))


def ids(plan: Plan) -> list[str]:
    plan.describe()
    return [item.sample.sample_id for item in plan.items()]


def test_choose_rows_draws_exactly_n_reproducibly_and_nested():
    a = drawn(choose_rows(1000, 50, seed=7), 1000)
    assert len(a) == 50 and a == sorted(set(a))
    assert a == drawn(choose_rows(1000, 50, seed=7), 1000)  # same seed, same rows
    assert a != drawn(choose_rows(1000, 50, seed=8), 1000)  # another seed, other rows
    bigger = set(drawn(choose_rows(1000, 200, seed=7), 1000))
    assert set(a) <= bigger  # raising sample keeps the rows already drawn
    assert choose_rows(10, 10, seed=1) is None and choose_rows(10, 99, seed=1) is None
    assert len(choose_rows(1_000_003, 5, seed=0)) == 125_001  # a bitmap: one bit a row


def test_the_same_config_picks_the_same_rows_in_another_process():
    spec = {"name": "a", "path": str(ARITH), "template": "{question}",
            "columns": {"target": "answer"}, "sample": 12, "seed": 5}
    here = ids(plan_of(spec))
    code = (
        "import json, sys\n"
        "from tests.test_subset import ids, plan_of\n"
        "print(json.dumps(ids(plan_of(json.loads(sys.argv[1])))))\n"
    )
    other = subprocess.run([sys.executable, "-c", code, json.dumps(spec)], cwd=ROOT,
                           capture_output=True, text=True, check=True,
                           env={"PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "123"})
    assert json.loads(other.stdout) == here
    assert len(here) == 12 and len(set(here)) == 12
    # Pinned: these rows are what seed 5 draws from 120 rows, on any machine and version.
    assert here == ["arith-003", "arith-032", "arith-045", "arith-059", "arith-067",
                    "arith-079", "arith-083", "arith-088", "arith-094", "arith-101",
                    "arith-107", "arith-118"]


def test_sample_differs_by_seed_keeps_file_order_and_only_reads_drawn_rows(monkeypatch):
    base = {"name": "a", "path": str(ARITH), "template": "{question}",
            "columns": {"target": "answer"}, "sample": 10}
    one, two = ids(plan_of({**base, "seed": 1})), ids(plan_of({**base, "seed": 2}))
    assert one != two and len(one) == len(two) == 10
    assert one == sorted(one)  # file order, not draw order
    assert ids(plan_of(base)) == ids(plan_of({**base, "seed": 0}))  # no seed: seed 0
    from pipeline.datasets import SampleBuilder

    built: list[str] = []
    original = SampleBuilder.build
    monkeypatch.setattr(SampleBuilder, "build",
                        lambda self, where, row, index: built.append(where)
                        or original(self, where, row, index))
    assert ids(plan_of({**base, "seed": 1})) == one
    assert len(built) == 10  # the 110 rows not drawn were never parsed


def test_sample_within_limit_and_ids_from_file_rows(tmp_path: Path):
    rows = [{"prompt": f"q{i}", "target": str(i)} for i in range(40)]  # no ids: row numbers
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "d.parquet")
    spec = {"name": "d", "path": str(tmp_path / "d.parquet"), "limit": 20, "sample": 5,
            "seed": 3}
    plan = plan_of(spec)
    got = ids(plan)
    assert len(got) == 5 and all(1 <= int(i) <= 20 for i in got)  # drawn from the first 20
    items = list(plan.items())
    assert all(it.sample.target == str(int(it.sample.sample_id) - 1) for it in items)
    assert plan.describe()[0] | {"sha256": "-", "path": "-"} == {
        "name": "d", "path": "-", "format": "parquet", "sha256": "-", "samples": 5,
        "rows": 20, "seed": 3}


def test_sample_larger_than_the_dataset_is_a_clear_error(tmp_path: Path, capsys):
    with pytest.raises(DatasetError, match=r"sample = 500 but the dataset has 120 rows"):
        plan_of({"name": "a", "path": str(ARITH), "sample": 500}).describe()
    with pytest.raises(DatasetError, match=r"the first 30 rows \(limit\)"):
        plan_of({"name": "a", "path": str(ARITH), "limit": 30, "sample": 31}).describe()
    assert ids(plan_of({"name": "a", "path": str(ARITH), "template": "{question}",
                        "columns": {"target": "answer"}, "sample": 120})) == [
        f"arith-{i:03d}" for i in range(120)]  # every row: all of them, nothing drawn
    cfg = demo_config(tmp_path, datasets=[sampled(sample=121)])
    assert main(["run", str(cfg), "--run-id", "x", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "lower datasets[0].sample to at most 120" in err[0]


def test_seed_without_sample_is_a_config_error():
    raw = {"name": "t", "models": [{"id": "m"}],
           "datasets": [{"name": "a", "path": "x.jsonl", "seed": 4}]}
    with pytest.raises(ConfigError, match=r"datasets\[0\]: seed: only used with sample"):
        parse_config(raw)
    raw["datasets"][0].update(seed=None, sample=0)
    del raw["datasets"][0]["seed"]
    with pytest.raises(ConfigError, match=r"datasets\[0\]\.sample"):
        parse_config(raw)


def test_a_resume_with_another_seed_is_refused_and_a_bigger_sample_adds_rows(
        tmp_path: Path, capsys):
    def cfg(**over):
        return demo_config(tmp_path, datasets=[sampled(**{"sample": 8, "seed": 1, **over})])

    out = run(load_config(cfg()), RunOptions(run_id="r", progress=False))
    assert out.status == "complete" and out.sent == 16
    manifest = json.loads((out.folder / "manifest.json").read_text())
    assert manifest["request_config"]["datasets"]["arith"]["seed"] == 1
    assert main(["run", str(cfg(seed=2)), "--run-id", "r", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "would drop out of the results" in err and "datasets.arith.seed" in err
    # Raising sample with the same seed keeps the rows drawn so far: only new ones are sent.
    sent: list[str] = []
    more = run(load_config(cfg(sample=12)), RunOptions(
        run_id="r", progress=False, on_record=lambda rec: sent.append(rec["sample_id"])))
    assert more.status == "complete" and more.skipped == 16 and len(sent) == 8


def test_validate_says_which_rows_it_read(tmp_path: Path, capsys):
    cfg = demo_config(tmp_path, datasets=[sampled(sample=8, seed=1)])
    assert main(["validate", str(cfg)]) == 0
    assert "8 rows drawn from 120 (sample = 8, seed = 1)" in capsys.readouterr().out
