"""language:response_language, for the languages whose script is their own.

IFEval asks for a whole response in one language (ISO 639-1 code); the reference checks it
with langdetect, a statistical detector not installed here (and whose failures it counts as
followed). A language written in a script no other commonly detected language uses (Korean:
Hangul; Thai; Tamil; ...) is checked honestly by the script alone: at least 80 % of the
response's letters (and the vowel signs on them) must be in it (names and a stray Latin word
are allowed, a translation beside it is not). A language sharing its script with others
(Hindi, Marathi and Nepali: Devanagari; Arabic, Persian and Urdu; Russian and Bulgarian; every
Latin-script language) is left unchecked: the scorer reports it so, never as followed.
"""

from __future__ import annotations

import unicodedata

from .registry import TEXT, checker

# code -> (script name, inclusive code point ranges)
SCRIPTS: dict[str, tuple[str, tuple[tuple[int, int], ...]]] = {
    "ko": ("Hangul", ((0xAC00, 0xD7AF), (0x1100, 0x11FF), (0x3130, 0x318F))),
    "th": ("Thai", ((0x0E00, 0x0E7F),)),
    "ta": ("Tamil", ((0x0B80, 0x0BFF),)),
    "te": ("Telugu", ((0x0C00, 0x0C7F),)),
    "kn": ("Kannada", ((0x0C80, 0x0CFF),)),
    "ml": ("Malayalam", ((0x0D00, 0x0D7F),)),
    "gu": ("Gujarati", ((0x0A80, 0x0AFF),)),
    "pa": ("Gurmukhi", ((0x0A00, 0x0A7F),)),
    "bn": ("Bengali", ((0x0980, 0x09FF),)),
    "el": ("Greek", ((0x0370, 0x03FF), (0x1F00, 0x1FFF))),
    "he": ("Hebrew", ((0x0590, 0x05FF),)),
}
SHARE = 0.8

# why the others are left out, by script, for the explanation
_SHARED = {
    "Devanagari (hi, mr, ne)": {"hi", "mr", "ne"},
    "Arabic (ar, fa, ur)": {"ar", "fa", "ur"},
    "Cyrillic (ru, bg, uk, mk)": {"ru", "bg", "uk", "mk"},
}


def unchecked_reason(*, language: str) -> str | None:
    """Why this language cannot be checked here, or None when it can."""
    code = language.strip().lower()
    if code in SCRIPTS:
        return None
    for script, codes in _SHARED.items():
        if code in codes:
            return f"language {code!r}: the {script} script is shared; needs a language detector"
    return f"language {code!r}: not told apart by its script; needs a language detector"


def _in_script(ch: str, ranges: tuple[tuple[int, int], ...]) -> bool:
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in ranges)


@checker("language:response_language", language=TEXT, unchecked=unchecked_reason,
         notes="checked for ko, th, ta, te, kn, ml, gu, pa, bn, el, he only (a script of their "
               "own: at least 80% of the letters in it); other languages are reported "
               "unchecked")
def response_language(response: str, *, language: str) -> bool:
    """At least 80 % of the letters are in the language's own script."""
    ranges = SCRIPTS[language.strip().lower()][1]
    # letters and the vowel signs written on them (Thai, Indic scripts: category M, not alpha)
    letters = [c for c in response if c.isalpha() or unicodedata.category(c).startswith("M")]
    if not letters:
        return False
    return sum(_in_script(c, ranges) for c in letters) >= SHARE * len(letters)
