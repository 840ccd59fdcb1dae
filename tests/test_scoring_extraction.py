"""Answer extraction pinned by tables of model outputs (tests/data/, see its README.md).

One case a line: scorer ("choice" or "numeric"), output, target, choices (choice only),
answer (the answer the scorer must extract, as Score.answer gives it; null: no answer) and
a note saying what the case pins. The score is implied: 1 when the answer is right.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from pipeline.scoring import SCORERS
from pipeline.scoring.base import Output
from pipeline.scoring.choice import target_letter
from pipeline.scoring.numeric import parse_number

DATA = Path(__file__).parent / "data"


def _cases(name: str) -> list[dict]:
    with open(DATA / name, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


CASES = _cases("extraction_cases.jsonl")
REAL = _cases("smollm2_outputs.jsonl")


def _expected_value(case: dict) -> float:
    """1.0 when the expected answer is right for the case's target."""
    answer, target = case["answer"], case["target"]
    if answer is None:
        return 0.0
    if case["scorer"] == "choice":
        return 1.0 if target_letter(target, case.get("choices")) == answer else 0.0
    a, t = parse_number(answer), parse_number(str(target))
    return 1.0 if a is not None and t is not None and math.isclose(a, t) else 0.0


def test_the_table_covers_both_scorers():
    kinds = [c["scorer"] for c in CASES]
    assert kinds.count("choice") >= 60 and kinds.count("numeric") >= 40


@pytest.mark.parametrize("case", CASES, ids=[f"{i}-{c['scorer']}" for i, c in enumerate(CASES)])
def test_extraction_table(case):
    out = Output(case["output"], [], case["target"], case.get("choices"))
    s = SCORERS[case["scorer"]](out)
    assert (s.answer, s.value) == (case["answer"], _expected_value(case)), case["note"]


@pytest.mark.parametrize("case", REAL, ids=[c["note"].split(" ")[0] for c in REAL])
def test_real_small_model_outputs(case):
    out = Output(case["output"], [], case["target"], case.get("choices"))
    s = SCORERS[case["scorer"]](out)
    assert (s.answer, s.value) == (case["answer"], _expected_value(case)), case["note"]


# Long outputs: every pattern must stay linear (no catastrophic backtracking). These only have
# to finish; pytest's timeout catches a pattern that does not.
_LONG = [
    "A" * 100_000,
    "Answer: " * 12_000,
    "answer is " * 10_000,
    "The answer is (" * 7_000,
    "1" * 100_000,
    "1," * 50_000,
    "1.2" * 30_000,
    "- " * 50_000,
    "A) x\n" * 20_000,
    "(B) " * 25_000,
    "9 x " * 25_000 + "= 3",
    "\\boxed{" * 12_000,
    "\\frac{1}{" * 10_000,
    ("Answer: 2 " + " " * 200 + "x") * 400,
    " " * 100_000 + "Answer: B",
    "$" * 100_000,
    "Step " * 20_000,
    "6:00" * 25_000,
    "Answer:" + " " * 100_000,
    "B" + " " * 100_000 + "is correct",
    "5" + " " * 100_000 + "is the answer",
    "A\n" + "\t" * 100_000 + "x",
]


@pytest.mark.parametrize("text", _LONG, ids=range(len(_LONG)))
@pytest.mark.parametrize("name", ["choice", "numeric", "includes", "exact"])
def test_long_outputs_finish(name, text):
    SCORERS[name](Output(text, [], "B" if name == "choice" else "42", ["a", "b", "c", "d"]))
