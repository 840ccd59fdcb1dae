"""The HTML report's charts as inline SVG: no library, no script, nothing fetched.

Each chart is a small dataclass of display-ready figures (built in sections.py) with an
`svg()` method. Every SVG has a viewBox and scales to its container's width (readable at
1,200 px and on a phone); text is measured with the metrics of the font it asks for
(DejaVu Sans / Verdana, the widest common sans-serif: a narrower fallback only leaves more
room), so a label is wrapped, never cut, and each row's full text is also its <title>.
Unknown figures are not drawn as zero: a row says why it has no mark.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

W = 400  # viewBox width: scaled to its column (at most 480 px wide; 360 on a phone)
FONT = 12
LINE = 15  # line height of wrapped text
ROW = 22  # height of a one-line row
LABEL_SHARE = 0.42  # the widest a label column gets before labels wrap
FAMILY = "Verdana, 'DejaVu Sans', 'Bitstream Vera Sans', sans-serif"
COLORS = ("#6b4fbb", "#2f80ed", "#27ae60", "#eb5757", "#f2994a", "#0f9d9a", "#a0782c",
          "#5b616b")
MUTED = "#5b616b"
GRID = "#e3e5e8"

# DejaVu Sans advance widths in thousandths of an em, for ' ' (32) to '~' (126): what
# Chromium measures (Verdana's are within a few percent). Other characters count as 1 em.
_REGULAR = (
    "318 401 460 838 636 950 780 275 390 390 500 838 318 361 318 337 636 636 636 636 636 636 "
    "636 636 636 636 337 337 838 838 838 531 1000 684 686 698 770 632 575 775 752 295 295 656 "
    "557 863 748 787 603 787 695 635 611 732 684 989 685 611 685 390 337 390 838 500 500 613 "
    "635 550 635 615 352 635 634 278 278 579 278 974 634 612 635 635 411 521 392 634 592 818 "
    "592 592 525 636 337 636 838")
_BOLD = (
    "348 456 521 838 696 1002 872 306 457 457 523 838 380 415 380 365 696 696 696 696 696 696 "
    "696 696 696 696 400 400 838 838 838 580 1000 774 762 734 830 683 683 821 837 372 372 775 "
    "637 995 837 850 733 850 770 720 682 812 774 1103 771 724 725 457 365 457 838 500 500 675 "
    "716 593 716 678 435 716 712 343 343 665 343 1042 712 687 716 716 493 595 478 712 652 924 "
    "645 652 582 712 365 712 838")
_EXTRA = {"–": (500, 500), "—": (1000, 1000), "×": (838, 838), "·": (318, 380),
          "…": (1000, 1000), "→": (838, 838), "−": (838, 838), "µ": (636, 736)}
_WIDTHS = ({chr(32 + i): int(w) for i, w in enumerate(_REGULAR.split())},
           {chr(32 + i): int(w) for i, w in enumerate(_BOLD.split())})


def text_width(text: str, size: float = FONT, *, bold: bool = False) -> float:
    """The width of `text` in the charts' font, in viewBox units (a little generous)."""
    table = _WIDTHS[bold]
    em = sum(table.get(ch) or _EXTRA.get(ch, (1000, 1000))[bold] for ch in text)
    return 1.03 * size * em / 1000


_BREAKS = " -_/.:,@"


def wrap(text: str, width: float, size: float = FONT, *, bold: bool = False) -> list[str]:
    """`text` in lines no wider than `width`: broken after spaces, dashes, slashes,
    underscores, dots and colons, and inside a word only when one is wider than a line."""
    if text_width(text, size, bold=bold) <= width:
        return [text]
    pieces, word = [], ""
    for ch in text:
        word += ch
        if ch in _BREAKS:
            pieces.append(word)
            word = ""
    if word:
        pieces.append(word)
    lines, line = [], ""
    for piece in pieces:
        if text_width((line + piece).rstrip(), size, bold=bold) <= width:
            line += piece
            continue
        if line:
            lines.append(line.rstrip())
            line = ""
        while text_width(piece.rstrip(), size, bold=bold) > width:  # a word wider than a line
            cut = 1
            while cut < len(piece) and text_width(piece[:cut + 1], size, bold=bold) <= width:
                cut += 1
            lines.append(piece[:cut])
            piece = piece[cut:]
        line = piece
    if line.strip():
        lines.append(line.rstrip())
    return lines or [""]


def color(index: int) -> str:
    """A model's colour (by its place in the models table; the same in every chart)."""
    return COLORS[index % len(COLORS)]


