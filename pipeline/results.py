"""Result rows: each journal record scored as it lands and kept as a compact typed row, in
Parquet parts flushed every PART_ROWS rows; the results tables are built from the parts by
polars, lazily and streaming.

A part's name says how far into its journal it reaches (`part-000003-000000123456.parquet`:
the journal's first 123,456 bytes are in parts 1-3), so after a crash the rows of the
journal's tail are rebuilt from the journal alone (its records hold what scoring needs), and
a re-score rebuilds every part in one streaming pass. Parts are written atomically: a part is
whole or absent.
"""

from __future__ import annotations

import re
import shutil
import sys
import threading
from collections import deque
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.config import ScorerSpec
from pipeline.journal import JOURNAL_NAME, iter_journal, sources
from pipeline.records import (
    Prepared,
    check_version,
    prepare,
    result_row,
    row_schema,
    scorer_column,
    scorer_columns,
)
from pipeline.runfolder import atomic_write

if TYPE_CHECKING:
    import polars as pl

    from pipeline.judging import Verdicts

ROWS = "rows"
PART_ROWS = 4096  # rows per part: a few MB of memory at most
SINK_ROW_GROUP = 16_384  # rows per row group of results.parquet (see sink_tables)
_PART = re.compile(r"^part-(\d{6})-(\d{12})\.parquet$")


class RowWriter:
    """Scores journal records as they are written and flushes their rows in parts."""

    def __init__(self, folder: Path, run_id: str, specs: Mapping[str, list[ScorerSpec]],
                 *, part_rows: int | None = None) -> None:
        self.dir = folder / ROWS
        self.run_id, self.specs = run_id, specs
        self.part_rows = part_rows or PART_ROWS
        self.columns = sorted({c for s in specs.values() for c in scorer_columns(s)})
        self.scorers: dict[str, Prepared] = {}  # prepared when a dataset's first row lands
        self._verdicts: Any = None  # the judge's, read when a judged dataset's first row lands
        self.folder = folder
        self._schema: dict[str, Any] | None = None
        self.rows: list[dict[str, Any]] = []
        found = parts_of(folder)
        self.seq = _part_no(found[-1]) if found else 0
        self.offset = covered(folder)

    def add(self, rec: dict[str, Any], offset: int) -> None:
        """Score one journal record (its line ends at byte `offset`) and keep its row."""
        name = rec.get("dataset") or ""
        scorers = self.scorers.get(name)
        if scorers is None:
            specs = self.specs.get(name) or []
            judge = None
            if any(s.name == "judge" for s in specs):
                from pipeline.judging import JudgeScorer, Verdicts

                if self._verdicts is None:
                    self._verdicts = Verdicts(self.folder,
                                              getattr(self.specs, "judge_ids", None))
                judge = partial(JudgeScorer, self._verdicts)
            scorers = self.scorers[name] = prepare(specs, judge)
        self.rows.append(result_row(self.run_id, rec, scorers))
        self.offset = offset
        if len(self.rows) >= self.part_rows:
            self.flush()

    def flush(self) -> None:
        """Write the rows kept so far as the next part."""
        if not self.rows:
            return
        import polars as pl

        if self._schema is None:
            self._schema = row_schema(self.columns)
        frame = pl.DataFrame(self.rows, schema=self._schema, orient="row")
        self.seq += 1
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / f"part-{self.seq:06d}-{self.offset:012d}.parquet"
        atomic_write(path, lambda p: frame.write_parquet(p, statistics=False))
        self.rows = []

    def catch_up(self, journal: Path) -> int:
        """Add the rows of journal records no part covers yet (a crash's tail); returns how
        many."""
        n = 0
        for rec, offset in iter_journal(journal, self.offset):
            self.add(rec, offset)
            n += 1
        self.flush()
        return n


