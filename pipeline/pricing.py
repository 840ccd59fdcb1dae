"""Prices in USD per million tokens and the cost of a usage record.

Defaults are the model makers' public list prices (api-contract.md); Heroku's own page could
not be read, so check them against the bill and override per model in the config.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rate:
    """USD per million input and output tokens."""

    input: float
    output: float

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """The cost in USD of one request's usage."""
        return (prompt_tokens * self.input + completion_tokens * self.output) / 1_000_000


DEFAULT_PRICES: dict[str, Rate] = {
    "claude-4-5-sonnet": Rate(3.0, 15.0),
    "claude-4-sonnet": Rate(3.0, 15.0),
    "claude-3-7-sonnet": Rate(3.0, 15.0),
    "claude-3-5-sonnet-latest": Rate(3.0, 15.0),
    "claude-4-5-haiku": Rate(1.0, 5.0),
    "claude-3-5-haiku": Rate(0.80, 4.0),
    "claude-3-haiku": Rate(0.25, 1.25),
    "claude-opus-4-5": Rate(5.0, 25.0),
}

# Published per-model request limits (one-minute window), api-contract.md.
DEFAULT_RPM: dict[str, int] = {
    "claude-4-5-sonnet": 150, "claude-4-sonnet": 150, "claude-3-7-sonnet": 150,
    "claude-3-5-sonnet-latest": 150, "claude-4-5-haiku": 200, "claude-3-5-haiku": 200,
    "claude-3-haiku": 250, "gpt-oss-120b": 200, "nova-pro": 150, "nova-lite": 150,
}


def rate_for(model_id: str, override: tuple[float, float] | None = None) -> Rate | None:
    """The price of a model: the config's override, else the default table, else None."""
    if override is not None:
        return Rate(*override)
    return DEFAULT_PRICES.get(model_id)
