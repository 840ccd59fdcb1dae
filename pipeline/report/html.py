"""The self-contained HTML report: inline CSS and SVG bar charts, no fetches (the only script
is the sample explorer's, inline: pipeline.report.explorer)."""

from __future__ import annotations

from html import escape
from typing import Any

from pipeline.report.sections import Section, facts, simulated_banner

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:72rem;
color:#1d1f23;padding:0 1rem}h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{padding:.3rem .55rem;
border-bottom:1px solid #e3e5e8;text-align:right;white-space:nowrap}
th:first-child,td:first-child,th:nth-child(2),td:nth-child(2){text-align:left}
th{background:#f4f5f7;font-weight:600}.note{color:#5b616b;font-size:.9em}
.facts{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1rem}
.charts{display:flex;gap:2rem;flex-wrap:wrap}.chart h3{font-size:.95rem;margin:.2rem 0}
svg text{font:12px system-ui,sans-serif}
.banner{background:#fff4e5;border:1px solid #f2994a;padding:.6rem .9rem;border-radius:4px}
"""
_COLORS = ["#6b4fbb", "#2f80ed", "#27ae60", "#eb5757", "#f2994a", "#828282"]


def _bar_chart(title: str, bars: list[tuple[str, float | None]]) -> str:
    width, row_h, label_w = 360, 22, 130
    top = max((v for _, v in bars if v is not None), default=0.0) or 1.0
    parts = [f'<div class="chart"><h3>{escape(title)}</h3>'
             f'<svg width="{width}" height="{row_h * len(bars) + 4}" role="img">']
    for i, (label, value) in enumerate(bars):
        y = i * row_h + 2
        if value is None:  # unknown is not zero: no bar, say so
            parts.append(f'<text x="0" y="{y + 14}">{escape(label[:18])}</text>'
                         f'<text x="{label_w}" y="{y + 14}" fill="#5b616b">unknown</text>')
            continue
        w = (width - label_w - 70) * value / top
        shown = f"{100 * value:.1f}%" if title == "accuracy" else f"{value:.4g}"
        parts.append(
            f'<text x="0" y="{y + 14}">{escape(label[:18])}</text>'
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{row_h - 6}" '
            f'fill="{_COLORS[i % len(_COLORS)]}"/>'
            f'<text x="{label_w + w + 4:.1f}" y="{y + 14}">{escape(shown)}</text>'
        )
    parts.append("</svg></div>")
    return "".join(parts)


def render_html(meta: dict[str, Any], sections: list[Section], *,
                explorer: str | None = None) -> str:
    """One HTML file that opens anywhere, offline. `explorer`: the sample explorer's block
    (pipeline.report.explorer), appended at the end of <body>."""
    out = ["<!doctype html><html lang=en><head><meta charset=utf-8>",
           f"<title>Run {escape(str(meta['run_id']))}</title><style>{_CSS}</style></head><body>",
           f"<h1>Run {escape(str(meta['run_id']))}</h1>"]
    banner = simulated_banner(meta)
    if banner:
        out.append(f'<p class="banner"><b>{escape(banner)}</b></p>')
    out.append("<div class=facts>")
    out += [f"<b>{label}</b><span>{escape(text)}</span>" for label, text in facts(meta)]
    out.append("</div>")
    for sec in sections:
        out.append(f"<h2>{escape(sec.title)}</h2>")
        if sec.lines:
            out.append("<ul>" + "".join(f"<li>{escape(t)}</li>" for t in sec.lines) + "</ul>")
        if sec.bars:
            out.append('<div class="charts">')
            out += [_bar_chart(t, b) for t, b in sec.bars.items()]
            out.append("</div>")
        out.append("<table><thead><tr>")
        out += [f"<th>{escape(h)}</th>" for h in sec.headers]
        out.append("</tr></thead><tbody>")
        for row in sec.rows:
            out.append("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>")
        out.append("</tbody></table>")
        if sec.note:
            out.append(f'<p class="note">{escape(sec.note)}</p>')
    if explorer:
        out.append(explorer)
    out.append("</body></html>\n")
    return "\n".join(out)
