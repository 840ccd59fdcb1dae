"""Scorers of the user's own: a function beside the config (the README's example, run as
written), typed options validated with the config, installed packages' entry points, and a
bad scorer that can neither crash a run nor put a wrong number in a table."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

import polars as pl
import pytest

from pipeline.cli import main
from pipeline.config import load_config
from pipeline.errors import ConfigError
from tests.helpers import ROOT, demo_config

README = (ROOT / "README.md").read_text()


def _readme_example() -> tuple[str, dict]:
    section = README[README.index("### Your own scorers"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    toml = re.search(r"```toml\n(.*?)```", section, re.S).group(1)
    return code, tomllib.loads(toml)


def _arith(folder: Path, n: int = 12) -> None:
    lines = (ROOT / "datasets/demo/arithmetic.jsonl").read_text().splitlines()[:n]
    (folder / "arith.jsonl").write_text("\n".join(lines) + "\n")


@pytest.fixture
def clean_modules():
    before = set(sys.modules)
    path = list(sys.path)
    yield
    for name in set(sys.modules) - before:
        if name.startswith(("myscorers", "fancy_scorers", "broken_scorers")):
            del sys.modules[name]
    sys.path[:] = path


def test_the_readme_example_runs_as_written(tmp_path: Path, capsys, clean_modules):
    code, data = _readme_example()
    folder = tmp_path / "elsewhere"  # a folder outside the package, beside the config
    folder.mkdir()
    (folder / "myscorers.py").write_text(code)
    _arith(folder)
    cfg = demo_config(folder, datasets=data["datasets"])
    assert main(["run", str(cfg), "--run-id", "r", "--no-progress", "-q"]) == 0
    rows = pl.read_parquet(folder / "reports/r/results.parquet")
    assert {"score_near", "answer_near", "explanation_near", "score_numeric",
            "explanation_numeric"} <= set(rows.columns)
    ok = rows.filter(pl.col("status") == "ok")
    assert ok.height == 24
    # the function saw its options (tolerance 0.5): near never scores below numeric
    assert (ok["score_near"] >= ok["score_numeric"]).all()
    wrong = ok.filter(pl.col("score_near") == 0)
    assert wrong.height > 0 and wrong["explanation_near"].str.starts_with("off by").all()
    assert ok.filter(pl.col("score_near") == 1)["explanation_near"].null_count() == \
        ok.filter(pl.col("score_near") == 1).height
    assert (ok["score"] == ok["score_numeric"]).all()  # the first scorer drives accuracy


def _config(tmp_path: Path, scorers: list, code: str | None = None) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    if code is not None:
        (tmp_path / "myscorers.py").write_text(code)
    _arith(tmp_path)
    return demo_config(tmp_path, datasets=[{
        "name": "arith", "path": "arith.jsonl", "template": "{question}",
        "columns": {"target": "answer"}, "scorers": scorers}])


def _problem(cfg: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(cfg)
    return str(info.value)


def test_options_are_validated_with_field_paths(tmp_path: Path, clean_modules):
    code, _ = _readme_example()
    bad = _config(tmp_path / "a", [{"function": "myscorers:near", "tolerance": "wide"}], code)
    assert "datasets[0].scorers[0].tolerance:" in _problem(bad)
    extra = _config(tmp_path / "b", [{"function": "myscorers:near", "tolerence": 1}], code)
    assert "datasets[0].scorers[0].tolerence:" in _problem(extra)
    code_opts = _config(tmp_path / "c", [{"name": "code", "timeout_s": 0}])
    assert "datasets[0].scorers[0].timeout_s: Input should be greater than 0" in _problem(
        code_opts)
    none = _config(tmp_path / "d", [{"name": "numeric", "pattern": "x"}])
    assert "scorer 'numeric' takes no options (got pattern)" in _problem(none)
    regex = _config(tmp_path / "e", [{"name": "regex", "pattern": "("}])
    assert "datasets[0].scorers[0].pattern: not a valid regular expression" in _problem(regex)
    good = load_config(_config(tmp_path / "f", [{"name": "code", "timeout_s": 2.5}]))
    (spec,) = good.config.datasets[0].scorers
    assert spec.resolved()[2] == {"timeout_s": 2.5, "memory_mb": 512}


def test_a_function_that_cannot_be_found_is_one_clear_error(tmp_path: Path, clean_modules):
    missing = _config(tmp_path / "a", [{"function": "nowhere_module:grade"}])
    msg = _problem(missing)
    assert "datasets[0].scorers[0]: cannot import 'nowhere_module'" in msg
    no_attr = _config(tmp_path / "b", [{"function": "myscorers:nope"}], "x = 1\n")
    assert "module 'myscorers' has no 'nope'" in _problem(no_attr)
    form = _config(tmp_path / "c", [{"function": "myscorers.grade"}], "x = 1\n")
    assert "must be 'module:function'" in _problem(form)
    both = _config(tmp_path / "d", [{"function": "myscorers:x", "name": "exact"}], "x = 1\n")
    assert "give either name" in _problem(both)
    broken = _config(tmp_path / "e", [{"function": "broken_scorers:f"}])
    (tmp_path / "e" / "broken_scorers.py").write_text("raise RuntimeError('boom')\n")
    assert "importing 'broken_scorers' failed: RuntimeError: boom" in _problem(broken)


def test_an_installed_package_registers_scorers_by_entry_point(
        tmp_path: Path, monkeypatch, capsys, clean_modules):
    site = tmp_path / "site"
    dist = site / "fancy_scorers-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fancy-scorers\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[pipeline.scorers]\nshouty = fancy_scorers:shouty\n")
    (site / "fancy_scorers.py").write_text(
        "from pipeline.scoring import Score\n"
        "def shouty(out):\n"
        "    return Score(float(out.text.isupper()), out.text[:5], 'upper?')\n")
    monkeypatch.syspath_prepend(str(site))
    cfg = _config(tmp_path / "cfg", ["numeric", "shouty"])
    assert main(["run", str(cfg), "--run-id", "r", "--no-progress", "-q"]) == 0
    rows = pl.read_parquet(tmp_path / "cfg/reports/r/results.parquet")
    assert rows["explanation_shouty"].to_list() == ["upper?"] * 24
    assert "unknown scorer 'shoutier'" in _problem(_config(tmp_path / "x", ["shoutier"]))


BAD = '''
from pipeline.scoring import Score

def raises(out):
    raise KeyError("target")

def not_a_score(out):
    return 1.0

def too_big(out):
    return Score(2.0, "x")

def nan(out):
    return Score(float("nan"), "x")

def a_bool(out):
    return Score(True, "x")
'''


def test_a_bad_scorer_scores_zero_and_says_why(tmp_path: Path, clean_modules):
    names = ["raises", "not_a_score", "too_big", "nan", "a_bool"]
    cfg = _config(tmp_path, [{"function": f"myscorers:{n}"} for n in names], BAD)
    assert main(["run", str(cfg), "--run-id", "r", "--no-progress", "-q"]) == 0
    row = pl.read_parquet(tmp_path / "reports/r/results.parquet").row(0, named=True)
    assert [row[f"score_{n}"] for n in names] == [0.0, 0.0, 0.0, 0.0, 1.0]
    assert row["explanation_raises"] == "scorer error: KeyError: 'target'"
    assert row["explanation_not_a_score"] == "scorer error: returned float, not a Score"
    assert row["explanation_too_big"] == "scorer error: value 2.0 is not a number from 0 to 1"
    assert row["explanation_nan"] == "scorer error: value nan is not a number from 0 to 1"


def test_pipeline_report_rescores_with_the_function_beside_the_config(
        tmp_path: Path, monkeypatch, clean_modules):
    code, _ = _readme_example()
    cfg = _config(tmp_path, ["numeric", {"function": "myscorers:near", "tolerance": 1000}],
                  code)
    assert main(["run", str(cfg), "--run-id", "r", "--no-progress", "-q"]) == 0
    monkeypatch.chdir("/")  # another folder: the module is found beside the config
    for name in [m for m in sys.modules if m.startswith("myscorers")]:
        del sys.modules[name]
    sys.path[:] = [p for p in sys.path if p != str(tmp_path)]
    assert main(["report", str(tmp_path / "reports/r"), "-q"]) == 0
    rows = pl.read_parquet(tmp_path / "reports/r/results.parquet")
    assert rows["score_near"].to_list() == [1.0] * 24


def test_builtin_options_reach_the_scorer(tmp_path: Path):
    from pipeline.scoring import Output

    ok = load_config(_config(tmp_path / "a", [
        {"name": "json_schema", "schema": {"type": "object", "required": ["name"]}},
        {"name": "f1", "answer_pattern": "Answer: (.*)"}, {"name": "ifeval", "mode": "loose"}]))
    specs = ok.config.datasets[0].scorers
    name, fn, opts = specs[0].resolved()
    assert opts == {"schema": {"type": "object", "required": ["name"]}}
    assert fn(Output('{"name": 1}', [], None, options=opts)).value == 1.0
    assert fn(Output('{"nom": 1}', [], None, options=opts)).value == 0.0
    name, fn, opts = specs[1].resolved()
    assert opts == {"answer_pattern": "Answer: (.*)", "ignore_case": True}
    assert fn(Output("I think Paris.\nAnswer: Paris", [], "Paris", options=opts)).value == 1.0
    assert specs[2].resolved()[2] == {"mode": "loose"}
    bad = _config(tmp_path / "b", [{"name": "f1", "answer_pattern": "("}])
    assert "datasets[0].scorers[0].answer_pattern: not a valid regular expression" in _problem(
        bad)
    mode = _config(tmp_path / "c", [{"name": "ifeval", "mode": "lenient"}])
    assert "datasets[0].scorers[0].mode:" in _problem(mode)
