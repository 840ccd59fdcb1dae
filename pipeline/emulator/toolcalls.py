"""Tool-call solver: picks a tool by keyword overlap and fills its arguments from the prompt."""

from __future__ import annotations

import re
from typing import Any

from .rand import h64

_WORD = re.compile(r"[a-z0-9]+")
# A number, with thousands commas ("2,000,000"; "45, 100" is two numbers).
_NUMBER = re.compile(r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+(?![\d])|\d+)(?:\.\d+)?(?![\w.]\d)")
# A bracketed list of numbers, "[3, -2, 1]": an array argument's value, not separate numbers.
_NUMBER_LIST = re.compile(r"\[\s*-?\d[-\d.,\s]*\]")
_CAPS = re.compile(r"\b[A-Z]{2,5}\b")
_TOKEN = re.compile(r"[^\s]+")
_STOP = frozenset(
    """a an and are as at be by can could do e eg for from g get give in is it its me my
    now of on or please right s set show tell that the this to use what whats which with
    would you your i""".split()
)
_STARTERS = frozenset(
    "what whats please convert tell how show get find give is can could i when where who "
    "which why would will do does".split()
)
_CONNECTORS = frozenset({"de", "del", "da", "la", "le", "of", "upon", "am", "al"})
_ENDERS = (".", "?", "!")
_CLOSERS = "\"'”’)]}"
_CODE_HINTS = ("code", "currency", "ticker", "symbol")
_OTHER_PLACES = ("London", "Berlin", "Madrid", "Sydney", "Toronto", "Cairo")


def words(text: str) -> set[str]:
    out = set()
    for word in _WORD.findall(text.lower()):
        if word in _STOP:
            continue
        out.add(word[:-1] if len(word) > 3 and word.endswith("s") else word)
    return out


def _function(tool: dict[str, Any]) -> dict[str, Any]:
    return tool["function"]


