"""The bundled public benchmarks (datasets/<benchmark>/, configs/benchmarks.toml): every file
loads with the config's settings, matches its SOURCE.md, scores a perfect answer 1 and a wrong
one 0, is reproduced byte for byte by scripts/convert_benchmarks.py, and runs on the emulator.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from pipeline.cli import main
from pipeline.config import load_config
from pipeline.datasets import Sample, load_samples
from pipeline.runner import RunOptions, run
from pipeline.scoring import Output, get_scorer
from tests.helpers import ROOT, offline_copy

CONFIG = ROOT / "configs" / "benchmarks.toml"
RAW = ROOT.parent / "shared" / "datasets-raw"
BENCHMARKS = ("gsm8k", "arc", "mmlu", "bfcl")
RAW_CONFIG = tomllib.loads(CONFIG.read_text())
DATASETS = {d["name"]: d for d in RAW_CONFIG["datasets"]}
JSON_SCHEMA_TYPES = {"object", "array", "string", "number", "integer", "boolean", "null"}
_TABLE_ROW = re.compile(r"^\| `([^`]+)` \| (\d+) \| (\d+) \| ([0-9a-f]{64}) \|$", re.MULTILINE)


def source_table(bench: str) -> dict[str, tuple[int, int, str]]:
    """SOURCE.md's file table: name -> (rows, bytes, sha256)."""
    text = (ROOT / "datasets" / bench / "SOURCE.md").read_text(encoding="utf-8")
    return {m[1]: (int(m[2]), int(m[3]), m[4]) for m in _TABLE_ROW.finditer(text)}


def samples(name: str) -> list[Sample]:
    """Every row of a configured dataset, read with the config's settings (no limit)."""
    ds = DATASETS[name]
    return list(load_samples(
        ROOT / ds["path"], dataset=name, columns=ds.get("columns"), template=ds.get("template"),
        system=ds.get("system"),
    ))


def scorer_of(name: str) -> str:
    spec = DATASETS[name]["scorers"][0]
    return spec if isinstance(spec, str) else spec["name"]


@pytest.fixture(scope="module")
def loaded() -> dict[str, list[Sample]]:
    return {name: samples(name) for name in DATASETS}


