"""How a run ends for a scheduler: the exit code, its reason, and the `--json` document.

Everything here is read from the run folder (manifest and tables) after `finalize`, so a
`pipeline run` and a later `pipeline report` of the same folder decide the same way. The
order of precedence: interrupted (130) over incomplete (3) over a failed gate (1). Gates
are still checked and shown on an incomplete run, but its exit code is 3: figures from part
of a run are not a verdict.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.errors import (  # noqa: F401 (EXIT_INTERNAL: part of this module's names)
    EXIT_GATE,
    EXIT_INCOMPLETE,
    EXIT_INPUT,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
)
from pipeline.gates import BASELINE_TABLE, GateResult, failed

JSON_SCHEMA_VERSION = 1
SCHEMA_FILE = Path(__file__).parent / "schemas" / "run-output.schema.json"


@dataclass(slots=True)
class Decision:
    """The exit code, a stable reason word, and one human line saying why."""

    exit_code: int
    reason: str  # ok | gate_failed | incomplete | errors_above_max | interrupted
    message: str
    gates: list[GateResult] = field(default_factory=list)


def decide(manifest: dict[str, Any], max_error_rate: float, gates: list[GateResult],
           resume_hint: str) -> Decision:
    """The run folder's verdict from its manifest (written by finalize) and checked gates."""
    status = manifest.get("status", "failed")
    totals = manifest.get("totals") or {}
    planned, pending = totals.get("planned", 0), totals.get("pending", 0)
    failed_items, error_rate = totals.get("failed_items", 0), totals.get("error_rate", 0.0)
    if status in ("interrupted", "aborted"):
        return Decision(EXIT_INTERRUPTED, "interrupted",
                        f"stopped before the end; {resume_hint}", gates)
    judging = (manifest.get("judge") or {}).get("pending", 0)
    if pending or judging:  # answers the judge has not graded yet are work left too
        why = manifest.get("stop_reason") or (
            f"{pending} items are left to send or retry" if pending else
            f"{judging} answers are not judged yet")
        return Decision(EXIT_INCOMPLETE, "incomplete", f"incomplete: {why}; {resume_hint}",
                        gates)
    if error_rate > max_error_rate:
        return Decision(
            EXIT_INCOMPLETE, "errors_above_max",
            f"{failed_items} of {planned} items failed for good ({100 * error_rate:.1f}%, above "
            f"run.max_error_rate {100 * max_error_rate:g}%); see the Errors section of report.md",
            gates)
    bad = failed(gates)
    if bad:
        return Decision(EXIT_GATE, "gate_failed",
                        f"{len(bad)} of {len(gates)} gate checks failed", gates)
    if gates:
        return Decision(EXIT_OK, "ok", f"all {len(gates)} gate checks passed", gates)
    return Decision(EXIT_OK, "ok", "complete", gates)


def _clean(v: Any) -> Any:
    """JSON-safe values: NaN and infinities become null (unknown, never a number)."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_clean(x) for x in v]
    return v


def _rows(folder: Path, name: str) -> list[dict[str, Any]]:
    import polars as pl

    path = folder / name
    return pl.read_parquet(path).to_dicts() if path.exists() else []


def document(command: str, folder: Path, manifest: dict[str, Any], decision: Decision,
             invocation: dict[str, int] | None = None,
             warnings: list[str] | None = None) -> dict[str, Any]:
    """The one JSON document `--json` prints (shape: pipeline/schemas/run-output.schema.json)."""
    totals = manifest.get("totals") or {}
    baseline = manifest.get("baseline")
    paths = {"folder": str(folder), "manifest": str(folder / "manifest.json"),
             "report_md": str(folder / "report.md"), "report_html": str(folder / "report.html"),
             "results": str(folder / "results.parquet"),
             "summary": str(folder / "summary.parquet"),
             "baseline": str(folder / BASELINE_TABLE) if baseline else None}
    doc = {
        "schema_version": JSON_SCHEMA_VERSION,
        "command": command,
        "run_id": manifest.get("run_id", folder.name),
        "name": manifest.get("name"),
        "provider": manifest.get("provider"),
        "simulated": manifest.get("provider") == "local",
        "status": manifest.get("status"),
        "exit_code": decision.exit_code,
        "exit_reason": decision.reason,
        "message": decision.message,
        "items": {
            "planned": totals.get("planned", 0), "done": totals.get("done", 0),
            "pending": totals.get("pending", 0), "failed": totals.get("failed_items", 0),
            "error_rate": totals.get("error_rate", 0.0),
            **({"sent_now": invocation["sent"], "already_done": invocation["skipped"],
                "errors_now": invocation["errors"]} if invocation else {}),
        },
        "cost": {
            # Unknown is not zero: with answers that have no price the total is unknown
            # (null); what the priced ones cost is a lower bound beside it.
            "spent_usd": None if totals.get("unpriced_rows") else totals.get("spent_usd"),
            "spent_priced_usd": totals.get("spent_usd"),
            "spent_known": totals.get("spent_known"),
            "results_cost_usd": totals.get("cost_usd"),
            "unpriced_rows": totals.get("unpriced_rows", 0),
            "usage_estimated_rows": totals.get("usage_estimated_rows", 0),
        },
        "models": _rows(folder, "summary.parquet"),
        "by_dataset": _rows(folder, "summary_by_dataset.parquet"),
        "baseline": ({"run_id": baseline.get("run_id"), "folder": baseline.get("folder"),
                      "rows": _rows(folder, BASELINE_TABLE)} if baseline else None),
        "gates": [g.to_dict() for g in decision.gates],
        "gates_passed": not failed(decision.gates),
        "headline": manifest.get("headline") or [],
        "warnings": list(dict.fromkeys([*(warnings or []), *(manifest.get("warnings") or [])])),
        "paths": paths,
    }
    return _clean(doc)


def error_document(command: str, exit_code: int, message: str) -> dict[str, Any]:
    """The `--json` document when the command failed before a run folder had results."""
    reason = {EXIT_INPUT: "bad_input", EXIT_INCOMPLETE: "incomplete",
              EXIT_INTERRUPTED: "interrupted"}.get(exit_code, "error")
    return {"schema_version": JSON_SCHEMA_VERSION, "command": command, "exit_code": exit_code,
            "exit_reason": reason, "message": message}


def dumps(doc: dict[str, Any]) -> str:
    """Strict JSON (no NaN), one document."""
    return json.dumps(doc, allow_nan=False, default=str)
