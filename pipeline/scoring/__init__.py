"""Scorers: small functions registered by name; `score_all` applies a dataset's list.

The registry names each scorer's module and imports it on first use: a config names its
scorers long before the first answer arrives, and the scorers' regexes (~40 ms to compile)
need not stand between process start and the first request.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from importlib import import_module

from pipeline.scoring.base import Output, Score, Scorer, normalize

_BUILTIN: dict[str, str] = {
    "exact": "pipeline.scoring.exact:exact",
    "includes": "pipeline.scoring.includes:includes",
    "regex": "pipeline.scoring.regex:regex",
    "numeric": "pipeline.scoring.numeric:numeric",
    "choice": "pipeline.scoring.choice:choice",
    "tool_call": "pipeline.scoring.tool_call:tool_call",
    "tool_call_any": "pipeline.scoring.tool_call:tool_call_any",
    "tool_call_set": "pipeline.scoring.tool_set:tool_call_set",
    "no_tool_call": "pipeline.scoring.tool_set:no_tool_call",
    "json": "pipeline.scoring.json_answer:json_answer",
    "json_schema": "pipeline.scoring.json_schema:json_schema",
    "f1": "pipeline.scoring.f1:f1",
    "finish": "pipeline.scoring.finish:finish",
}


class _Registry(Mapping[str, Scorer]):
    """Scorer name -> function; the function's module is imported when first asked for."""

    def __init__(self, where: dict[str, str]) -> None:
        self._where = where
        self._loaded: dict[str, Scorer] = {}

    def __getitem__(self, name: str) -> Scorer:
        fn = self._loaded.get(name)
        if fn is None:
            module, attr = self._where[name].split(":")
            fn = self._loaded[name] = getattr(import_module(module), attr)
        return fn

    def __contains__(self, name: object) -> bool:
        return name in self._where

    def __iter__(self) -> Iterator[str]:
        return iter(self._where)

    def __len__(self) -> int:
        return len(self._where)


SCORERS: Mapping[str, Scorer] = _Registry(_BUILTIN)

__all__ = ["SCORERS", "Output", "Score", "Scorer", "normalize", "get_scorer"]


def get_scorer(name: str) -> Scorer:
    """The scorer registered under `name`."""
    return SCORERS[name]
