"""keywords:*: words that must appear, appear often enough, or not appear; letter counts.

Matching follows the reference implementation, so that scores stay comparable with published
IFEval numbers: a keyword is found case-insensitively anywhere, also inside a longer word
("art" in "start"), while a forbidden word is matched as a whole word only.
"""

from __future__ import annotations

import re
from functools import lru_cache

from .registry import CHAR, COUNT, RELATION, TEXT, TEXTS, checker


@lru_cache(maxsize=512)
def _anywhere(keyword: str) -> re.Pattern[str]:
    return re.compile(re.escape(keyword.strip()), re.IGNORECASE)


@lru_cache(maxsize=512)
def _whole_word(word: str) -> re.Pattern[str]:
    return re.compile(r"(?<!\w)" + re.escape(word.strip()) + r"(?!\w)", re.IGNORECASE)


def compare(count: int, relation: str, threshold: int) -> bool:
    """IFEval's two relations: 'less than' is count < threshold, 'at least' count >= it."""
    return count < threshold if relation == "less than" else count >= threshold


@checker("keywords:existence", keywords=TEXTS)
def existence(response: str, *, keywords: list[str]) -> bool:
    """Every keyword appears (case-insensitive, also inside a longer word)."""
    return all(_anywhere(k).search(response) for k in keywords)


@checker("keywords:frequency", keyword=TEXT, frequency=COUNT, relation=RELATION)
def frequency(response: str, *, keyword: str, frequency: int, relation: str) -> bool:
    """The keyword's occurrences (case-insensitive, non-overlapping) against the threshold."""
    return compare(len(_anywhere(keyword).findall(response)), relation, frequency)


@checker("keywords:forbidden_words", forbidden_words=TEXTS)
def forbidden_words(response: str, *, forbidden_words: list[str]) -> bool:
    """None of the words appears as a whole word (case-insensitive)."""
    return not any(_whole_word(w).search(response) for w in forbidden_words)


@checker("keywords:letter_frequency", letter=CHAR, let_frequency=COUNT, let_relation=RELATION,
         notes="any single character is accepted as the letter ('#', '!' in two rows): the "
               "reference replaces a non-letter by a random letter")
def letter_frequency(response: str, *, letter: str, let_frequency: int,
                     let_relation: str) -> bool:
    """How often the character appears, case-insensitively, against the threshold."""
    return compare(response.lower().count(letter.lower()), let_relation, let_frequency)
