"""The end of a run: journal -> scored results -> summary tables -> reports -> manifest.

Every figure here describes the whole run folder (its journal), not the last invocation:
the status comes from how many planned items have a final record, and "spent" is the sum
over every journaled request, superseded ones included.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.compare import BASELINE_FILES, RunData, compare, flagged, load_run, write_baseline
from pipeline.errors import RunStateError
from pipeline.journal import read_journal
from pipeline.plan import Plan
from pipeline.report import comparison, summary, summary_by_dataset
from pipeline.report.html import render_html
from pipeline.report.markdown import render_markdown
from pipeline.report.sections import Section, baseline_section, build_sections, warnings_of
from pipeline.results import build_rows, to_frame, write_tables
from pipeline.runfolder import MANIFEST, atomic_write, now_iso, write_json

STOPPED = frozenset({"interrupted", "aborted", "budget_exhausted", "failed"})


@dataclass(slots=True)
class Finalized:
    """The run folder's status and the figures the CLI's exit code depends on."""

    status: str
    planned: int
    pending: int
    failed: int  # planned items that ended in a permanent error
    error_rate: float
    warnings: list[str] = field(default_factory=list)
    baseline: pl.DataFrame | None = None  # the comparison with --baseline's run, if any


def run_status(send_status: str, planned: int, done: int, failed: int) -> str:
    """The run folder's status: how the last sending ended matters only while items are left."""
    if done < planned:
        return send_status if send_status in STOPPED else "incomplete"
    return "complete_with_errors" if failed else "complete"


def _read(folder: Path) -> tuple[dict[str, dict[str, Any]], float, bool, int]:
    """The latest record per key, money spent over every record, whether every record's cost
    is known, and the attempts made; one pass."""
    latest: dict[str, dict[str, Any]] = {}
    spent, known, attempts = 0.0, True, 0
    for rec in read_journal(folder):
        latest[rec["key"]] = rec
        cost = rec.get("cost_usd")
        if cost is None or rec.get("usage_estimated"):  # no price, or a guessed usage
            known = known and rec.get("status") != "ok"
        if cost is not None:
            spent += cost
        attempts += rec.get("attempts") or 0
    return latest, spent, known, attempts


def finalize(
    folder: Path, plan: Plan, run_id: str, manifest: dict[str, Any], send_status: str, *,
    reason: str | None = None, infos: list[dict[str, Any]] | None = None,
    rescored: bool = False, baseline: Path | None = None,
) -> Finalized:
    """Write results, summaries and reports from the journal; returns the run's status.
    With `baseline` (a finished run folder), also compare this run with it."""
    latest, spent, spent_known, attempts = _read(folder)
    results = to_frame(build_rows(run_id, plan.items(), latest, plan.scorers))
    epochs = plan.epochs
    summ = summary(results, epochs)
    by_ds = summary_by_dataset(results, epochs)
    comp = comparison(results)
    files = write_tables(folder, {"results": results, "summary": summ,
                                  "summary_by_dataset": by_ds, "comparison": comp})
    planned = plan.total
    final = results.filter(pl.col("final"))
    done = final.height
    failed = int((final["status"] != "ok").sum())
    status = run_status(send_status, planned, done, failed)
    error_rate = failed / planned if planned else 0.0
    in_results = results["cost_usd"].drop_nulls().sum() if results.height else 0.0
    unpriced_rows = int(results["cost_usd"].is_null().sum()) if results.height else 0
    warnings = warnings_of(summ, by_ds)
    stamp = {"rescored_at": now_iso()} if rescored else {"finished_at": now_iso()}
    manifest = {
        **manifest, "status": status, "send_status": send_status, "stop_reason": reason,
        "updated_at": now_iso(), **stamp,
        "totals": {
            "planned": planned, "done": done, "pending": planned - done,
            "results": results.height,
            "ok": int((results["status"] == "ok").sum()),
            "errors": int((results["status"] != "ok").sum()),
            "failed_items": failed, "error_rate": error_rate,
            "prompt_tokens": int(results["prompt_tokens"].sum() or 0),
            "completion_tokens": int(results["completion_tokens"].sum() or 0),
            "usage_estimated_rows": int(results["usage_estimated"].fill_null(False).sum()),
            # Unknown is not zero: a row without a price makes the total unknown.
            "cost_usd": None if unpriced_rows else float(in_results),
            "priced_cost_usd": float(in_results), "unpriced_rows": unpriced_rows,
            "spent_usd": float(spent), "spent_known": spent_known,
            "spent_outside_results_usd": float(max(0.0, spent - in_results)),
            "attempts": attempts,
        },
        "warnings": warnings,
        "files": sorted(p.name for p in files) + ["report.md", "report.html", "journal.jsonl"],
    }
    if infos is not None:
        manifest["datasets"] = infos
    base_frame, base_section = _baseline(folder, baseline, manifest, final)
    if baseline is not None:
        warnings = manifest["warnings"] = warnings + manifest["baseline"]["warnings"]
    meta = {**manifest, "items": f"{done} of {planned}"}
    sections = build_sections(results, summ, by_ds, comp, baseline=base_section)
    md, html = folder / "report.md", folder / "report.html"
    atomic_write(md, lambda p: p.write_text(render_markdown(meta, sections), "utf-8"))
    atomic_write(html, lambda p: p.write_text(render_html(meta, sections), "utf-8"))
    write_json(folder / MANIFEST, manifest)
    return Finalized(status, planned, planned - done, failed, error_rate, warnings,
                     base_frame)


def _baseline(folder: Path, baseline: Path | None, manifest: dict[str, Any],
              final: pl.DataFrame) -> tuple[pl.DataFrame | None, Section | None]:
    """Compare with the baseline run (write baseline.parquet/csv, note it in the manifest),
    or remove an earlier comparison's files, which no longer describe this run."""
    if baseline is None:
        manifest.pop("baseline", None)
        for name in BASELINE_FILES:
            (folder / name).unlink(missing_ok=True)
        return None, None
    try:
        got = compare(load_run(baseline), RunData(folder, manifest, final))
    except RunStateError as exc:  # e.g. the baseline folder went away: the run still counts
        manifest["baseline"] = {"folder": str(baseline), "error": str(exc),
                                "warnings": [f"no comparison with the baseline: {exc}"]}
        return None, None
    write_baseline(folder, got.frame)
    manifest["files"] = sorted({*manifest["files"], *BASELINE_FILES})
    manifest["baseline"] = {
        "run_id": got.base_run_id, "folder": str(baseline),
        "regressed": flagged(got.frame, "regressed"),
        "improved": flagged(got.frame, "improved"), "warnings": got.warnings,
    }
    return got.frame, baseline_section(got.frame, got.base_run_id)
