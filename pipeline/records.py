"""The journal record of one finished work item: what came back, what it cost, when."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pipeline.client import ChatError, Completion
from pipeline.journal import SCHEMA_VERSION
from pipeline.pricing import Rate
from pipeline.tokens import estimate_completion, estimate_prompt
from pipeline.work import WorkItem


def _iso(ts: float | None = None) -> str:
    dt = datetime.now(UTC) if ts is None else datetime.fromtimestamp(ts, UTC)
    return dt.isoformat(timespec="milliseconds")


def _base(item: WorkItem, model_id: str, started: float) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION, "key": item.key, "dataset": item.sample.dataset,
        "sample_id": item.sample.sample_id, "model": item.model, "model_id": model_id,
        "epoch": item.epoch, "started_at": _iso(started), "finished_at": _iso(),
    }


def usage_of(item: WorkItem, c: Completion) -> tuple[int, int, bool]:
    """(prompt tokens, completion tokens, estimated): the server's counts, or estimates
    (four characters a token; see pipeline.tokens) for what it did not report."""
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
