"""Strict request validation: a request body becomes a ChatRequest or a Heroku-style 400."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .models import Limits, ModelProfile, lookup
from .tokens import count_prompt

ROLES = ("system", "user", "assistant", "tool")
TOOL_CHOICES = ("none", "auto", "required")
THINKING_MIN_BUDGET = 1024
DEFAULT_TEMPERATURE = 1.0
_TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")

KNOWN_FIELDS = frozenset(
    {
        "model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p",
        "stream", "stop", "tools", "tool_choice", "extended_thinking",
        # accepted and ignored, per the contract
        "stream_options", "parallel_tool_calls", "response_format", "user", "metadata",
        "seed", "n", "presence_penalty", "frequency_penalty", "logit_bias",
        "allow_ignored_params",
    }
)  # fmt: skip


class RequestError(Exception):
    """A request the real API would refuse with 400 invalid_request_error."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"Invalid request: {detail}")
        self.message = f"Invalid request: {detail}"


@dataclass(slots=True)
class ChatRequest:
    """A validated chat request, normalised for the solvers and the responder."""

    model: ModelProfile
    limits: Limits
    messages: list[dict[str, Any]]
    max_tokens: int
    prompt_tokens: int
    stream: bool
    stop: list[str]
    tools: list[dict[str, Any]]
    tool_choice: str | dict[str, Any] | None
    thinking_budget: int
    include_reasoning: bool
    temperature: float
    seed: int | None
    include_usage: bool


def parse_request(
    body: Any, *, reject_unknown: bool = True, accept_any_model: bool = False
) -> ChatRequest:
    """Validate a decoded JSON body; raise RequestError naming the offending field."""
    if not isinstance(body, dict):
        raise RequestError("body must be a JSON object")
    if reject_unknown and body.get("allow_ignored_params") is not True:
        unknown = [key for key in body if key not in KNOWN_FIELDS]
        if unknown:
            raise RequestError(f"unknown field '{unknown[0]}'")
    model, limits = _model(body, accept_any_model)
    messages = _messages(body)
    max_tokens = _max_tokens(body, model, limits)
    temperature = _unit_interval(body, "temperature")
    top_p = _unit_interval(body, "top_p")
    if temperature is not None and top_p is not None and model.model_id.startswith("claude-"):
        raise RequestError("'temperature' and 'top_p' cannot both be specified for this model")
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise RequestError("'stream' must be a boolean")
    tools = _tools(body)
    tool_choice = _tool_choice(body, tools)
    budget, include = _thinking(body, limits, temperature, tool_choice)
    if max_tokens is None:
        max_tokens = limits.max_output_tokens
    prompt_tokens = count_prompt(messages, tools)
    _context(prompt_tokens, max_tokens, limits.context_window)
    return ChatRequest(
        model=model,
        limits=limits,
        messages=messages,
        max_tokens=max_tokens,
        prompt_tokens=prompt_tokens,
        stream=bool(stream),
        stop=_stop(body),
        tools=tools,
        tool_choice=tool_choice,
        thinking_budget=budget,
        include_reasoning=include,
        temperature=DEFAULT_TEMPERATURE if temperature is None else temperature,
        seed=_seed(body),
        include_usage=_include_usage(body),
    )


