"""The report's charts, built from the summary tables (charts.py draws them).

Every chart takes its figures from the same table rows as the tables beside it and shows
them with the same rounding; models keep the models table's order and one colour each.
A figure that is unknown is not drawn: its row says why.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from pipeline.report.cells import Section, ci_text, fmt
from pipeline.report.charts import (
    Chart,
    Interval,
    IntervalChart,
    LatencyChart,
    LatencyRow,
    Point,
    ScatterChart,
    TokenChart,
    TokenRow,
)
from pipeline.report.headline import cost_per_item
from pipeline.report.tables import BINS_PER_DECADE

ALL_LABEL = "all datasets (micro)"
MAX_GROUPS = 30  # groups drawn per dataset (the By group table lists every one)


def _interval(r: dict[str, Any], where: str, color: int) -> Interval:
    if r["accuracy"] is None:
        why = "not scored" if r["samples"] else "no answer yet"
        return Interval(r["model"], color, None, None, None, why, f"{r['model']} on {where}: "
                        f"{why}")
    ci = ci_text(r["accuracy_ci_low"], r["accuracy_ci_high"])
    shown = fmt(r["accuracy"], "pct")
    return Interval(r["model"], color, r["accuracy"], r["accuracy_ci_low"],
                    r["accuracy_ci_high"], shown,
                    f"{r['model']} on {where}: {shown} (95% CI {ci}), "
                    f"{r['scored_samples']:,} scored samples")


def _blocks(summary: pl.DataFrame, by_dataset: pl.DataFrame
            ) -> list[tuple[str | None, list[dict[str, Any]]]]:
    """(heading, rows in the models' order): all datasets when there are several, then each
    dataset."""
    datasets = by_dataset["dataset"].unique(maintain_order=True).to_list()
    out: list[tuple[str | None, list[dict[str, Any]]]] = []
    if len(datasets) > 1:
        out.append((ALL_LABEL, list(summary.iter_rows(named=True))))
    for ds in datasets:
        out.append((ds, list(by_dataset.filter(pl.col("dataset") == ds).iter_rows(named=True))))
    return out


def score_chart(summary: pl.DataFrame, by_dataset: pl.DataFrame,
                colors: dict[str, int]) -> IntervalChart | None:
    blocks, unscored = [], []
    for heading, rows in _blocks(summary, by_dataset):
        if not any(r["accuracy"] is not None for r in rows):
            unscored.append(heading)
            continue
        blocks.append((heading, [_interval(r, heading or "", colors[r["model"]])
                                 for r in rows]))
    if not blocks:
        return None
    note = ("Dots: accuracy; bars: its 95% interval (over samples). The axis spans the "
            "intervals, not 0-100%.")
    if unscored:
        note += f" Not scored, so not drawn: {', '.join(str(u) for u in unscored)}."
    return IntervalChart("Score with its 95% interval", blocks, note)


def cost_chart(summary: pl.DataFrame, colors: dict[str, int]) -> ScatterChart | None:
    if summary.height < 2:
        return None
    points = []
    for r in summary.iter_rows(named=True):
        cost = cost_per_item(r)
        score = r["accuracy"]
        if score is None:
            shown = "not scored, not drawn"
        elif cost is None:
            shown = f"{fmt(score, 'pct')}, cost unknown (no price), not drawn"
        else:
            shown = f"{fmt(score, 'pct')} at {fmt(cost, 'usd')} per item"
        points.append(Point(r["model"], colors[r["model"]], cost, score,
                            r["accuracy_ci_low"], r["accuracy_ci_high"], shown))
    if not any(p.cost is not None and p.score is not None for p in points):
        return None
    return ScatterChart(
        "Cost against score (all datasets)", points, lambda v: fmt(v, "usd"),
        "Each model's mean cost per item against its accuracy (micro) with its 95% interval. "
        "Ringed: the cost/score frontier, the models no other model beats on both (none "
        "is as cheap and as good, and better in one).")


def latency_chart(summary: pl.DataFrame, histogram: pl.DataFrame | None,
                  colors: dict[str, int]) -> LatencyChart | None:
    if histogram is None or histogram.height == 0:
        return None
    rows = []
    for r in summary.iter_rows(named=True):
        got = histogram.filter(pl.col("model") == r["model"])
        if got.height == 0:
            continue
        rows.append(LatencyRow(
            r["model"], colors[r["model"]], dict(zip(got["bin"].to_list(), got["n"].to_list(),
                                                     strict=True)),
            r["latency_p50_s"], r["latency_p95_s"],
            f"p50 {fmt(r['latency_p50_s'], 's')} · p95 {fmt(r['latency_p95_s'], 's')}"))
    if not rows:
        return None
    return LatencyChart("Latency distribution", rows, BINS_PER_DECADE,
                        lambda v: fmt(v, "s"),
                        "Successful answers' latencies (last attempt) on a log axis, "
                        f"{BINS_PER_DECADE} bins a decade, each model's tallest bin full "
                        "height; solid tick: p50, dashed: p95.")


def _tokens(v: float | None) -> str:
    return "–" if v is None else f"{v:,.0f}" if v >= 10 else f"{v:.1f}"


def token_chart(summary: pl.DataFrame, by_dataset: pl.DataFrame,
                colors: dict[str, int]) -> TokenChart | None:
    blocks = []
    estimated = False
    for heading, rows in _blocks(summary, by_dataset):
        drawn = []
        for r in rows:
            ok = r["ok"] or 0
            prompt = r["prompt_tokens"] / ok if ok and r["prompt_tokens"] is not None else None
            out = r["completion_tokens"] / ok if ok and r["completion_tokens"] is not None \
                else None
            star = "*" if r["usage_estimated"] else ""
            estimated = estimated or bool(star)
            shown = (f"{_tokens(prompt)} in + {_tokens(out)} out{star}" if ok else "no answer")
            drawn.append(TokenRow(r["model"], colors[r["model"]], prompt, out, shown,
                                  f"{r['model']} on {heading}: {_tokens(prompt)} prompt + "
                                  f"{_tokens(out)} completion tokens per answer ({ok:,} "
                                  "answers)" + (" (partly estimated)" if star else "")))
        blocks.append((heading, drawn))
    if not blocks:
        return None
    return TokenChart("Tokens per answer", blocks,
                      "Mean prompt (light) + completion (dark) tokens per successful answer."
                      + (" * partly estimated (no usage from the server)." if estimated
                         else ""))


def charts_section(summary: pl.DataFrame, by_dataset: pl.DataFrame,
                   histogram: pl.DataFrame | None = None) -> Section | None:
    """The Charts section (HTML only): scores with intervals, cost against score, latency
    distributions, tokens per answer."""
    if summary.height == 0:
        return None
    colors = {m: i for i, m in enumerate(summary["model"].to_list())}
    charts: list[Chart] = [c for c in (
        score_chart(summary, by_dataset, colors), cost_chart(summary, colors),
        latency_chart(summary, histogram, colors), token_chart(summary, by_dataset, colors),
    ) if c is not None]
    return Section("Charts", [], [], charts=charts) if charts else None


def group_charts(by_group: pl.DataFrame, models: list[str] | None = None) -> list[Chart]:
    """Per dataset with group_by, each group's scores with their intervals."""
    order = models or by_group["model"].unique(maintain_order=True).to_list()
    colors = {m: i for i, m in enumerate(order)}
    out: list[Chart] = []
    for ds in by_group["dataset"].unique(maintain_order=True).to_list():
        rows = by_group.filter(pl.col("dataset") == ds)
        groups = rows["group"].unique(maintain_order=True).to_list()
        blocks = []
        for g in groups[:MAX_GROUPS]:
            got = rows.filter(pl.col("group") == g)
            blocks.append((g, [_interval(r, f"{ds}, group {g}", colors.get(r["model"], 0))
                               for r in got.iter_rows(named=True)]))
        if not any(i.value is not None for _, b in blocks for i in b):
            continue
        note = "Dots: accuracy; bars: its 95% interval (small groups have wide ones)."
        if len(groups) > MAX_GROUPS:
            note += f" The first {MAX_GROUPS} of {len(groups)} groups; the table lists all."
        out.append(IntervalChart(f"Score by group: {ds}", blocks, note))
    return out
