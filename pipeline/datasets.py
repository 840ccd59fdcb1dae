"""Reading JSONL and Parquet datasets into `Sample`s, with errors that name file and line/row.

JSONL is read line by line with the standard json module and Parquet in record batches with
pyarrow, so that a bad row is reported with its exact line or row number (polars' scanners
do not say which line broke).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pipeline.config import Generation, field_path
from pipeline.errors import DatasetError
from pipeline.sample_schema import CANONICAL_FIELDS, LETTERS, ROLES, template_fields

_BLANK = re.compile(rb"(?<=\n)[ \t\r\f\v]*\n")  # a blank line after a line break
_MAYBE_BLANK = re.compile(rb"\n[\n \t\r\f\v]")  # one scan (six `in` tests took 6x as long)
_BLOCK = 1 << 20  # bytes read at a time to count rows and hash a file


@dataclass(frozen=True, slots=True)
class Sample:
    """One prompt to send to every model, with what a correct answer looks like."""

    dataset: str
    sample_id: str
    messages: list[dict[str, Any]]
    target: Any = None
    choices: list[str] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    generation: Generation | None = None  # the row's own overrides, validated


def infer_format(path: Path, declared: str | None) -> str:
    """The dataset format: declared, else from the file extension."""
    if declared:
        return declared
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes[-1:] == [".parquet"]:
        return "parquet"
    if suffixes[-1:] in ([".jsonl"], [".ndjson"]):
        return "jsonl"
    raise DatasetError(
        str(path), f"cannot tell the format from the extension {path.suffix!r}",
        "use .jsonl or .parquet, or set format = 'jsonl' | 'parquet'",
    )


def fingerprint(path: Path) -> str:
    """sha256 of the file's bytes, for the manifest."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(_BLOCK), b""):
            h.update(block)
    return h.hexdigest()


def iter_rows(path: Path, fmt: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (where, row) pairs: where is 'file:line' for JSONL, 'file row N' for Parquet."""
    if not path.exists():
        raise DatasetError(str(path), "dataset file not found", "check the path in the config")
    if fmt == "jsonl":
        yield from _jsonl_rows(path)
    else:
        yield from _parquet_rows(path)


def _jsonl_rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    for lineno, raw in _jsonl_lines(path):
        yield f"{path}:{lineno}", _parse_line(path, lineno, raw)


def _jsonl_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(line number, raw bytes) of each non-blank line: cheap enough to skip rows unread."""
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, start=1):
            if lineno == 1:
                raw = raw.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 BOM is not an error
            if raw.isspace() or not raw:
                continue
            yield lineno, raw


def _parse_line(path: Path, lineno: int, raw: bytes) -> dict[str, Any]:
    """One JSONL line as a row. Bytes are decoded one line at a time, so a bad byte is
    reported on its own line (a text-mode reader decodes ahead and blames another)."""
    where = f"{path}:{lineno}"
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DatasetError(
            where, f"not valid UTF-8 text (byte {raw[exc.start]:#04x} at column "
            f"{len(raw[: exc.start].decode('utf-8', 'replace')) + 1})",
            "save the file as UTF-8",
        ) from None
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DatasetError(
            where, f"malformed JSON ({exc.msg} at column {exc.colno})",
            "each line must be one JSON object",
        ) from None
    if not isinstance(row, dict):
        raise DatasetError(where, f"expected a JSON object, got {type(row).__name__}")
    return row


def count_rows(path: Path, fmt: str) -> int:
    """Rows in a dataset file without parsing them (JSONL: lines; Parquet: its metadata)."""
    if not path.exists():
        raise DatasetError(str(path), "dataset file not found", "check the path in the config")
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            return pq.ParquetFile(path).metadata.num_rows
        except Exception as exc:  # pyarrow raises several types for a bad file
            raise DatasetError(str(path), f"not a readable Parquet file ({exc})") from None
    n, last = 0, b"\n"
    with path.open("rb") as f:
        for block in iter(lambda: f.read(_BLOCK), b""):
            n += _lines_in(last, block)
            last = block[-1:]
    return n + (last not in (b"\n", b""))