def _text(x: float, y: float, text: str, *, anchor: str = "start", size: float = FONT,
          bold: bool = False, fill: str | None = None) -> str:
    attrs = f'x="{x:.1f}" y="{y:.1f}"'
    if anchor != "start":
        attrs += f' text-anchor="{anchor}"'
    if size != FONT:
        attrs += f' font-size="{size:g}"'
    if bold:
        attrs += ' font-weight="bold"'
    if fill:
        attrs += f' fill="{fill}"'
    return f"<text {attrs}>{escape(text)}</text>"


def _tick(x: float, y: float, text: str) -> str:
    """An axis label centred on x, moved inside the chart where it would stick out."""
    half = text_width(text) / 2
    if x + half > W:
        return _text(W, y, text, anchor="end", fill=MUTED)
    if x - half < 0:
        return _text(0, y, text, fill=MUTED)
    return _text(x, y, text, anchor="middle", fill=MUTED)


def _readable(ticks: list[float], at: Callable[[float], float],
              label: Callable[[float], str]) -> list[float]:
    """The ticks to label: all of them, else every second, third... so that no two labels
    (at their measured widths, kept inside the chart as _tick does) come closer than a
    space."""
    for every in range(1, len(ticks) + 1):
        chosen = ticks[::every]
        spans = []
        for t in chosen:
            w = text_width(label(t))
            left = min(max(at(t) - w / 2, 0.0), W - w)
            spans.append((left, left + w))
        if all(b[0] - a[1] >= 6 for a, b in zip(spans, spans[1:], strict=False)):
            return chosen
    return ticks[:1]


def _lines(x: float, top: float, lines: Sequence[str], **kw) -> str:
    """Lines of text whose first baseline is a line below `top`."""
    return "".join(_text(x, top + (i + 1) * LINE - 3, line, **kw) for i, line in enumerate(lines))


def _svg(title: str, height: float, body: list[str]) -> str:
    h = math.ceil(height)
    return (f'<svg viewBox="0 0 {W} {h}" width="{W}" height="{h}" role="img" '
            f'aria-label="{escape(title)}" font-family="{FAMILY}" font-size="{FONT}">'
            f"<title>{escape(title)}</title>{''.join(body)}</svg>")


def _label_width(labels: list[str]) -> float:
    """The label column: as wide as the widest label, up to LABEL_SHARE of the chart."""
    widest = max((text_width(t) for t in labels), default=0.0)
    return min(widest + 6, W * LABEL_SHARE)


def _nice(span: float) -> float:
    """A round step (1, 2 or 5 times a power of ten) giving four or five ticks over span."""
    raw = span / 4 if span > 0 else 1.0
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)


def _row_blocks(blocks: list[tuple[str | None, list[Any]]], label_w: float,
                mark: Callable[[Any, float], list[str]]) -> tuple[list[str], float]:
    """The rows of a row chart (IntervalChart, TokenChart) in headed blocks: each heading
    wrapped in bold across the chart, each row's label wrapped in the label column and its
    full words in a <title>, and what `mark(row, mid)` draws at the row's middle. Returns
    the SVG pieces and the height they take from the top."""
    body: list[str] = []
    y = 4.0
    for heading, block in blocks:
        if heading:
            lines = wrap(heading, W, bold=True)
            body.append(_lines(0, y, lines, bold=True))
            y += len(lines) * LINE + 3
        for r in block:
            labels = wrap(r.label, label_w - 6)
            h = max(ROW, len(labels) * LINE + 7)
            mid = y + h / 2
            parts = [f"<title>{escape(r.title)}</title>",
                     _lines(0, mid - len(labels) * LINE / 2, labels), *mark(r, mid)]
            body.append(f"<g>{''.join(parts)}</g>")
            y += h
    return body, y


# --- score with its interval ----------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Interval:
    """One row of an interval chart: a model's score and its 95% interval."""

    label: str
    color: int  # the model's index
    value: float | None  # None: no score (not scored, nothing answered)
    low: float | None
    high: float | None
    shown: str  # the value as the tables show it, or why there is none
    title: str  # the row in full words (its tooltip)


