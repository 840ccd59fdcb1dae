"""numeric: the final number of the answer equals the target number.

Extraction: the last explicit statement ("Answer: 18", "The answer is $18.", "#### 18",
"\\boxed{18}", "18 is the answer") wins; "Answer: 2 x 9 = 18" gives the result, and
"Answer: 18 or 20" gives no answer. Without one, the last number of the text that is not a
list index ("3. Then ...") or a step number. A number is one token with its sign, currency,
thousands separators, decimals and percent sign: -$1,234.50, $350 000, 25%, 3/4, \\frac{3}{4},
and 6:00 (a time, equal to 6 only on the hour).
"""

from __future__ import annotations

import math
import re

from pipeline.scoring.base import Output, Score, targets

_AMBIGUOUS = "?"

# LaTeX and markdown around numbers: \$18 -> $18, 1{,}000 -> 1,000, \text{ dollars} ->  dollars,
# \boxed{18} -> " Answer: 18 ", and **, `, \( \) \[ \] dropped (a single * may be a product).
_TEX_SIMPLE = re.compile(r"\\[$%]|\{,\}|\\[,!;: ]|\\dfrac|\\left|\\right")
_TEX_SIMPLE_BY = {"\\$": "$", "\\%": "%", "{,}": ",", "\\dfrac": "\\frac"}
_TEX_WRAP = re.compile(r"\\(?:text|textbf|mathrm|mathbf|mbox)\s*\{([^{}\n]{0,200})\}")
_BOXED = re.compile(r"\\boxed\s*\{((?:[^{}\n]|\{[^{}\n]{0,50}\}){0,200})\}")
_MARKUP = re.compile(r"\*\*+|`+|\\[()\[\]]")

_CURRENCY = r"[$€£¥₹]"
# Thousands separators: a comma, a no-break or thin space, or a plain space before a group that
# cannot start a number of its own ("350 000", not "2 500 g"); after a currency sign, any space.
_GROUP = r"(?:,|[\u00a0\u202f\u2009]| (?=0))"
_SPACED = r"\d{1,3}(?: \d{3})+(?:\.\d+)?(?![,\d])"
_FRAC = r"\\frac\{[ \t]*-?\d+(?:\.\d+)?[ \t]*\}\{[ \t]*-?\d+(?:\.\d+)?[ \t]*\}"
_BODY = (
    rf"(?:{_FRAC}"
    r"|\d{1,2}:\d\d(?::\d\d)?(?![\d:])"  # a time is one token, never "00"
    r"|\d+/\d+(?![\d/])"
    rf"|\d{{1,3}}(?:{_GROUP}\d{{3}})+(?:\.\d+)?(?!,?\d)"
    r"|\d+(?:\.\d+)?"
    r"|\.\d+)"
)
# The same with its first digit already read.
_BODY_AFTER_DIGIT = (
    r"(?:\d?:\d\d(?::\d\d)?(?![\d:])"
    r"|\d*/\d+(?![\d/])"
    rf"|\d{{0,2}}(?:{_GROUP}\d{{3}})+(?:\.\d+)?(?!,?\d)"
    r"|\d*(?:\.\d+)?)"
)
# A number token, [-][$]body[%], not inside a word, a decimal or a fraction. It opens with a
# character class so that the regex engine skips fast to candidates (3x faster than an
# optional sign first); a lookbehind on that first character picks the branch.
_NUMBER = (
    r"[-−$€£¥₹\\.\d](?<![\w./].)"
    rf"(?:(?<=\d){_BODY_AFTER_DIGIT}"
    rf"|(?<=[-−]){_CURRENCY}[ \t]?(?:{_SPACED}|{_BODY})|(?<=[-−]){_BODY}"
    rf"|(?<={_CURRENCY})[ \t]?[-−]?(?:{_SPACED}|{_BODY})"
    rf"|(?<=\\){_FRAC[2:]}"
    r"|(?<=\.)\d+)"
    r"(?:[ \t]?%)?"
)
_NUM = re.compile(_NUMBER)

