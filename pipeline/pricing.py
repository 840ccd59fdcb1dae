"""Prices in USD per million tokens and the cost of a usage record.

Defaults come from the model catalogue (`pipeline.catalog`: the model makers' public list
prices); Heroku's own page could not be read, so check them against the bill and override
per model in the config.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.catalog import CATALOG, ModelFacts
from pipeline.tokens import worst_case_prompt


@dataclass(frozen=True, slots=True)
class Rate:
    """USD per million input and output tokens."""

    input: float
    output: float

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """The cost in USD of one request's usage."""
        return (prompt_tokens * self.input + completion_tokens * self.output) / 1_000_000


def rate_for(model_id: str, override: tuple[float, float] | None = None) -> Rate | None:
    """The price of a model: the config's override, else the catalogue's, else None."""
    if override is not None:
        return Rate(*override)
    f = CATALOG.get(model_id)
    if f is None or f.price_in is None or f.price_out is None:
        return None
    return Rate(f.price_in, f.price_out)


def worst_case_output(body: dict[str, Any], facts: ModelFacts | None) -> int | None:
    """The most completion tokens a request may bill: its max_tokens, else the model's
    published output cap; None when neither is known."""
    return body.get("max_tokens") or body.get("max_completion_tokens") or (
        facts.max_output_tokens if facts else None) or None


def worst_case_cost(body: dict[str, Any], rate: Rate, facts: ModelFacts | None) -> float:
    """The most a request can cost: every prompt byte a token (plus the template margin) and
    the whole worst-case output. The budget reserves this before sending, and `estimate`
    sums it, so an estimate's worst case bounds what a run under the budget may spend."""
    out = worst_case_output(body, facts) or 0
    return rate.cost(worst_case_prompt(body["messages"], body.get("tools")), out)