@dataclass(frozen=True, slots=True)
class IntervalChart:
    """Scores with their 95% intervals on a 0-100% axis, in headed blocks of rows."""

    title: str
    blocks: list[tuple[str | None, list[Interval]]]
    note: str = ""

    def svg(self) -> str:
        rows = [r for _, block in self.blocks for r in block]
        label_w = _label_width([r.label for r in rows])
        value_w = max(text_width(r.shown) for r in rows if r.value is not None) + 6 \
            if any(r.value is not None for r in rows) else 0.0
        x0, x1 = label_w + 8, W - value_w - 8
        ticks = _score_ticks([v for r in rows for v in (r.low, r.value, r.high)
                              if v is not None])

        def at(v: float) -> float:
            return x0 + (x1 - x0) * (v - ticks[0]) / (ticks[-1] - ticks[0])

        def mark(r: Interval, mid: float) -> list[str]:
            if r.value is None:
                return [_text(x0, mid + 4, r.shown, fill=MUTED)]
            c = color(r.color)
            parts = []
            if r.low is not None and r.high is not None:
                lo, hi = at(r.low), at(r.high)
                parts.append(
                    f'<path d="M{lo:.1f} {mid:.1f}H{hi:.1f}M{lo:.1f} {mid - 5:.1f}'
                    f'V{mid + 5:.1f}M{hi:.1f} {mid - 5:.1f}V{mid + 5:.1f}" '
                    f'stroke="{c}" stroke-width="2" fill="none"/>')
            parts.append(f'<circle cx="{at(r.value):.1f}" cy="{mid:.1f}" r="4.5" '
                         f'fill="{c}"/>')
            parts.append(_text(W, mid + 4, r.shown, anchor="end"))
            return parts

        body, y = _row_blocks(self.blocks, label_w, mark)
        grid = []
        labelled = _readable(ticks, at, lambda v: f"{100 * v:.0f}%")
        for tick in ticks:
            grid.append(f'<path d="M{at(tick):.1f} 2V{y + 2:.1f}" stroke="{GRID}"/>')
            if tick in labelled:
                grid.append(_tick(at(tick), y + LINE + 2, f"{100 * tick:.0f}%"))
        return _svg(self.title, y + LINE + 6, grid + body)


def _score_ticks(values: list[float]) -> list[float]:
    """The score axis: from the lowest interval to the highest, widened to whole steps of
    10% (5% when they span less than 30%), within 0-100%; a dot chart needs no zero."""
    lo, hi = min(values, default=0.0), max(values, default=1.0)
    step = 0.1 if hi - lo > 0.3 else 0.05
    first = max(0, math.floor(lo / step + 1e-9))
    last = min(round(1 / step), math.ceil(hi / step - 1e-9))
    last = max(last, first + 2)
    if last > round(1 / step):
        first, last = first - (last - round(1 / step)), round(1 / step)
    return [k * step for k in range(first, last + 1)]


# --- cost against score ---------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Point:
    """A model in the cost/score chart."""

    label: str
    color: int
    cost: float | None  # cost per item; None: unknown (not plotted)
    score: float | None
    low: float | None
    high: float | None
    shown: str  # "93.1% at $0.000479 per item" (or why it is not plotted)


def frontier(points: Sequence[Point]) -> set[int]:
    """The indexes of the points on the cost/score frontier: those with a known cost and
    score that no other point beats, that is none costs no more and scores no less, and is
    better in one of the two."""
    known = [(i, p) for i, p in enumerate(points) if p.cost is not None and p.score is not None]
    return {i for i, p in known
            if not any(q.cost <= p.cost and q.score >= p.score  # type: ignore[operator]
                       and (q.cost < p.cost or q.score > p.score)  # type: ignore[operator]
                       for j, q in known if j != i)}


