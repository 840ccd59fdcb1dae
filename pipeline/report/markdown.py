"""The Markdown report."""

from __future__ import annotations

from typing import Any

from pipeline.report.sections import Section, facts, simulated_banner


def _cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def render_markdown(meta: dict[str, Any], sections: list[Section]) -> str:
    """A Markdown document: run facts, then each section as a table."""
    lines = [f"# Run {meta['run_id']}", ""]
    banner = simulated_banner(meta)
    if banner:
        lines += [f"> **{banner}**", ""]
    lines += [f"- **{label}:** {text}" for label, text in facts(meta)]
    lines.append("")
    for sec in sections:
        lines += [f"## {sec.title}", ""]
        if sec.lines:
            lines += [f"- {line}" for line in sec.lines] + [""]
        lines.append("| " + " | ".join(sec.headers) + " |")
        lines.append("|" + "|".join("---" for _ in sec.headers) + "|")
        lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in sec.rows]
        if sec.note:
            lines += ["", sec.note]
        lines.append("")
    return "\n".join(lines)
