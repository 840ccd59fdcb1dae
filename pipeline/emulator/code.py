"""Code solver: answers "complete this Python function" from what the prompt itself shows.

The simulated model does not program. It reads the function stub (a signature and a
docstring, HumanEval style), collects the worked examples its docstring gives (`>>> f(1)`
then `2`, or `f(1) == 2`, `f(1) ➞ 2`, `f(1) => 2`, `f(1) returns 2`, ...) and answers with
the whole function as a lookup table of those examples, raising NotImplementedError for any
other input. Such an answer passes only the rare tests that check nothing but the docstring's
examples, so a HumanEval run on the emulator has a low but real score, measured by actually
running the answers. A wrong draw (the model's accuracy, as for the other solvers) answers
with the examples' outputs shuffled, with `return None`, or with a syntax slip.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from .rand import h64

_MAX_PROMPT = 20_000  # characters of code it will parse
_FENCE = re.compile(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)```", re.S)
_CODE_START = re.compile(r"^(?:def |from \S+ import |import |class |@)", re.M)
# After `f(args)`: the separator of an inline example, then the expected value.
_SEPARATOR = re.compile(
    r"[ \t]*(?:#[ \t]*)?(?:==>|=>|->|➞|→|==|=|(?:should[ \t]+)?returns?|should[ \t]+be)"
    r"[ \t]*:?[ \t]*(\S.*)$"
)
_WORD_CONSTANTS = {"true": "True", "false": "False", "none": "None"}


def find_stub(prompt: str) -> tuple[str, ast.Module, ast.FunctionDef] | None:
    """(code, its module, the function to complete): the last top-level function whose body
    is only a docstring (after imports), in the prompt's code (a fenced block, else from its
    first line of code on). None when the prompt asks for no function."""
    if "def " not in prompt or ('"""' not in prompt and "'''" not in prompt):
        return None
    fenced = _FENCE.search(prompt)
    if fenced:
        source = fenced.group(1)
    else:
        start = _CODE_START.search(prompt)
        if start is None:
            return None
        source = prompt[start.start():]
    if len(source) > _MAX_PROMPT:
        return None
    try:
        module = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    stubs = [node for node in module.body if isinstance(node, ast.FunctionDef)
             and _docstring(node) is not None
             and all(isinstance(s, ast.Import | ast.ImportFrom | ast.Pass)
                     for s in node.body[:-1])]
    return (source, module, stubs[-1]) if stubs else None


def _docstring(stub: ast.FunctionDef) -> str | None:
    """The string a stub's body ends with (after imports, as in HumanEval/115), if any."""
    last = stub.body[-1]
    if isinstance(last, ast.Expr) and isinstance(last.value, ast.Constant) and isinstance(
            last.value.value, str):
        return last.value.value
    return None


def _literal(text: str) -> tuple[bool, Any]:
    """(True, value) when the text is a Python literal that prints back as itself."""
    text = re.sub(r"\b(true|false|none)\b", lambda m: _WORD_CONSTANTS[m.group(1)], text.strip())
    try:
        value = ast.literal_eval(text)
        return ast.literal_eval(repr(value)) == value, value
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


def _value(rest: str) -> tuple[bool, Any]:
    """The longest literal the text starts with ("[2, 3]." -> [2, 3]; "8 # note" -> 8)."""
    rest = rest.strip()
    for end in range(len(rest), 0, -1):
        if end < len(rest) and rest[end] not in " \t.,;#(":
            continue
        ok, value = _literal(rest[:end].rstrip(" .,;"))
        if ok:
            return True, value
    return False, None


def _call_args(call: str, name: str) -> tuple[Any, ...] | None:
    """The positional literal arguments of `name(...)` text; None for anything else."""
    try:
        node = ast.parse(call, mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == name) or node.keywords:
        return None
    try:
        args = tuple(ast.literal_eval(a) for a in node.args)
        ok = ast.literal_eval(repr(args)) == args
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    return args if ok else None


def _close_paren(text: str, open_at: int) -> int:
    """Index of the parenthesis closing the one at open_at (-1 if none); quotes respected."""
    depth, quote = 0, ""
    for i in range(open_at, min(len(text), open_at + 2000)):
        ch = text[i]
        if quote:
            if ch == quote and text[i - 1] != "\\":
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                return i
    return -1


