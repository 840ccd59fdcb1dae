"""The self-contained HTML report: inline CSS and SVG charts, no fetches (the only script is
the sample explorer's, inline: pipeline.report.explorer).

Readable from a phone to a wide screen: the page has a viewport, charts scale to their
column (charts.py), and a table wider than the page scrolls inside its own box instead of
widening the page.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from pipeline.report.sections import Section, facts, simulated_banner

_CSS = """
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;
max-width:74rem;color:#1d1f23;padding:1rem 1rem 3rem}
h1{font-size:1.5rem;margin:.5rem 0 1rem;overflow-wrap:anywhere}
h2{font-size:1.15rem;margin:2rem 0 .5rem}
.scroll{overflow-x:auto;margin:.5rem 0;max-width:100%}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{padding:.3rem .45rem;border-bottom:1px solid #e3e5e8;text-align:right;
white-space:nowrap}th{white-space:normal;vertical-align:bottom}
th:first-child,td:first-child,th:nth-child(2),td:nth-child(2){text-align:left}
th{background:#f4f5f7;font-weight:600}
td.long{white-space:normal;min-width:18rem}
.note{color:#5b616b;font-size:.9em}
h2,.lines li,.note,figcaption{overflow-wrap:anywhere}
.facts{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1rem}
.facts span{overflow-wrap:anywhere}
@media (max-width:36rem){.facts{grid-template-columns:1fr}.facts span{margin-bottom:.25rem}}
.lines{padding-left:1.2rem}.lines li{margin:.2rem 0}
.headline li{font-size:1.05em;margin:.35rem 0}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,26rem),1fr));
gap:1.5rem 2rem}
figure{margin:0}figcaption{font-weight:600;margin-bottom:.3rem}
.chart svg{display:block;width:100%;max-width:30rem;height:auto}
.banner{background:#fff4e5;border:1px solid #f2994a;padding:.6rem .9rem;border-radius:4px}
"""


LONG = 48  # characters: a longer cell (a warning, an error, a long name) wraps


def _section(sec: Section) -> list[str]:
    out = [f"<section><h2>{escape(sec.title)}</h2>"]
    if sec.lines:
        cls = "lines headline" if sec.title == "Headline" else "lines"
        out.append(f'<ul class="{cls}">' + "".join(f"<li>{escape(t)}</li>" for t in sec.lines)
                   + "</ul>")
    if sec.charts:
        out.append('<div class="charts">')
        for chart in sec.charts:
            out.append(f'<figure class="chart"><figcaption>{escape(chart.title)}</figcaption>'
                       f"{chart.svg()}"
                       + (f'<p class="note">{escape(chart.note)}</p>' if chart.note else "")
                       + "</figure>")
        out.append("</div>")
    if sec.headers:
        out.append('<div class="scroll"><table><thead><tr>')
        out += [f"<th>{escape(h)}</th>" for h in sec.headers]
        out.append("</tr></thead><tbody>")
        for row in sec.rows:
            out.append("<tr>" + "".join(f'<td class="long">{escape(c)}</td>' if len(c) > LONG
                                        else f"<td>{escape(c)}</td>" for c in row) + "</tr>")
        out.append("</tbody></table></div>")
    if sec.note:
        out.append(f'<p class="note">{escape(sec.note)}</p>')
    out.append("</section>")
    return out


def csp(script_hashes: Sequence[str] = ()) -> str:
    """The page's Content-Security-Policy: nothing is fetched (no network, no other file),
    images only as data: URIs, inline styles, and no script but the ones whose hashes are
    given ("sha256-..."): a script that came in with a prompt or an answer would not run,
    even if some text escaped its escaping."""
    scripts = " ".join(f"'{h}'" for h in script_hashes) or "'none'"
    return (f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
            f"script-src {scripts}; base-uri 'none'; form-action 'none'")


def render_html(meta: dict[str, Any], sections: list[Section], *,
                explorer: str | None = None) -> str:
    """One HTML file that opens anywhere, offline. `explorer`: the sample explorer's block
    (pipeline.report.explorer), appended at the end of <body>; its script is the one the
    page's policy lets run (see `csp`)."""
    scripts: list[str] = []
    if explorer:
        from pipeline.report.explorer import script_hash

        scripts.append(script_hash())
    out = ["<!doctype html><html lang=en><head><meta charset=utf-8>",
           f'<meta http-equiv="Content-Security-Policy" content="{csp(scripts)}">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>Run {escape(str(meta['run_id']))}</title><style>{_CSS}</style></head><body>",
           f"<h1>Run {escape(str(meta['run_id']))}</h1>"]
    banner = simulated_banner(meta)
    if banner:
        out.append(f'<p class="banner"><b>{escape(banner)}</b></p>')
    out.append("<div class=facts>")
    out += [f"<b>{escape(label)}</b><span>{escape(text)}</span>" for label, text in facts(meta)]
    out.append("</div>")
    for sec in sections:
        out += _section(sec)
    if explorer:
        out.append(explorer)
    out.append("</body></html>\n")
    return "\n".join(out)
