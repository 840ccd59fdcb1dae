"""The Markdown report."""

from __future__ import annotations

from typing import Any

from pipeline.report.sections import Section


def _cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def render_markdown(meta: dict[str, Any], sections: list[Section]) -> str:
    """A Markdown document: run facts, then each section as a table."""
    lines = [f"# Run {meta['run_id']}", ""]
    for label, key in (("Config", "config_path"), ("Status", "status"),
                       ("Provider", "provider"), ("Started", "created_at"),
                       ("Finished", "finished_at"), ("Items", "items")):
        if meta.get(key) is not None:
            lines.append(f"- **{label}:** {meta[key]}")
    lines.append("")
    for sec in sections:
        lines += [f"## {sec.title}", ""]
        lines.append("| " + " | ".join(sec.headers) + " |")
        lines.append("|" + "|".join("---" for _ in sec.headers) + "|")
        lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in sec.rows]
        if sec.note:
            lines += ["", sec.note]
        lines.append("")
    return "\n".join(lines)
