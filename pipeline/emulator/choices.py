"""Multiple-choice solver: reads 'A) text' option lines and answers the question kinds it knows."""

from __future__ import annotations

import re
from collections.abc import Callable

from .rand import h64

# The text runs to the line's last non-blank (greedy: a lazy match is quadratic in long lines).
_OPTION = re.compile(
    r"^[ \t]*(?:\(([A-Z])\)|([A-Z])[).:])[ \t]+(\S(?:.*[^ \t\n])?)[ \t]*$", re.MULTILINE
)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def parse_options(prompt: str) -> tuple[str, list[tuple[str, str]]] | None:
    """(question, [(letter, text), ...]) when the prompt lists options A, B, ... in order."""
    options: list[tuple[str, str]] = []
    first_start = -1
    for match in _OPTION.finditer(prompt):
        letter = match.group(1) or match.group(2)
        if letter != chr(ord("A") + len(options)):
            if letter == "A":  # a second option list restarts: keep the last one
                options, first_start = [], -1
            else:
                continue
        if first_start < 0:
            first_start = match.start()
        options.append((letter, match.group(3)))
    if len(options) < 2:
        return None
    return prompt[:first_start].strip(), options


def _number(text: str) -> float | None:
    match = _NUMBER.search(text.replace(",", ""))
    return float(match.group()) if match else None


def _is_prime(n: float | None) -> bool:
    if n is None or n != int(n) or n < 2:
        return False
    k = int(n)
    if k < 4:
        return True
    if k % 2 == 0:
        return False
    return all(k % d for d in range(3, int(k**0.5) + 1, 2))


def _pick_numeric(
    options: list[tuple[str, str]], best: Callable[[list[float]], float]
) -> int | None:
    values = [_number(text) for _, text in options]
    present = [v for v in values if v is not None]
    if len(present) < 2:
        return None
    return values.index(best(present))


def _word(text: str) -> str:
    return text.strip().strip(".").lower()


def answer_index(question: str, options: list[tuple[str, str]]) -> tuple[int, str] | None:
    """(index of the right option, a short reason) for the question kinds it recognises."""
    q = question.lower()
    texts = [text for _, text in options]
    if "prime" in q:
        for i, text in enumerate(texts):
            if _is_prime(_number(text)):
                return i, f"{texts[i]} is prime"
        return None
    if "alphabetical" in q or "alphabetic" in q:
        keys = [_word(t) for t in texts]
        target = max(keys) if "last" in q else min(keys)
        order = "last" if "last" in q else "first"
        i = keys.index(target)
        return i, f"{texts[i]} comes {order} in alphabetical order"
    if "longest" in q or "shortest" in q:
        lengths = [len(_word(t)) for t in texts]
        target = max(lengths) if "longest" in q else min(lengths)
        i = lengths.index(target)
        which = "longest" if "longest" in q else "shortest"
        return i, f"{texts[i]} is the {which} word, with {target} letters"
    for words, best, label in (
        (("largest", "greatest", "biggest", "highest", "maximum"), max, "largest"),
        (("smallest", "lowest", "least", "minimum", "fewest"), min, "smallest"),
    ):
        if any(w in q for w in words):
            i = _pick_numeric(options, best)
            if i is None:
                return None
            return i, f"{texts[i]} is the {label} number"
    return None


def solve(
    prompt: str, *, correct: bool, salt: str, guess_salt: str | None = None
) -> tuple[str, str] | None:
    """(answer text ending 'Answer: <LETTER>', working), or None without an option list.

    salt picks the wrong option; guess_salt (default salt) the guess at an unknown question.
    """
    parsed = parse_options(prompt)
    if parsed is None:
        return None
    question, options = parsed
    n = len(options)
    found = answer_index(question, options)
    if found is None:
        index = h64("choice-guess", guess_salt or salt) % n
        reason = "this option fits best"
    else:
        index, reason = found
        if not correct:
            index = (index + 1 + h64("choice-wrong", salt) % (n - 1)) % n
            reason = f"{options[index][1]} looks right"
    letter = options[index][0]
    listing = "\n".join(f"{ltr}) {text}" for ltr, text in options)
    working = f"The options are:\n{listing}\nChecking each one, {reason}."
    content = f"{reason[0].upper()}{reason[1:]}, so the answer is {letter}.\nAnswer: {letter}"
    return content, working
