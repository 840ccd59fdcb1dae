"""Plain-text tables for the terminal."""

from __future__ import annotations

from pipeline.report.sections import Section


def render_text(sec: Section) -> str:
    """A section as an aligned text table."""
    table = [sec.headers, *sec.rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(sec.headers))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths,
                                                                                  strict=True))
        ).rstrip()

    out = [line(sec.headers), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in sec.rows]
    return "\n".join(out)