# "Answer: N", "The (final) answer is: N", "The answer to the question is N".
_STATEMENT = re.compile(
    r"(?i:\b(?P<kw>(?:final[ \t]+)?answer)\b(?:[ \t]+to[ \t]+[^\n.:=]{1,60}?)?[ \t]*"
    r"(?P<conn>[:=]|\bis\b|\bwas\b|\b(?:would|will|should)[ \t]+be\b)(?:[ \t]*:)?)"
    r"(?=\s{0,8}(?P<rest>[^\n]{0,200}))"
)
_HASHES = re.compile(r"####(?=[ \t]*(?P<rest>[^\n]{0,200}))")
# "18 dollars is the answer": found by its words, then the number looked for just before them.
_IS_ANSWER = re.compile(
    r"(?i:\bis[ \t]+(?:the|my|our)[ \t]+(?:final[ \t]+|correct[ \t]+)?answer\b)"
)
_NUM_BEFORE = re.compile(rf"({_NUMBER})(?:[ \t]+[A-Za-z]+){{0,3}}[ \t]{{1,3}}\Z")
# Words between the statement and its number: "The answer is approximately $18".
_FILLER = re.compile(
    r"(?:\s|[:=~≈\"'“‘]|(?i:approximately|about|around|roughly|exactly|equal[ \t]+to|therefore|"
    r"thus|that|just|only|simply|then)\b)*"
)
_LABEL_PREFIX = re.compile(r"[ \t>#\-]*(?i:(?:the|my|correct|final)[ \t]+)*")
_OPERATOR = re.compile(
    r"(?:[ \t]+[A-Za-z]+)?[ \t]*(?:[-+*/×÷x·]|\\times|\\cdot|\\div)[ \t]*[$(]?\d"
)
_ALTERNATIVE = re.compile(
    r"(?:[ \t]+[A-Za-z]+)?(?:[ \t]*,[ \t]*|[ \t]+or[ \t]+|[ \t]+and[ \t]+)" + _NUMBER
)
_SENTENCE_END = re.compile(r"[.!?;](?:\s|$)")
_NEGATED = re.compile(r"\s*(?i:not|n't)\b")
# A number that only counts a list item or a step: "3. Then", "2) Add", "Step 4:".
_INDEX = re.compile(r"[ \t]*[.)][ \t]+\S")
_LINE_START = re.compile(r"(?:^|\n)[ \t>#*\-]*$")
_STEP = re.compile(r"(?i:\bstep)[ \t]*$")


def _clean(text: str) -> str:
    """The text with LaTeX and markdown wrappers removed, \\boxed{N} read as a statement."""
    if "\\" in text or "{," in text:
        text = _TEX_SIMPLE.sub(lambda m: _TEX_SIMPLE_BY.get(m.group(0), ""), text)
        text = _TEX_WRAP.sub(r"\1", text)
        text = _BOXED.sub(r" Answer: \1 ", text)
    elif "**" not in text and "`" not in text:
        return text
    return _MARKUP.sub("", text)


def _read(rest: str, label: bool) -> str | None:
    """The number a statement gives from the text after it, _AMBIGUOUS, or None."""
    pos = _FILLER.match(rest).end()
    m = _NUM.match(rest, pos)
    if m is not None:
        if _ALTERNATIVE.match(rest, m.end()):
            return _AMBIGUOUS  # "Answer: 18 or 20"
        if _OPERATOR.match(rest, m.end()):  # "Answer: 2 x 9 = 18": the result
            eq = rest.rfind("=")
            result = _NUM.match(rest, _FILLER.match(rest, eq + 1).end()) if eq > 0 else None
            return result.group(0) if result else _AMBIGUOUS
        return m.group(0)
    if not label or _NEGATED.match(rest):
        return None
    # "Answer: Janet makes $18 a day.": the one number of the sentence, if it has one.
    end = _SENTENCE_END.search(rest)
    found = {_value(t) for t in _NUM.findall(rest, 0, end.start() if end else len(rest))}
    return _NUM.search(rest).group(0) if len(found) == 1 else None


