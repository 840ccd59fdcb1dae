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

from pipeline.compare import (
    BASELINE_FILES,
    RunData,
    compare,
    final_rows,
    flagged,
    load_run,
    write_baseline,
)
from pipeline.errors import RunStateError
from pipeline.plan import Plan
from pipeline.prompts import write_prompts
from pipeline.records import key_digest, key_digest_expr
from pipeline.report import summary, summary_by_dataset, summary_by_group
from pipeline.report.explorer import SLOT, explorer_parts, explorer_pieces, write_page
from pipeline.report.html import render_html
from pipeline.report.instructions import instruction_section, instruction_table
from pipeline.report.markdown import render_markdown
from pipeline.report.sections import (
    Section,
    baseline_section,
    build_sections,
    judge_section,
    warnings_of,
)
from pipeline.report.tables import ALL, STREAMING, comparisons, latency_histogram
from pipeline.results import catch_up, scan_rows, sink_tables, write_tables
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
    judge_pending: int = 0  # answers its judge has not judged yet


def run_status(send_status: str, planned: int, done: int, failed: int) -> str:
    """The run folder's status: how the last sending ended matters only while items are left."""
    if done < planned:
        return send_status if send_status in STOPPED else "incomplete"
    return "complete_with_errors" if failed else "complete"


def _latest(rows: pl.LazyFrame, plan: Plan, restrict: bool) -> pl.LazyFrame:
    """The latest row of each key (a retried item's newer row wins), in journal order; with
    `restrict`, only keys the plan makes (after its requests changed, or a re-score with
    another config).

    A key has more than one row only if an earlier one was not final (a final item is never
    sent again), so only the keys of non-final rows are looked at: memory holds those (60-bit
    key digests), usually none, never every key."""
    digest = key_digest_expr().alias("_k")
    latest = rows
    nonfinal = rows.select((~pl.col("final")).sum()).collect(engine=STREAMING).item()
    retried = (rows.filter(~pl.col("final")).select(digest).unique()
               .collect(engine=STREAMING).to_series() if nonfinal else pl.Series([]))
    if retried.len():
        keyed = rows.select(digest, "_row").filter(pl.col("_k").is_in(retried.implode()))
        last = keyed.group_by("_k").agg(pl.col("_row").max().alias("_last"))
        drop = (keyed.join(last, on="_k").filter(pl.col("_row") != pl.col("_last"))
                .select("_row").collect(engine=STREAMING).to_series())
        if drop.len():
            latest = latest.filter(~pl.col("_row").is_in(drop.implode()))
    if restrict:
        planned = pl.Series("_k", [key_digest(item.key) for item in plan.items()],
                            dtype=pl.Int64)
        latest = latest.filter(digest.is_in(planned.implode()))
    return latest.drop("_row")


def with_config_columns(results: pl.LazyFrame, plan: Plan) -> pl.LazyFrame:
    """The results with the columns the config decides, worked out here rather than
    journaled, so a changed `group_by` or a re-score applies to every row: `group` (the value
    of the dataset's `group_by` key in the row's metadata, as text; null without group_by)
    and `scored` (false for outputs-only datasets: `scorers = []`)."""
    group: Any = None
    for d in plan.datasets:
        if d.spec.group_by is not None:
            value = pl.col("metadata").str.json_path_match(f"$['{d.spec.group_by}']")
            cond = pl.col("dataset") == d.name
            group = pl.when(cond).then(value) if group is None else group.when(cond).then(value)
    unscored = pl.Series([d.name for d in plan.datasets if d.spec.outputs_only],
                         dtype=pl.String)
    # An answer the judge has not graded (yet, or ever: its request failed, its reply had
    # no grade) has no score: it is left out of accuracy, never counted wrong.
    ungraded = (pl.col("status") == "ok") & pl.col("score").is_null()
    return results.with_columns(
        (pl.lit(None, pl.String) if group is None else group.otherwise(None)).alias("group"),
        (~pl.col("dataset").is_in(unscored.implode()) & ~ungraded).alias("scored"),
    )


