"""change_case:*, punctuation:no_comma and startend:*: letter case, commas, how it begins
and ends.

"In English" is not detected (that needs a language detector, see language.py): the two
English-case checks require the case and that every letter is a Latin one, so a reply in
another script fails, but one in French would pass where the reference (langdetect) fails it.
"""

from __future__ import annotations

import re
import unicodedata

from .keywords import compare
from .registry import COUNT, RELATION, TEXT, checker

_LATIN_ONLY = "'in English' is approximated: every letter must be Latin (no language detector)"


def _letters(text: str) -> list[str]:
    return [c for c in text if c.isalpha()]


def _all_latin(letters: list[str]) -> bool:
    return all(c.isascii() or unicodedata.name(c, "").startswith("LATIN ") for c in letters)


@checker("change_case:english_lowercase", notes=_LATIN_ONLY)
def english_lowercase(response: str) -> bool:
    """Letters there are, none upper case, all Latin."""
    letters = _letters(response)
    return bool(letters) and response.islower() and _all_latin(letters)


@checker("change_case:english_capital", notes=_LATIN_ONLY)
def english_capital(response: str) -> bool:
    """Letters there are, none lower case, all Latin."""
    letters = _letters(response)
    return bool(letters) and response.isupper() and _all_latin(letters)


# a word: letters/digits, joined by hyphens, apostrophes or dots ("WELL-KNOWN", "U.S.A")
_CAP_TOKEN = re.compile(r"[^\W_]+(?:[-'’.][^\W_]+)*")


@checker("change_case:capital_word_frequency", capital_frequency=COUNT,
         capital_relation=RELATION,
         notes="words are letter runs joined by - ' . (the reference uses nltk's tokenizer); "
               "a word counts when it has letters and all are capitals ('I' and 'A' count)")
def capital_word_frequency(response: str, *, capital_frequency: int,
                           capital_relation: str) -> bool:
    """How many words are written in capitals, against the threshold."""
    count = sum(1 for w in _CAP_TOKEN.findall(response) if w.isupper())
    return compare(count, capital_relation, capital_frequency)


_COMMAS = (",", "，", "،", "﹐")  # ASCII, full-width, Arabic, small


@checker("punctuation:no_comma", notes="full-width, Arabic and small commas count as commas")
def no_comma(response: str) -> bool:
    """No comma anywhere."""
    return not any(c in response for c in _COMMAS)


_QUOTE_PAIRS = (('"', '"'), ("“", "”"))


@checker("startend:quotation", notes="typographic quotes “…” count as double quotation marks")
def quotation(response: str) -> bool:
    """The whole response (surrounding white space aside) is wrapped in double quotes."""
    text = response.strip()
    return len(text) > 1 and any(text[0] == a and text[-1] == b for a, b in _QUOTE_PAIRS)


@checker("startend:end_checker", end_phrase=TEXT,
         notes="a closing typographic quote after the phrase is allowed like a straight one")
def end_checker(response: str, *, end_phrase: str) -> bool:
    """The response ends with the phrase (case-insensitive; trailing white space and a closing
    double quote after it are allowed, nothing else)."""
    text = response.strip().strip('"”“').rstrip().lower()
    return text.endswith(end_phrase.strip().lower())
