"""`pipeline report`: rebuild tables and reports from the journal, sending nothing."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from pipeline.cli import main
from tests.helpers import arith, demo_config

ARITH = arith(15)


@pytest.fixture()
def finished(tmp_path: Path, capsys) -> Path:
    cfg = demo_config(tmp_path, datasets=[ARITH])
    assert main(["run", str(cfg), "--run-id", "r", "--no-progress"]) == 0
    capsys.readouterr()
    return tmp_path / "reports" / "r"


def test_report_rebuilds_what_was_lost(finished: Path, capsys):
    before = pl.read_parquet(finished / "results.parquet")
    for name in ("results.parquet", "results.csv", "summary.parquet", "report.md", "report.html"):
        (finished / name).unlink()
    manifest = json.loads((finished / "manifest.json").read_text())
    manifest["status"] = "running"  # as the manifest is while a run sends: the process died
    del manifest["send_status"]
    (finished / "manifest.json").write_text(json.dumps(manifest))
    assert main(["report", str(finished)]) == 0
    out = capsys.readouterr().out
    # every item is in the journal: the run folder is complete, whatever the process did
    assert "claude-4-5-sonnet" in out and "status: complete" in out
    after = pl.read_parquet(finished / "results.parquet")
    assert after.equals(before)
    assert (finished / "report.html").exists() and (finished / "report.md").exists()


def test_report_with_other_scorers(finished: Path, tmp_path: Path):
    cfg = demo_config(tmp_path, datasets=[{**ARITH, "scorers": ["numeric", "includes"]}])
    assert main(["report", str(finished), "--config", str(cfg)]) == 0
    df = pl.read_parquet(finished / "results.parquet")
    assert {"score_numeric", "score_includes", "answer_includes"} <= set(df.columns)
    assert df.height == 30
    manifest = json.loads((finished / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["scored_with"] == str(cfg)


def test_report_refuses_a_config_with_other_requests(finished: Path, tmp_path: Path, capsys):
    before = (finished / "results.parquet").read_bytes()
    cfg = demo_config(tmp_path, datasets=[ARITH], generation={"max_tokens": 100,
                                                              "temperature": 0.5})
    assert main(["report", str(finished), "--config", str(cfg)]) == 2
    assert "none of the config's 30 requests is in the journal" in capsys.readouterr().err
    assert (finished / "results.parquet").read_bytes() == before
    manifest = json.loads((finished / "manifest.json").read_text())
    assert manifest["status"] == "complete"


def test_report_after_a_partial_rescore_restores_complete(finished: Path, tmp_path: Path):
    cfg = demo_config(tmp_path, datasets=[{**ARITH, "limit": 20}])  # 10 more than were run
    assert main(["report", str(finished), "--config", str(cfg)]) == 3  # incomplete
    assert json.loads((finished / "manifest.json").read_text())["status"] == "incomplete"
    assert main(["report", str(finished)]) == 0  # the run's own config: all 30 are there
    assert json.loads((finished / "manifest.json").read_text())["status"] == "complete"


def test_report_on_a_folder_that_is_not_a_run(tmp_path: Path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "not a run folder" in err and "\n" not in err


def test_report_waits_for_no_one_while_a_run_is_in_progress(finished: Path, capsys):
    from pipeline.runfolder import RunLock

    before = (finished / "results.parquet").read_bytes()
    with RunLock(finished):
        assert main(["report", str(finished)]) == 2
    assert "another pipeline process is running this run" in capsys.readouterr().err
    assert (finished / "results.parquet").read_bytes() == before
