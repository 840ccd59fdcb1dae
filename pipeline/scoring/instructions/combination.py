"""combination:*: two different responses, or the prompt repeated before the answer."""

from __future__ import annotations

from .registry import TEXT, checker

SEPARATOR = "******"


@checker("combination:two_responses")
def two_responses(response: str) -> bool:
    """Two different responses separated by six asterisks (an empty piece only at either end)."""
    pieces = response.split(SEPARATOR)
    kept = []
    for i, piece in enumerate(pieces):
        if piece.strip():
            kept.append(piece.strip())
        elif 0 < i < len(pieces) - 1:
            return False
    return len(kept) == 2 and kept[0] != kept[1]


def _squash(text: str) -> str:
    return " ".join(text.split()).lower()


@checker("combination:repeat_prompt", prompt_to_repeat=TEXT,
         notes="white space is compared collapsed (a line break for a space is no change of "
               "word)")
def repeat_prompt(response: str, *, prompt_to_repeat: str) -> bool:
    """The response begins with the request, word for word (case-insensitive), before anything
    else."""
    return _squash(response).startswith(_squash(prompt_to_repeat))