def test_validate_prints_the_configured_counts(monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("INFERENCE_URL", raising=False)
    assert main(["validate", "configs/benchmarks.toml"]) == 2  # the environment is checked
    assert "INFERENCE_URL is not set" in capsys.readouterr().err
    monkeypatch.setenv("INFERENCE_URL", "https://us.inference.heroku.com")
    monkeypatch.setenv("INFERENCE_KEY", "inf-test-key-not-used")
    assert main(["validate", "configs/benchmarks.toml"]) == 0
    out = capsys.readouterr().out
    for name, ds in DATASETS.items():
        assert f"{name}: {ds['limit']} samples (jsonl, {ds['path']}; " in out
    n = sum(ds["limit"] for ds in DATASETS.values()) * len(RAW_CONFIG["models"])
    assert f"ok: {n} work items for 2 models" in out
    cfg = load_config(CONFIG).config
    assert cfg.provider.kind == "heroku" and cfg.run.max_cost_usd == 5.0
    assert cfg.run.concurrency == 8
    assert [m.id for m in cfg.models] == ["claude-4-5-sonnet", "claude-4-5-haiku"]


def test_every_shipped_file_is_configured_and_counted_in_source_md(loaded):
    configured = {Path(ds["path"]).as_posix(): name for name, ds in DATASETS.items()}
    # BFCL's parallel and irrelevance categories are in configs/bfcl.toml (tests/test_bfcl.py)
    elsewhere = {Path(ds["path"]).as_posix() for ds in tomllib.loads(
        (ROOT / "configs" / "bfcl.toml").read_text())["datasets"]} - set(configured)
    for bench in BENCHMARKS:
        folder = ROOT / "datasets" / bench
        assert (folder / "LICENSE").stat().st_size > 500
        assert (folder / "SOURCE.md").is_file()
        shipped = sorted(p.name for p in folder.glob("*.jsonl"))
        table = source_table(bench)
        assert sorted(table) == shipped, f"{bench}: SOURCE.md lists other files"
        for fname in shipped:
            rel = f"datasets/{bench}/{fname}"
            assert rel in configured or rel in elsewhere, f"{rel} is in no bundled config"
            rows, size, _ = table[fname]
            if rel in configured:
                assert len(loaded[configured[rel]]) == rows
            else:
                assert len(list(load_samples(ROOT / rel, dataset=bench))) == rows
            assert (folder / fname).stat().st_size == size
    assert sum(p.stat().st_size for p in (ROOT / "datasets" / "mmlu").iterdir()) < 3_000_000


def test_rows_have_the_expected_shape(loaded):
    expected = {"gsm8k": 1319, "arc_challenge": 1172, "arc_easy": 2376}
    for name, n in expected.items():
        assert len(loaded[name]) == n
    for name, rows in loaded.items():
        for s in rows:
            assert s.messages[0] == {"role": "system", "content": DATASETS[name]["system"]}
            assert s.messages[-1]["role"] == "user"
    assert all(isinstance(s.target, str) and s.metadata["solution"] for s in loaded["gsm8k"])
    for name in ("arc_challenge", "arc_easy", "mmlu"):
        for s in loaded[name]:
            assert s.choices and re.fullmatch(r"[A-E]", s.target)
            assert ord(s.target) - 65 < len(s.choices)
    mmlu = loaded["mmlu"]
    assert len({s.metadata["subject"] for s in mmlu}) == 57
    assert len({s.metadata["subject"] for s in mmlu[:57]}) == 57  # interleaved for `limit`
    for name in ("bfcl_simple_python", "bfcl_multiple"):
        for s in loaded[name]:
            assert s.tools and s.metadata["category"] in name
            assert s.target["name"] in {t["function"]["name"] for t in s.tools}
            assert all(isinstance(v, list) and v for v in s.target["arguments"].values())


def _walk_schema(schema: dict[str, Any], where: str) -> None:
    assert isinstance(schema, dict), where
    if "type" in schema:
        assert schema["type"] in JSON_SCHEMA_TYPES, f"{where}: type {schema['type']!r}"
    assert "optional" not in schema, f"{where}: BFCL-only key"
    props = schema.get("properties")
    if props is not None:
        assert schema.get("type") == "object", where
        assert set(schema.get("required") or []) <= set(props), f"{where}: required"
        for k, v in props.items():
            _walk_schema(v, f"{where}.{k}")
    if isinstance(schema.get("items"), dict):
        assert schema.get("type") == "array", where
        _walk_schema(schema["items"], f"{where}[]")


_PY_TYPES = {"object": dict, "array": list, "string": str, "integer": int,
             "number": (int, float), "boolean": bool}


def _conforms(value: Any, schema: dict[str, Any], where: str) -> None:
    """The target's arguments satisfy the tool's schema (type, enum, required, properties)."""
    t = schema.get("type")
    if t:
        ok = isinstance(value, _PY_TYPES[t]) and not (
            t in ("integer", "number") and isinstance(value, bool))
        assert ok, f"{where}: {value!r} is not {t}"
    if "enum" in schema:
        assert value in schema["enum"], f"{where}: {value!r} not in enum"
    if isinstance(value, dict) and "properties" in schema:
        assert set(schema.get("required") or []) <= set(value), f"{where}: required missing"
        for k, v in value.items():
            assert k in schema["properties"], f"{where}: unknown argument {k}"
            _conforms(v, schema["properties"][k], f"{where}.{k}")
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, v in enumerate(value):
            _conforms(v, schema["items"], f"{where}[{i}]")


def test_bfcl_tools_are_valid_json_schema_and_targets_conform(loaded):
    for name in ("bfcl_simple_python", "bfcl_multiple"):
        for s in loaded[name]:
            names = [t["function"]["name"] for t in s.tools]
            assert len(set(names)) == len(names)
            for tool in s.tools:
                fn = tool["function"]
                assert tool["type"] == "function" and isinstance(fn["description"], str)
                assert re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", fn["name"]), fn["name"]
                assert fn["parameters"]["type"] == "object"
                _walk_schema(fn["parameters"], f"{s.sample_id}:{fn['name']}")
            _conforms(_first(s.target["arguments"], _params(s)), _params(s), s.sample_id)


def _first(value: Any, schema: dict[str, Any] | None = None) -> Any:
    """A call's arguments from BFCL acceptable values: optional arguments that may be left
    out ("" listed) are left out, the others take their first listed value; nested alike."""
    schema = schema or {}
    if isinstance(value, dict):
        props, required = schema.get("properties") or {}, set(schema.get("required") or [])
        out = {}
        for k, alts in value.items():
            given = [a for a in alts if a != ""]
            if given and ("" not in alts or k in required):
                out[k] = _first(given[0], props.get(k))
        return out
    if isinstance(value, list):
        return [_first(v, schema.get("items")) for v in value]
    return value


def _params(s: Sample) -> dict[str, Any]:
    tool = next(t for t in s.tools if t["function"]["name"] == s.target["name"])
    return tool["function"]["parameters"]


def _wrong_value(alts: list[Any]) -> Any:
    """A value of the same type as the acceptable ones that none of them equals."""
    v = next(a for a in alts if a != "")
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        return max(a for a in alts if isinstance(a, int | float)) + 1000.5
    if isinstance(v, str):
        return "definitely-not-" + v
    return None


def _tool_calls(call: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"id": "call_0", "type": "function", "function": {
        "name": call["name"], "arguments": json.dumps(call["arguments"])}}]


