"""IFEval's own figures: prompt-level and instruction-level accuracy, strict and loose.

The `ifeval` scorers put "k/n" (instructions followed of those checked) in their answer
column. Prompt-level accuracy is the share of answers that followed every checked
instruction; instruction-level accuracy is sum(k) / sum(n) over the answers (IFEval's
definition). Both count only answers with at least one checked instruction: a prompt whose
every instruction could not be checked (some languages) is counted apart, never as a pass or
a fail; answers that ended in an error are counted apart too (the main accuracy counts them,
and the unchecked ones, as wrong). Computed lazily over the results: memory holds groups.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import polars as pl

from pipeline.records import scorer_column
from pipeline.report.tables import STREAMING

if TYPE_CHECKING:
    from pipeline.config import ScorerSpec

IFEVAL = {"ifeval": "strict", "ifeval_loose": "loose"}


def _mode(spec: ScorerSpec) -> str | None:
    if spec.name not in IFEVAL:
        return None
    if spec.name == "ifeval" and (spec.model_extra or {}).get("mode") == "loose":
        return "loose"
    return IFEVAL[spec.name]


def instruction_table(results: pl.LazyFrame, scorers: Mapping[str, list[ScorerSpec]],
                      models: list[str]) -> pl.DataFrame | None:
    """One row per dataset, model and ifeval scorer; None when no dataset uses one."""
    parts = []
    for dataset, specs in scorers.items():
        for i, spec in enumerate(specs):
            mode = _mode(spec)
            if mode is None:
                continue
            col = scorer_column(spec, i, specs)
            counts = pl.col(f"answer_{col}").str.extract_groups(r"^(\d+)/(\d+)$")
            k = counts.struct.field("1").cast(pl.Int64)
            n = counts.struct.field("2").cast(pl.Int64)
            ok = pl.col("status") == "ok"
            checked = ok & (n > 0)
            parts.append(
                results.filter(pl.col("final") & (pl.col("dataset") == dataset))
                .group_by("model").agg(
                    pl.lit(dataset).alias("dataset"), pl.lit(col).alias("scorer"),
                    pl.lit(mode).alias("mode"),
                    checked.sum().alias("answers"),
                    (checked & (k == n)).sum().alias("_all"),
                    k.filter(checked).sum().alias("followed"),
                    n.filter(checked).sum().alias("instructions"),
                    (ok & (n == 0)).sum().alias("unchecked_only"),
                    (~ok).sum().alias("errors"),
                ))
    if not parts:
        return None
    got = pl.concat(parts).collect(engine=STREAMING)
    rank = {m: i for i, m in enumerate(models)}
    got = got.with_columns(
        (pl.col("_all") / pl.col("answers")).alias("prompt_level"),
        (pl.col("followed") / pl.col("instructions")).alias("instruction_level"),
        pl.col("model").replace_strict(rank, default=len(rank)).alias("_rank"),
    ).sort("dataset", "scorer", "_rank")
    return got.select("dataset", "model", "scorer", "mode", "answers", "prompt_level",
                      "instructions", "followed", "instruction_level", "unchecked_only",
                      "errors")


def instruction_section(table: pl.DataFrame | None) -> Any:
    """The report's "Instruction following" section, or None."""
    if table is None or table.is_empty():
        return None
    from pipeline.report.sections import Section, fmt

    rows = [[r["dataset"], r["model"], f"{r['scorer']} ({r['mode']})",
             fmt(r["answers"], "int"), fmt(r["prompt_level"], "pct"),
             fmt(r["instructions"], "int"), fmt(r["instruction_level"], "pct"),
             fmt(r["unchecked_only"], "int"), fmt(r["errors"], "int")]
            for r in table.iter_rows(named=True)]
    note = ("Prompt-level: the share of answers that followed every instruction checked; "
            "instruction-level: instructions followed over instructions checked (IFEval's "
            "definitions). Both leave out answers none of whose instructions could be "
            "checked ('unchecked only') and answers that ended in an error, which the "
            "accuracy above counts as wrong.")
    return Section("Instruction following", ["dataset", "model", "scorer", "answers",
                                             "prompt-level", "instructions",
                                             "instruction-level", "unchecked only",
                                             "errors"], rows, note=note)
