"""Judge prompts: the emulator grades the answer a judge prompt shows against the reference it
shows, right at the judge model's judging accuracy, so judge configs run offline.

A judge prompt is recognised by the blocks of pipeline's default rubric: "[Answer to grade]"
and "[Reference answer]" (each up to the next "[...]" heading or the closing instructions)
and a request to end with "GRADE: ...". The verdict is honest: the answer's final number
against a numeric reference, else its final choice letter against a letter, else whether the
normalized reference (any of "any of: a | b") is in the normalized answer. It is then flipped
with probability 1 - judging accuracy (a stable draw per model and prompt), the judging
accuracy being halfway between the model's simulated accuracy and 1. A rubric without those
blocks gets a reply without a grade: the emulator cannot tell what to compare.
"""

from __future__ import annotations

import re
import unicodedata

from .rand import unit

_BLOCK = re.compile(r"^\[(?P<name>[^\]\n]+)\]\s*\n(?P<body>.*?)(?=^\[[^\]\n]+\]\s*$|\Z)",
                    re.M | re.S)
# The default rubric's instructions after the last block (a paragraph of the answer that
# starts "Does ..." is the answer's own)
_CLOSING = "\n\nDoes the answer to grade reach the same final result"
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
_LETTER = re.compile(r"\b(?:answer|option|choice)\s*(?:is)?\s*:?\s*\(?([A-Z])\)?\b", re.I)
_WS = re.compile(r"\s+")


def _blocks(prompt: str) -> dict[str, str]:
    out = {}
    for m in _BLOCK.finditer(prompt):
        body = m.group("body")
        if m.end() == len(prompt):  # the last block runs on into the instructions
            body = body.rsplit(_CLOSING, 1)[0]
        out[m.group("name").strip().casefold()] = body.strip()
    return out


def _norm(text: str) -> str:
    s = unicodedata.normalize("NFKC", text).casefold()
    return _WS.sub(" ", re.sub(r"[^\w\s.-]", " ", s)).strip(" .")


def _number(text: str) -> float | None:
    found = _NUMBER.findall(text)
    if not found:
        return None
    try:
        return float(found[-1].replace(",", ""))
    except ValueError:
        return None


def _matches(answer: str, reference: str) -> bool:
    ref = reference.strip()
    if re.fullmatch(r"-?\d[\d,]*(?:\.\d+)?", ref):
        got = _number(answer)
        return got is not None and abs(got - float(ref.replace(",", ""))) < 1e-9
    if re.fullmatch(r"[A-Z]", ref):
        letters = _LETTER.findall(answer)
        return bool(letters) and letters[-1].upper() == ref
    norm = _norm(answer)
    return any(_norm(r) and _norm(r) in norm for r in ref.split(" | "))


def judge(prompt: str, accuracy: float, salt: str) -> tuple[str, str] | None:
    """(reply, working) for a judge prompt, or None when the prompt is not one."""
    if "GRADE:" not in prompt:
        return None
    blocks = _blocks(prompt)
    answer, reference = blocks.get("answer to grade"), blocks.get("reference answer")
    if answer is None or reference is None:
        return ("I cannot tell which part of this is the answer to grade and which the "
                "reference, so I give no grade.", "No answer and reference blocks found.")
    if reference.startswith("any of: "):
        reference = reference[len("any of: "):]
    right = _matches(answer, reference)
    judging = 0.5 + accuracy / 2
    honest = unit("judge", salt) < judging
    verdict = right if honest else not right
    shown = reference if len(reference) <= 80 else reference[:77] + "..."
    reason = (f"The answer agrees with the reference ({shown})." if verdict else
              f"The answer does not reach the reference ({shown}).")
    working = f"Compared the answer's final result with the reference; match: {right}."
    return f"{reason}\n\nGRADE: {'C' if verdict else 'I'}", working
