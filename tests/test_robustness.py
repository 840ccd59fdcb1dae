"""Failure paths found in review: each gives one clear line, keeps what was paid for."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from pipeline.cli import main
from pipeline.config import load_config, parse_config
from pipeline.emulator import EmulatorConfig, EmulatorServer
from pipeline.errors import ConfigError
from pipeline.journal import Journal, read_journal
from pipeline.runfolder import RunLock
from pipeline.runner import RunOptions, run
from tests.helpers import ROOT, arith, demo_config

ARITH = arith(10)


def err_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_budget_holds_across_resumes(tmp_path: Path, capsys):
    cfg = demo_config(tmp_path, datasets=[{**ARITH, "limit": 120}],
                      generation={"max_tokens": 32, "temperature": 0.0},
                      run={"concurrency": 1, "max_cost_usd": 0.003})
    for _ in range(3):
        assert main(["run", str(cfg), "--run-id", "b", "--no-progress"]) == 3
        assert "max_cost_usd 0.003 reached" in capsys.readouterr().err
    rows = list(read_journal(tmp_path / "reports/b"))
    spent = sum(r["cost_usd"] for r in rows)
    assert 0.001 < spent <= 0.003  # never over: each request reserved its worst case
    manifest = json.loads((tmp_path / "reports/b/manifest.json").read_text())
    assert manifest["status"] == "budget_exhausted" and manifest["invocations"] == 3


def test_a_cap_below_one_requests_worst_case_sends_nothing(tmp_path: Path, capsys):
    data = tmp_path / "one.jsonl"  # one item, whose worst case is above the cap
    data.write_text(json.dumps({"question": "What is 2 + 3?", "answer": "5"}) + "\n")
    cfg = demo_config(tmp_path, datasets=[{**ARITH, "path": str(data)}],
                      models=[{"id": "claude-4-5-haiku"}],
                      run={"concurrency": 1, "max_cost_usd": 0.00001})
    assert main(["run", str(cfg), "--run-id", "last", "--no-progress"]) == 3
    assert "max_cost_usd 1e-05 is less than one request may cost" in capsys.readouterr().err
    assert list(read_journal(tmp_path / "reports/last")) == []


def test_budget_needs_prices():
    with pytest.raises(ConfigError, match=r"models\[0\]\.price: run\.max_cost_usd needs a price"):
        parse_config({"name": "x", "models": [{"id": "my-model"}], "run": {"max_cost_usd": 1},
                      "datasets": [{"name": "d", "path": "x.jsonl"}]})


def test_regex_pattern_checked_at_config_time(tmp_path: Path, capsys):
    cfg = demo_config(tmp_path, datasets=[{**ARITH, "scorers": [{"name": "regex",
                                                                 "pattern": "("}]}])
    assert main(["validate", str(cfg)]) == 2
    assert "datasets[0].scorers[0].pattern: not a valid regular expression" in err_line(capsys)


def test_target_that_is_not_a_regex_is_matched_literally(tmp_path: Path):
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"prompt": "What is 2 + 2?", "target": "Answer: 4 (f(x"}) + "\n")
    loaded = load_config(demo_config(tmp_path, datasets=[
        {"name": "d", "path": str(data), "scorers": ["regex", "numeric"]}]))
    out = run(loaded, RunOptions(progress=False))
    assert out.status == "complete"
    df = pl.read_parquet(out.folder / "results.parquet")
    assert df.height == 2 and df["score_regex"].is_not_null().all()
    from pipeline.scoring import SCORERS
    from pipeline.scoring.base import Output

    hit = SCORERS["regex"](Output("so: Answer: 4 (f(x", [], "Answer: 4 (f(x"))
    assert (hit.value, hit.answer) == (1.0, "Answer: 4 (f(x")


@pytest.mark.parametrize(
    ("template", "words"),
    [("{question:d}", "template cannot be filled from this row"),
     ("{question:{w}}", "only plain {column} placeholders"),
     ("{question", "invalid template")],
)
def test_template_mistakes_are_one_line(tmp_path: Path, capsys, template, words):
    cfg = demo_config(tmp_path, datasets=[{**ARITH, "template": template}])
    assert main(["validate", str(cfg)]) == 2
    assert words in err_line(capsys)


def test_row_tools_and_generation_are_validated_with_file_and_line(tmp_path: Path, capsys):
    data = tmp_path / "d.jsonl"
    data.write_text(
        json.dumps({"prompt": "a", "target": "1"}) + "\n"
        + json.dumps({"prompt": "b", "target": "1", "tools": [{"type": "function"}]}) + "\n")
    cfg = demo_config(tmp_path, datasets=[{"name": "d", "path": str(data)}])
    assert main(["validate", str(cfg)]) == 2
    assert f"{data}:2: tools: tools[0] needs type = 'function'" in err_line(capsys)
    data.write_text(json.dumps({"prompt": "a", "target": "1",
                                "generation": {"temprature": 0.5}}) + "\n")
    assert main(["validate", str(cfg)]) == 2
    assert f"{data}:1: temprature: unknown generation setting" in err_line(capsys)


def test_empty_dataset_is_an_error(tmp_path: Path, capsys):
    data = tmp_path / "empty.jsonl"
    data.write_text("\n")
    cfg = demo_config(tmp_path, datasets=[{"name": "d", "path": str(data)}])
    assert main(["run", str(cfg)]) == 2
    assert "the dataset has no rows" in err_line(capsys)


def test_secret_looking_headers_are_refused(tmp_path: Path, capsys):
    cfg = demo_config(tmp_path, provider={"kind": "local",
                                          "headers": {"Authorization": "Bearer inf-x"}})
    assert main(["run", str(cfg)]) == 2
    line = err_line(capsys)
    assert "provider.headers" in line and "key_env" in line and "inf-x" not in line


def test_key_with_illegal_characters_is_exit_2(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setenv("INFERENCE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("INFERENCE_KEY", "inf-abc d\u00e9f")
    cfg = demo_config(tmp_path, provider={"kind": "heroku"})
    assert main(["run", str(cfg)]) == 2
    line = err_line(capsys)
    assert "INFERENCE_KEY holds characters not allowed" in line and "abc" not in line


class _FullDisk:
    """A journal file on a full disk."""

    def write(self, text: str) -> int:
        raise OSError(28, "No space left on device")

    def flush(self) -> None:  # the unwritten text is still buffered: flushing fails again
        raise OSError(28, "No space left on device")

    def fileno(self) -> int:
        return 0

    def close(self) -> None:
        pass


def test_journal_write_failure_is_one_line_and_manifest_failed(tmp_path: Path, capsys,
                                                              monkeypatch):
    real_open = Journal.open

    def open_on_full_disk(self):
        real_open(self)
        self._f.close()
        self._f = _FullDisk()
        self._dirty = False
        return self

    monkeypatch.setattr(Journal, "open", open_on_full_disk)
    cfg = demo_config(tmp_path, datasets=[ARITH])
    assert main(["run", str(cfg), "--run-id", "f", "--no-progress"]) == 3
    line = err_line(capsys)
    assert "cannot write the journal (No space left on device)" in line
    assert "--run-id to resume" in line
    manifest = json.loads((tmp_path / "reports/f/manifest.json").read_text())
    assert manifest["status"] == "failed" and "journal" in manifest["error"]


def test_second_process_on_the_same_run_is_refused(tmp_path: Path, capsys):
    cfg = demo_config(tmp_path, datasets=[ARITH])
    with RunLock(tmp_path / "reports" / "busy"):
        assert main(["run", str(cfg), "--run-id", "busy"]) == 2
    assert "another pipeline process is running this run" in err_line(capsys)


def test_resume_against_other_endpoints_is_refused(tmp_path: Path, capsys, monkeypatch):
    cfg = demo_config(tmp_path, datasets=[ARITH])
    assert main(["run", str(cfg), "--run-id", "e", "--no-progress"]) == 0
    capsys.readouterr()
    with EmulatorServer(EmulatorConfig(api_key="k", speed=0.0)) as srv:
        monkeypatch.setenv("INFERENCE_URL", srv.base_url)
        monkeypatch.setenv("INFERENCE_KEY", "k")
        cfg2 = demo_config(tmp_path, datasets=[ARITH], provider={"kind": "heroku"},
                           run={"rate_limits": False})
        assert main(["run", str(cfg2), "--run-id", "e"]) == 2
        assert srv.stats.requests_total == 0
        url = srv.base_url
    line = err_line(capsys)
    assert "claude-4-5-sonnet's results came from local" in line
    assert f"this config sends to {url}" in line


def test_resume_may_add_a_model(tmp_path: Path, capsys):
    cfg = demo_config(tmp_path, datasets=[ARITH], models=[{"id": "claude-4-5-haiku"}])
    assert main(["run", str(cfg), "--run-id", "m", "--no-progress"]) == 0
    assert "10 items finished now, 0 already done" in capsys.readouterr().out
    cfg = demo_config(tmp_path, datasets=[ARITH])  # sonnet and haiku
    assert main(["run", str(cfg), "--run-id", "m", "--no-progress"]) == 0
    assert "10 items finished now, 10 already done" in capsys.readouterr().out


def test_manifest_keeps_no_credentials_from_the_url(tmp_path: Path, monkeypatch, capsys):
    with EmulatorServer(EmulatorConfig(api_key="k", speed=0.0)) as srv:
        host = srv.base_url.removeprefix("http://")
        monkeypatch.setenv("INFERENCE_URL", f"http://user:hunter2@{host}")
        monkeypatch.setenv("INFERENCE_KEY", "k")
        cfg = demo_config(tmp_path, datasets=[{**ARITH, "limit": 2}],
                          provider={"kind": "heroku"}, run={"rate_limits": False})
        main(["run", str(cfg), "--run-id", "u", "--no-progress"])
    manifest = (tmp_path / "reports/u/manifest.json").read_text()
    assert f"http://{host}" in manifest
    everything = "".join(p.read_text() for p in (tmp_path / "reports/u").iterdir()
                         if p.suffix in (".json", ".jsonl", ".md", ".html", ".csv"))
    captured = capsys.readouterr()
    assert "hunter2" not in everything + captured.out + captured.err
    from pipeline.providers import _public_url

    assert _public_url("https://u:p@h.example:8443/v1/?key=s#f") == "https://h.example:8443/v1"


def test_an_unusable_output_dir_is_exit_2(tmp_path: Path, capsys):
    (tmp_path / "file").write_text("")
    cfg = demo_config(tmp_path, datasets=[ARITH], output_dir=str(tmp_path / "file" / "x"))
    assert main(["run", str(cfg)]) == 2
    assert "cannot create the run folder" in err_line(capsys)


def test_forbidden_streak_stops_the_run(tmp_path: Path, capsys, monkeypatch):
    with EmulatorServer(EmulatorConfig(api_key="k", speed=0.0)) as srv:
        srv.script(["403"] * 200)
        monkeypatch.setenv("INFERENCE_URL", srv.base_url)
        monkeypatch.setenv("INFERENCE_KEY", "k")
        cfg = demo_config(tmp_path, datasets=[{**ARITH, "limit": 60}],
                          provider={"kind": "heroku"}, models=[{"id": "claude-4-5-haiku"}],
                          run={"rate_limits": False, "concurrency": 1})
        assert main(["run", str(cfg), "--run-id", "w", "--no-progress"]) == 3
        assert srv.stats.requests_total == 5  # five 403s in a row: no access, stop
    assert "(forbidden)" in capsys.readouterr().err


def test_auth_failure_stops_and_resume_with_the_right_key_sends_them(tmp_path: Path, capsys,
                                                                     monkeypatch):
    with EmulatorServer(EmulatorConfig(api_key="good", speed=0.0)) as srv:
        monkeypatch.setenv("INFERENCE_URL", srv.base_url)
        monkeypatch.setenv("INFERENCE_KEY", "bad")
        cfg = demo_config(tmp_path, datasets=[ARITH], provider={"kind": "heroku"},
                          run={"rate_limits": False, "concurrency": 2})
        assert main(["run", str(cfg), "--run-id", "a", "--no-progress"]) == 3
        assert "401" in capsys.readouterr().err
        monkeypatch.setenv("INFERENCE_KEY", "good")
        assert main(["run", str(cfg), "--run-id", "a", "--no-progress"]) == 0
    df = pl.read_parquet(tmp_path / "reports/a/results.parquet")
    assert df.height == 20 and (df["status"] == "ok").all()


def test_sigint_drains_writes_results_and_resumes(tmp_path: Path):
    cfg = demo_config(tmp_path, speed=0.5, datasets=[{**ARITH, "limit": 120}],
                      run={"concurrency": 4})
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "run", str(cfg), "--run-id", "sig", "--no-progress"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    journal = tmp_path / "reports/sig/journal.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if journal.exists() and journal.read_text().count("\n") >= 8:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "stopping: finishing requests in flight" in err and "resume with" in err
    assert "Traceback" not in err
    rows = list(read_journal(tmp_path / "reports/sig"))
    assert 8 <= len(rows) < 240
    manifest = json.loads((tmp_path / "reports/sig/manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    df = pl.read_parquet(tmp_path / "reports/sig/results.parquet")
    assert df.height == len(rows)  # the drained requests are in the results too

    loaded = load_config(cfg)
    out2 = run(loaded, RunOptions(run_id="sig", progress=False))
    assert out2.skipped == len(rows) and out2.sent == 240 - len(rows)
    assert out2.emulator_stats["requests_total"] == out2.sent


def test_drain_time_running_out_aborts(monkeypatch):
    import anyio

    from pipeline import runner

    monkeypatch.setattr(runner, "DRAIN_S", 0.2)
    state = runner._State()

    async def go() -> float:
        start = time.monotonic()
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as tg:
                tg.start_soon(runner._watch_signals, state, scope)
                await anyio.sleep(0.1)  # the receiver is installed by now
                os.kill(os.getpid(), signal.SIGINT)
                await anyio.sleep(30)  # requests that never finish
        return time.monotonic() - start

    elapsed = anyio.run(go)
    assert state.stopping and state.status == "aborted" and elapsed < 5
