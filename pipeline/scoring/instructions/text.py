"""Counting words, sentences and paragraphs the way the checkers need, and IFEval's loose
variants of a response.

Words are runs of word characters (`\\w+`, Unicode-aware), as the reference implementation
counts them ("don't" is two). Sentences end at `.`, `!`, `?` or `…` followed by white space
or the end, except after a known abbreviation ("Dr.", "e.g."), a single initial ("J.") or a
list number at the start of a line ("1."); line breaks alone do not end a sentence (the
reference joins lines too), so a heading is counted with the sentence after it.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"\w+")
# A terminator run, closing quotes/brackets after it, then white space or the end.
_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s|$)")
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr jr st vs etc e.g i.e eg ie inc ltd co corp jan feb mar apr jun jul "
    "aug sep sept oct nov dec no vol fig approx est dept gen gov lt col sgt capt rev ph.d "
    "u.s u.k a.m p.m mt ave blvd rd".split()
)


def words(text: str) -> list[str]:
    """The response's words: runs of letters, digits and underscores."""
    return _WORD.findall(text)


def _is_boundary(text: str, match: re.Match[str]) -> bool:
    run = match.group(0)
    if "!" in run or "?" in run or "…" in run or run.count(".") > 1:
        return True
    end = start = match.start()
    while start > 0 and not text[start - 1].isspace():  # the token before: linear, not a regex
        start -= 1
    if start == end:
        return True
    token = text[start:end].lstrip("\"'“‘(*_[").lower()
    if token in _ABBREVIATIONS:
        return False
    if len(token) == 1 and token.isalpha() and token != "i":  # an initial: "J. R. R. Tolkien"
        return False
    if token.isdigit():  # "1." opening a numbered list line is no sentence of its own
        line_start = text.rfind("\n", 0, start) + 1
        if not text[line_start:start].strip():
            return False
    return True


def sentences(text: str) -> list[str]:
    """The response's sentences (pieces holding at least one word character)."""
    out: list[str] = []
    start = 0
    for match in _END.finditer(text):
        if _is_boundary(text, match):
            out.append(text[start:match.end()])
            start = match.end()
    out.append(text[start:])
    return [s.strip() for s in out if _WORD.search(s)]


_BLANK_LINE = re.compile(r"\n[ \t]*\n")


def blank_line_paragraphs(text: str) -> list[str]:
    """Paragraphs separated by blank lines (a line of spaces counts as blank), empty ones
    dropped."""
    return [p.strip() for p in _BLANK_LINE.split(text) if p.strip()]


def loose_variants(response: str) -> list[str]:
    """IFEval's loose variants: the response with its first line, last line or both removed,
    each also with every markdown `*` removed (the response itself is the first)."""
    lines = response.split("\n")
    cut = [response, "\n".join(lines[1:]).strip(), "\n".join(lines[:-1]).strip(),
           "\n".join(lines[1:-1]).strip()]
    return cut + [v.replace("*", "") for v in cut]
