"""includes: a target appears inside the answer as a whole word or number, after normalisation."""

from __future__ import annotations

import re
from functools import lru_cache

from pipeline.scoring.base import Output, Score, normalize, targets


@lru_cache(maxsize=1024)
def _pattern(target: str) -> re.Pattern[str]:
    """`target` standing alone: '42' is not in '142', '42.5' or '-42'; 'cat' not in 'cats'."""
    head = tail = ""
    if target[0].isalnum() or target[0] == "_":
        head = r"(?<![\w.,])(?<!(?<![\w.])-)" if target[0].isdigit() else r"(?<!\w)"
    if target[-1].isalnum() or target[-1] == "_":
        tail = r"(?!\w)(?![.,]\d)" if target[-1].isdigit() else r"(?!\w)"
    return re.compile(head + re.escape(target) + tail)


def includes(out: Output) -> Score:
    """1 when a normalised target stands alone (not inside a word or number) in the output."""
    text = normalize(out.text)
    for t in targets(out.target):
        want = normalize(t)
        if want and _pattern(want).search(text):
            return Score(1.0, want)
    return Score(0.0, None)
