"""pipeline: config-driven batch evaluation of chat-completion models."""

from __future__ import annotations

import os

from pipeline import _plugin_loader

# pipeline uses no pydantic plugins; looking for them reads every installed package's entry
# points (25-40 ms of every command's start-up here). Set the variable yourself to use some.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
# ... and while they are off, pydantic's plugin loader is not even imported (30-45 ms)
_plugin_loader.install()

__version__ = "0.2.0"
