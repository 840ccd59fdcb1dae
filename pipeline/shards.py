"""A run split into N shards by key hash: the `--shard K/N` value, where each shard's files
live, and each shard's share of the run-wide limits.

Layout: `<output_dir>/RUN/` holds the run's manifest (written by the first shard to start:
the config, so `pipeline report RUN` can plan the whole run) and `shards/K-of-N/`, one run
folder per shard with its own manifest, journal and lock; a shard resumes by running the
same command again. `pipeline report RUN` merges them (`journal.read_journal` reads every
shard's journal). Limits are shared by dividing them among shards: each shard gets the
run's concurrency / N (rounded up), each model's rpm and tpm / N (rounded down, at least 1)
and run.max_cost_usd / N, so N shards together never exceed the run's limits.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pipeline.catalog import CATALOG
from pipeline.config import Config, LoadedConfig
from pipeline.errors import InputError, RunStateError
from pipeline.runfolder import MANIFEST, now_iso, read_manifest, write_json

SHARDS = "shards"
LIMITS_NOTE = "limits are shared by dividing them among shards"
_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
_FOLDER = re.compile(r"^(\d+)-of-(\d+)$")


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard `index` (1-based) of `count`."""

    index: int
    count: int

    @property
    def name(self) -> str:
        """Its folder name, zero-padded so folders sort: `02-of-04`."""
        w = max(2, len(str(self.count)))
        return f"{self.index:0{w}d}-of-{self.count:0{w}d}"

    def as_tuple(self) -> tuple[int, int]:
        return self.index, self.count


def parse_shard(text: str) -> Shard:
    """`K/N` with 1 <= K <= N; InputError (one line) otherwise."""
    m = _SHARD.match(text or "")
    if not m:
        raise InputError(f"--shard {text!r}: write K/N, e.g. --shard 2/4 (shard 2 of 4)")
    k, n = int(m.group(1)), int(m.group(2))
    if n < 1 or not 1 <= k <= n:
        raise InputError(f"--shard {text}: K must be between 1 and N (N >= 1), e.g. "
                         "--shard 1/4 ... --shard 4/4")
    return Shard(k, n)


def shard_folder(run_folder: Path, shard: Shard) -> Path:
    """Where shard K of N of a run keeps its files."""
    return run_folder / SHARDS / shard.name


def shard_folders(run_folder: Path) -> list[Path]:
    """The run's shard folders, sorted (none for an unsharded run or a shard itself)."""
    base = run_folder / SHARDS
    if not base.is_dir():
        return []
    return sorted(p for p in base.iterdir() if p.is_dir() and _FOLDER.match(p.name))


def shard_count(run_folder: Path) -> int | None:
    """N of a run already split into shards (None if it has none yet)."""
    for p in shard_folders(run_folder):
        return int(_FOLDER.match(p.name).group(2))  # type: ignore[union-attr]
    return None


def check_mix(run_folder: Path, shard: Shard) -> None:
    """Refuse a shard whose N differs from the shards already in the run, or a run folder
    that a single process ran."""
    if (run_folder / "journal.jsonl").exists():
        raise RunStateError(f"{run_folder}: a single-process run, not a sharded one; resume it "
                            "without --shard, or pick another --run-id")
    for p in shard_folders(run_folder):
        n = int(_FOLDER.match(p.name).group(2))  # type: ignore[union-attr]
        if n != shard.count:
            raise RunStateError(f"{run_folder}: already split into {n} shards ({p.name}); "
                                f"use --shard K/{n}, or pick another --run-id")


