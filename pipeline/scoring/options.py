"""The typed options of the built-in scorers (pydantic models, validated with the config:
an unknown or ill-typed option is a config error with its field path). A scorer with no
model here takes no options."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


def _regex(v: str | None) -> str | None:
    if v is not None:
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
    return v


class Options(BaseModel):
    """Base of scorer options: unknown keys are errors, values are never coerced."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class RegexOptions(Options):
    pattern: str | None = None  # extract group 1 (or the match) and compare with the target
    ignore_case: bool = True

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, v: str | None) -> str | None:
        return _regex(v)


class CodeOptions(Options):
    timeout_s: float = Field(default=10.0, gt=0, le=600)  # wall time of one answer's tests
    memory_mb: int = Field(default=512, ge=64, le=65_536)  # address space of the child


class IfevalOptions(Options):
    mode: Literal["strict", "loose"] = "strict"


class JsonSchemaOptions(Options):
    # the JSON Schema the answer must satisfy; absent: the target holds it (as JSON text)
    schema_: dict[str, Any] | bool | None = Field(default=None, alias="schema")


class F1Options(Options):
    answer_pattern: str | None = None  # its last match (group 1, else the match) is the answer
    ignore_case: bool = True  # of answer_pattern

    @field_validator("answer_pattern")
    @classmethod
    def _pattern(cls, v: str | None) -> str | None:
        return _regex(v)
