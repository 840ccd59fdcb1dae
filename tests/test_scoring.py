"""Scorers: each extracts the answer it should and compares it the way its name says."""

from __future__ import annotations

import pytest

from pipeline.scoring import SCORERS
from pipeline.scoring.base import Output


def run(name, text, target, choices=None, tool_calls=None, **options):
    return SCORERS[name](Output(text, tool_calls or [], target, choices, options))


@pytest.mark.parametrize(
    ("name", "text", "target", "value", "answer"),
    [
        ("exact", "  Paris. ", "paris", 1.0, "paris"),
        ("exact", "Paris, France", "paris", 0.0, "paris, france"),
        ("exact", "Lyon", ["Paris", "lyon"], 1.0, "lyon"),
        ("includes", "The capital is Paris.", "paris", 1.0, "paris"),
        ("includes", "The capital is Lyon.", "paris", 0.0, None),
        ("numeric", "12 * 3 = 36.\nAnswer: 36", "36", 1.0, "36"),
        ("numeric", "Answer: 1,234.0", "1234", 1.0, "1234.0"),
        ("numeric", "I think 5, no wait, 7", "7", 1.0, "7"),
        ("numeric", "Answer: -4", "#### -4", 1.0, "-4"),
        ("numeric", "Answer: $18", 18, 1.0, "18"),
        ("numeric", "Answer: 35", "36", 0.0, "35"),
        ("numeric", "no number here", "3", 0.0, None),
        ("numeric", "#### 2\nThe answer is: 4", "4", 1.0, "4"),  # the last statement
        ("numeric", "6:00 PM is the answer.", "6", 1.0, "6:00"),  # never "00"
        ("numeric", "Answer: 18 or 20", "18", 0.0, None),
        ("numeric", "The final answer is $\\boxed{70,000}$", "70000", 1.0, "70000"),
        ("numeric", "Answer: 2 x 9 = 18 dollars", "18", 1.0, "18"),
        ("numeric", "The answer is 18.\n\nAs of 2024.", "18", 1.0, "18"),
        ("choice", "The largest is 9.\nAnswer: C", "C", 1.0, "C"),
        ("choice", "(B) because", "B", 1.0, "B"),
        ("choice", "B) it is", 1, 1.0, "B"),
        ("choice", "Answer: A", "C", 0.0, "A"),
        ("choice", "no letter", "A", 0.0, None),
        # from a review against a real small model
        ("choice", "A) x\nB) y\nC) z\nD) w", "D", 0.0, None),  # an echo is no answer
        ("choice", "The answer is: B", "B", 1.0, "B"),
        ("choice", "The correct answer is: B) y\nA) x\nC) z", "B", 1.0, "B"),
        ("choice", "Answer: B or C", "B", 0.0, None),
        ("choice", "A) x B) y C) z", "C", 0.0, None),
        ("choice", "answer: b", "B", 1.0, "B"),
        ("choice", "z", "C", 1.0, "C"),  # the option's text alone
    ],
)
def test_scorer_table(name, text, target, value, answer):
    s = run(name, text, target, choices=["x", "y", "z", "w"] if name == "choice" else None)
    assert (s.value, s.answer) == (value, answer)


def test_choice_target_as_option_text():
    assert run("choice", "Answer: B", "blue", choices=["red", "blue"]).value == 1.0


def test_choice_ignores_letters_beyond_the_options():
    assert run("choice", "Answer: B\nE) extra", "B", choices=["a", "b", "c"]).answer == "B"


def test_regex_with_pattern_and_as_target():
    assert run("regex", "Final: yes", "YES", pattern=r"Final: (\w+)").value == 1.0
    assert run("regex", "Final: no", "yes", pattern=r"Final: (\w+)").value == 0.0
    assert run("regex", "order #A-123 shipped", r"#A-\d+").value == 1.0
    assert run("regex", "nothing", r"#A-\d+").value == 0.0


def call(name, args):
    return {"id": "t1", "type": "function", "function": {"name": name, "arguments": args}}


def test_tool_call_scorer():
    target = {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}
    good = [call("get_weather", '{"unit": "celsius", "city": "paris"}')]
    assert run("tool_call", "", target, tool_calls=good).value == 1.0
    wrong_arg = [call("get_weather", '{"unit": "fahrenheit", "city": "Paris"}')]
    assert run("tool_call", "", target, tool_calls=wrong_arg).value == 0.0
    wrong_name = [call("get_local_time", '{"city": "Paris"}')]
    assert run("tool_call", "", target, tool_calls=wrong_name).value == 0.0
    assert run("tool_call", "It is sunny", target).value == 0.0
    assert run("tool_call", "", target, tool_calls=[call("get_weather", "{bad")]).value == 0.0
    num = {"name": "convert", "arguments": {"amount": 250}}
    assert run("tool_call", "", num, tool_calls=[call("convert", '{"amount": 250.0}')]).value == 1.0
    assert run("tool_call", "", '{"name": "convert", "arguments": {"amount": 250}}',
               tool_calls=[call("convert", '{"amount": 250}')]).value == 1.0


