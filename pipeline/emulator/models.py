"""The simulated models: how often each one is right and how fast it answers.

Published limits (requests and tokens per minute, the output cap, the context window) are not
here: the emulator reads them from ``pipeline.catalog.CATALOG``, the table the client side reads.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from functools import cached_property

from pipeline.catalog import ANY_MODEL, CATALOG, ModelFacts


@dataclass(frozen=True)
class ModelProfile:
    """How one simulated model behaves: how often it is right and how fast it answers."""

    model_id: str
    accuracy: float
    ttft_s: float
    tokens_per_s: float

    @cached_property
    def fingerprint(self) -> str:
        """A stable ``system_fingerprint`` for this model."""
        digest = hashlib.blake2b(self.model_id.encode(), digest_size=8).hexdigest()
        letters = "".join(chr(ord("a") + int(c, 16) % 26) for c in digest[:6])
        return f"heroku-inf-{letters}"

    def latency_s(self, completion_tokens: int) -> float:
        """Realistic wall time of a whole answer (speed 1): ttft plus generation time."""
        return self.ttft_s + completion_tokens / self.tokens_per_s


# Simulated behaviour per catalogue id: (accuracy, ttft_s, tokens_per_s). Only these are the
# emulator's own; every id here is a catalogue id and every catalogue id has a row
# (tests/test_catalog.py holds them equal).
PROFILES: dict[str, tuple[float, float, float]] = {
    "claude-4-5-sonnet": (0.93, 0.80, 60.0),
    "claude-4-sonnet": (0.92, 0.80, 60.0),
    "claude-3-7-sonnet": (0.91, 0.85, 55.0),
    "claude-3-5-sonnet-latest": (0.90, 0.80, 55.0),
    "claude-opus-4-5": (0.95, 1.20, 40.0),
    "claude-4-5-haiku": (0.80, 0.35, 140.0),
    "claude-3-5-haiku": (0.78, 0.40, 120.0),
    "claude-3-haiku": (0.75, 0.30, 160.0),
    "gpt-oss-120b": (0.87, 0.50, 100.0),
    "nova-pro": (0.85, 0.60, 80.0),
    "nova-lite": (0.82, 0.40, 120.0),
}

# An id outside the catalogue, when the emulator accepts any id: a middling model, with the
# catalogue's limits for such an id (ANY_MODEL).
DEFAULT_PROFILE = ModelProfile("*", 0.85, 0.50, 100.0)

# The models the emulator serves: the catalogue's, in its order (an id new to the catalogue
# and not yet given a row above behaves like DEFAULT_PROFILE).
MODELS: dict[str, ModelProfile] = {
    model_id: ModelProfile(model_id, *PROFILES[model_id]) if model_id in PROFILES
    else replace(DEFAULT_PROFILE, model_id=model_id)
    for model_id in CATALOG
}


@dataclass(frozen=True, slots=True)
class Limits:
    """The published limits the emulator enforces for one model id."""

    rpm: int
    tpm: int
    max_output_tokens: int
    context_window: int


def lookup(model_id: str, *, accept_any: bool = False) -> tuple[ModelProfile, Limits] | None:
    """The profile and catalogue limits of a model id; None if unknown and not accept_any."""
    facts = CATALOG.get(model_id)
    cached = _resolved.get(model_id)
    # reuse while the catalogue entry is the same; an id outside it only with accept_any
    if cached is not None and cached[0] is facts and (facts is not None or accept_any):
        return cached[1]
    profile = MODELS.get(model_id)
    if profile is None:
        if not accept_any:
            return None
        profile, facts = replace(DEFAULT_PROFILE, model_id=model_id), None
    if len(_resolved) >= _RESOLVED_CAP:  # any id is accepted with accept_any: stay bounded
        _resolved.clear()
    found = profile, _limits(facts or ANY_MODEL)
    _resolved[model_id] = (facts, found)
    return found


_RESOLVED_CAP = 1024
_resolved: dict[str, tuple[ModelFacts | None, tuple[ModelProfile, Limits]]] = {}


def _limits(facts: ModelFacts) -> Limits:
    """Limits read from a catalogue entry; a value it leaves unknown (None) takes ANY_MODEL's."""
    return Limits(
        rpm=facts.rpm or ANY_MODEL.rpm or 0,
        tpm=facts.tpm or ANY_MODEL.tpm or 0,
        max_output_tokens=facts.max_output_tokens or ANY_MODEL.max_output_tokens or 0,
        context_window=facts.context_window or ANY_MODEL.context_window or 0,
    )


def available_models() -> list[dict[str, object]]:
    """The body of ``GET /available-models``."""
    return [
        {"model_id": model_id, "type": ["text-to-text"], "regions": ["us", "eu"]}
        for model_id in MODELS
    ]
