"""A scheduled job that decides: gates, exit codes, --json, and progress lines in a log."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import polars as pl
import pytest

from pipeline.cli import main
from pipeline.config import Gates
from pipeline.gates import evaluate
from pipeline.outcome import SCHEMA_FILE
from tests.helpers import arith, demo_config, emulator

ARITH = arith(15)  # sonnet 13/15 = 86.7 %, haiku 12/15 = 80.0 % on the emulator at seed 0
SCHEMA = json.loads(SCHEMA_FILE.read_text())


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("gates")
    cfg = demo_config(tmp, datasets=[ARITH])
    assert main(["run", str(cfg), "--run-id", "r", "--no-progress", "-q"]) == 0
    return tmp, tmp / "reports" / "r"


def _report(finished, capsys, gates: dict, *extra: str) -> tuple[int, str, str]:
    tmp, folder = finished
    cfg = demo_config(tmp / "g", datasets=[ARITH], gates=gates)
    code = main(["report", str(folder), "--config", str(cfg), *extra])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(("gates", "code", "line"), [
    ({"min_score": 0.75}, 0, None),
    ({"min_score": 0.85}, 1, "gate min_score failed: claude-4-5-haiku: score over all datasets "
                            "80.0% is below the minimum 85.0%"),
    ({"score": [{"model": "claude-4-5-sonnet", "dataset": "arith", "min": 0.8}]}, 0, None),
    ({"score": [{"model": "claude-4-5-sonnet", "dataset": "arith", "min": 0.9}]}, 1,
     "gate score failed: claude-4-5-sonnet on arith: score 86.7% is below the minimum 90.0%"),
    ({"score": [{"dataset": "arith", "min": 0.82}]}, 1,
     "gate score failed: claude-4-5-haiku on arith: score 80.0% is below the minimum 82.0%"),
    ({"max_cost_usd": 1.0}, 0, None),
    ({"max_cost_usd": 0.001}, 1, "gate max_cost_usd failed: run: spent $0.0032 is above the "
                                 "maximum $0.0010"),
    ({"max_latency_p95_s": 60.0}, 0, None),
    ({"max_latency_p95_s": 1e-9}, 1, "gate max_latency_p95_s failed: claude-4-5-sonnet: p95 "
                                     "latency"),
    ({"max_error_rate": 0.0}, 0, None),
    ({"no_regression": True}, 1, "gate no_regression failed: this run has no baseline"),
])
def test_each_gate_passes_and_fails_with_its_exit_code(finished, capsys, gates, code, line):
    got, out, err = _report(finished, capsys, gates)
    assert got == code, err
    if line is None:
        assert "gate" not in err and "gate checks passed" in out
    else:
        assert line in err
        assert "error: " in err and "gate checks failed" in err


def _one_permanent_error(tmp_path: Path) -> dict:
    rows = tmp_path / "rows.jsonl"
    lines = [{"question": f"What is {i} + 1?", "answer": str(i + 1)} for i in range(10)]
    lines[3]["generation"] = {"max_tokens": 6000}  # Haiku refuses it with a 400, for good
    rows.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return arith(10, path=str(rows))


@pytest.mark.parametrize(("max_error_rate", "code", "reason"), [
    (0.0, 3, "errors_above_max"),  # the run is not usable: 3, whatever the gates say
    (0.1, 1, "gate_failed"),  # the run is usable, but the gate wants at most 5 % per model
])
def test_error_rate_gate_and_max_error_rate_exit_differently(tmp_path, capsys, max_error_rate,
                                                             code, reason):
    cfg = demo_config(tmp_path, datasets=[_one_permanent_error(tmp_path)],
                      models=[{"id": "claude-4-5-haiku"}],
                      run={"max_error_rate": max_error_rate}, gates={"max_error_rate": 0.05})
    got = main(["run", str(cfg), "--run-id", "e", "--no-progress", "--json"])
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert got == code == doc["exit_code"] and doc["exit_reason"] == reason
    assert doc["items"]["failed"] == 1 and doc["status"] == "complete_with_errors"
    assert "gate max_error_rate failed: claude-4-5-haiku: items failed for good: 10.0% is " \
           "above the maximum 5.0%" in err


def test_exit_3_for_a_budget_stop_even_when_gates_pass(tmp_path, capsys):
    cfg = demo_config(tmp_path, datasets=[arith(40)], run={"max_cost_usd": 0.002},
                      gates={"min_score": 0.0})
    code = main(["run", str(cfg), "--run-id", "b", "--no-progress", "--json"])
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert code == 3 and doc["exit_code"] == 3 and doc["exit_reason"] == "incomplete"
    assert doc["status"] == "budget_exhausted" and doc["items"]["pending"] > 0
    assert "error: incomplete:" in err and "--run-id b" in err


def test_json_document_matches_its_schema_and_stdout_has_nothing_else(tmp_path, capsys):
    cfg = demo_config(tmp_path, datasets=[ARITH], gates={"min_score": 0.85})
    code = main(["run", str(cfg), "--run-id", "j", "--no-progress", "--json"])
    out, err = capsys.readouterr()
    doc = json.loads(out)  # the whole of stdout is one JSON document
    jsonschema.validate(doc, SCHEMA)
    assert code == 1 == doc["exit_code"] and doc["exit_reason"] == "gate_failed"
    assert doc["run_id"] == "j" and doc["status"] == "complete" and doc["simulated"] is True
    assert doc["items"] == {"planned": 30, "done": 30, "pending": 0, "failed": 0,
                            "error_rate": 0.0, "sent_now": 30, "already_done": 0,
                            "errors_now": 0}
    models = {m["model"]: m for m in doc["models"]}
    assert models["claude-4-5-haiku"]["accuracy"] == pytest.approx(0.8)
    assert {(r["model"], r["dataset"]) for r in doc["by_dataset"]} == {
        ("claude-4-5-sonnet", "arith"), ("claude-4-5-haiku", "arith")}
    gates = {g["scope"]: g for g in doc["gates"]}
    assert gates["claude-4-5-haiku"]["passed"] is False and gates["claude-4-5-haiku"]["value"] \
        == pytest.approx(0.8) and gates["claude-4-5-haiku"]["limit"] == 0.85
    assert gates["claude-4-5-sonnet"]["passed"] is True and doc["gates_passed"] is False
    summary = pl.read_parquet(tmp_path / "reports/j/summary.parquet")
    assert doc["cost"]["spent_usd"] == pytest.approx(summary["cost_usd"].sum())
    assert Path(doc["paths"]["report_html"]).exists()
    manifest = json.loads((tmp_path / "reports/j/manifest.json").read_text())
    assert doc["headline"] == manifest["headline"] and doc["headline"][0].startswith(
        "arith: claude-4-5-haiku scores")  # one dataset: its sentence is the whole answer
    # every human line went to stderr
    assert "claude-4-5-haiku" in err and "status: complete" in err and "run folder:" in err


def test_json_on_bad_input_is_still_one_document(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[[models]]\nid = "claude-4-5-haiku"\n')
    code = main(["run", str(bad), "--json"])
    out, err = capsys.readouterr()
    doc = json.loads(out)
    jsonschema.validate(doc, SCHEMA)
    assert code == 2 == doc["exit_code"] and doc["exit_reason"] == "bad_input"
    assert "datasets" in doc["message"] and err.startswith("error: ")


def test_gate_names_must_exist_in_the_config(tmp_path, capsys):
    cfg = demo_config(tmp_path, datasets=[ARITH],
                      gates={"score": [{"model": "claude-9", "min": 0.5}]})
    assert main(["validate", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "gates.score[0].model: no model named 'claude-9'" in err


def test_unknown_figures_fail_their_gates(tmp_path):
    """No price, no scored answer, no successful request: unknown, so the gate fails."""
    folder = tmp_path / "f"
    folder.mkdir()
    pl.DataFrame({"model": ["m"], "items": [4], "failed": [4], "accuracy": [None],
                  "latency_p95_s": [None]},
                 schema={"model": pl.String, "items": pl.UInt32, "failed": pl.UInt32,
                         "accuracy": pl.Float64, "latency_p95_s": pl.Float64}
                 ).write_parquet(folder / "summary.parquet")
    manifest = {"totals": {"spent_usd": 0.0, "unpriced_rows": 4, "spent_known": False}}
    gates = Gates(min_score=0.1, max_cost_usd=1.0, max_latency_p95_s=5.0, max_error_rate=1.0)
    res = {g.gate: g for g in evaluate(gates, folder, manifest, ["m"])}
    assert not res["min_score"].passed and res["min_score"].value is None
    assert not res["max_cost_usd"].passed and "4 answers have no price" in \
        res["max_cost_usd"].message
    assert not res["max_latency_p95_s"].passed
    assert res["max_error_rate"].passed and res["max_error_rate"].value == 1.0


def test_progress_lines_off_a_terminal(tmp_path, capsys):
    # ~40 requests at the emulator's real latencies (speed 1: tens of ms each), concurrency 2
    cfg = demo_config(tmp_path, speed=1.0, datasets=[arith(20)], run={"concurrency": 2})
    code = main(["run", str(cfg), "--run-id", "p", "--progress-interval", "0.2"])
    out, err = capsys.readouterr()
    assert code == 0
    lines = [x for x in err.splitlines() if x.startswith("progress: ")]
    assert len(lines) >= 3, err  # during the run, and one at the end
    assert lines[-1].startswith("progress: 40/40 items (100%)") and "sending done" in lines[-1]
    assert any("ETA" in x and "/40 items" in x and "$" in x for x in lines[:-1])
    assert "claude-4-5-haiku" in out  # the end-of-run summary is in the log too


def test_quiet_prints_only_the_status_line(tmp_path, capsys):
    cfg = demo_config(tmp_path, datasets=[arith(5)])
    assert main(["run", str(cfg), "--run-id", "q", "-q"]) == 0
    out, err = capsys.readouterr()
    assert out.strip().startswith("10 items finished now") and out.count("\n") == 2
    assert "progress:" not in err


def test_a_closed_pipe_is_quiet(finished, monkeypatch, capsys, tmp_path):
    """`pipeline report RUN | head -1`: the reader left early; no 'internal error'."""
    import sys

    sink = open(tmp_path / "sink", "w")  # noqa: SIM115  (a real fd for dup2)

    class Closed:
        def write(self, _text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            pass

        def fileno(self):
            return sink.fileno()

    monkeypatch.setattr(sys, "stdout", Closed())
    assert main(["report", str(finished[1])]) == 141
    assert "internal error" not in capsys.readouterr().err
    sink.close()


def test_no_regression_gate_against_the_latest_run(tmp_path, capsys):
    ds = [arith(40)]
    cfg = demo_config(tmp_path, datasets=ds, gates={"no_regression": True})
    assert main(["run", str(cfg), "--run-id", "r1", "-q"]) == 2  # no --baseline: refused
    assert "gates.no_regression needs a baseline" in capsys.readouterr().err
    assert not (tmp_path / "reports/r1").exists()  # nothing sent
    plain = demo_config(tmp_path, datasets=ds)
    assert main(["run", str(plain), "--run-id", "r1", "-q"]) == 0
    assert main(["run", str(cfg), "--run-id", "r2", "-q", "--baseline", "latest"]) == 0
    worse = demo_config(tmp_path, datasets=ds, gates={"no_regression": True},
                        provider=emulator(accuracy={"claude-4-5-haiku": 0.2}))
    capsys.readouterr()
    code = main(["run", str(worse), "--run-id", "r3", "--baseline", "latest", "--json"])
    out, err = capsys.readouterr()
    doc = json.loads(out)
    jsonschema.validate(doc, SCHEMA)
    assert code == 1 and doc["baseline"]["run_id"] == "r2"
    bad = [g for g in doc["gates"] if not g["passed"]]
    assert bad and {g["scope"].split(" on ")[0] for g in bad} == {"claude-4-5-haiku"}
    assert all(g["value"] < 0 for g in bad)
    assert "gate no_regression failed: claude-4-5-haiku" in err and "regressed" in err