def test_tool_call_any_accepts_listed_alternatives():
    target = {"name": "find", "arguments": {"city": ["San Diego", "SD"], "unit": ["km", ""],
                                            "opts": [{"depth": [2, 3], "fast": ["", True]}]}}
    ok = [call("find", '{"city": "SD", "opts": {"depth": 3}}'),
          call("find", '{"city": "san diego", "unit": "km", "opts": {"depth": 2, "fast": true}}')]
    for c in ok:
        assert run("tool_call_any", "", target, tool_calls=[c]).value == 1.0, c
    bad = [call("find", '{"city": "LA", "opts": {"depth": 3}}'),          # not listed
           call("find", '{"opts": {"depth": 3}}'),                        # required left out
           call("find", '{"city": "SD", "opts": {"depth": 3}, "x": 1}'),  # unknown argument
           call("find", '{"city": "SD", "opts": {"depth": 4}}'),          # nested not listed
           call("other", '{"city": "SD", "opts": {"depth": 3}}')]         # wrong function
    for c in bad:
        assert run("tool_call_any", "", target, tool_calls=[c]).value == 0.0, c
    assert run("tool_call_any", "", target, tool_calls=ok * 2).value == 0.0  # one call only
    assert run("tool_call_any", "no call", target).value == 0.0
    explicit_empty = call("find", '{"city": "SD", "unit": "", "opts": {"depth": 2}}')
    assert run("tool_call_any", "", target, tool_calls=[explicit_empty]).value == 1.0


def test_tool_call_any_values_lists_and_targets():
    # BFCL wraps list values in a list of alternatives: [[1, 2]] means "the list [1, 2]"
    t = {"name": "f", "arguments": {"xs": [[1, 2], [2, 1]], "sep": [","], "n": [5],
                                    "flag": [True]}}
    good = call("f", '{"xs": [2, 1], "sep": ",", "n": 5.0, "flag": true}')
    assert run("tool_call_any", "", t, tool_calls=[good]).value == 1.0
    for bad in ('{"xs": [1], "sep": ",", "n": 5, "flag": true}',
                '{"xs": [1, 2], "sep": ";", "n": 5, "flag": true}',    # punctuation matters
                '{"xs": [1, 2], "sep": " , ", "n": 5, "flag": 1}',     # true is not 1
                '{"xs": [1, 2], "sep": ",", "n": 6, "flag": true}'):
        assert run("tool_call_any", "", t, tool_calls=[call("f", bad)]).value == 0.0, bad
    either = [{"name": "a", "arguments": {}}, {"name": "b", "arguments": {"x": [1]}}]
    assert run("tool_call_any", "", either, tool_calls=[call("b", '{"x": 1}')]).value == 1.0
    assert run("tool_call_any", "", either, tool_calls=[call("c", "{}")]).value == 0.0
    assert run("tool_call_any", "", "{not json", tool_calls=[call("b", "{}")]).value == 0.0


@pytest.mark.parametrize(
    ("text", "target", "value"),
    [
        ("The answer is 42.", "42", 1.0),
        ("(42)", "42", 1.0),
        ("42%", "42", 1.0),
        ("142", "42", 0.0),          # inside a longer number
        ("421 apples", "42", 0.0),
        ("42.5", "42", 0.0),         # a different number
        ("42,000", "42", 0.0),
        ("0.42", "42", 0.0),
        ("It is -42 degrees", "42", 0.0),
        ("x42", "42", 0.0),          # inside a word
        ("Parisian food", "paris", 0.0),
        ("She lives in Paris, France.", "paris", 1.0),
        ("New York City", "new york", 1.0),
        ("-42", "-42", 1.0),
        ("anything", "", 0.0),       # an empty target is in every text: it never counts
        ("anything", "...", 0.0),
        ("not 42", "42", 1.0),       # includes does not read negation (use choice/numeric)
    ],
)
def test_includes_needs_the_target_to_stand_alone(text, target, value):
    assert run("includes", text, target).value == value


def test_exact_ignores_markdown_emphasis():
    assert run("exact", "**Paris**", "Paris").value == 1.0
    assert run("exact", "*Paris*.", "paris").value == 1.0


def test_regex_skips_matches_without_group_1():
    assert (run("regex", "no", "none", pattern=r"(yes)|no").answer) is None
    assert run("regex", "no", "none", pattern=r"(yes)|no").value == 0.0
    s = run("regex", "Final: yes. Also no.", "yes", pattern=r"Final: (\w+)|no")
    assert (s.value, s.answer) == (1.0, "yes")


def test_a_cut_answer_counts_only_an_explicit_statement():
    from pipeline.scoring import SCORERS, Output

    working = "First, 3 * 4 = 12. Then 12 + 6 = 18. Next we add"
    assert SCORERS["numeric"](Output(working, [], "18")).value == 1.0  # the last number
    cut = Output(working, [], "18", finish_reason="length")
    assert SCORERS["numeric"](cut) == SCORERS["numeric"](Output("", [], "18"))  # no answer
    stated = Output("Answer: 18\nLet me double-check: 3 * 4", [], "18", finish_reason="length")
    assert SCORERS["numeric"](stated).value == 1.0
    letters = ["x", "y", "z"]
    assert SCORERS["choice"](Output("B", [], "B", letters, finish_reason="length")).answer is None
    assert SCORERS["choice"](Output("Answer: B\nBecause", [], "B", letters,
                                    finish_reason="length")).value == 1.0
