"""choice: the option letter of a multiple-choice answer equals the target's.

Extraction, first rule that finds something wins:
1. explicit statements ("Answer: B", "The correct answer is (B)", "I choose B", "B is correct",
   "\\boxed{B}"), the last one in the text; "Answer: B or C" is no answer;
2. a lone letter line ("B", "(B)", "**B.**", "Option B"), or one line quoting a single option
   ("B) Paris") when the text lists no options; an echoed option list is never an answer;
3. a line that is exactly one option's text.
Two different candidates within rule 2 or 3 give no answer: a guess is worse than none.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache

from pipeline.scoring.base import Output, Score, normalize, targets

_AMBIGUOUS = "?"

# Markup that never carries the answer: \text{B} -> B, \boxed{B} -> "answer: B", **B**, `B`, $B$.
_TEX_WRAP = re.compile(r"\\(?:text|textbf|mathrm|mathbf|mathit)\s*\{([^{}\n]{0,200})\}")
_BOXED = re.compile(r"\\boxed\s*\{([^{}\n]{0,200})\}")
_MARKUP = re.compile(r"\*+|`+|\$+|\\[()\[\]]")

# The option letter after a statement: B, (B), [B], B) — never the first letter of a word.
_TOKEN = (
    r"(?:(?P<open>[(\[{])[ \t]?)?(?P<l>[A-Za-z])(?:[ \t]?(?P<close>[)\]}]))?(?![\w’]|'[a-z])"
)
_ADVERB = (
    r"(?:therefore|thus|hence|so|clearly|likely|most\s+likely|probably|definitely|indeed|"
    r"then|also|actually|obviously|certainly)"
)
_STATEMENT = re.compile(
    r"(?i:\b(?:answer|option|choice)\b(?:[ \t]+to\s+(?:this|the)\s+question)?"
    r"[ \t]*(?:[:=\-–—]|\bis\b|\bwas\b|\b(?:would|should|must|will)\s+be\b)"
    rf"(?:[ \t]*:)?(?:[ \t]+{_ADVERB}\b)?[ \t,:\"'“‘]*\s{{0,4}}(?:(?:option|choice|letter)[ \t]*)?)"
    rf"(?:{_TOKEN}|(?=(?P<rest>[^\n]{{1,300}})))"  # a letter, or maybe an option's text
)
_LABEL = re.compile(r"(?im:^[ \t>#]*(?:final[ \t]+)?answer[ \t]+)" + _TOKEN)
_CHOOSE = re.compile(
    r"\bI(?i:(?:[ \t]+(?:would|will)|['’](?:d|ll))?[ \t]+(?:choose|chose|pick|select|go[ \t]+with|"
    r"opt[ \t]+for)[ \t]+(?:(?:option|choice|answer)[ \t]+)?)" + _TOKEN
)
# "B is correct", "(B) is the answer": found by its words, then the letter just before them.
_IS_CORRECT = re.compile(
    r"(?i:\bis[ \t]+(?:the[ \t]+)?(?:correct|right|best)\b|\bis[ \t]+the[ \t]+"
    r"(?:final[ \t]+)?answer\b)"
)
_LETTER_BEFORE = re.compile(
    r"(?<![\w'’])(?:(?i:option|choice|answer)[ \t]+)?" + _TOKEN + r"[ \t]{1,3}\Z"
)

# "Answer: B or C", "B, C": a second letter right after the first makes the statement ambiguous.
_ALTERNATIVE = re.compile(
    r"[ \t]*(?:,|/|&|\bor\b|\band\b)[ \t]*(?:(?i:option)[ \t]+)?[(\[]?([A-Z])(?![\w'’])"
)
_LOWER_OK = re.compile(r"[ \t]*(?:[.:,;!)]|$)", re.MULTILINE)
# The start of a line that opens with an option marker: "B)", "(B)", "B.", "B:".
_NEXT_MARKER = re.compile(r"[ \t]*\n\s*[(\[]?([A-Za-z])[)\].:]")

_BARE = re.compile(
    r"[ \t>#\-•]*(?:(?i:option|choice|answer|letter)[ \t]*)?(?:[(\[][ \t]?)?([A-Za-z])"
    r"(?:[ \t]?[)\]])?[.:!]?[ \t]*"
)
_MARKED = re.compile(
    r"[ \t>#\-•]*(?:(?i:option|choice)[ \t]+)?(?:\(([A-Za-z])\)|([A-Za-z])\)|([A-Z])[.:])"
    r"[ \t]+\S"
)
_INLINE = re.compile(r"(?<![\w'’])(?:\(([A-Z])\)|([A-Z])\))[ \t]+\S")


def _clean(text: str) -> str:
    """The text without markup, with \\boxed{X} read as an answer statement."""
    if "\\" in text:
        text = _TEX_WRAP.sub(r"\1", text)
        text = _BOXED.sub(r" Answer: \1 ", text)
    elif "*" not in text and "`" not in text and "$" not in text:
        return text
    return _MARKUP.sub("", text)


def _valid_letters(n_choices: int | None) -> str:
    return "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[: n_choices if n_choices is not None else 26]


@lru_cache(maxsize=4096)
def _options(choices: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """(normalised text, letter) of each option with some text, markup removed as from answers."""
    texts = (normalize(_MARKUP.sub("", c)) for c in choices)
    return tuple((t, chr(65 + i)) for i, t in enumerate(texts) if t)


def _option_by_text(rest: str, choices: list[str] | None) -> str | None:
    """The letter of the one option that `rest` states (the whole of it, or its start)."""
    if not choices:
        return None
    options = _options(tuple(choices))
    if not options:
        return None
    # Options are short: normalising the first few hundred characters is enough.
    limit = 2 * max(len(o) for o, _ in options) + 8
    said = normalize(rest[:limit])
    whole = len(rest) <= limit
    hits = {
        letter
        for opt, letter in options
        if (whole and said == opt)
        or (said.startswith(opt) and len(said) > len(opt) and not said[len(opt)].isalnum())
    }
    return hits.pop() if len(hits) == 1 else None


def _statement_letter(
    m: re.Match[str], text: str, valid: str, choices: list[str] | None, upper_only: bool
) -> str | None:
    """The letter an explicit statement gives, _AMBIGUOUS, or None if it names no option."""
    letter = m.group("l")
    if letter is None:
        return _option_by_text(m.group("rest"), choices)
    bracketed = bool(m.group("open") or m.group("close"))
    if letter.islower():
        if upper_only and not bracketed:
            return None
        if not bracketed and not _LOWER_OK.match(text, m.end()):
            # "The answer is a mixture": maybe an option's text, not a letter.
            end = text.find("\n", m.start("l"))
            return _option_by_text(text[m.start("l") : end if end >= 0 else None], choices)
    letter = letter.upper()
    if letter not in valid:
        return None
    alt = _ALTERNATIVE.match(text, m.end())
    if alt and alt.group(1) in valid and alt.group(1) != letter:
        return _AMBIGUOUS
    eol = text.find("\n", m.end())
    nxt = _NEXT_MARKER.match(text, eol) if eol >= 0 else None
    if nxt and nxt.group(1).upper() == chr(ord(letter) + 1):
        return None  # "Answer: A) x\nB) y\nC) z": the head of an echoed list
    return letter


def _statements(text: str) -> Iterator[tuple[re.Match[str], bool]]:
    """Each explicit statement's match, and whether its letter must be upper-case or bracketed."""
    low = text.lower()  # to skip the patterns whose words are absent: most outputs lack them
    answer = "answer" in low
    patterns = [_CHOOSE] if "i " in low or "i'" in low or "i’" in low else []
    if answer or "option" in low or "choice" in low:
        patterns += [_STATEMENT, _LABEL] if answer else [_STATEMENT]
    for pattern in patterns:
        for m in pattern.finditer(text):
            yield m, False
    if "correct" in low or "right" in low or "best" in low or answer:
        for m in _IS_CORRECT.finditer(text):
            before = _LETTER_BEFORE.search(text, max(0, m.start() - 24), m.start())
            if before is not None:
                yield before, True


