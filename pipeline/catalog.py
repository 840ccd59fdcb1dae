"""The model catalogue: the published facts of each model the project knows.

One table read by the client side (prices, rate limits, limits checked by `validate`) and by
the emulator (which enforces the same limits). Sources: api-contract.md (rate limits, the
Claude output caps and the 200k context window, list prices); where the contract is silent
the value is the model maker's documented figure and is marked "assumed" below. Prices are
USD per million tokens; override them per model in the config (`models.price`).

Nothing else restates these facts: `pricing` reads prices here, the runner's `ModelGate`s and
`estimate` read rpm/tpm, `preflight` the output caps and context windows, and the emulator
(`pipeline/emulator/models.py`) enforces the same limits, keeping only its simulated accuracy
and speed per id (tests/test_catalog.py fails if a second table appears).
"""

from __future__ import annotations

from dataclasses import dataclass

# The published rpm and tpm count requests and tokens in a sliding one-minute window.
RATE_WINDOW_S = 60.0


@dataclass(frozen=True, slots=True)
class ModelFacts:
    """What is published about one model id (None: not known)."""

    model_id: str
    price_in: float | None  # USD per million prompt tokens
    price_out: float | None  # USD per million completion tokens
    rpm: int | None  # requests per minute (Heroku, per model)
    tpm: int | None  # tokens per minute (Heroku, per model)
    max_output_tokens: int | None  # the largest max_tokens the endpoint accepts
    context_window: int | None  # prompt + max_tokens must fit in this


def _m(
    model_id: str, price: tuple[float, float] | None, rpm: int, max_out: int, context: int,
    tpm: int = 800_000,
) -> ModelFacts:
    p_in, p_out = price if price is not None else (None, None)
    return ModelFacts(model_id, p_in, p_out, rpm, tpm, max_out, context)


CATALOG: dict[str, ModelFacts] = {
    f.model_id: f
    for f in (
        _m("claude-4-5-sonnet", (3.0, 15.0), 150, 8192, 200_000),
        _m("claude-4-sonnet", (3.0, 15.0), 150, 8192, 200_000),
        _m("claude-3-7-sonnet", (3.0, 15.0), 150, 8192, 200_000),
        _m("claude-3-5-sonnet-latest", (3.0, 15.0), 150, 8192, 200_000),
        # Not in the contract's rate-limit table: assumed to have the Sonnet row.
        _m("claude-opus-4-5", (5.0, 25.0), 150, 8192, 200_000),
        _m("claude-4-5-haiku", (1.0, 5.0), 200, 4096, 200_000),
        _m("claude-3-5-haiku", (0.80, 4.0), 200, 4096, 200_000),
        _m("claude-3-haiku", (0.25, 1.25), 250, 4096, 200_000),
        # No price in the contract; output caps and context windows assumed from the makers.
        _m("gpt-oss-120b", None, 200, 8192, 131_072),
        _m("nova-pro", None, 150, 5000, 300_000),
        _m("nova-lite", None, 150, 5000, 300_000),
    )
}


# An id outside the catalogue, for the emulator when it accepts any id (as llama.cpp does):
# the contract's most common rate-limit row and an open-weights-sized context. The client side
# assumes nothing of an unknown id (no limits, no price) unless the config sets them.
ANY_MODEL = _m("*", None, 150, 8192, 131_072)


def facts(model_id: str) -> ModelFacts | None:
    """The catalogue entry of a model id, if the project knows it."""
    return CATALOG.get(model_id)
