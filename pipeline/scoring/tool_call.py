"""tool_call: the model called the expected function with the expected arguments."""

from __future__ import annotations

import json
import math
from typing import Any

from pipeline.scoring.base import Output, Score


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(a, str) and isinstance(b, str):  # case and spacing, not punctuation
        return " ".join(a.casefold().split()) == " ".join(b.casefold().split())
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


def _accepts(alternatives: Any, value: Any) -> bool:
    """Whether `value` is one of the acceptable values ("" means 'may be omitted', and an
    explicit "" is then accepted too)."""
    alternatives = _as_list(alternatives)
    if value == "" and "" in alternatives:
        return True
    return any(_matches(alt, value) for alt in alternatives if alt != "")


def _matches(alt: Any, value: Any) -> bool:
    """One acceptable value against a given one; a dict's values are again alternatives."""
    if isinstance(alt, dict) and isinstance(value, dict):
        if set(value) - set(alt):
            return False
        return all(
            _accepts(alts, value[k]) if k in value else "" in _as_list(alts)
            for k, alts in alt.items()
        )
    if isinstance(alt, list) and isinstance(value, list):
        return len(alt) == len(value) and all(
            _matches(a, v) for a, v in zip(alt, value, strict=True))
    return _same(alt, value)


def _as_list(x: Any) -> list[Any]:
    return x if isinstance(x, list) else [x]


def tool_call_any(out: Output) -> Score:
    """1 when the one call matches a target that lists acceptable values per argument.

    Target (BFCL's possible-answer form): {"name": ..., "arguments": {"arg": [v1, v2, ""]}}
    where "" means the argument may be left out and a dict value's own values are again
    lists of acceptable values. An argument the target does not name makes the call wrong.
    A list of such targets means any one of them. Numbers compare as numbers (5 == 5.0).
    """
    try:
        target = json.loads(out.target) if isinstance(out.target, str) else out.target
        specs = [(t["name"], t.get("arguments") or {}) for t in _as_list(target)]
    except (ValueError, TypeError, KeyError, AttributeError):
        return Score(0.0, None)
    called = _called(out.tool_calls)
    answer = json.dumps(called, sort_keys=True) if called else None
    if len(called) != 1 or not isinstance(called[0]["arguments"], dict):
        return Score(0.0, answer)
    name, args = called[0]["name"], called[0]["arguments"]
    ok = any(name == n and _matches(wanted, args) for n, wanted in specs)
    return Score(1.0 if ok else 0.0, answer)
