"""The command line: exit codes, one clear error line, nothing sent on bad input, no secrets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.emulator import EmulatorConfig, EmulatorServer
from tests.helpers import ROOT, arith, demo_config

SECRET = "inf-s3cr3t-DO-NOT-LEAK-0123456789abcdef"


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("error: ") and "Traceback" not in err[0]
    return err[0]


def test_bad_config_value_exit_2_one_line_nothing_written(tmp_path: Path, capsys):
    cfg = demo_config(tmp_path, generation={"max_tokens": 100, "temperature": 1.5})
    assert main(["run", str(cfg)]) == 2
    line = one_error_line(capsys)
    assert "generation.temperature" in line and "1.5" in line
    assert not (tmp_path / "reports").exists()


def test_unknown_key_names_the_path(tmp_path: Path, capsys):
    cfg = demo_config(tmp_path, run={"concurency": 4})
    assert main(["run", str(cfg)]) == 2
    assert "run.concurency: unknown key" in one_error_line(capsys)


def test_bad_dataset_line_exit_2_sends_nothing(tmp_path: Path, capsys):
    bad = tmp_path / "bad.jsonl"
    good = (ROOT / "datasets/demo/arithmetic.jsonl").read_text().splitlines()
    bad.write_text("\n".join(good[:3] + ['{"id": "x", "question": "What is 1 + 1?"'] + good[3:]))
    cfg = demo_config(tmp_path, datasets=[{
        "name": "arith", "path": str(bad), "template": "{question}",
        "columns": {"target": "answer"}, "scorers": ["numeric"]}])
    assert main(["run", str(cfg)]) == 2
    line = one_error_line(capsys)
    assert f"{bad}:4: malformed JSON" in line
    assert not (tmp_path / "reports").exists()  # no run folder: nothing was started or sent


def test_missing_key_env_exit_2(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.delenv("INFERENCE_KEY", raising=False)
    monkeypatch.setenv("INFERENCE_URL", "http://127.0.0.1:9")
    cfg = demo_config(tmp_path, provider={"kind": "heroku"})
    assert main(["run", str(cfg)]) == 2
    assert "INFERENCE_KEY is not set" in one_error_line(capsys)


def test_validate_reports_counts(capsys):
    assert main(["validate", str(ROOT / "configs/demo.toml")]) == 0
    out = capsys.readouterr().out
    assert "arithmetic: 120 samples" in out and "ok: 640 work items for 2 models;" in out


def test_validate_says_one_model_not_one_models(tmp_path: Path, capsys):
    cfg = demo_config(tmp_path, datasets=[arith(1)], models=[{"id": "claude-4-5-haiku"}])
    assert main(["validate", str(cfg)]) == 0
    assert "ok: 1 work item for 1 model;" in capsys.readouterr().out


def test_run_prints_summary_and_folder(tmp_path: Path, capsys):
    cfg = demo_config(tmp_path)
    assert main(["run", str(cfg), "--run-id", "cli1", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "claude-4-5-sonnet" in out and "accuracy" in out and "p95 lat" in out
    assert "$/correct" in out
    assert f"run folder: {tmp_path / 'reports' / 'cli1'}" in out
    # the report's answer, in the report's words: the manifest's headline, the report.md's
    # Headline section and the terminal say the same sentences
    folder = tmp_path / "reports" / "cli1"
    headline = json.loads((folder / "manifest.json").read_text())["headline"]
    assert len(headline) == 4 and headline[0].startswith(
        "All datasets: claude-4-5-haiku scores ") and "than claude-4-5-sonnet (95 % CI" in \
        headline[0]
    assert [line for line in out.splitlines() if line in headline] == headline
    md = (folder / "report.md").read_text()
    section = md[md.index("## Headline"):].split("\n## ")[0]
    assert [line[2:] for line in section.splitlines() if line.startswith("- ")] == headline
    assert main(["run", str(cfg), "--run-id", "cli2", "--no-progress", "-q"]) == 0
    assert not any(line in capsys.readouterr().out for line in headline)  # -q: the status only


def _all_text(folder: Path) -> str:
    return "".join(p.read_bytes().decode("utf-8", "replace") for p in folder.rglob("*")
                   if p.is_file())


@pytest.mark.parametrize("key_ok", [True, False])
def test_api_key_never_written_or_printed(tmp_path: Path, capsys, monkeypatch, key_ok):
    faults = {"rate_429": 0.2}
    with EmulatorServer(EmulatorConfig(api_key=SECRET, speed=0.0)) as srv:
        from pipeline.emulator import Faults

        srv.set_faults(Faults(**faults, retry_after_s=0.01))
        monkeypatch.setenv("INFERENCE_URL", srv.base_url)
        monkeypatch.setenv("INFERENCE_KEY", SECRET if key_ok else SECRET + "-wrong")
        cfg = demo_config(tmp_path, provider={"kind": "heroku"},
                          run={"concurrency": 16, "max_attempts": 5, "rate_limits": False})
        code = main(["run", str(cfg), "--run-id", "s", "--no-progress", "--debug"])
        assert code == (0 if key_ok else 3)
    captured = capsys.readouterr()
    folder = tmp_path / "reports" / "s"
    text = _all_text(folder) + captured.out + captured.err
    assert SECRET not in text and "s3cr3t" not in text
    rows = [json.loads(x) for x in (folder / "journal.jsonl").read_text().splitlines()]
    statuses = {r["status"] for r in rows}
    assert statuses == ({"ok"} if key_ok else {"error"})
    if not key_ok:  # the first 401 stops the run: no point sending 640 doomed requests
        assert {r["http_status"] for r in rows} == {401} and len(rows) <= 16
        assert "401" in captured.err and "resume with" in captured.err


def test_python_dash_m_and_version():
    out = subprocess.run([sys.executable, "-m", "pipeline", "--version"], capture_output=True,
                         text=True, cwd=ROOT, check=True)
    assert out.stdout.startswith("pipeline ")


# startup.leave in a process of its own: an atexit hook that prints tells whether Python's
# own exit ran; stdout is a pipe, with a buffered write still in it when leave is called.
LEAVE = """
import atexit, sys, threading, time
from pipeline import startup
atexit.register(lambda: print("python's exit ran", flush=True))
mode = sys.argv[1]
if mode == "thread":
    def work():
        time.sleep(0.3)
        print("thread finished", flush=True)
    threading.Thread(target=work).start()
