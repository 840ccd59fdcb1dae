"""pipeline: config-driven batch evaluation of chat-completion models."""

from __future__ import annotations

import os

# pipeline uses no pydantic plugins; looking for them reads every installed package's entry
# points (25-40 ms of every command's start-up here). Set the variable yourself to use some.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

__version__ = "0.2.0"
