"""tool_call: the model called the expected function with the expected arguments."""

from __future__ import annotations

import json
from typing import Any

from pipeline.scoring.base import Output, Score
from pipeline.scoring.tool_match import as_list, call_mismatch, parse_calls, same


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
        c["name"] == e["name"] and same(c["arguments"], e["arguments"])
        for c, e in zip(called, expected, strict=True)
    )
    return Score(1.0 if ok else 0.0, answer)


def tool_call_any(out: Output) -> Score:
    """1 when the one call matches a target that lists acceptable values per argument.

    Target (BFCL's possible-answer form): {"name": ..., "arguments": {"arg": [v1, v2, ""]}}
    where "" means the argument may be left out and a dict value's own values are again
    lists of acceptable values. An argument the target does not name makes the call wrong.
    A list of such targets means any one of them. Numbers compare as numbers (5 == 5.0).
    """
    try:
        target = json.loads(out.target) if isinstance(out.target, str) else out.target
        specs = [(t["name"], t.get("arguments") or {}) for t in as_list(target)]
    except (ValueError, TypeError, KeyError, AttributeError):
        return Score(0.0, None, "the target is not {name, arguments} (or a list of them)")
    called = _called(out.tool_calls)
    answer = json.dumps(called, sort_keys=True) if called else None
    if len(called) != 1:
        return Score(0.0, answer, f"{len(called)} calls, expected one")
    (call,) = parse_calls(out.tool_calls)
    reasons = [call_mismatch(name, wanted, call) for name, wanted in specs]
    if any(r is None for r in reasons):
        return Score(1.0, answer)
    same_name = [r for (name, _), r in zip(specs, reasons, strict=True) if name == call.name]
    return Score(0.0, answer, (same_name or reasons)[0])
