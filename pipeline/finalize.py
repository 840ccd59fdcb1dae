"""The end of a run: journal -> scored results -> summary tables -> reports -> manifest."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.journal import latest_by_key, read_journal
from pipeline.report import comparison, summary, summary_by_dataset
from pipeline.report.html import render_html
from pipeline.report.markdown import render_markdown
from pipeline.report.sections import build_sections
from pipeline.results import build_rows, to_frame, write_tables
from pipeline.runfolder import MANIFEST, atomic_write, now_iso, write_json

if TYPE_CHECKING:
    from pipeline.runner import Plan


def finalize(
    folder: Path, the_plan: Plan, run_id: str, manifest: dict[str, Any], status: str,
    latest: dict[str, dict[str, Any]] | None = None,
) -> str:
    """Write results, summaries and reports from the journal; returns the run's status.

    `latest` is the journal's last record per key, when the caller has already read it.
    A run whose sending ended normally but has planned items with no journal record is
    'incomplete' rather than 'complete'."""
    if latest is None:
        latest = latest_by_key(read_journal(folder))
    rows = build_rows(run_id, the_plan.items, latest, the_plan.scorers)
    results = to_frame(rows)
    summ, by_ds, comp = summary(results), summary_by_dataset(results), comparison(results)
    files = write_tables(folder, {"results": results, "summary": summ,
                                  "summary_by_dataset": by_ds, "comparison": comp})
    done, send_status = results.height, status
    if status == "complete" and done < len(the_plan.items):
        status = "incomplete"
    manifest = {
        **manifest, "status": status, "send_status": send_status,
        "updated_at": now_iso(), "finished_at": now_iso(),
        "totals": {
            "planned": len(the_plan.items), "done": done,
            "ok": int((results["status"] == "ok").sum()),
            "errors": int((results["status"] != "ok").sum()),
            "prompt_tokens": int(results["prompt_tokens"].fill_null(0).sum()),
            "completion_tokens": int(results["completion_tokens"].fill_null(0).sum()),
            "cost_usd": float(results["cost_usd"].fill_null(0.0).sum()),
        },
        "files": sorted(p.name for p in files) + ["report.md", "report.html", "journal.jsonl"],
    }
    meta = {**manifest, "items": f"{done} of {len(the_plan.items)}"}
    sections = build_sections(results, summ, by_ds, comp)
    md, html = folder / "report.md", folder / "report.html"
    atomic_write(md, lambda p: p.write_text(render_markdown(meta, sections), "utf-8"))
    atomic_write(html, lambda p: p.write_text(render_html(meta, sections), "utf-8"))
    write_json(folder / MANIFEST, manifest)
    return status
