"""pipeline: config-driven batch evaluation of chat-completion models."""

from __future__ import annotations

__version__ = "0.2.0"
