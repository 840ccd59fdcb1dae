"""The emulator's code solver (pipeline/emulator/code.py): it answers a function stub with the
docstring's examples, deterministically, at the model's accuracy, and leaves other prompts
to the other solvers."""

from __future__ import annotations

import pytest

from pipeline.emulator import code as emu_code
from pipeline.emulator.solvers import solve
from pipeline.emulator.validation import parse_request
from pipeline.scoring.base import Output
from pipeline.scoring.code import code as score_code

STUB = '''from typing import List


def evens(xs: List[int]) -> List[int]:
    """ The even numbers of xs, in order.
    >>> evens([1, 2, 3, 4])
    [2, 4]
    >>> evens([])
    []
    """
'''
TEST_ON_EXAMPLES = ("def check(candidate):\n    assert candidate([1, 2, 3, 4]) == [2, 4]\n"
                    "    assert candidate([]) == []\n")
TEST_BEYOND = TEST_ON_EXAMPLES + "    assert candidate([6]) == [6]\n"


def target(test: str) -> dict[str, str]:
    return {"test": test, "entry_point": "evens", "prompt": STUB}


@pytest.mark.parametrize(
    ("line", "expected"),
    [("f(3) == 9", ((3,), 9)), ("f([1, 2], 5) ➞ False", (([1, 2], 5), False)),
     ("f('ab') => 'ba'", (("ab",), "ba")), ("f(2)   # returns \"db10db\"", ((2,), "db10db")),
     ("f(148, 412) should return 16.", ((148, 412), 16)), ("f(1, 4) => true", ((1, 4), True)),
     ("f(1) ==> (None, 1)", ((1,), (None, 1))), ("f(5) -> [11, 4]", ((5,), [11, 4])),
     ("f(7) = 3 (see above)", ((7,), 3)), ("* f([]) => []", (([],), []))],
)  # fmt: skip
def test_inline_example_forms(line: str, expected: tuple) -> None:
    assert emu_code.examples(f"Examples:\n    {line}\n", "f") == [expected]


def test_doctest_examples_and_what_is_skipped() -> None:
    doc = (">>> f(1)\n2\n>>> f(1)\n3\n>>> f(x)\n4\n>>> g(1)\n5\n>>> print(f(2))\nfoo bar\n"
           "f(a) => False\nself.f(9) == 1\n")
    assert emu_code.examples(doc, "f") == [((1,), 2)]  # first answer per input; literals only


def test_stub_found_only_in_python_prompts() -> None:
    assert emu_code.find_stub(STUB) is not None
    fenced = "Complete this:\n```python\n" + STUB + "```\nThanks."
    assert emu_code.find_stub(fenced)[2].name == "evens"
    prose = "Please complete the following:\n\n" + STUB
    assert emu_code.find_stub(prose)[2].name == "evens"
    for prompt in ("What is 37 * 12 + 5?", "Define 'def' in one sentence.",
                   'def f(x):\n    """Doc."""\n    return x\n',  # implemented already
                   'def broken(:\n    """Doc."""\n'):
        assert emu_code.find_stub(prompt) is None, prompt
    assert emu_code.solve("What is 2 + 2?", correct=True, salt="s") is None


def test_answer_returns_the_examples_and_is_scored_by_running_it() -> None:
    content, working = emu_code.solve(STUB, correct=True, salt="s")
    head = "```python\nfrom typing import List\n\n\ndef evens(xs: List[int]) -> List[int]:"
    assert head in content
    assert "2 examples" in working
    assert score_code(Output(content, [], target(TEST_ON_EXAMPLES))).value == 1.0
    beyond = score_code(Output(content, [], target(TEST_BEYOND)))
    assert beyond.value == 0.0 and beyond.explanation.startswith("NotImplementedError")


def test_wrong_draws_fail_in_each_of_their_ways() -> None:
    reasons = set()
    for i in range(30):
        content, _ = emu_code.solve(STUB, correct=False, salt=f"s{i}")
        s = score_code(Output(content, [], target(TEST_ON_EXAMPLES)))
        assert s.value == 0.0
        reasons.add(s.explanation.split(" ")[0])
    assert reasons == {"assertion", "syntax"}  # shifted outputs or None; a syntax slip


def test_no_examples_means_not_implemented() -> None:
    stub = 'def f(n):\n    """Return the n-th prime."""\n'
    content, _ = emu_code.solve(stub, correct=True, salt="s")
    assert "raise NotImplementedError" in content


def test_dispatch_is_deterministic_and_uses_the_accuracy() -> None:
    def ask(prompt: str, accuracy: float, model: str = "claude-4-5-haiku") -> str:
        request = parse_request({"model": model, "messages": [
            {"role": "system", "content": "Complete the function."},
            {"role": "user", "content": prompt}]})
        solution = solve(request, accuracy)
        assert solution.kind == "code"
        return solution.content

    assert ask(STUB, 1.0) == ask(STUB, 1.0)
    right = score_code(Output(ask(STUB, 1.0), [], target(TEST_ON_EXAMPLES)))
    wrong = score_code(Output(ask(STUB, 0.0), [], target(TEST_ON_EXAMPLES)))
    assert (right.value, wrong.value) == (1.0, 0.0)
