"""json_schema: the answer's JSON (found as the json scorer finds it) is valid against a JSON
Schema, checked with the `jsonschema` library.

The schema is the option `schema` (a table in the config), else the sample's target (an
object, or JSON text). Its draft is the one its `$schema` names (2020-12 when it names none).
Each distinct schema is checked and compiled once. `format` is an annotation, not asserted
(the JSON Schema default). References stay inside the schema: nothing is fetched.
"""

from __future__ import annotations

import json
from typing import Any

from pipeline.scoring.base import Output, Score
from pipeline.scoring.json_answer import extract_json

_CACHE_MAX = 256
_MESSAGE_CAP = 200
_compiled: dict[str, Any] = {}  # the schema as canonical JSON -> validator, or a problem (str)


def _validator(schema: Any) -> Any:
    """The compiled validator of a schema (a str: why the schema is unusable)."""
    try:
        key = json.dumps(schema, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        return f"the schema is not JSON: {exc}"
    found = _compiled.get(key)
    if found is None:
        found = _compile(schema)
        if len(_compiled) >= _CACHE_MAX:  # many schemas (one per row): stay bounded
            _compiled.clear()
        _compiled[key] = found
    return found


def _compile(schema: Any) -> Any:
    # Imported on first use: jsonschema and its dependencies cost ~100 ms, paid only by runs
    # that score with a schema.
    from jsonschema import exceptions, validators
    from referencing import Registry

    if not isinstance(schema, dict | bool):
        return f"the schema is a {type(schema).__name__}, not an object"
    cls = validators.validator_for(schema, default=validators.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except exceptions.SchemaError as exc:
        return f"the schema is not a valid JSON Schema: {_cap(exc.message)}"
    # An empty registry (the drafts' meta-schemas aside): a $ref to a URL is refused, never
    # fetched (jsonschema's default registry would download it).
    return cls(schema, registry=Registry())


def _schema_of(out: Output) -> tuple[Any, str | None]:
    """The schema to check against and, when there is none usable, why."""
    schema = out.options.get("schema")
    if schema is not None:
        return schema, None
    target = out.target
    if target is None:
        return None, "no schema: set the scorer's `schema` option or give the row a target"
    if isinstance(target, str):
        try:
            return json.loads(target), None
        except json.JSONDecodeError as exc:
            return None, f"the target is not a JSON Schema: {exc.msg} at col {exc.colno}"
    return target, None


def _cap(text: str) -> str:
    return text if len(text) <= _MESSAGE_CAP else text[: _MESSAGE_CAP - 1] + "…"


def json_schema(out: Output) -> Score:
    """1 when the answer's JSON validates against the schema; the explanation gives the most
    relevant validation error's path and message (and how many errors there are)."""
    schema, problem = _schema_of(out)
    if problem is not None:
        return Score(0.0, None, problem)
    validator = _validator(schema)
    if isinstance(validator, str):
        return Score(0.0, None, validator)
    found = extract_json(out.text)
    if not found.ok:
        return Score(0.0, None, found.problem)
    from jsonschema.exceptions import best_match
    from referencing.exceptions import Unresolvable

    try:
        errors = list(validator.iter_errors(found.value))
    except Unresolvable as exc:
        return Score(0.0, found.text, f"the schema refers to what it does not hold: {exc}")
    if not errors:
        return Score(1.0, found.text, found.note)
    err = best_match(errors)
    count = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return Score(0.0, found.text, f"{err.json_path}: {_cap(err.message)}{count}")
