"""tool_call_set: every expected call made once, in any order, and nothing else (BFCL's
parallel and parallel_multiple); no_tool_call: no call at all (BFCL's irrelevance).

Which made call answers which expected call is a bipartite matching, not a greedy pass: a call
acceptable for two expected calls must not be spent on the first when only it can serve the
second (BFCL's own checker takes the first that fits).
"""

from __future__ import annotations

import json
from typing import Any

from pipeline.scoring.base import Output, Score
from pipeline.scoring.tool_match import Call, answer_of, as_list, call_mismatch, parse_calls

_MAX_LISTED = 3  # missing or extra calls named in an explanation


def _specs(target: Any) -> list[tuple[str, dict[str, Any]]]:
    """The expected calls: a list of {name, arguments} (one dict: one call; [] or null: none)."""
    if isinstance(target, str):
        target = json.loads(target)
    if target is None:
        return []
    specs = []
    for t in as_list(target):
        args = t.get("arguments") or {}
        if not isinstance(t["name"], str) or not isinstance(args, dict):
            raise TypeError("name must be a string and arguments an object")
        specs.append((t["name"], args))
    return specs


def _match(specs: list[tuple[str, dict[str, Any]]], calls: list[Call]) -> list[int | None]:
    """For each expected call, the index of the made call matched to it (None: unmatched),
    as a maximum bipartite matching (Kuhn's augmenting paths; a handful of calls each)."""
    fits = [[j for j, c in enumerate(calls) if call_mismatch(n, a, c) is None] for n, a in specs]
    owner: dict[int, int] = {}  # made call -> expected call

    def augment(i: int, seen: set[int]) -> bool:
        for j in fits[i]:
            if j in seen:
                continue
            seen.add(j)
            if j not in owner or augment(owner[j], seen):
                owner[j] = i
                return True
        return False

    for i in range(len(specs)):
        augment(i, set())
    matched: list[int | None] = [None] * len(specs)
    for j, i in owner.items():
        matched[i] = j
    return matched


def _why_missing(name: str, args: dict[str, Any], spare: list[Call]) -> str:
    """An unmatched expected call, with what the closest spare call of that name got wrong."""
    shown = f"{name}({json.dumps(args, ensure_ascii=False, sort_keys=True)})"
    shown = shown if len(shown) <= 100 else shown[:99] + "…"
    for call in spare:
        if call.name == name:
            return f"{shown} [closest: {call_mismatch(name, args, call)}]"
    return shown


def _listed(items: list[str]) -> str:
    more = len(items) - _MAX_LISTED
    return "; ".join(items[:_MAX_LISTED]) + (f"; and {more} more" if more > 0 else "")


def tool_call_set(out: Output) -> Score:
    """1 when the calls made are the target's calls, each matched once, in any order, and no
    other: a parallel answer. Target: a list of BFCL-style {name, arguments: {arg: [values]}}
    (one dict is one call; [] means no call is expected). The explanation names the calls
    missing (with what the closest call got wrong) and the calls extra."""
    calls = parse_calls(out.tool_calls)
    answer = answer_of(calls)
    try:
        specs = _specs(out.target)
    except (ValueError, TypeError, KeyError, AttributeError):
        return Score(0.0, answer, "the target is not a list of {name, arguments}")
    matched = _match(specs, calls)
    used = {j for j in matched if j is not None}
    spare = [c for j, c in enumerate(calls) if j not in used]
    missing = [_why_missing(n, a, spare) for (n, a), j in zip(specs, matched, strict=True)
               if j is None]
    if not missing and not spare:
        return Score(1.0, answer)
    parts = []
    if not calls:
        parts.append(f"no call, expected {len(specs)}")
    if missing and calls:
        parts.append(f"missing {len(missing)} of {len(specs)}: {_listed(missing)}")
    if spare:
        parts.append(f"extra {len(spare)}: {_listed([c.shown() for c in spare])}")
    return Score(0.0, answer, "; ".join(parts))


def no_tool_call(out: Output) -> Score:
    """1 when the answer calls no tool (the request fits none of the tools offered); the
    target is not read."""
    calls = parse_calls(out.tool_calls)
    if not calls:
        return Score(1.0, None)
    return Score(0.0, answer_of(calls),
                 f"called {_listed([c.shown() for c in calls])}, expected no call")
