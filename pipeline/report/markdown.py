"""The Markdown report: the HTML report's facts, sentences and tables, without its charts."""

from __future__ import annotations

from typing import Any

from pipeline.report.sections import Section, facts, simulated_banner


def _cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def render_markdown(meta: dict[str, Any], sections: list[Section]) -> str:
    """A Markdown document: run facts, then each section's sentences and table (a section
    of charts only is in the HTML report alone)."""
    lines = [f"# Run {meta['run_id']}", ""]
    banner = simulated_banner(meta)
    if banner:
        lines += [f"> **{banner}**", ""]
    lines += [f"- **{label}:** {text}" for label, text in facts(meta)]
    lines.append("")
    for sec in sections:
        if not (sec.lines or sec.headers):
            continue
        lines += [f"## {sec.title}", ""]
        if sec.lines:
            lines += [f"- {line}" for line in sec.lines] + [""]
        if sec.headers:
            lines.append("| " + " | ".join(_cell(h) for h in sec.headers) + " |")
            lines.append("|" + "|".join("---" for _ in sec.headers) + "|")
            lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in sec.rows]
            lines.append("")
        if sec.note:
            lines += [sec.note, ""]
    return "\n".join(lines)
