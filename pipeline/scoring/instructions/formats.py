"""detectable_format:* and detectable_content:*: markdown shapes, JSON, titles, placeholders,
postscripts.

Where the reference implementation's pattern matches things no reader would call the shape
asked for, this follows the instruction's words instead; each such place says so in `notes`
(listed in the README).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache

from .registry import COUNT, POSITIVE, TEXT, checker

_BULLET = re.compile(r"^[ \t]*[*+-][ \t]+\S", re.MULTILINE)


@checker("detectable_format:number_bullet_lists", num_bullets=COUNT,
         notes="a bullet is a markdown list item: `*`, `-` or `+` then a space (the reference "
               "also counts `---` rules and `*bold*` lines)")
def number_bullet_lists(response: str, *, num_bullets: int) -> bool:
    """Exactly N markdown bullet items (nested ones included)."""
    return len(_BULLET.findall(response)) == num_bullets


CONSTRAINED_OPTIONS = ("My answer is yes.", "My answer is no.", "My answer is maybe.")


@checker("detectable_format:constrained_response")
def constrained_response(response: str) -> bool:
    """The response contains one of the three given answers, verbatim."""
    return any(option in response for option in CONSTRAINED_OPTIONS)


# *text* or **text** on one line, with something other than spaces inside
_HIGHLIGHT = re.compile(r"\*\*([^\n*]+)\*\*|\*([^\n*]+)\*")


@checker("detectable_format:number_highlighted_sections", num_highlights=COUNT)
def number_highlighted_sections(response: str, *, num_highlights: int) -> bool:
    """At least N markdown highlights, `*text*` or `**text**`, each within one line."""
    found = sum(1 for m in _HIGHLIGHT.finditer(response) if (m.group(1) or m.group(2)).strip())
    return found >= num_highlights


@lru_cache(maxsize=64)
def _section_marker(splitter: str) -> re.Pattern[str]:
    return re.compile(r"(?<!\w)" + re.escape(splitter.strip()) + r"\s?\d+")


@checker("detectable_format:multiple_sections", section_spliter=TEXT, num_sections=POSITIVE,
         notes="the marker must stand as a word before its number ('SECTION 1', 'Day 2'), "
               "case as given")
def multiple_sections(response: str, *, section_spliter: str, num_sections: int) -> bool:
    """At least N section markers: the splitter word followed by a number ("SECTION 1")."""
    return len(_section_marker(section_spliter).findall(response)) >= num_sections


_FENCE_OPEN = re.compile(r"^```[ \t]*(?:json)?[ \t]*\n?", re.IGNORECASE)


@checker("detectable_format:json_format")
def json_format(response: str) -> bool:
    """The whole response is JSON, optionally inside one markdown code fence."""
    text = response.strip()
    text = _FENCE_OPEN.sub("", text, count=1)
    text = text.removesuffix("```").strip()
    try:
        json.loads(text)
    except (ValueError, RecursionError):  # nested past Python's limit: taken as not JSON
        return False
    return True


@checker("detectable_format:title")
def title(response: str) -> bool:
    """A title in double angular brackets, `<<title>>`, on one line and not blank: something
    other than brackets and spaces between a line's first `<<` and its last `>>` (found with
    str.find, not a lazy regex, which is quadratic on a line of unclosed `<<`)."""
    for line in response.split("\n"):
        start = line.find("<<")
        end = line.rfind(">>")
        if start >= 0 and end >= start + 2 and line[start + 2:end].strip("<> \t"):
            return True
    return False


_PLACEHOLDER = re.compile(r"\[([^\[\]\n]*)\]")


@checker("detectable_content:number_placeholders", num_placeholders=COUNT,
         notes="an empty `[]` or `[ ]` is no placeholder")
def number_placeholders(response: str, *, num_placeholders: int) -> bool:
    """At least N placeholders in square brackets (`[name]`), each within one line."""
    found = sum(1 for inside in _PLACEHOLDER.findall(response) if inside.strip())
    return found >= num_placeholders


@lru_cache(maxsize=64)
def _postscript(marker: str) -> re.Pattern[str]:
    # "P.S." / "P.P.S" / "PS" alike: the letters, each optionally followed by a dot and a space
    letters = [c for c in marker.strip() if c.isalnum()]
    if letters and "".join(letters).lower() in ("ps", "pps"):
        body = r"\.?\s?".join(re.escape(c) for c in letters) + r"\.?"
    else:
        body = re.escape(marker.strip())
    return re.compile(r"^[ \t>*_#]*" + body + r"(?!\w)", re.IGNORECASE | re.MULTILINE)


@checker("detectable_content:postscript", postscript_marker=TEXT,
         notes="the marker must open a line (after optional markdown `*`, `_`, `#`, `>`); "
               "the reference finds it anywhere in a line")
def postscript(response: str, *, postscript_marker: str) -> bool:
    """A line that starts with the postscript marker ("P.S.", "P.P.S"; dots and case free)."""
    return bool(_postscript(postscript_marker).search(response))
