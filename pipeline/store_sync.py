"""Keeping a stored run's working copy in the store while it runs: the `Syncer`.

S3 has no append, so the journal is stored as segment objects
`<run_id>/journal/<start byte>.jsonl`, each holding the complete lines written since the last
sync (its cost is the new bytes, not the whole journal); at the end of an invocation the whole
journal is uploaded as the segment at byte 0 and the segments it covers are deleted
(compaction). The working copy records in `.store-sync.json` how much of its journal the
store holds. Reading a run back (listing, fetching, restoring a working copy) is
`pipeline.store`'s, which imports this module; this one knows the store only through
`SegmentStore`, the few things a Syncer asks of it.
"""

from __future__ import annotations

import json
import re
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pipeline.errors import RunError
from pipeline.runfolder import MANIFEST, write_json

JOURNAL = "journal.jsonl"
JUDGE_JOURNAL = "judge.jsonl"  # the judge's requests (pipeline.judging): stored whole
SEGMENTS = "journal"  # the journal's segment objects live under <run_id>/journal/
SEGMENT_RE = re.compile(r"^(\d{15})\.jsonl$")  # a segment's name: its start byte
SYNC_STATE = ".store-sync.json"  # in the working copy: how much of the journal is stored
SYNC_INTERVAL_S = 30.0


def segment_name(start: int) -> str:
    """The object name, under the run, of the journal segment starting at byte `start`."""
    return f"{SEGMENTS}/{start:015d}.jsonl"


class SegmentStore(Protocol):
    """What a Syncer uses of the store (`pipeline.store.Store`)."""

    url: Any  # S3Url: `path(*parts)` names an object
    fs: Any  # pyarrow's S3FileSystem

    def _put(self, path: str, data: bytes) -> None: ...

    def _segments(self, run_id: str) -> list[tuple[int, int, str]]: ...

    def _err(self, exc: BaseException) -> str: ...


def starts_with(path: Path, prefix: Path) -> bool:
    """Whether file `path` begins with the bytes of file `prefix`."""
    if not path.exists():
        return prefix.stat().st_size == 0
    with path.open("rb") as a, prefix.open("rb") as b:
        while chunk := b.read(1 << 20):
            if a.read(len(chunk)) != chunk:
                return False
    return True


def read_state(folder: Path) -> dict[str, Any]:
    """What the working copy last knew the store held (empty if it has no record)."""
    try:
        return json.loads((folder / SYNC_STATE).read_text("utf-8"))
    except (OSError, ValueError):
        return {}


def write_state(folder: Path, url: object, offset: int) -> None:
    """Record that the store at `url` holds the first `offset` bytes of the journal."""
    write_json(folder / SYNC_STATE, {"url": str(url), "offset": offset})


