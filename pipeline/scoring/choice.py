"""choice: the option letter of a multiple-choice answer equals the target's."""

from __future__ import annotations

import re

from pipeline.scoring.base import Output, Score, normalize, targets

_PATTERNS = [
    re.compile(r"answer\s*(?:is|:)?\s*[\(\[*]*\s*([A-Z])\b(?![a-z'])", re.IGNORECASE),
    re.compile(r"^\s*[\(\[*]*([A-Z])[\)\].:*]", re.MULTILINE),
    re.compile(r"^\s*([A-Z])\s*$", re.MULTILINE),
]


def extract_letter(text: str, n_choices: int | None) -> str | None:
    """The chosen option letter: 'Answer: B', '(B)', 'B)' at a line start, or a lone 'B'."""
    valid = None if n_choices is None else {chr(65 + i) for i in range(n_choices)}
    for pattern in _PATTERNS:
        found = [m.upper() for m in pattern.findall(text)]
        found = [f for f in found if valid is None or f in valid]
        if found:
            return found[-1]
    return None


def target_letter(target: object, choices: list[str] | None) -> str | None:
    """A target given as a letter, a 0-based index, or the option's text, as a letter."""
    if isinstance(target, bool):
        return None
    if isinstance(target, int):
        return chr(65 + target)
    s = str(target).strip()
    if len(s) == 1 and s.isalpha():
        return s.upper()
    if choices:
        for i, c in enumerate(choices):
            if normalize(c) == normalize(s):
                return chr(65 + i)
    return None


def choice(out: Output) -> Score:
    """1 when the extracted letter equals a target letter."""
    n = len(out.choices) if out.choices else None
    letter = extract_letter(out.text, n)
    if letter is None:
        return Score(0.0, None)
    ok = any(target_letter(t, out.choices) == letter for t in targets(out.target))
    return Score(1.0 if ok else 0.0, letter)
