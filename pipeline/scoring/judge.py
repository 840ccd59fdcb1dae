"""The LLM judge: a rubric rendered over a sample, an answer and its reference, sent to a judge
model, and the grade read back from its reply.

Only the pure parts live here (what the judge is asked, the key of that request, the grade in
a reply); sending, journaling and resuming judge requests are pipeline.judging's. A judge
request is known by `judge_key`: the judged answer's key (which fixes the prompt, the model
and the answer, since an answered item is never sent again) with everything that shapes the
judge's request (its model, rubric, system prompt and settings), so a changed rubric is a
new request and an unchanged one is never paid for twice.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from pipeline.sample_schema import LETTERS

# What a rubric may show: the last user message, every message, the answer judged, the
# sample's target (the reference) and its lettered choices.
FIELDS = ("question", "prompt", "answer", "target", "choices")
# Bump when the rendering of a field changes: every judge request is then a new one.
RENDER_VERSION = 1

DEFAULT_RUBRIC = """\
You are grading an answer to a question against a reference answer.

[Question]
{question}

[Reference answer]
{target}

[Answer to grade]
{answer}

Does the answer to grade reach the same final result as the reference answer? Judge only \
correctness: ignore style, length and the working shown. Explain your reasoning in one or two \
sentences, then end with one line: "GRADE: C" if it is correct, "GRADE: I" if it is \
incorrect, or "GRADE: P" if it is partly correct."""

DEFAULT_GRADE_PATTERN = r"GRADE:\s*\**([A-Za-z]+)"
DEFAULT_GRADES = {"C": 1.0, "P": 0.5, "I": 0.0}
NOT_JUDGED = "not judged yet"
CUT = "the judge's reply was cut"  # by its max_tokens, before a grade


def text_of(content: Any) -> str:
    """A message's content as text: a string, or the joined text of its text parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


def _question(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return text_of(message.get("content"))
    return ""


def _prompt(messages: list[dict[str, Any]]) -> str:
    return "\n\n".join(f"{m.get('role', '?')}: {text_of(m.get('content'))}" for m in messages)


def _target(target: Any) -> str:
    if target is None:
        return "(none given)"
    if isinstance(target, str):
        return target
    if isinstance(target, list | tuple):
        if len(target) == 1:
            return _target(target[0])
        return "any of: " + " | ".join(x if isinstance(x, str) else json.dumps(x)
                                       for x in target)
    return json.dumps(target, ensure_ascii=False)


def _answer(text: str | None, tool_calls: list[dict[str, Any]] | None) -> str:
    out = text or ""
    if tool_calls:
        calls = json.dumps(tool_calls, ensure_ascii=False)
        out = f"{out}\n[tool calls] {calls}" if out else f"[tool calls] {calls}"
    return out or "(empty answer)"


def render(options: dict[str, Any], messages: list[dict[str, Any]] | None,
           record: dict[str, Any]) -> list[dict[str, Any]]:
    """The judge's messages for one answered record (`messages`: the request it answered)."""
    choices = record.get("choices") or []
    values = {
        "question": _question(messages or []), "prompt": _prompt(messages or []),
        "answer": _answer(record.get("output_text"), record.get("tool_calls")),
        "target": _target(record.get("target")),
        "choices": "\n".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(choices)),
    }
    out = []
    if options.get("system"):
        out.append({"role": "system", "content": options["system"]})
    out.append({"role": "user", "content": options["rubric"].format_map(values)})
    return out


def needs_prompt(options: dict[str, Any]) -> bool:
    """Whether the rubric shows the request (so the judged record's messages are needed)."""
    return "{question}" in options["rubric"] or "{prompt}" in options["rubric"]


def body(options: dict[str, Any], model_id: str, messages: list[dict[str, Any]]
         ) -> dict[str, Any]:
    """The judge request's body."""
    return {"model": model_id, "messages": messages, "max_tokens": options["max_tokens"],
            "temperature": options["temperature"]}


def judge_key(judged_key: str, model_id: str, options: dict[str, Any]) -> str:
    """The judge request's stable key (see the module docstring)."""
    text = json.dumps(["judge", RENDER_VERSION, judged_key, model_id, options["rubric"],
                       options.get("system"), options["max_tokens"], options["temperature"]],
                      ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def grade(text: str | None, options: dict[str, Any]) -> tuple[float | None, str | None]:
    """(score, grade) from the judge's reply: the last match of the grade pattern, mapped by
    `grades` (case-insensitively when no exact key); (None, None) when it gave no grade, or
    (None, grade) for a grade the mapping does not know."""
    found = re.findall(options["grade_pattern"], text or "")
    if not found:
        return None, None
    last = found[-1]
    if isinstance(last, tuple):
        last = next((g for g in last if g), "")
    grades: dict[str, float] = options["grades"]
    if last in grades:
        return float(grades[last]), last
    folded = {k.casefold(): v for k, v in grades.items()}
    if last.casefold() in folded:
        return float(folded[last.casefold()]), last
    return None, last


def judge(out: Any) -> Any:
    """The `judge` scorer's entry in the registry. Its rows are scored from the judge's
    verdicts (pipeline.judging.JudgeScorer), never from an Output alone."""
    raise RuntimeError("the judge scores answers from its verdicts (pipeline.judging), "
                       "not from an Output")
