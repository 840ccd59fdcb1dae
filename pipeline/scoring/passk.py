"""pass@k: the chance that at least one of k answers is right, from n answers of which c are.

The unbiased estimator of Chen et al. (2021, "Evaluating Large Language Models Trained on
Code"): 1 - C(n-c, k) / C(n, k), the chance that k answers drawn without replacement from
the n include a right one. It is computed in their product form,
1 - prod_{i=n-c+1}^{n} (1 - k/i), which never builds the huge binomials (C(200, 100) has 59
digits) and stays within a few ulps of the exact value.

With fewer answers than k (n < k) pass@k is not defined: k distinct answers cannot be drawn.
`pass_at_k` raises then instead of guessing (pass@n, or treating missing answers as wrong,
would each be a different quantity); a caller with unfinished epochs must decide which it
wants and say so.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable


class PassAtKUndefined(ValueError):
    """pass@k asked of fewer than k answers."""


def _count(value: int, name: str) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    try:
        return operator.index(value)  # ints only: 2.0 or True is a caller's mistake
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {value!r}") from None


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased pass@k from n answers with c right; PassAtKUndefined when n < k."""
    n, c, k = _count(n, "n"), _count(c, "c"), _count(k, "k")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if not 0 <= c <= n:
        raise ValueError(f"c must be between 0 and n = {n}, got {c}")
    if n < k:
        raise PassAtKUndefined(
            f"pass@{k} is undefined for {n} answer{'s' if n != 1 else ''}: it needs at least "
            f"k = {k} (run more epochs, or ask for a smaller k)")
    if n - c < k:  # every draw of k holds a right answer
        return 1.0
    miss = 1.0
    for i in range(n - c + 1, n + 1):
        miss *= 1.0 - k / i
    return 1.0 - miss


def pass_at_k_of(scores: Iterable[float], k: int) -> float:
    """pass@k of one sample's scores over its epochs: a score of 1 is a right answer (for
    code, every test passed); anything less is not."""
    values = list(scores)
    return pass_at_k(len(values), sum(1 for s in values if s >= 1.0), k)
