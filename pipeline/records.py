"""The one record schema of a run folder: the journal record of each finished work item, the
compact result row derived from it, and the schema version both carry.

A journal record (one JSON line of `journal.jsonl`) is the single record of what was done
and paid for; it holds everything needed to score it again (the sample's target and choices),
so result rows can be rebuilt from the journal alone, in one streaming pass, with no dataset
and no plan. A result row (`rows/part-*.parquet`, then `results.parquet`) is the record scored
and flattened to the typed columns of `ROW_SCHEMA`.

Every record and row carries `schema_version`; readers call `check_version` and refuse a run
folder written by an incompatible version with one clear line.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

from pipeline.errors import RunStateError

if TYPE_CHECKING:
    import polars as pl

    from pipeline.client import ChatError, Completion
    from pipeline.config import ScorerSpec
    from pipeline.pricing import Rate
    from pipeline.work import WorkItem

# 1: pipeline 0.1 (no plan position, no target in the journal). 2: this layout.
SCHEMA_VERSION = 2
READABLE_VERSIONS = frozenset({2})


class JournalRecord(TypedDict):
    """One line of journal.jsonl (fields every record has; outcome fields follow)."""

    schema_version: int
    key: str  # the work item's stable hash (pipeline.work.item_key)
    position: int  # the item's place in the plan's stream (0-based)
    dataset: str
    sample_id: str
    model: str  # the model's name in tables
    model_id: str
    epoch: int
    target: Any  # the sample's target and options, as sent: what scoring reads
    choices: list[str] | None
    started_at: str
    finished_at: str
    status: str  # "ok" | "error"
    attempts: int
    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None
    cost_usd: float | None  # None: the model has no price
    cost_bound_usd: NotRequired[float]  # estimated usage: the worst case reserved for it
    output_text: NotRequired[str]
    error_type: NotRequired[str]
    retryable: NotRequired[bool]
    metadata: NotRequired[dict[str, Any]]  # the sample's metadata, when it has any
    # The request's messages, on the record of each sample's first item (epoch 1, first
    # model) only: prompts.parquet is built from them, and the journal stays small; on every
    # record of a dataset with a judge, whose rubric shows them (pipeline.judging).
    messages: NotRequired[list[dict[str, Any]]]
    # Judge records (judge.jsonl) only: the answer judged and the judge's column.
    judged_key: NotRequired[str]
    judged_model: NotRequired[str]
    scorer: NotRequired[str]


def check_version(version: Any, where: str) -> None:
    """Refuse a record or row this version cannot read, naming where it is."""
    if version in READABLE_VERSIONS:
        return
    if version is None or (isinstance(version, int) and version < SCHEMA_VERSION):
        raise RunStateError(
            f"{where}: written by an older pipeline (record schema {version or 1}; this one "
            f"reads {SCHEMA_VERSION}); report it with the version that wrote it, or run the "
            "config again with a new --run-id")
    raise RunStateError(
        f"{where}: written by a newer pipeline (record schema {version}; this one reads "
        f"{SCHEMA_VERSION}); upgrade pipeline to read it")


# -- journal records -------------------------------------------------------------------------

def _iso(ts: float | None = None) -> str:
    dt = datetime.now(UTC) if ts is None else datetime.fromtimestamp(ts, UTC)
    return dt.isoformat(timespec="milliseconds")


def _base(item: WorkItem, model_id: str, started: float) -> dict[str, Any]:
    sample = item.sample
    base = {
        "schema_version": SCHEMA_VERSION, "key": item.key, "position": item.position,
        "dataset": sample.dataset, "sample_id": sample.sample_id, "model": item.model,
        "model_id": model_id, "epoch": item.epoch, "target": sample.target,
        "choices": sample.choices, "started_at": _iso(started), "finished_at": _iso(),
    }
    if sample.metadata:
        base["metadata"] = sample.metadata
    if item.judged or (item.epoch == 1 and item.model_index == 0):
        base["messages"] = item.body.get("messages")
    if item.extra:
        base.update(item.extra)
    return base


def usage_of(item: WorkItem, c: Completion) -> tuple[int, int, bool]:
    """(prompt tokens, completion tokens, estimated): the server's counts, or estimates
    (four characters a token; see pipeline.tokens) for what it did not report."""
    from pipeline.tokens import estimate_completion, estimate_prompt

    prompt, completion = c.prompt_tokens, c.completion_tokens
    estimated = prompt is None or completion is None
    if prompt is None:
        prompt = estimate_prompt(item.body.get("messages") or (), item.body.get("tools"))
    if completion is None:
        body = item.body
        completion = estimate_completion(
            c.text, c.reasoning, c.tool_calls,
            max_tokens=body.get("max_tokens") or body.get("max_completion_tokens"),
            cut=c.finish_reason == "length")
    return prompt, completion, estimated


def ok_record(
    item: WorkItem, model_id: str, rate: Rate | None, started: float, c: Completion,
    bound_usd: float | None = None,
) -> dict[str, Any]:
    """A success: output, usage (estimated and marked when the server gave none) and cost
    (None when the model has no price). With estimated usage the cost is a guess: the
    worst case reserved for it (`bound_usd`) is kept too, and budgets count that."""
    prompt, completion, estimated = usage_of(item, c)
    extra = {"cost_bound_usd": bound_usd} if estimated and bound_usd else {}
    return {**extra,
        **_base(item, model_id, started), "status": "ok", "output_text": c.text,
        "reasoning": c.reasoning, "tool_calls": c.tool_calls or None,
        "finish_reason": c.finish_reason, "prompt_tokens": prompt,
        "completion_tokens": completion, "total_tokens": prompt + completion,
        "usage_estimated": estimated, "usage": c.usage, "response_model": c.model,
        "latency_s": c.latency_s, "elapsed_s": c.elapsed_s, "ttft_s": c.ttft_s,
        "attempts": c.attempts, "http_status": c.http_status, "response_id": c.response_id,
        "request_id": c.request_id,
        "cost_usd": rate.cost(prompt, completion) if rate else None,
    }


def error_record(
    item: WorkItem, model_id: str, rate: Rate | None, started: float, e: ChatError
) -> dict[str, Any]:
    """A failure: its kind, status and message (never the key: ChatError redacts it).

    No usage came back, so tokens are unknown (null); a failed request is taken to be
    unbilled, so its cost is 0 for a priced model."""
    return {
        **_base(item, model_id, started), "status": "error", "error_type": e.kind,
        "error_message": str(e), "http_status": e.http_status, "attempts": e.attempts,
        "retryable": e.retryable, "latency_s": e.latency_s, "elapsed_s": e.elapsed_s,
        "request_id": e.request_id, "prompt_tokens": None, "completion_tokens": None,
        "total_tokens": None, "cost_usd": 0.0 if rate else None,
    }


def local_error_record(
    item: WorkItem, model_id: str, rate: Rate | None, kind: str, message: str, *,
    retryable: bool,
) -> dict[str, Any]:
    """An item refused before sending (e.g. its prompt cannot fit the context window)."""
    now = datetime.now(UTC).timestamp()
    return {
        **_base(item, model_id, now), "status": "error", "error_type": kind,
        "error_message": message[:300], "http_status": None, "attempts": 0,
        "retryable": retryable, "latency_s": None, "elapsed_s": None, "prompt_tokens": None,
        "completion_tokens": None, "total_tokens": None, "cost_usd": 0.0 if rate else None,
    }


def internal_error_record(
    item: WorkItem, model_id: str, started: float, exc: Exception
) -> dict[str, Any]:
    """A bug on our side while sending: recorded, and retried on resume."""
    return {
        **_base(item, model_id, started), "status": "error", "error_type": "internal",
        "error_message": f"{type(exc).__name__}: {exc}"[:300], "http_status": None,
        "attempts": 1, "retryable": True, "prompt_tokens": None, "completion_tokens": None,
        "total_tokens": None, "cost_usd": None,
    }


# Failures that say the setup is wrong (key, access, URL), not the request: nothing was paid,
# and the same request will succeed once the setup is fixed, so a resume sends them again.
SETUP_ERRORS = frozenset({"auth", "forbidden", "not_found"})


def is_final(record: dict[str, Any]) -> bool:
    """Whether an item needs no new request on resume: it succeeded or failed for good."""
    if record.get("status") == "ok":
        return True
    return not record.get("retryable", False) and record.get("error_type") not in SETUP_ERRORS


def key_digest(key: str) -> int:
    """A work item's key as a 60-bit integer (its first 15 hex digits): what indexes hold."""
    return int(key[:15], 16)


