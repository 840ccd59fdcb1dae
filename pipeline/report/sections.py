"""The report's content as plain sections of formatted cells, shared by Markdown and HTML."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import polars as pl

from pipeline.compare import MIN_SAMPLES, describe
from pipeline.report.cells import Section, ci_text, fmt, p_text
from pipeline.report.figures import charts_section, group_charts
from pipeline.report.headline import comparison_section, headline_section

if TYPE_CHECKING:
    from pipeline.gates import GateResult

__all__ = ["Section", "build_sections", "facts", "fmt", "simulated_banner"]

# The run facts at the top of every report: (label, manifest key).
FACTS = (("Config", "config_path"), ("Status", "status"),
         ("Provider", "provider"), ("Started", "created_at"), ("Finished", "finished_at"),
         ("Rescored", "rescored_at"), ("Items", "items"))


def facts(meta: dict[str, Any]) -> list[tuple[str, str]]:
    """The run facts that the manifest has, as (label, text)."""
    out = [(label, str(meta[key])) for label, key in FACTS if meta.get(key) is not None]
    if meta.get("scored_with"):  # `pipeline report RUN --config OTHER`: name what scored it
        out = [("Scored with", f"{meta['scored_with']} (pipeline report --config)"),
               *[("Requests sent with", text) if label == "Config" else (label, text)
                 for label, text in out]]
    if meta.get("stop_reason") and meta.get("status") not in ("complete", "complete_with_errors"):
        out.append(("Stopped", str(meta["stop_reason"])))
    totals = meta.get("totals") or {}
    if "spent_usd" in totals:
        spent = fmt(totals["spent_usd"], "usd")
        outside = totals.get("spent_outside_results_usd") or 0.0
        judge = totals.get("judge_spent_usd")
        if judge:
            spent += f" (of which {fmt(judge, 'usd')} on the judge)"
        if outside > 0:
            spent += f" (of which {fmt(outside, 'usd')} on requests not in these results)"
        unpriced = totals.get("unpriced_rows") or 0
        if unpriced and not totals["spent_usd"]:  # unknown, never $0
            spent = (f"unknown: {unpriced} answers have no price (set models.price to count "
                     "them)")
        elif unpriced:
            spent = f"at least {spent}: {unpriced} answers have no price"
        elif not totals.get("spent_known", True):
            spent += " (not exact: some answers had no usage or no price)"
        out.append(("Spent in this run folder", spent))
    return out


SIMULATED = ("Simulated figures: this run was made on the built-in emulator "
             "(provider.kind = \"local\"), not a real model. Its scores, tokens, costs and "
             "latencies are simulated; nothing was billed.")


def simulated_banner(meta: dict[str, Any]) -> str | None:
    """The plain warning at the top of a report made on the emulator, else None."""
    return SIMULATED if meta.get("provider") == "local" else None


def _tokens(value: Any, estimated: int) -> str:
    text = fmt(value, "int")
    return f"{text}*" if estimated and value is not None else text


def _epochs(summary: pl.DataFrame) -> int:
    return int(summary["epochs"].max() or 1) if summary.height else 1


def _has(frame: pl.DataFrame, column: str) -> bool:
    return column in frame.columns and frame.height > 0


def _macro_shown(summary: pl.DataFrame) -> bool:
    """Whether a model averages more than one dataset (else macro and micro are one)."""
    return _has(summary, "macro_datasets") and int(summary["macro_datasets"].max() or 0) > 1


def _unscored_shown(frame: pl.DataFrame) -> bool:
    """Whether some answered samples are of outputs-only datasets (not in accuracy)."""
    return _has(frame, "scored_samples") and bool((frame["samples"] > frame["scored_samples"])
                                                  .any())


OUTPUTS_ONLY = "not scored"  # the accuracy cell of a group none of whose samples is scored
# (an outputs-only dataset, or one whose answers the judge has not graded)


def _accuracy(r: dict[str, Any]) -> str:
    if r["accuracy"] is None and r.get("scored_samples") == 0 and r["samples"]:
        return OUTPUTS_ONLY
    return fmt(r["accuracy"], "pct")


MICRO = "micro: every scored sample weighs the same, so a larger dataset weighs more"
MACRO = "macro: the mean of the datasets' accuracies, each dataset weighing the same"


REDUCED = {"mean": "averaged", "max": "reduced to their best score",
           "majority": "reduced to their most common score (majority vote; a tie goes to "
                       "the lower)"}


def model_section(summary: pl.DataFrame, reducer: str = "mean") -> Section:
    """Per model: quality, cost and speed; over several datasets, accuracy both micro and
    macro, labelled."""
    epochs = _epochs(summary)
    macro, unscored = _macro_shown(summary), _unscored_shown(summary)
    headers = ["model", "samples"]
    if unscored:
        headers += ["scored"]
    if epochs > 1:
        headers += ["epochs"]
    headers += ["accuracy (micro)", "95% CI", "accuracy (macro)"] if macro else \
        ["accuracy", "95% CI"]
    if epochs > 1:
        headers += [f"pass@{epochs}", "agreement"]
    headers += ["errors", "cut", "in tok", "out tok", "cost", "$/correct", "p50 lat",
                "p95 lat", "retries"]
    rows = []
    for r in summary.iter_rows(named=True):
        row = [r["model"], fmt(r["samples"], "int")]
        if unscored:
            row += [fmt(r["scored_samples"], "int")]
        if epochs > 1:
            row += [fmt(r["epochs"], "int")]
        row += [_accuracy(r), ci_text(r["accuracy_ci_low"], r["accuracy_ci_high"])]
        if macro:
            row += [fmt(r["accuracy_macro"], "pct")]
        if epochs > 1:
            short = (r.get("pass_at_k_samples") or 0) < (r["samples"] or 0)
            row += [fmt(r["pass_at_k"], "pct") + (
                f" ({r['pass_at_k_samples']} of {r['samples']})" if short else ""),
                fmt(r["agreement"], "pct")]
        row += [fmt(r["errors"], "int"), fmt(r["cut_by_max_tokens"], "int"),
                _tokens(r["prompt_tokens"], r["usage_estimated"]),
                _tokens(r["completion_tokens"], r["usage_estimated"]),
                fmt(r["cost_usd"], "usd") + ("*" if r["usage_estimated"] and
                                             r["cost_usd"] is not None else ""),
                fmt(r["cost_per_correct_usd"], "usd"),
                fmt(r["latency_p50_s"], "s"), fmt(r["latency_p95_s"], "s"),
                fmt(r["retries"], "int")]
        rows.append(row)
    note = ("Accuracy is the mean over samples of each dataset's first scorer"
            + (f", each sample's {epochs} epochs {REDUCED[reducer]} first (run.reducer); "
               "the 95% CI counts samples, "
               f"not epochs; pass@{epochs} is the share of samples answered right at least "
               f"once (unbiased estimator; a sample with fewer than {epochs} finished "
               "epochs is left out of it, and the count says so), agreement the share whose "
               "epochs all scored the same"
               if epochs > 1 else "")
            + (f". Over several datasets it is given twice: {MICRO} (the 95% CI is its); "
               f"{MACRO}" if macro else "")
            + (". 'scored' counts the samples in accuracy: datasets with scorers = [] are "
               "answered and counted in tokens and cost, never scored, and an answer the "
               "judge has not graded is left out, not counted wrong" if unscored else "")
            + ". An item that ended in an error counts as wrong. 'cut' counts answers that "
            "stopped at max_tokens. Tokens in and out are prompt and completion tokens; "
            "$/correct is the cost of the scored answers per correct one; latencies are of the "
            "last attempt of successful requests. '–' is unknown (a model without a price has "
            "no cost, not $0).")
    estimated = int(summary["usage_estimated"].sum()) if summary.height else 0
    if estimated:
        note += (f" * includes {estimated:,} answers whose server reported no usage: their "
                 "tokens are estimated at four characters a token.")
    return Section("Models", headers, rows, note)


ALL_MICRO = "all datasets (micro)"
ALL_MACRO = "all datasets (macro)"


def dataset_section(by_dataset: pl.DataFrame, summary: pl.DataFrame | None = None) -> Section:
    """Per dataset and model; beside them, with a summary over several datasets, each
    model's overall accuracy both ways, labelled micro and macro. A 'scored' column when
    some samples are not in accuracy (outputs-only datasets, answers the judge has not
    graded)."""
    scored = _unscored_shown(by_dataset)
    headers = ["dataset", "model", "samples", *(["scored"] if scored else []), "accuracy",
               "95% CI", "errors", "cut", "cost", "p50 latency"]

    def counts(r: dict[str, Any], samples: Any) -> list[str]:
        return [fmt(samples, "int"), *([fmt(r["scored_samples"], "int")] if scored else [])]

    rows = [
        [r["dataset"], r["model"], *counts(r, r["samples"]), _accuracy(r),
         ci_text(r["accuracy_ci_low"], r["accuracy_ci_high"]), fmt(r["errors"], "int"),
         fmt(r["cut_by_max_tokens"], "int"), fmt(r["cost_usd"], "usd"),
         fmt(r["latency_p50_s"], "s")]
        for r in by_dataset.iter_rows(named=True)
    ]
    notes = []
    if summary is not None and _macro_shown(summary):
        for r in summary.iter_rows(named=True):
            rows.append([ALL_MICRO, r["model"],
                         *counts(r, r["samples"] if scored else r["scored_samples"]),
                         fmt(r["accuracy"], "pct"),
                         ci_text(r["accuracy_ci_low"], r["accuracy_ci_high"]),
                         fmt(r["errors"], "int"), fmt(r["cut_by_max_tokens"], "int"),
                         fmt(r["cost_usd"], "usd"), fmt(r["latency_p50_s"], "s")])
            rows.append([ALL_MACRO, r["model"], fmt(r["macro_datasets"], "int") + " datasets",
                         *([""] if scored else []), fmt(r["accuracy_macro"], "pct"), "–", "",
                         "", "", ""])
        notes.append(f"The last rows give each model's overall accuracy two ways: {MICRO}; "
                     f"{MACRO}. Outputs-only datasets are in neither.")
    if scored:
        notes.append("'scored' counts the samples in accuracy: outputs-only datasets "
                     "(scorers = []) are answered and costed, never scored, and answers the "
                     "judge has not graded are left out, not counted wrong.")
    return Section("By dataset", headers, rows, " ".join(notes))


def group_section(by_group: pl.DataFrame | None, models: list[str] | None = None
                  ) -> Section | None:
    """Per dataset, group (its `group_by` value) and model, with a chart per dataset
    (`models`: the models table's order, for their colours)."""
    if by_group is None or by_group.height == 0:
        return None
    scored = _unscored_shown(by_group)
    headers = ["dataset", "group", "model", "samples", *(["scored"] if scored else []),
               "accuracy", "95% CI", "errors", "cost"]
    rows = [
        [r["dataset"], r["group"], r["model"], fmt(r["samples"], "int"),
         *([fmt(r["scored_samples"], "int")] if scored else []), _accuracy(r),
         ci_text(r["accuracy_ci_low"], r["accuracy_ci_high"]), fmt(r["errors"], "int"),
         fmt(r["cost_usd"], "usd")]
        for r in by_group.iter_rows(named=True)
    ]
    note = ("Each dataset with group_by, split by the value of that key in each row's "
            "metadata ('(none)': rows without it). Samples are the unit, as above; small "
            "groups have wide intervals.")
    return Section("By group", headers, rows, note, charts=group_charts(by_group, models))


def _change(a: float | None, b: float | None, kind: str) -> str:
    if kind == "tokens":
        return " → ".join("–" if v is None else f"{v:,.1f}" for v in (a, b))
    return f"{fmt(a, kind)} → {fmt(b, kind)}"


def baseline_section(frame: pl.DataFrame, base_run_id: str) -> Section:
    """This run against a baseline run: a sentence per row, then the figures beside it."""
    headers = ["dataset", "model", "samples", "change", "95% CI", "p", "test", "verdict",
               "errors", "cost/item", "tokens/item", "p50 lat", "p95 lat"]
    rows = []
    for r in frame.iter_rows(named=True):
        ci = ("–" if r["ci_low"] is None or r["ci_high"] is None
              else f"{100 * r['ci_low']:+.1f} to {100 * r['ci_high']:+.1f} pp")
        rows.append([
            r["dataset"], r["model"], fmt(r["shared_samples"], "int"),
            f"{_change(r['base_score'], r['new_score'], 'pct')} ({fmt(r['diff'], 'diff')})",
            ci, p_text(r["p_value"]), r["test"] or "–",
            r["verdict"], _change(r["base_error_rate"], r["new_error_rate"], "pct"),
            _change(r["base_cost_per_item"], r["new_cost_per_item"], "usd"),
            _change(r["base_tokens_per_item"], r["new_tokens_per_item"], "tokens"),
            _change(r["base_latency_p50_s"], r["new_latency_p50_s"], "s"),
            _change(r["base_latency_p95_s"], r["new_latency_p95_s"], "s"),
        ])
    note = (f"Against run {base_run_id}, on the samples both runs finished (per dataset and "
            "model; '(all)' pools the datasets). As in the tables above, an item that ended "
            "in an error scores 0 and each sample's epochs are reduced first (run.reducer); "
            "the CI is a "
            "paired Student t interval over samples. p is McNemar's exact test for one-epoch "
            "pass/fail scores, else the paired t test. Verdict: p < 0.05 is 'regressed' or "
            "'improved' by the sign of the change, otherwise 'no significant change'; fewer "
            f"than {MIN_SAMPLES} shared samples is 'too few samples'. Errors, cost and "
            "tokens per item and latencies (of successful answers) are baseline → this run.")
    return Section("Change against baseline", headers, rows, note,
                   lines=[describe(r) for r in frame.iter_rows(named=True)])


def error_counts(results: pl.DataFrame | pl.LazyFrame, by: list[str]) -> pl.DataFrame:
    """The rows that ended in an error, counted by `by` (with error_type last among them):
    `n` and the first `example` message of each, most first within `by`'s leading columns
    (an aggregation: the rows are never all in memory)."""
    lead = [c for c in by if c not in ("error_type", "http_status")]
    return (
        results.lazy().filter(pl.col("status") != "ok")
        .group_by(by)
        .agg(pl.len().alias("n"), pl.col("error_message").first().alias("example"))
        .sort([*lead, "n", "error_type"], descending=[*(False for _ in lead), True, False])
        .collect(engine="streaming")
    )


def errors_section(results: pl.DataFrame | pl.LazyFrame) -> Section | None:
    """Counts of error kinds per model."""
    counts = error_counts(results, ["model", "error_type", "http_status"])
    if counts.height == 0:
        return None
    rows = [
        [r["model"], str(r["error_type"]), fmt(r["http_status"]), fmt(r["n"], "int"),
         (r["example"] or "")[:120]]
        for r in counts.iter_rows(named=True)
    ]
    return Section("Errors", ["model", "kind", "HTTP", "count", "example"], rows)


def warnings_of(summary: pl.DataFrame, by_dataset: pl.DataFrame) -> list[str]:
    """Plain sentences about figures a reader could misread: answers cut by max_tokens,
    usage estimated, answers from another model than asked, models without a price."""
    out = []
    for r in by_dataset.iter_rows(named=True):
        if r["cut_by_max_tokens"]:
            out.append(f"{r['model']} on {r['dataset']}: {r['cut_by_max_tokens']} of {r['ok']} "
                       "answers were cut by max_tokens (finish_reason 'length')")
        if r["content_filtered"]:
            out.append(f"{r['model']} on {r['dataset']}: {r['content_filtered']} answers were "
                       "stopped by a content filter")
    for r in summary.iter_rows(named=True):
        if r["pending"]:
            out.append(f"{r['model']}: {r['pending']} items are still pending (errors left to "
                       "retry: resume the run); accuracy and comparisons leave them out")
        if r["usage_estimated"]:
            n = r["usage_estimated"]
            out.append(f"{r['model']}: {n} answer{'s' if n != 1 else ''} came without usage; "
                       "their tokens and cost are estimated (four characters a token)")
        if r["model_mismatch"]:
            out.append(f"{r['model']}: {r['model_mismatch']} answers name another model in "
                       "their 'model' field than the one asked for (a mistyped id on a server "
                       "that answers any id?); see response_model in results")
        if r["cost_usd"] is None and r["items"]:
            out.append(f"{r['model']}: no price known, so its cost is unknown (set "
                       "models.price)")
    return out


def warnings_section(warnings: list[str]) -> Section | None:
    """The warnings as a one-column table."""
    if not warnings:
        return None
    return Section("Warnings", ["what to check"], [[w] for w in warnings])


def judge_section(judge: dict[str, Any] | None) -> Section | None:
    """The judge's work (manifest["judge"]): per judged dataset, answers graded and not, and
    what the judge cost."""
    if not judge:
        return None
    rows = [[j["dataset"], j["scorer"], j["model"], fmt(j["answers"], "int"),
             fmt(j["graded"], "int"), fmt(j["pending"], "int"), fmt(j["errors"], "int"),
             fmt(j["no_grade"], "int"),
             f"{fmt(j.get('agreement'), 'pct')} with {j['agrees_with']}"
             if j.get("agrees_with") and j.get("agreement") is not None else "–"]
            for j in judge["scorers"]]
    cost = fmt(judge["cost_usd"], "usd") if judge["cost_usd"] is not None else "unknown (no price)"
    lines = [f"The judge made {judge['requests']:,} requests, costing {cost} (judge cost: in "
             "the run's spending, not in any model's cost)."]
    if judge["pending"]:
        lines.append(f"{judge['pending']:,} answers are not judged yet; `pipeline score "
                     "RUN_FOLDER` sends their judge requests.")
    return Section("Judge", ["dataset", "scorer", "judge model", "answers", "graded",
                             "not judged yet", "judge errors", "no grade in reply",
                             "agreement"], rows,
                   note="Answers without a grade are left out of accuracy (see 'scored'), "
                        "never counted wrong; each row's reasoning is in results.parquet "
                        "(explanation_<scorer>). Agreement: the share of answers both graded "
                        "where the judge gave the same score as the dataset's first other "
                        "scorer (a rule to check the judge against).", lines=lines)


def gates_section(gates: list[GateResult] | None) -> Section | None:
    """The [gates] checks: a sentence per gate, those that failed first."""
    if not gates:
        return None
    failed = [g for g in gates if not g.passed]
    head = (f"{len(failed)} of {len(gates)} gate checks failed." if failed
            else f"All {len(gates)} gate checks passed.")
    return Section("Gates", [], [], lines=[head, *(g.message for g in failed),
                                           *(g.message for g in gates if g.passed)])


def build_sections(
    results: pl.DataFrame | pl.LazyFrame, summary: pl.DataFrame, by_dataset: pl.DataFrame,
    comps: pl.DataFrame, *, reference: str | None = None, baseline: Section | None = None,
    gates: list[GateResult] | None = None, by_group: pl.DataFrame | None = None,
    latency: pl.DataFrame | None = None,
    instructions: Section | None = None, judge: Section | None = None,
    reducer: str = "mean", warnings: list[str] | None = None,
) -> list[Section]:
    """Every section of the report, in order: the answer first (the headline: each model
    against the reference, per dataset and overall; `comps` is tables.comparisons'), then
    the change against a baseline and the gates, the warnings, the tables and charts;
    `warnings`: the run's (else those the tables give); `latency`: the latency histogram
    (tables.latency_histogram) for its chart."""
    shown = warnings if warnings is not None else warnings_of(summary, by_dataset)
    out = [headline_section(summary, by_dataset, comps, reference)]
    out += [baseline] if baseline is not None else []
    out += [s for s in (gates_section(gates), warnings_section(shown)) if s is not None]
    out += [model_section(summary, reducer)]
    out += [s for s in (charts_section(summary, by_dataset, latency),) if s is not None]
    out += [dataset_section(by_dataset, summary)]
    out += [s for s in (comparison_section(summary, by_dataset, comps, REDUCED[reducer]),)
            if s is not None]
    out += [judge] if judge is not None else []
    out += [instructions] if instructions is not None else []
    out += [s for s in (group_section(by_group, summary["model"].to_list()),
                        errors_section(results)) if s is not None]
    return out