def _model(body: dict[str, Any], accept_any: bool) -> tuple[ModelProfile, Limits]:
    model_id = body.get("model")
    if model_id is None:
        raise RequestError("'model' field is required")
    if not isinstance(model_id, str):
        raise RequestError("'model' must be a string")
    found = lookup(model_id, accept_any=accept_any)
    if found is None:
        raise RequestError(f"'model' {model_id[:80]!r} is not a supported model id")
    return found


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    if messages is None:
        raise RequestError("'messages' field is required")
    if not isinstance(messages, list):
        raise RequestError("'messages' must be an array")
    if not messages:
        raise RequestError("'messages' must not be empty")
    call_ids: set[str] = set()
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise RequestError(f"'{where}' must be an object")
        role = message.get("role")
        if role not in ROLES:
            raise RequestError(f"'{where}.role' must be one of {', '.join(ROLES)}")
        content = message.get("content")
        calls = message.get("tool_calls") if role == "assistant" else None
        if calls is not None:
            call_ids.update(_assistant_tool_calls(calls, where))
            if not isinstance(content, str):
                raise RequestError(
                    f"'{where}.content' must be a string (\"\" when tool_calls are present)"
                )
        else:
            _content(content, where)
        if role == "tool":
            call_id = message.get("tool_call_id")
            if not isinstance(call_id, str) or not call_id:
                raise RequestError(f"'{where}.tool_call_id' is required for tool messages")
            if call_id not in call_ids:
                raise RequestError(
                    f"'{where}.tool_call_id' does not match any earlier assistant tool call"
                )
    return messages


def _content(content: Any, where: str) -> None:
    if isinstance(content, str):
        return
    if not isinstance(content, list) or not content:
        raise RequestError(f"'{where}.content' must be a string or a non-empty array of parts")
    for j, part in enumerate(content):
        if (
            not isinstance(part, dict)
            or part.get("type") != "text"
            or not isinstance(part.get("text"), str)
        ):
            raise RequestError(f'\'{where}.content[{j}]\' must be a {{"type": "text"}} part')


def _assistant_tool_calls(calls: Any, where: str) -> list[str]:
    if not isinstance(calls, list) or not calls:
        raise RequestError(f"'{where}.tool_calls' must be a non-empty array")
    ids = []
    for j, call in enumerate(calls):
        at = f"{where}.tool_calls[{j}]"
        if not isinstance(call, dict) or not isinstance(call.get("id"), str) or not call["id"]:
            raise RequestError(f"'{at}.id' is required")
        if call.get("type", "function") != "function":
            raise RequestError(f"'{at}.type' must be 'function'")
        function = call.get("function")
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise RequestError(f"'{at}.function.name' is required")
        if not isinstance(function.get("arguments"), str):
            raise RequestError(f"'{at}.function.arguments' must be a JSON string")
        ids.append(call["id"])
    return ids


def _max_tokens(body: dict[str, Any], model: ModelProfile, limits: Limits) -> int | None:
    chosen = None
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            raise RequestError(f"'{name}' must be an integer")
        if not 1 <= value <= limits.max_output_tokens:
            raise RequestError(
                f"'{name}' must be between 1 and {limits.max_output_tokens} for {model.model_id}, "
                f"got {value}"
            )
        chosen = value
    return chosen


def _context(prompt_tokens: int, max_tokens: int, window: int) -> None:
    """Prompt plus max_tokens must fit the context window (worded as Anthropic's API words it)."""
    if prompt_tokens > window:
        raise RequestError(f"prompt is too long: {prompt_tokens} tokens > {window} maximum")
    if prompt_tokens + max_tokens > window:
        raise RequestError(
            f"input length and `max_tokens` exceed context limit: {prompt_tokens} + {max_tokens}"
            f" > {window}, decrease input length or `max_tokens` and try again"
        )


def _seed(body: dict[str, Any]) -> int | None:
    """The body's integer seed; the contract has Heroku ignore it, so other values are ignored."""
    seed = body.get("seed")
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else None


def _include_usage(body: dict[str, Any]) -> bool:
    """stream_options.include_usage (OpenAI's opt-in to a usage chunk); False when not a bool."""
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def _unit_interval(body: dict[str, Any], name: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise RequestError(f"'{name}' must be a number")
    if not 0.0 <= value <= 1.0:
        raise RequestError(f"'{name}' must be between 0 and 1, got {value}")
    return float(value)


def _stop(body: dict[str, Any]) -> list[str]:
    stop = body.get("stop")
    if stop is None:
        return []
    if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop):
        raise RequestError("'stop' must be an array of non-empty strings")
    return stop


