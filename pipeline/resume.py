"""Whether and how a run folder may be (re)used by a config: the run id, the endpoints, and
the rule for changed requests.

The rule: a resume may add work (more rows, a new dataset or model) but never leave paid
answers behind. When the requests a config makes differ from the run's (a prompt, a
generation setting, a dataset file edited), the journal's answered keys are checked against
the new plan; if any answer would drop out of the results, the resume is refused, naming
what changed. So "spent in this run folder" (the sum over the journal) and the results
always describe the same requests.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.config import Config
from pipeline.errors import InputError, RunStateError
from pipeline.plan import Plan
from pipeline.providers import same_endpoint
from pipeline.records import key_digest, key_digest_expr
from pipeline.runfolder import changes, check_run_id, latest_run, new_run_id
from pipeline.store import Store
from pipeline.work import WorkItem

if TYPE_CHECKING:
    import polars as pl

    from pipeline.shards import Shard


def choose_folder(cfg: Config, run_id: str | None, resume: bool,
                  store: Store | None = None, shard: Shard | None = None) -> tuple[str, Path]:
    """(run id, folder): the given id, the latest run of the config (--resume), or a new one.
    With a store, run ids are the store's and the folder is the run's local working copy.
    With a shard (which needs a run id, so N processes agree on the run), the folder is the
    shard's own: `<run folder>/shards/K-of-N/`."""
    if shard is not None:
        from pipeline.shards import check_mix, shard_folder

        if run_id is None:
            raise InputError("--shard needs --run-id RUN, the same for every shard, so they "
                             "share one run folder")
        if store is not None:
            raise InputError(f"--shard with output_dir {store.url}: sharded runs need a local "
                             "or shared output_dir for now")
        run_folder = Path(cfg.output_dir) / check_run_id(run_id)
        check_mix(run_folder, shard)
        return run_id, shard_folder(run_folder, shard)
    if store is not None:
        return _choose_stored(cfg, run_id, resume, store)
    out_dir = Path(cfg.output_dir)
    if run_id is not None:
        run_id = check_run_id(run_id)
    elif resume:
        last = latest_run(out_dir, cfg.name)
        if last is None:
            raise RunStateError(f"--resume: no earlier run of {cfg.name!r} under {out_dir}/")
        run_id = last.name
    else:
        run_id = new_run_id(cfg.name, out_dir)
    return run_id, out_dir / run_id


def _choose_stored(cfg: Config, run_id: str | None, resume: bool,
                   store: Store) -> tuple[str, Path]:
    if run_id is not None:
        run_id = check_run_id(run_id)
    elif resume:
        run_id = store.latest_run(cfg.name)
        if run_id is None:
            raise RunStateError(f"--resume: no earlier run of {cfg.name!r} in {store.url}/")
    else:
        ids = set(store.run_ids())
        run_id = new_run_id(cfg.name, store.working_copy(""), taken=ids.__contains__)
    return run_id, store.working_copy(run_id)


def request_config(plan: Plan, infos: list[dict[str, Any]]) -> dict[str, Any]:
    """Everything in a config that decides which requests it makes, in a comparable form."""
    cfg = plan.loaded.config
    sha = {i["name"]: i.get("sha256") for i in infos}
    dump = {"exclude_none": True, "mode": "json"}
    return {
        "epochs": cfg.run.epochs,
        "models": {
            m.name: {"id": m.id, **({"generation": m.generation.model_dump(**dump)}
                                    if m.generation else {})}
            for m in cfg.models
        },
        "generation": cfg.generation.model_dump(**dump),
        "datasets": {
            d.name: {
                "file sha256": sha.get(d.name), "format": d.fmt,
                # sample and seed choose the rows: another seed is another set of requests
                **d.spec.model_dump(include={"columns", "template", "system", "limit",
                                             "sample", "seed", "generation"}, **dump),
            }
            for d in plan.datasets
        },
    }


