"""The fan-out: plan work items, send what is not done yet with bounded concurrency, journal
each result as it lands, then score and write tables and reports."""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
from tqdm import tqdm

from pipeline.client import ChatClient, ChatError, Endpoint, RetryPolicy
from pipeline.config import Config, LoadedConfig, ScorerSpec
from pipeline.datasets import fingerprint, infer_format, load_samples
from pipeline.errors import DatasetError, RunError, RunStateError
from pipeline.journal import Journal, is_final, latest_by_key, read_journal, spent_usd
from pipeline.limits import Budget, RateLimiter
from pipeline.pricing import DEFAULT_RPM, rate_for
from pipeline.providers import identity, open_endpoints, resolve_all, same_endpoint
from pipeline.records import error_record, internal_error_record, ok_record
from pipeline.runfolder import (
    MANIFEST,
    RunLock,
    check_run_id,
    latest_run,
    new_run_id,
    now_iso,
    read_manifest,
    versions,
    write_json,
)
from pipeline.work import WorkItem, plan

DRAIN_S = 25.0  # after a stop signal, in-flight requests get this long (Heroku kills at 30 s)
FATAL_KINDS = frozenset({"auth", "not_found"})  # every later request would fail the same way
# A 403 can be one request's content (a WAF block) or no access to the model at all; this
# many in a row from one model means the latter.
MAX_REFUSED = 5


@dataclass(slots=True)
class Plan:
    """Everything a run will do, built and validated before anything is sent."""

    loaded: LoadedConfig
    items: list[WorkItem]
    scorers: dict[str, list[ScorerSpec]]
    datasets: list[dict[str, Any]]


@dataclass(slots=True)
class RunOptions:
    """How to run: which folder, and hooks the CLI and tests set."""

    run_id: str | None = None
    resume: bool = False
    progress: bool | None = None  # None: only on a terminal
    env: Mapping[str, str] | None = None
    transport: httpx.AsyncBaseTransport | None = None  # tests: httpx.MockTransport
    sleep: Callable[[float], Any] | None = None  # tests: zero backoff
    on_record: Callable[[dict[str, Any]], None] | None = None
    handle_signals: bool = False  # the CLI: first Ctrl-C/SIGTERM drains, second aborts
    emulator_overrides: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class RunOutcome:
    """What a finished (or stopped) run did and where its files are."""

    run_id: str
    folder: Path
    status: str  # complete | incomplete | interrupted | aborted | budget_exhausted | failed
    planned: int
    skipped: int  # already done in an earlier attempt of this run
    sent: int
    errors: int
    files: list[Path]
    reason: str | None = None
    emulator_stats: dict[str, Any] | None = None


def prepare(loaded: LoadedConfig) -> Plan:
    """Read and validate every dataset and build every work item; sends nothing."""
    cfg = loaded.config
    items: list[WorkItem] = []
    infos, scorers = [], {}
    for i, ds in enumerate(cfg.datasets):
        path = loaded.resolve(ds.path)
        fmt = infer_format(path, ds.format)
        samples = list(load_samples(
            path, dataset=ds.name, fmt=fmt, columns=ds.columns, template=ds.template,
            system=ds.system, limit=ds.limit,
        ))
        if not samples:
            raise DatasetError(str(path), "the dataset has no rows",
                               f"check the file, or remove datasets[{i}] from the config")
        gens = {
            (ds.name, mi): cfg.generation.merged(m.generation).merged(ds.generation)
            for mi, m in enumerate(cfg.models)
        }
        items.extend(plan(samples, cfg.models, gens, cfg.run.epochs))
        scorers[ds.name] = ds.scorer_specs()
        infos.append({"name": ds.name, "path": str(path), "format": fmt,
                      "sha256": fingerprint(path), "samples": len(samples)})
    return Plan(loaded, items, scorers, infos)


def _run_folder(cfg: Config, opts: RunOptions) -> tuple[str, Path]:
    out_dir = Path(cfg.output_dir)
    if opts.run_id:
        run_id = check_run_id(opts.run_id)
    elif opts.resume:
        last = latest_run(out_dir, cfg.name)
        if last is None:
            raise RunStateError(f"--resume: no earlier run of {cfg.name!r} under {out_dir}/")
        run_id = last.name
    else:
        run_id = new_run_id(cfg.name, out_dir)
    return run_id, out_dir / run_id