def _lines_in(last: bytes, block: bytes) -> int:
    """Non-blank lines a block of a JSONL file ends (`last`: the byte before it, b"\\n" at the
    start), counted in C (a blank line is no row). Blank lines are looked for only in a
    block that can hold one (a line break followed by another or by white space): JSONL rows
    start with "{", so that is almost never."""
    n = block.count(b"\n")
    text = last + block
    if _MAYBE_BLANK.search(text):
        n -= len(_BLANK.findall(text))
    return n


class RowScan:
    """A JSONL file's rows (as count_rows counts them) and sha256 in one pass of 1 MiB blocks,
    taken a block at a time (`step`) so the reading can be spread out: `rows` and `sha256`
    are set once the file is read whole; `lines` is the rows seen so far (a lower bound)."""

    __slots__ = ("path", "lines", "rows", "sha256", "_blocks")

    def __init__(self, path: Path) -> None:
        if not path.exists():
            raise DatasetError(str(path), "dataset file not found",
                               "check the path in the config")
        self.path = path
        self.lines = 0
        self.rows: int | None = None
        self.sha256: str | None = None
        self._blocks = self._read()

    def _read(self) -> Iterator[None]:
        h, last = hashlib.sha256(), b"\n"
        with self.path.open("rb") as f:
            for block in iter(lambda: f.read(_BLOCK), b""):
                h.update(block)
                self.lines += _lines_in(last, block)
                last = block[-1:]
                yield
        self.rows = self.lines + (last not in (b"\n", b""))
        self.sha256 = h.hexdigest()

    def step(self) -> bool:
        """Read the next block; False once the file is read whole."""
        return next(self._blocks, False) is None

    def finish(self) -> RowScan:
        """Read what is left."""
        for _ in self._blocks:
            pass
        return self


def _parquet_rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for a bad file
        raise DatasetError(str(path), f"not a readable Parquet file ({exc})") from None
    n = 0
    for batch in pf.iter_batches(batch_size=2048):
        for row in batch.to_pylist():
            n += 1
            yield f"{path} row {n}", row


def _as_json(value: Any, where: str, name: str, kind: type | tuple[type, ...]) -> Any:
    """Accept a column holding either the value or its JSON text."""
    if isinstance(value, str) and not (kind is str or (isinstance(kind, tuple) and str in kind)):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise DatasetError(where, f"column {name!r} is not valid JSON") from None
    if not isinstance(value, kind):
        want = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise DatasetError(where, f"column {name!r} must be {want}, got {type(value).__name__}")
    return value


def options_block(choices: list[str]) -> str:
    """Render choices as lettered option lines."""
    return "\n".join(f"{LETTERS[i]}) {c}" for i, c in enumerate(choices))


