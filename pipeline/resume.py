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
from pathlib import Path
from typing import Any

from pipeline.config import Config
from pipeline.errors import InputError, RunStateError
from pipeline.journal import JournalIndex, index_journal, read_journal
from pipeline.plan import Plan
from pipeline.providers import same_endpoint
from pipeline.runfolder import changes, check_run_id, latest_run, new_run_id
from pipeline.shards import Shard, check_mix, shard_folder
from pipeline.store import Store


def choose_folder(cfg: Config, run_id: str | None, resume: bool,
                  store: Store | None = None, shard: Shard | None = None) -> tuple[str, Path]:
    """(run id, folder): the given id, the latest run of the config (--resume), or a new one.
    With a store, run ids are the store's and the folder is the run's local working copy.
    With a shard (which needs a run id, so N processes agree on the run), the folder is the
    shard's own: `<run folder>/shards/K-of-N/`."""
    if shard is not None:
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
                **d.spec.model_dump(include={"columns", "template", "system", "limit",
                                             "generation"}, **dump),
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


def load_index(folder: Path, previous: dict[str, Any] | None, plan: Plan,
               request_cfg: dict[str, Any]) -> tuple[JournalIndex, int]:
    """The journal's index and how many planned items it has done already.

    When the config's requests changed since the run's last invocation, every planned key is
    checked against the journal, and a resume that would leave answered requests out of
    the results is refused with what changed."""
    index = index_journal(folder)
    if not index.state:
        return index, 0
    old_cfg = (previous or {}).get("request_config")
    if old_cfg is not None and fingerprint(old_cfg) == fingerprint(request_cfg):
        return index, sum(1 for k in index.state if index.is_done(k))
    unmatched = set(index.answered())
    done = 0
    for item in plan.items():
        if index.is_done(item.key):
            done += 1
        unmatched.discard(item.key)
    if unmatched:
        cost = sum(r.get("cost_usd") or 0.0 for r in read_journal(folder)
                   if r["key"] in unmatched)
        what = changes(old_cfg, request_cfg) if old_cfg is not None else []
        shown = ", ".join(what[:6]) + (f" and {len(what) - 6} more" if len(what) > 6 else "")
        raise RunStateError(
            f"{folder}: this config no longer makes {len(unmatched)} requests the run already "
            f"paid for (${cost:.4f})" + (f"; changed: {shown}" if shown else "")
            + "; their answers would drop out of the results. Revert the change, or start a "
            "new run with another --run-id"
        )
    return index, done
