"""The report's inline SVG charts: text measured and wrapped so that no label is cut, the
cost/score frontier, the latency histogram; and the page's layout in a real browser (Debian's
Chromium, when installed): nothing wider than the page at 1,200 px or on a phone, no chart
text outside its chart, the demo's tables fitting at 1,200 px."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import polars as pl
import pytest

from pipeline.report import tables
from pipeline.report.charts import Point, W, frontier, text_width, wrap
from pipeline.report.html import render_html
from pipeline.report.sections import build_sections
from tests.test_headline import row

LONG = "anthropic/claude-4-5-sonnet-20250929-with-an-extremely-long-deployment-label"
NOBREAK = "x" * 70
MODELS = [LONG, "claude-4-5-haiku", "gpt-oss-120b", NOBREAK, "模型-ü"]


def frame() -> tuple[pl.DataFrame, dict]:
    """Five models (long labels, one without a price) on two scored datasets with groups
    and an outputs-only one."""
    rows = []
    for k, m in enumerate(MODELS):
        cost = None if m == "gpt-oss-120b" else 0.001 * (k + 1)
        for ds, n in (("arithmetic", 30), ("a_dataset_with_a_rather_long_name_too", 20),
                      ("free", 5)):
            for i in range(n):
                rows.append(row(ds, i, m, None if ds == "free" else float((i + k) % 4 != 0),
                                cost_usd=cost, latency_s=0.02 * (k + 1) * (1 + i % 7),
                                group=None if ds == "free" else f"level {i % 3}",
                                scored=ds != "free"))
    order = {"model": MODELS, "dataset": ["arithmetic", "a_dataset_with_a_rather_long_name_too",
                                          "free"]}
    return pl.DataFrame(rows), order


def report_sections(df: pl.DataFrame, order: dict) -> list:
    by_ds = tables.summary_by_dataset(df, 1, order)
    summ = tables.summary(df, 1, order, by_dataset=by_ds)
    by_group = tables.summary_by_group(df, 1, order, datasets=order["dataset"][:2])
    return build_sections(df, summ, by_ds, tables.comparisons(df, 1, order), by_group=by_group,
                          latency=tables.latency_histogram(df, order))


def charts(secs: list) -> list:
    return [c for s in secs for c in s.charts]


def test_text_is_measured_as_the_browser_measures_it():
    # Chromium's canvas measureText in DejaVu Sans at 1000 px (the font the charts ask for)
    assert 17213 <= text_width("claude-4-5-sonnet 93.1% (95% CI)", 1000) <= 17213 * 1.05
    assert 19142 <= text_width("claude-4-5-sonnet 93.1% (95% CI)", 1000, bold=True) <= \
        19142 * 1.05


@pytest.mark.parametrize("text", [LONG, NOBREAK, "a b c " * 20, "模型" * 30, "short"])
def test_wrapped_lines_fit_and_keep_every_character(text):
    lines = wrap(text, 150)
    assert all(text_width(x) <= 150 for x in lines)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")


_TEXT = re.compile(r'<text x="([-\d.]+)" y="([-\d.]+)"([^>]*)>([^<]*)</text>')


def test_no_chart_text_leaves_its_chart():
    df, order = frame()
    got = charts(report_sections(df, order))
    assert [c.title for c in got] == [
        "Score with its 95% interval", "Cost against score (all datasets)",
        "Latency distribution", "Tokens per answer", "Score by group: arithmetic",
        "Score by group: a_dataset_with_a_rather_long_name_too"]
    for chart in got:
        svg = chart.svg()
        height = float(re.search(r'viewBox="0 0 \d+ ([\d.]+)"', svg).group(1))
        texts = _TEXT.findall(svg)
        assert texts
        for x, y, attrs, content in texts:
            size = float(m.group(1)) if (m := re.search(r'font-size="([\d.]+)"', attrs)) else 12
            w = text_width(html.unescape(content), size, bold="bold" in attrs)
            anchor = m.group(1) if (m := re.search(r'text-anchor="(\w+)"', attrs)) else "start"
            left = float(x) - {"start": 0, "middle": w / 2, "end": w}[anchor]
            assert -0.5 <= left and left + w <= W + 0.5, (chart.title, content)
            assert 0 < float(y) <= height, (chart.title, content)
        # every model's full label is in the chart (a <title>, or its wrapped lines)
        for m in MODELS:
            assert html.escape(m) in svg or m.replace(" ", "") in "".join(
                html.unescape(t[3]) for t in texts).replace(" ", ""), (chart.title, m)


def test_the_frontier_is_the_models_no_other_beats_on_both():
    pts = [Point("cheap", 0, 0.001, 0.6, None, None, ""),
           Point("good", 1, 0.010, 0.9, None, None, ""),
           Point("worse and dearer", 2, 0.020, 0.8, None, None, ""),
           Point("no price", 3, None, 0.99, None, None, ""),
           Point("same as good", 4, 0.010, 0.9, None, None, ""),
           Point("not scored", 5, 0.0001, None, None, None, "")]
    assert frontier(pts) == {0, 1, 4}


def test_the_latency_histogram_counts_successful_answers_in_log_bins():
    lat = [0.0005, 0.1, 0.0999, 1.0, 12.0]
    rows = [row("d", i, "a", 1.0, latency_s=v) for i, v in enumerate(lat)]
    rows.append(row("d", 9, "a", 0.0, status="error", latency_s=5.0))
    got = tables.latency_histogram(pl.DataFrame(rows))
    assert dict(zip(got["bin"], got["n"], strict=True)) == {-30: 1, -11: 1, -10: 1, 0: 1, 10: 1}


CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium"
                                        if Path("/usr/bin/chromium").exists() else None)
_PROBE = """<!doctype html><html><body style="margin:0"><iframe id=f src="%s"
style="border:0;width:%dpx;height:3000px"></iframe><pre id=o>waiting</pre><script>
document.getElementById('f').onload = function () {
  const d = this.contentDocument, out = {page: [d.documentElement.scrollWidth,
    d.documentElement.clientWidth], tables: [], cut: []};
  d.querySelectorAll('.scroll').forEach(s => out.tables.push([
    s.closest('section').querySelector('h2').textContent, s.scrollWidth, s.clientWidth]));
  d.querySelectorAll('svg').forEach(svg => { const vb = svg.viewBox.baseVal;
    svg.querySelectorAll('text').forEach(t => { const b = t.getBBox();
      if (b.x < -0.5 || b.x + b.width > vb.width + 0.5 || b.y < -0.5 ||
          b.y + b.height > vb.height + 0.5) out.cut.push(t.textContent); }); });
  document.getElementById('o').textContent = JSON.stringify(out);
};</script></body></html>"""


def layout(page: Path, width: int, tmp: Path) -> dict:
    """What Chromium lays out for `page` in a window `width` px wide (no network)."""
    probe = tmp / f"probe{width}.html"
    probe.write_text(_PROBE % (page.as_uri(), width))
    got = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--user-data-dir={tmp / f'profile{width}'}",
         "--allow-file-access-from-files", "--virtual-time-budget=5000",
         f"--window-size={width},2000", "--dump-dom", probe.as_uri()],
        capture_output=True, text=True, timeout=120, check=True).stdout
    return json.loads(html.unescape(re.search(r'<pre id="o">(.*?)</pre>', got, re.S).group(1)))


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium (apt-get install chromium)")
def test_in_a_browser_nothing_is_cut_and_the_page_never_scrolls_sideways(tmp_path):
    df, order = frame()
    long = tmp_path / "long.html"
    long.write_text(render_html({"run_id": "r", "provider": "local"},
                                report_sections(df, order)))
    # the demo's shape: two models, three datasets (the models table's 14 columns)
    demo_models = {"model": ["claude-4-5-sonnet", "claude-4-5-haiku"],
                   "dataset": ["arithmetic", "multiple_choice", "tools"]}
    rows = [row(ds, i, m, float(i % (3 + k) != 0), cost_usd=0.000479 / (1 + 2 * k),
                latency_s=0.11 / (1 + k), prompt_tokens=31268, completion_tokens=3975)
            for k, m in enumerate(demo_models["model"]) for ds in demo_models["dataset"]
            for i in range(120)]
    short = tmp_path / "demo.html"
    short.write_text(render_html({"run_id": "r"},
                                 report_sections(pl.DataFrame(rows), demo_models)))
    for page in (long, short):
        for width in (1200, 390):
            got = layout(page, width, tmp_path)
            assert got["page"][0] <= got["page"][1], (page.name, width, got)  # no sideways
            assert got["cut"] == [], (page.name, width)  # no label outside its chart
    got = layout(short, 1200, tmp_path)
    assert got["tables"] and all(s <= c for _, s, c in got["tables"]), got["tables"]
