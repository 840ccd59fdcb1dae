"""Statistics for comparing models: percentiles, Wilson intervals, paired differences."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

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
    """The unbiased pass@k estimate from n attempts with c correct (Chen et al., 2021); NaN
    when it is not defined (fewer than k attempts: a sample with epochs still pending or
    failed is left out of pass@k, never scored as pass@n)."""
    from pipeline.scoring.passk import pass_at_k as estimate

    if k <= 0 or n < k:
        return math.nan
    return estimate(n, c, k)


def mcnemar_exact(b: int, c: int) -> float:
    """McNemar's exact test: the two-sided binomial p of b against c discordant pairs (pass
    in one run and fail in the other, and the reverse), under p = 1/2; 1 when b + c is 0."""
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1))
    return min(1.0, 2 * tail / 2**n)


def _betacf(a: float, b: float, x: float) -> float:
    """The continued fraction of the regularized incomplete beta function (modified Lentz)."""
    tiny, qab, qap, qam = 1e-300, a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        for num in (m * (b - m) * x / ((qam + m2) * (a + m2)),
                    -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                     + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_two_sided_p(t: float, df: int) -> float:
    """The two-sided p-value of Student's t statistic with df degrees of freedom."""
    if math.isnan(t) or df < 1:
        return math.nan
    if math.isinf(t):
        return 0.0
    return _betainc(df / 2.0, 0.5, df / (df + t * t))


def t_quantile(q: float, df: int) -> float:
    """The q-quantile (0.5 < q < 1) of Student's t with df degrees of freedom (bisection)."""
    target = 2.0 * (1.0 - q)  # the two-sided p at the quantile
    lo, hi = 0.0, 1.0
    while t_two_sided_p(hi, df) > target:
        hi *= 2.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if t_two_sided_p(mid, df) > target:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * hi:
            break
    return (lo + hi) / 2.0


def paired_test(a: Sequence[float], b: Sequence[float], *, single_epoch: bool = True
                ) -> dict[str, Any]:
    """Run b against run a on paired per-sample scores (one value per sample, its epochs
    averaged first: the sample is the cluster, so epochs never count as extra samples).

    Returns the mean difference b - a with its 95% Student t interval over samples (n - 1
    degrees of freedom), wins and losses (samples scored higher / lower in b), the p-value and
    `test`: "mcnemar" (exact) when `single_epoch` and every score is 0 or 1, else "paired-t"."""
    n = len(a)
    d = paired_difference(a, b)
    var = (sum((y - x - d["mean_diff"]) ** 2 for x, y in zip(a, b, strict=True)) / (n - 1)
           if n > 1 else 0.0)
    return paired_moments_test(n, d["mean_diff"], var, d["wins"], d["losses"],
                               binary=single_epoch and is_binary(a) and is_binary(b))


def paired_moments_test(n: int, mean: float, var: float | None, wins: int, losses: int, *,
                        binary: bool) -> dict[str, Any]:
    """paired_test's figures from the paired differences' count, mean and variance (ddof 1)
    and their wins and losses, so that a table aggregated in polars tests the same way as
    lists of scores: `binary` (one epoch, every score 0 or 1) picks McNemar's exact test,
    else the paired t test. The interval is Student t's over samples."""
    mult = t_quantile(0.975, n - 1) if n > 1 else Z95
    spread = math.sqrt((var or 0.0) / n) if n > 0 else math.nan
    half = mult * spread
    out: dict[str, Any] = {"n": n, "diff": mean, "ci_low": mean - half,
                           "ci_high": mean + half, "wins": wins, "losses": losses}
    if n > 0 and binary:
        out.update(test="mcnemar", p_value=mcnemar_exact(losses, wins))
        return out
    out["test"] = "paired-t"
    if n < 2:
        out["p_value"] = math.nan
    elif spread == 0.0:  # no spread: every sample changed by the same amount
        out["p_value"] = 1.0 if mean == 0.0 else 0.0
    else:
        out["p_value"] = t_two_sided_p(mean / spread, n - 1)
    return out
