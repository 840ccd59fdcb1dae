"""The append-only journal of finished work items: the one record of what was done and paid for.

One JSON object per line, written as each item finishes. Resume, re-score and reports read
it; nothing else decides whether a request is sent. Lines are flushed to the OS at once and
fsynced at most every `fsync_every_s` seconds and at close, so a crash loses at most the
last fraction of a second, never a line in the middle. A torn last line (the process died
mid-write) is ignored on reading.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from pipeline.errors import RunError, RunStateError
from pipeline.records import SCHEMA_VERSION, check_version, is_final, spent_of

__all__ = ["JOURNAL_NAME", "Journal", "is_final", "iter_journal", "latest_by_key",
           "read_journal", "sources", "spent_of"]

JOURNAL_NAME = "journal.jsonl"
SHARDS = "shards"
_SURROGATE = re.compile("[\ud800-\udfff]")


class Journal:
    """Appends records to `journal.jsonl` in a run folder; `offset` is the file's size after
    the last record written (result rows say up to where they cover the journal)."""

    def __init__(self, folder: Path, *, fsync_every_s: float = 1.0,
                 name: str = JOURNAL_NAME) -> None:
        self.path = folder / name  # judge.jsonl: the judge's requests (pipeline.judging)
        self.fsync_every_s = fsync_every_s
        self._f = None  # type: Any
        self._last_sync = 0.0
        self._dirty = False
        self._broken: RunError | None = None
        self.offset = 0

    def open(self) -> Self:
        """Open for appending, repairing a torn last line first."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _repair_tail(self.path)
        self._f = self.path.open("ab")
        self.offset = self._f.tell()
        self._last_sync = time.monotonic()
        return self

    def append(self, record: dict[str, Any]) -> int:
        """Write one finished item; durable on disk within fsync_every_s. Returns the journal's
        size after it."""
        if self._broken is not None:
            raise self._broken
        f = self._f
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
        try:
            try:
                data = line.encode("utf-8")
            except UnicodeEncodeError:  # a lone surrogate from a server: keep the rest
                data = _SURROGATE.sub("\ufffd", line).encode("utf-8")
            f.write(data)  # one write of the whole line: a failure writes no half record
            f.flush()
            self.offset += len(data)
            self._dirty = True
            now = time.monotonic()
            if now - self._last_sync >= self.fsync_every_s:
                os.fsync(f.fileno())
                self._last_sync = now
                self._dirty = False
        except OSError as exc:
            self._broken = RunError(
                f"{self.path}: cannot write the journal ({exc.strerror or exc}); "
                "free space, then rerun with the same --run-id to resume"
            )
            raise self._broken from exc
        return self.offset

    def close(self) -> None:
        """Flush, fsync and close; after a write failure, just let go of the file."""
        if self._f is None:
            return
        f, self._f = self._f, None
        try:
            f.flush()
            if self._dirty:
                os.fsync(f.fileno())
        except OSError as exc:
            if self._broken is None:
                raise RunError(f"{self.path}: cannot write the journal ({exc})") from exc
        finally:
            try:
                f.close()
            except OSError:
                pass  # the unwritten tail is lost either way; a resume repairs a torn line

    def __enter__(self) -> Self:
        return self.open()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _repair_tail(path: Path) -> None:
    """Cut a torn last line (no newline at the end) so appends start on a fresh line."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with path.open("rb+") as f:
        f.seek(-1, os.SEEK_END)
        if f.read(1) == b"\n":
            return
        f.seek(0)
        data = f.read()
        cut = data.rfind(b"\n") + 1
        f.truncate(cut)


def sources(folder: Path) -> list[Path]:
    """The folders holding a run's journals: the run folder, then each shard's
    (`shards/K-of-N/`, in order) when the run was sharded."""
    shard_dir = folder / SHARDS
    out = [folder]
    if shard_dir.is_dir():
        out += sorted(p for p in shard_dir.iterdir() if p.is_dir())
    return out


def iter_journal(path: Path, start: int = 0) -> Iterator[tuple[dict[str, Any], int]]:
    """(record, offset after it) for every complete record of one journal file from byte
    `start`; the schema version of each is checked (a clear error for another version)."""
    if not path.exists():
        return
    with path.open("rb") as f:
        f.seek(start)
        offset = start
        for lineno, raw in enumerate(f, start=1):
            if not raw.endswith(b"\n"):
                return  # torn last line: the item was not finished
            offset += len(raw)
            try:
                rec = json.loads(raw)
            except ValueError:
                where = f"{path}:{lineno}" if start == 0 else \
                    f"{path} (byte {offset - len(raw)})"
                raise RunStateError(
                    f"{where}: corrupt journal line (only the last line may be torn); "
                    "fix or delete that line, or start a new run"
                ) from None
            version = rec.get("schema_version", SCHEMA_VERSION)
            if version != SCHEMA_VERSION:
                check_version(version, f"{path}:{lineno}" if start == 0 else str(path))
            yield rec, offset


def read_journal(folder: Path) -> Iterator[dict[str, Any]]:
    """Every complete record of a run folder, in the order written: its own journal, then
    each shard's."""
    for source in sources(folder):
        for rec, _ in iter_journal(source / JOURNAL_NAME):
            yield rec


def latest_by_key(records: Iterator[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The last record of each work item (a retried item's newer record wins)."""
    out: dict[str, dict[str, Any]] = {}
    for rec in records:
        out[rec["key"]] = rec
    return out
