"""Cheap deterministic token arithmetic: one token is four characters, rounded up."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

CHARS_PER_TOKEN = 4
PER_MESSAGE = 4


def count_text(text: str) -> int:
    """Tokens in a piece of text: ceil(len / 4)."""
    return (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


def content_text(content: Any) -> str:
    """The text of a message's content: a string, or the joined text of its text parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def count_prompt(messages: list[dict[str, Any]], tools: list[Any] | None = None) -> int:
    """Prompt tokens: each message's text plus 4, plus tool-call JSON and tool schemas / 4."""
    total = 0
    for message in messages:
        total += PER_MESSAGE + count_text(content_text(message.get("content")))
        calls = message.get("tool_calls")
        if calls:
            total += count_text(json.dumps(calls, separators=(",", ":")))
    if tools:
        total += count_text(json.dumps(tools, separators=(",", ":")))
    return total


def truncate_to_tokens(text: str, max_tokens: int) -> str:
    """The longest prefix of text that counts as at most max_tokens tokens."""
    limit = max(0, max_tokens) * CHARS_PER_TOKEN
    return text if len(text) <= limit else text[:limit]


def split_pieces(text: str, tokens_per_piece: int = 3) -> Iterator[str]:
    """Split text into stream pieces of a few tokens each (the last may be shorter)."""
    step = max(1, tokens_per_piece) * CHARS_PER_TOKEN
    for start in range(0, len(text), step):
        yield text[start : start + step]
