"""The comparison that matters, first: each model against the reference model, per dataset
and over all of them, in plain sentences (the report's Headline) and as a table (Comparison).

A score difference is the paired one (tables.comparisons: model minus reference on the
scored samples both answered, a 95% Student t interval, McNemar's exact test or the paired
t test, named). Cost and latency are ratios: the model's mean cost per item over the
reference's, and its p50 latency over the reference's. A figure that is unknown is said to
be unknown, never shown as 0× (a model without a price, no successful answer, a reference
that cost $0); an outputs-only dataset, or one whose answers the judge has not graded, has
no score difference, only its cost and latency.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from pipeline.compare import ALPHA, MIN_SAMPLES
from pipeline.report.cells import (
    TESTS,
    Section,
    ci_text,
    diff_ci_text,
    fmt,
    p_text,
    p_words,
    ratio_text,
)
from pipeline.report.tables import ALL

ALL_LABEL = "all datasets"


def cost_per_item(r: dict[str, Any]) -> float | None:
    """A table row's mean cost per finished item (answered, or failed for good; an item
    still pending a retry has cost nothing yet); unknown when any item has no price."""
    done = (r["items"] or 0) - (r.get("pending") or 0)
    return r["cost_usd"] / done if r["cost_usd"] is not None and done > 0 else None


def cost_ratio(r: dict[str, Any], ref: dict[str, Any]) -> float | None:
    """The model's cost per item over the reference's; None when either is unknown or the
    reference's is $0."""
    a, b = cost_per_item(r), cost_per_item(ref)
    return a / b if a is not None and b else None


def latency_ratio(r: dict[str, Any], ref: dict[str, Any]) -> float | None:
    a, b = r.get("latency_p50_s"), ref.get("latency_p50_s")
    return a / b if a is not None and b else None


def _money(r: dict[str, Any], ref: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The cost and p50 latency against the reference: (phrases of the known ratios, e.g.
    "0.33× the cost", phrases saying what is unknown and why)."""
    known, unknown = [], []
    a, b = cost_per_item(r), cost_per_item(ref)
    if a is None or b is None:
        who = " and ".join(x["model"] for x, v in ((r, a), (ref, b)) if v is None)
        unknown.append(f"cost unknown (no price for {who})")
    elif b == 0:
        unknown.append("the same cost ($0)" if a == 0 else
                       f"cost {fmt(a, 'usd')} per item where {ref['model']} cost $0")
    else:
        known.append(f"{ratio_text(a / b)} the cost" + (
            " (partly estimated usage)" if r["usage_estimated"] or ref["usage_estimated"]
            else ""))
    a, b = r.get("latency_p50_s"), ref.get("latency_p50_s")
    if a is None or not b:
        who = " and ".join(x["model"] for x, v in ((r, a), (ref, b)) if not v)
        unknown.append(f"p50 latency unknown (no successful answer from {who})")
    else:
        known.append(f"{ratio_text(a / b)} the p50 latency")
    return known, unknown


def _score_words(c: dict[str, Any] | None, model: str, ref: str) -> str:
    """"m scores 10.3 pp lower than r (95 % CI 5.6–15.0, p < 0.001 by McNemar's exact test,
    320 paired samples)"."""
    if c is None or not c["n"]:
        return f"{model} and {ref} have no scored sample in common, so no score difference"
    d, lo, hi, n = c["mean_diff"], c["ci_low"], c["ci_high"], c["n"]
    size = f"{100 * abs(d):.1f}"
    if size == "0.0":
        head = f"{model} scores the same as {ref}"
    else:
        head = f"{model} scores {size} pp {'lower' if d < 0 else 'higher'} than {ref}"
    if n < 2:
        ci = "one paired sample, so no interval"
    elif not c["wins"] and not c["losses"]:
        ci = "every paired sample scored the same"
    elif lo < 0 < hi:
        ci = f"95 % CI {100 * -lo:.1f} pp lower to {100 * hi:.1f} pp higher"
    else:
        a, b = sorted((abs(lo), abs(hi)))
        ci = f"95 % CI {100 * a:.1f}–{100 * b:.1f}"
    p = c["p_value"]
    test = f"{p_words(p)} by {TESTS[c['test']]}" if p is not None \
        else "no p-value from one sample"
    caveat = ""
    if n < MIN_SAMPLES:
        caveat = ": too few to tell"
    elif p is not None and p >= ALPHA:
        caveat = ": not a significant difference"
    return f"{head} ({ci}, {test}, {n:,} paired sample{'s' if n != 1 else ''}{caveat})"


