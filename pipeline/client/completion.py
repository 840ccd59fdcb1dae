"""Mapping chat-completion answers (whole bodies and streamed chunks) to `Completion`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

_REASONING_KEYS = ("thinking", "text", "content", "summary", "reasoning")


@dataclass(slots=True)
class Completion:
    """A successful answer, with its usage (None where the server gave none), timing, transport."""

    text: str | None
    reasoning: str | None
    tool_calls: list[dict]
    finish_reason: str | None
    usage: dict | None  # the server's usage object as sent; None when it sent none
    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None
    response_id: str | None
    model: str | None
    http_status: int = 200
    request_id: str | None = None
    latency_s: float = 0.0  # the last attempt: send to end of body
    elapsed_s: float = 0.0  # the whole request: first send to answer, waits included
    ttft_s: float | None = None
    attempts: int = 1
    rate_limit: dict[str, str] = field(default_factory=dict)

    @property
    def usage_known(self) -> bool:
        """Whether the server gave both the prompt and the completion token counts."""
        return self.prompt_tokens is not None and self.completion_tokens is not None


class BodyError(Exception):
    """A 2xx body that is not a usable answer; the client turns it into a ChatError."""

    def __init__(
        self, message: str, *, code: object = None, type_: object = None, protocol: bool = True
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.type = type_
        self.protocol = protocol  # True: malformed/truncated; False: the server reported an error


def error_fields(payload: object) -> tuple[str | None, object, object]:
    """(message, code, type) from an error body `{"error": {...}}`, tolerating odd shapes."""
    if not isinstance(payload, dict):
        return (payload if isinstance(payload, str) and payload else None), None, None
    err = payload.get("error", payload)
    if isinstance(err, dict):
        message = err.get("message") or err.get("detail") or err.get("error")
        if message is not None and not isinstance(message, str):
            message = json.dumps(message)[:200]
        return message, err.get("code") or err.get("status"), err.get("type")
    if isinstance(err, str):
        return err, payload.get("code"), payload.get("type")
    message = payload.get("message") or payload.get("detail")
    return (message if isinstance(message, str) else None), payload.get("code"), None


def parse_error_body(body: bytes) -> tuple[str | None, object, object]:
    """(message, code, type) of a non-2xx body that may or may not be JSON."""
    if not body:
        return None, None, None
    try:
        payload = json.loads(body)
    except ValueError:
        text = body[:400].decode("utf-8", "replace").strip()
        return (text or None), None, None
    return error_fields(payload)


def reasoning_text(value: object) -> str | None:
    """The text inside a reasoning value: a string, {"thinking": ...}, or a list of those."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        for key in _REASONING_KEYS:
            found = reasoning_text(value.get(key))
            if found is not None:
                return found
        return None
    if isinstance(value, list):
        parts = [p for p in map(reasoning_text, value) if p is not None]
        return "".join(parts) if parts else None
    return None


def content_text(value: object) -> str | None:
    """Message content as a string: a string, or the joined text parts of a list."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(p.get("text") or "" if isinstance(p, dict) else str(p) for p in value)
    return str(value)


def _arguments(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _dict(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _tool_calls(value: object) -> list[dict]:
    """Tool calls from a list of calls, a lone call object, or nothing usable."""
    calls = [value] if isinstance(value, dict) else value if isinstance(value, list) else ()
    return [_tool_call(c) for c in calls]


def _tool_call(call: object) -> dict:
    call = _dict(call)
    fn = _dict(call.get("function"))
    return {
        "id": call.get("id"),
        "type": call.get("type") or "function",
        "function": {"name": fn.get("name"), "arguments": _arguments(fn.get("arguments"))},
    }


def _usage_counts(usage: dict | None) -> tuple[int | None, int | None, int | None]:
    """(prompt, completion, total) counts, None for each the server did not give."""
    if not usage:
        return None, None, None
    prompt = _count(usage.get("prompt_tokens"))
    if prompt is None:
        prompt = _count(usage.get("input_tokens"))
    completion = _count(usage.get("completion_tokens"))
    if completion is None:
        completion = _count(usage.get("output_tokens"))
    total = _count(usage.get("total_tokens"))
    if total is None and prompt is not None and completion is not None:
        total = prompt + completion
    return prompt, completion, total


def _count(value: object) -> int | None:
    """A token count as sent (int, integral float or digit string), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float):
        return int(value) if value.is_integer() and value >= 0 else None
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _first_choice(choices: list) -> dict | None:
    for choice in choices:
        if isinstance(choice, dict) and choice.get("index") in (0, None):
            return choice
    return None


def _check_error(payload: dict) -> None:
    err = payload.get("error")
    if err:
        message, code, type_ = error_fields(payload)
        raise BodyError(message or "error in response body", code=code, type_=type_, protocol=False)


