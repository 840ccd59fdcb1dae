"""Scorers: small functions registered by name; `score_all` applies a dataset's list."""

from __future__ import annotations

from pipeline.scoring.base import Output, Score, Scorer, normalize
from pipeline.scoring.choice import choice
from pipeline.scoring.exact import exact
from pipeline.scoring.includes import includes
from pipeline.scoring.numeric import numeric
from pipeline.scoring.regex import regex
from pipeline.scoring.tool_call import tool_call, tool_call_any

SCORERS: dict[str, Scorer] = {
    "exact": exact,
    "includes": includes,
    "regex": regex,
    "numeric": numeric,
    "choice": choice,
    "tool_call": tool_call,
    "tool_call_any": tool_call_any,
}

__all__ = ["SCORERS", "Output", "Score", "Scorer", "normalize", "get_scorer"]


def get_scorer(name: str) -> Scorer:
    """The scorer registered under `name`."""
    return SCORERS[name]
