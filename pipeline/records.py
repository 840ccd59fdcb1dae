"""The journal record of one finished work item: what came back, what it cost, when."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pipeline.client import ChatError, Completion
from pipeline.journal import SCHEMA_VERSION
from pipeline.pricing import Rate
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


def ok_record(
    item: WorkItem, model_id: str, rate: Rate | None, started: float, c: Completion
) -> dict[str, Any]:
    """A success: output, usage and its cost (None when the model has no price)."""
    return {
        **_base(item, model_id, started), "status": "ok", "output_text": c.text,
        "reasoning": c.reasoning, "tool_calls": c.tool_calls or None,
        "finish_reason": c.finish_reason, "prompt_tokens": c.prompt_tokens,
        "completion_tokens": c.completion_tokens, "total_tokens": c.total_tokens,
        "usage": c.usage, "latency_s": c.latency_s, "ttft_s": c.ttft_s, "attempts": c.attempts,
        "http_status": c.http_status, "response_id": c.response_id, "request_id": c.request_id,
        "cost_usd": rate.cost(c.prompt_tokens, c.completion_tokens) if rate else None,
    }


def error_record(
    item: WorkItem, model_id: str, rate: Rate | None, started: float, e: ChatError
) -> dict[str, Any]:
    """A failure: its kind, status and message (never the key: ChatError redacts it)."""
    return {
        **_base(item, model_id, started), "status": "error", "error_type": e.kind,
        "error_message": str(e), "http_status": e.http_status, "attempts": e.attempts,
        "retryable": e.retryable, "latency_s": e.latency_s, "request_id": e.request_id,
        "prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0,
        "cost_usd": 0.0 if rate else None,
    }


def internal_error_record(
    item: WorkItem, model_id: str, started: float, exc: Exception
) -> dict[str, Any]:
    """A bug on our side while sending: recorded, and retried on resume."""
    return {
        **_base(item, model_id, started), "status": "error", "error_type": "internal",
        "error_message": f"{type(exc).__name__}: {exc}"[:300], "http_status": None,
        "attempts": 1, "retryable": True, "prompt_tokens": 0, "completion_tokens": 0,
        "total_tokens": 0, "cost_usd": None,
    }
