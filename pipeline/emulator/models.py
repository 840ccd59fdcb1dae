"""The simulated model catalog: accuracy, latency, output speed and limits per model id."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

TPM_DEFAULT = 800_000


@dataclass(frozen=True)
class ModelProfile:
    """How one simulated model behaves: how often it is right, how fast it answers, its limits."""

    model_id: str
    accuracy: float
    ttft_s: float
    tokens_per_s: float
    max_tokens: int
    rpm: int
    tpm: int = TPM_DEFAULT

    @property
    def fingerprint(self) -> str:
        """A stable ``system_fingerprint`` for this model."""
        digest = hashlib.blake2b(self.model_id.encode(), digest_size=8).hexdigest()
        letters = "".join(chr(ord("a") + int(c, 16) % 26) for c in digest[:6])
        return f"heroku-inf-{letters}"

    def latency_s(self, completion_tokens: int) -> float:
        """Realistic wall time of a whole answer (speed 1): ttft plus generation time."""
        return self.ttft_s + completion_tokens / self.tokens_per_s


def _profile(
    model_id: str, accuracy: float, ttft_s: float, tps: float, max_tokens: int, rpm: int
) -> ModelProfile:
    return ModelProfile(model_id, accuracy, ttft_s, tps, max_tokens, rpm)


# Rate limits from the contract's table; claude-opus-4-5 is not in it and gets the Sonnet row.
MODELS: dict[str, ModelProfile] = {
    p.model_id: p
    for p in (
        _profile("claude-4-5-sonnet", 0.93, 0.80, 60.0, 8192, 150),
        _profile("claude-4-sonnet", 0.92, 0.80, 60.0, 8192, 150),
        _profile("claude-3-7-sonnet", 0.91, 0.85, 55.0, 8192, 150),
        _profile("claude-3-5-sonnet-latest", 0.90, 0.80, 55.0, 8192, 150),
        _profile("claude-opus-4-5", 0.95, 1.20, 40.0, 8192, 150),
        _profile("claude-4-5-haiku", 0.80, 0.35, 140.0, 4096, 200),
        _profile("claude-3-5-haiku", 0.78, 0.40, 120.0, 4096, 200),
        _profile("claude-3-haiku", 0.75, 0.30, 160.0, 4096, 250),
        _profile("gpt-oss-120b", 0.87, 0.50, 100.0, 8192, 200),
        _profile("nova-pro", 0.85, 0.60, 80.0, 5000, 150),
        _profile("nova-lite", 0.82, 0.40, 120.0, 5000, 150),
    )
}


def available_models() -> list[dict[str, object]]:
    """The body of ``GET /available-models``."""
    return [
        {"model_id": model_id, "type": ["text-to-text"], "regions": ["us", "eu"]}
        for model_id in MODELS
    ]
