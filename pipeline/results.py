"""Result rows: each finished work item's journal record, scored, as one table row."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.config import ScorerSpec
from pipeline.journal import SCHEMA_VERSION, is_final
from pipeline.runfolder import atomic_write
from pipeline.scoring import SCORERS, Output, Score
from pipeline.work import WorkItem

# Columns every results table has, in order, with their types (scorer columns follow).
BASE_SCHEMA: dict[str, pl.DataType] = {
    "run_id": pl.String(), "key": pl.String(), "dataset": pl.String(),
    "sample_id": pl.String(), "model": pl.String(), "model_id": pl.String(),
    "epoch": pl.Int32(), "status": pl.String(), "final": pl.Boolean(),
    "output_text": pl.String(),
    "reasoning": pl.String(), "tool_calls": pl.String(), "finish_reason": pl.String(),
    "prompt_tokens": pl.Int64(), "completion_tokens": pl.Int64(), "total_tokens": pl.Int64(),
    "usage_estimated": pl.Boolean(), "response_model": pl.String(),
    "model_mismatch": pl.Boolean(), "latency_s": pl.Float64(), "elapsed_s": pl.Float64(),
    "ttft_s": pl.Float64(), "attempts": pl.Int32(),
    "error_type": pl.String(), "error_message": pl.String(), "http_status": pl.Int32(),
    "response_id": pl.String(), "cost_usd": pl.Float64(), "target": pl.String(),
    "score": pl.Float64(), "started_at": pl.String(), "finished_at": pl.String(),
    "schema_version": pl.Int32(),
}


def score_record(
    record: Mapping[str, Any], item: WorkItem, specs: list[ScorerSpec]
) -> dict[str, Any]:
    """Scorer columns for one record: score_<name>, answer_<name>; None for error rows."""
    out: dict[str, Any] = {}
    ok = record.get("status") == "ok"
    view = Output(
        text=record.get("output_text") or "", tool_calls=record.get("tool_calls") or [],
        target=item.sample.target, choices=item.sample.choices,
        finish_reason=record.get("finish_reason"),
    )
    for i, spec in enumerate(specs):
        col = _scorer_column(spec, i, specs)
        if not ok:
            out[f"score_{col}"], out[f"answer_{col}"] = None, None
            continue
        opts = spec.model_dump(exclude={"name"}, exclude_none=True)
        try:
            s = SCORERS[spec.name](
                Output(view.text, view.tool_calls, view.target, view.choices, opts,
                       view.finish_reason))
        except Exception as exc:  # a target the scorer cannot read: score it wrong, say why
            s = Score(0.0, f"scorer error: {type(exc).__name__}: {exc}"[:200])
        out[f"score_{col}"], out[f"answer_{col}"] = s.value, s.answer
    # The primary score (the dataset's first scorer) drives accuracy in the summaries.
    out["score"] = out[f"score_{_scorer_column(specs[0], 0, specs)}"] if specs else None
    return out


def _scorer_column(spec: ScorerSpec, index: int, specs: list[ScorerSpec]) -> str:
    """The scorer's column suffix: its name, numbered if the dataset uses it twice."""
    if sum(s.name == spec.name for s in specs) > 1:
        return f"{spec.name}_{index + 1}"
    return spec.name


def build_rows(
    run_id: str, items: Iterable[WorkItem], latest: Mapping[str, dict[str, Any]],
    specs_by_dataset: Mapping[str, list[ScorerSpec]],
) -> list[dict[str, Any]]:
    """One scored row per planned item that has a journal record, in plan order."""
    rows = []
    for item in items:
        rec = latest.get(item.key)
        if rec is None:
            continue
        row = {name: rec.get(name) for name in BASE_SCHEMA}
        row.update(run_id=run_id, key=item.key, dataset=item.sample.dataset,
                   sample_id=item.sample.sample_id, model=item.model, epoch=item.epoch,
                   schema_version=SCHEMA_VERSION, final=is_final(rec))
        ok = rec.get("status") == "ok"
        row["usage_estimated"] = bool(rec.get("usage_estimated")) if ok else None
        row["model_mismatch"] = (
            not same_model(rec.get("model_id"), rec.get("response_model")) if ok else None)
        calls = rec.get("tool_calls")
        row["tool_calls"] = json.dumps(calls, ensure_ascii=False) if calls else None
        target = item.sample.target
        row["target"] = (
            None if target is None else target if isinstance(target, str)
            else json.dumps(target, ensure_ascii=False)
        )
        row.update(score_record(rec, item, specs_by_dataset[item.sample.dataset]))
        rows.append(row)
    return rows


def same_model(asked: str | None, answered: str | None) -> bool:
    """Whether a response's `model` names the model asked for: equal, or the asked id with a
    version suffix ("gpt-4o" answered as "gpt-4o-2024-08-06"); a missing field is no evidence
    of a mismatch."""
    if not answered or not asked:
        return True
    a, b = asked.casefold(), answered.casefold()
    return a == b or b.startswith(a + "-") or b.startswith(a + "@") or b.endswith("/" + a)


def to_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """The results table with a stable schema (scorer columns after the base columns)."""
    extra: dict[str, pl.DataType] = {}
    for row in rows:
        for name in row:
            if name not in BASE_SCHEMA and name not in extra:
                extra[name] = pl.Float64() if name.startswith("score_") else pl.String()
    schema = {**BASE_SCHEMA, **dict(sorted(extra.items()))}
    return pl.DataFrame(
        [{k: row.get(k) for k in schema} for row in rows], schema=schema, orient="row"
    )


def write_tables(folder: Path, frames: Mapping[str, pl.DataFrame]) -> list[Path]:
    """Write each frame as <name>.parquet and <name>.csv atomically."""
    written = []
    for name, df in frames.items():
        pq_path, csv_path = folder / f"{name}.parquet", folder / f"{name}.csv"
        atomic_write(pq_path, lambda p, df=df: df.write_parquet(p))
        atomic_write(csv_path, lambda p, df=df: df.write_csv(p))
        written += [pq_path, csv_path]
    return written