GROUP_TABLE = "summary_by_group"


def _totals(rows: pl.LazyFrame, results: pl.LazyFrame) -> dict[str, Any]:
    """Figures over every record (spent, attempts) and over the results (the rest)."""
    ok = pl.col("status") == "ok"
    a = rows.select(
        pl.len().alias("records"), pl.col("spent_usd").sum().alias("spent"),
        pl.col("cost_usd").fill_null(0.0).sum().alias("spent_cost"),
        (ok & (pl.col("cost_usd").is_null() | pl.col("usage_estimated").fill_null(False)))
        .any().alias("unknown"),
        pl.col("attempts").fill_null(0).sum().alias("attempts"),
    ).collect(engine=STREAMING).row(0, named=True)
    b = results.select(
        pl.len().alias("results"), pl.col("final").sum().alias("done"),
        (pl.col("final") & ~ok).sum().alias("failed"), ok.sum().alias("ok"),
        pl.col("prompt_tokens").sum().alias("prompt_tokens"),
        pl.col("completion_tokens").sum().alias("completion_tokens"),
        pl.col("usage_estimated").fill_null(False).sum().alias("usage_estimated_rows"),
        pl.col("cost_usd").sum().alias("priced"),
        pl.col("cost_usd").is_null().sum().alias("unpriced_rows"),
    ).collect(engine=STREAMING).row(0, named=True)
    return {**a, **b}


TOOL_SCORERS = frozenset({"tool_call", "tool_call_any", "tool_call_set"})
MIN_TOOL_ANSWERS = 5  # answers without a single tool call before saying so


def _tools_ignored(results: pl.LazyFrame, plan: Plan) -> list[str]:
    """A model that answered none of a tool dataset's prompts with a tool call: most likely
    a server that drops `tools` (llama.cpp without a function-calling chat format), which
    would otherwise look like a model scoring 0."""
    tool_sets = [d.name for d in plan.datasets if d.scorers and d.scorers[0].name in TOOL_SCORERS]
    if not tool_sets:
        return []
    got = (results.filter(pl.col("dataset").is_in(pl.Series(tool_sets, dtype=pl.String)
                                                  .implode()) & (pl.col("status") == "ok"))
           .group_by("dataset", "model")
           .agg(pl.len().alias("answers"), pl.col("tool_calls").is_not_null().sum().alias("calls"))
           .filter((pl.col("answers") >= MIN_TOOL_ANSWERS) & (pl.col("calls") == 0))
           .sort("dataset", "model").collect(engine=STREAMING))
    return [f"{r['model']} on {r['dataset']}: none of its {r['answers']} answers called a tool; "
            "if the server ignores `tools` (llama.cpp needs a function-calling chat format, "
            "e.g. --chat_format chatml-function-calling), these scores measure the server, "
            "not the model" for r in got.iter_rows(named=True)]


def _ungraded(judge: dict[str, Any] | None) -> list[str]:
    """Answers the judge could not grade: left out of accuracy, so said plainly; and a judge
    without a price."""
    out = []
    if judge and judge["unpriced"]:
        out.append(f"the judge's cost is unknown: {judge['unpriced']} judge requests went to "
                   "a model without a price (add it to [[models]] with price = { input = ..., "
                   "output = ... })")
    for j in (judge or {}).get("scorers", []):
        if j["cut"]:
            out.append(f"{j['dataset']}: {j['cut']} judge replies were cut by the judge's "
                       "max_tokens before their grade; raise the judge's max_tokens")
        if j["errors"] or j["no_grade"]:
            out.append(f"{j['dataset']}: {j['errors'] + j['no_grade']} of {j['answers']} "
                       f"answers have no grade from the judge {j['model']} ({j['errors']} "
                       f"judge errors, {j['no_grade']} replies without a grade it reads); "
                       "they are left out of accuracy: see explanation_"
                       f"{j['scorer']} in results")
        if j["pending"]:
            out.append(f"{j['dataset']}: {j['pending']} answers are not judged yet (`pipeline "
                       "score RUN_FOLDER` sends their judge requests); accuracy leaves them out")
    return out


