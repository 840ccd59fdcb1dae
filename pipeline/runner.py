"""The fan-out: plan work items, send what is not done yet with bounded concurrency, journal
each result as it lands, then score and write tables and reports."""

from __future__ import annotations

import secrets
import signal
import sys
import time
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack, ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import httpx
from tqdm import tqdm

from pipeline.client import ChatClient, ChatError, Completion, Endpoint, RetryPolicy
from pipeline.config import Config, LoadedConfig, ScorerSpec, resolve_endpoint
from pipeline.datasets import fingerprint, infer_format, load_samples
from pipeline.errors import RunStateError
from pipeline.journal import SCHEMA_VERSION, Journal, is_final, latest_by_key, read_journal
from pipeline.limits import RateLimiter
from pipeline.pricing import DEFAULT_RPM, Rate, rate_for
from pipeline.runfolder import (
    MANIFEST,
    check_run_id,
    latest_run,
    new_run_id,
    now_iso,
    read_manifest,
    versions,
    write_json,
)
from pipeline.work import WorkItem, plan


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
    status: str  # complete | interrupted | budget_exhausted
    planned: int
    skipped: int  # already done in an earlier attempt of this run
    sent: int
    errors: int
    files: list[Path]
    emulator_stats: dict[str, Any] | None = None


def prepare(loaded: LoadedConfig) -> Plan:
    """Read and validate every dataset and build every work item; sends nothing."""
    cfg = loaded.config
    items: list[WorkItem] = []
    infos, scorers = [], {}
    for ds in cfg.datasets:
        path = loaded.resolve(ds.path)
        fmt = infer_format(path, ds.format)
        samples = list(load_samples(
            path, dataset=ds.name, fmt=fmt, columns=ds.columns, template=ds.template,
            system=ds.system, limit=ds.limit,
        ))
        gens = {
            (ds.name, mi): cfg.generation.merged(m.generation).merged(ds.generation)
            for mi, m in enumerate(cfg.models)
        }
        items.extend(plan(samples, cfg.models, gens, cfg.run.epochs))
        scorers[ds.name] = ds.scorer_specs()
        infos.append({"name": ds.name, "path": str(path), "format": fmt,
                      "sha256": fingerprint(path), "samples": len(samples)})
    return Plan(loaded, items, scorers, infos)


def _endpoints(cfg: Config, env: Mapping[str, str] | None, source: str) -> list[Endpoint]:
    out = []
    for i in range(len(cfg.models)):
        r = resolve_endpoint(cfg, i, env, source=source)
        out.append(Endpoint(base_url=r.base_url, api_key=r.api_key, headers=r.headers))
    return out


def _run_folder(cfg: Config, loaded: LoadedConfig, opts: RunOptions) -> tuple[str, Path]:
    out_dir = loaded.resolve(cfg.output_dir) if cfg.output_dir else Path("reports")
    if opts.run_id:
        run_id = check_run_id(opts.run_id)
    elif opts.resume:
        last = latest_run(out_dir, cfg.name)
        if last is None:
            raise RunStateError(f"--resume: no earlier run of {cfg.name!r} under {out_dir}/")
        run_id = last.name
    else:
        run_id = new_run_id(cfg.name)
    folder = out_dir / run_id
    manifest = read_manifest(folder)
    if manifest is not None and manifest.get("name") != cfg.name:
        raise RunStateError(
            f"{folder}: belongs to config {manifest.get('name')!r}, not {cfg.name!r} "
            "(pick another --run-id)"
        )
    return run_id, folder


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
        if rec["status"] != "ok":
            self.errors += 1
            self.bar.set_postfix(errors=self.errors, refresh=False)
        self.cost += rec.get("cost_usd") or 0.0
        self.bar.update(1)


def _record(item: WorkItem, model_id: str, rate: Rate | None, started: float,
            c: Completion | None, e: ChatError | None) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION, "key": item.key, "dataset": item.sample.dataset,
        "sample_id": item.sample.sample_id, "model": item.model, "model_id": model_id,
        "epoch": item.epoch,
        "started_at": datetime.fromtimestamp(started, UTC).isoformat(timespec="milliseconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
    }
    if c is not None:
        rec.update(
            status="ok", output_text=c.text, reasoning=c.reasoning,
            tool_calls=c.tool_calls or None, finish_reason=c.finish_reason,
            prompt_tokens=c.prompt_tokens, completion_tokens=c.completion_tokens,
            total_tokens=c.total_tokens, usage=c.usage, latency_s=c.latency_s,
            ttft_s=c.ttft_s, attempts=c.attempts, http_status=c.http_status,
            response_id=c.response_id, request_id=c.request_id,
            cost_usd=rate.cost(c.prompt_tokens, c.completion_tokens) if rate else None,
        )
    else:
        assert e is not None
        rec.update(
            status="error", error_type=e.kind, error_message=str(e), http_status=e.http_status,
            attempts=e.attempts, retryable=e.retryable, latency_s=e.latency_s,
            prompt_tokens=0, completion_tokens=0, total_tokens=0, cost_usd=0.0 if rate else None,
        )
    return rec


