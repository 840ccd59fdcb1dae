"""How many tool calls an answer makes: none when no tool fits the request, one, or several
when the request asks for several things at once (BFCL's parallel categories).

Like the rest of the simulated models this reads only the request, never a target: whether a
tool fits and how a prompt splits into requests are keyword heuristics, deterministic and
cheap, right often enough that a more accurate model scores higher, not a parser of English.

- Fit: the best tool fits when its keyword score is 3 or more, or a word of its name is in
  the prompt, or one of its enum values is, or it takes CODES and the prompt has as many.
- Several requests: the prompt is cut into clauses at sentence ends and at "then", "also",
  "after that", "as well as", ...; a clause that brings values (numbers, names, codes) or
  points at another tool than the clause before is a request of its own, the others add to
  the one before. A request that lists more values of a kind than its tool takes at once
  ("the numbers 45, 100, and 150") is one call per group of them. A later call lacking a
  required value takes the one its tool's previous call had ("..., then repeat with 10").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .toolcalls import Pools, fill_arguments, is_code, properties, score, words

_FIT_SCORE = 3
_SENTENCE = re.compile(r"(?<=[.?!])[\"')\]]*\s+(?=[\"'(\[]*[A-Z0-9])")
_CONNECTIVE = re.compile(
    r"(?:,\s*|;\s*|\s+)(?:and\s+)?(?:then|also|after\s+that|afterwards|finally|"
    r"additionally|as\s+well\s+as|lastly)\b[,:]?\s*",
    re.IGNORECASE,
)
# What may stand between two listed values: "45, 100, and 150", "20 minutes and 15 minutes".
_GAP = re.compile(
    r"\s*(?:[A-Za-z%°]{1,12}\s*)?(?:,\s*(?:(?:and|or)\s+)?|\s*(?:and|or|&)\s+)[$€£]?",
    re.IGNORECASE)
_RANGE = re.compile(r"\b(?:between|from)\s+\S{0,3}$", re.IGNORECASE)
_MISSING = (0, "", [], {})  # what fill_arguments gives a required argument it found no value for


@dataclass(frozen=True, slots=True)
class Planned:
    """One call to make: the tool's index in the request and its arguments."""

    index: int
    arguments: dict[str, Any]


def fits(tool: dict[str, Any], prompt: str) -> bool:
    """Whether the request is something this tool does (see the module docstring)."""
    prompt_words = words(prompt)
    codes = len(Pools(prompt).codes)
    if score(tool, prompt_words, codes) >= _FIT_SCORE:
        return True
    code_args = sum(is_code(n, p) for n, p in properties(tool).items())
    if 0 < code_args <= codes:  # "12.5 GBP in JPY": the codes it takes are all there
        return True
    name = tool["function"]["name"].replace("_", " ").replace("-", " ")
    if prompt_words & words(name):
        return True
    lowered = prompt.lower()
    return any(
        re.search(rf"\b{re.escape(str(option).lower())}\b", lowered)
        for prop in properties(tool).values() for option in (prop.get("enum") or [])
    )


def clauses(prompt: str) -> list[str]:
    """The prompt cut at sentence ends and connectives ("then", "also", ...)."""
    out = []
    for sentence in _SENTENCE.split(prompt.strip()):
        out.extend(part for part in _CONNECTIVE.split(sentence) if part.strip())
    return out


def plan(tools: list[dict[str, Any]], ranked: list[int], prompt: str) -> list[Planned]:
    """The calls for a prompt, the first to the best-ranked tool; one call unless the prompt
    asks for several things (module docstring). `ranked`: tool indexes, best first."""
    requests = _requests(tools, ranked, prompt)
    if len(requests) <= 1 and len(_groups(tools[ranked[0]], prompt)) == 1:
        return [Planned(ranked[0], fill_arguments(tools[ranked[0]], prompt))]
    calls: list[Planned] = []
    last: dict[int, dict[str, Any]] = {}  # tool index -> arguments of its latest call
    for index, text in requests or [(ranked[0], prompt)]:
        tool = tools[index]
        for pools in _groups(tool, text):
            args = fill_arguments(tool, text, pools)
            _inherit(tool, args, last.get(index))
            last[index] = args
            calls.append(Planned(index, args))
    return calls