def _judge_totals(results: pl.LazyFrame, plan: Plan, verdicts: Any
                  ) -> dict[str, Any] | None:
    """The judge's figures (None without a judge): its requests and what they cost, and per
    judge column the answers graded, not graded (with why) and still to judge."""
    if verdicts is None:
        return None
    from pipeline.judging import judged
    from pipeline.records import scorer_column
    from pipeline.scoring.judge import CUT, NOT_JUDGED

    answered = results.filter(pl.col("final") & (pl.col("status") == "ok"))
    per: list[dict[str, Any]] = []
    pending = 0  # answers with a judge column not judged yet (each answer once)
    for dataset, judges in judged(plan.scorers).items():
        specs = plan.scorers[dataset]
        # the dataset's first scorer that is no judge: how often the judge agrees with it
        rule = next((scorer_column(s, i, specs) for i, s in enumerate(specs)
                     if s.name != "judge"), None)
        waiting = [pl.col(f"explanation_{col}").str.starts_with(NOT_JUDGED).fill_null(False)
                   for col, _ in judges]
        aggs = [pl.len().alias("answers"),
                pl.any_horizontal(waiting).sum().alias("_pending")]
        for i, (col, _) in enumerate(judges):
            why = pl.col(f"explanation_{col}")
            aggs += [pl.col(f"score_{col}").is_not_null().sum().alias(f"graded{i}"),
                     waiting[i].sum().alias(f"pending{i}"),
                     why.str.starts_with("judge error").sum().alias(f"errors{i}"),
                     why.str.starts_with(CUT).sum().alias(f"cut{i}")]
            if rule is not None:
                both = pl.col(f"score_{col}").is_not_null() & pl.col(f"score_{rule}").is_not_null()
                aggs.append((pl.col(f"score_{col}") == pl.col(f"score_{rule}")).filter(both)
                            .mean().alias(f"agree{i}"))
        got = answered.filter(pl.col("dataset") == dataset).select(aggs).collect(
            engine=STREAMING).row(0, named=True)
        pending += int(got["_pending"] or 0)
        answers = int(got["answers"])
        for i, (col, options) in enumerate(judges):
            graded, left = int(got[f"graded{i}"] or 0), int(got[f"pending{i}"] or 0)
            errors = int(got[f"errors{i}"] or 0)
            per.append({"dataset": dataset, "scorer": col, "model": options["model"],
                        "answers": answers, "graded": graded, "pending": left,
                        "errors": errors, "no_grade": answers - graded - left - errors,
                        "cut": int(got[f"cut{i}"] or 0), "agrees_with": rule,
                        "agreement": got.get(f"agree{i}")})
    unknown = None if verdicts.unpriced else verdicts.cost_usd  # unknown is not zero
    return {"requests": verdicts.records, "attempts": verdicts.attempts,
            "cost_usd": unknown, "spent_usd": unknown, "unpriced": verdicts.unpriced,
            "estimated": verdicts.estimated,
            "pending": pending, "scorers": per}