async def _execute(
    cfg: Config, pending: list[WorkItem], endpoints: list[Endpoint], journal: Journal,
    progress: _Progress, opts: RunOptions,
) -> str:
    """Send every pending item; returns the run status."""
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
    budget = cfg.run.max_cost_usd
    state = {"stopping": False, "status": "complete"}
    queue = iter(pending)
    client_kwargs: dict[str, Any] = {"retry": retry, "http_backend": cfg.provider.http_backend,
                                     "max_connections": cfg.run.concurrency}
    if opts.transport is not None:
        client_kwargs["transport"] = opts.transport
    if opts.sleep is not None:
        client_kwargs["sleep"] = opts.sleep

    async with AsyncExitStack() as stack:
        client = await stack.enter_async_context(ChatClient(**client_kwargs))

        async def worker() -> None:
            while not state["stopping"]:
                if budget is not None and progress.cost >= budget:
                    state.update(stopping=True, status="budget_exhausted")
                    return
                item = next(queue, None)
                if item is None:
                    return
                limiter = limiters[item.model_index]
                if limiter is not None:
                    await limiter.acquire()
                started = time.time()
                model = cfg.models[item.model_index]
                try:
                    c = await client.complete(endpoints[item.model_index], item.body)
                    rec = _record(item, model.id, rates[item.model_index], started, c, None)
                except ChatError as exc:
                    rec = _record(item, model.id, rates[item.model_index], started, None, exc)
                journal.append(rec)
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
    return state["status"]


async def _watch_signals(state: dict[str, Any], scope: anyio.CancelScope) -> None:
    """First SIGINT/SIGTERM: finish what is in flight, start nothing new. Second: abort."""
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            if state["stopping"]:
                state["status"] = "aborted"
                scope.cancel()
                return
            state.update(stopping=True, status="interrupted")
            print("\nstopping: finishing requests in flight (press Ctrl-C again to abort)",
                  file=sys.stderr)


async def run_async(loaded: LoadedConfig, opts: RunOptions | None = None) -> RunOutcome:
    """Run (or resume) a config end to end and write its results and reports."""
    from pipeline.finalize import finalize

    opts = opts or RunOptions()
    cfg = loaded.config
    the_plan = prepare(loaded)
    endpoints: list[Endpoint] | None = None
    if cfg.provider.kind != "local":
        endpoints = _endpoints(cfg, opts.env, str(loaded.path))
    run_id, folder = _run_folder(cfg, loaded, opts)

    previous = read_manifest(folder)
    latest = latest_by_key(read_journal(folder))
    done = {k for k, r in latest.items() if is_final(r)}
    pending = [it for it in the_plan.items if it.key not in done]
    skipped = len(the_plan.items) - len(pending)

    manifest: dict[str, Any] = {
        "run_id": run_id, "name": cfg.name, "status": "running",
        "created_at": (previous or {}).get("created_at", now_iso()), "updated_at": now_iso(),
        "config_path": str(loaded.path), "config": loaded.raw,
        "provider": cfg.provider.kind, "datasets": the_plan.datasets,
        "models": [{"name": m.name, "id": m.id} for m in cfg.models],
        "versions": versions(), "attempts_of_run": (previous or {}).get("attempts_of_run", 0) + 1,
    }
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / MANIFEST, manifest)

    emulator_stats = None
    with ExitStack() as stack:
        if cfg.provider.kind == "local":
            server = stack.enter_context(_start_emulator(cfg, opts))
            key = server.config.api_key
            endpoints = [Endpoint(base_url=server.base_url, api_key=key) for _ in cfg.models]
        assert endpoints is not None
        progress = _Progress(len(the_plan.items), skipped, opts.progress)
        try:
            with Journal(folder) as journal:
                status = await _execute(cfg, pending, endpoints, journal, progress, opts)
        finally:
            progress.bar.close()
        if cfg.provider.kind == "local":
            emulator_stats = server.stats.snapshot()

    files = finalize(folder, the_plan, run_id, manifest, status)
    return RunOutcome(run_id, folder, status, len(the_plan.items), skipped, progress.sent,
                      progress.errors, files, emulator_stats)


def _start_emulator(cfg: Config, opts: RunOptions) -> Any:
    from pipeline.emulator import EmulatorConfig, EmulatorServer, Faults

    settings = cfg.provider.emulator
    faults = Faults(**settings.faults.model_dump())
    ecfg = EmulatorConfig(api_key="inf-local-" + secrets.token_hex(16), speed=settings.speed,
                          faults=faults, seed=settings.seed)
    for k, v in opts.emulator_overrides.items():
        setattr(ecfg, k, v)
    return EmulatorServer(ecfg, host="127.0.0.1", port=0)


def run(loaded: LoadedConfig, opts: RunOptions | None = None) -> RunOutcome:
    """Synchronous entry point for the CLI."""
    return anyio.run(run_async, loaded, opts)