elif mode == "daemon":
    threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
elif mode == "traced":
    sys.settrace(lambda *a: None)
sys.stdout.write("x" * 200_000 + "|end")  # no newline: still in the buffer
startup.leave(7)
"""


@pytest.mark.parametrize("mode", ["plain", "daemon", "thread", "traced"])
def test_leave_skips_pythons_exit_only_when_nothing_is_left_to_wait_for(mode: str):
    out = subprocess.run([sys.executable, "-c", LEAVE, mode], capture_output=True, text=True,
                         cwd=ROOT, timeout=20)
    assert out.returncode == 7, out.stderr
    assert ("x" * 200_000 + "|end") in out.stdout  # flushed before the process left
    # a live non-daemon thread is waited for, as Python's exit would; a tracer (a debugger,
    # coverage, a profiler) gets its exit hooks; otherwise the teardown is skipped
    assert ("thread finished" in out.stdout) == (mode == "thread")
    assert ("python's exit ran" in out.stdout) == (mode in ("thread", "traced"))


def _buffered_env() -> dict[str, str]:
    """The environment without PYTHONUNBUFFERED: stdout buffered, as on most machines."""
    import os

    return {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_output_that_cannot_be_written_is_never_a_success(tmp_path: Path):
    """`pipeline estimate --json > file` on a full disk: one error line and exit 74, not an
    empty file and 0; a reader that went away (`| head`): 141, as any Unix tool."""
    cfg = demo_config(tmp_path, datasets=[arith(3)])
    with open("/dev/full", "w") as full:
        out = subprocess.run([sys.executable, "-m", "pipeline", "estimate", str(cfg), "--json"],
                             stdout=full, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                             env=_buffered_env(), timeout=60)
    assert out.returncode == 74, out.stderr
    assert out.stderr.strip().splitlines() == [
        "error: cannot write the output: [Errno 28] No space left on device"]
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "estimate", str(cfg), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
                            env=_buffered_env())
    proc.stdout.close()  # the reader is gone before the command writes
    assert proc.wait(60) == 141 and proc.stderr.read() == b""
    proc.stderr.close()
    ok = subprocess.run([sys.executable, "-m", "pipeline", "estimate", str(cfg), "--json"],
                        capture_output=True, text=True, cwd=ROOT, env=_buffered_env(),
                        timeout=60)
    assert ok.returncode == 0 and json.loads(ok.stdout)  # buffered, all written at the end


def test_a_server_that_is_down_is_named_at_the_end_not_only_counted(tmp_path: Path, capsys):
    cfg = demo_config(tmp_path, datasets=[arith(3)], models=[{"id": "local-model"}],
                      provider={"kind": "openai", "base_url": "http://127.0.0.1:9/v1"},
                      run={"max_attempts": 1})
    assert main(["run", str(cfg), "--no-progress", "-v"]) == 3
    err = capsys.readouterr().err
    assert "errors: 3 x connection: ConnectionRefusedError" in err
    assert "connection: connection:" not in err  # -v's line per item: the kind once
    assert sum(line.startswith("error: local-model arith/") for line in err.splitlines()) == 3
    assert main(["run", str(cfg), "--no-progress", "-q"]) == 3  # -q: still said
    assert "errors: 3 x connection: ConnectionRefusedError" in capsys.readouterr().err


def test_a_log_reader_that_goes_away_does_not_stop_a_run(tmp_path: Path):
    """`pipeline run cfg -v 2>&1 | head -1`: stderr's reader leaves early. The progress and
    error lines after that go nowhere; the run finishes, is complete, and exits 0."""
    cfg = demo_config(tmp_path, datasets=[arith(40)])
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "run", str(cfg), "--run-id",
                             "bp", "-v", "--progress-interval", "0.01"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT,
                            env=_buffered_env())
    proc.stderr.close()  # the reader is gone before the first line
    assert proc.wait(120) == 0
    manifest = json.loads((tmp_path / "reports/bp/manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["totals"]["done"] == 80


def test_polars_gets_one_thread_and_one_allocator_arena_unless_the_user_says(tmp_path: Path):
    """Set before polars loads (pipeline.cli._main): its thread count, and jemalloc's arenas
    (4 per CPU by default: on 2 CPUs `report` of 200,000 items peaked at 150-158 MB, with
    one arena at 134-137 MB, pinned or not). A value the user set is kept."""
    import os

    cfg = demo_config(tmp_path, datasets=[arith(2)])
    probe = ("import os, sys; from pipeline.cli import main; code = main(['run', sys.argv[1], "
             "'-q', '--no-progress']); print(os.environ.get('POLARS_MAX_THREADS'), "
             "os.environ.get('_RJEM_MALLOC_CONF'), 'polars' in sys.modules, code)")
    env = {k: v for k, v in os.environ.items()
           if k not in ("POLARS_MAX_THREADS", "_RJEM_MALLOC_CONF")}
    # polars, as it loads, puts its own defaults first and ours after them (later wins)
    out = subprocess.run([sys.executable, "-c", probe, str(cfg)], capture_output=True,
                         text=True, cwd=ROOT, env=env, timeout=120)
    threads, conf, loaded, code = out.stdout.split()[-4:]
    assert (threads, loaded, code) == ("1", "True", "0"), out.stderr
    assert conf.split(",")[-1] == "narenas:1"
    env.update(POLARS_MAX_THREADS="2", _RJEM_MALLOC_CONF="narenas:2")
    out = subprocess.run([sys.executable, "-c", probe, str(cfg)], capture_output=True,
                         text=True, cwd=ROOT, env=env, timeout=120)
    threads, conf, loaded, code = out.stdout.split()[-4:]
    assert (threads, loaded, code) == ("2", "True", "0"), out.stderr
    assert conf.split(",")[-1] == "narenas:2" and "narenas:1" not in conf


def test_the_command_as_a_process_keeps_its_exit_codes_and_output(tmp_path: Path):
    """`python -m pipeline` leaves through startup.leave: the exit code, every line it
    printed and every file of the run are there."""
    cfg = demo_config(tmp_path, datasets=[arith(3)])
    ok = subprocess.run([sys.executable, "-m", "pipeline", "run", str(cfg), "--run-id", "r1",
                         "--json", "--no-progress"], capture_output=True, text=True, cwd=ROOT,
                        timeout=120)
    assert ok.returncode == 0, ok.stderr
    doc = json.loads(ok.stdout)
    folder = tmp_path / "reports" / "r1"
    assert doc["status"] == "complete" and doc["run_id"] == "r1"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["versions"]["python"]
    for name in ("results.parquet", "results.csv", "summary.parquet", "report.md",
                 "report.html"):
        assert (folder / name).stat().st_size > 0, name
    assert (folder / "report.html").read_text().rstrip().endswith("</html>")
    bad = subprocess.run([sys.executable, "-m", "pipeline", "validate", str(tmp_path / "nope")],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and not bad.stdout


def test_resume_flag_picks_the_latest_run_of_this_config(tmp_path: Path, capsys):
    cfg = demo_config(tmp_path, datasets=[arith(5)])
    assert main(["run", str(cfg), "--resume"]) == 2
    assert "no earlier run of 'demo'" in capsys.readouterr().err
    assert main(["run", str(cfg), "--no-progress"]) == 0
    first = capsys.readouterr().out
    assert "10 items finished now, 0 already done" in first
    assert main(["run", str(cfg), "--resume", "--no-progress"]) == 0
    again = capsys.readouterr().out
    assert "0 items finished now, 10 already done" in again
    folders = list((tmp_path / "reports").iterdir())
    assert len(folders) == 1 and folders[0].name in first


def test_resume_picks_the_newest_of_several_runs(tmp_path: Path, capsys):
    cfg = demo_config(tmp_path, datasets=[arith(3)])
    assert main(["run", str(cfg), "--no-progress"]) == 0
    assert main(["run", str(cfg), "--no-progress"]) == 0
    out = capsys.readouterr().out
    first, second = [line.split("run folder: ")[1] for line in out.splitlines()
                     if line.startswith("run folder: ")]
    assert first != second
    assert main(["run", str(cfg), "--resume", "--no-progress"]) == 0
    assert f"run folder: {second}" in capsys.readouterr().out


def test_the_garbage_collector_is_paused_for_the_start_only(tmp_path: Path, capsys):
    # `run` pauses the collector while it loads, resumes it (the start-up's objects frozen)
    # before sending, and leaves it as it found it, whatever the outcome
    import gc

    from pipeline import startup

    seen: list[tuple[bool, int]] = []
    cfg = demo_config(tmp_path, datasets=[arith(3)])
    original = startup.resume

    def resume() -> None:
        seen.append((gc.isenabled(), gc.get_freeze_count()))
        original()
        seen.append((gc.isenabled(), gc.get_freeze_count()))

    startup.resume = resume
    try:
        assert main(["run", str(cfg), "-q"]) == 0
    finally:
        startup.resume = original
    assert seen[0] == (False, 0) and seen[1][0] and seen[1][1] > 1000
    assert gc.isenabled() and gc.get_freeze_count() == 0
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[run]\nconcurrency = "high"\n')
    assert main(["run", str(bad)]) == 2  # stopped before the sending: resumed all the same
    assert gc.isenabled() and gc.get_freeze_count() == 0
    gc.disable()  # a caller's own choice is kept
    try:
        assert main(["run", str(cfg), "-q"]) == 0 and not gc.isenabled()
    finally:
        gc.enable()
    capsys.readouterr()
