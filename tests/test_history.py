"""pipeline history: earlier runs from manifests and summaries, as a table, JSON and HTML; and
the "simulated figures" banner of reports made on the emulator."""

from __future__ import annotations

import json
import re

import pytest

from pipeline.cli import main
from pipeline.config import load_config
from pipeline.history import history, render_html, render_table
from pipeline.report.html import render_html as report_html
from pipeline.report.markdown import render_markdown
from pipeline.runfolder import latest_run, runs_of, write_json
from pipeline.runner import RunOptions, run
from tests.helpers import arith, demo_config

HOSTILE = '<script>alert("x")</script>&<b>'


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two tiny runs of one config on the emulator, a run that failed before its summary,
    and a run of another config in the same folder."""
    tmp = tmp_path_factory.mktemp("hist")
    models = [{"id": "claude-4-5-sonnet"}, {"id": "claude-4-5-haiku", "label": HOSTILE}]
    path = demo_config(tmp, datasets=[arith(3)], models=models)
    first = run(load_config(path), RunOptions(progress=False, run_id="w-01"))
    second = run(load_config(path), RunOptions(progress=False, run_id="w-02"))
    out = first.folder.parent
    write_json(out / "w-03" / "manifest.json", {
        "run_id": "w-03", "name": "demo", "status": "failed", "provider": "heroku",
        "created_at": "2999-01-01T00:00:00Z", "error": "401",
        "models": [{"name": "claude-4-5-sonnet", "id": "claude-4-5-sonnet"}]})
    write_json(out / "other-1" / "manifest.json", {"run_id": "other-1", "name": "other",
                                                    "status": "complete"})
    return path, first, second, out


def test_runs_are_listed_oldest_first_with_their_figures(runs):
    path, first, second, out = runs
    listed, name, out_dir = history(str(path))
    assert name == "demo" and out_dir == out
    assert [r.run_id for r in listed] == ["w-01", "w-02", "w-03"]
    assert [r.status for r in listed] == ["complete", "complete", "failed"]
    r1 = listed[0]
    assert (r1.items_done, r1.items_planned) == (6, 6) and r1.simulated
    sonnet = r1.models[0]
    assert sonnet.model == "claude-4-5-sonnet" and sonnet.errors == 0
    assert sonnet.cost_usd > 0 and sonnet.tokens == sonnet.prompt_tokens + sonnet.completion_tokens
    assert 0 <= sonnet.accuracy <= 1
    failed = listed[2]  # no summary: listed, figures unknown (not zero)
    assert failed.items_planned is None and failed.models[0].cost_usd is None
    assert not failed.simulated
    # latest_run is the newest of the same listing
    assert latest_run(out, "demo") == out / "w-03"
    assert [f.name for f, _ in runs_of(out, "other")] == ["other-1"]


def test_table_and_json(runs, capsys):
    path, *_ = runs
    listed, *_ = history(str(path))
    table = render_table(listed)
    lines = table.splitlines()
    assert lines[0].split()[:5] == ["run", "started", "status", "items", "model"]
    assert "w-01 (simulated)" in lines[2] and "6/6" in lines[2]
    assert re.search(r"w-03 .* failed .*claude-4-5-sonnet\s+–\s+–\s+–\s+–$", table, re.M)
    assert main(["history", "demo", "--output-dir", str(runs[3]), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["run_id"] for r in data] == ["w-01", "w-02", "w-03"]
    m = data[0]["models"][1]
    assert m["model"] == HOSTILE and {"accuracy", "cost_usd", "tokens", "errors"} <= set(m)
    assert data[2]["models"][0]["cost_usd"] is None


def test_html_trend_page_is_self_contained_and_escaped(runs, tmp_path, capsys):
    path, *_ = runs
    page = tmp_path / "trend.html"
    assert main(["history", str(path), "--html", str(page)]) == 0
    html = page.read_text()
    assert html.count("<svg") == 2 and "<polyline" in html
    for ref in ("http:", "https:", "src=", "href=", "<link", "@import", "url("):
        assert ref not in html
    assert "<script" not in html and "&lt;script&gt;" in html
    assert ('<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
            "img-src data:; style-src 'unsafe-inline'; script-src 'none';") in html
    assert "Simulated figures." in html and "2 of 3" in html
    # every run id labels the x axis
    assert all(f">{rid}</text>" in html for rid in ("w-01", "w-02", "w-03"))


def test_no_runs_and_bad_names(tmp_path, capsys):
    assert main(["history", "nothing", "--output-dir", str(tmp_path)]) == 0
    assert "no runs of 'nothing'" in capsys.readouterr().out
    assert main(["history", "no such!name"]) == 2
    assert "neither a config file nor a run name" in capsys.readouterr().err
    assert main(["history", "configs/missing.toml"]) == 2
    assert main(["history", "x", "--output-dir", str(tmp_path / "missing")]) == 2
    assert "<p>No runs yet.</p>" in render_html("x", [])


def test_reports_made_on_the_emulator_say_so_at_the_top(runs):
    _, first, *_ = runs
    md = (first.folder / "report.md").read_text().splitlines()
    assert md[0] == "# Run w-01" and "Simulated figures" in md[2]
    assert "not a real model" in md[2]
    html = (first.folder / "report.html").read_text()
    assert html.index("Simulated figures") < html.index("<div class=facts>")
    meta = {"run_id": "r", "provider": "heroku", "status": "complete"}
    assert "Simulated" not in render_markdown(meta, []) and "Simulated" not in report_html(
        meta, [])


def test_a_running_status_whose_process_died_says_so(tmp_path):
    from pipeline.runfolder import RunLock

    folder = tmp_path / "r"
    write_json(folder / "manifest.json", {"run_id": "r", "name": "n", "status": "running"})
    with RunLock(folder):
        assert history("n", str(tmp_path))[0][0].status == "running"
    assert history("n", str(tmp_path))[0][0].status == "stopped (the process died mid-run)"
    with RunLock(folder):  # the check left no lock behind
        pass
