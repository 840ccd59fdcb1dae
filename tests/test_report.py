"""Report rendering: cells, escaping, self-contained HTML."""

from __future__ import annotations

from pipeline.report.charts import Interval, IntervalChart
from pipeline.report.html import render_html
from pipeline.report.markdown import render_markdown
from pipeline.report.sections import Section, fmt


def test_usd_cells_keep_small_amounts_readable():
    assert [fmt(v, "usd") for v in (0, 0.153429, 0.000479, 12.345)] == [
        "$0", "$0.1534", "$0.000479", "$12.35"]
    assert fmt(None, "usd") == "–" and fmt(0.05, "s") == "50ms" and fmt(0.25, "pct") == "25.0%"


def test_user_text_is_escaped():
    meta = {"run_id": "r<1>", "status": "complete"}
    chart = IntervalChart("score <i>", [("<script>x</script>", [
        Interval("m<b>", 0, 0.5, 0.4, 0.6, "50.0%", "m<b> on <d>")])], note="<u>")
    sec = Section("Errors", ["model", "example"], [["m|x", "<script>alert(1)</script>"]],
                  charts=[chart], lines=["<img onerror=alert(1)>"])
    md = render_markdown(meta, [sec])
    assert "| m\\|x |" in md
    html = render_html(meta, [sec])
    assert "<script>" not in html and "&lt;script&gt;" in html and "m&lt;b&gt;" in html
    assert "<img" not in html and "<b>" not in html.split("</h1>")[1].replace(
        "<b>Status</b>", "") and "<i>" not in html and "<u>" not in html
    assert "<link" not in html and "src=" not in html  # nothing to fetch