def _left(r: dict[str, Any]) -> str:
    """ ' yet (N pending, M failed)': why a model has no answer in a scope."""
    parts = [f"{r[k]:,} {k}" for k in ("pending", "failed") if r.get(k)]
    return (" yet" if r.get("pending") else "") + (f" ({', '.join(parts)})" if parts else "")


def _alone_words(r: dict[str, Any]) -> str:
    """One model's own figures (nothing to compare it with)."""
    if r["accuracy"] is None and not r.get("ok"):  # nothing answered: not "not scored"
        score = f"{r['model']} has no answers here{_left(r)}"
    elif r["accuracy"] is None:
        score = f"{r['model']} is not scored here"
    else:
        score = (f"{r['model']} scores {fmt(r['accuracy'], 'pct')} (95 % CI "
                 f"{ci_text(r['accuracy_ci_low'], r['accuracy_ci_high'])}, "
                 f"{r['scored_samples']:,} scored samples)")
    cost = cost_per_item(r)
    spent = (f"cost unknown (no price for {r['model']})" if cost is None
             else f"{fmt(r['cost_usd'], 'usd')} ({fmt(cost, 'usd')} per item)")
    return f"{score}, {spent}, p50 latency {fmt(r.get('latency_p50_s'), 's')}"


def _scopes(summary: pl.DataFrame, by_dataset: pl.DataFrame
            ) -> list[tuple[str, str, dict[str, dict[str, Any]]]]:
    """(label, dataset key, rows by model) for all datasets (with more than one) and each."""
    datasets = by_dataset["dataset"].unique(maintain_order=True).to_list()
    out = []
    if len(datasets) != 1:
        out.append((ALL_LABEL, ALL, {r["model"]: r for r in summary.iter_rows(named=True)}))
    for ds in datasets:
        rows = by_dataset.filter(pl.col("dataset") == ds)
        out.append((ds, ds, {r["model"]: r for r in rows.iter_rows(named=True)}))
    return out


def _scored(rows: dict[str, dict[str, Any]]) -> bool:
    return any(r["scored_samples"] for r in rows.values())


def headline_lines(summary: pl.DataFrame, by_dataset: pl.DataFrame, comps: pl.DataFrame,
                   reference: str | None) -> list[str]:
    """The headline's sentences, one per compared model and scope (all datasets first)."""
    models = summary["model"].to_list()
    if not models:
        return ["No model has results yet."]
    ref = reference if reference is not None else models[0]
    comp = {(r["dataset"], r["model"]): r for r in comps.iter_rows(named=True)}
    lines = []
    if len(models) == 1 or ref not in models:
        lines.append(f"{models[0]} is the only model, so there is nothing to compare it with."
                     if len(models) == 1 else
                     f"The reference model {ref} has no results, so nothing is compared.")
        for label, _, rows in _scopes(summary, by_dataset):
            lines += [f"{label.capitalize() if label == ALL_LABEL else label}: "
                      f"{_alone_words(r)}." for r in rows.values()]
        return lines
    for label, key, rows in _scopes(summary, by_dataset):
        base = rows.get(ref)
        head = label.capitalize() if label == ALL_LABEL else label
        for model in models:
            r = rows.get(model)
            if model == ref or r is None:
                continue
            if base is None:
                lines.append(f"{head}: {ref} has no results here, so {model} is not compared.")
                continue
            known, unknown = _money(r, base)
            at = f" at {' and '.join(known)}" if known else ""
            rest = "".join(f"; {u}" for u in unknown)
            if not (r.get("ok") and base.get("ok")):  # a side answered nothing here
                lines.append(f"{head}: " + "; ".join(
                    f"{x['model']} has no answers here{_left(x)}" for x in (base, r)
                    if not x.get("ok")) + f", so {model} is not compared with {ref}.")
            elif _scored(rows):
                score = _score_words(comp.get((key, model)), model, ref)
                lines.append(f"{head}: {score}{at}{rest}.")
            else:
                lines.append(f"{head} (not scored): {model}{at}{' of ' + ref if at else ''}"
                             f"{rest}.")
    return lines