class SampleBuilder:
    """Turns raw rows of one dataset into Samples, per the dataset's config."""

    def __init__(
        self, *, dataset: str, columns: dict[str, str], template: str | None,
        system: str | None, needs_target: bool, check_duplicates: bool = True,
        group_by: str | None = None, plain_json: bool = True,
    ) -> None:
        self.dataset = dataset
        self.group_by = group_by
        # Parquet values may be dates or bytes: metadata is journaled, so it is made JSON.
        self.plain_json = plain_json
        self.col = {f: columns.get(f, f) for f in CANONICAL_FIELDS}
        self.template = template
        try:
            self.template_fields = template_fields(template) if template else []
        except ValueError as exc:
            raise DatasetError(f"dataset {dataset!r} template", str(exc)) from None
        self.system = system
        self.needs_target = needs_target
        # Duplicate ids are found by the plan's full check (compact digests, see
        # pipeline.plan); a builder that streams rows for sending keeps no set of them.
        self._seen: set[str] | None = set() if check_duplicates else None

    def build(self, where: str, row: dict[str, Any], index: int) -> Sample:
        """Build one sample; `index` (1-based) is the id when the row has none."""
        c = self.col
        sid = row.get(c["id"])
        sample_id = str(index) if sid is None else str(sid)
        if self._seen is not None:
            if sample_id in self._seen:
                raise DatasetError(where, f"duplicate id {sample_id!r}", "ids must be unique")
            self._seen.add(sample_id)

        choices = row.get(c["choices"])
        if choices is not None:
            choices = [str(x) for x in _as_json(choices, where, c["choices"], list)]
            if not 2 <= len(choices) <= len(LETTERS):
                raise DatasetError(where, f"column {c['choices']!r} needs 2 to 26 options")

        messages = self._messages(where, row, choices)
        if self.needs_target and c["target"] not in row:
            raise DatasetError(
                where, f"missing column {c['target']!r} (the target)",
                f"add it or map it: columns = {{ target = \"...\" }}, or set scorers = [] "
                f"to collect answers unscored; columns: {_cols(row)}",
            )
        if self.needs_target and row[c["target"]] is None:
            raise DatasetError(where, f"column {c['target']!r} (the target) is null",
                               "every scored row needs a target (scorers = [] scores none)")
        tools = row.get(c["tools"])
        if tools is not None:
            tools = _as_json(tools, where, c["tools"], list)
        tool_choice = row.get(c["tool_choice"])
        if isinstance(tool_choice, str) and tool_choice.startswith("{"):
            tool_choice = _as_json(tool_choice, where, c["tool_choice"], dict)
        metadata = row.get(c["metadata"])
        metadata = {} if metadata is None else _as_json(metadata, where, c["metadata"], dict)
        group = self.group_by
        if group is not None and group not in metadata and row.get(group) is not None:
            metadata = {**metadata, group: row[group]}  # so the tables can group by it
        if metadata and not self.plain_json:
            metadata = json.loads(json.dumps(metadata, ensure_ascii=False, default=str))
        gen = row.get(c["generation"])
        if gen is not None:
            gen = _as_json(gen, where, c["generation"], dict)
        overrides = _check_generation(where, gen, tools, tool_choice)
        return Sample(
            dataset=self.dataset, sample_id=sample_id, messages=messages,
            target=row.get(c["target"]), choices=choices, tools=tools, tool_choice=tool_choice,
            metadata=metadata, generation=overrides,
        )

    def _messages(
        self, where: str, row: dict[str, Any], choices: list[str] | None
    ) -> list[dict[str, Any]]:
        c = self.col
        if self.template is not None:
            values = dict(row)
            if choices is not None:
                values["options"] = options_block(choices)
            missing = [f for f in self.template_fields if f not in values]
            if missing:
                raise DatasetError(
                    where, f"template field {{{missing[0]}}} is not a column of this row",
                    f"columns: {_cols(row)}",
                )
            try:
                prompt = self.template.format_map(values)
            except (ValueError, KeyError, IndexError, AttributeError) as exc:
                raise DatasetError(
                    where, f"template cannot be filled from this row ({type(exc).__name__}: "
                    f"{exc})", "use plain {column} placeholders",
                ) from None
            if choices is not None and "options" not in self.template_fields:
                prompt = f"{prompt}\n\n{options_block(choices)}"
            messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
        elif c["messages"] in row and row[c["messages"]] is not None:
            messages = _as_json(row[c["messages"]], where, c["messages"], list)
            for i, m in enumerate(messages):
                if not isinstance(m, dict) or m.get("role") not in ROLES:
                    raise DatasetError(
                        where, f"messages[{i}] needs a role among {sorted(ROLES)}",
                    )
                if m["role"] != "assistant" and not isinstance(m.get("content"), str | list):
                    raise DatasetError(where, f"messages[{i}].content must be text")
            messages = [dict(m) for m in messages]
        elif c["prompt"] in row and row[c["prompt"]] is not None:
            prompt = str(row[c["prompt"]])
            if choices is not None:
                prompt = f"{prompt}\n\n{options_block(choices)}"
            messages = [{"role": "user", "content": prompt}]
        else:
            raise DatasetError(
                where, f"no {c['prompt']!r} or {c['messages']!r} column",
                f"map one (columns = {{ prompt = \"question\" }}) or set template; "
                f"columns: {_cols(row)}",
            )
        if not messages:
            raise DatasetError(where, "messages is empty")
        if self.system and messages[0].get("role") != "system":
            messages.insert(0, {"role": "system", "content": self.system})
        return messages


def _check_generation(
    where: str, gen: dict[str, Any] | None, tools: Any, tool_choice: Any
) -> Generation | None:
    """Validate a row's generation overrides and tools with the config's own rules; returns
    the overrides as a Generation (None when the row has none)."""
    fields = dict(gen or {})
    if tools is not None:
        fields["tools"] = tools
    if tool_choice is not None:
        fields["tool_choice"] = tool_choice
    if not fields:
        return None
    try:
        checked = Generation.model_validate(fields)  # the row's tools are checked with it
        return None if gen is None else checked
    except ValidationError as exc:
        err = exc.errors()[0]
        path = field_path(tuple(err["loc"]))
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown generation setting"
        raise DatasetError(where, f"{path}: {msg}") from None