def _check_resumable(folder: Path, previous: dict[str, Any] | None, cfg: Config,
                     endpoints: list[dict[str, Any]]) -> None:
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


class _Progress:
    """Counts and the progress bar for one run."""

    def __init__(self, total: int, done: int, enabled: bool | None) -> None:
        disable = (not sys.stderr.isatty()) if enabled is None else not enabled
        self.bar = tqdm(total=total, initial=done, disable=disable, unit="req",
                        file=sys.stderr, dynamic_ncols=True, mininterval=0.25)
        self.sent = self.errors = 0
        self.cost = 0.0

    def update(self, rec: dict[str, Any]) -> None:
        self.sent += 1
        self.cost += rec.get("cost_usd") or 0.0
        if rec["status"] != "ok":
            self.errors += 1
        if rec["status"] != "ok" or self.sent % 32 == 1:  # formatting costs: not every item
            self.bar.set_postfix_str(f"${self.cost:.4f}, {self.errors} errors", refresh=False)
        self.bar.update(1)


@dataclass(slots=True)
class _State:
    stopping: bool = False
    status: str = "complete"
    reason: str | None = None
    fatal: BaseException | None = None  # raised once every worker has stopped

    def stop(self, status: str, reason: str | None = None) -> None:
        if not self.stopping:
            self.stopping, self.status, self.reason = True, status, reason


async def _execute(
    cfg: Config, pending: list[WorkItem], endpoints: list[Endpoint], journal: Journal,
    progress: _Progress, budget: Budget, opts: RunOptions,
) -> _State:
    """Send every pending item unless stopped; returns how the sending ended."""
    retry = RetryPolicy(
        max_attempts=cfg.run.max_attempts, attempt_timeout_s=cfg.run.attempt_timeout_s,
        deadline_s=cfg.run.deadline_s,
    )
    rates = [rate_for(m.id, (m.price.input, m.price.output) if m.price else None)
             for m in cfg.models]
    use_limits = cfg.run.rate_limits if cfg.run.rate_limits is not None else (
        cfg.provider.kind == "heroku")
    limiters: list[RateLimiter | None] = []
    for m in cfg.models:
        rpm = m.rpm or (DEFAULT_RPM.get(m.id) if use_limits else None)
        limiters.append(RateLimiter(rpm) if rpm else None)
    state = _State()
    queue = iter(pending)
    refused = [0] * len(cfg.models)  # consecutive 403s per model
    client_kwargs: dict[str, Any] = {"retry": retry, "http_backend": cfg.provider.http_backend,
                                     "max_connections": cfg.run.concurrency}
    if opts.transport is not None:
        client_kwargs["transport"] = opts.transport
    if opts.sleep is not None:
        client_kwargs["sleep"] = opts.sleep

    async with ChatClient(**client_kwargs) as client:

        async def worker() -> None:
            while not state.stopping:
                item = next(queue, None)
                if item is None:
                    return
                if budget.exhausted:  # only when something is left to send
                    state.stop("budget_exhausted", f"max_cost_usd {budget.limit} reached")
                    return
                limiter = limiters[item.model_index]
                if limiter is not None:
                    await limiter.acquire()
                    if state.stopping or budget.exhausted:
                        return  # stopped while waiting for a slot: this item is not sent
                model, rate = cfg.models[item.model_index], rates[item.model_index]
                started = time.time()
                try:
                    c = await client.complete(endpoints[item.model_index], item.body)
                    rec = ok_record(item, model.id, rate, started, c)
                    refused[item.model_index] = 0
                except ChatError as exc:
                    rec = error_record(item, model.id, rate, started, exc)
                    refused[item.model_index] = (
                        refused[item.model_index] + 1 if exc.kind == "forbidden" else 0)
                    if exc.kind in FATAL_KINDS or refused[item.model_index] >= MAX_REFUSED:
                        state.stop("failed", f"{model.name}: the endpoint answered "
                                   f"{exc.http_status} ({exc.kind}): {exc}")
                except Exception as exc:  # a bug on our side: keep the run and the data
                    rec = internal_error_record(item, model.id, started, exc)
                try:
                    journal.append(rec)
                except RunError as exc:  # e.g. disk full: stop everyone, report it once
                    state.stop("failed", str(exc))
                    state.fatal = state.fatal or exc
                    return
                budget.add(rec.get("cost_usd"))
                progress.update(rec)
                if opts.on_record is not None:
                    opts.on_record(rec)

        async with anyio.create_task_group() as outer:
            if opts.handle_signals:
                outer.start_soon(_watch_signals, state, outer.cancel_scope)
            async with anyio.create_task_group() as tg:
                for _ in range(min(cfg.run.concurrency, len(pending))):
                    tg.start_soon(worker)
            outer.cancel_scope.cancel()
    if state.fatal is not None:
        raise state.fatal
    return state


