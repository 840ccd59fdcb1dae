"""A report section and its cells as display strings: one rounding for every format.

Markdown, HTML and the terminal show the same strings, made here, so a figure reads the same
everywhere it appears. Unknown is "–" (or said in words), never a zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline.report.charts import Chart


@dataclass(slots=True)
class Section:
    """A titled table of display strings, with an optional note under it, plain sentences
    before it (`lines`) and, in HTML only, charts. A section without headers has no table."""

    title: str
    headers: list[str]
    rows: list[list[str]]
    note: str = ""
    charts: list[Chart] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)  # plain sentences shown before the table


def fmt(value: Any, kind: str = "") -> str:
    """One cell as text."""
    if value is None:
        return "–"
    if kind == "pct":
        return f"{100 * value:.1f}%"
    if kind == "usd":
        if value >= 1:
            return f"${value:,.2f}"
        if value >= 0.01:
            return f"${value:.4f}"
        return "$" + (f"{value:.6f}".rstrip("0").rstrip(".") if value else "0")
    if kind == "s":
        return f"{value:.2f}s" if value >= 0.1 else f"{1000 * value:.0f}ms"
    if kind == "int":
        return f"{int(value):,}"
    if kind == "diff":
        return f"{100 * value:+.1f} pp"
    if kind == "ratio":
        return ratio_text(value)
    return str(value)


def ratio_text(value: float) -> str:
    """A ratio as "0.33×": two decimals from 0.1 to 10, whole above, three figures below."""
    if value >= 10:
        return f"{value:,.0f}×"
    if value >= 0.1:
        return f"{value:.2f}×"
    return f"{value:.2g}×"


def ci_text(lo: float | None, hi: float | None) -> str:
    """An accuracy interval as "89.8–95.4%"."""
    return "–" if lo is None or hi is None else f"{100 * lo:.1f}–{100 * hi:.1f}%"


def diff_ci_text(lo: float | None, hi: float | None) -> str:
    """A difference's interval as "-15.0 to -5.6 pp"."""
    return "–" if lo is None or hi is None else f"{100 * lo:+.1f} to {100 * hi:+.1f} pp"


def p_text(p: float | None) -> str:
    """A p-value as the tables show it: "< 0.001", "0.003", "0.21"."""
    if p is None:
        return "–"
    if p < 0.001:
        return "< 0.001"
    return f"{p:.3f}" if p < 0.01 else f"{p:.2f}"


TESTS = {"mcnemar": "McNemar's exact test", "paired-t": "paired t test"}


def p_words(p: float | None) -> str:
    """A p-value in a sentence: "p < 0.001", "p = 0.21"."""
    text = p_text(p)
    return "p –" if p is None else f"p {text}" if text.startswith("<") else f"p = {text}"
