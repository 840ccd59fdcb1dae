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


def render_columns(headers: list[str], rows: list[list[str]], *, left: int = 1) -> str:
    """An aligned text table whose first `left` columns (names) are left-aligned and the
    rest (figures) right-aligned."""
    table = [headers, *rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i < left else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    return "\n".join([line(headers), "  ".join("-" * w for w in widths), *map(line, rows)])