def _cols(row: dict[str, Any]) -> str:
    names = list(row)
    return ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")


def load_samples(
    path: Path, *, dataset: str, fmt: str | None = None, columns: dict[str, str] | None = None,
    template: str | None = None, system: str | None = None, limit: int | None = None,
    needs_target: bool = True,
) -> Iterator[Sample]:
    """Yield the samples of one dataset file lazily, validating each row."""
    fmt = infer_format(path, fmt)
    builder = SampleBuilder(
        dataset=dataset, columns=columns or {}, template=template, system=system,
        needs_target=needs_target,
    )
    if limit is not None and limit <= 0:
        return
    for index, (where, row) in enumerate(iter_rows(path, fmt), start=1):
        yield builder.build(where, row, index)
        if limit is not None and index >= limit:
            return


class RowCursor:
    """One dataset's samples in file order, each either built (`next`) or passed over unread
    (`skip`, for a resume: a sample whose every request is done costs a line read, no JSON).

    It reads the first `limit` rows of the file; with `chosen` (a bitmap from
    pipeline.subset), only the rows drawn, the others passed over unread, and it stops after
    `take` samples. A row without an id is known by its row number in the file."""

    def __init__(self, path: Path, *, dataset: str, fmt: str, columns: dict[str, str] | None,
                 template: str | None, system: str | None, limit: int | None,
                 chosen: bytearray | None = None, take: int | None = None,
                 needs_target: bool = True, group_by: str | None = None) -> None:
        self.path = path
        self.builder = SampleBuilder(dataset=dataset, columns=columns or {}, template=template,
                                     system=system, needs_target=needs_target,
                                     check_duplicates=False, group_by=group_by,
                                     plain_json=fmt == "jsonl")
        self.left = limit
        self.chosen = chosen
        self.take = take
        self.row = 0  # rows of the file passed so far (the 1-based number of the last one)
        self.index = 0  # samples taken so far
        self.where = str(path)  # the file and line (or row) of the last sample built
        if not path.exists():
            raise DatasetError(str(path), "dataset file not found", "check the path in the config")
        self._lines = _jsonl_lines(path) if fmt == "jsonl" else None
        self._rows = None if fmt == "jsonl" else _parquet_rows(path)

    def _take(self) -> tuple[int, bytes] | tuple[str, dict[str, Any]] | None:
        if self.take is not None and self.index >= self.take:
            return None
        it = self._lines if self._lines is not None else self._rows
        chosen = self.chosen
        while True:
            if self.left is not None and self.row >= self.left:
                return None
            got = next(it, None)  # type: ignore[call-overload]
            if got is None:
                return None
            row = self.row
            self.row += 1
            if chosen is None or chosen[row >> 3] & (1 << (row & 7)):
                self.index += 1
                return got

    def next(self) -> Sample | None:
        """The next sample, built and validated; None at the end."""
        got = self._take()
        if got is None:
            return None
        if self._lines is not None:
            lineno, raw = got
            self.where = f"{self.path}:{lineno}"
            return self.builder.build(self.where, _parse_line(self.path, lineno, raw),
                                      self.row)
        self.where, row = got  # type: ignore[assignment]
        return self.builder.build(self.where, row, self.row)  # type: ignore[arg-type]

    def skip(self) -> bool:
        """Pass over the next sample without reading it; False at the end."""
        return self._take() is not None

    def skip_many(self, n: int) -> int:
        """Pass over the next `n` samples unread; returns how many there were (fewer at the
        end). Without a subset or a cap, one C-level loop over the rows."""
        if self.chosen is None and self.take is None:
            room = n if self.left is None else max(0, min(n, self.left - self.row))
            it = self._lines if self._lines is not None else self._rows
            passed = sum(1 for _ in islice(it, room))  # type: ignore[arg-type]
            self.row += passed
            self.index += passed
            return passed
        passed = 0
        while passed < n and self._take() is not None:
            passed += 1
        return passed
