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


class JudgeOptions(Options):
    """An LLM judge (pipeline.scoring.judge): `model` grades each answer with `rubric`."""

    # a model of the config (its label or id), or a model id served by the provider
    model: str = Field(min_length=1)
    rubric: str = Field(default_factory=lambda: _judge().DEFAULT_RUBRIC, min_length=1)
    system: str | None = None
    max_tokens: int = Field(default=1024, ge=16, le=65_536)
    temperature: float = Field(default=0.0, ge=0.0, le=1.0)
    # the grade is group 1 of the pattern's last match, mapped to a score by `grades`
    grade_pattern: str = Field(default_factory=lambda: _judge().DEFAULT_GRADE_PATTERN)
    grades: dict[str, float] = Field(default_factory=lambda: dict(_judge().DEFAULT_GRADES))

    @field_validator("rubric")
    @classmethod
    def _rubric(cls, v: str) -> str:
        from pipeline.sample_schema import template_fields

        try:
            fields = template_fields(v)
        except ValueError as exc:  # a placeholder a rubric cannot have, or a lone brace
            said = str(exc).replace("a column name", "a placeholder")
            raise ValueError(said + "; a rubric's placeholders are {question}, {prompt}, "
                             "{answer}, {target} and {choices}" + (
                                 "" if "{{" in said else ", and {{ and }} write a brace")
                             ) from None
        known = _judge().FIELDS
        unknown = [f for f in fields if f not in known]
        if unknown:
            raise ValueError(f"unknown placeholder {{{unknown[0]}}}; a rubric may use "
                             + ", ".join(f"{{{f}}}" for f in known))
        if "answer" not in fields:
            raise ValueError("the rubric must show the answer to grade: put {answer} in it")
        return v

    @field_validator("grade_pattern")
    @classmethod
    def _grade_pattern(cls, v: str) -> str:
        _regex(v)
        if re.compile(v).groups < 1:
            raise ValueError("needs a group capturing the grade, e.g. 'GRADE: ([CPI])'")
        return v

    @field_validator("grades")
    @classmethod
    def _grades(cls, v: dict[str, float]) -> dict[str, float]:
        if not v:
            raise ValueError("give at least one grade, e.g. { C = 1.0, I = 0.0 }")
        for name, value in v.items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"grade {name!r}: {value} is not a score from 0 to 1")
        return v


def _judge() -> Any:
    from pipeline.scoring import judge

    return judge
