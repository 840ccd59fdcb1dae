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
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from pipeline.errors import RunError, RunStateError

JOURNAL_NAME = "journal.jsonl"
_SURROGATE = re.compile("[\ud800-\udfff]")
SCHEMA_VERSION = 1


class Journal:
    """Appends records to `journal.jsonl` in a run folder."""

    def __init__(self, folder: Path, *, fsync_every_s: float = 1.0) -> None:
        self.path = folder / JOURNAL_NAME
        self.fsync_every_s = fsync_every_s
        self._f = None  # type: Any
        self._last_sync = 0.0
        self._dirty = False
        self._broken: RunError | None = None

    def open(self) -> Self:
        """Open for appending, repairing a torn last line first."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _repair_tail(self.path)
        self._f = self.path.open("a", encoding="utf-8")
        self._last_sync = time.monotonic()
        return self

    def append(self, record: dict[str, Any]) -> None:
        """Write one finished item; durable on disk within fsync_every_s."""
        if self._broken is not None:
            raise self._broken
        f = self._f
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
        try:
            try:
                f.write(line)  # encodes the whole line first: a failure writes nothing
            except UnicodeEncodeError:  # a lone surrogate from a server: keep the rest
                f.write(_SURROGATE.sub("\ufffd", line))
            f.flush()
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


def read_journal(folder: Path) -> Iterator[dict[str, Any]]:
    """Every complete record in the journal, in the order written; for a sharded run's folder
    (`--shard K/N`: `shards/<K>-of-<N>/`), its own journal's records, then every shard's in
    folder order. This is where shards merge: shards never share a key."""
    yield from _read_one(folder / JOURNAL_NAME)
    shards = folder / "shards"
    if shards.is_dir():
        for path in sorted(shards.glob(f"*/{JOURNAL_NAME}")):
            yield from _read_one(path)


def _read_one(path: Path) -> Iterator[dict[str, Any]]:
    """The complete records of one journal file (none if it is missing)."""
    if not path.exists():
        return
    with path.open("r", encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.endswith("\n"):
                return  # torn last line: the item was not finished
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                raise RunStateError(
                    f"{path}:{lineno}: corrupt journal line (only the last line may be torn); "
                    "fix or delete that line, or start a new run"
                ) from None


def latest_by_key(records: Iterator[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The last record of each work item (a retried item's newer record wins)."""
    out: dict[str, dict[str, Any]] = {}
    for rec in records:
        out[rec["key"]] = rec
    return out


# Failures that say the setup is wrong (key, access, URL), not the request: nothing was paid,
# and the same request will succeed once the setup is fixed, so a resume sends them again.
SETUP_ERRORS = frozenset({"auth", "forbidden", "not_found"})


def is_final(record: dict[str, Any]) -> bool:
    """Whether an item needs no new request on resume: it succeeded or failed for good."""
    if record.get("status") == "ok":
        return True
    return not record.get("retryable", False) and record.get("error_type") not in SETUP_ERRORS


def spent_of(rec: dict[str, Any]) -> float:
    """What a record counts against a budget: its cost, or for an answer whose usage was
    estimated, the larger of the estimate and the worst case reserved for it."""
    cost = rec.get("cost_usd") or 0.0
    bound = rec.get("cost_bound_usd")
    return max(cost, bound) if bound is not None else cost


def spent_usd(records: Iterator[dict[str, Any]]) -> float:
    """What every journaled request cost, superseded attempts included (they were paid)."""
    return sum(r.get("cost_usd") or 0.0 for r in records)


FINAL, OK = 1, 2  # JournalIndex.state bits


@dataclass(slots=True)
class JournalIndex:
    """What a resume needs of the journal, from one streaming pass: each key's latest state,
    the money spent and the attempts made (superseded records included: they were sent)."""

    state: dict[str, int] = field(default_factory=dict)  # key -> FINAL | OK bits
    spent_usd: float = 0.0
    records: int = 0
    attempts: int = 0

    def add(self, rec: dict[str, Any]) -> None:
        """Fold in one record (later records of a key win)."""
        self.records += 1
        self.attempts += rec.get("attempts") or 0
        self.spent_usd += spent_of(rec)
        bits = (FINAL if is_final(rec) else 0) | (OK if rec.get("status") == "ok" else 0)
        self.state[rec["key"]] = bits

    def is_done(self, key: str) -> bool:
        """Whether the key needs no new request."""
        return bool(self.state.get(key, 0) & FINAL)

    def answered(self) -> Iterator[str]:
        """Keys whose latest record is an answer."""
        return (k for k, bits in self.state.items() if bits & OK)


def index_journal(folder: Path) -> JournalIndex:
    """Index a run folder's journal in one pass."""
    index = JournalIndex()
    for rec in read_journal(folder):
        index.add(rec)
    return index
