"""code: run the answer's code against the sample's tests (HumanEval style); 1 when all pass.

Target: `{"test": ..., "entry_point": ..., "prompt": ...}` (a dict, or that object as JSON
text), as scripts/convert_benchmarks.py writes it for HumanEval: `test` defines
`check(candidate)`, `entry_point` names the function under test, `prompt` is the signature
and docstring the model was shown.

The candidate is taken from the answer (see `extract`), the program is assembled
(`program`), and it runs in a limited child process (pipeline/scoring/sandbox.py). Options:
`timeout_s` (default 10), `memory_mb` (default 512). A failure scores 0 with the reason in
`explanation` ("timeout after 10 s", "assertion failed ...", "syntax error: ...", ...); the
scorer never raises and never waits past its timeout.
"""

from __future__ import annotations

import json
import re
import textwrap
from typing import Any

from pipeline.scoring.base import Output, Score
from pipeline.scoring.sandbox import Limits, run_python

ANSWER_CHARS = 2000  # of the extracted code kept in the answer column: rows stay small
_PYTHON_TAGS = frozenset({"python", "py", "python3", "py3"})
_OPEN_FENCE = re.compile(r"(`{3,}|~{3,})[ \t]*([A-Za-z0-9_+#.-]*)[^\n`]*\n")
# A line that starts code, when an unfenced answer opens with prose.
_CODE_START = re.compile(r"^(?:def |async def |class |import |from \S+ import |@)", re.M)
# A fence alone on its line, with no language tag: how a block is closed.
_BARE_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*$", re.M)


def _orphan_close(text: str) -> re.Match[str] | None:
    """The closing fence of a block whose opening fence the answer left out, or None.

    Small models served by llama.cpp (SmolLM2-135M: 11 of 15 HumanEval answers) often
    write the code with no opening fence, then the fence that closes it, then maybe prose.
    Read as an opener, that fence made the prose after it (or nothing) the code. It is an
    orphan closer when it is the answer's first fence, bare (no tag: an opener usually has
    one) and a line before it starts code, or the first is indented (a function's body).
    Python code: the block counts as tagged `python`.
    """
    bare = _BARE_FENCE.search(text)
    if bare is None:
        return None
    opener = _OPEN_FENCE.search(text)
    if opener is not None and opener.start() < bare.start(1):
        return None
    before = text[:bare.start()]
    first = next((ln for ln in before.splitlines() if ln.strip()), "")
    # Code: a line that starts it, or an indented first line (a completion's body).
    return bare if _CODE_START.search(before) or first[:1] in (" ", "\t") else None


def _blocks(text: str) -> list[tuple[str, str]]:
    """(language tag, body) of each fenced block, in order; an unclosed last block (an answer
    cut by max_tokens) runs to the end of the text, and code before a closing fence with no
    opening one (`_orphan_close`) is a block of its own."""
    found: list[tuple[str, str]] = []
    pos = 0
    if (orphan := _orphan_close(text)) is not None:
        found.append(("python", text[:orphan.start()]))  # it starts with Python code
        pos = orphan.end()
    while (m := _OPEN_FENCE.search(text, pos)) is not None:
        fence, lang = m.group(1), m.group(2).lower()
        close = text.find(fence, m.end())
        body = text[m.end():] if close < 0 else text[m.end():close]
        found.append((lang, body))
        if close < 0:
            break
        pos = close + len(fence)
    return found


def defines(code: str, name: str) -> bool:
    """Whether the code has a `def name(` (at any indentation)."""
    return bool(name) and re.search(
        rf"^[ \t]*(?:async[ \t]+)?def[ \t]+{re.escape(name)}[ \t]*\(", code, re.M) is not None


def extract(text: str, entry_point: str = "") -> str:
    """The candidate code in an answer.

    Fenced blocks: among the python-tagged ones (else among all), the last that defines
    `entry_point`, else the last one: a usage example after the solution is not taken for it.
    No fence: the raw text, from its first line that starts code (def, class, import, from,
    a decorator) when the whole text does not start with code.
    """
    blocks = _blocks(text)
    if blocks:
        tagged = [body for lang, body in blocks if lang in _PYTHON_TAGS]
        pool = tagged or [body for _, body in blocks]
        defining = [body for body in pool if defines(body, entry_point)]
        code = (defining or pool)[-1]
    else:
        code = text
        first = next((ln for ln in code.splitlines() if ln.strip()), "")
        m = _CODE_START.search(code)
        if m and first[:1] not in (" ", "\t") and not _CODE_START.match(first):
            code = code[m.start():]
    # Leading blank lines go, leading indentation stays (a completion is an indented body).
    return re.sub(r"\A(?:[ \t]*\n)+", "", code).rstrip()


def program(candidate: str, target: dict[str, Any]) -> str:
    """The program that tests the candidate: (prompt +) candidate + test + check(entry_point).

    - The candidate defines the entry point: the prompt goes first as a preamble (its imports
      and helper functions, such as HumanEval/38's `encode_cyclic`, which its test calls),
      and the candidate's definition replaces the prompt's stub.
    - It does not, but the prompt does (completion style): the prompt, then the candidate as
      the function's body (indented by four spaces if the answer wrote it flush left).
    - Neither: the candidate alone.
    """
    prompt, name = target.get("prompt") or "", target["entry_point"]
    if defines(candidate, name):
        head = candidate if "from __future__" in candidate or not prompt else (
            f"{prompt.rstrip()}\n\n\n{candidate}")
    elif defines(prompt, name):
        body = candidate
        first = next((ln for ln in body.splitlines() if ln.strip()), "")
        if first and first[0] not in " \t":
            body = textwrap.indent(body, "    ")
        head = prompt if prompt.endswith("\n") else prompt + "\n"
        head += body
    else:
        head = candidate
    return f"{head}\n\n\n{target['test'].strip()}\n\n\ncheck({name})\n"


def _target(raw: Any) -> dict[str, Any] | None:
    """The target as a dict with a test and an entry point, or None."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return None
    if not isinstance(raw, dict):
        return None
    if not isinstance(raw.get("test"), str) or not isinstance(raw.get("entry_point"), str):
        return None
    if raw.get("prompt") is not None and not isinstance(raw["prompt"], str):
        return None
    return raw


def _limits(options: dict[str, Any]) -> Limits:
    timeout = options.get("timeout_s", 10.0)
    memory = options.get("memory_mb", 512)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        timeout = 10.0
    if isinstance(memory, bool) or not isinstance(memory, int) or memory < 64:
        memory = 512
    return Limits(timeout_s=float(timeout), memory_mb=memory)


def _short(code: str) -> str:
    return code if len(code) <= ANSWER_CHARS else code[: ANSWER_CHARS - 1] + "…"


def code(out: Output) -> Score:
    """1 when the answer's code passes the target's tests in a limited child process."""
    target = _target(out.target)
    if target is None:
        return Score(0.0, None, "the target is not a code task: it needs a JSON object with "
                     "'test' and 'entry_point' (and 'prompt')")
    candidate = extract(out.text or "", target["entry_point"])
    if not candidate.strip():
        return Score(0.0, None, "no code in the answer")
    outcome = run_python(program(candidate, target), _limits(out.options))
    if outcome.passed:
        return Score(1.0, _short(candidate))
    reason = outcome.reason or "failed"
    if out.cut:
        reason = f"answer cut by max_tokens; {reason}"
    return Score(0.0, _short(candidate), reason)