def key_digest_expr() -> pl.Expr:
    """`key_digest` as a polars expression over a `key` column (what row scans join on)."""
    import polars as pl

    return pl.col("key").str.slice(0, 15).str.to_integer(base=16)


def spent_of(rec: dict[str, Any]) -> float:
    """What a record counts against a budget: its cost, or for an answer whose usage was
    estimated, the larger of the estimate and the worst case reserved for it."""
    cost = rec.get("cost_usd") or 0.0
    bound = rec.get("cost_bound_usd")
    return max(cost, bound) if bound is not None else cost


# -- result rows -----------------------------------------------------------------------------

def _types() -> dict[str, Any]:
    import polars as pl

    return {
        "run_id": pl.String(), "key": pl.String(), "position": pl.Int64(),
        "dataset": pl.String(), "sample_id": pl.String(), "model": pl.String(),
        "model_id": pl.String(), "epoch": pl.Int32(), "status": pl.String(),
        "final": pl.Boolean(), "output_text": pl.String(), "reasoning": pl.String(),
        "tool_calls": pl.String(), "finish_reason": pl.String(),
        "prompt_tokens": pl.Int64(), "completion_tokens": pl.Int64(),
        "total_tokens": pl.Int64(), "usage_estimated": pl.Boolean(),
        "response_model": pl.String(), "model_mismatch": pl.Boolean(),
        "latency_s": pl.Float64(), "elapsed_s": pl.Float64(), "ttft_s": pl.Float64(),
        "attempts": pl.Int32(), "error_type": pl.String(), "error_message": pl.String(),
        "http_status": pl.Int32(), "response_id": pl.String(), "cost_usd": pl.Float64(),
        "spent_usd": pl.Float64(), "target": pl.String(), "score": pl.Float64(),
        "started_at": pl.String(), "finished_at": pl.String(), "schema_version": pl.Int32(),
        "metadata": pl.String(), "messages": pl.String(),
    }


