"""Token estimates made without a tokenizer, for budgets, limits and answers without usage.

`estimate_*` is the typical count (four characters a token, plus a few tokens of framing per
message): used where a server gave no usage, and marked `usage_estimated` there.
`worst_case_prompt` is an upper bound for byte-level BPE tokenizers (no token is shorter
than one byte): used to reserve budget before a request is sent, so a cap is never passed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

CHARS_PER_TOKEN = 4
PER_MESSAGE = 4  # role and separators
PER_REQUEST = 3  # the assistant turn's priming
# A server's chat template may add its own tokens (a default system prompt, role markers):
# the worst case allows this many on top of the request's own bytes.
TEMPLATE_MARGIN = 256


def estimate_text(text: str | None) -> int:
    """Typical tokens in a piece of text: ceil(characters / 4)."""
    if not text:
        return 0
    return (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


def _content(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(p.get("text", "")) if isinstance(p, dict) else str(p) for p in content
        )
    return "" if content is None else str(content)


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def estimate_prompt(messages: Iterable[dict[str, Any]], tools: list[Any] | None = None) -> int:
    """Typical prompt tokens of a request's messages and tool definitions."""
    total = PER_REQUEST
    for m in messages:
        total += PER_MESSAGE + estimate_text(_content(m.get("content")))
        if m.get("tool_calls"):
            total += estimate_text(_dump(m["tool_calls"]))
    if tools:
        total += estimate_text(_dump(tools))
    return total


def worst_case_prompt(messages: Iterable[dict[str, Any]], tools: list[Any] | None = None) -> int:
    """An upper bound on prompt tokens: one token per UTF-8 byte, plus the framing and a
    margin for the server's chat template."""
    total = PER_REQUEST + TEMPLATE_MARGIN
    for m in messages:
        total += 2 * PER_MESSAGE + len(_content(m.get("content")).encode("utf-8", "replace"))
        if m.get("tool_calls"):
            total += len(_dump(m["tool_calls"]).encode("utf-8", "replace"))
    if tools:
        total += len(_dump(tools).encode("utf-8", "replace"))
    return total


def estimate_completion(
    text: str | None, reasoning: str | None = None, tool_calls: list[dict[str, Any]] | None = None,
    *, max_tokens: int | None = None, cut: bool = False,
) -> int:
    """Typical completion tokens of an answer: its text, reasoning and tool-call JSON; an
    answer cut by max_tokens used exactly max_tokens, and none uses more."""
    if cut and max_tokens:
        return max_tokens
    total = estimate_text(text) + estimate_text(reasoning)
    for call in tool_calls or ():
        fn = call.get("function") or {}
        total += estimate_text(str(fn.get("name") or "")) + estimate_text(
            str(fn.get("arguments") or "")
        )
    total = max(1, total)
    return min(total, max_tokens) if max_tokens else total
