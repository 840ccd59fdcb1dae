"""A local Heroku Inference-compatible server with simulated models and injectable faults."""

from __future__ import annotations

from .app import EmulatorState, make_app
from .config import OUTCOMES, EmulatorConfig, Faults
from .models import MODELS, ModelProfile
from .server import EmulatorServer, serve_forever
from .stats import EmulatorStats

__all__ = [
    "MODELS",
    "OUTCOMES",
    "EmulatorConfig",
    "EmulatorServer",
    "EmulatorState",
    "EmulatorStats",
    "Faults",
    "ModelProfile",
    "make_app",
    "serve_forever",
]
