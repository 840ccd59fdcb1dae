"""json: the answer is JSON, alone or in a fenced block; the extraction json_schema shares.

Where the JSON is looked for, in order:

1. the whole answer (surrounding white space aside) is one JSON value;
2. else the fenced blocks labelled json (or with no label): the LAST such block counts, as
   models show an example or a draft first and end with the answer. When earlier blocks hold
   other JSON the explanation says so; other-language blocks (```python) are passed over.
   An unclosed fence (an answer cut by max_tokens) counts as a block up to the end.

JSON next to prose without a fence ('{"a": 1} is the answer') is not accepted: a caller
parsing the output would fail the same way. The explanation says where the JSON ends.
NaN and Infinity, which Python's parser takes, are not JSON and are refused.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from pipeline.scoring.base import Output, Score

ANSWER_CAP = 2000  # characters of compact JSON kept as the answer

# A fence line: ``` or more backticks, an optional label, then the block up to a closing
# fence of the same length (or the end of the text: an answer cut short).
_FENCE = re.compile(
    r"^[ \t]*(?P<tick>`{3,})[ \t]*(?P<label>[\w+.-]*)[^\n]*\n(?P<body>.*?)"
    r"(?:[ \t]*(?P<close>(?P=tick))[ \t]*$|\Z)",
    re.MULTILINE | re.DOTALL,
)
_JSON_LABELS = frozenset({"", "json"})


@dataclass(frozen=True, slots=True)
class Extracted:
    """The JSON found in an answer (value, compact text) or why none (problem), plus a note
    worth reporting beside a success (other blocks that disagree)."""

    value: Any = None
    text: str | None = None
    problem: str | None = None
    note: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _loads(text: str) -> Any:
    return json.loads(text, parse_constant=_refuse_constant)


def _error(exc: ValueError, where: str) -> str:
    if isinstance(exc, json.JSONDecodeError):
        if exc.msg == "Extra data":
            return (f"{where} holds JSON followed by other text at line {exc.lineno} col "
                    f"{exc.colno} (put the JSON alone, or in a ```json block)")
        return f"{where} is not valid JSON: {exc.msg} at line {exc.lineno} col {exc.colno}"
    return f"{where} is not valid JSON: {exc}"


def compact(value: Any) -> str:
    """The JSON as one compact line, capped at ANSWER_CAP characters."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= ANSWER_CAP else text[: ANSWER_CAP - 1] + "…"


def extract_json(text: str) -> Extracted:
    """The JSON of an answer, by the rules in the module docstring."""
    stripped = text.strip()
    if not stripped:
        return Extracted(problem="empty answer")
    try:
        value = _loads(stripped)
        return Extracted(value, compact(value))
    except ValueError as exc:
        whole_error = exc
    blocks = [m for m in _FENCE.finditer(text) if m["label"].lower() in _JSON_LABELS]
    if not blocks:
        if stripped[0] in "{[":
            return Extracted(problem=_error(whole_error, "the answer"))
        return Extracted(problem="no JSON: the answer is not JSON and has no ```json block")
    last = blocks[-1]
    label = f"```{last['label']}" if last["label"] else "```"
    where = f"the last {label} block" if len(blocks) > 1 else f"the {label} block"
    if last["close"] is None:
        where += " (unclosed: cut short?)"
    try:
        value = _loads(last["body"])
    except ValueError as exc:
        return Extracted(problem=_error(exc, where))
    note = None
    if len(blocks) > 1:
        others = []
        for m in blocks[:-1]:
            try:
                others.append(_loads(m["body"]))
            except ValueError:
                others.append(_NOT_JSON)
        differ = sum(o != value for o in others)
        if differ:
            note = (f"{len(blocks)} JSON blocks: the last counts; {differ} earlier "
                    f"{'one differs' if differ == 1 else 'ones differ'} from it")
    return Extracted(value, compact(value), note=note)


_NOT_JSON = object()


def json_answer(out: Output) -> Score:
    """1 when the answer is JSON or holds a fenced ```json block that parses (the last one
    counts); the answer is that JSON, compact. The explanation says why not."""
    found = extract_json(out.text)
    if not found.ok:
        if out.cut:
            return Score(0.0, None, f"{found.problem}; cut at max_tokens")
        return Score(0.0, None, found.problem)
    return Score(1.0, found.text, found.note)
