"""Gates: what a finished run folder must show for a scheduled job to pass.

Each gate in the config's `[gates]` table is checked against the run folder's own tables
(`summary.parquet`, `summary_by_dataset.parquet`, `baseline.parquet`) and manifest, so the
verdict is the same whether it comes from `pipeline run` or `pipeline report`. A figure that
is unknown (no scored answer, no price, no successful request) never passes a gate: it fails
it, saying why. Scores are the tables' accuracy (per-sample means over epochs; an item that
failed for good counts 0).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.config import Gates

if TYPE_CHECKING:
    import polars as pl

BASELINE_TABLE = "baseline.parquet"
ALL = "(all)"  # the baseline table's overall row per model


@dataclass(frozen=True, slots=True)
class GateResult:
    """One gate checked on one scope (a model, a model on a dataset, or the whole run)."""

    gate: str  # min_score | score | max_cost_usd | max_error_rate | max_latency_p95_s |
    #            no_regression
    scope: str  # "run", a model name, or "<model> on <dataset>"
    value: float | None  # the measured figure; None when unknown
    limit: float | None
    passed: bool
    message: str  # one line: the gate, the value and the limit

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _pct(x: float | None) -> str:
    return "unknown" if x is None else f"{100 * x:.1f}%"


def _num(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else x


def _read(folder: Path, name: str) -> pl.DataFrame | None:
    import polars as pl

    path = folder / name
    return pl.read_parquet(path) if path.exists() else None


def _minimum(gate: str, scope: str, value: float | None, limit: float, what: str) -> GateResult:
    passed = value is not None and value >= limit
    if value is None:
        msg = f"gate {gate} failed: {scope}: no scored answers, so the {what} is unknown " \
              f"(minimum {_pct(limit)})"
    else:
        verb = "passed" if passed else "failed"
        rel = "at least" if passed else "below"
        msg = f"gate {gate} {verb}: {scope}: {what} {_pct(value)} is {rel} the minimum " \
              f"{_pct(limit)}"
    return GateResult(gate, scope, value, limit, passed, msg)


def _maximum(gate: str, scope: str, value: float | None, limit: float, what: str,
             fmt, unknown: str) -> GateResult:
    passed = value is not None and value <= limit
    if value is None:
        msg = f"gate {gate} failed: {scope}: {unknown} (maximum {fmt(limit)})"
    else:
        verb, rel = ("passed", "within") if passed else ("failed", "above")
        msg = f"gate {gate} {verb}: {scope}: {what} {fmt(value)} is {rel} the maximum {fmt(limit)}"
    return GateResult(gate, scope, value, limit, passed, msg)


def _score_gates(gates: Gates, summ: pl.DataFrame | None, by_ds: pl.DataFrame | None,
                 models: list[str]) -> list[GateResult]:
    out: list[GateResult] = []
    overall = {r["model"]: _num(r["accuracy"]) for r in summ.iter_rows(named=True)} \
        if summ is not None else {}
    per_ds = {(r["model"], r["dataset"]): _num(r["accuracy"])
              for r in by_ds.iter_rows(named=True)} if by_ds is not None else {}
    if gates.min_score is not None:
        for m in models:
            out.append(_minimum("min_score", m, overall.get(m), gates.min_score,
                                "score over all datasets"))
    for g in gates.score:
        for m in [g.model] if g.model else models:
            if g.dataset is None:
                out.append(_minimum("score", m, overall.get(m), g.min,
                                    "score over all datasets"))
            else:
                out.append(_minimum("score", f"{m} on {g.dataset}", per_ds.get((m, g.dataset)),
                                    g.min, "score"))
    return out


def _money(x: float) -> str:
    return f"${x:.4f}"


def _seconds(x: float) -> str:
    return f"{x:.2f}s"


def evaluate(gates: Gates, folder: Path, manifest: dict[str, Any],
             models: list[str]) -> list[GateResult]:
    """Check every configured gate against the run folder; an empty list when none is set."""
    if not gates.any:
        return []
    summ = _read(folder, "summary.parquet")
    by_ds = _read(folder, "summary_by_dataset.parquet")
    out = _score_gates(gates, summ, by_ds, models)
    rows = {r["model"]: r for r in summ.iter_rows(named=True)} if summ is not None else {}
    if gates.max_cost_usd is not None:
        totals = manifest.get("totals") or {}
        spent = _num(totals.get("spent_usd"))
        unpriced = totals.get("unpriced_rows") or 0
        value = None if unpriced else spent
        res = _maximum("max_cost_usd", "run", value, gates.max_cost_usd, "spent", _money,
                       f"the cost is unknown ({unpriced} answers have no price; set "
                       "models[].price)")
        if value is not None and not totals.get("spent_known", True):
            res = GateResult(res.gate, res.scope, res.value, res.limit, res.passed,
                             res.message + " (estimated: some answers had no usage)")
        out.append(res)
    if gates.max_error_rate is not None:
        for m in models:
            r = rows.get(m)
            items = (r or {}).get("items") or 0
            value = (r["failed"] / items) if r and items else None
            out.append(_maximum("max_error_rate", m, value, gates.max_error_rate,
                                "items failed for good:", _pct, "no items"))
    if gates.max_latency_p95_s is not None:
        for m in models:
            value = _num((rows.get(m) or {}).get("latency_p95_s"))
            out.append(_maximum("max_latency_p95_s", m, value, gates.max_latency_p95_s,
                                "p95 latency", _seconds, "no successful request, so the "
                                "latency is unknown"))
    if gates.no_regression:
        out += _regression_gates(folder, manifest)
    return out


def _regression_gates(folder: Path, manifest: dict[str, Any]) -> list[GateResult]:
    base = _read(folder, BASELINE_TABLE)
    if base is None or not manifest.get("baseline"):
        return [GateResult("no_regression", "run", None, None, False,
                           "gate no_regression failed: this run has no baseline to compare "
                           "with (run with --baseline latest or --baseline RUN_FOLDER)")]
    base_id = manifest["baseline"].get("run_id", "the baseline")
    out = []
    for r in base.iter_rows(named=True):
        scope = r["model"] if r["dataset"] == ALL else f"{r['model']} on {r['dataset']}"
        regressed = r.get("verdict") == "regressed"
        diff = _num(r.get("diff"))
        change = "unknown" if diff is None else f"{100 * diff:+.1f} pp"
        msg = (f"gate no_regression {'failed' if regressed else 'passed'}: {scope}: score "
               f"change {change} against {base_id}: {r.get('verdict')}")
        out.append(GateResult("no_regression", scope, diff, 0.0, not regressed, msg))
    return out


def failed(results: list[GateResult]) -> list[GateResult]:
    """The gates that did not pass."""
    return [r for r in results if not r.passed]