def properties(tool: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return _function(tool).get("parameters", {}).get("properties", {}) or {}


def score(tool: dict[str, Any], prompt_words: set[str], codes: int = 0) -> int:
    """Keyword overlap with a tool (name words twice, other text once), plus CODE matches."""
    fn = _function(tool)
    name_words = words(fn["name"].replace("_", " ").replace("-", " "))
    other = [fn.get("description") or ""]
    for prop_name, prop in properties(tool).items():
        other.append(prop_name.replace("_", " "))
        other.append(str(prop.get("description") or ""))
        other.extend(str(v) for v in prop.get("enum", []) or [])
    other_words = words(" ".join(other)) - name_words
    code_props = sum(is_code(n, p) for n, p in properties(tool).items())
    overlap = 2 * len(prompt_words & name_words) + len(prompt_words & other_words)
    return overlap + min(codes, code_props)


def choose(
    tools: list[dict[str, Any]], tool_choice: str | dict[str, Any] | None, prompt: str
) -> list[int]:
    """Tool indexes ranked best first, or [] when the model should answer in text."""
    if not tools or tool_choice == "none":
        return []
    if isinstance(tool_choice, dict):
        forced = tool_choice["function"]["name"]
        return [i for i, t in enumerate(tools) if _function(t)["name"] == forced]
    prompt_words = words(prompt)
    codes = len(_CAPS.findall(prompt))
    scores = [score(t, prompt_words, codes) for t in tools]
    ranked = sorted(range(len(tools)), key=lambda i: (-scores[i], i))
    if tool_choice != "required" and scores[ranked[0]] == 0:
        return []
    return ranked


class Pools:
    """Values found in the prompt, handed out in order: numbers, CODES and Capitalized Names."""

    def __init__(self, prompt: str) -> None:
        self.lists = [_numbers_in(m.group()) for m in _NUMBER_LIST.finditer(prompt)]
        if self.lists:
            prompt = _NUMBER_LIST.sub(" ", prompt)
        self.numbers = _NUMBER.findall(prompt)
        self.codes = _CAPS.findall(prompt)
        self.names = _capitalized_phrases(prompt)

    def take(self, pool: list[str]) -> str | None:
        return pool.pop(0) if pool else None


def _numbers_in(text: str) -> list[int | float]:
    return [_as_number(n, "number") for n in re.findall(r"-?\d+(?:\.\d+)?", text)]


def _as_number(text: str, kind: str) -> int | float:
    number = float(text.replace(",", ""))
    return int(number) if kind == "integer" or "." not in text else number


def _capitalized_phrases(text: str) -> list[str]:
    matches = list(_TOKEN.finditer(text))
    words = [_clean(m.group()) for m in matches]
    caps = [_is_cap(w) for w in words]
    phrases: list[str] = []
    current: list[str] = []
    for i, match in enumerate(matches):
        raw, word = match.group(), words[i]
        nxt_cap = i + 1 < len(matches) and caps[i + 1]
        sentence_start = i == 0 or matches[i - 1].group().rstrip(_CLOSERS).endswith(_ENDERS)
        sentence_start = sentence_start or "\n" in text[matches[i - 1].end() : match.start()]
        if caps[i] and not (sentence_start and (word.lower() in _STARTERS or not nxt_cap)):
            current.append(word)
        elif current and word.lower() in _CONNECTORS and nxt_cap:
            current.append(word)
        else:
            _flush(current, phrases)
        if raw.rstrip(_CLOSERS) != raw or raw.endswith((",", ".", "?", "!", ";", ":")):
            _flush(current, phrases)
    _flush(current, phrases)
    return phrases


def _clean(raw: str) -> str:
    word = raw.strip(_CLOSERS + "([{“‘,;:!?.")
    return word[:-2] if word.endswith(("'s", "’s")) else word


def _is_cap(word: str) -> bool:
    letters = word.replace("-", "").replace("'", "")
    return len(word) > 1 and word[0].isupper() and not word.isupper() and letters.isalpha()


def _flush(current: list[str], phrases: list[str]) -> None:
    while current and current[-1].lower() in _CONNECTORS:
        current.pop()
    if current:
        phrases.append(" ".join(current))
    current.clear()


def is_code(name: str, prop: dict[str, Any]) -> bool:
    text = f"{name} {prop.get('description') or ''}".lower()
    return any(hint in text for hint in _CODE_HINTS)


def fill_arguments(tool: dict[str, Any], prompt: str, pools: Pools | None = None
                   ) -> dict[str, Any]:
    """Arguments for a tool from the prompt, following its JSON Schema properties in order;
    `pools`: the values to hand out, when not all of the prompt's (one of several calls)."""
    params = _function(tool).get("parameters", {})
    required = set(params.get("required", []) or [])
    pools = Pools(prompt) if pools is None else pools
    lowered = prompt.lower()
    args: dict[str, Any] = {}
    for name, prop in properties(tool).items():
        value = _value(name, prop, pools, lowered, name in required)
        if value is not None:
            args[name] = value
    return args


def _value(name: str, prop: dict[str, Any], pools: Pools, lowered: str, required: bool) -> Any:
    enum = prop.get("enum")
    kind = prop.get("type")
    if isinstance(enum, list) and enum:
        for option in enum:
            if re.search(rf"\b{re.escape(str(option).lower())}\b", lowered):
                return option
        return enum[0] if required else None
    if kind in ("number", "integer"):
        text = pools.take(pools.numbers)
        if text is None:
            return 0 if required else None
        return _as_number(text, kind)
    if kind == "boolean":
        return False if required else None
    if kind == "string" or kind is None:
        pool = pools.codes if is_code(name, prop) else pools.names
        text = pools.take(pool)
        return text if text is not None else ("" if required else None)
    items = prop.get("items") if isinstance(prop.get("items"), dict) else {}
    if kind == "array" and items.get("type") in ("number", "integer") and pools.lists:
        return [int(n) if items["type"] == "integer" else n for n in pools.lists.pop(0)]
    if required:
        return [] if kind == "array" else {}
    return None


def corrupt(tool: dict[str, Any], args: dict[str, Any], salt: str) -> dict[str, Any] | None:
    """A plausibly wrong version of the arguments, or None if there is nothing to get wrong."""
    props = properties(tool)
    options: list[dict[str, Any]] = []
    for name, value in args.items():
        prop = props.get(name, {})
        enum = prop.get("enum")
        if isinstance(enum, list) and len(enum) > 1:
            options.append({**args, name: enum[(enum.index(value) + 1) % len(enum)]})
        elif isinstance(value, bool):
            options.append({**args, name: not value})
        elif isinstance(value, int | float):
            options.append({**args, name: value * 10 if value else 1})
        elif isinstance(value, str) and not is_code(name, prop):
            others = [p for p in _OTHER_PLACES if p != value]
            options.append({**args, name: others[h64("place", salt) % len(others)]})
    codes = [n for n, v in args.items() if isinstance(v, str) and is_code(n, props.get(n, {}))]
    if len(codes) >= 2 and args[codes[0]] != args[codes[1]]:
        options.append({**args, codes[0]: args[codes[1]], codes[1]: args[codes[0]]})
    if not options:
        return None
    return options[h64("corrupt", salt) % len(options)]
