"""Reading a model's tool calls and matching one against an expected call, with the reason
when it does not match: shared by tool_call, tool_call_any and tool_call_set.

An expected call in BFCL's possible-answer form is {"name", "arguments": {arg: [v1, v2, ""]}}:
each argument lists its acceptable values, "" meaning it may be left out, and a dict value's
own values are again lists of acceptable values.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

_SHOWN = 80  # characters of a value quoted in a reason


@dataclass(frozen=True, slots=True)
class Call:
    """One call the model made: its name, its arguments (None when they are not a JSON object)
    and, then, why not."""

    name: str | None
    arguments: dict[str, Any] | None
    problem: str | None = None
    raw: Any = None  # the arguments as sent, for the answer column

    def shown(self) -> str:
        """name(arguments) in one short line, for explanations."""
        args = self.raw if self.arguments is None else self.arguments
        text = args if isinstance(args, str) else json.dumps(args, ensure_ascii=False,
                                                             sort_keys=True)
        shown = f"{self.name}({_cap(text)})"
        return shown if self.problem is None else f"{shown} [{self.problem}]"


def parse_calls(tool_calls: list[dict[str, Any]]) -> list[Call]:
    """The calls of an answer. Arguments may come as JSON text (OpenAI) or as an object (some
    servers); empty means {}. JSON text that is not an object is a problem, not a crash."""
    out = []
    for call in tool_calls:
        fn = call.get("function") if isinstance(call, dict) else None
        fn = fn if isinstance(fn, dict) else {}
        name = fn.get("name")
        raw = fn.get("arguments")
        if raw is None or raw == "":
            out.append(Call(name, {}, raw={}))
            continue
        if isinstance(raw, dict):
            out.append(Call(name, raw, raw=raw))
            continue
        if not isinstance(raw, str):
            out.append(Call(name, None, f"arguments are a {type(raw).__name__}, not an object",
                            raw))
            continue
        try:
            parsed = json.loads(raw)
        except json.JSONDecodeError as exc:
            out.append(Call(name, None, f"arguments are not JSON ({exc.msg} at col {exc.colno})",
                            raw))
            continue
        if isinstance(parsed, dict):
            out.append(Call(name, parsed, raw=parsed))
        elif isinstance(parsed, str):
            out.append(Call(name, None, "arguments are a JSON string (encoded twice?), "
                                        "not an object", raw))
        else:
            out.append(Call(name, None, f"arguments are a JSON {_json_type(parsed)}, "
                                        "not an object", raw))
    return out


def answer_of(calls: list[Call]) -> str | None:
    """The calls made, as the answer column shows them (None: no call)."""
    if not calls:
        return None
    shown = [{"name": c.name, "arguments": c.raw if c.arguments is None else c.arguments}
             for c in calls]
    return json.dumps(shown, sort_keys=True, ensure_ascii=False)


def same(a: Any, b: Any) -> bool:
    """Equal as JSON values: numbers as numbers (5 == 5.0, never True == 1), strings up to case
    and spacing (not punctuation), containers element by element."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(a, str) and isinstance(b, str):
        return " ".join(a.casefold().split()) == " ".join(b.casefold().split())
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def as_list(x: Any) -> list[Any]:
    return x if isinstance(x, list) else [x]


def mismatch(wanted: Any, value: Any, where: str = "") -> str | None:
    """Why `value` is not accepted by one acceptable value `wanted`, or None if it is.

    A dict against a dict: every key of `value` must be named by `wanted`, and each key of
    `wanted` is a list of alternatives for `value`'s key ("" among them: it may be left out).
    Lists compare element by element; anything else with `same`.
    """
    if isinstance(wanted, dict) and isinstance(value, dict):
        extra = sorted(set(value) - set(wanted))
        if extra:
            return f"unexpected argument {_path(where, extra[0])}"
        for key, alts in wanted.items():
            path = _path(where, key)
            if key not in value:
                if "" not in as_list(alts):
                    return f"missing argument {path}"
                continue
            why = refused(alts, value[key], path)
            if why is not None:
                return why
        return None
    if isinstance(wanted, list) and isinstance(value, list):
        if len(wanted) != len(value):
            return f"{where or 'value'} has {len(value)} items, expected {len(wanted)}"
        for i, (w, v) in enumerate(zip(wanted, value, strict=True)):
            why = mismatch(w, v, f"{where}[{i}]")
            if why is not None:
                return why
        return None
    if same(wanted, value):
        return None
    return f"{where or 'value'}={_cap(_dump(value))} is not {_cap(_dump(wanted))}"


def refused(alternatives: Any, value: Any, where: str) -> str | None:
    """Why `value` is none of the acceptable values, or None. "" means 'may be left out', so
    an explicit "" is accepted too."""
    alts = as_list(alternatives)
    if value == "" and "" in alts:
        return None
    given = [a for a in alts if a != ""]
    reasons = [mismatch(alt, value, where) for alt in given]
    if any(r is None for r in reasons):
        return None
    if len(given) == 1:  # one way to be right: say precisely what differs
        return reasons[0]
    return f"{where}={_cap(_dump(value))} is not one of {_cap(_dump(given))}"


def call_mismatch(name: str, arguments: dict[str, Any], call: Call) -> str | None:
    """Why a made call is not the expected call `name` with BFCL-style `arguments`, or None."""
    if call.name != name:
        return f"called {call.name}, not {name}"
    if call.arguments is None:
        return f"{call.name}: {call.problem}"
    why = mismatch(arguments, call.arguments)
    return None if why is None else f"{name}: {why}"


def _path(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _cap(text: str, n: int = _SHOWN) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "array"
    return "null" if value is None else type(value).__name__