def parse_completion(payload: Any) -> Completion:
    """A whole `chat.completion` body as a Completion; BodyError when it is not one."""
    if not isinstance(payload, dict):
        raise BodyError("response body is not a JSON object")
    choices = payload.get("choices")
    if not choices or not isinstance(choices, list):
        _check_error(payload)
        raise BodyError("response has no choices")
    choice = choices[0] if isinstance(choices[0], dict) else {}
    message = choice.get("message") or {}
    if not isinstance(message, dict):
        raise BodyError("choice message is not a JSON object")
    reasoning = reasoning_text(message.get("reasoning"))
    if reasoning is None:
        reasoning = reasoning_text(message.get("reasoning_content"))
    usage = payload.get("usage")
    usage = usage if isinstance(usage, dict) else None
    prompt, completion, total = _usage_counts(usage)
    return Completion(
        text=content_text(message.get("content")),
        reasoning=reasoning,
        tool_calls=_tool_calls(message.get("tool_calls")),
        finish_reason=choice.get("finish_reason"),
        usage=usage,
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=total,
        response_id=payload.get("id"),
        model=payload.get("model"),
    )


class StreamAssembler:
    """Join `chat.completion.chunk`s: content, reasoning, tool-call fragments by index, usage."""

    __slots__ = ("_text", "_reasoning", "_calls", "finish_reason", "usage", "id", "model", "done")

    def __init__(self) -> None:
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._calls: dict[int, dict] = {}
        self.finish_reason: str | None = None
        self.usage: dict | None = None
        self.id: str | None = None
        self.model: str | None = None
        self.done = False

    def add(self, chunk: object) -> bool:
        """Fold one chunk in; True when it carried content, reasoning or a tool-call delta."""
        if not isinstance(chunk, dict):
            raise BodyError("stream chunk is not a JSON object")
        if chunk.get("error"):
            _check_error(chunk)
        if self.id is None:
            self.id = chunk.get("id")
            self.model = chunk.get("model")
        elif self.model is None:
            self.model = chunk.get("model")
        usage = chunk.get("usage")
        if isinstance(usage, dict):  # later counts win; earlier-only fields are kept
            self._add_usage(usage)
        choices = chunk.get("choices")
        if not choices or not isinstance(choices, list):
            return False
        choice = choices[0]
        if not isinstance(choice, dict):
            return False
        if choice.get("index") not in (0, None):  # n > 1: keep the first, as parse_completion
            choice = _first_choice(choices)
            if choice is None:
                return False
        finish = choice.get("finish_reason")
        if finish:
            self.finish_reason = finish
        delta = choice.get("delta") or choice.get("message")
        if not isinstance(delta, dict):
            return False
        seen = False
        content = delta.get("content")
        if content:
            self._text.append(content if isinstance(content, str) else content_text(content) or "")
            seen = True
        reasoning = delta.get("reasoning")
        if reasoning is None:
            reasoning = delta.get("reasoning_content")
        if reasoning:
            piece = reasoning if isinstance(reasoning, str) else reasoning_text(reasoning)
            if piece:
                self._reasoning.append(piece)
                seen = True
        calls = delta.get("tool_calls")
        if calls and isinstance(calls, list):
            for fragment in calls:
                if isinstance(fragment, dict):
                    self._add_call(fragment)
            seen = True
        return seen

    def _add_usage(self, usage: dict) -> None:
        if self.usage is None:
            self.usage = {}
        # A null is not a count: it must not hide one sent in an earlier chunk.
        self.usage.update((k, v) for k, v in usage.items() if v is not None)

    def _add_call(self, fragment: dict) -> None:
        index = fragment.get("index")
        if not isinstance(index, int):
            # No index: a new id starts a call; otherwise continue the last one.
            last = max(self._calls) if self._calls else -1
            fid = fragment.get("id")
            if last < 0 or (fid and fid != self._calls[last]["id"]):
                index = last + 1
            else:
                index = last
        fn = _dict(fragment.get("function"))
        call = self._calls.get(index)
        if call is None:
            call = {"id": None, "type": "function", "function": {"name": None, "arguments": ""}}
            self._calls[index] = call
        if fragment.get("id") and not call["id"]:
            call["id"] = fragment["id"]
        if fragment.get("type"):
            call["type"] = fragment["type"]
        if fn.get("name") and not call["function"]["name"]:
            call["function"]["name"] = fn["name"]
        args = fn.get("arguments")
        if args:
            call["function"]["arguments"] += _arguments(args)

    def result(self) -> Completion:
        """The joined answer; BodyError when the stream was truncated."""
        if not self.done:
            raise BodyError("stream ended without [DONE] (truncated)")
        if self.finish_reason is None:
            raise BodyError("stream ended without a finish_reason (truncated)")
        usage = self.usage
        prompt, completion, total = _usage_counts(usage)
        return Completion(
            text="".join(self._text) if self._text else None,
            reasoning="".join(self._reasoning) if self._reasoning else None,
            tool_calls=[self._calls[i] for i in sorted(self._calls)],
            finish_reason=self.finish_reason,
            usage=usage,
            prompt_tokens=prompt,
            completion_tokens=completion,
            total_tokens=total,
            response_id=self.id,
            model=self.model,
        )
