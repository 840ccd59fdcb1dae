"""length_constraints:*: how many words, sentences and paragraphs, and a paragraph's first word."""

from __future__ import annotations

import re
from typing import Any

from .keywords import compare
from .registry import COUNT, POSITIVE, RELATION, TEXT, InstructionError, checker
from .text import blank_line_paragraphs, sentences, words


@checker("length_constraints:number_words", num_words=COUNT, relation=RELATION)
def number_words(response: str, *, num_words: int, relation: str) -> bool:
    """The number of words (runs of word characters) against the threshold."""
    return compare(len(words(response)), relation, num_words)


@checker("length_constraints:number_sentences", num_sentences=COUNT, relation=RELATION,
         notes="own splitter: `.` `!` `?` `…` before white space end a sentence, except after "
               "an abbreviation, an initial or a list number; line breaks alone do not")
def number_sentences(response: str, *, num_sentences: int, relation: str) -> bool:
    """The number of sentences (see text.sentences) against the threshold."""
    return compare(len(sentences(response)), relation, num_sentences)


_DIVIDER = re.compile(r"\s?\*\*\*\s?")


@checker("length_constraints:number_paragraphs", num_paragraphs=POSITIVE)
def number_paragraphs(response: str, *, num_paragraphs: int) -> bool:
    """Exactly N paragraphs separated by the markdown divider `***`: an empty piece before
    the first or after the last divider is ignored, an empty one between two fails."""
    pieces = _DIVIDER.split(response)
    if pieces and not pieces[0].strip():
        pieces = pieces[1:]
    if pieces and not pieces[-1].strip():
        pieces = pieces[:-1]
    if any(not p.strip() for p in pieces):
        return False
    return len(pieces) == num_paragraphs


_LEADING_QUOTES = "\"'“”‘’"
_WORD_END = set(".,?!;:'\"“”‘’")


def _first_word(paragraph: str) -> str:
    word = paragraph.split()[0].lstrip(_LEADING_QUOTES)
    out = []
    for ch in word:
        if ch in _WORD_END:
            break
        out.append(ch)
    return "".join(out).lower()


def _nth_within(kwargs: dict[str, Any]) -> None:
    if kwargs["nth_paragraph"] > kwargs["num_paragraphs"]:
        raise InstructionError(
            "length_constraints:nth_paragraph_first_word: kwarg 'nth_paragraph' "
            f"({kwargs['nth_paragraph']}) is past 'num_paragraphs' ({kwargs['num_paragraphs']})")


@checker("length_constraints:nth_paragraph_first_word", num_paragraphs=POSITIVE,
         nth_paragraph=POSITIVE, first_word=TEXT, cross=_nth_within,
         notes="paragraphs are separated by blank lines, a line of spaces counting as blank; "
               "the n-th paragraph is the n-th non-empty one; typographic quotes before the "
               "word are skipped like straight ones")
def nth_paragraph_first_word(response: str, *, num_paragraphs: int, nth_paragraph: int,
                             first_word: str) -> bool:
    """Exactly N paragraphs separated by blank lines, and the n-th starts with the word
    (case-insensitive; leading quote marks and trailing punctuation are not part of it)."""
    paragraphs = blank_line_paragraphs(response)
    if len(paragraphs) != num_paragraphs:
        return False
    return _first_word(paragraphs[nth_paragraph - 1]) == first_word.strip().lower()
