"""numeric: the final number of the answer equals the target number."""

from __future__ import annotations

import math
import re

from pipeline.scoring.base import Output, Score, targets

_NUMBER = r"-?\$?\d[\d,]*(?:\.\d+)?|-?\$?\.\d+"
_ANSWER = re.compile(rf"(?:answer|####)\s*(?:is|=|:)?\s*\**\s*({_NUMBER})", re.IGNORECASE)
_ANY = re.compile(_NUMBER)


def parse_number(text: str) -> float | None:
    """A number from text like '1,234', '$5', '-0.5'; None if it is not one."""
    try:
        return float(text.replace(",", "").replace("$", ""))
    except ValueError:
        return None


def extract_number(text: str) -> str | None:
    """The final answer's number: the last 'Answer: N' (or '#### N'), else the last number."""
    m = _ANSWER.findall(text)
    if m:
        return m[-1]
    found = _ANY.findall(text)
    return found[-1] if found else None


def numeric(out: Output) -> Score:
    """1 when the extracted number equals a target number (relative tolerance 1e-6)."""
    raw = extract_number(out.text)
    value = parse_number(raw) if raw is not None else None
    if value is None:
        return Score(0.0, None)
    answer = raw.replace(",", "").replace("$", "") if raw else None
    for t in targets(out.target):
        t_raw = extract_number(str(t)) if not isinstance(t, int | float) else str(t)
        t_val = parse_number(t_raw) if t_raw is not None else None
        if t_val is not None and math.isclose(value, t_val, rel_tol=1e-6, abs_tol=1e-9):
            return Score(1.0, answer)
    return Score(0.0, answer)