def finalize(
    folder: Path, plan: Plan, run_id: str, manifest: dict[str, Any], send_status: str, *,
    reason: str | None = None, infos: list[dict[str, Any]] | None = None,
    rescored: bool = False, baseline: Path | None = None, restrict: bool = False,
) -> Finalized:
    """Write results, summaries and reports from the run folder's result rows (brought level
    with the journal first); returns the run's status. With `baseline` (a finished run
    folder), also compare this run with it. Memory holds aggregates, never the rows."""
    catch_up(folder, run_id, plan.scorers)
    verdicts = None
    if plan.scorers.judge_ids:  # the judge's columns, from every verdict there is now
        from pipeline.judging import Verdicts
        from pipeline.results import refresh_parts

        verdicts = Verdicts(folder, plan.scorers.judge_ids)
        refresh_parts(folder, plan.scorers, verdicts)
    rows = scan_rows(folder)
    # Every table below reads the row parts (many small files stream in bounded memory; one
    # large file does not, in polars 2.1), with superseded rows left out.
    results = with_config_columns(_latest(rows, plan, restrict), plan)
    # The messages go to prompts.parquet, once per sample, not into every result row.
    files = sink_tables(folder, "results", results.drop("messages"))
    files.append(write_prompts(folder, results))
    results = results.drop("messages")
    epochs = plan.epochs
    order = {"model": [m.name for m in plan.models], "dataset": [d.name for d in plan.datasets]}
    reducer = plan.loaded.config.run.reducer
    by_ds = summary_by_dataset(results, epochs, order, reducer=reducer)
    summ = summary(results, epochs, order, by_dataset=by_ds, reducer=reducer)
    reference = plan.loaded.config.reference_model
    comps = comparisons(results, epochs, order, reference=reference, reducer=reducer)
    comp = comps.filter(pl.col("dataset") == ALL).drop("dataset")
    grouped = [d.name for d in plan.datasets if d.spec.group_by is not None]
    by_group = summary_by_group(results, epochs, order, datasets=grouped,
                                reducer=reducer) if grouped else None
    tables = {"summary": summ, "summary_by_dataset": by_ds, "comparison": comp,
              "comparison_by_dataset": comps.filter(pl.col("dataset") != ALL)}
    if by_group is not None:
        tables[GROUP_TABLE] = by_group
    else:  # an earlier invocation's groups no longer describe this run
        for suffix in (".parquet", ".csv"):
            (folder / f"{GROUP_TABLE}{suffix}").unlink(missing_ok=True)
    files += write_tables(folder, tables)
    instr = instruction_table(results, plan.scorers, order["model"])
    if instr is not None:
        files += write_tables(folder, {"instructions": instr})
    else:  # a re-score without the ifeval scorers: an earlier table no longer applies
        for stale in ("instructions.parquet", "instructions.csv"):
            (folder / stale).unlink(missing_ok=True)
    t = _totals(rows, results)
    planned = plan.total
    done, failed = int(t["done"] or 0), int(t["failed"] or 0)
    status = run_status(send_status, planned, done, failed)
    judge = _judge_totals(results, plan, verdicts)
    if judge and judge["pending"] and status in ("complete", "complete_with_errors"):
        status = send_status if send_status in STOPPED else "incomplete"
    error_rate = failed / planned if planned else 0.0
    in_results = float(t["priced"] or 0.0)
    unpriced_rows = int(t["unpriced_rows"] or 0)
    spent = float(t["spent_cost"] or 0.0)
    warnings = warnings_of(summ, by_ds) + _tools_ignored(results, plan) + _ungraded(judge)
    shown = list(warnings)  # the report's Warnings (a baseline's are in its own section)
    stamp = {"rescored_at": now_iso()} if rescored else {"finished_at": now_iso()}
    manifest = {
        **manifest, "status": status, "send_status": send_status, "stop_reason": reason,
        "updated_at": now_iso(), **stamp,
        "totals": {
            "planned": planned, "done": done, "pending": planned - done,
            "results": int(t["results"]), "ok": int(t["ok"] or 0),
            "errors": int(t["results"]) - int(t["ok"] or 0),
            "failed_items": failed, "error_rate": error_rate,
            "prompt_tokens": int(t["prompt_tokens"] or 0),
            "completion_tokens": int(t["completion_tokens"] or 0),
            "usage_estimated_rows": int(t["usage_estimated_rows"] or 0),
            # Unknown is not zero: a row without a price makes the total unknown.
            "cost_usd": None if unpriced_rows else in_results,
            "priced_cost_usd": in_results, "unpriced_rows": unpriced_rows,
            "spent_usd": spent, "spent_known": not t["unknown"],
            "spent_outside_results_usd": float(max(0.0, spent - in_results)),
            "attempts": int(t["attempts"] or 0), "records": int(t["records"]),
        },
        "warnings": warnings,
        "files": sorted(p.name for p in files) + ["report.md", "report.html"]
        + (["journal.jsonl"] if (folder / "journal.jsonl").exists() else []),
    }
    if judge:
        manifest["judge"] = judge
        manifest["totals"]["spent_usd"] = spent + (judge["spent_usd"] or 0.0)
        manifest["totals"]["judge_spent_usd"] = judge["spent_usd"]
        if judge["unpriced"] or judge["estimated"]:
            manifest["totals"]["spent_known"] = False
        manifest["files"] = sorted({*manifest["files"], "judge.jsonl"}) if (
            folder / "judge.jsonl").exists() else manifest["files"]
    else:
        manifest.pop("judge", None)
    if infos is not None:
        manifest["datasets"] = infos
    base_frame, base_section = _baseline(folder, baseline, manifest)
    if baseline is not None:
        warnings = manifest["warnings"] = warnings + manifest["baseline"]["warnings"]
    meta = {**manifest, "items": f"{done} of {planned}"}
    sections = build_sections(results, summ, by_ds, comps, reference=reference,
                              baseline=base_section, gates=_gates(folder, plan, manifest),
                              by_group=by_group, latency=latency_histogram(results, order),
                              instructions=instruction_section(instr),
                              judge=judge_section(judge), reducer=reducer,
                              warnings=shown)
    # The answer in words (the report's Headline), for the terminal and `--json` too.
    manifest["headline"] = next((sec.lines for sec in sections if sec.title == "Headline"), [])
    md, html = folder / "report.md", folder / "report.html"
    atomic_write(md, lambda p: p.write_text(render_markdown(meta, sections), "utf-8"))
    # The sample explorer: its rows are read now and written into the page piece by piece.
    parts = explorer_parts(folder, _scorer_columns(plan), order, run_id=run_id,
                           reducer=reducer)
    page = render_html(meta, sections, explorer=SLOT)
    atomic_write(html, lambda p: write_page(p, page, explorer_pieces(parts)))
    write_json(folder / MANIFEST, manifest)
    return Finalized(status, planned, planned - done, failed, error_rate, warnings,
                     base_frame, judge["pending"] if judge else 0)


