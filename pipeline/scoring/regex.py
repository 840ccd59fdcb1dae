"""regex: extract with a pattern and compare to the target, or match the target as a pattern."""

from __future__ import annotations

import re
from functools import lru_cache

from pipeline.scoring.base import Output, Score, normalize, targets


@lru_cache(maxsize=256)
def _compile(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE if ignore_case else 0)


def regex(out: Output) -> Score:
    """With `pattern`: group 1 (or the match) of its last match must equal a target.

    A match whose group 1 did not take part is skipped, never read as the text "None".

    Without: each target is a pattern that must be found in the output.
    """
    ignore_case = bool(out.options.get("ignore_case", True))
    pattern = out.options.get("pattern")
    if pattern:
        rx = _compile(pattern, ignore_case)
        found = [m.group(1) if rx.groups else m.group(0) for m in rx.finditer(out.text)]
        answer = next((a for a in reversed(found) if a is not None), None)
        if answer is None:
            return Score(0.0, None)
        ok = any(normalize(answer) == normalize(t) for t in targets(out.target))
        return Score(1.0 if ok else 0.0, answer)
    for t in targets(out.target):
        try:
            rx = _compile(str(t), ignore_case)
        except re.error:  # not a pattern: match it as plain text
            rx = _compile(re.escape(str(t)), ignore_case)
        m = rx.search(out.text)
        if m:
            return Score(1.0, m.group(0))
    return Score(0.0, None)
