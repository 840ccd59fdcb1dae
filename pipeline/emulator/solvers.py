"""Simulated model answers: dispatch a request to the task solvers, right at the model's rate.

Whether a draw is right, and how its wrong answers and text lengths vary, is described in
sampling.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from . import arithmetic, choices, code, instructions, judge, toolcalls, toolplan
from .prose import SENTENCES as _SENTENCES
from .rand import h64, normal, unit
from .sampling import is_correct
from .tokens import content_text
from .validation import ChatRequest


@dataclass(slots=True)
class Solution:
    """What the simulated model wants to say, before stop sequences and max_tokens apply."""

    kind: str
    content: str
    working: str
    tool_calls: list[dict[str, Any]] = field(default_factory=list)


def last_user_text(messages: list[dict[str, Any]]) -> str:
    """The text of the last user message (the prompt the solvers read)."""
    for message in reversed(messages):
        if message.get("role") == "user":
            return content_text(message.get("content"))
    return ""


def solve(request: ChatRequest, accuracy: float, *, seed: int = 0, draw: int = 0) -> Solution:
    """The answer of request.model to the request: deterministic from (seed, prompt, draw)."""
    model_id = request.model.model_id
    messages = request.messages
    prompt = last_user_text(messages)
    salt = f"{model_id}\x1f{prompt}"
    temperature = request.temperature
    if temperature > 0:
        pick = f"{salt}\x1f{seed}\x1f{draw}"
        correct = is_correct(unit("correct", salt), accuracy, temperature, normal("noise", pick))
    else:
        pick = salt
        correct = unit("correct", salt) < accuracy
    forced = request.tool_choice == "required" or isinstance(request.tool_choice, dict)
    if messages[-1].get("role") == "tool" and not (forced and request.tools):
        return _after_tool(messages, salt)
    if request.tools:
        solution = _tools(request, prompt, pick, correct)
        if solution is not None:
            return solution
    judged = judge.judge(prompt, accuracy, pick)  # before the others: it quotes their tasks
    if judged is not None:
        return Solution("judge", judged[0], judged[1])
    solved = code.solve(prompt, correct=correct, salt=pick)
    if solved is not None:
        return Solution("code", solved[0], solved[1])
    solved = choices.solve(prompt, correct=correct, salt=pick, guess_salt=salt if correct else pick)
    if solved is not None:
        return Solution("choice", solved[0], solved[1])
    # before arithmetic: "Write a 300+ word essay" is no sum; each instruction has its own draw
    followed = instructions.respond(prompt, accuracy, salt=salt, pick=pick, temperature=temperature)
    if followed is not None:
        return Solution("instructions", followed[0], followed[1])
    solved = arithmetic.solve(prompt, correct=correct, salt=pick)
    if solved is not None:
        return Solution("arithmetic", solved[0], solved[1])
    return _text(prompt, salt, pick, temperature)


def _tools(request: ChatRequest, prompt: str, salt: str, correct: bool) -> Solution | None:
    """Tool calls for the request, or None to answer in text. Whether a tool fits and how many
    calls the prompt asks for come from toolplan; a wrong draw misjudges the fit (declines a
    tool that fits no better than it calls one that does not fit), drops or spoils one of
    several calls, or picks the wrong tool or arguments for a single one."""
    ranked = toolcalls.choose(request.tools, request.tool_choice, prompt)
    if not ranked:  # no tool shares a word with the prompt; a wrong draw calls one anyway
        if correct or request.tool_choice == "none":
            return None
        ranked = toolcalls.choose(request.tools, "required", prompt)
    forced = isinstance(request.tool_choice, dict)
    if request.tool_choice != "required" and not forced:
        if not toolplan.fits(request.tools[ranked[0]], prompt):
            if correct:
                return _decline(request.tools, prompt)
            correct = True  # the mistake is the call itself: made as if the tool fitted
    planned = [toolplan.Planned(ranked[0], {})] if forced else toolplan.plan(
        request.tools, ranked, prompt)
    if len(planned) > 1:
        return _several(request, planned, salt, correct)
    index = ranked[0]
    wrong_tool = not correct and not forced and len(ranked) > 1 and unit("wrong-tool", salt) < 0.2
    if wrong_tool:
        index = ranked[1]
    tool = request.tools[index]
    args = toolcalls.fill_arguments(tool, prompt)
    if not correct and not wrong_tool:
        corrupted = toolcalls.corrupt(tool, args, salt)
        if corrupted is not None:
            args = corrupted
        elif len(ranked) > 1 and not forced:
            tool = request.tools[ranked[1]]
            args = toolcalls.fill_arguments(tool, prompt)
    call = _call(request, tool, args, salt, 0)
    name = tool["function"]["name"]
    working = f"The request fits the {name} tool. I will call it with {_args(args)}."
    return Solution("tool", "", working, [call])


def _several(request: ChatRequest, planned: list[toolplan.Planned], salt: str, correct: bool
             ) -> Solution:
    """Several calls in one answer; a wrong draw leaves one out or spoils its arguments."""
    planned = list(planned)
    if not correct:
        at = h64("wrong-call", salt) % len(planned)
        tool = request.tools[planned[at].index]
        spoiled = toolcalls.corrupt(tool, planned[at].arguments, salt)
        if spoiled is None or unit("drop-call", salt) < 0.5:
            del planned[at]
        else:
            planned[at] = toolplan.Planned(planned[at].index, spoiled)
    calls = [_call(request, request.tools[p.index], p.arguments, salt, i)
             for i, p in enumerate(planned)]
    names = sorted({c["function"]["name"] for c in calls})
    working = (f"The request asks for {len(calls)} things; I will call {', '.join(names)} "
               f"{len(calls)} times in all.")
    return Solution("tool", "", working, calls)


def _call(request: ChatRequest, tool: dict[str, Any], args: dict[str, Any], salt: str,
          i: int) -> dict[str, Any]:
    """One tool call as the answer carries it (the first one's id as it always was)."""
    parts = ("toolu", salt, len(request.messages)) + ((i,) if i else ())
    call_id = f"toolu_{h64(*parts):016x}"
    return {"id": call_id, "type": "function",
            "function": {"name": tool["function"]["name"], "arguments": _args(args)}}


def _args(args: dict[str, Any]) -> str:
    return json.dumps(args, ensure_ascii=False, separators=(",", ":"))


def _decline(tools: list[dict[str, Any]], prompt: str) -> Solution:
    """A text answer saying no tool fits the request."""
    names = ", ".join(t["function"]["name"] for t in tools[:4])
    content = ("None of the tools I have can do this: they are for something else "
               f"({names}). I cannot answer it with them.")
    topic = " ".join(prompt.split()[:8]).rstrip("?.!,;:")
    return Solution("text", content, f'No tool fits "{topic}", so I will not call one.')


def _after_tool(messages: list[dict[str, Any]], salt: str) -> Solution:
    result = content_text(messages[-1].get("content")).strip()
    name = "the tool"
    call_id = messages[-1].get("tool_call_id")
    for message in reversed(messages):
        for call in message.get("tool_calls") or []:
            if call.get("id") == call_id:
                name = call["function"]["name"]
                break
    shown = result if len(result) <= 300 else result[:297] + "..."
    content = f"According to {name}, the result is: {shown}"
    return Solution("tool_result", content, f"{name} returned {shown}. I will report it.")


def _text(prompt: str, salt: str, pick: str, temperature: float) -> Solution:
    target = 22 + h64("length", salt) % 179
    if temperature > 0:  # the draw stretches or shrinks the answer by up to 30 % at T = 1
        target = max(8, round(target * (1 + 0.3 * temperature * (2 * unit("length", pick) - 1))))
    topic = " ".join(prompt.split()[:8]).rstrip("?.!,;:")
    parts = [f'Here is a brief answer about "{topic}".' if topic else "Here is a brief answer."]
    start = h64("start", salt) % len(_SENTENCES)
    size = len(parts[0])
    i = 0
    limit = target * 4
    while size < limit:
        sentence = _SENTENCES[(start + i) % len(_SENTENCES)]
        parts.append(sentence)
        size += len(sentence) + 1
        i += 1
    text = " ".join(parts)
    if len(text) > limit:
        cut = text[:limit]
        end = cut.rfind(". ") + 1
        if end >= limit * 0.8:
            text = cut[:end]
        else:
            text = cut[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:") + "."
    working = f'The user wrote: "{topic}". A short, general reply of about {target} tokens fits.'
    return Solution("text", text, working)