async def _watch_signals(state: _State, scope: anyio.CancelScope) -> None:
    """First SIGINT/SIGTERM: start nothing new, let requests in flight finish for up to
    DRAIN_S. A second signal, or the end of the drain time, cancels what is left."""
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            state.stop("interrupted")
            print(f"\nstopping: finishing requests in flight (up to {DRAIN_S:.0f}s; "
                  "Ctrl-C again to abort)", file=sys.stderr)
            break
        with anyio.move_on_after(DRAIN_S):
            async for _ in signals:
                break
        state.status = "aborted"
        scope.cancel()


async def run_async(loaded: LoadedConfig, opts: RunOptions | None = None) -> RunOutcome:
    """Run (or resume) a config end to end and write its results and reports."""
    from pipeline.finalize import finalize

    opts = opts or RunOptions()
    cfg = loaded.config
    the_plan = prepare(loaded)
    resolved = resolve_all(cfg, opts.env, str(loaded.path))
    endpoint_ids = identity(cfg, resolved)
    run_id, folder = _run_folder(cfg, opts)

    with RunLock(folder):
        previous = read_manifest(folder)
        _check_resumable(folder, previous, cfg, endpoint_ids)
        records = list(read_journal(folder))
        done = {k for k, r in latest_by_key(iter(records)).items() if is_final(r)}
        pending = [it for it in the_plan.items if it.key not in done]
        skipped = len(the_plan.items) - len(pending)
        budget = Budget(cfg.run.max_cost_usd, spent_usd(iter(records)))

        manifest: dict[str, Any] = {
            "run_id": run_id, "name": cfg.name, "status": "running",
            "created_at": (previous or {}).get("created_at", now_iso()), "updated_at": now_iso(),
            "config_path": str(loaded.path), "config": loaded.raw,
            "provider": cfg.provider.kind, "endpoints": endpoint_ids,
            "datasets": the_plan.datasets,
            "models": [{"name": m.name, "id": m.id} for m in cfg.models],
            "versions": versions(),
            "invocations": (previous or {}).get("invocations", 0) + 1,
        }
        write_json(folder / MANIFEST, manifest)
        progress = _Progress(len(the_plan.items), skipped, opts.progress)
        emulator_stats = None
        try:
            with open_endpoints(cfg, resolved, opts.emulator_overrides) as (endpoints, server):
                try:
                    with Journal(folder) as journal:
                        state = await _execute(cfg, pending, endpoints, journal, progress,
                                               budget, opts)
                finally:
                    progress.bar.close()
                if server is not None:
                    emulator_stats = server.stats.snapshot()
            status = finalize(folder, the_plan, run_id, manifest, state.status)
        except BaseException as exc:
            cancelled = isinstance(exc, anyio.get_cancelled_exc_class())
            failed = {**manifest, "status": "interrupted" if cancelled else "failed",
                      "updated_at": now_iso()}
            if not cancelled:
                failed["error"] = str(_single(exc))[:500]
            write_json(folder / MANIFEST, failed)
            if isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
                raise _single(exc) from None
            raise
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    return RunOutcome(run_id, folder, status, len(the_plan.items), skipped, progress.sent,
                      progress.errors, files, state.reason, emulator_stats)


def _single(exc: BaseException) -> BaseException:
    """The one exception inside (nested) single-member exception groups."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def run(loaded: LoadedConfig, opts: RunOptions | None = None) -> RunOutcome:
    """Synchronous entry point for the CLI."""
    return anyio.run(run_async, loaded, opts)