def _answers(kind: str, s: Sample) -> tuple[Output, list[Output]]:
    """A perfect answer built from the target, and wrong ones."""
    def out(text: str = "", calls: list[dict[str, Any]] | None = None) -> Output:
        return Output(text=text, tool_calls=calls or [], target=s.target, choices=s.choices)

    if kind == "numeric":
        wrong = float(s.target) + 1
        return out(f"Answer: {s.target}"), [out(f"Answer: {wrong:g}"), out("no idea")]
    if kind == "choice":
        other = chr(65 + (ord(s.target) - 65 + 1) % len(s.choices))
        return out(f"Answer: {s.target}"), [out(f"Answer: {other}"), out("")]
    assert kind == "tool_call_any"
    args = _first(s.target["arguments"], _params(s))
    call = {"name": s.target["name"], "arguments": args}
    perfect = out(calls=_tool_calls(call))
    wrong = [out(calls=_tool_calls({**call, "name": call["name"] + "_x"})),
             out("I would call a tool."),
             out(calls=_tool_calls({**call, "arguments": {**args, "unexpected_argument": 1}}))]
    required = [k for k, alts in s.target["arguments"].items() if "" not in alts]
    if required:
        wrong.append(out(calls=_tool_calls({**call, "arguments": {
            k: v for k, v in args.items() if k != required[0]}})))
        bad = _wrong_value(s.target["arguments"][required[0]])
        if bad is not None:
            wrong.append(out(calls=_tool_calls({**call, "arguments": {
                **args, required[0]: bad}})))
    return perfect, wrong


def test_scorer_round_trip_on_every_row(loaded):
    for name, rows in loaded.items():
        kind = scorer_of(name)
        scorer = get_scorer(kind)
        for s in rows:
            perfect, wrong = _answers(kind, s)
            assert scorer(perfect).value == 1.0, f"{name} {s.sample_id}: perfect scored 0"
            for w in wrong:
                assert scorer(w).value == 0.0, f"{name} {s.sample_id}: wrong scored 1"
    numeric = get_scorer("numeric")
    for s in loaded["gsm8k"]:  # the upstream solution itself ends '#### N'
        assert numeric(Output(s.metadata["solution"], [], s.target)).value == 1.0


def _converter():
    """scripts/convert_benchmarks.py as a module (registered: its dataclasses need that)."""
    name = "convert_benchmarks"
    if name not in sys.modules:
        path = ROOT / "scripts" / "convert_benchmarks.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.mark.skipif(not RAW.is_dir(), reason=f"raw benchmark copies not found at {RAW}")
