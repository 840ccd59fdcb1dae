"""Emulator settings: latency speed, auth key, seed and the fault knobs."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, get_args

from pipeline.catalog import RATE_WINDOW_S

UsageMode = Literal["always", "requested", "never"]

# Outcome names accepted by ``EmulatorServer.script`` and the admin script route.
OUTCOMES = ("ok", "403", "429", "500", "503", "drop", "hang", "truncate", "malformed")

# Probability knobs in the order a random draw walks them (cumulative).
_KNOB_OUTCOMES = (
    ("rate_429", "429"),
    ("error_500", "500"),
    ("error_503", "503"),
    ("drop", "drop"),
    ("hang", "hang"),
    ("truncate_stream", "truncate"),
    ("malformed", "malformed"),
)


@dataclass(frozen=True)
class Faults:
    """Per-request fault probabilities plus the timings of 429 and hang outcomes."""

    rate_429: float = 0.0
    error_500: float = 0.0
    error_503: float = 0.0
    drop: float = 0.0
    hang: float = 0.0
    truncate_stream: float = 0.0
    malformed: float = 0.0
    retry_after_s: float = 1.0
    hang_s: float = 30.0

    def __post_init__(self) -> None:
        total = 0.0
        for name, _ in _KNOB_OUTCOMES:
            value = getattr(self, name)
            if not _is_number(value) or not 0.0 <= value <= 1.0:
                raise ValueError(f"Faults.{name} must be a probability in [0, 1], got {value!r}")
            total += value
        if total > 1.0 + 1e-9:
            raise ValueError(f"Faults probabilities add up to {total:g}, more than 1")
        for name in ("retry_after_s", "hang_s"):
            value = getattr(self, name)
            if not _is_number(value) or value < 0 or not math.isfinite(value):
                raise ValueError(f"Faults.{name} must be a finite number >= 0, got {value!r}")

    @property
    def active(self) -> bool:
        """True when any fault probability is non-zero."""
        return any(getattr(self, name) > 0.0 for name, _ in _KNOB_OUTCOMES)

    def pick(self, u: float) -> str:
        """Map a uniform draw in [0, 1) to an outcome name by walking the cumulative knobs."""
        edge = 0.0
        for name, outcome in _KNOB_OUTCOMES:
            edge += getattr(self, name)
            if u < edge:
                return outcome
        return "ok"

    def to_dict(self) -> dict[str, float]:
        """Plain dict of every field, for JSON."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Faults:
        """Build from a mapping of field names; unknown names raise ValueError."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown Faults field(s): {', '.join(unknown)}")
        return cls(**dict(data))


@dataclass
class EmulatorConfig:
    """How the emulator behaves: auth, latency multiplier, faults, determinism seed."""

    api_key: str | None = None
    speed: float = 1.0
    faults: Faults = field(default_factory=Faults)
    seed: int = 0
    enforce_rate_limits: bool = False
    # Force every model's accuracy (float) or some models' accuracy ({model_id: float}).
    accuracy: float | Mapping[str, float] | None = None
    # Reject unknown top-level request fields unless the body sets allow_ignored_params.
    reject_unknown_fields: bool = True
    # Seconds a streaming or non-streaming answer may stay in flight when the server stops.
    shutdown_timeout_s: float = 1.0
    # Length of the sliding rate-limit window (the contract's is one minute).
    rate_window_s: float = RATE_WINDOW_S
    # Per-model (requests, tokens) per window overriding the catalogue; "*" for every model.
    rate_limits: Mapping[str, tuple[int, int]] | None = None
    # When answers carry usage: "always" (Heroku), "requested" (OpenAI: a stream has a usage
    # chunk only if stream_options.include_usage is true), "never" (servers that omit it).
    usage: UsageMode = "always"
    # Name every answer's "model" field with this instead of the requested id (as llama.cpp
    # names its loaded model).
    response_model: str | None = None
    # Answer unknown model ids with a default profile instead of a 400 (as llama.cpp does).
    accept_any_model: bool = False

    def __post_init__(self) -> None:
        if self.api_key is not None and not self.api_key:
            raise ValueError("EmulatorConfig.api_key must be None or a non-empty string")
        if self.response_model is not None and not (
            isinstance(self.response_model, str) and self.response_model
        ):
            raise ValueError("EmulatorConfig.response_model must be None or a non-empty string")
        if not _is_number(self.speed) or self.speed < 0 or not math.isfinite(self.speed):
            raise ValueError(f"EmulatorConfig.speed must be finite and >= 0, got {self.speed!r}")
        if not isinstance(self.faults, Faults):
            raise TypeError("EmulatorConfig.faults must be a Faults instance")
        window = self.rate_window_s
        if not _is_number(window) or not 0 < window < math.inf:
            raise ValueError(f"EmulatorConfig.rate_window_s must be finite and > 0, got {window!r}")
        if self.rate_limits is not None:
            self.rate_limits = {k: _rate_pair(k, v) for k, v in self.rate_limits.items()}
        if self.usage not in get_args(UsageMode):
            raise ValueError(
                f"EmulatorConfig.usage must be one of {', '.join(get_args(UsageMode))}, "
                f"got {self.usage!r}"
            )
        values = self.accuracy.values() if isinstance(self.accuracy, Mapping) else [self.accuracy]
        for value in values:
            if value is not None and (not _is_number(value) or not 0.0 <= value <= 1.0):
                raise ValueError(f"EmulatorConfig.accuracy must be in [0, 1], got {value!r}")

    def rate_limit_for(self, model_id: str, default: tuple[int, int]) -> tuple[int, int]:
        """(rpm, tpm) of a model: its override, else the "*" override, else the default."""
        limits = self.rate_limits
        if not limits:
            return default
        return limits.get(model_id) or limits.get("*") or default

    def accuracy_for(self, model_id: str, default: float) -> float:
        """The accuracy to simulate for a model: the override if any, else the profile's."""
        if self.accuracy is None:
            return default
        if isinstance(self.accuracy, Mapping):
            return float(self.accuracy.get(model_id, default))
        return float(self.accuracy)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _rate_pair(model_id: str, pair: object) -> tuple[int, int]:
    """A rate_limits value as (rpm, tpm): two positive integers (a list, as TOML gives, too)."""
    if (
        isinstance(pair, tuple | list)
        and len(pair) == 2
        and all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in pair)
    ):
        return int(pair[0]), int(pair[1])
    raise ValueError(
        f"EmulatorConfig.rate_limits[{model_id!r}] must be (rpm, tpm), two positive integers, "
        f"got {pair!r}"
    )
