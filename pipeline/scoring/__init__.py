"""Scorers: functions registered by name that turn a model's answer into a Score.

Three kinds, one interface (`Output` in, `Score` out; see base.py):
- built-ins, named in `_BUILTIN` and imported on first use (a config names its scorers long
  before the first answer arrives, and their regexes need not stand between process start
  and the first request);
- a function of the user's, named in a config as `{ function = "module:name" }` (importable
  from the config's folder), optionally decorated with `@scorer(options=Model)`;
- scorers that installed packages register under the entry-point group `pipeline.scorers`.

`@scorer(name, options=Model)` marks a function as a scorer with typed options (a pydantic
model): the config's options for it are validated against the model, with field paths, and
reach the function as `out.options`, defaults filled in.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any

from pipeline.scoring.base import Output, Score, Scorer, normalize

ENTRY_POINT_GROUP = "pipeline.scorers"

# name -> (the function, the options model in pipeline.scoring.options or None)
_BUILTIN: dict[str, tuple[str, str | None]] = {
    "exact": ("pipeline.scoring.exact:exact", None),
    "includes": ("pipeline.scoring.includes:includes", None),
    "regex": ("pipeline.scoring.regex:regex", "RegexOptions"),
    "numeric": ("pipeline.scoring.numeric:numeric", None),
    "choice": ("pipeline.scoring.choice:choice", None),
    "tool_call": ("pipeline.scoring.tool_call:tool_call", None),
    "tool_call_any": ("pipeline.scoring.tool_call:tool_call_any", None),
    "code": ("pipeline.scoring.code:code", "CodeOptions"),
    "ifeval": ("pipeline.scoring.ifeval:ifeval", "IfevalOptions"),
    "ifeval_loose": ("pipeline.scoring.ifeval:ifeval_loose", None),
    "tool_call_set": ("pipeline.scoring.tool_set:tool_call_set", None),
    "no_tool_call": ("pipeline.scoring.tool_set:no_tool_call", None),
    "json": ("pipeline.scoring.json_answer:json_answer", None),
    "json_schema": ("pipeline.scoring.json_schema:json_schema", "JsonSchemaOptions"),
    "f1": ("pipeline.scoring.f1:f1", "F1Options"),
    "finish": ("pipeline.scoring.finish:finish", None),
    "judge": ("pipeline.scoring.judge:judge", "JudgeOptions"),
}


class ScorerNotFound(ValueError):
    """A scorer a config names that cannot be found or loaded (the message says why)."""


@dataclass(frozen=True, slots=True)
class ScorerMeta:
    """What `@scorer` records on a function."""

    name: str
    options: type | None  # a pydantic model of the options, or None: no options


def scorer(name: str | None = None, *, options: type | None = None
           ) -> Callable[[Scorer], Scorer]:
    """Mark a function `(Output) -> Score` as a scorer named `name` (default: the function's
    name) whose options are validated against `options` (a pydantic model)."""

    def mark(fn: Scorer) -> Scorer:
        fn.__pipeline_scorer__ = ScorerMeta(name or fn.__name__, options)  # type: ignore[attr-defined]
        return fn

    return mark


@dataclass(frozen=True, slots=True)
class Resolved:
    """A scorer found: its column name, its options model and the function (a built-in's
    module is imported only when `fn` is asked for)."""

    name: str
    options: type | None
    _fn: Scorer | None = None

    @property
    def fn(self) -> Scorer:
        return self._fn if self._fn is not None else SCORERS[self.name]


def _load(target: str) -> Any:
    module, _, attr = target.partition(":")
    obj: Any = import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def _builtin_options(name: str) -> type | None:
    model = _BUILTIN[name][1]
    if model is None:
        return None
    from pipeline.scoring import options

    return getattr(options, model)


def _entry_points() -> dict[str, Any]:
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def _from_function(fn: Any, default_name: str, where: str) -> Resolved:
    if not callable(fn):
        raise ScorerNotFound(f"{where} is not a function")
    meta = getattr(fn, "__pipeline_scorer__", None)
    if meta is None:
        return Resolved(default_name, None, fn)
    return Resolved(meta.name, meta.options, fn)


def known_names() -> list[str]:
    return sorted({*_BUILTIN, *_entry_points()})


def resolve(name: str | None = None, function: str | None = None,
            base: Path | None = None) -> Resolved:
    """Find a scorer by name (built-in, then entry points) or by `module:function` (imported
    with `base`, the config's folder, on the import path). Raises ScorerNotFound."""
    if function is not None:
        module, sep, attr = function.partition(":")
        if not sep or not module or not attr:
            raise ScorerNotFound(f"function {function!r} must be 'module:function' "
                                 "(e.g. 'myscorers:grade', myscorers.py beside the config)")
        if base is not None and str(base) not in sys.path:
            sys.path.insert(0, str(base))
        importlib.invalidate_caches()
        try:
            fn = _load(function)
        except ModuleNotFoundError as exc:
            raise ScorerNotFound(f"cannot import {exc.name!r} for {function!r} (looked in "
                                 f"{base or 'the import path'} and the import path)") from None
        except AttributeError:
            raise ScorerNotFound(f"module {module!r} has no {attr!r}") from None
        except Exception as exc:  # the user's module failed while importing
            raise ScorerNotFound(f"importing {module!r} failed: {type(exc).__name__}: "
                                 f"{exc}") from None
        return _from_function(fn, attr.rsplit(".", 1)[-1], repr(function))
    assert name is not None
    if name in _BUILTIN:
        return Resolved(name, _builtin_options(name))
    eps = _entry_points()
    if name in eps:
        try:
            fn = eps[name].load()
        except Exception as exc:
            raise ScorerNotFound(f"scorer {name!r} (entry point {eps[name].value!r}) failed "
                                 f"to load: {type(exc).__name__}: {exc}") from None
        return _from_function(fn, name, f"entry point {eps[name].value!r}")
    raise ScorerNotFound(f"unknown scorer {name!r}; known: {', '.join(known_names())} "
                         "(or { function = \"module:name\" } for your own)")


class _Registry(Mapping[str, Scorer]):
    """Built-in scorer name -> function; the function's module is imported when first asked
    for."""

    def __init__(self, where: dict[str, tuple[str, str | None]]) -> None:
        self._where = where
        self._loaded: dict[str, Scorer] = {}

    def __getitem__(self, name: str) -> Scorer:
        fn = self._loaded.get(name)
        if fn is None:
            fn = self._loaded[name] = _load(self._where[name][0])
        return fn

    def __contains__(self, name: object) -> bool:
        return name in self._where

    def __iter__(self) -> Iterator[str]:
        return iter(self._where)

    def __len__(self) -> int:
        return len(self._where)


SCORERS: Mapping[str, Scorer] = _Registry(_BUILTIN)

__all__ = ["SCORERS", "Output", "Score", "Scorer", "normalize", "get_scorer", "scorer",
           "resolve", "ScorerNotFound"]


def get_scorer(name: str) -> Scorer:
    """The scorer registered under `name`."""
    return SCORERS[name]
