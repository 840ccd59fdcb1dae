"""f1: token overlap between a short answer and the best target, as SQuAD scores it.

Both sides are normalised the SQuAD way (lowercase, punctuation and the articles a, an, the
removed, white space collapsed), with two differences: casefold and NFKC instead of lower(),
and every Unicode punctuation mark removed, not only ASCII. F1 is the harmonic mean of the
share of answer tokens found in the target (precision) and of target tokens found in the
answer (recall), counting repeats; an empty answer against an empty target is 1.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from functools import lru_cache

from pipeline.scoring.base import Output, Score, targets

_ARTICLES = re.compile(r"\b(?:a|an|the)\b")
_ANSWER_CAP = 300


def _strip_punctuation(text: str) -> str:
    return "".join(" " if unicodedata.category(ch).startswith("P") else ch for ch in text)


def tokens(text: str) -> list[str]:
    """SQuAD-normalised tokens of a text."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return _ARTICLES.sub(" ", _strip_punctuation(text)).split()


def f1_of(answer: list[str], target: list[str]) -> float:
    """Token F1 of an answer against one target (both already tokens)."""
    if not answer or not target:
        return 1.0 if answer == target else 0.0
    common = sum((Counter(answer) & Counter(target)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(answer), common / len(target)
    return 2 * precision * recall / (precision + recall)


@lru_cache(maxsize=256)
def _compile(pattern: str, ignore_case: bool) -> re.Pattern[str] | str:
    try:
        return re.compile(pattern, re.IGNORECASE if ignore_case else 0)
    except re.error as exc:
        return f"answer_pattern is not a valid regular expression: {exc}"


def _answer(out: Output) -> tuple[str | None, str | None]:
    """The answer text (option answer_pattern: group 1, or the match, of its last match)."""
    pattern = out.options.get("answer_pattern")
    if not pattern:
        return out.text.strip(), None
    rx = _compile(str(pattern), bool(out.options.get("ignore_case", True)))
    if isinstance(rx, str):
        return None, rx
    found = [m.group(1) if rx.groups else m.group(0) for m in rx.finditer(out.text)]
    answer = next((a for a in reversed(found) if a is not None), None)
    if answer is None:
        return None, "answer_pattern found no answer"
    return answer.strip(), None


def f1(out: Output) -> Score:
    """Token F1 in [0, 1] of the answer against its best target; option `answer_pattern`
    (a regex; group 1 of its last match) picks the answer out of the text first."""
    answer, problem = _answer(out)
    if answer is None:
        return Score(0.0, None, problem)
    shown = answer if len(answer) <= _ANSWER_CAP else answer[: _ANSWER_CAP - 1] + "…"
    wanted = [str(t) for t in targets(out.target)]
    if not wanted:
        return Score(0.0, shown, "no target")
    mine = tokens(answer)
    value, best = max((f1_of(mine, tokens(t)), t) for t in wanted)
    if value == 1.0:
        return Score(1.0, shown)
    if not mine:
        return Score(0.0, shown, "empty answer")
    return Score(value, shown, f"best target {best[:80]!r}: F1 {value:.2f}")
