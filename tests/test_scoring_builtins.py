"""The json, json_schema, f1, finish, tool_call_set and no_tool_call scorers on tables of
real-looking outputs, awkward cases included: no answer, two candidates, JSON in a fence or
followed by prose, arguments as JSON text or as objects, missing and extra parallel calls."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pipeline.scoring import SCORERS, Output
from pipeline.scoring.json_answer import ANSWER_CAP
from pipeline.scoring.json_schema import _compiled


def score(name: str, text: str = "", target: Any = None, *, calls: list[dict] | None = None,
          finish: str | None = "stop", **options: Any):
    return SCORERS[name](Output(text, calls or [], target, None, options, finish))


FENCE = "```"

# ------------------------------------------------------------------------------------ json

JSON_TABLE = [
    # (answer text, value, answer, explanation contains)
    ('{"name": "Ada", "age": 36}', 1.0, '{"name":"Ada","age":36}', None),
    ('  \n[1, 2, 3]\n', 1.0, "[1,2,3]", None),
    (f'Here is the record:\n{FENCE}json\n{{"name": "Ada"}}\n{FENCE}\nLet me know!', 1.0,
     '{"name":"Ada"}', None),
    (f'{FENCE}JSON\n{{"a": 1}}\n{FENCE}', 1.0, '{"a":1}', None),  # label case
    (f'{FENCE}\n{{"a": 1}}\n{FENCE}', 1.0, '{"a":1}', None),      # unlabelled fence
    (f'{FENCE}json\n{{"a": 1}}{FENCE}', 1.0, '{"a":1}', None),    # closing fence on the line
    # two candidates: the last block counts, and the note says the first differs
    (f'Draft:\n{FENCE}json\n{{"a": 1}}\n{FENCE}\nFinal:\n{FENCE}json\n{{"a": 2}}\n{FENCE}',
     1.0, '{"a":2}', "the last counts; 1 earlier one differs"),
    # a broken draft before a good final block: still the last
    (f'{FENCE}json\n{{"a": \n{FENCE}\n{FENCE}json\n{{"a": 2}}\n{FENCE}', 1.0, '{"a":2}',
     "1 earlier one differs"),
    # a good draft before a broken final block: the last counts, so 0
    (f'{FENCE}json\n{{"a": 1}}\n{FENCE}\n{FENCE}json\n{{"a": 2,}}\n{FENCE}', 0.0, None,
     "the last ```json block is not valid JSON"),
    # an example in another language is passed over
    (f'{FENCE}python\nprint(1)\n{FENCE}\n{FENCE}json\n{{"ok": true}}\n{FENCE}', 1.0,
     '{"ok":true}', None),
    ('{"a": 1}\n\nThis object has one key.', 0.0, None,
     "JSON followed by other text at line 3 col 1"),
    ('Sure! {"a": 1}', 0.0, None, "no JSON"),
    ('{"a": 1, "b": [1, 2}', 0.0, None, "not valid JSON: Expecting ',' delimiter at line 1"),
    ("{'a': 1}", 0.0, None, "Expecting property name enclosed in double quotes"),
    ('{"x": NaN}', 0.0, None, "NaN is not JSON"),
    (f'{FENCE}json\n{{"a": [1, 2,', 0.0, None, "unclosed"),  # cut short
    (f'{FENCE}python\nx = {{"a": 1}}\n{FENCE}', 0.0, None, "no JSON"),
    ("", 0.0, None, "empty answer"),
    ("   \n ", 0.0, None, "empty answer"),
    ("The answer is 42.", 0.0, None, "no JSON"),
]


@pytest.mark.parametrize(("text", "value", "answer", "why"), JSON_TABLE)
def test_json_table(text: str, value: float, answer: str | None, why: str | None) -> None:
    s = score("json", text)
    assert (s.value, s.answer) == (value, answer)
    if why is None:
        assert s.explanation is None
    else:
        assert why in s.explanation


def test_json_answer_is_compact_and_capped() -> None:
    big = {"items": [{"id": i, "name": f"item {i}"} for i in range(500)]}
    s = score("json", json.dumps(big, indent=2))
    assert s.value == 1.0 and len(s.answer) == ANSWER_CAP and s.answer.endswith("…")
    assert "\n" not in s.answer


def test_json_says_when_a_cut_answer_failed() -> None:
    s = score("json", '{"a": [1, 2, 3', finish="length")
    assert s.value == 0.0 and s.explanation.endswith("cut at max_tokens")


# ----------------------------------------------------------------------------- json_schema

PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "age": {"type": "integer", "minimum": 0},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["name", "age"],
    "additionalProperties": False,
}

SCHEMA_TABLE = [
    # (answer text, value, explanation contains)
    ('{"name": "Ada", "age": 36}', 1.0, None),
    (f'{FENCE}json\n{{"name": "Ada", "age": 36, "tags": ["math"]}}\n{FENCE}', 1.0, None),
    ('{"name": "Ada"}', 0.0, "$: 'age' is a required property"),
    ('{"name": "Ada", "age": "36"}', 0.0, "$.age: '36' is not of type 'integer'"),
    ('{"name": "Ada", "age": -1}', 0.0, "$.age: -1 is less than the minimum of 0"),
    ('{"name": "Ada", "age": 3, "tags": ["a", 7]}', 0.0, "$.tags[1]: 7 is not of type"),
    ('{"name": "Ada", "age": 3, "email": "a@b"}', 0.0, "Additional properties"),
    ('{"age": "x"}', 0.0, "(and 1 more)"),
    ('[{"name": "Ada", "age": 36}]', 0.0, "is not of type 'object'"),
    ('{"name": "Ada", "age": 36} is my answer', 0.0, "followed by other text"),
    ("", 0.0, "empty answer"),
]


@pytest.mark.parametrize(("text", "value", "why"), SCHEMA_TABLE)
def test_json_schema_table(text: str, value: float, why: str | None) -> None:
    from_option = score("json_schema", text, schema=PERSON)
    from_target = score("json_schema", text, json.dumps(PERSON))
    from_object = score("json_schema", text, PERSON)
    for s in (from_option, from_target, from_object):
        assert s.value == value
        assert (s.explanation is None) if why is None else (why in s.explanation), s
    if value == 1.0:
        assert from_option.answer == json.dumps(json.loads(_inner(text)), separators=(",", ":"))


def _inner(text: str) -> str:
    return text.split("\n")[1] if text.startswith(FENCE) else text


def test_json_schema_option_wins_over_the_target() -> None:
    s = score("json_schema", '{"name": "Ada", "age": 36}', '{"type": "array"}', schema=PERSON)
    assert s.value == 1.0


def test_json_schema_compiles_each_schema_once() -> None:
    _compiled.clear()
    for _ in range(3):
        score("json_schema", '{"name": "Ada", "age": 36}', schema=PERSON)
        score("json_schema", "{}", json.dumps(PERSON, indent=4))  # same schema, other text
    assert len(_compiled) == 1
    score("json_schema", "{}", {"type": "object"})
    assert len(_compiled) == 2


def test_json_schema_drafts_and_local_refs() -> None:
    draft7 = {"$schema": "http://json-schema.org/draft-07/schema#",
              "definitions": {"pos": {"type": "integer", "exclusiveMinimum": 0}},
              "properties": {"n": {"$ref": "#/definitions/pos"}}}
    assert score("json_schema", '{"n": 2}', schema=draft7).value == 1.0
    s = score("json_schema", '{"n": 0}', schema=draft7)
    assert s.value == 0.0 and s.explanation.startswith("$.n: 0 is less than or equal")


@pytest.mark.parametrize(("target", "options", "why"), [
    (None, {}, "no schema"),
    ("{not json", {}, "the target is not a JSON Schema"),
    ({"type": "objekt"}, {}, "not a valid JSON Schema"),
    ("[1, 2]", {}, "the schema is a list"),
    (None, {"schema": {"$ref": "https://example.com/person.json"}}, "refers to what it does not"),
])
def test_json_schema_unusable_schemas_score_0_and_say_why(target, options, why) -> None:
    s = score("json_schema", '{"name": "Ada", "age": 36}', target, **options)
    assert s.value == 0.0 and why in s.explanation


# -------------------------------------------------------------------------------------- f1

F1_TABLE = [
    # (answer, target, options, value, explanation contains)
    ("Denver Broncos", "Denver Broncos", {}, 1.0, None),
    ("the Denver Broncos.", "Denver Broncos", {}, 1.0, None),       # article, punctuation
    ("DENVER BRONCOS", ["Carolina Panthers", "Denver Broncos"], {}, 1.0, None),  # best target
    ("Broncos", "Denver Broncos", {}, 2 / 3, "F1 0.67"),
    ("The Denver Broncos won Super Bowl 50", "Denver Broncos", {}, 0.5, "F1 0.50"),  # P 2/6
    ("Carolina Panthers", "Denver Broncos", {}, 0.0, "F1 0.00"),
    ("", "Denver Broncos", {}, 0.0, "empty answer"),
    ("a the an", "Denver", {}, 0.0, "empty answer"),                 # only articles
    ("Paris Paris Paris", "Paris", {}, 0.5, None),                   # repeats count
    ("Saint-Étienne", "saint étienne", {}, 1.0, None),               # unicode punctuation
    ("The winner was the Broncos.\nAnswer: Denver Broncos", "Denver Broncos",
     {"answer_pattern": r"Answer:\s*(.+)"}, 1.0, None),
    ("Answer: Denver\nAnswer: Denver Broncos", "Denver Broncos",
     {"answer_pattern": r"Answer:\s*(.+)"}, 1.0, None),              # the last match counts
    ("I am not sure.", "Denver Broncos", {"answer_pattern": r"Answer:\s*(.+)"}, 0.0,
     "answer_pattern found no answer"),
    ("Answer: x", "x", {"answer_pattern": "Answer: ("}, 0.0, "not a valid regular expression"),
    ("42", 42, {}, 1.0, None),                                       # a number target
]


@pytest.mark.parametrize(("text", "target", "options", "value", "why"), F1_TABLE)
def test_f1_table(text, target, options, value, why) -> None:
    s = score("f1", text, target, **options)
    assert s.value == pytest.approx(value)
    if why is None:
        assert s.explanation is None or value < 1.0
    else:
        assert why in s.explanation


def test_f1_answer_is_what_was_extracted() -> None:
    s = score("f1", "Reasoning...\nAnswer: Denver Broncos ", "Denver Broncos",
              answer_pattern=r"Answer:(.*)")
    assert s.answer == "Denver Broncos"


# ---------------------------------------------------------------------------------- finish

@pytest.mark.parametrize(("finish", "value", "why"), [
    ("stop", 1.0, None), ("tool_calls", 1.0, None), ("content_filter", 1.0, None),
    (None, 1.0, None), ("length", 0.0, "cut at max_tokens"),
])
def test_finish_table(finish, value, why) -> None:
    s = score("finish", "some answer", "x", finish=finish)
    assert (s.value, s.answer, s.explanation) == (value, finish, why)


# --------------------------------------------------------------------- tool_call_set / none

def call(name: str, args: Any, i: int = 0) -> dict[str, Any]:
    """A tool call as the journal keeps it; `args` a JSON string (OpenAI) or an object."""
    return {"id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": args}}


# BFCL parallel_2-like: one function, two calls, acceptable values per argument
RESISTANCE = [
    {"name": "calculate_resistance",
     "arguments": {"length": [5], "area": [0.01], "resistivity": ["copper", ""]}},
    {"name": "calculate_resistance",
     "arguments": {"length": [5], "area": [0.01], "resistivity": ["aluminum"]}},
]
COPPER = '{"length": 5, "area": 0.01, "resistivity": "copper"}'
ALUMINUM = '{"length": 5, "area": 0.01, "resistivity": "aluminum"}'
# BFCL parallel_multiple-like: two functions
MIXED = [
    {"name": "gcd", "arguments": {"num1": [96], "num2": [128]}},
    {"name": "lcm", "arguments": {"num1": [15], "num2": [25]}},
]

SET_TABLE = [
    # (case, target, calls, value, explanation contains)
    ("in order", RESISTANCE, [call("calculate_resistance", COPPER),
                              call("calculate_resistance", ALUMINUM)], 1.0, None),
    ("swapped", RESISTANCE, [call("calculate_resistance", ALUMINUM),
                             call("calculate_resistance", COPPER)], 1.0, None),
    ("optional left out", RESISTANCE, [
        call("calculate_resistance", '{"length": 5, "area": 0.01}'),
        call("calculate_resistance", ALUMINUM)], 1.0, None),
    ("arguments as objects", RESISTANCE, [
        call("calculate_resistance", json.loads(ALUMINUM)),
        call("calculate_resistance", json.loads(COPPER))], 1.0, None),
    ("5.0 for 5", RESISTANCE, [
        call("calculate_resistance", '{"length": 5.0, "area": 0.01, "resistivity": "Copper"}'),
        call("calculate_resistance", ALUMINUM)], 1.0, None),
    ("one missing", RESISTANCE, [call("calculate_resistance", COPPER)], 0.0,
     "missing 1 of 2: calculate_resistance("),
    ("one extra", RESISTANCE, [call("calculate_resistance", COPPER),
                               call("calculate_resistance", ALUMINUM),
                               call("calculate_resistance", ALUMINUM)], 0.0, "extra 1:"),
    ("same call twice", RESISTANCE, [call("calculate_resistance", ALUMINUM),
                                     call("calculate_resistance", ALUMINUM)], 0.0,
     '[closest: calculate_resistance: resistivity="aluminum" is not "copper"]'),
    ("wrong value", RESISTANCE, [
        call("calculate_resistance", COPPER),
        call("calculate_resistance", ALUMINUM.replace("0.01", "0.1"))], 0.0,
     "area=0.1 is not 0.01"),
    ("no call", RESISTANCE, [], 0.0, "no call, expected 2"),
    ("arguments as a JSON string in a string", RESISTANCE, [
        call("calculate_resistance", COPPER), call("calculate_resistance", json.dumps(ALUMINUM))],
     0.0, "arguments are a JSON string (encoded twice?)"),
    ("unparsable arguments", RESISTANCE, [
        call("calculate_resistance", COPPER), call("calculate_resistance", '{"length": 5,')],
     0.0, "arguments are not JSON"),
    ("two functions, any order", MIXED, [call("lcm", '{"num1": 15, "num2": 25}'),
                                         call("gcd", '{"num1": 96, "num2": 128}')], 1.0, None),
    ("two functions, one wrong name", MIXED, [
        call("lcm", '{"num1": 15, "num2": 25}'), call("hcf", '{"num1": 96, "num2": 128}')], 0.0,
     "extra 1: hcf("),
    ("unexpected argument", MIXED, [
        call("lcm", '{"num1": 15, "num2": 25, "verbose": true}'),
        call("gcd", '{"num1": 96, "num2": 128}')], 0.0, "unexpected argument verbose"),
    ("missing argument", MIXED, [
        call("lcm", '{"num1": 15}'), call("gcd", '{"num1": 96, "num2": 128}')], 0.0,
     "missing argument num2"),
    # greedy matching would give the first call (x=1, fits both) to the first expected call
    # and leave the second (x=1 only) unmatched; the matching finds x=1 -> second, x=2 -> first
    ("needs a matching, not a greedy pass",
     [{"name": "f", "arguments": {"x": [1, 2]}}, {"name": "f", "arguments": {"x": [1]}}],
     [call("f", '{"x": 1}'), call("f", '{"x": 2}')], 1.0, None),
    ("one expected call as a dict", MIXED[0], [call("gcd", '{"num1": 96, "num2": 128}')],
     1.0, None),
    ("JSON text target", json.dumps(MIXED), [call("gcd", '{"num1": 96, "num2": 128}'),
                                             call("lcm", '{"num1": 15, "num2": 25}')], 1.0, None),
    ("no call expected, none made", [], [], 1.0, None),
    ("no call expected, one made", [], [call("gcd", "{}")], 0.0, "extra 1: gcd({})"),
    ("empty arguments", [{"name": "now", "arguments": {}}], [call("now", "")], 1.0, None),
    ("unreadable target", "{nope", [call("gcd", "{}")], 0.0, "target is not a list"),
    ("target without names", [{"arguments": {}}], [], 0.0, "target is not a list"),
]


@pytest.mark.parametrize(("case", "target", "calls", "value", "why"), SET_TABLE,
                         ids=[row[0] for row in SET_TABLE])
def test_tool_call_set_table(case, target, calls, value, why) -> None:
    s = score("tool_call_set", "", target, calls=calls, finish="tool_calls")
    assert s.value == value, s
    if why is None:
        assert s.explanation is None
    else:
        assert why in s.explanation, s.explanation
    if calls:
        assert [c["name"] for c in json.loads(s.answer)] == [
            c["function"]["name"] for c in calls]
    else:
        assert s.answer is None


def test_tool_call_set_explanation_lists_at_most_three() -> None:
    target = [{"name": "f", "arguments": {"x": [i]}} for i in range(6)]
    s = score("tool_call_set", "", target, calls=[call("f", '{"x": 0}')])
    assert s.explanation.startswith("missing 5 of 6:") and s.explanation.endswith("and 2 more")


@pytest.mark.parametrize(("text", "calls", "value", "why"), [
    ("I can't help with that using the tools I have: none computes a triangle's area.", [],
     1.0, None),
    ("", [], 1.0, None),
    ("", [call("determine_body_mass_index", '{"weight": 10, "height": 5}')], 0.0,
     'called determine_body_mass_index({"height": 5, "weight": 10}), expected no call'),
    ("Let me check.", [call("a", {}), call("b", "[1]")], 0.0,
     "called a({}); b([1]) [arguments are a JSON array, not an object], expected no call"),
])
def test_no_tool_call_table(text, calls, value, why) -> None:
    s = score("no_tool_call", text, [], calls=calls)
    assert (s.value, s.explanation) == (value, why)
    assert score("tool_call_set", text, [], calls=calls).value == value  # the same verdict


# --------------------------------------------------------------- shared with tool_call_any

def test_tool_call_any_now_says_why() -> None:
    target = {"name": "find", "arguments": {"city": ["San Diego", "SD"], "unit": ["km", ""]}}
    cases = [
        ([call("find", '{"city": "LA"}')], 'city="LA" is not one of ["San Diego", "SD"]'),
        ([call("find", "{}")], "missing argument city"),
        ([call("other", '{"city": "SD"}')], "called other, not find"),
        ([], "0 calls, expected one"),
        ([call("find", '{"city": "SD"}')] * 2, "2 calls, expected one"),
    ]
    for calls, why in cases:
        s = score("tool_call_any", "", target, calls=calls)
        assert s.value == 0.0 and why in s.explanation, (calls, s)
    assert score("tool_call_any", "", target, calls=[call("find", {"city": "sd"})]).value == 1.0


def test_every_new_scorer_is_registered_and_never_raises_on_odd_output() -> None:
    odd: list[Output] = [
        Output("", [], None), Output("\x00{", [{"function": None}], 5),
        Output("```json\n", [{"no": "function"}], {"name": 3}),
        Output("{" * 5000, [call("f", 7)], "[]", None, {"schema": {"type": "object"}}),
    ]
    for name in ("json", "json_schema", "f1", "finish", "tool_call_set", "no_tool_call"):
        for out in odd:
            s = SCORERS[name](out)
            assert 0.0 <= s.value <= 1.0