@dataclass(eq=False)
class Syncer:
    """Copies one run's working copy to the store: journal segments while the run goes on
    (`running`), every file at the end (`push`). One upload at a time (a lock)."""

    store: SegmentStore
    run_id: str
    folder: Path
    offset: int = 0  # bytes of the local journal the store holds
    compacted: bool = True  # the stored journal is one segment
    warnings: list[str] = field(default_factory=list)
    failures: int = 0  # failed periodic syncs (retried at the next tick)
    judge_size: int = 0  # bytes of the local judge.jsonl the store holds
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        """The run's place in the store."""
        return f"{self.store.url}/{self.run_id}"

    def _path(self, name: str) -> str:
        return self.store.url.path(self.run_id, name)

    def sync_journal(self) -> int:
        """Upload the journal's complete lines written since the last sync as one segment;
        returns the bytes uploaded (OSError if the upload failed; retry later)."""
        with self._lock:
            path = self.folder / JOURNAL
            if not path.exists():
                return self._sync_judge()
            with path.open("rb") as f:
                f.seek(self.offset)
                data = f.read()
            cut = data.rfind(b"\n") + 1  # a line being written is not finished yet
            if cut == 0:
                return self._sync_judge()
            self.store._put(self._path(segment_name(self.offset)), data[:cut])
            self.offset += cut
            self.compacted = self.compacted and self.offset == cut
            write_state(self.folder, self.store.url, self.offset)
            return cut + self._sync_judge()

    def _sync_judge(self) -> int:
        """Upload judge.jsonl whole when it grew since the last upload (its complete lines:
        a dyno killed while judging keeps the verdicts paid for); returns the bytes sent.
        Whole, not in segments: it holds one line per judged answer, a small file beside the
        journal."""
        path = self.folder / JUDGE_JOURNAL
        if not path.exists():
            return 0
        data = path.read_bytes()
        data = data[:data.rfind(b"\n") + 1]
        if len(data) <= self.judge_size:
            return 0
        self.store._put(self._path(JUDGE_JOURNAL), data)
        self.judge_size = len(data)
        return len(data)

    def put(self, name: str) -> None:
        """Upload one file of the working copy."""
        with self._lock:
            self.store._put(self._path(name), (self.folder / name).read_bytes())

    def push(self) -> None:
        """Upload everything: the journal's new lines, every file of the working copy (the
        manifest last, so a finished manifest never points at missing tables), then compact
        the journal to one segment. OSError if an upload failed."""
        self.sync_journal()
        names = sorted(p.name for p in self.folder.iterdir()
                       if p.is_file() and not p.name.startswith(".")
                       and p.name not in (JOURNAL, MANIFEST, "run.lock"))
        for name in [*names, MANIFEST]:
            if (self.folder / name).exists():
                self.put(name)
        self.compact()

    def compact(self) -> None:
        """Replace the journal's segments with one (the whole journal, at byte 0)."""
        with self._lock:
            if self.compacted or self.offset == 0:
                return
            with (self.folder / JOURNAL).open("rb") as f:
                data = f.read(self.offset)
            self.store._put(self._path(segment_name(0)), data)
            self.compacted = True
            for start, _size, path in self.store._segments(self.run_id):
                if 0 < start < self.offset:  # covered by the new one; a leftover is harmless
                    with suppress(OSError):
                        self.store.fs.delete_file(path)

    def error(self, exc: BaseException) -> str:
        """An upload error as one line, credentials scrubbed."""
        return self.store._err(exc)

    async def _loop(self, every_s: float) -> None:
        import anyio

        next_at = anyio.current_time() + every_s
        while True:
            await anyio.sleep(max(0.0, next_at - anyio.current_time()))
            next_at += every_s
            if next_at < anyio.current_time():  # an upload took longer than the interval
                next_at = anyio.current_time() + every_s
            try:
                await anyio.to_thread.run_sync(self.sync_journal)
            except OSError as exc:
                self.failures += 1
                print(f"warning: {self.url}: journal upload failed ({self.error(exc)}); "
                      f"retrying in {every_s:g}s", file=sys.stderr)

    @asynccontextmanager
    async def running(self, every_s: float = SYNC_INTERVAL_S) -> AsyncIterator[None]:
        """Sync the journal every `every_s` seconds while the body runs, and once more when it
        ends however it ends (a failure here is left to `push`, which follows)."""
        import anyio

        error: Exception | None = None
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._loop, every_s)
                try:
                    yield
                except Exception as exc:  # re-raised below, not wrapped in the group
                    error = exc
                finally:
                    tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):  # a stopping dyno: the journal goes first
                try:
                    await anyio.to_thread.run_sync(self.sync_journal)
                except OSError as exc:
                    print(f"warning: {self.url}: journal upload failed ({self.error(exc)})",
                          file=sys.stderr)
        if self.failures:
            self.warnings.append(f"{self.failures} periodic journal uploads to {self.url} "
                                 "failed and were retried")
        if error is not None:
            raise error

    async def push_final(self) -> None:
        """`push` in a worker thread; RunError (exit 3) naming the local copy if it fails."""
        import anyio

        try:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(self.push)
        except OSError as exc:
            raise RunError(
                f"{self.url}: the final upload failed ({self.error(exc)}); the run folder is "
                f"complete locally in {self.folder}: rerun with the same --run-id on this "
                "machine to upload it (nothing finished is sent again)"
            ) from None

    async def push_quietly(self) -> None:
        """`push` after a failure or an interruption: what was paid for is kept if it can be;
        a failed upload is only a warning (the error being raised matters more)."""
        import anyio

        try:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(self.push)
        except OSError as exc:
            print(f"warning: {self.url}: upload failed ({self.error(exc)}); the local copy is "
                  f"in {self.folder}", file=sys.stderr)
