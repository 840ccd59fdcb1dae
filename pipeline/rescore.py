"""Rebuild a run's tables and reports from its journal, without sending anything.

For a run whose process died before the end, or to score again with other scorers
(`--config` with the same datasets and models, different `scorers`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pipeline.compare import check_overlap, resolve_baseline
from pipeline.config import LoadedConfig, load_config, parse_config
from pipeline.errors import RunStateError
from pipeline.finalize import finalize
from pipeline.plan import Plan
from pipeline.results import rebuild
from pipeline.runfolder import MANIFEST, RunLock, read_manifest
from pipeline.shards import merged_manifest, send_status, shard_folders


def rescore(folder: Path, config: str | None = None, *, baseline: str | None = None
            ) -> tuple[str, LoadedConfig]:
    """Score the journal of `folder` again and rewrite its outputs; returns the run status and
    the config it scored with (the run's own unless `config`). `baseline` ("latest" or a run
    folder) compares the run with another; without it, the baseline the run was last
    compared with is kept if its folder is still there."""
    if not (folder / MANIFEST).exists() or not (
            (folder / "journal.jsonl").exists() or shard_folders(folder)):
        raise RunStateError(f"{folder}: not a run folder (no {MANIFEST} and journal.jsonl)")
    with RunLock(folder):  # a run in progress is not rescored under its feet
        return _rescore(folder, config, baseline)


def _baseline_of(folder: Path, manifest: dict[str, Any], spec: str | None) -> Path | None:
    """The run folder to compare with: --baseline's, else the one recorded in the manifest."""
    if spec is None:
        kept = manifest.get("baseline") or {}
        for where in (kept.get("folder"), kept.get("run_id") and folder.parent / kept["run_id"]):
            if where and (Path(where) / "results.parquet").exists():
                return Path(where)
        if kept.get("run_id"):
            print(f"warning: the baseline run {kept['run_id']} is gone ({kept.get('folder')}); "
                  "the report no longer compares with it", file=sys.stderr)
        return None
    return resolve_baseline(spec, folder.parent, name=str(manifest.get("name")),
                            run_id=folder.name, created_at=manifest.get("created_at"))


def _load(folder: Path, config: str | None) -> tuple[dict[str, Any], LoadedConfig, Plan]:
    """The run's manifest (merged over its shards), the config to score with (the run's own
    unless `config`) and its plan."""
    manifest = read_manifest(folder)
    assert manifest is not None
    if shard_folders(folder):  # a sharded run: merge what the shards' manifests know
        manifest = merged_manifest(folder, manifest)
    if config is not None:
        loaded = load_config(config)
    else:
        source = f"{folder / MANIFEST}: config"
        path = Path(manifest["config_path"])  # `function` scorers are imported beside it
        loaded = LoadedConfig(parse_config(manifest["config"], source=source,
                                           base=path.resolve().parent),
                              path, manifest["config"])
    shard = manifest.get("shard")  # a shard's own folder: only its items
    return manifest, loaded, Plan(loaded, shard=(shard["index"], shard["count"]) if shard
                                  else None)


def _rescore(folder: Path, config: str | None, baseline: str | None,
             stopped: tuple[str, str | None] | None = None) -> tuple[str, LoadedConfig]:
    manifest, loaded, plan = _load(folder, config)
    base_folder = _baseline_of(folder, manifest, baseline)
    if baseline is not None and base_folder is not None:
        check_overlap(base_folder, [d.name for d in plan.datasets],
                      [m.name for m in loaded.config.models])
    infos = plan.describe()
    run_id = manifest.get("run_id", folder.name)
    rebuild(folder, run_id, plan.scorers)  # every record scored again, in one streaming pass
    restrict = config is not None or not manifest.get("positions_valid", True)
    if restrict:
        _check_matched(folder, plan)
    before = {d["name"]: d.get("sha256") for d in manifest.get("datasets", [])}
    for d in infos:
        if before.get(d["name"]) not in (None, d["sha256"]):
            print(f"warning: dataset {d['name']!r} changed since the run ({d['path']}); "
                  "rows whose requests changed have no results", file=sys.stderr)
    # A run that was finalized keeps how its sending ended; one whose process died before
    # (or while) finalizing was interrupted.
    status = manifest.get("send_status") or "interrupted"
    if shard_folders(folder):  # a sharded run: the shards' journals merge here
        status = send_status(folder)
    reason = manifest.get("stop_reason")
    if stopped is not None:  # `pipeline score`'s judging stopped (budget, Ctrl-C)
        status, reason = stopped
    if config is not None:
        manifest = {**manifest, "scored_with": str(config),
                    "scorers": {d.name: [s.model_dump(exclude_none=True) for s in d.scorers]
                                for d in plan.datasets}}
    else:  # scored with the run's own config again: an earlier --config no longer applies
        manifest = {k: v for k, v in manifest.items() if k not in ("scored_with", "scorers")}
    result = finalize(folder, plan, run_id, manifest, status,
                      reason=reason, rescored=True,
                      baseline=base_folder, restrict=restrict)
    return result.status, loaded


