"""pass@k (pipeline/scoring/passk.py): hand-computed values, the exact binomial form, edges."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from pipeline.scoring.passk import PassAtKUndefined, pass_at_k, pass_at_k_of


@pytest.mark.parametrize(
    ("n", "c", "k", "expected"),
    [
        (5, 2, 1, 2 / 5),                # pass@1 is the share right
        (5, 2, 2, 1 - 3 / 10),           # 1 - C(3,2)/C(5,2)
        (10, 3, 5, 1 - 21 / 252),        # 1 - C(7,5)/C(10,5) = 11/12
        (4, 1, 2, 1 - 3 / 6),            # 1 - C(3,2)/C(4,2)
        (20, 1, 10, 0.5),                # one right of 20, half drawn
        (3, 0, 3, 0.0),                  # none right
        (3, 3, 1, 1.0),                  # all right
        (3, 1, 3, 1.0),                  # n = k: any right answer is drawn
        (5, 3, 3, 1.0),                  # n - c < k: every draw holds a right one
        (1, 1, 1, 1.0),
        (1, 0, 1, 0.0),
    ],
)  # fmt: skip
def test_hand_computed_values(n: int, c: int, k: int, expected: float) -> None:
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-15)


def test_matches_the_exact_binomial_form_where_the_binomials_are_huge() -> None:
    for n, c, k in [(200, 10, 100), (200, 1, 1), (200, 199, 1), (1000, 7, 50), (100, 50, 10)]:
        exact = 1 - Fraction(math.comb(n - c, k), math.comb(n, k))
        assert pass_at_k(n, c, k) == pytest.approx(float(exact), rel=1e-12, abs=1e-15)


def test_pass_at_1_is_the_mean_and_pass_at_k_grows_with_k() -> None:
    for n in range(1, 12):
        for c in range(n + 1):
            assert pass_at_k(n, c, 1) == pytest.approx(c / n, abs=1e-15)
            values = [pass_at_k(n, c, k) for k in range(1, n + 1)]
            assert values == sorted(values) and all(0 <= v <= 1 for v in values)


def test_fewer_answers_than_k_is_undefined_not_guessed() -> None:
    with pytest.raises(PassAtKUndefined, match=r"pass@5 is undefined for 3 answers"):
        pass_at_k(3, 3, 5)
    with pytest.raises(PassAtKUndefined, match=r"undefined for 0 answers"):
        pass_at_k(0, 0, 1)
    with pytest.raises(PassAtKUndefined):
        pass_at_k_of([1.0], 2)
    assert issubclass(PassAtKUndefined, ValueError)


@pytest.mark.parametrize(
    ("args", "error"),
    [((5, 2, 0), ValueError), ((5, 6, 1), ValueError), ((5, -1, 1), ValueError),
     ((5.0, 2, 1), TypeError), ((5, 2, 1.5), TypeError), ((True, 1, 1), TypeError),
     ((5, "2", 1), TypeError)],
)  # fmt: skip
def test_bad_arguments(args: tuple, error: type[Exception]) -> None:
    with pytest.raises(error):
        pass_at_k(*args)


def test_of_scores_counts_only_full_passes() -> None:
    assert pass_at_k_of([1.0, 0.0, 1.0, 0.5], 2) == pytest.approx(1 - 1 / 6)  # n=4, c=2
    assert pass_at_k_of([0.99, 0.0], 1) == 0.0
    assert pass_at_k_of(iter([1, 1, 0]), 3) == 1.0
