"""The plan: a config turned into the stream of work items, in an order any prefix of which is
representative and paired.

Datasets are read lazily and interleaved in proportion to their sizes (stride scheduling),
so a run stopped by its budget, a signal or a dyno's end has every dataset in the same
share; within a sample every epoch and model comes together, so what finished is paired
across models. Nothing here holds every item.
"""

from __future__ import annotations

import hashlib
import heapq
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.config import Dataset, Generation, LoadedConfig, ScorerSpec
from pipeline.datasets import (
    RowCursor,
    RowScan,
    Sample,
    count_rows,
    fingerprint,
    infer_format,
)
from pipeline.errors import DatasetError
from pipeline.subset import choose_rows
from pipeline.work import WorkItem, item_key, request_body

CHECK_CHUNK = 64  # rows validated between yields of Plan.check_rows


def hash_id(sample_id: str) -> int:
    """A signed 64-bit digest of a sample id (duplicate checks hold these, not the ids)."""
    return int.from_bytes(hashlib.blake2b(sample_id.encode(), digest_size=8).digest(), "big",
                          signed=True)


def _raise_duplicate(d: DatasetPlan, digest: int) -> None:
    """Find the rows behind a repeated digest and name the second (a digest collision of two
    different ids, ~1e-8 in a million rows, is no error)."""
    seen: dict[str, str] = {}
    for where, sample in d.checked_samples():
        if hash_id(sample.sample_id) == digest:
            if sample.sample_id in seen:
                raise DatasetError(where, f"duplicate id {sample.sample_id!r}",
                                   "ids must be unique")
            seen[sample.sample_id] = where


class Scorers(dict[str, list[ScorerSpec]]):
    """Dataset name -> its scorers; `judge_ids` maps each judge's `model` option to the model
    id it names (pipeline.judging keys judge requests by the id)."""

    judge_ids: dict[str, str]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.judge_ids = {}


@dataclass(frozen=True, slots=True)
class DatasetPlan:
    """One dataset of the config, resolved: where it is, its scorers, its merged settings."""

    index: int
    spec: Dataset
    path: Path
    fmt: str
    scorers: list[ScorerSpec]
    generations: list[Generation]  # per model: run, model, dataset levels merged
    # the row count and the rows `sample` draws, each worked out once (rows, chosen)
    memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def name(self) -> str:
        """The dataset's name in tables."""
        return self.spec.name

    @property
    def judged(self) -> bool:
        """Whether an LLM judge grades its answers (its records then keep their messages)."""
        return any(s.name == "judge" for s in self.scorers)

    def checked_samples(self) -> Iterator[tuple[str, Sample]]:
        """(where, sample) for every row, validated, ids not tracked (see Plan.check_rows)."""
        cursor = self.cursor()
        while True:
            sample = cursor.next()
            if sample is None:
                return
            yield cursor.where, sample

    def cursor(self) -> RowCursor:
        """Its samples in order, each built or skipped unread (see RowCursor): the first
        `limit` rows, or of those the `sample` rows drawn with `seed`."""
        chosen, take = self.chosen()
        return RowCursor(self.path, dataset=self.spec.name, fmt=self.fmt,
                         columns=self.spec.columns, template=self.spec.template,
                         system=self.spec.system, limit=self.spec.limit, chosen=chosen,
                         take=take, needs_target=not self.spec.outputs_only,
                         group_by=self.spec.group_by)

    def rows(self) -> int:
        """The rows it draws from: the file's (counted once, no row parsed), at most `limit`."""
        if "rows" not in self.memo:
            scan = self.memo.pop("scan", None)  # begun by Plan.describe: read the rest
            n = scan.finish().rows if scan is not None else count_rows(self.path, self.fmt)
            self.memo["rows"] = n if self.spec.limit is None else min(n, self.spec.limit)
        return int(self.memo["rows"])

    def chosen(self) -> tuple[bytearray | None, int | None]:
        """(bitmap of the rows drawn, how many) for `sample`; (None, None) without it."""
        want = self.spec.sample
        if want is None:
            return None, None
        if "chosen" not in self.memo:
            rows = self.rows()
            if want > rows:
                within = f"the first {rows} rows (limit)" if self.spec.limit is not None \
                    and self.spec.limit == rows else f"{rows} rows"
                raise DatasetError(
                    str(self.path), f"sample = {want} but the dataset has {within}",
                    f"lower datasets[{self.index}].sample to at most {rows}, or remove it to "
                    "read every row")
            self.memo["chosen"] = choose_rows(rows, want, self.spec.seed or 0)
        return self.memo["chosen"], want

    def estimated_samples(self) -> int:
        """The number of samples, from the file's row count (cheap: no row is parsed)."""
        n = self.rows()
        if self.spec.sample is None or n == 0:
            return n
        self.chosen()  # a sample larger than the rows is an error here, before any request
        return self.spec.sample


def shard_of(key: str, count: int) -> int:
    """The shard (1..count) a work item belongs to, from its key's first 32 bits: stable
    across processes and machines, and spread evenly because keys are hashes."""
    return int(key[:8], 16) % count + 1


