"""Simulated instruction following: a few instructions read from the prompt's own words.

IFEval-style prompts carry instructions a reader can see ("in all lowercase letters", "do
not use any commas", "end your response with the exact phrase ..."). This module reads some
of them with regexes over the prompt (never the dataset's target: the emulator only sees the
request), writes a plain answer, and follows each instruction it read with the model's
accuracy, drawn per instruction, deterministically (rand.py, sampling.py). Instructions it
does not read are not followed on purpose; an answer may still satisfy them by chance, as a
real model's may. Prompts where nothing is read are left to the other solvers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .prose import SENTENCES
from .rand import h64, normal, unit
from .sampling import is_correct


@dataclass(frozen=True, slots=True)
class Ask:
    """One instruction read from the prompt: its kind and its value (a count, a phrase)."""

    kind: str
    value: Any = None


_I = re.IGNORECASE
_NUMBER_WORDS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen "
                 "fourteen fifteen sixteen seventeen eighteen nineteen twenty").split()
_N = r"(\d+|" + "|".join(_NUMBER_WORDS) + r")"
_LOWER = re.compile(r"(?<!no )\blower\s?case\b|\bno capital letters\b|"
                    r"\bwithout (?:using )?(?:any )?capital letters", _I)
_UPPER = re.compile(r"\ball capital letters\b|\ball caps\b|\b(?:all |in )upper\s?case\b|"
                    r"\bonly (?:use )?capital letters\b", _I)
_CAPITAL_WORDS = re.compile(r"\b(?:words?|phrases?)\b[^.\n]{0,30}?\ball (?:capital letters|caps)",
                            _I)
_NO_COMMA = re.compile(r"\b(?:no|not|without|avoid|refrain|n't)\b[^.\n]{0,40}?\bcommas?\b", _I)
_END = re.compile(r"\b(?:end|finish|last sentence)\w*\b[^\n\"“]{0,80}?[\"“]([^\"”\n]{2,120}?)[\"”]",
                  _I)
_QUOTES = re.compile(r"\b(?:wrap|enclose|put)\b[^.\n]{0,60}?double quot", _I)
_MIN_WORDS = re.compile(r"\bat least (\d+) words|\b(\d+)\+[ -]?words?|\bmore than (\d+) words|"
                        r"\b(\d+) (?:words or more|or more words)|\bminimum of (\d+) words", _I)
_MAX_WORDS = re.compile(r"\b(?:less|fewer) than (\d+) words|\bat most (\d+) words|"
                        r"\bunder (\d+) words|\bno more than (\d+) words", _I)
_TITLE = re.compile(r"double angular brackets|<<[^>\n]*>>", _I)
_POSTSCRIPT = re.compile(r"\b(?:postscript|P\.S\.)[^.\n]{0,40}?\b(P\.P\.S|P\.S)\.?", _I)
_HIGHLIGHTS = re.compile(
    r"\b(?:highlight|italici[sz]e)\w*[^.\n]{0,20}?\bat least " + _N
    + r"|\bat least " + _N + r" (?:\w+ ){0,2}(?:sections?|parts?|phrases?)\b[^.\n]{0,30}?"
    r"(?:highlight|italic)", _I)
_PLACEHOLDERS = re.compile(r"\bat least " + _N + r" placeholders?", _I)
_BULLETS = re.compile(r"\bexactly " + _N + r" bullet points?", _I)
_JSON = re.compile(r"\b(?:wrap|format|in)\b[^.\n]{0,40}?\bJSON\b|\bJSON format\b", _I)


def _number(match: re.Match[str]) -> int:
    word = next(g for g in match.groups() if g).lower()
    return int(word) if word.isdigit() else _NUMBER_WORDS.index(word)


def _phrase(match: re.Match[str]) -> str | None:
    phrase = match.group(1).strip()
    return None if _POSTSCRIPT_MARK.fullmatch(phrase) else phrase


_POSTSCRIPT_MARK = re.compile(r"P\.?(?:P\.?)?S\.?", _I)


def read(prompt: str) -> list[Ask]:
    """The instructions this module can read in the prompt, in a fixed order."""
    asks: list[Ask] = []
    if _LOWER.search(prompt):
        asks.append(Ask("lowercase"))
    elif _UPPER.search(prompt) and not _CAPITAL_WORDS.search(prompt):
        asks.append(Ask("uppercase"))
    if _NO_COMMA.search(prompt):
        asks.append(Ask("no_comma"))
    readers: tuple[tuple[str, re.Pattern[str], Callable[[re.Match[str]], Any]], ...] = (
        ("min_words", _MIN_WORDS, _number), ("max_words", _MAX_WORDS, _number),
        ("highlights", _HIGHLIGHTS, _number), ("placeholders", _PLACEHOLDERS, _number),
        ("bullets", _BULLETS, _number), ("title", _TITLE, lambda m: None),
        ("postscript", _POSTSCRIPT, lambda m: m.group(1).upper() + "."),
        ("end", _END, _phrase), ("quotes", _QUOTES, lambda m: None),
        ("json", _JSON, lambda m: None),
    )
    for kind, pattern, value in readers:
        m = pattern.search(prompt)
        found = value(m) if m else None
        if m and (found is not None or kind in ("title", "quotes", "json")):
            asks.append(Ask(kind, found))
    return asks


def _follows(kind: str, accuracy: float, salt: str, pick: str, temperature: float) -> bool:
    u = unit("follow", salt, kind)
    if temperature > 0:
        return is_correct(u, accuracy, temperature, normal("follow-noise", pick, kind))
    return u < accuracy


def _prose(salt: str, words: int) -> list[str]:
    """Sentences from the bank, about `words` words in all."""
    out: list[str] = []
    start = h64("ifeval-start", salt) % len(SENTENCES)
    count = 0
    i = 0
    while count < words:
        sentence = SENTENCES[(start + i) % len(SENTENCES)].split()
        if count + len(sentence) > words and count + len(sentence) - words > 3:
            sentence = sentence[: max(1, words - count)]  # a short answer: cut the sentence
            sentence[-1] = sentence[-1].rstrip(",.;:") + "."
        out.append(" ".join(sentence))
        count += len(sentence)
        i += 1
    return out


def _topic(prompt: str) -> str:
    first = re.split(r"[.?!\n]", prompt.strip(), maxsplit=1)[0]
    return " ".join(re.findall(r"[A-Za-z']+", first)[:6]) or "your request"


def respond(prompt: str, accuracy: float, *, salt: str, pick: str,
            temperature: float) -> tuple[str, str] | None:
    """(content, working) for a prompt with instructions this module reads, else None."""
    asks = read(prompt)
    if not asks:
        return None
    follow = {a.kind: _follows(a.kind, accuracy, salt, pick, temperature) for a in asks}
    value = {a.kind: a.value for a in asks}
    length = 40 + h64("ifeval-length", salt) % 120
    if "min_words" in value:
        n = value["min_words"]
        length = n + 20 + n // 10 if follow["min_words"] else max(5, n * 6 // 10)
    if "max_words" in value:
        n = value["max_words"]
        room = n * 6 // 10 - (8 if "title" in value else 0)
        length = max(2, min(length, room)) if follow["max_words"] else n + 20
    sentences = _prose(salt, length)
    size = max(1, len(sentences) // 3)
    paragraphs = [" ".join(sentences[i:i + size]) for i in range(0, len(sentences), size)]
    text = "\n\n".join(paragraphs)
    text = _structure(text, value, follow, prompt)
    text = _finish(text, value, follow)
    kept = sorted(k for k, ok in follow.items() if ok)
    missed = sorted(k for k, ok in follow.items() if not ok)
    working = (f"The request asks for: {', '.join(a.kind for a in asks)}. "
               f"Following {', '.join(kept) or 'none'}; missing {', '.join(missed) or 'none'}.")
    return text, working


def _structure(text: str, value: dict[str, Any], follow: dict[str, bool], prompt: str) -> str:
    """Parts added to the body: title, highlights, bullets, placeholders, postscript, ending."""
    if "highlights" in value:
        n = value["highlights"] if follow["highlights"] else value["highlights"] - 1
        text += "".join(f"\n\n*Highlighted section {k + 1}*" for k in range(max(0, n)))
    if "bullets" in value:
        n = value["bullets"] if follow["bullets"] else value["bullets"] + 1
        items = [f"* Point {k + 1}: {SENTENCES[k % len(SENTENCES)]}" for k in range(n)]
        text += "\n\n" + "\n".join(items)
    if "placeholders" in value:
        n = value["placeholders"] if follow["placeholders"] else value["placeholders"] - 1
        if n > 0:
            text += "\n\nDetails: " + " and ".join(f"[field {k + 1}]" for k in range(n)) + "."
    if "title" in value and follow["title"]:
        text = f"<<{_topic(prompt).title()}>>\n\n{text}"
    if "postscript" in value and follow["postscript"]:
        text += f"\n\n{value['postscript']} Thank you for reading."
    if "end" in value and follow["end"]:
        text += f"\n\n{value['end']}"
    return text


def _finish(text: str, value: dict[str, Any], follow: dict[str, bool]) -> str:
    """What applies to the whole answer, last: commas, letter case, JSON, quotes (case before
    JSON: upper-casing its escapes, \\n to \\N, would break it)."""
    upper = "uppercase" in value and follow["uppercase"]
    if "no_comma" in value and follow["no_comma"]:
        text = text.replace(", ", " ").replace(",", "")
    if "lowercase" in value and follow["lowercase"]:
        text = text.lower()
    if upper:
        text = text.upper()
    if "json" in value and follow["json"]:
        text = "```json\n" + json.dumps({"ANSWER" if upper else "answer": text},
                                         ensure_ascii=False) + "\n```"
    if "quotes" in value and follow["quotes"]:
        text = f'"{text}"'
    return text