class RowFeeder:
    """A RowWriter fed from the event loop: records are handed in batches to one worker
    thread that scores and flushes them in journal order, so a scorer that takes seconds
    (code execution) never stalls the sending. At most MAX_PENDING batches wait: beyond
    that `add` waits for the oldest (scoring is then the bottleneck, and memory stays
    bounded). A worker's error (disk full) comes out of the next `add` or `close`."""

    BATCH = 256
    MAX_PENDING = 8

    def __init__(self, writer: RowWriter) -> None:
        from concurrent.futures import Future, ThreadPoolExecutor

        self.writer = writer
        self.batch: list[tuple[dict[str, Any], int]] = []
        self.pending: deque[Future[None]] = deque()
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="pipeline-score")
        self._abandoned = False

    def add(self, rec: dict[str, Any], offset: int) -> None:
        """Queue one journal record (its line ends at byte `offset`) for scoring."""
        self.batch.append((rec, offset))
        if len(self.batch) >= self.BATCH:
            self._submit()

    def _submit(self) -> None:
        if self.batch:
            batch, self.batch = self.batch, []
            self.pending.append(self.pool.submit(self._score, batch))
        while self.pending and (self.pending[0].done() or len(self.pending) > self.MAX_PENDING):
            self.pending.popleft().result()

    def _score(self, batch: list[tuple[dict[str, Any], int]]) -> None:
        for rec, offset in batch:
            if self._abandoned:
                return
            self.writer.add(rec, offset)

    def close(self) -> None:
        """Score what is queued and flush the last part; raises the worker's error, if any."""
        try:
            self._submit()
            while self.pending:
                self.pending.popleft().result()
            self.pool.submit(self.writer.flush).result()
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def abandon(self) -> None:
        """Stop scoring (an interrupted run): the worker stops at its next record and no
        part is written after this returns, so a catch-up from the journal can take over."""
        self._abandoned = True
        self.pool.shutdown(wait=True, cancel_futures=True)


_warming: threading.Thread | None = None


def warm_up() -> None:
    """Import polars in a background thread (once): a run calls this after its first request
    left, so the parts and the finalize that need polars find it loaded, and neither the
    start nor the end of a run waits for the import (0.3-0.5 s)."""
    global _warming
    if _warming is None and "polars" not in sys.modules:
        _warming = threading.Thread(target=lambda: __import__("polars"), name="warm-polars",
                                    daemon=True)
        _warming.start()


def _part_no(path: Path) -> int:
    return int(_PART.match(path.name).group(1))  # type: ignore[union-attr]


def parts_of(folder: Path) -> list[Path]:
    """One journal's row parts, in order."""
    d = folder / ROWS
    if not d.is_dir():
        return []
    return sorted(p for p in d.iterdir() if _PART.match(p.name))


def covered(folder: Path) -> int:
    """How many bytes of the folder's journal its parts cover."""
    found = parts_of(folder)
    return int(_PART.match(found[-1].name).group(2)) if found else 0  # type: ignore[union-attr]


def all_parts(folder: Path) -> list[Path]:
    """Every row part of a run folder: its own, then each shard's."""
    return [p for src in sources(folder) for p in parts_of(src)]


def catch_up(folder: Path, run_id: str, specs: Mapping[str, list[ScorerSpec]]) -> int:
    """Bring the row parts of a run folder (and its shards) level with their journals."""
    return sum(RowWriter(src, run_id, specs).catch_up(src / JOURNAL_NAME)
               for src in sources(folder))


def rebuild(folder: Path, run_id: str, specs: Mapping[str, list[ScorerSpec]]) -> int:
    """Score every journal record again (other scorers, say) into fresh parts, in one
    streaming pass; the old parts are replaced only once the new ones are whole."""
    n = 0
    for src in sources(folder):
        tmp = src / f".{ROWS}.new"
        shutil.rmtree(tmp, ignore_errors=True)
        writer = RowWriter(src, run_id, specs)
        writer.dir, writer.seq, writer.offset = tmp, 0, 0
        n += writer.catch_up(src / JOURNAL_NAME)
        old = src / f".{ROWS}.old"
        shutil.rmtree(old, ignore_errors=True)
        if (src / ROWS).exists():
            (src / ROWS).rename(old)
        if tmp.exists():
            tmp.rename(src / ROWS)
        shutil.rmtree(old, ignore_errors=True)
    return n