def _requests(tools: list[dict[str, Any]], ranked: list[int], prompt: str
              ) -> list[tuple[int, str]]:
    """(tool index, text) per request of the prompt; one clause may add to the one before."""
    out: list[tuple[int, str]] = []
    pending = ""  # clauses before the first request: its context
    for clause in clauses(prompt):
        clause_words = words(clause)
        pools = Pools(clause)
        scores = [score(t, clause_words, len(pools.codes)) for t in tools]
        best = max(range(len(tools)), key=lambda i: (scores[i], -ranked.index(i)))
        has_values = bool(pools.numbers or pools.codes or pools.names)
        other_tool = scores[best] >= 2 and (not out or best != out[-1][0])
        if out and not other_tool and not (has_values and scores[best] > 0):
            out[-1] = (out[-1][0], f"{out[-1][1]} {clause}")
        elif scores[best] > 0 and (has_values or other_tool):
            out.append((best, f"{pending} {clause}".strip()))
            pending = ""
        elif out:
            out[-1] = (out[-1][0], f"{out[-1][1]} {clause}")
        else:
            pending = f"{pending} {clause}".strip()
    return out


def _slots(tool: dict[str, Any]) -> dict[str, int]:
    """How many values of each kind one call of the tool takes; a kind an array argument
    takes is not split (the list is that argument's value)."""
    slots = {"numbers": 0, "codes": 0, "names": 0}
    absorbed = set()
    for name, prop in properties(tool).items():
        if prop.get("enum"):
            continue
        kind = prop.get("type")
        if kind in ("number", "integer"):
            slots["numbers"] += 1
        elif kind == "string" or kind is None:
            slots["codes" if is_code(name, prop) else "names"] += 1
        elif kind == "array":
            items = prop.get("items") if isinstance(prop.get("items"), dict) else {}
            absorbed.add("numbers" if items.get("type") in ("number", "integer") else "names")
    return {kind: 0 if kind in absorbed else n for kind, n in slots.items()}


def _run(text: str, values: list[str]) -> tuple[int, int]:
    """The longest listing among a kind's values, as (first index, length): values next to
    each other with only separators between them ("45, 100, and 150"); "between 1 and 10"
    and "from 1 to 10" are ranges, not listings."""
    spans, at = [], 0
    for value in values:
        start = text.find(value, at)
        if start < 0:
            return 0, 1
        spans.append((start, start + len(value)))
        at = start + len(value)
    best, first, length = (0, 1), 0, 1
    for i in range(1, len(spans)):
        if _GAP.fullmatch(text[spans[i - 1][1]:spans[i][0]]):
            length += 1
        else:
            first, length = i, 1
        if length > best[1] and not _RANGE.search(text[:spans[first][0]]):
            best = (first, length)
    return best


def _groups(tool: dict[str, Any], text: str) -> list[Pools]:
    """The values of each call of one request: a listing of at least twice as many values of
    a kind as one call takes ("the numbers 45, 100, and 150") is dealt out in groups, one
    call each; the other values are shared. Two listings ("A and B ... 20 and 15
    respectively") are dealt out in step."""
    whole = Pools(text)
    k, listed = 1, {}
    for kind, n in _slots(tool).items():
        values = getattr(whole, kind)
        if n and len(values) >= 2 * n:
            first, length = _run(text, values)
            if length >= 2 * n:
                listed[kind] = (first, length, n)
                k = max(k, length // n)
    if k == 1:
        return [whole]
    groups = []
    for i in range(k):
        pools = Pools(text)
        for kind, (first, length, n) in listed.items():
            values = getattr(whole, kind)
            chunk = values[first + i * n:first + (i + 1) * n] if (i + 1) * n <= length else []
            setattr(pools, kind, values[:first] + chunk + values[first + length:])
        groups.append(pools)
    return groups


def _inherit(tool: dict[str, Any], args: dict[str, Any], previous: dict[str, Any] | None
             ) -> None:
    """Required arguments this call found no value for take the previous call's."""
    if not previous:
        return
    required = tool["function"].get("parameters", {}).get("required", []) or []
    for name in required:
        if args.get(name, "") in _MISSING and previous.get(name) not in (None, *_MISSING):
            args[name] = previous[name]
