"""A lazy stand-in for pydantic's plugin loader, `pydantic.plugin._loader`.

pydantic asks that module for `get_plugins()` when it builds the first model class; the
module's import alone imports importlib.metadata, and with it the `email` package: 30-45 ms
of every command's start-up here, spent even while plugins are disabled (pipeline disables
them unless told otherwise, pipeline/__init__.py). This finder gives pydantic a module whose
`get_plugins()` reads the variable as pydantic's does and returns no plugins while they are
disabled; otherwise, and for any other name asked of it, it loads the real module and passes
the question on. So plugins work exactly as before, and cost nothing while they are off.
"""

from __future__ import annotations

import os
import sys
from importlib.machinery import ModuleSpec, PathFinder
from types import ModuleType
from typing import Any

NAME = "pydantic.plugin._loader"
OFF = ("__all__", "1", "true")  # PYDANTIC_DISABLE_PLUGINS values that disable every plugin


class LazyPluginLoader:
    """A meta path finder and loader for NAME only."""

    real: ModuleType | None = None

    @classmethod
    def find_spec(cls, name: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        return ModuleSpec(name, cls) if name == NAME else None

    @staticmethod
    def create_module(spec: ModuleSpec) -> None:
        return None  # the default module

    @classmethod
    def exec_module(cls, module: ModuleType) -> None:
        def get_plugins() -> Any:
            if os.getenv("PYDANTIC_DISABLE_PLUGINS") in OFF:
                return ()
            return cls.load_real().get_plugins()

        def __getattr__(name: str) -> Any:
            if name.startswith("__"):  # the import system's questions (__path__, ...)
                raise AttributeError(name)
            return getattr(cls.load_real(), name)

        module.get_plugins = get_plugins  # type: ignore[attr-defined]
        module.__getattr__ = __getattr__  # type: ignore[attr-defined]

    @classmethod
    def load_real(cls) -> ModuleType:
        """The real module, loaded once (not registered in sys.modules: the stand-in is)."""
        if cls.real is None:
            spec = PathFinder.find_spec(NAME, sys.modules["pydantic.plugin"].__path__)
            assert spec is not None and spec.loader is not None
            module = ModuleType(spec.name)
            module.__spec__, module.__file__ = spec, spec.origin
            spec.loader.exec_module(module)
            cls.real = module
        return cls.real


def install() -> None:
    """Put the stand-in first on sys.meta_path (once; not when pydantic already loaded the
    real module)."""
    if NAME not in sys.modules and LazyPluginLoader not in sys.meta_path:
        sys.meta_path.insert(0, LazyPluginLoader)  # type: ignore[arg-type]
