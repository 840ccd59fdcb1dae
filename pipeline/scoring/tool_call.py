"""tool_call: the model called the expected function with the expected arguments."""

from __future__ import annotations

import json
import math
from typing import Any

from pipeline.scoring.base import Output, Score, normalize


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(a, str) and isinstance(b, str):
        return normalize(a) == normalize(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def _expected(target: Any) -> list[dict[str, Any]]:
    if isinstance(target, str):
        target = json.loads(target)
    items = target if isinstance(target, list) else [target]
    return [{"name": t["name"], "arguments": t.get("arguments") or {}} for t in items]


def _called(tool_calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for call in tool_calls:
        fn = call.get("function") or {}
        args = fn.get("arguments") or "{}"
        try:
            parsed = json.loads(args) if isinstance(args, str) else args
        except json.JSONDecodeError:
            parsed = {"__unparsable__": args}
        out.append({"name": fn.get("name"), "arguments": parsed})
    return out


def tool_call(out: Output) -> Score:
    """1 when the calls match the target's calls in order: names equal, arguments equal.

    The target is {"name", "arguments"} or a list of them (JSON text is accepted).
    """
    try:
        expected = _expected(out.target)
    except (ValueError, KeyError, TypeError):
        return Score(0.0, None)
    called = _called(out.tool_calls)
    answer = json.dumps(called, sort_keys=True) if called else None
    ok = len(called) == len(expected) and all(
        c["name"] == e["name"] and _same(c["arguments"], e["arguments"])
        for c, e in zip(called, expected, strict=True)
    )
    return Score(1.0 if ok else 0.0, answer)