def score(folder: Path, config: str | None = None, *, baseline: str | None = None,
          opts: Any = None) -> tuple[str, LoadedConfig, int]:
    """`pipeline score`: send the judge requests the run's answers still need (none when no
    dataset has a judge, or every answer has its verdict), then score the journal again and
    rewrite the outputs. Returns the run status, the config and the judge requests sent.
    The judge's keys are read from the environment only when a request is to be sent."""
    if not (folder / MANIFEST).exists() or not (
            (folder / "journal.jsonl").exists() or shard_folders(folder)):
        raise RunStateError(f"{folder}: not a run folder (no {MANIFEST} and journal.jsonl)")
    with RunLock(folder):
        manifest, loaded, plan = _load(folder, config)
        sent, stopped = 0, None
        if plan.scorers.judge_ids:
            import anyio

            # another config's plan may differ from the run's: judge only what it makes
            restrict = config is not None or not manifest.get("positions_valid", True)
            sent, stopped = anyio.run(_judge, folder, loaded, plan, opts, restrict)
        status, loaded = _rescore(folder, config, baseline, stopped)
    return status, loaded, sent


async def _judge(folder: Path, loaded: LoadedConfig, plan: Plan, opts: Any, restrict: bool
                 ) -> tuple[int, tuple[str, str | None] | None]:
    """Send a run folder's pending judge requests (pipeline.judging); (requests finished,
    (status, reason) when the sending stopped early, else None)."""
    from pipeline.errors import ConfigError
    from pipeline.judging import Verdicts, check_judges, count_pending, judge_config
    from pipeline.limits import Budget
    from pipeline.providers import open_endpoints
    from pipeline.runner import RunOptions, _judge_phase

    opts = opts or RunOptions()
    cfg = loaded.config
    jcfg = judge_config(cfg)
    assert jcfg is not None
    verdicts = Verdicts(folder, plan.scorers.judge_ids)
    if count_pending(folder, plan.scorers, verdicts, jcfg.models) == 0:
        return 0, None
    if shard_folders(folder):
        raise RunStateError(
            f"{folder}: a sharded run's judge requests are sent by its shards, each with its "
            "share of the limits and the budget: resume each shard (pipeline run CONFIG "
            f"--shard K/N --run-id {folder.name}), then `pipeline report {folder}`")
    resolved, problems = check_judges(cfg, opts.env, str(loaded.path))
    if problems:
        where, problem = problems[0]
        raise ConfigError(where, problem)
    from pipeline.resume import done_index

    # the journal's tail that no row part covers yet (a process killed) counts too
    budget = Budget(cfg.run.max_cost_usd, done_index(folder).spent_usd + verdicts.spent_usd)
    with open_endpoints(jcfg, resolved, opts.emulator_overrides) as (endpoints, _):
        judging = await _judge_phase(folder, plan, endpoints, resolved, budget, opts,
                                     restrict=restrict)
    if judging is None:
        return 0, None
    state, sent = judging
    return sent, (state.status, state.reason) if state.stopping else None


def _check_matched(folder: Path, plan: Plan) -> None:
    """Refuse a config none of whose requests is in the journal; warn about those missing."""

    from pipeline.records import key_digest, key_digest_expr
    from pipeline.results import scan_rows

    have = set(scan_rows(folder).select(
        key_digest_expr()).collect().to_series())
    total = matched = 0
    for item in plan.items():
        total += 1
        matched += key_digest(item.key) in have
    if matched == 0:
        raise RunStateError(
            f"{folder}: none of the config's {total} requests is in the journal "
            "(its models, generation settings or datasets differ from the run's); rescoring "
            "needs the same requests, only the scorers may change"
        )
    if matched < total:
        print(f"warning: {total - matched} of {total} planned requests have no answer in the "
              "journal", file=sys.stderr)


def rescore_stored(url: str, config: str | None = None, *, baseline: str | None = None
                   ) -> tuple[Path, str, LoadedConfig]:
    """`pipeline report s3://bucket/prefix/<run_id>`: restore the run's working copy, score it
    again, upload the new outputs; returns the working copy and the run status."""
    from pipeline.errors import InputError, RunError
    from pipeline.runfolder import check_run_id
    from pipeline.store import S3Url, Store, parse_s3_url

    try:
        where = parse_s3_url(url)
    except ValueError as exc:
        raise InputError(f"report: {exc}") from None
    if not where.prefix:
        raise InputError(f"report: {url}: name the run: s3://bucket/prefix/<run_id>")
    prefix, _, run_id = where.prefix.rpartition("/")
    store = Store.open(str(S3Url(where.bucket, prefix)))
    if not store.exists(check_run_id(run_id)):
        raise RunStateError(f"{url}: no such run in the store")
    folder = store.working_copy(run_id)
    with RunLock(folder):
        syncer = store.attach(run_id)
        if not (folder / MANIFEST).exists() or not (folder / "journal.jsonl").exists():
            raise RunStateError(f"{url}: not a run folder (no {MANIFEST} and journal)")
        status, loaded = _rescore(folder, config, baseline)
        try:
            syncer.push()
        except OSError as exc:
            raise RunError(f"{url}: the upload failed ({syncer.error(exc)}); the rebuilt "
                           f"reports are in {folder}") from None
    return folder, status, loaded
