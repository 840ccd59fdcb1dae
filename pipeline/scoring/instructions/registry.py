"""The checkers by instruction id, each with the kwargs it takes, validated before it runs.

A checker is `check(response, **kwargs) -> bool`, registered with `@checker(id, **spec)` where
spec names each kwarg's kind. A row's kwargs are validated against the spec first, so a bad
kwarg is one `InstructionError` naming the instruction and the kwarg, never a TypeError from
inside a checker. A checker that can check only some kwargs (a language it cannot tell apart)
registers `unchecked(kwargs) -> reason | None`: the scorer reports those as unchecked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

RELATIONS = ("less than", "at least")


class InstructionError(ValueError):
    """A row names an instruction this module cannot check as given (a bad or missing kwarg)."""


@dataclass(frozen=True, slots=True)
class Kind:
    """What one kwarg must be: a name for messages and a test returning the clean value."""

    name: str
    clean: Callable[[Any], Any]  # raises ValueError when the value is not of this kind


def _int_at_least(low: int) -> Callable[[Any], int]:
    def clean(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int | float) or v != int(v) or v < low:
            raise ValueError
        return int(v)
    return clean


def _text(v: Any) -> str:
    if not isinstance(v, str) or not v.strip():
        raise ValueError
    return v


def _texts(v: Any) -> list[str]:
    if not isinstance(v, list) or not v or not all(isinstance(x, str) and x.strip() for x in v):
        raise ValueError
    return list(v)


def _relation(v: Any) -> str:
    if v not in RELATIONS:
        raise ValueError
    return v


def _char(v: Any) -> str:
    if not isinstance(v, str) or len(v.strip()) != 1:
        raise ValueError
    return v.strip()


COUNT = Kind("an integer >= 0", _int_at_least(0))
POSITIVE = Kind("an integer >= 1", _int_at_least(1))
TEXT = Kind("a non-empty string", _text)
TEXTS = Kind("a non-empty list of non-empty strings", _texts)
RELATION = Kind(f"one of {' or '.join(repr(r) for r in RELATIONS)}", _relation)
CHAR = Kind("a single character", _char)


@dataclass(frozen=True, slots=True)
class Checker:
    """One instruction type: its id, its check and the kwargs that check takes."""

    id: str
    check: Callable[..., bool]
    kwargs: Mapping[str, Kind]
    unchecked: Callable[..., str | None] | None = None
    notes: str = ""  # where this differs from the reference implementation, for the README
    cross: Callable[[dict[str, Any]], None] | None = None  # checks between kwargs

    def validate(self, kwargs: Any) -> dict[str, Any]:
        """The kwargs cleaned, or an InstructionError saying which one is wrong and how."""
        if kwargs is None:
            kwargs = {}
        if not isinstance(kwargs, dict):
            raise InstructionError(f"{self.id}: kwargs must be an object, got {kwargs!r}")
        given = {k: v for k, v in kwargs.items() if v is not None}
        unknown = sorted(set(given) - set(self.kwargs))
        if unknown:
            known = ", ".join(self.kwargs) or "none"
            raise InstructionError(
                f"{self.id}: unknown kwarg {unknown[0]!r} (this instruction takes: {known})")
        out: dict[str, Any] = {}
        for name, kind in self.kwargs.items():
            if name not in given:
                raise InstructionError(f"{self.id}: kwarg {name!r} is missing ({kind.name})")
            try:
                out[name] = kind.clean(given[name])
            except ValueError:
                raise InstructionError(
                    f"{self.id}: kwarg {name!r} must be {kind.name}, got {given[name]!r}"
                ) from None
        if self.cross is not None:
            self.cross(out)
        return out


REGISTRY: dict[str, Checker] = {}


def checker(instruction_id: str, *, unchecked: Callable[..., str | None] | None = None,
            notes: str = "", cross: Callable[[dict[str, Any]], None] | None = None,
            **kwargs: Kind) -> Callable[[Callable[..., bool]], Callable[..., bool]]:
    """Register `check(response, **kwargs) -> bool` under an instruction id."""
    def register(fn: Callable[..., bool]) -> Callable[..., bool]:
        if instruction_id in REGISTRY:
            raise RuntimeError(f"instruction {instruction_id} registered twice")
        REGISTRY[instruction_id] = Checker(instruction_id, fn, kwargs, unchecked, notes, cross)
        return fn
    return register
