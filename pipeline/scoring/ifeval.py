"""ifeval: how many of a prompt's verifiable instructions the answer follows (IFEval).

Target: `{"instruction_id_list": [...], "kwargs": [{...}, ...]}` (a dict, or that as JSON
text). Option `mode`: "strict" (default) or "loose" (see pipeline/scoring/instructions).

Score: value 1.0 when every checked instruction is followed (prompt-level accuracy), else 0;
answer "k/n", k followed of n checked (`instruction_counts` reads it back, so a report can sum
instruction-level accuracy); explanation names the instructions not followed and those left
unchecked with why. An unchecked instruction is neither followed nor failed: it is left out of
k/n, and a prompt with nothing checkable scores 0 with answer "0/0" (never a silent pass).
"""

from __future__ import annotations

import json
import re
from typing import Any

from pipeline.scoring.base import Output, Score
from pipeline.scoring.instructions import InstructionError, Verdict, follows

MODES = ("strict", "loose")
_COUNTS = re.compile(r"^(\d+)/(\d+)$")


def _instructions(target: Any) -> list[tuple[str, Any]]:
    """(id, kwargs) pairs from the target; ValueError saying what is wrong with it."""
    if isinstance(target, str):
        try:
            target = json.loads(target)
        except json.JSONDecodeError as exc:
            raise ValueError(f"target is not JSON: {exc}") from None
    if not isinstance(target, dict) or not isinstance(target.get("instruction_id_list"), list):
        raise ValueError("target needs 'instruction_id_list' (a list) and 'kwargs'")
    ids = target["instruction_id_list"]
    kwargs = target.get("kwargs")
    if kwargs is None:
        kwargs = [{}] * len(ids)
    if not isinstance(kwargs, list) or len(kwargs) != len(ids):
        raise ValueError(f"target has {len(ids)} instruction ids but kwargs is not a list "
                         "of as many objects")
    if not ids or not all(isinstance(i, str) for i in ids):
        raise ValueError("instruction_id_list must be a non-empty list of strings")
    return list(zip(ids, kwargs, strict=True))


def _verdict(instruction_id: str, text: str, kwargs: Any, loose: bool) -> Verdict:
    try:
        return follows(instruction_id, text, kwargs, loose=loose)
    except InstructionError:
        raise
    except Exception as exc:  # a checker bug must not take the run down: say so, count nothing
        return Verdict(instruction_id, None, f"checker error: {type(exc).__name__}: {exc}")


def _names(ids: list[str]) -> list[str]:
    """Each id, with its 1-based place in the list when the prompt repeats it ("#2")."""
    return [f"{i}#{n}" if ids.count(i) > 1 else i for n, i in enumerate(ids, start=1)]


def ifeval(out: Output) -> Score:
    """1 when the answer follows every checked instruction of the prompt; answer "k/n"."""
    mode = out.options.get("mode", "strict")
    if mode not in MODES:
        return Score(0.0, None, f"option mode must be 'strict' or 'loose', not {mode!r}")
    try:
        pairs = _instructions(out.target)
        verdicts = [_verdict(i, out.text or "", kw, mode == "loose") for i, kw in pairs]
    except (ValueError, InstructionError) as exc:  # the row is wrong, not the answer
        return Score(0.0, None, f"bad target: {exc}")
    names = _names([v.id for v in verdicts])
    checked = [v for v in verdicts if v.followed is not None]
    followed = sum(1 for v in checked if v.followed)
    failed = [n for n, v in zip(names, verdicts, strict=True) if v.followed is False]
    unchecked = [f"{n} ({v.reason})" for n, v in zip(names, verdicts, strict=True)
                 if v.followed is None]
    notes = []
    if failed:
        notes.append("not followed: " + ", ".join(failed))
    if unchecked:
        notes.append("unchecked: " + "; ".join(unchecked))
    if not checked:
        notes.append("nothing checkable: scored 0")
    value = 1.0 if checked and followed == len(checked) else 0.0
    return Score(value, f"{followed}/{len(checked)}", "; ".join(notes) or None)


def ifeval_loose(out: Output) -> Score:
    """ifeval with mode "loose" (a name of its own, for configs that cannot pass options)."""
    return ifeval(Output(out.text, out.tool_calls, out.target, out.choices,
                         {**out.options, "mode": "loose"}, out.finish_reason))


def instruction_counts(answer: str | None) -> tuple[int, int]:
    """(followed, checked) from an ifeval answer "k/n"; (0, 0) for none or anything else, so
    instruction-level accuracy = sum of followed / sum of checked over the rows."""
    m = _COUNTS.match(answer or "")
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)
