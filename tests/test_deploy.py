"""The Heroku deployment files: app.json, Procfile, requirements.txt and configs/weekly.toml."""

from __future__ import annotations

import json
import re
import shlex
import socket
import subprocess
from typing import Any

from pipeline.cli import _parser, main
from pipeline.config import load_config
from pipeline.estimate import estimate
from pipeline.runfolder import check_run_id
from tests.helpers import ROOT

WEEKLY = ROOT / "configs" / "weekly.toml"


def test_app_json_declares_the_addons_the_weekly_config_reads():
    app = json.loads((ROOT / "app.json").read_text())
    plans = {a["plan"] if isinstance(a, dict) else a: a for a in app["addons"]}
    assert "scheduler:standard" in plans
    attachments = {a["as"] for a in app["addons"] if isinstance(a, dict) and "as" in a}
    cfg = load_config(WEEKLY).config
    # each model's config vars are those of one attachment: <AS>_URL and <AS>_KEY
    for m in cfg.models:
        url_env = m.url_env or "INFERENCE_URL"
        key_env = m.key_env or "INFERENCE_KEY"
        assert url_env.removesuffix("_URL") == key_env.removesuffix("_KEY") in attachments
        assert f"heroku-inference:{m.id}" in plans
    for var, spec in app["env"].items():
        assert spec["description"] and var.startswith("AWS_") and spec["required"] is False
    assert set(app["formation"]) <= set(_procfile())


def _procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    out = {}
    for line in lines:
        kind, command = line.split(":", 1)
        assert re.fullmatch(r"[a-z][a-z0-9_-]*", kind)
        out[kind] = command.strip()
    return out


def test_procfile_command_runs_the_weekly_config_with_a_valid_run_id_per_week():
    command = _procfile()["weekly"]
    # the dyno's shell expands $(date ...): do the same here
    expanded = subprocess.run(["bash", "-c", f"printf '%s\\n' {command}"], check=True,
                              capture_output=True, text=True).stdout.split()
    assert expanded[0] == "pipeline"
    args = _parser().parse_args(expanded[1:])
    assert args.command == "run" and args.config == "configs/weekly.toml"
    assert re.fullmatch(r"weekly-\d{4}-\d{2}", check_run_id(args.run_id))
    assert args.no_progress
    assert shlex.split(command)[:3] == ["pipeline", "run", "configs/weekly.toml"]


def test_requirements_install_this_project():
    reqs = [line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    assert reqs == ["."]
    version = (ROOT / ".python-version").read_text().strip()
    assert re.fullmatch(r"3\.1[1-9]", version)


def test_weekly_config_validates_and_its_worst_case_fits_its_budget(monkeypatch, capsys):
    def refuse(*_a: Any, **_k: Any) -> None:
        raise AssertionError("validate must send nothing")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.chdir(ROOT)  # Heroku runs the command in the app's root
    for var, value in {"INFERENCE_URL": "https://us.inference.heroku.com",
                       "INFERENCE_KEY": "inf-fake-sonnet",
                       "CLAUDE_HAIKU_URL": "https://us.inference.heroku.com",
                       "CLAUDE_HAIKU_KEY": "inf-fake-haiku"}.items():
        monkeypatch.setenv(var, value)
    assert main(["validate", "configs/weekly.toml"]) == 0
    out = capsys.readouterr().out
    assert "inf-fake" not in out and "ok: " in out
    est = estimate(load_config(WEEKLY))
    assert est.budget_fits is True and not est.simulated
