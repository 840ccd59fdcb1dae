"""What every scorer takes and gives, and the text normalisation they share."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Output:
    """The parts of a model's answer a scorer may look at, with the sample's expectations."""

    text: str
    tool_calls: list[dict[str, Any]]
    target: Any
    choices: list[str] | None = None
    options: dict[str, Any] = field(default_factory=dict)
    finish_reason: str | None = None  # "length": the answer was cut by max_tokens

    @property
    def cut(self) -> bool:
        """Whether the answer stopped at max_tokens (its last number is no conclusion)."""
        return self.finish_reason == "length"


@dataclass(frozen=True, slots=True)
class Score:
    """A score in [0, 1], the answer the scorer extracted (None if it found none) and, where
    the score needs one, a short reason (a failed test, an instruction not followed)."""

    value: float
    answer: str | None
    explanation: str | None = None


Scorer = Callable[[Output], Score]

_WS = re.compile(r"\s+")
_EDGE_PUNCT = " \t\n.,;:!?\"'`()[]{}*"  # * : markdown emphasis, "**Paris**"


def normalize(text: Any) -> str:
    """Casefold, NFKC, collapse white space, strip surrounding punctuation and emphasis."""
    s = unicodedata.normalize("NFKC", str(text)).casefold()
    return _WS.sub(" ", s).strip(_EDGE_PUNCT)


def targets(target: Any) -> list[Any]:
    """A target may be one value or a list of acceptable values."""
    if target is None:
        return []
    return list(target) if isinstance(target, list | tuple) else [target]