# The columns of a result row, in order (scorer columns score_<name>/answer_<name> follow).
# `spent_usd` is what the record counts against a budget (its cost, or the worst case
# reserved for an estimated usage); `final`: whether the item needs no new request;
# `metadata`: the sample's metadata as JSON text; `messages`: the request's messages as JSON
# text on each sample's first item (finalize moves them to prompts.parquet). Run folders whose
# parts predate `metadata` and `messages` are read with them null (results.scan_rows).
ROW_COLUMNS: tuple[str, ...] = (
    "run_id", "key", "position", "dataset", "sample_id", "model", "model_id", "epoch",
    "status", "final", "output_text", "reasoning", "tool_calls", "finish_reason",
    "prompt_tokens", "completion_tokens", "total_tokens", "usage_estimated", "response_model",
    "model_mismatch", "latency_s", "elapsed_s", "ttft_s", "attempts", "error_type",
    "error_message", "http_status", "response_id", "cost_usd", "spent_usd", "target", "score",
    "started_at", "finished_at", "schema_version", "metadata", "messages",
)
_COPIED = tuple(c for c in ROW_COLUMNS if c not in {
    "run_id", "final", "tool_calls", "usage_estimated", "model_mismatch", "spent_usd", "target",
    "score", "schema_version", "metadata", "messages"})


def row_schema(scorer_columns: list[str] | tuple[str, ...] = ()) -> dict[str, pl.DataType]:
    """The polars schema of result rows with these scorer columns (sorted after the base)."""
    import polars as pl

    types = _types()
    schema = {c: types[c] for c in ROW_COLUMNS}
    for name in sorted(scorer_columns):
        schema[name] = pl.Float64() if name.startswith("score_") else pl.String()
    return schema


def scorer_columns(specs: list[ScorerSpec]) -> list[str]:
    """The score_/answer_/explanation_ column names a dataset's scorers fill."""
    out = []
    for i, spec in enumerate(specs):
        col = scorer_column(spec, i, specs)
        out += [f"score_{col}", f"answer_{col}", f"explanation_{col}"]
    return out


def scorer_column(spec: ScorerSpec, index: int, specs: list[ScorerSpec]) -> str:
    """The scorer's column suffix: its name, numbered if the dataset uses it twice."""
    label = spec.label
    if sum(s.label == label for s in specs) > 1:
        return f"{label}_{index + 1}"
    return label


Prepared = list[tuple[str, Any, dict[str, Any]]]  # (column suffix, scorer, options)