def _gates(folder: Path, plan: Plan, manifest: dict[str, Any]) -> list[Any]:
    """The config's gates checked on the tables just written, for the report (the CLI checks
    them again for its exit code, from the same files). A shard's are not: the gates judge
    the whole run, when its shards merge."""
    from pipeline.gates import evaluate

    if plan.shard is not None:
        return []
    cfg = plan.loaded.config
    return evaluate(cfg.gates, folder, manifest, [m.name for m in cfg.models])


def _scorer_columns(plan: Plan) -> dict[str, list[str]]:
    """Each dataset's scorer column suffixes, its primary scorer first (the explorer's)."""
    from pipeline.records import scorer_column

    return {name: [scorer_column(s, i, specs) for i, s in enumerate(specs)]
            for name, specs in plan.scorers.items()}


def _baseline(folder: Path, baseline: Path | None, manifest: dict[str, Any]
              ) -> tuple[pl.DataFrame | None, Section | None]:
    """Compare with the baseline run (write baseline.parquet/csv, note it in the manifest),
    or remove an earlier comparison's files, which no longer describe this run."""
    if baseline is None:
        manifest.pop("baseline", None)
        for name in BASELINE_FILES:
            (folder / name).unlink(missing_ok=True)
        return None, None
    try:
        got = compare(load_run(baseline), RunData(folder, manifest, final_rows(folder)))
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