@dataclass(frozen=True, slots=True)
class ScatterChart:
    """Cost per item against score, one numbered point per model with its interval, the
    frontier joined and ringed, and a legend under it."""

    title: str
    points: list[Point]
    money: Callable[[float], str] = field(default=lambda v: f"${v:g}")
    note: str = ""

    def svg(self) -> str:
        plotted = [(i, p) for i, p in enumerate(self.points)
                   if p.cost is not None and p.score is not None]
        best = frontier(self.points)
        left, right, top, bottom = text_width("100%") + 10, W - 12, 10.0, 210.0
        body: list[str] = []
        if plotted:
            costs = [p.cost for _, p in plotted]
            lows = [p.low if p.low is not None else p.score for _, p in plotted]
            highs = [p.high if p.high is not None else p.score for _, p in plotted]
            y_lo = math.floor(10 * min(lows) - 1e-9) / 10  # type: ignore[type-var]
            y_hi = math.ceil(10 * max(highs) + 1e-9) / 10  # type: ignore[type-var]
            y_lo, y_hi = max(0.0, min(y_lo, y_hi - 0.1)), min(1.0, max(y_hi, y_lo + 0.1))
            log = min(costs) > 0 and max(costs) / min(costs) > 10  # type: ignore[type-var,operator]
            if log:
                c_lo = 10 ** math.floor(math.log10(min(costs)))  # type: ignore[type-var]
                c_hi = 10 ** math.ceil(math.log10(max(costs)))  # type: ignore[type-var]
                ticks = [10.0 ** k for k in range(round(math.log10(c_lo)),
                                                   round(math.log10(c_hi)) + 1)]

                def cx(v: float) -> float:
                    span = math.log10(c_hi) - math.log10(c_lo)
                    return left + (right - left) * (math.log10(v) - math.log10(c_lo)) / span
            else:
                step = _nice(max(costs) or 1.0)  # type: ignore[type-var]
                c_hi = step * math.ceil((max(costs) or 1.0) / step + 0.25)  # type: ignore[type-var,operator]
                ticks = [step * k for k in range(round(c_hi / step) + 1)]

                def cx(v: float) -> float:
                    return left + (right - left) * v / c_hi

            def cy(v: float) -> float:
                return bottom - (bottom - top) * (v - y_lo) / (y_hi - y_lo)

            steps = round((y_hi - y_lo) / 0.1)
            for k in range(steps + 1):
                v = y_lo + k * (y_hi - y_lo) / steps
                body.append(f'<path d="M{left:.1f} {cy(v):.1f}H{right:.1f}" stroke="{GRID}"/>')
                body.append(_text(left - 4, cy(v) + 4, f"{100 * v:.0f}%", anchor="end",
                                  fill=MUTED))
            labelled = _readable(ticks, cx, self.money)
            for t in ticks:
                body.append(f'<path d="M{cx(t):.1f} {top:.1f}V{bottom:.1f}" stroke="{GRID}"/>')
                if t in labelled:
                    body.append(_tick(cx(t), bottom + LINE, self.money(t)))
            body.append(_text((left + right) / 2, bottom + 2 * LINE + 2,
                              "cost per item" + (" (log scale)" if log else ""),
                              anchor="middle", fill=MUTED))
            edge = sorted((p.cost, p.score) for i, p in plotted if i in best)  # type: ignore[type-var]
            if len(edge) > 1:
                d = "M" + "L".join(f"{cx(c):.1f} {cy(s):.1f}" for c, s in edge)
                body.append(f'<path d="{d}" stroke="{MUTED}" stroke-dasharray="4 3" '
                            'fill="none"/>')
            for i, p in plotted:
                x, y = cx(p.cost), cy(p.score)  # type: ignore[arg-type]
                c = color(p.color)
                parts = [f"<title>{escape(p.label)}: {escape(p.shown)}</title>"]
                if p.low is not None and p.high is not None:
                    parts.append(f'<path d="M{x:.1f} {cy(p.low):.1f}V{cy(p.high):.1f}" '
                                 f'stroke="{c}" stroke-width="2"/>')
                if i in best:
                    parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="8.5" fill="none" '
                                 f'stroke="#1d1f23" stroke-width="1.5"/>')
                parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{c}"/>')
                tag = str(i + 1)
                tx = x + 10 if x + 10 + text_width(tag) <= W else x - 10
                parts.append(_text(tx, y - 6, tag, anchor="start" if tx > x else "end",
                                   bold=True))
                body.append(f"<g>{''.join(parts)}</g>")
            y = bottom + 2 * LINE + 14
        else:
            y = 4.0
        for i, p in enumerate(self.points):  # the legend: every model, plotted or not
            mark = "on the frontier" if i in best else ""
            text = f"{i + 1}  {p.label}: {p.shown}" + (f" · {mark}" if mark else "")
            lines = wrap(text, W - 18)
            body.append(f'<g><circle cx="5" cy="{y + LINE / 2 + 1:.1f}" r="5" '
                        f'fill="{color(p.color)}"/>{_lines(16, y, lines)}</g>')
            y += len(lines) * LINE + 3
        return _svg(self.title, y + 4, body)


# --- latency distribution -------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class LatencyRow:
    """A model's latency histogram (bin -> answers) with its p50 and p95."""

    label: str
    color: int
    bins: dict[int, int]
    p50: float | None
    p95: float | None
    shown: str  # "p50 0.12s · p95 0.25s"


