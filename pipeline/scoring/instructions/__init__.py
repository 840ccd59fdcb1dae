"""IFEval's verifiable instructions: a checker per instruction id, strict and loose.

Definitions follow IFEval (Zhou et al. 2023, "Instruction-Following Evaluation for Large
Language Models", arXiv:2311.07911) and its reference implementation,
google-research/google-research `instruction_following_eval` (Apache-2.0), whose checks were
read and re-implemented here, not copied; where a checker departs from it, its `notes` say
how (the README lists them). Modules: `registry` (ids, kwargs validation), `text` (words,
sentences, paragraphs, loose variants), and one per family of instructions.

`follows(id, response, kwargs, loose=...)` gives a `Verdict`: followed, not followed, or
unchecked with the reason (a type or a language this module cannot check honestly).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import case, combination, formats, keywords, language, length  # noqa: F401 (register)
from .registry import REGISTRY, Checker, InstructionError
from .text import loose_variants

# Instruction ids of IFEval that have no checker here, with the reason. Every one of the 25
# types of IFEval's 541 prompts has a checker; language:response_language checks only some
# languages (language.py), and reports the others unchecked per row.
UNSUPPORTED: dict[str, str] = {}


@dataclass(frozen=True, slots=True)
class Verdict:
    """One instruction's outcome: followed True/False, or None (unchecked) with the reason."""

    id: str
    followed: bool | None
    reason: str | None = None


def validate(instruction_id: str, kwargs: Any) -> dict[str, Any] | str:
    """The clean kwargs of a known instruction, or why it is left unchecked (an id without a
    checker). Raises InstructionError for kwargs that are wrong."""
    found = REGISTRY.get(instruction_id)
    if found is None:
        return UNSUPPORTED.get(instruction_id, f"{instruction_id}: unknown instruction id")
    return found.validate(kwargs)


def follows(instruction_id: str, response: str, kwargs: dict[str, Any] | None = None, *,
            loose: bool = False) -> Verdict:
    """Whether the response follows one instruction. Strict: the response as it is. Loose:
    also with its first and/or last line removed and with `*` removed, any passing. A blank
    response (or variant) follows nothing. Raises InstructionError for bad kwargs."""
    clean = validate(instruction_id, kwargs)
    if isinstance(clean, str):
        return Verdict(instruction_id, None, clean)
    found: Checker = REGISTRY[instruction_id]
    if found.unchecked is not None:
        reason = found.unchecked(**clean)
        if reason is not None:
            return Verdict(instruction_id, None, reason)
    candidates = loose_variants(response) if loose else [response]
    ok = any(text.strip() and found.check(text, **clean) for text in candidates)
    return Verdict(instruction_id, ok)


__all__ = ["REGISTRY", "UNSUPPORTED", "Checker", "InstructionError", "Verdict", "follows",
           "validate"]
