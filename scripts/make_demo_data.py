"""Generate the bundled demo datasets (deterministic): arithmetic, multiple choice, tool calls.

Each is written as JSONL and Parquet under datasets/demo/. Run: python scripts/make_demo_data.py
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

SEED = 20261125
OUT = Path(__file__).resolve().parent.parent / "datasets" / "demo"

WORDS = [
    "apple", "river", "mountain", "violet", "anchor", "harbor", "lantern", "meadow", "orbit",
    "pepper", "quartz", "saddle", "timber", "umbrella", "walnut", "yonder", "zephyr", "bramble",
    "cobalt", "dynamo", "ember", "falcon", "glacier", "hollow", "island", "jasmine", "kettle",
    "lagoon", "marble", "nectar", "oyster", "pebble", "quiver", "raven", "summit", "tundra",
]
CITIES = ["Paris", "Tokyo", "Berlin", "Madrid", "Lisbon", "Oslo", "Cairo", "Lima", "Sydney",
          "Toronto", "Chicago", "Nairobi", "Seoul", "Dublin", "Vienna", "New York", "Mexico City",
          "Buenos Aires"]
CURRENCIES = ["USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "SEK"]

TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "Get the current weather for a city.",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "description": "City name, e.g. Paris"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
            "required": ["city", "unit"]}}},
    {"type": "function", "function": {
        "name": "convert_currency",
        "description": "Convert an amount of money between currencies at the current "
                       "exchange rate.",
        "parameters": {"type": "object", "properties": {
            "amount": {"type": "number"},
            "from_currency": {"type": "string", "description": "ISO 4217 currency code, e.g. USD"},
            "to_currency": {"type": "string", "description": "ISO 4217 currency code"}},
            "required": ["amount", "from_currency", "to_currency"]}}},
    {"type": "function", "function": {
        "name": "get_local_time", "description": "Get the local time in a city.",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "description": "City name"}},
            "required": ["city"]}}},
]


def arithmetic(rng: random.Random, n: int) -> list[dict]:
    """Integer expressions with + - * and parentheses; the target is the value."""
    rows = []
    for i in range(n):
        a, b, c = rng.randint(2, 99), rng.randint(2, 99), rng.randint(2, 20)
        form = rng.choice(["{a} + {b}", "{a} - {b}", "{a} * {c}", "{a} * {c} + {b}",
                           "({a} + {b}) * {c}", "({a} - {b}) * {c}", "{a} + {b} - {c}"])
        expr = form.format(a=a, b=b, c=c)
        value = eval(expr, {"__builtins__": {}})  # our own generated integer expression
        rows.append({"id": f"arith-{i:03d}", "question": f"What is {expr}?",
                     "answer": str(value), "difficulty": form.count(" ") // 2})
    return rows


def _primes(limit: int) -> list[int]:
    return [n for n in range(2, limit) if all(n % d for d in range(2, int(n**0.5) + 1))]


def multiple_choice(rng: random.Random, n: int) -> list[dict]:
    """Questions whose answer follows from the options alone; the target is the letter."""
    primes = _primes(200)
    composites = [n for n in range(4, 200) if n not in primes]
    rows = []
    kinds = ["largest", "smallest", "alphabetical", "prime", "longest", "shortest"]
    for i in range(n):
        kind = kinds[i % len(kinds)]
        if kind in ("largest", "smallest"):
            opts = rng.sample(range(10, 1000), 4)
            best = max(opts) if kind == "largest" else min(opts)
            q = f"Which of the following numbers is the {kind}?"
        elif kind == "prime":
            opts = [rng.choice(primes), *rng.sample(composites, 3)]
            rng.shuffle(opts)
            best = next(o for o in opts if o in primes)
            q = "Which of the following numbers is prime?"
        elif kind == "alphabetical":
            opts = rng.sample(WORDS, 4)
            best = min(opts)
            q = "Which of the following words comes first in alphabetical order?"
        else:
            while True:
                opts = rng.sample(WORDS, 4)
                lengths = sorted(len(w) for w in opts)
                if lengths[0] != lengths[1] and lengths[-1] != lengths[-2]:
                    break
            best = (max if kind == "longest" else min)(opts, key=len)
            q = f"Which of the following words is the {kind}?"
        choices = [str(o) for o in opts]
        rows.append({"id": f"mc-{i:03d}", "question": q, "choices": choices,
                     "answer": "ABCD"[choices.index(str(best))], "kind": kind})
    return rows


def tool_calls(rng: random.Random, n: int) -> list[dict]:
    """Requests that need one of three tools; the target is the expected call."""
    rows = []
    for i in range(n):
        kind = i % 3
        if kind == 0:
            city, unit = rng.choice(CITIES), rng.choice(["celsius", "fahrenheit"])
            prompt = rng.choice([f"What's the weather in {city} right now? Please use {unit}.",
                                 f"How warm is it in {city} today, in {unit}?"])
            target = {"name": "get_weather", "arguments": {"city": city, "unit": unit}}
        elif kind == 1:
            amount = rng.choice([rng.randint(5, 5000), round(rng.uniform(1, 999), 2)])
            src, dst = rng.sample(CURRENCIES, 2)
            prompt = rng.choice([f"Convert {amount} {src} to {dst} for me.",
                                 f"How much is {amount} {src} in {dst} at today's exchange rate?"])
            target = {"name": "convert_currency",
                      "arguments": {"amount": amount, "from_currency": src, "to_currency": dst}}
        else:
            city = rng.choice(CITIES)
            prompt = rng.choice([f"What time is it in {city}?",
                                 f"Tell me the local time in {city}."])
            target = {"name": "get_local_time", "arguments": {"city": city}}
        rows.append({"id": f"tool-{i:03d}", "prompt": prompt, "tools": TOOLS,
                     "tool_choice": "auto", "target": target})
    return rows


def write(name: str, rows: list[dict]) -> None:
    """Write rows as JSONL and as Parquet (nested JSON values as JSON text in Parquet)."""
    with (OUT / f"{name}.jsonl").open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    flat = [{k: json.dumps(v) if isinstance(v, dict) or (isinstance(v, list) and v
             and isinstance(v[0], dict)) else v for k, v in row.items()} for row in rows]
    pq.write_table(pa.Table.from_pylist(flat), OUT / f"{name}.parquet", compression="zstd")


def main() -> None:
    """Write all three demo datasets."""
    OUT.mkdir(parents=True, exist_ok=True)
    rng = random.Random(SEED)
    write("arithmetic", arithmetic(rng, 120))
    write("multiple_choice", multiple_choice(rng, 120))
    write("tools", tool_calls(rng, 80))
    print(f"wrote 320 samples to {OUT}")


if __name__ == "__main__":
    main()
