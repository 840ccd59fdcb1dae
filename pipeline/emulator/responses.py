"""Turn a solution into a reply (stop, max_tokens, reasoning) and encode it as JSON or SSE."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .solvers import Solution
from .tokens import count_text, split_pieces, truncate_to_tokens
from .validation import ChatRequest

REASONING_PREFIX = "Let me work through this step by step.\n"
DONE = b"data: [DONE]\n\n"
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _utf8(text: str) -> bytes:
    """UTF-8 bytes of JSON text; a lone surrogate (valid in a JSON request) becomes its escape."""
    return text.encode("utf-8", "backslashreplace")


@dataclass(slots=True)
class Reply:
    """The final assistant turn with its usage, ready to encode."""

    content: str
    reasoning: str
    include_reasoning: bool
    reasoning_tokens: int
    tool_calls: list[dict[str, Any]]
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    thinking: bool

    def usage(self) -> dict[str, Any]:
        """The usage object; total is always prompt + completion."""
        usage: dict[str, Any] = {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }
        if self.thinking:
            usage["completion_tokens_details"] = {"reasoning_tokens": self.reasoning_tokens}
        return usage


def build_reply(request: ChatRequest, solution: Solution) -> Reply:
    """Apply the thinking budget, stop sequences and max_tokens to a solution."""
    reasoning = ""
    if request.thinking_budget:
        reasoning = truncate_to_tokens(REASONING_PREFIX + solution.working, request.thinking_budget)
    reasoning_tokens = count_text(reasoning)
    room = request.max_tokens - reasoning_tokens
    content = solution.content
    finish = "tool_calls" if solution.tool_calls else "stop"
    tool_calls = solution.tool_calls
    for stop in request.stop:
        at = content.find(stop)
        if at >= 0:
            content = content[:at]
    tool_tokens = sum(
        count_text(c["function"]["name"]) + count_text(c["function"]["arguments"])
        for c in tool_calls
    )
    if tool_tokens > room:
        tool_calls, tool_tokens, content, finish = [], 0, "", "length"
    if count_text(content) > room:
        content = truncate_to_tokens(content, room)
        finish = "length"
    completion = max(1, reasoning_tokens + count_text(content) + tool_tokens)
    return Reply(
        content=content,
        reasoning=reasoning,
        include_reasoning=request.include_reasoning,
        reasoning_tokens=reasoning_tokens,
        tool_calls=tool_calls,
        finish_reason=finish,
        prompt_tokens=request.prompt_tokens,
        completion_tokens=completion,
        thinking=bool(request.thinking_budget),
    )


def completion_body(
    reply: Reply,
    *,
    response_id: str,
    created: int,
    model: str,
    fingerprint: str,
    usage: bool = True,
) -> bytes:
    """The non-streaming ``chat.completion`` JSON body (without ``usage`` if usage is False)."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.content, "refusal": None}
    if reply.tool_calls:
        message["tool_calls"] = reply.tool_calls
    if reply.include_reasoning and reply.reasoning:
        message["reasoning"] = {"thinking": reply.reasoning}
    body = {
        "id": response_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "system_fingerprint": fingerprint,
        "choices": [{"index": 0, "finish_reason": reply.finish_reason, "message": message}],
    }
    if usage:
        body["usage"] = reply.usage()
    return _utf8(_dumps(body))


def stream_events(
    reply: Reply,
    *,
    response_id: str,
    created: int,
    model: str,
    fingerprint: str,
    usage: bool = True,
    usage_null: bool = False,
) -> list[tuple[bytes, int]]:
    """The SSE events of a streamed answer, each with the tokens it carries (for pacing).

    As the contract documents, finish_reason rides on the last content (or tool-call) chunk,
    not on a chunk of its own; a usage chunk with empty choices (if usage) and [DONE] follow.
    With usage_null every other chunk says ``"usage":null``, as OpenAI's include_usage does.
    """
    model = _dumps(model)  # any id is accepted with accept_any_model: quote it as JSON
    head = (
        f'data: {{"id":"{response_id}","object":"chat.completion.chunk","created":{created},'
        f'"model":{model},"system_fingerprint":"{fingerprint}","choices":[{{"index":0,"delta":'
    )
    deltas: list[tuple[dict[str, Any], int]] = [({"role": "assistant", "content": ""}, 0)]
    if reply.include_reasoning:
        for piece in split_pieces(reply.reasoning, 6):
            deltas.append(({"reasoning": {"thinking": piece}}, count_text(piece)))
    hidden = len(deltas) if not reply.include_reasoning and reply.reasoning_tokens else -1
    for piece in split_pieces(reply.content):
        deltas.append(({"content": piece}, count_text(piece)))
    for index, call in enumerate(reply.tool_calls):
        fn = call["function"]
        first = {"index": index, "id": call["id"], "type": "function"}
        first["function"] = {"name": fn["name"], "arguments": ""}
        deltas.append(({"tool_calls": [first]}, count_text(fn["name"])))
        for piece in split_pieces(fn["arguments"], 2):
            fragment = {"index": index, "function": {"arguments": piece}}
            deltas.append(({"tool_calls": [fragment]}, count_text(piece)))
    if len(deltas) == 1:  # nothing to say: the finish_reason still gets a chunk after the role
        deltas.append(({}, 0))
    if hidden >= 0:  # hidden thinking still takes time before the first visible piece
        hidden = min(hidden, len(deltas) - 1)
        delta, tokens = deltas[hidden]
        deltas[hidden] = (delta, tokens + reply.reasoning_tokens)
    last = len(deltas) - 1
    tail = ',"usage":null}' if usage_null else "}"
    events = []
    for i, (delta, tokens) in enumerate(deltas):
        finish = f'"{reply.finish_reason}"' if i == last else "null"
        data = f'{head}{_dumps(delta)},"finish_reason":{finish}}}]{tail}\n\n'
        events.append((_utf8(data), tokens))
    if usage:
        chunk = (
            f'data: {{"id":"{response_id}","object":"chat.completion.chunk","created":{created},'
            f'"model":{model},"system_fingerprint":"{fingerprint}","choices":[],'
            f'"usage":{_dumps(reply.usage())}}}\n\n'
        )
        events.append((_utf8(chunk), 0))
    events.append((DONE, 0))
    return events
