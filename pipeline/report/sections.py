"""The report's content as plain sections of formatted cells, shared by Markdown and HTML."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

# The run facts at the top of every report: (label, manifest key).
FACTS = (("Config", "config_path"), ("Status", "status"), ("Provider", "provider"),
         ("Started", "created_at"), ("Finished", "finished_at"), ("Items", "items"))


def facts(meta: dict[str, Any]) -> list[tuple[str, str]]:
    """The run facts that the manifest has, as (label, text)."""
    return [(label, str(meta[key])) for label, key in FACTS if meta.get(key) is not None]


@dataclass(slots=True)
class Section:
    """A titled table of display strings, with an optional note under it."""

    title: str
    headers: list[str]
    rows: list[list[str]]
    note: str = ""
    bars: dict[str, list[tuple[str, float]]] = field(default_factory=dict)  # for HTML charts


def fmt(value: Any, kind: str = "") -> str:
    """One cell as text."""
    if value is None:
        return "–"
    if kind == "pct":
        return f"{100 * value:.1f}%"
    if kind == "usd":
        if value >= 1:
            return f"${value:,.2f}"
        if value >= 0.01:
            return f"${value:.4f}"
        return "$" + (f"{value:.6f}".rstrip("0").rstrip(".") if value else "0")
    if kind == "s":
        return f"{value:.2f}s" if value >= 0.1 else f"{1000 * value:.0f}ms"
    if kind == "int":
        return f"{int(value):,}"
    if kind == "diff":
        return f"{100 * value:+.1f} pp"
    return str(value)


def _ci(lo: float | None, hi: float | None) -> str:
    return "–" if lo is None or hi is None else f"{100 * lo:.1f}–{100 * hi:.1f}%"


def model_section(summary: pl.DataFrame) -> Section:
    """Per model: quality, cost and speed."""
    headers = ["model", "samples", "accuracy", "95% CI", "errors", "in tok", "out tok",
               "cost", "$/correct", "p50 lat", "p95 lat", "retries"]
    rows = [
        [r["model"], fmt(r["samples"], "int"), fmt(r["accuracy"], "pct"),
         _ci(r["accuracy_ci_low"], r["accuracy_ci_high"]), fmt(r["errors"], "int"),
         fmt(r["prompt_tokens"], "int"), fmt(r["completion_tokens"], "int"),
         fmt(r["cost_usd"], "usd"), fmt(r["cost_per_correct_usd"], "usd"),
         fmt(r["latency_p50_s"], "s"), fmt(r["latency_p95_s"], "s"), fmt(r["retries"], "int")]
        for r in summary.iter_rows(named=True)
    ]
    bars = {
        "accuracy": [(r["model"], r["accuracy"] or 0.0) for r in summary.iter_rows(named=True)],
        "cost (USD)": [(r["model"], r["cost_usd"] or 0.0) for r in summary.iter_rows(named=True)],
        "p50 latency (s)": [(r["model"], r["latency_p50_s"] or 0.0)
                            for r in summary.iter_rows(named=True)],
    }
    note = ("Accuracy is the mean of each dataset's first scorer over all items; an item that "
            "ended in an error counts as wrong. Tokens in and out are prompt and completion "
            "tokens; $/correct is the cost per correct answer; latencies are of successful "
            "requests.")
    return Section("Models", headers, rows, note, bars)


def dataset_section(by_dataset: pl.DataFrame) -> Section:
    """Per dataset and model."""
    headers = ["dataset", "model", "samples", "accuracy", "95% CI", "errors", "cost",
               "p50 latency"]
    rows = [
        [r["dataset"], r["model"], fmt(r["samples"], "int"), fmt(r["accuracy"], "pct"),
         _ci(r["accuracy_ci_low"], r["accuracy_ci_high"]), fmt(r["errors"], "int"),
         fmt(r["cost_usd"], "usd"), fmt(r["latency_p50_s"], "s")]
        for r in by_dataset.iter_rows(named=True)
    ]
    return Section("By dataset", headers, rows)


def comparison_section(comp: pl.DataFrame) -> Section | None:
    """Paired differences against the baseline model."""
    if comp.height == 0:
        return None
    headers = ["model", "vs baseline", "paired items", "accuracy diff", "95% CI", "wins",
               "losses"]
    rows = [
        [r["model"], r["baseline"], fmt(r["n"], "int"), fmt(r["mean_diff"], "diff"),
         f"{100 * r['ci_low']:+.1f} to {100 * r['ci_high']:+.1f} pp", fmt(r["wins"], "int"),
         fmt(r["losses"], "int")]
        for r in comp.iter_rows(named=True)
    ]
    note = ("Differences are paired on the same sample and epoch; a CI that excludes 0 "
            "is a difference unlikely to be noise.")
    return Section("Comparison", headers, rows, note)


def errors_section(results: pl.DataFrame) -> Section | None:
    """Counts of error kinds per model."""
    errs = results.filter(pl.col("status") != "ok")
    if errs.height == 0:
        return None
    counts = (
        errs.group_by(["model", "error_type", "http_status"], maintain_order=True)
        .agg(pl.len().alias("n"), pl.col("error_message").first().alias("example"))
        .sort(["model", "n"], descending=[False, True])
    )
    rows = [
        [r["model"], str(r["error_type"]), fmt(r["http_status"]), fmt(r["n"], "int"),
         (r["example"] or "")[:120]]
        for r in counts.iter_rows(named=True)
    ]
    return Section("Errors", ["model", "kind", "HTTP", "count", "example"], rows)


def build_sections(
    results: pl.DataFrame, summary: pl.DataFrame, by_dataset: pl.DataFrame, comp: pl.DataFrame
) -> list[Section]:
    """Every section of the report, in order."""
    out = [model_section(summary), dataset_section(by_dataset)]
    out += [s for s in (comparison_section(comp), errors_section(results)) if s is not None]
    return out