def scan_rows(folder: Path, columns: list[str] | None = None) -> pl.LazyFrame:
    """Every row of a run folder (superseded attempts included), in journal order, as a
    lazy frame with a global `_row` index; an empty frame of the row schema if none."""
    import polars as pl

    found = all_parts(folder)
    if not found:
        return pl.LazyFrame(schema=row_schema(columns or [])).with_row_index("_row")
    first = pl.read_parquet_schema(found[0])
    if "schema_version" not in first:
        check_version(None, str(found[0]))
    # Parts written before a column existed (metadata, messages: pipeline 0.2 before issue 8;
    # a scorer added on a resume) lack it: every part is read with the union of their columns,
    # the missing ones null. Only footers are read here, not rows.
    schema: dict[str, Any] = {}
    for part in found:
        for name, dtype in pl.read_parquet_schema(part).items():
            schema.setdefault(name, dtype)
    return pl.scan_parquet(found, schema=schema, missing_columns="insert").with_row_index("_row")


def write_tables(folder: Path, frames: Mapping[str, pl.DataFrame]) -> list[Path]:
    """Write each (small) frame as <name>.parquet and <name>.csv atomically."""
    written = []
    for name, df in frames.items():
        pq_path, csv_path = folder / f"{name}.parquet", folder / f"{name}.csv"
        atomic_write(pq_path, lambda p, df=df: df.write_parquet(p))
        atomic_write(csv_path, lambda p, df=df: df.write_csv(p))
        written += [pq_path, csv_path]
    return written


def sink_tables(folder: Path, name: str, lf: pl.LazyFrame) -> list[Path]:
    """Stream a (large) lazy frame to <name>.parquet and <name>.csv, each atomically, never
    holding the rows in memory. Row groups of SINK_ROW_GROUP rows: polars' sink buffers grow
    both with the group (a row group is held whole) and with the number of groups (1,000,000
    rows: +220 MB at 1,024 a group, +56 MB at 4,096, +40 MB at 16,384, +72 MB at 65,536)."""
    pq_path, csv_path = folder / f"{name}.parquet", folder / f"{name}.csv"
    atomic_write(pq_path, lambda p: lf.sink_parquet(p, row_group_size=SINK_ROW_GROUP))
    atomic_write(csv_path, lambda p: lf.sink_csv(p))
    return [pq_path, csv_path]


def refresh_parts(folder: Path, specs: Mapping[str, list[ScorerSpec]],
                  verdicts: Verdicts) -> int:
    """Fill the judge columns of the result rows already written (after a judge phase) from
    the verdicts, part by part, each rewritten atomically; the other columns are kept as
    they are (no other scorer runs again); a part whose verdicts did not change is not
    rewritten. Returns the rows of the parts rewritten."""
    import polars as pl

    from pipeline.judging import JudgeScorer, judged

    todo = judged(specs)
    if not todo:
        return 0
    firsts = {name: scorer_column(s[0], 0, s) for name, s in specs.items() if s}
    scorers = {(name, col): JudgeScorer(verdicts, options)
               for name, judges in todo.items() for col, options in judges}
    n = 0
    for src in sources(folder):
        for part in parts_of(src):
            df = pl.read_parquet(part)
            rows = [(i, dataset, key) for i, (dataset, key, status) in enumerate(zip(
                df["dataset"].to_list(), df["key"].to_list(), df["status"].to_list(),
                strict=True))
                if dataset in todo and status == "ok"]
            if not rows:
                continue
            cols: dict[str, list[Any]] = {}

            def column(name: str, df: pl.DataFrame = df, cols: dict[str, list[Any]] = cols
                       ) -> list[Any]:
                if name not in cols:
                    cols[name] = (df[name].to_list() if name in df.columns
                                  else [None] * df.height)
                return cols[name]

            for i, dataset, key in rows:
                for col, _ in todo[dataset]:
                    value, grade, why = scorers[(dataset, col)].score({"key": key})
                    column("score_" + col)[i] = value
                    column("answer_" + col)[i] = grade
                    column("explanation_" + col)[i] = why
                    if firsts.get(dataset) == col:
                        column("score")[i] = value
            if all(name in df.columns and values == df[name].to_list()
                   for name, values in cols.items()):
                continue  # every verdict as it was: the part stays as written
            n += len(rows)
            out = df.with_columns([
                pl.Series(name, values, dtype=pl.Float64 if name.startswith("score")
                          else pl.String) for name, values in cols.items()])
            atomic_write(part, lambda p, out=out: out.write_parquet(p, statistics=False))
    return n
