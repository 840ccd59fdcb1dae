"""Statistics for comparing models: percentiles, Wilson intervals, paired differences."""

from __future__ import annotations

import math
from collections.abc import Sequence

Z95 = 1.959963984540054


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) with linear interpolation; None for no values."""
    xs = sorted(v for v in values if v is not None)
    if not xs:
        return None
    pos = (len(xs) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def wilson(successes: float, n: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion; None when n is 0."""
    if n <= 0:
        return None
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def paired_difference(a: Sequence[float], b: Sequence[float], z: float = Z95) -> dict[str, float]:
    """Mean of b - a over paired per-sample scores, its 95% CI (normal approximation), wins
    and losses. Pass one value per sample (epochs averaged first), never one per epoch."""
    if len(a) != len(b):
        raise ValueError("paired scores need equal lengths")
    n = len(a)
    diffs = [y - x for x, y in zip(a, b, strict=True)]
    if n == 0:
        return {"n": 0, "mean_diff": math.nan, "ci_low": math.nan, "ci_high": math.nan,
                "wins": 0, "losses": 0, "ties": 0}
    mean = sum(diffs) / n
    var = sum((d - mean) ** 2 for d in diffs) / (n - 1) if n > 1 else 0.0
    half = z * math.sqrt(var / n)
    return {
        "n": n, "mean_diff": mean, "ci_low": mean - half, "ci_high": mean + half,
        "wins": sum(d > 0 for d in diffs), "losses": sum(d < 0 for d in diffs),
        "ties": sum(d == 0 for d in diffs),
    }


def is_binary(values: Sequence[float]) -> bool:
    """Whether every value is 0 or 1."""
    return all(v == 0.0 or v == 1.0 for v in values)


def mean_interval(values: Sequence[float], z: float = Z95) -> tuple[float, float] | None:
    """A 95% interval for the mean of per-sample scores in [0, 1]: the Wilson interval with
    the number of samples as n and the sum of their scores as successes.

    For scores that are 0 or 1 this is the usual Wilson interval. For means over epochs it is
    conservative (a mean's variance is at most p(1 - p)) and stays sensible near 0 and 1,
    where a normal interval collapses. Either way the unit is the sample, so repeated epochs
    never narrow the interval by themselves."""
    n = len(values)
    if n == 0:
        return None
    return wilson(sum(values), n, z)


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased pass@k estimate from n attempts with c correct (Chen et al., 2021)."""
    if k <= 0 or n <= 0:
        return math.nan
    k = min(k, n)
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)
