"""HumanEval as shipped: datasets/humaneval/ against its raw source, the converter, the config,
every canonical solution through the `code` scorer, and the config run end to end offline."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import tomllib

import polars as pl
import pytest

from pipeline.cli import main
from pipeline.config import load_config
from pipeline.datasets import load_samples
from pipeline.runner import RunOptions, run
from pipeline.scoring import get_scorer
from pipeline.scoring.base import Output
from tests.helpers import ROOT, dump_toml
from tests.test_benchmarks import RAW, _converter, source_table

FOLDER = ROOT / "datasets" / "humaneval"
SHIPPED = FOLDER / "test.jsonl"
CONFIG = ROOT / "configs" / "humaneval.toml"
RAW_FILE = RAW / "humaneval" / "HumanEval.jsonl.gz"
needs_raw = pytest.mark.skipif(not RAW_FILE.is_file(), reason=f"raw copy not found: {RAW_FILE}")


def shipped_rows() -> list[dict]:
    return [json.loads(line) for line in SHIPPED.read_text(encoding="utf-8").splitlines()]


@needs_raw
def test_shipped_file_has_every_source_problem_in_order() -> None:
    source = [json.loads(line) for line in gzip.decompress(RAW_FILE.read_bytes()).splitlines()]
    rows = shipped_rows()
    assert len(source) == len(rows) == 164
    assert [r["id"] for r in rows] == [s["task_id"] for s in source]
    for r, s in zip(rows, source, strict=True):
        assert r["prompt"] == s["prompt"]
        assert r["target"] == {"test": s["test"], "entry_point": s["entry_point"],
                               "prompt": s["prompt"]}
        assert r["metadata"] == {"canonical_solution": s["canonical_solution"]}


@needs_raw
def test_converter_reproduces_the_shipped_folder(tmp_path, capsys) -> None:
    assert _converter().main(["--raw", str(RAW), "--out", str(tmp_path), "--only",
                              "humaneval"]) == 0
    assert "test.jsonl: 164 rows" in capsys.readouterr().out
    fresh = tmp_path / "humaneval"
    names = sorted(p.name for p in FOLDER.iterdir())
    assert names == ["LICENSE", "SOURCE.md", "test.jsonl"]
    assert names == sorted(p.name for p in fresh.iterdir())
    for name in names:
        assert (FOLDER / name).read_bytes() == (fresh / name).read_bytes(), name


def test_source_md_describes_the_file() -> None:
    data = SHIPPED.read_bytes()
    assert source_table("humaneval") == {
        "test.jsonl": (164, len(data), hashlib.sha256(data).hexdigest())}
    text = (FOLDER / "SOURCE.md").read_text(encoding="utf-8")
    assert "openai/human-eval" in text and "MIT" in text and "not a sandbox" in text
    assert "Copyright (c) OpenAI" in (FOLDER / "LICENSE").read_text(encoding="utf-8")


def test_config_loads_every_row_offline_and_switches_to_heroku(monkeypatch, capsys,
                                                               tmp_path) -> None:
    raw = tomllib.loads(CONFIG.read_text(encoding="utf-8"))
    cfg = load_config(CONFIG).config
    assert cfg.provider.kind == "local"
    (ds,) = cfg.datasets
    assert [s.name for s in ds.scorer_specs()] == ["code"] and ds.limit is None
    samples = list(load_samples(ROOT / ds.path, dataset=ds.name, columns=ds.columns,
                                template=ds.template, system=ds.system))
    assert len(samples) == 164
    first = samples[0]
    assert first.messages[0] == {"role": "system", "content": ds.system}
    assert first.messages[1]["content"] == first.target["prompt"]  # the stub, verbatim
    monkeypatch.chdir(ROOT)
    assert main(["validate", "configs/humaneval.toml"]) == 0
    assert "ok: 328 work items for 2 models" in capsys.readouterr().out
    # on Heroku: the same file with kind = "heroku" and the usual variables
    heroku = CONFIG.read_text(encoding="utf-8").replace('kind = "local"', 'kind = "heroku"', 1)
    assert heroku != CONFIG.read_text(encoding="utf-8")
    path = tmp_path / "humaneval-heroku.toml"
    path.write_text(heroku.replace('"datasets/', f'"{ROOT}/datasets/'), encoding="utf-8")
    monkeypatch.setenv("INFERENCE_URL", "https://us.inference.heroku.com")
    monkeypatch.setenv("INFERENCE_KEY", "inf-test-key-not-used")
    assert main(["validate", str(path)]) == 0
    assert load_config(path).config.provider.kind == "heroku"
    assert raw["run"]["max_cost_usd"] >= 4  # the worst case of 328 answers fits


def test_every_canonical_solution_passes_and_a_stub_fails() -> None:
    """The scorer passes the upstream reference of all 164 problems (as the completion it
    is) and fails the stub returning None: the tests really run."""
    scorer = get_scorer("code")
    failures = []
    for r in shipped_rows():
        s = scorer(Output(r["metadata"]["canonical_solution"], [], r["target"]))
        if s.value != 1.0:
            failures.append((r["id"], s.explanation))
    assert failures == []
    for r in shipped_rows()[:10]:
        s = scorer(Output("    return None\n", [], json.dumps(r["target"])))
        assert s.value == 0.0 and s.explanation, r["id"]


def test_config_runs_end_to_end_on_the_emulator(tmp_path) -> None:
    data = tomllib.loads(CONFIG.read_text(encoding="utf-8"))
    data["output_dir"] = str(tmp_path / "reports")
    data["provider"] = {"kind": "local", "emulator": {"speed": 0}}
    (ds,) = data["datasets"]
    ds["path"] = str(ROOT / ds["path"])
    ds["limit"] = 40
    path = tmp_path / "humaneval.toml"
    path.write_text(dump_toml(data), encoding="utf-8")
    outcome = run(load_config(path), RunOptions(progress=False))
    assert outcome.status == "complete" and outcome.sent == 80 and outcome.errors == 0
    df = pl.read_parquet(outcome.folder / "results.parquet")
    assert df.height == 80 and df["score_code"].is_in([0.0, 1.0]).all()
    assert df["output_text"].str.contains("```python").all()
    # the simulated models return the docstring's examples: most answers fail, some pass
    passed = df.filter(pl.col("score_code") == 1.0)
    assert 0 < passed.height < 10
    assert set(passed["sample_id"]) <= {"HumanEval/34"}  # its tests are its docstring example
    assert df["answer_code"].str.len_chars().max() <= 2000
    assert all(re.match(r"def |from |import ", a) for a in df["answer_code"])