def fingerprint(request_cfg: dict[str, Any]) -> str:
    """A short hash of a request config."""
    text = json.dumps(request_cfg, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def prices(cfg: Config) -> dict[str, list[float] | None]:
    """Each model's price (USD per million input and output tokens) as a run records it."""
    from pipeline.pricing import rate_for

    out: dict[str, list[float] | None] = {}
    for m in cfg.models:
        rate = rate_for(m.id, (m.price.input, m.price.output) if m.price else None)
        out[m.name] = None if rate is None else [rate.input, rate.output]
    return out


def price_changes(previous: dict[str, Any] | None, now: dict[str, list[float] | None]
                  ) -> list[str]:
    """Warnings for models whose price changed since the run's earlier invocations: costs
    already journaled keep the old price, so the run's totals mix both."""
    before = (previous or {}).get("prices") or {}
    out = []
    for name, rate in now.items():
        if name in before and before[name] != rate:
            def show(r: list[float] | None) -> str:
                return "no price" if r is None else f"{r[0]:g}/{r[1]:g}"
            out.append(f"{name}: price changed since this run began ({show(before[name])} -> "
                       f"{show(rate)} USD per million input/output tokens); answers already "
                       "journaled keep their old cost, so the totals mix both prices")
    return out


def check_endpoints(folder: Path, previous: dict[str, Any] | None, cfg: Config,
                    endpoints: list[dict[str, Any]]) -> None:
    """Refuse a run folder of another config, or one whose answers came from other endpoints."""
    if previous is None:
        return
    if previous.get("name") != cfg.name:
        raise RunStateError(
            f"{folder}: belongs to config {previous.get('name')!r}, not {cfg.name!r} "
            "(pick another --run-id)"
        )
    before = {e["model"]: e for e in previous.get("endpoints") or []}
    for now in endpoints:
        was = before.get(now["model"])
        if was is not None and not same_endpoint(was, now):
            raise RunStateError(
                f"{folder}: {now['model']}'s results came from "
                f"{was['base_url'] or was['kind']}, this config sends to "
                f"{now['base_url'] or now['kind']}; resuming would mix them "
                "(pick another --run-id)"
            )


_NOT_ALL_DONE = re.compile(rb"[^\xff]")  # a byte of the sample bitmap with a sample not done


@dataclass(slots=True)
class DoneIndex:
    """What a resume needs of a run folder, from its compact result rows (one lazy scan of a
    few columns): which items need no new request, and the money spent and attempts made
    over every record (superseded ones included: they were sent and paid).

    Done items are known by plan position (a bitmap: one bit an item) while every record was
    made by the same requests as now; otherwise by key (64-bit digests of the final keys)."""

    spent_usd: float = 0.0
    records: int = 0
    attempts: int = 0
    bits: bytearray | None = None  # position -> done, when positions are valid
    sample_bits: bytearray | None = None  # sample index -> all its items done
    keys: set[int] | None = None  # key digests of done items, when they are not
    done: int = 0  # planned items already done

    def position_done(self, position: int) -> bool:
        """Whether the item at this plan position needs no new request (bitmap mode)."""
        bits = self.bits
        return bits is not None and position >> 3 < len(bits) and \
            bool(bits[position >> 3] & (1 << (position & 7)))

    def sample_done(self, index: int) -> bool:
        """Whether every item of the plan's sample number `index` is done (bitmap mode)."""
        bits = self.sample_bits
        return bits is not None and index >> 3 < len(bits) and \
            bool(bits[index >> 3] & (1 << (index & 7)))

    def next_pending_sample(self, start: int) -> int:
        """The first sample index from `start` on that is not wholly done (bitmap mode): one
        C-level scan of the bitmap for a byte with a bit unset, then its bits."""
        bits = self.sample_bits
        if bits is None:
            return start
        i = start
        while i & 7 and self.sample_done(i):
            i += 1
        if i & 7:
            return i
        m = _NOT_ALL_DONE.search(bits, i >> 3)
        if m is None:
            return max(i, len(bits) * 8)
        i = m.start() * 8
        while self.sample_done(i):
            i += 1
        return i

    def key_done(self, key: str) -> bool:
        """Whether the item with this key needs no new request."""
        return self.keys is not None and key_digest(key) in self.keys


def _key_digests(frame: pl.DataFrame) -> set[int]:

    return set(frame.select(key_digest_expr())
               .to_series().to_list())


def _count_records(rows: pl.LazyFrame, index: DoneIndex) -> None:
    """Records, money spent and attempts over every row (superseded ones included)."""
    import polars as pl

    t = rows.select(pl.len(), pl.col("spent_usd").sum(),
                    pl.col("attempts").fill_null(0).sum()).collect().row(0)
    index.records, index.spent_usd, index.attempts = int(t[0]), float(t[1] or 0), int(t[2] or 0)


def _bitmap(members: pl.Series, size: int) -> bytearray:
    """A bitmap of `size` bits with the given (distinct, in-range) members set, built by
    polars (a million members in milliseconds, not a Python loop)."""
    import polars as pl

    nbytes = (size + 7) // 8
    if members.len() == 0:
        return bytearray(nbytes)
    frame = members.cast(pl.Int64).to_frame("p").group_by(pl.col("p") // 8).agg(
        pl.lit(2, pl.Int64).pow(pl.col("p") % 8).sum().alias("v"))
    values = pl.Series("v", [0] * nbytes, dtype=pl.Int64).scatter(frame["p"], frame["v"])
    return bytearray(values.cast(pl.UInt8).to_list())


def pending(plan: Plan, index: DoneIndex) -> Iterator[WorkItem]:
    """The plan's items not done yet: by position (samples whose items are all done are
    passed over unread), or by key when the run's requests changed over its life."""
    if index.keys is None:
        if index.bits is None:
            yield from plan.items()
        else:
            yield from plan.items(index.position_done, index.sample_done,
                                  index.next_pending_sample)
        return
    for item in plan.items():
        if not index.key_done(item.key):
            yield item


def load_index(folder: Path, previous: dict[str, Any] | None, plan: Plan,
               request_cfg: dict[str, Any], run_id: str | None = None) -> DoneIndex:
    """The run folder's DoneIndex (its result rows brought level with its journal first).

    When the config's requests changed since the run's last invocation, every planned key is
    checked against the journal, and a resume that would leave answered requests out of
    the results is refused with what changed."""
    from pipeline.results import ROWS, catch_up, scan_rows

    index = DoneIndex()
    if not (folder / "journal.jsonl").exists() and not (folder / ROWS).exists():
        return index
    import polars as pl

    catch_up(folder, run_id or folder.name, plan.scorers)
    rows = scan_rows(folder)
    _count_records(rows, index)
    if index.records == 0:
        return index
    old_cfg = (previous or {}).get("request_config")
    same = old_cfg is not None and fingerprint(old_cfg) == fingerprint(request_cfg) and \
        (previous or {}).get("positions_valid", True)
    if same:
        # Positions are the whole plan's, a shard's items included (they keep their
        # run-wide positions): the bitmaps span every position, not the shard's count.
        size = plan.positions
        final = (rows.filter(pl.col("final")).select("position").drop_nulls().unique()
                 .filter(pl.col("position") < size).collect().to_series())
        index.done = final.len()
        index.bits = _bitmap(final, size)
        per = plan.items_per_sample
        whole = (final.to_frame().group_by(pl.col("position") // per).len()
                 .filter(pl.col("len") == per).to_series())
        index.sample_bits = _bitmap(whole, (size + per - 1) // per)
        return index
    final = rows.filter(pl.col("final")).select("key").collect()
    index.keys = _key_digests(final)
    del final
    answered = _key_digests(rows.filter(pl.col("status") == "ok").select("key").collect())
    done = 0
    for item in plan.items():
        d = key_digest(item.key)
        if d in index.keys:
            done += 1
        answered.discard(d)
    index.done = done
    if answered:
        cost = rows.filter(pl.col("status") == "ok").filter(
            key_digest_expr().is_in(list(answered))
        ).select(pl.col("cost_usd").sum()).collect().item() or 0.0
        what = changes(old_cfg, request_cfg) if old_cfg is not None else []
        shown = ", ".join(what[:6]) + (f" and {len(what) - 6} more" if len(what) > 6 else "")
        raise RunStateError(
            f"{folder}: this config no longer makes {len(answered)} requests the run already "
            f"paid for (${cost:.4f})" + (f"; changed: {shown}" if shown else "")
            + "; their answers would drop out of the results. Revert the change, or start a "
            "new run with another --run-id"
        )
    return index


def done_index(folder: Path) -> DoneIndex:
    """A key-mode DoneIndex of a run folder, read only (its result rows plus the journal's
    tail they do not cover yet): for `pipeline estimate --run-id`."""
    import polars as pl

    from pipeline.journal import JOURNAL_NAME, iter_journal, sources
    from pipeline.records import is_final, spent_of
    from pipeline.results import covered, scan_rows

    index = DoneIndex(keys=set())
    assert index.keys is not None
    rows = scan_rows(folder)
    _count_records(rows, index)
    index.keys |= _key_digests(rows.filter(pl.col("final")).select("key").collect())
    for src in sources(folder):
        for rec, _ in iter_journal(src / JOURNAL_NAME, covered(src)):
            index.records += 1
            index.attempts += rec.get("attempts") or 0
            index.spent_usd += spent_of(rec)
            if is_final(rec):
                index.keys.add(key_digest(rec["key"]))
    return index