def _is_label(text: str, m: re.Match[str]) -> bool:
    """Whether an 'answer:' statement opens its line (a label, not a clause)."""
    start = text.rfind("\n", max(0, m.start() - 40), m.start()) + 1
    if start == 0 and m.start() > 40:
        return False
    return _LABEL_PREFIX.fullmatch(text, start, m.start()) is not None


def _explicit(text: str) -> str | None:
    """The last explicit statement's number (or _AMBIGUOUS); None when there is none."""
    best_pos, best = -1, None
    if "nswer" in text or "NSWER" in text:
        for m in _STATEMENT.finditer(text):
            colon = m.group("conn") in (":", "=")
            label = colon and (m.group("kw").lower().startswith("final") or _is_label(text, m))
            if colon and not label and not m.group("kw")[0].isupper():
                continue  # "to find the answer: 16 - 3 = 13" is working, not a statement
            got = _read(m.group("rest"), label)
            if got is not None:
                best_pos, best = m.start(), got
        for m in _IS_ANSWER.finditer(text, best_pos + 1):
            before = _NUM_BEFORE.search(text, max(0, m.start() - 60), m.start())
            if before is not None:
                best_pos, best = m.start(), before.group(1)
    if "####" in text:
        for m in _HASHES.finditer(text, best_pos + 1):
            got = _read(m.group("rest"), True)
            if got is not None:
                best_pos, best = m.start(), got
    return best


def _last_number(text: str) -> str | None:
    """The last number that is not a list index or a step number."""
    for m in reversed(list(_NUM.finditer(text))):
        start = m.start()
        if _INDEX.match(text, m.end()) and _LINE_START.search(text, max(0, start - 8), start):
            continue
        if _STEP.search(text, max(0, start - 12), start):
            continue
        return m.group(0)
    return None


def extract_number(text: str, *, explicit_only: bool = False) -> str | None:
    """The answer's number as written (see the module docstring), or None; `explicit_only`
    (an answer cut by max_tokens) takes no last number that no statement makes final."""
    text = _clean(text)
    got = _explicit(text)
    if got is None and not explicit_only:
        got = _last_number(text)
    return None if got == _AMBIGUOUS else got


def canonical(token: str) -> str:
    """A number token without currency, commas, spaces or percent: '-$1,234.5' -> '-1234.5'."""
    s = re.sub(r"[$€£¥₹,%\s]", "", token).replace("−", "-")
    if s.startswith("\\frac") or s.startswith("-\\frac"):
        a, b = re.findall(r"-?\d+(?:\.\d+)?", s)
        s = f"{'-' if s.startswith('-') else ''}{a}/{b}"
    return s


def _value(token: str) -> float | None:
    """The value of a number token; a time counts only on the hour (6:00 -> 6)."""
    s = canonical(token)
    neg = s.startswith("-")
    s = s.lstrip("-")
    try:
        if ":" in s:
            hours, *rest = s.split(":")
            if any(int(x) for x in rest):
                return None
            v = float(hours)
        elif "/" in s:
            a, b = s.split("/")
            v = float(a) / float(b) if float(b) else math.nan
        else:
            v = float(s)
    except ValueError:
        return None
    if math.isnan(v):
        return None
    return -v if neg else v


def parse_number(text: str) -> float | None:
    """A number from text like '1,234', '$5', '-0.5', '3/4'; None if it is not one."""
    m = _NUM.fullmatch(_clean(str(text)).strip())
    return _value(m.group(0)) if m else None


def _target_value(t: object) -> float | None:
    if isinstance(t, bool):
        return None
    if isinstance(t, int | float):
        return float(t)
    raw = extract_number(str(t))
    return _value(raw) if raw is not None else None


def numeric(out: Output) -> Score:
    """1 when the extracted number equals a target number (relative tolerance 1e-6)."""
    raw = extract_number(out.text, explicit_only=out.cut)
    if raw is None:
        return Score(0.0, None)
    answer = canonical(raw)
    value = _value(raw)
    if value is None:
        return Score(0.0, answer)
    for t in targets(out.target):
        t_val = _target_value(t)
        if t_val is not None and math.isclose(value, t_val, rel_tol=1e-6, abs_tol=1e-9):
            return Score(1.0, answer)
    return Score(0.0, answer)