def divide_limits(cfg: Config, count: int) -> Config:
    """The config one of `count` shards runs with: concurrency / N (ceil), each model's rpm
    and tpm / N (floor, at least 1; the catalogue's published limits when the run uses
    them) and max_cost_usd / N. The requests themselves are unchanged."""
    if count == 1:
        return cfg
    use_limits = cfg.run.rate_limits if cfg.run.rate_limits is not None else (
        cfg.provider.kind == "heroku")
    models = []
    for m in cfg.models:
        facts = CATALOG.get(m.id)
        rpm = m.rpm or (facts.rpm if use_limits and facts else None)
        tpm = m.tpm or (facts.tpm if use_limits and facts else None)
        models.append(m.model_copy(update={
            "rpm": None if rpm is None else max(1, rpm // count),
            "tpm": None if tpm is None else max(1, tpm // count)}))
    run = cfg.run.model_copy(update={
        "concurrency": max(1, math.ceil(cfg.run.concurrency / count)),
        "max_cost_usd": None if cfg.run.max_cost_usd is None
        else cfg.run.max_cost_usd / count})
    return cfg.model_copy(update={"models": models, "run": run})


def judge_share(cfg: Config, jcfg: Config, count: int) -> Config:
    """The judge phase's config (`jcfg`, pipeline.judging.judge_config) of one of `count`
    shards: a judge that is not one of the run's models gets the shard's share of its limits,
    as the run's models already have (`cfg`: the shard's config)."""
    if count == 1:
        return jcfg
    own = {id(m) for m in cfg.models}
    divided = divide_limits(jcfg, count).models
    return jcfg.model_copy(update={"models": [
        m if id(m) in own else d for m, d in zip(jcfg.models, divided, strict=True)]})


def shard_loaded(loaded: LoadedConfig, shard: Shard) -> LoadedConfig:
    """The loaded config with the shard's share of the limits (`raw` stays the run's)."""
    return replace(loaded, config=divide_limits(loaded.config, shard.count))


def shard_manifest(cfg: Config, shard: Shard) -> dict[str, Any]:
    """What a shard's manifest says about its shard and its share of the limits."""
    return {
        "shard": {"index": shard.index, "count": shard.count},
        "limits": {
            "note": LIMITS_NOTE, "concurrency": cfg.run.concurrency,
            "max_cost_usd": cfg.run.max_cost_usd,
            "rpm": {m.name: m.rpm for m in cfg.models},
            "tpm": {m.name: m.tpm for m in cfg.models},
        },
    }


def start_run(run_folder: Path, run_id: str, loaded: LoadedConfig, count: int) -> None:
    """Write the run's top-level manifest if no shard did yet (what `pipeline report RUN`
    plans the whole run from), and refuse a folder of another config."""
    top = read_manifest(run_folder)
    if top is not None:
        if top.get("name") != loaded.config.name:
            raise RunStateError(f"{run_folder}: belongs to config {top.get('name')!r}, not "
                                f"{loaded.config.name!r} (pick another --run-id)")
        return
    write_json(run_folder / MANIFEST, {
        "run_id": run_id, "name": loaded.config.name, "status": "running",
        "created_at": now_iso(), "updated_at": now_iso(),
        "config_path": str(loaded.path), "config": loaded.raw,
        "shards": {"count": count, "note": LIMITS_NOTE},
    })


def send_status(run_folder: Path) -> str:
    """How the shards' sending ended, for the merged run: the first shard that stopped
    (budget, signal, endpoint failure, a killed process) names it, else "complete" (items no
    shard has sent yet still make the merged run incomplete)."""
    from pipeline.finalize import STOPPED

    for p in shard_folders(run_folder):
        m = read_manifest(p) or {}
        s = m.get("send_status") or m.get("status")
        if s in STOPPED:
            return s
    return "complete"


# What the merged manifest takes from the shards' (the same in every shard of a run).
_SHARED = ("provider", "endpoints", "datasets", "models", "prices", "request_config",
           "request_fingerprint", "versions")


def merged_manifest(run_folder: Path, top: dict[str, Any]) -> dict[str, Any]:
    """The run's manifest for a merge: the top-level one, the facts every shard shares, and
    each shard's status and counts."""
    shards = [(p, read_manifest(p) or {}) for p in shard_folders(run_folder)]
    out = dict(top)
    for _, m in shards:
        for k in _SHARED:
            if k in m and k not in out:
                out[k] = m[k]
    info = dict(top.get("shards") or {})
    info.update(note=LIMITS_NOTE, folders=[
        {"folder": f"{SHARDS}/{p.name}", "status": m.get("status"),
         "done": (m.get("totals") or {}).get("done"),
         "planned": (m.get("totals") or {}).get("planned")} for p, m in shards])
    out["shards"] = info
    return out