NOTE = ("Each model against {ref} (run.reference; by default the first model): the score "
        "difference is paired, model minus {ref}, on the scored samples both answered "
        "(outputs-only datasets and answers the judge did not grade are left out; an item "
        "that ended in an error scores 0), with a 95% Student t interval over samples; p is "
        "McNemar's exact test for one-epoch pass/fail scores, else the paired t test, and "
        "below 0.05 a difference is unlikely to be noise. All datasets pools every scored "
        "sample (micro). Cost is the ratio of the mean cost per finished item (unknown, "
        "never 0×, when a model has no price); latency the ratio of the p50 latencies of "
        "successful answers.")


def headline_section(summary: pl.DataFrame, by_dataset: pl.DataFrame, comps: pl.DataFrame,
                     reference: str | None) -> Section:
    """The report's first section: the headline sentences, no table."""
    models = summary["model"].to_list()
    ref = reference if reference is not None else (models[0] if models else "")
    note = NOTE.format(ref=ref) if len(models) > 1 and ref in models else ""
    return Section("Headline", [], [], note,
                   lines=headline_lines(summary, by_dataset, comps, reference))


def comparison_section(summary: pl.DataFrame, by_dataset: pl.DataFrame, comps: pl.DataFrame,
                       reducer_words: str) -> Section | None:
    """The headline's figures as a table: per scope and model, the paired difference with
    its interval, p and test, wins and losses named from the model's side, and the cost and
    p50 latency ratios."""
    if comps.height == 0:
        return None
    ref = comps["baseline"][0]
    others = comps["model"].unique(maintain_order=True).to_list()
    who = others[0] if len(others) == 1 else "model"
    headers = ["dataset", "model", "paired samples", f"accuracy diff vs {ref}",
               "95% CI", "p", "test", f"wins of {who} over {ref}",
               f"losses of {who} to {ref}", "ties", "cost ratio", "p50 latency ratio"]
    comp = {(r["dataset"], r["model"]): r for r in comps.iter_rows(named=True)}
    rows = []
    for label, key, by_model in _scopes(summary, by_dataset):
        base = by_model.get(ref)
        for model in others:
            r = by_model.get(model)
            if r is None:
                continue
            c = comp.get((key, model))
            ratios = [fmt(cost_ratio(r, base), "ratio") if base else "–",
                      fmt(latency_ratio(r, base), "ratio") if base else "–"]
            if c is None:  # no scored sample here (outputs-only, or nothing graded)
                rows.append([label, model, "0", "not scored", "–", "–", "–", "–", "–", "–",
                             *ratios])
                continue
            n = c["n"]
            rows.append([label, model, fmt(n, "int"), fmt(c["mean_diff"], "diff"),
                         diff_ci_text(c["ci_low"], c["ci_high"]) if n > 1 else "–",
                         p_text(c["p_value"]), c["test"] or "–", fmt(c["wins"], "int"),
                         fmt(c["losses"], "int"), fmt(c["ties"], "int"), *ratios])
    note = (f"Differences are paired on the same scored samples (epochs {reducer_words} per "
            f"sample first), model minus the reference model {ref} (run.reference; by "
            "default the first model); wins are samples where the model scored higher than "
            "the reference, losses lower, ties the same. The 95% CI is Student t's over "
            "samples; p is McNemar's exact test (mcnemar) for one-epoch pass/fail scores, "
            "else the paired t test (paired-t). Cost ratio: the model's mean cost per item "
            "over the reference's ('–' when either has no price or the reference cost $0); "
            "p50 latency ratio likewise, of successful answers.")
    return Section("Comparison", headers, rows, note)