def _tools(body: dict[str, Any]) -> list[dict[str, Any]]:
    tools = body.get("tools")
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise RequestError("'tools' must be an array")
    names: set[str] = set()
    for i, tool in enumerate(tools):
        where = f"tools[{i}]"
        if not isinstance(tool, dict) or tool.get("type") != "function":
            raise RequestError(f"'{where}.type' must be 'function'")
        function = tool.get("function")
        if not isinstance(function, dict):
            raise RequestError(f"'{where}.function' must be an object")
        name = function.get("name")
        if not isinstance(name, str) or not _TOOL_NAME.fullmatch(name):
            raise RequestError(f"'{where}.function.name' must match ^[a-zA-Z0-9_-]{{1,64}}$")
        if name in names:
            raise RequestError(f"'{where}.function.name' {name!r} is a duplicate")
        names.add(name)
        description = function.get("description")
        if description is not None and not isinstance(description, str):
            raise RequestError(f"'{where}.function.description' must be a string")
        if "parameters" in function:
            _schema(function["parameters"], f"{where}.function.parameters")
    return tools


def _schema(schema: Any, where: str) -> None:
    if not isinstance(schema, dict) or schema.get("type") != "object":
        raise RequestError(f'\'{where}\' must be a JSON Schema object with "type": "object"')
    properties = schema.get("properties", {})
    if not isinstance(properties, dict) or any(
        not isinstance(p, dict) for p in properties.values()
    ):
        raise RequestError(f"'{where}.properties' must be an object of schemas")
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        raise RequestError(f"'{where}.required' must be an array of strings")


def _tool_choice(body: dict[str, Any], tools: list[dict[str, Any]]) -> str | dict[str, Any] | None:
    choice = body.get("tool_choice")
    if choice is None:
        return None
    if isinstance(choice, str):
        if choice not in TOOL_CHOICES:
            raise RequestError("'tool_choice' must be 'none', 'auto', 'required' or a function")
        if choice == "required" and not tools:
            raise RequestError("'tool_choice' is 'required' but no 'tools' were given")
        return choice
    function = choice.get("function") if isinstance(choice, dict) else None
    if (
        not isinstance(choice, dict)
        or choice.get("type") != "function"
        or not isinstance(function, dict)
        or not isinstance(function.get("name"), str)
    ):
        raise RequestError(
            "'tool_choice' must be 'none', 'auto', 'required' or "
            '{"type": "function", "function": {"name": ...}}'
        )
    if function["name"] not in {t["function"]["name"] for t in tools}:
        raise RequestError(f"'tool_choice' names {function['name']!r}, which is not in 'tools'")
    return choice


def _thinking(
    body: dict[str, Any],
    limits: Limits,
    temperature: float | None,
    tool_choice: str | dict[str, Any] | None,
) -> tuple[int, bool]:
    thinking = body.get("extended_thinking")
    if thinking is None:
        return 0, False
    if not isinstance(thinking, dict):
        raise RequestError("'extended_thinking' must be an object")
    enabled = thinking.get("enabled", False)
    include = thinking.get("include_reasoning", False)
    if not isinstance(enabled, bool):
        raise RequestError("'extended_thinking.enabled' must be a boolean")
    if not isinstance(include, bool):
        raise RequestError("'extended_thinking.include_reasoning' must be a boolean")
    if not enabled:
        return 0, False
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int) or isinstance(budget, bool):
        raise RequestError("'extended_thinking.budget_tokens' is required and must be an integer")
    cap = body.get("max_tokens") or body.get("max_completion_tokens") or limits.max_output_tokens
    if not THINKING_MIN_BUDGET <= budget < cap:
        raise RequestError(
            f"'extended_thinking.budget_tokens' must be >= {THINKING_MIN_BUDGET} and less than "
            f"max_tokens ({cap}), got {budget}"
        )
    if temperature is not None and temperature != 1.0:
        raise RequestError("'temperature' must be 1 when 'extended_thinking' is enabled")
    if tool_choice == "required" or isinstance(tool_choice, dict):
        raise RequestError(
            "'tool_choice' may not force tool use when 'extended_thinking' is enabled"
        )
    return budget, include