def prepare(specs: list[ScorerSpec], judge: Any = None) -> Prepared:
    """A dataset's scorers ready to apply (options validated and dumped once, not per
    record); a judge's scorer is made by `judge(options)` (pipeline.judging.JudgeScorer over
    the run folder's verdicts; without it, every answer is not judged yet)."""
    out = []
    for i, spec in enumerate(specs):
        name, fn, options = spec.resolved()
        if spec.name == "judge":
            fn = judge(options) if judge is not None else _NotJudged()
        out.append((scorer_column(spec, i, specs), fn, options))
    return out


class _NotJudged:
    """A judge scorer with no verdicts to read."""

    by_record = True

    def score(self, rec: dict[str, Any]) -> tuple[None, None, str]:
        return None, None, "not judged yet"


def score_record(record: dict[str, Any], scorers: Prepared) -> dict[str, Any]:
    """Scorer columns for one record: score_<name>, answer_<name>, explanation_<name>; None
    for error rows. The primary score (the dataset's first scorer) drives accuracy in the
    summaries. A scorer that raises, or returns anything but a Score with a value in [0, 1],
    scores 0 with the reason in its explanation: never a crashed run, never a wrong number.
    A judge's score is None while the answer has no verdict (the explanation says why): the
    answer is then left out of accuracy, not counted wrong."""
    out: dict[str, Any] = {}
    ok = record.get("status") == "ok"
    first = None
    if ok:
        from pipeline.scoring import Output

        made = Output(record.get("output_text") or "", record.get("tool_calls") or [],
                      record.get("target"), record.get("choices"), {},
                      record.get("finish_reason"))
    for i, (col, scorer, opts) in enumerate(scorers):
        value = answer = why = None
        if ok:
            if getattr(scorer, "by_record", False):
                value, answer, why = scorer.score(record)
            else:
                value, answer, why = _apply(scorer, made, opts)
        out[f"score_{col}"], out[f"answer_{col}"] = value, answer
        out[f"explanation_{col}"] = why
        if i == 0:
            first = value
    out["score"] = first
    return out


def _apply(scorer: Any, made: Any, opts: dict[str, Any]
           ) -> tuple[float, str | None, str | None]:
    from dataclasses import replace

    from pipeline.scoring import Score

    try:
        s = scorer(replace(made, options=opts))
    except Exception as exc:  # a target the scorer cannot read: score it wrong, say why
        return 0.0, None, f"scorer error: {type(exc).__name__}: {exc}"[:300]
    if not isinstance(s, Score):
        return 0.0, None, f"scorer error: returned {type(s).__name__}, not a Score"
    v = s.value
    if not isinstance(v, int | float) or not 0.0 <= v <= 1.0:  # NaN fails too
        return 0.0, None, f"scorer error: value {v!r} is not a number from 0 to 1"
    answer = None if s.answer is None else str(s.answer)
    why = None if s.explanation is None else str(s.explanation)[:2000]
    return float(v), answer, why


def result_row(run_id: str, rec: dict[str, Any], scorers: Prepared) -> dict[str, Any]:
    """A journal record, scored and flattened to a result row (see ROW_COLUMNS)."""
    row = {name: rec.get(name) for name in _COPIED}
    ok = rec.get("status") == "ok"
    calls = rec.get("tool_calls")
    target = rec.get("target")
    row.update(
        run_id=run_id, final=is_final(rec), schema_version=SCHEMA_VERSION,
        usage_estimated=bool(rec.get("usage_estimated")) if ok else None,
        model_mismatch=(not same_model(rec.get("model_id"), rec.get("response_model"))
                        if ok else None),
        tool_calls=json.dumps(calls, ensure_ascii=False) if calls else None,
        target=(None if target is None else target if isinstance(target, str)
                else json.dumps(target, ensure_ascii=False)),
        spent_usd=spent_of(rec),
        metadata=_json_text(rec.get("metadata")), messages=_json_text(rec.get("messages")),
    )
    row.update(score_record(rec, scorers))
    return row


def _json_text(value: Any) -> str | None:
    """A journaled object as a JSON text cell (None when absent or empty)."""
    return json.dumps(value, ensure_ascii=False) if value else None


def same_model(asked: str | None, answered: str | None) -> bool:
    """Whether a response's `model` names the model asked for: equal, or the asked id with a
    version suffix ("gpt-4o" answered as "gpt-4o-2024-08-06"); a missing field is no evidence
    of a mismatch."""
    if not answered or not asked:
        return True
    a, b = asked.casefold(), answered.casefold()
    return a == b or b.startswith(a + "-") or b.startswith(a + "@") or b.endswith("/" + a)