def test_converter_reproduces_the_committed_files(tmp_path, capsys):
    assert _converter().main(["--raw", str(RAW), "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    for bench in BENCHMARKS:
        committed = ROOT / "datasets" / bench
        fresh = tmp_path / bench
        names = sorted(p.name for p in committed.iterdir())
        assert names == sorted(p.name for p in fresh.iterdir()), bench
        for n in names:
            assert (committed / n).read_bytes() == (fresh / n).read_bytes(), f"{bench}/{n}"


def test_converter_refuses_a_changed_raw_file(tmp_path, capsys):
    gsm = tmp_path / "raw" / "gsm8k"
    gsm.mkdir(parents=True)
    (gsm / "SOURCE.txt").write_text(f"sha256:\n{'0' * 64}  test.jsonl\n{'0' * 64}  LICENSE\n")
    (gsm / "test.jsonl").write_text('{"question": "1+1?", "answer": "#### 2"}\n')
    (gsm / "LICENSE").write_text("MIT\n")
    conv = _converter()
    rc = conv.main(["--raw", str(tmp_path / "raw"), "--out", str(tmp_path / "out"),
                    "--only", "gsm8k"])
    assert rc == 1 and "differs from SOURCE.txt" in capsys.readouterr().err
    assert not (tmp_path / "out" / "gsm8k" / "test.jsonl").exists()


def test_benchmarks_run_end_to_end_on_the_emulator(tmp_path):
    path = offline_copy(RAW_CONFIG, tmp_path, 5, name="benchmarks-local")
    data = tomllib.loads(path.read_text())
    outcome = run(load_config(path), RunOptions(progress=False))
    n = 5 * len(DATASETS) * len(data["models"])
    assert outcome.status == "complete" and outcome.sent == n and outcome.errors == 0
    df = pl.read_parquet(outcome.folder / "results.parquet")
    assert df.height == n and df["status"].to_list() == ["ok"] * n
    assert sorted(df["dataset"].unique()) == sorted(DATASETS)
    assert df["score"].is_between(0, 1).all()


SCALE_COLUMNS = (
    "| items | peak RSS | first request | CPU/item | wall | items/s | report RSS | report wall | "
    "raw CPU/item | CPU vs raw | raw wall | raw first request |",
    "| items | sent before SIGTERM | sent by the resume | resume peak RSS | "
    "resume first request | resume wall | first part peak RSS |",
    "| what | wall | vs ideal | first request | peak RSS | CPU | most in flight |",
    "| target | measured | met |",
)


def test_scale_bench_runs_end_to_end_at_a_tiny_size(tmp_path):
    """bench/bench_scale.py (issue 7's `make bench` figures) at 200 items: every scenario runs
    to completion and its table has every column. No timing is asserted, only that it ran."""
    out = tmp_path / "scale"
    cmd = [sys.executable, str(ROOT / "bench" / "bench_scale.py"), "--sizes", "200",
           "--resume-size", "200", "--resume-delay-ms", "500", "--latency-items", "200",
           "--latency-ms", "20", "--out-dir", str(out), "--no-pin"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    md = (out / "scale.md").read_text()
    assert md.strip() == proc.stdout.strip()
    for header in SCALE_COLUMNS:
        assert header in md, header
    assert md.count("| 200 |") == 2  # the size row and the resume row
    res = json.loads((out / "scale.json").read_text())
    (size,) = res["sizes"]
    assert size["items"] == 200 and size["run"]["status"] == "complete"
    assert size["run"]["rc"] == size["report"]["rc"] == size["raw"]["rc"] == 0
    assert size["run"]["maxrss_mb"] > 10 and size["run"]["cpu_s"] > 0
    resume = res["resume"]
    assert resume["first_part"]["rc"] == 130 and resume["resume"]["rc"] == 0
    assert resume["resume"]["status"] == "complete"
    assert 0 < resume["resume"]["sent"] < 200 <= resume["sent_before"] + resume["resume"]["sent"]
    assert res["latency"]["run"]["status"] == "complete" and res["latency"]["raw"]["rc"] == 0
    assert not list((out / "runs").iterdir())  # run folders removed without --keep-runs


def test_fast_server_answers_a_valid_chat_completion_echoing_the_model():
    """The bench server's canned answer is valid JSON whatever the model id holds (the end-to-end
    test above shows the pipeline reads it)."""
    sys.path.insert(0, str(ROOT / "bench"))
    import fast_server

    body = json.dumps({"model": 'm "1" \\', "messages": [{"role": "user", "content": "hi"}]})
    model = fast_server._MODEL.search(body.encode())[1]
    answer = json.loads(fast_server._ANSWER % (7, 0, model, 3, 7))
    assert answer["object"] == "chat.completion" and answer["model"] == 'm "1" \\'
    (choice,) = answer["choices"]
    assert choice["message"] == {"role": "assistant", "content": "Answer: 42"}
    assert choice["finish_reason"] == "stop"
    assert answer["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