def examples(docstring: str, name: str) -> list[tuple[tuple[Any, ...], Any]]:
    """(arguments, result) of each worked example in a docstring, first one per input."""
    found: dict[str, tuple[tuple[Any, ...], Any]] = {}
    lines = docstring.splitlines()
    call = re.compile(rf"(?<![\w.]){re.escape(name)}\(")
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith(">>>"):
            args = _call_args(stripped[3:].strip(), name)
            if args is None or i + 1 >= len(lines):
                continue
            ok, value = _literal(lines[i + 1].strip())
            if ok and not lines[i + 1].strip().startswith(">>>"):
                found.setdefault(repr(args), (args, value))
            continue
        for m in call.finditer(line):
            end = _close_paren(line, m.end() - 1)
            if end < 0:
                continue
            args = _call_args(line[m.start():end + 1], name)
            sep = _SEPARATOR.match(line, end + 1)
            if args is None or sep is None:
                continue
            ok, value = _value(sep.group(1))
            if ok:
                found.setdefault(repr(args), (args, value))
    return list(found.values())


def _header(stub: ast.FunctionDef) -> str:
    """The stub's `def` line, as ast prints it (annotations and defaults kept)."""
    bare = ast.FunctionDef(name=stub.name, args=stub.args, body=[ast.Pass()],
                           decorator_list=[], returns=stub.returns, type_comment=None)
    return ast.unparse(ast.fix_missing_locations(bare)).rsplit("\n", 1)[0]


def _table(known: list[tuple[tuple[Any, ...], Any]], params: list[str], slip: bool) -> str:
    rows = "".join(f"        ({args!r}, {result!r}),\n" for args, result in known)
    given = f"({params[0]},)" if len(params) == 1 else f"({', '.join(params)})"
    colon = "" if slip else ":"
    return (
        "    # The docstring's examples; other inputs are not worked out.\n"
        f"    known = [\n{rows}    ]\n"
        f"    for args, result in known{colon}\n"
        f"        if args == {given}:\n"
        "            return result\n"
        "    raise NotImplementedError(\"only the docstring's examples are known\")\n"
    )


def solve(prompt: str, *, correct: bool, salt: str) -> tuple[str, str] | None:
    """(answer with the function in a ```python block, working), or None for a prompt that
    asks for no Python function."""
    found = find_stub(prompt)
    if found is None:
        return None
    source, module, stub = found
    known = examples(_docstring(stub) or "", stub.name)
    params = [a.arg for a in stub.args.posonlyargs + stub.args.args]
    imports = [ast.get_source_segment(source, node) or "" for node in module.body
               if isinstance(node, ast.Import | ast.ImportFrom)]
    if not correct:
        kind = h64("code-wrong", salt) % 3
        outputs = [result for _, result in known]
        if kind == 0 and len(known) > 1 and len({repr(o) for o in outputs}) > 1:
            shifted = outputs[1:] + outputs[:1]
            body = _table([(a, r) for (a, _), r in zip(known, shifted, strict=True)], params,
                          slip=False)
            note = f"I matched the {len(known)} examples of the docstring to their outputs."
        elif kind == 2 and known and params:
            body = _table(known, params, slip=True)
            note = f"The docstring gives {len(known)} examples; I return those."
        else:
            body = "    # Not sure of the rule yet.\n    return None\n"
            note = "I could not work out the rule, so this returns None for now."
    elif known and params:
        body = _table(known, params, slip=False)
        note = (f"The docstring gives {len(known)} example{'s' * (len(known) != 1)}; this "
                "returns those and raises NotImplementedError for other inputs.")
    else:
        body = "    raise NotImplementedError(\"the docstring shows no examples to go by\")\n"
        note = "The docstring shows no worked examples, so this is left unimplemented."
    head = "\n".join(imports) + "\n\n\n" if imports else ""
    function = f"{head}{_header(stub)}\n{body}"
    content = f"{note}\n\n```python\n{function}```"
    working = (f"The function to write is {stub.name}({', '.join(params)}). Its docstring "
               f"shows {len(known)} worked example{'s' * (len(known) != 1)}. {note}")
    return content, working