@dataclass(frozen=True, slots=True)
class LatencyChart:
    """Per model, the distribution of latencies on a log axis: a histogram of log-spaced
    bins (`per_decade` a decade) with ticks at p50 (solid) and p95 (dashed)."""

    title: str
    rows: list[LatencyRow]
    per_decade: int
    seconds: Callable[[float], str] = field(default=lambda v: f"{v:g}s")
    note: str = ""

    def svg(self) -> str:
        bins = [b for r in self.rows for b in r.bins]
        lo_bin, hi_bin = min(bins), max(bins) + 1
        if hi_bin - lo_bin < self.per_decade // 2:  # at least half a decade wide
            lo_bin -= 2
            hi_bin += 2
        label_w = _label_width([r.label for r in self.rows] + [r.shown for r in self.rows])
        x0, x1 = label_w + 8, W - 6

        def at(b: float) -> float:
            return x0 + (x1 - x0) * (b - lo_bin) / (hi_bin - lo_bin)

        def at_s(v: float) -> float:
            return at(self.per_decade * math.log10(v))

        body: list[str] = []
        y = 4.0
        for r in self.rows:
            labels = wrap(r.label, label_w - 6)
            shown = wrap(r.shown, label_w - 6, size=FONT - 1)
            h = max(40.0, (len(labels) + len(shown)) * LINE + 8)
            top = mid = y + 4
            parts = [f"<title>{escape(r.label)}: {escape(r.shown)}</title>",
                     _lines(0, top, labels),
                     _lines(0, top + len(labels) * LINE, shown, size=FONT - 1, fill=MUTED)]
            base, most = y + h - 4, max(r.bins.values(), default=0)
            c = color(r.color)
            for b, n in r.bins.items():
                bar = (h - 12) * n / most if most else 0.0
                parts.append(f'<rect x="{at(b):.1f}" y="{base - bar:.1f}" '
                             f'width="{max(0.5, at(b + 1) - at(b) - 1):.1f}" '
                             f'height="{bar:.1f}" fill="{c}" fill-opacity="0.55"/>')
            for q, dash in ((r.p50, ""), (r.p95, ' stroke-dasharray="3 2"')):
                if q is not None and q > 0:
                    parts.append(f'<path d="M{at_s(q):.1f} {mid:.1f}V{base:.1f}" '
                                 f'stroke="#1d1f23" stroke-width="1.5"{dash}/>')
            body.append(f"<g>{''.join(parts)}</g>")
            body.append(f'<path d="M{x0:.1f} {base:.1f}H{x1:.1f}" stroke="{GRID}"/>')
            y += h
        ticks = [m * 10.0 ** k for k in range(-3, 4) for m in (1, 2, 5)]
        inside = [t for t in ticks if at_s(t) >= x0 - 0.5 and at_s(t) <= x1 + 0.5]
        labelled = _readable(inside, at_s, self.seconds)
        grid = []
        for t in inside:
            grid.append(f'<path d="M{at_s(t):.1f} 2V{y:.1f}" stroke="{GRID}"/>')
            if t in labelled:
                grid.append(_tick(at_s(t), y + LINE, self.seconds(t)))
        return _svg(self.title, y + LINE + 6, grid + body)


# --- tokens per answer ----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class TokenRow:
    """A model's mean prompt and completion tokens per answer."""

    label: str
    color: int
    prompt: float | None
    completion: float | None
    shown: str  # "98 in + 12 out"
    title: str


@dataclass(frozen=True, slots=True)
class TokenChart:
    """Stacked bars of prompt (light) and completion (dark) tokens per answer, in headed
    blocks of rows."""

    title: str
    blocks: list[tuple[str | None, list[TokenRow]]]
    note: str = ""

    def svg(self) -> str:
        rows = [r for _, block in self.blocks for r in block]
        label_w = _label_width([r.label for r in rows])
        value_w = max(text_width(r.shown) for r in rows) + 6
        x0, x1 = label_w + 8, W - value_w - 8
        most = max(((r.prompt or 0) + (r.completion or 0) for r in rows), default=0) or 1.0
        def mark(r: TokenRow, mid: float) -> list[str]:
            if r.prompt is None and r.completion is None:
                return [_text(x0, mid + 4, r.shown, fill=MUTED)]
            c = color(r.color)
            p_w = (x1 - x0) * (r.prompt or 0) / most
            c_w = (x1 - x0) * (r.completion or 0) / most
            return [f'<rect x="{x0:.1f}" y="{mid - 6:.1f}" width="{p_w:.1f}" '
                    f'height="12" fill="{c}" fill-opacity="0.35"/>',
                    f'<rect x="{x0 + p_w:.1f}" y="{mid - 6:.1f}" '
                    f'width="{c_w:.1f}" height="12" fill="{c}"/>',
                    _text(W, mid + 4, r.shown, anchor="end")]

        body, y = _row_blocks(self.blocks, label_w, mark)
        return _svg(self.title, y + 4, body)


Chart = IntervalChart | ScatterChart | LatencyChart | TokenChart
