"""Work items: one request per (sample, model, epoch), with its body and stable key."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from pipeline.config import Generation, Model
from pipeline.datasets import Sample


@dataclass(frozen=True, slots=True)
class WorkItem:
    """One request to send, identified by a key that changes whenever the request would."""

    key: str
    position: int  # its place in the plan's stream (0-based): stable while the plan is
    sample: Sample
    model: str  # the model's name in tables (label or id)
    model_index: int
    epoch: int
    body: dict[str, Any]
    # Its dataset has a judge: the record keeps the messages, which the judge's rubric shows.
    judged: bool = False
    extra: dict[str, Any] | None = None  # fields of its record beyond the usual (judge requests)


def generation_body(gen: Generation) -> dict[str, Any]:
    """The request fields a Generation sets (unset fields are left to the server)."""
    body: dict[str, Any] = {}
    for name in ("max_tokens", "temperature", "top_p", "stop", "tools", "tool_choice"):
        value = getattr(gen, name)
        if value is not None:
            body[name] = value
    if gen.stream:
        body["stream"] = True
        # OpenAI-style servers send usage in a stream only when asked; Heroku always does.
        body["stream_options"] = {"include_usage": True}
    if gen.extended_thinking is not None:
        body["extended_thinking"] = gen.extended_thinking.model_dump()
    if gen.extra:
        body.update(gen.extra)
    return body


def request_body(
    sample: Sample, model: Model, gen: Generation
) -> dict[str, Any]:
    """The JSON body for one sample and model; the row's tools and overrides come last."""
    gen = gen.merged(sample.generation)  # validated, with its file and line, when read
    body: dict[str, Any] = {"model": model.id, "messages": sample.messages}
    body.update(generation_body(gen))
    if sample.tools is not None:
        body["tools"] = sample.tools
    if sample.tool_choice is not None:
        body["tool_choice"] = sample.tool_choice
    return body


def item_key(dataset: str, sample_id: str, model: str, epoch: int, body: dict[str, Any]) -> str:
    """A stable hash of what identifies a request: same key, same request, never sent twice."""
    text = json.dumps(
        [dataset, sample_id, model, epoch, body], sort_keys=True, ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]