def _explicit(text: str, valid: str, choices: list[str] | None) -> str | None:
    """The last explicit statement's letter (or _AMBIGUOUS); None when there is none."""
    best_pos, best = -1, None
    for m, upper_only in _statements(text):
        if m.start() > best_pos:
            letter = _statement_letter(m, text, valid, choices, upper_only)
            if letter is not None:
                best_pos, best = m.start(), letter
    return best


def _lone(lines: list[str], valid: str) -> tuple[set[str], list[str]]:
    """Letters of lone letters and of a lone quoted option (if no list is echoed); other lines."""
    bare: set[str] = set()
    marked: set[str] = set()
    plain: list[str] = []
    listed = False
    for line in lines:
        if not line or line.isspace():
            continue
        if len(line) <= 40 and (m := _BARE.fullmatch(line)):
            bare.add(m.group(1).upper())
            plain.append(line)  # "z" may be the text of an option, not a letter
            continue
        if m := _MARKED.match(line):
            marked.add((m.group(1) or m.group(2) or m.group(3)).upper())
        else:
            plain.append(line)
        if ")" in line and len({a or b for a, b in _INLINE.findall(line)}) > 1:
            listed = True
    if len(marked) > 1:
        listed = True
    found = {x for x in bare if x in valid}
    if not listed:
        found |= {x for x in marked if x in valid}
    return found, plain


def _by_option_text(lines: list[str], choices: list[str] | None) -> set[str]:
    """Letters of options whose whole text is a line of the answer."""
    if not choices or not lines:
        return set()
    opts: dict[str, str] = {}
    for opt, letter in _options(tuple(choices)):
        opts.setdefault(opt, letter)
    longest = 2 * max(map(len, opts), default=0) + 16
    return {opts[s] for s in (normalize(x) for x in lines if len(x) <= longest) if s in opts}


def extract_letter(
    text: str, n_choices: int | None, choices: list[str] | None = None, *,
    explicit_only: bool = False,
) -> str | None:
    """The chosen option letter (see the module docstring), or None when it is not clear;
    `explicit_only` (an answer cut by max_tokens) takes only an explicit statement."""
    text = _clean(text)
    valid = _valid_letters(n_choices)
    letter = _explicit(text, valid, choices)
    if letter is not None:
        return None if letter == _AMBIGUOUS else letter
    if explicit_only:
        return None
    found, plain = _lone(text.splitlines(), valid)
    found = found or _by_option_text(plain, choices)
    return found.pop() if len(found) == 1 else None


def target_letter(target: object, choices: list[str] | None) -> str | None:
    """A target given as a letter, a 0-based index, or the option's text, as a letter."""
    if isinstance(target, bool):
        return None
    if isinstance(target, int):
        return chr(65 + target)
    s = str(target).strip()
    if len(s) == 1 and s.isalpha():
        return s.upper()
    if choices:
        for i, c in enumerate(choices):
            if normalize(c) == normalize(s):
                return chr(65 + i)
    return None


def choice(out: Output) -> Score:
    """1 when the extracted letter equals a target letter."""
    n = len(out.choices) if out.choices else None
    letter = extract_letter(out.text, n, out.choices, explicit_only=out.cut)
    if letter is None:
        return Score(0.0, None)
    ok = any(target_letter(t, out.choices) == letter for t in targets(out.target))
    return Score(1.0 if ok else 0.0, letter)