class Plan:
    """The work of a config: datasets x models x epochs, produced on demand; with `shard`
    (K, N), only the items of shard K of N (`shard_of`), so N processes split a run."""

    def __init__(self, loaded: LoadedConfig, shard: tuple[int, int] | None = None) -> None:
        self.loaded = loaded
        self.shard = shard
        self._shard_total: int | None = None
        cfg = loaded.config
        self.models = cfg.models
        self.epochs = cfg.run.epochs
        self.datasets: list[DatasetPlan] = []
        for i, ds in enumerate(cfg.datasets):
            path = loaded.resolve(ds.path)
            gens = [cfg.generation.merged(m.generation).merged(ds.generation) for m in cfg.models]
            self.datasets.append(DatasetPlan(
                i, ds, path, infer_format(path, ds.format), ds.scorer_specs(), gens))
        self.scorers = Scorers({d.name: d.scorers for d in self.datasets})
        self.scorers.judge_ids = {name: m.id for name, m in cfg.judge_models().items()}
        self._counts: dict[str, int] | None = None
        # what describe(defer_after=...) left to described(): the dataset, its scan, its info
        self._deferred: tuple[DatasetPlan, RowScan, dict[str, Any]] | None = None

    @property
    def items_per_sample(self) -> int:
        """Work items each sample makes."""
        return len(self.models) * self.epochs

    def describe(self, defer_after: int | None = None) -> list[dict[str, Any]]:
        """Each dataset's path, format, sha256 and number of samples, without parsing a row
        (the counts are exact: non-blank JSONL lines, Parquet metadata; a JSONL file is read
        once for both). Raises DatasetError for a missing or empty dataset.

        With `defer_after` (a number of rows), a plan of one JSONL dataset, without `sample`,
        a shard, or a `limit` up to that number, reads its file only until it has seen more
        rows than that: its info lacks "sha256" and "samples" until `described()` has read
        the rest (`deferred` says whether it does). A million-row file takes 0.1-0.2 s to
        count and hash: a fresh run sends meanwhile (pipeline/runner.py)."""
        infos, counts = [], {}
        bound = -1 if defer_after is None or self.shard is not None or len(self.datasets) > 1 \
            else defer_after
        for d in self.datasets:
            sha = None
            if d.fmt == "jsonl":
                scan = RowScan(d.path)
                if bound >= 0 and d.spec.sample is None and (d.spec.limit is None
                                                             or d.spec.limit > bound):
                    while scan.lines <= bound and scan.step():
                        pass
                    if scan.rows is None:  # more rows than that, and more file to read
                        info = {"name": d.name, "path": str(d.path), "format": d.fmt}
                        d.memo["scan"] = scan
                        self._deferred = (d, scan, info)
                        infos.append(info)
                        continue
                d.memo["scan"] = scan
                d.rows()  # reads what is left of the file
                sha = scan.sha256
            n = d.estimated_samples()
            if n == 0:
                raise DatasetError(str(d.path), "the dataset has no rows",
                                   f"check the file, or remove datasets[{d.index}] from the config")
            counts[d.name] = n
            info = {"name": d.name, "path": str(d.path), "format": d.fmt,
                    "sha256": sha or fingerprint(d.path), "samples": n}
            if d.spec.sample is not None:  # drawn from this many rows, with this seed
                info.update(rows=d.rows(), seed=d.spec.seed or 0)
            infos.append(info)
        if self._deferred is None:
            self._counts = counts
        return infos

    @property
    def deferred(self) -> bool:
        """Whether describe() left part of a dataset file for `described()` to read."""
        return self._deferred is not None

    def described(self) -> Iterator[None]:
        """Read the rest of the file describe(defer_after=...) left, a 1 MiB block per step,
        then fill in its info ("sha256", "samples") and the plan's counts. Nothing to do when
        nothing was left (or it was read since: `total` reads it whole when asked)."""
        while self._deferred is not None:
            d, scan, info = self._deferred
            try:
                more = scan.step()
            except OSError as exc:
                raise DatasetError(str(d.path), f"cannot read the dataset file "
                                   f"({exc.strerror or exc})") from None
            if more:
                yield
                continue
            n = d.rows()
            info.update(sha256=scan.sha256, samples=n)
            self._counts = {d.name: n}
            self._deferred = None

    def check_rows(self) -> Iterator[None]:
        """Read and validate every row once (a bad row or a duplicate id raises DatasetError
        naming its file and line); yields every CHECK_CHUNK rows so a caller can interleave
        it with other work. Duplicate ids are found from 64-bit digests kept in 256 arrays
        (8 bytes a row), each sorted on its own at the end of a dataset (so the sort's
        temporary list is 1/256 of the rows)."""
        for d in self.datasets:
            buckets = [array("q") for _ in range(256)]
            n = 0
            for _, sample in d.checked_samples():
                digest = hash_id(sample.sample_id)
                buckets[digest & 0xFF].append(digest)
                n += 1
                if n % CHECK_CHUNK == 0:
                    yield
            for bucket in buckets:
                ordered = sorted(bucket)
                dup = next((a for a, b in zip(ordered, ordered[1:], strict=False) if a == b),
                           None)
                if dup is not None:
                    _raise_duplicate(d, dup)
            del buckets

    def check(self) -> list[dict[str, Any]]:
        """Describe every dataset and validate every row before anything is sent."""
        infos = self.describe()
        for _ in self.check_rows():
            pass
        return infos

    @property
    def total(self) -> int:
        """The number of work items (exact after `check`, else from row counts); of a shard,
        counted once by walking the plan's keys."""
        if self.shard is not None:
            if self._shard_total is None:
                self._shard_total = sum(1 for _ in self.items())
            return self._shard_total
        return sum(self.sample_counts().values()) * self.items_per_sample

    @property
    def positions(self) -> int:
        """How many plan positions there are: the whole plan's items, a shard's too (a
        shard's items keep their run-wide positions)."""
        return sum(self.sample_counts().values()) * self.items_per_sample

    def sample_counts(self) -> dict[str, int]:
        """Samples per dataset (exact after `check`)."""
        if self._counts is None:
            return {d.name: d.estimated_samples() for d in self.datasets}
        return dict(self._counts)

    def _samples(self, skip: Callable[[int], bool] | None,
                 next_pending: Callable[[int], int] | None = None
                 ) -> Iterator[tuple[int, Sample | None]]:
        """(sample index, sample) in plan order; a sample `skip(index)` says is done is passed
        over unread and comes as None. With one dataset and `next_pending` (the first sample
        index from a given one that is not done), runs of done samples are passed over in
        one loop and not yielded at all: a resume of a half-done million-item run reaches
        its first pending sample without a heap step per finished one."""
        if next_pending is not None and len(self.datasets) == 1:
            yield from self._one_dataset(next_pending)
            return
        # (one dataset: no shares to keep, so its rows need not be counted first)
        counts = self.sample_counts() if len(self.datasets) > 1 else {self.datasets[0].name: 1}
        cursors = {d.index: d.cursor() for d in self.datasets}
        sizes = {d.index: max(1, counts[d.name]) for d in self.datasets}
        # Stride scheduling: the next sample comes from the dataset furthest behind its share.
        heap = [((0.5 / sizes[i]), i) for i in cursors]
        heapq.heapify(heap)
        taken = dict.fromkeys(cursors, 0)
        index = 0
        while heap:
            _, i = heapq.heappop(heap)
            if skip is not None and skip(index):
                if not cursors[i].skip():
                    continue
                yield index, None
            else:
                sample = cursors[i].next()
                if sample is None:
                    continue
                yield index, sample
            index += 1
            taken[i] += 1
            heapq.heappush(heap, ((taken[i] + 0.5) / sizes[i], i))

    def _one_dataset(self, next_pending: Callable[[int], int]
                     ) -> Iterator[tuple[int, Sample | None]]:
        """`_samples` of a one-dataset plan (its order is the dataset's), done samples
        skipped in bulk."""
        cursor = self.datasets[0].cursor()
        index = 0
        while True:
            target = next_pending(index)
            if target > index:
                passed = cursor.skip_many(target - index)
                index += passed
                if index < target:  # the dataset ended among done samples
                    return
            sample = cursor.next()
            if sample is None:
                return
            yield index, sample
            index += 1

    def items(self, done: Callable[[int], bool] | None = None,
              sample_done: Callable[[int], bool] | None = None,
              next_pending: Callable[[int], int] | None = None) -> Iterator[WorkItem]:
        """Every work item (of the shard, if any; and only those whose position `done` does
        not claim): per sample, each epoch's requests to every model together. Positions
        count from 0 in this order over the whole plan (shards included); a sample whose every
        position is done is passed over without being read."""
        by_name = {d.name: d for d in self.datasets}
        per = self.items_per_sample
        skip = sample_done
        if done is not None and skip is None:
            def skip(index: int) -> bool:
                first = index * per
                return all(done(p) for p in range(first, first + per))
        k, n = self.shard or (1, 1)
        for index, sample in self._samples(skip, next_pending if skip is sample_done
                                           else None):
            if sample is None:
                continue
            for item in self.sample_items(sample, by_name[sample.dataset], index * per):
                if n > 1 and shard_of(item.key, n) != k:
                    continue
                if done is None or not done(item.position):
                    yield item

    def sample_items(self, sample: Sample, ds: DatasetPlan, first: int = 0
                     ) -> Iterator[WorkItem]:
        """The work items of one sample, epoch by epoch, every model within an epoch;
        `first` is the position of its first item."""
        bodies = [request_body(sample, m, ds.generations[mi]) for mi, m in enumerate(self.models)]
        position = first
        judged = ds.judged
        for epoch in range(1, self.epochs + 1):
            for mi, model in enumerate(self.models):
                body = bodies[mi]
                key = item_key(sample.dataset, sample.sample_id, model.name, epoch, body)
                yield WorkItem(key, position, sample, model.name, mi, epoch, body, judged)
                position += 1
