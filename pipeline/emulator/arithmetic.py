"""Arithmetic solver: finds an integer expression in the prompt and works it out with ast."""

from __future__ import annotations

import ast
import re

from .rand import h64

# A run of expression characters, cut back to its last digit or ")" by _trim: a regex that must
# end on one backtracks quadratically over a long run without any (e.g. "- - - ...").
_EXPR = re.compile(r"[-(\d][\d\s+\-*/×÷().]*")
_CUE = re.compile(r"\b(what is|what's|whats|compute|calculate|evaluate|solve|how much is)\b|=")
_OPS: dict[type, str] = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//",
}  # fmt: skip
_WRONG_DELTAS = (-3, -2, -1, 1, 2, 3, -10, 10)
_MAX_EXPR_CHARS = 200
_MAX_MAGNITUDE = 10**30


class _Unsupported(Exception):
    """The expression uses something other than numbers, + - * / // and parentheses."""


def find_expression(prompt: str) -> tuple[ast.expr, str] | None:
    """The prompt's arithmetic expression as an ast node and its text, if it asks for one."""
    if not _CUE.search(prompt.lower()):
        return None
    runs = (_trim(run) for run in _EXPR.findall(prompt))
    candidates = sorted((run for run in runs if len(run) > 1), key=len, reverse=True)
    for text in candidates:
        text = text.strip()
        if len(text) > _MAX_EXPR_CHARS:
            continue
        source = text.replace("×", "*").replace("÷", "/")
        try:
            node = ast.parse(source, mode="eval").body
        except SyntaxError:
            continue
        if isinstance(node, ast.BinOp):
            return node, text
    return None


def _trim(run: str) -> str:
    """The run up to its last digit or closing parenthesis ("" if it has none)."""
    end = len(run)
    while end and not (run[end - 1].isdecimal() or run[end - 1] == ")"):
        end -= 1
    return run[:end]


def evaluate(node: ast.expr, steps: list[str] | None = None) -> int | float:
    """Evaluate a parsed expression, recording 'a op b = r' steps; raises on anything else."""
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = evaluate(node.operand, steps)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        left = evaluate(node.left, steps)
        right = evaluate(node.right, steps)
        op = _OPS[type(node.op)]
        if op in ("/", "//") and right == 0:
            raise _Unsupported("division by zero")
        if op == "+":
            value = left + right
        elif op == "-":
            value = left - right
        elif op == "*":
            value = left * right
        elif op == "//":
            value = left // right
        else:
            value = left / right
            if value == int(value):
                value = int(value)
        if abs(value) > _MAX_MAGNITUDE:
            raise _Unsupported("too large")
        if steps is not None:
            steps.append(f"{fmt(left)} {op} {fmt(right)} = {fmt(value)}")
        return value
    raise _Unsupported(type(node).__name__)


def fmt(value: int | float) -> str:
    """A number as a person would write it: integers plain, other values to 6 decimals."""
    if isinstance(value, int) or value == int(value):
        return str(int(value))
    return f"{value:.6f}".rstrip("0").rstrip(".")


def solve(prompt: str, *, correct: bool, salt: str) -> tuple[str, str] | None:
    """(answer text, working) ending with 'Answer: <number>', or None if no expression."""
    found = find_expression(prompt)
    if found is None:
        return None
    node, text = found
    steps: list[str] = []
    try:
        result = evaluate(node, steps)
    except (_Unsupported, RecursionError, OverflowError):
        return None
    if not correct:
        delta = _WRONG_DELTAS[h64("arith-wrong", salt) % len(_WRONG_DELTAS)]
        result = result + delta
        left, _, _ = steps[-1].rpartition(" = ")
        steps[-1] = f"{left} = {fmt(result)}"
    answer = fmt(result)
    working = f"We need to evaluate {text}.\n" + "\n".join(steps)
    content = "\n".join(steps) + f"\nAnswer: {answer}"
    return content, working + f"\nSo the result is {answer}."
