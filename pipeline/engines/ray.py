"""`pipeline run CONFIG --engine ray`: the same run spread over a Ray cluster.

The driver picks N shards (`--shards`, else the run's when it resumes one, else the
cluster's CPU count), creates the run folder and its top-level manifest, and starts N Ray
tasks; task K runs the ordinary sender on shard K of N in-process (`run_async` with
`RunOptions(shard=(K, N))`), so every shard is a run folder of its own under `RUN/shards/`
(pipeline/shards.py) and a task that Ray retries after a worker died resumes its shard from
its journal. When every task has returned, the driver
merges the shards exactly as `pipeline report RUN` does.

Limits hold across the cluster because each shard gets 1/N of them (concurrency, each
model's rpm and tpm, run.max_cost_usd): no coordination at run time, at the price of a
shard that finishes early leaving its share unused. The run folder must be on a disk every
node sees (one machine, or a shared file system); `output_dir = "s3://..."` is not supported
with shards yet.

Ray is imported only here, only for `--engine ray`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.config import LoadedConfig
from pipeline.errors import InputError, PipelineError, RunError
from pipeline.runfolder import check_run_id, new_run_id
from pipeline.shards import Shard, check_mix, shard_count, start_run
from pipeline.store import is_store

INSTALL = "pip install 'pipeline[ray]'"


@dataclass(slots=True)
class RayOutcome:
    """What the cluster did: the run, its shards' outcomes, and the merged status."""

    run_id: str
    folder: Path
    shards: int
    status: str
    per_shard: list[dict[str, Any]] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return sum(s["sent"] for s in self.per_shard)

    @property
    def skipped(self) -> int:
        return sum(s["skipped"] for s in self.per_shard)

    @property
    def errors(self) -> int:
        return sum(s["errors"] for s in self.per_shard)


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise InputError(f"--engine ray: Ray is not installed; {INSTALL}") from None
    return ray


def run_shard(loaded: LoadedConfig, run_id: str, index: int, count: int) -> dict[str, Any]:
    """One shard's run, in this process (the body of a Ray task)."""
    import anyio

    from pipeline.runner import RunOptions, run_async

    out = anyio.run(run_async, loaded, RunOptions(run_id=run_id, shard=(index, count),
                                                  progress=False, quiet=True))
    return {"shard": index, "status": out.status, "planned": out.planned, "sent": out.sent,
            "skipped": out.skipped, "errors": out.errors, "pending": out.pending,
            "warnings": out.warnings,
            "emulator_requests": (out.emulator_stats or {}).get("requests_total")}


def run_on_ray(loaded: LoadedConfig, *, run_id: str | None = None, shards: int | None = None,
               address: str | None = None, baseline: str | None = None) -> RayOutcome:
    """Run `loaded` on Ray in `shards` shards and merge them; uses the Ray instance this
    process is connected to, else connects to `address` (None: start a local one)."""
    from pipeline.rescore import rescore

    cfg = loaded.config
    if is_store(cfg.output_dir):
        raise InputError("--engine ray with an s3:// output_dir: sharded runs need a local or "
                         "shared output_dir for now")
    if shards is not None and shards < 1:
        raise InputError(f"--shards {shards}: give a number of shards >= 1")
    ray = _import_ray()
    started = not ray.is_initialized()
    if started:
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False,
                     configure_logging=False)
        except ConnectionError as exc:
            raise InputError(f"--engine ray --address {address}: cannot connect to a Ray "
                             f"cluster ({exc}); start one with `ray start --head`, or leave "
                             "--address out for a local instance") from None
    try:
        out_dir = Path(cfg.output_dir)
        run_id = check_run_id(run_id) if run_id is not None else new_run_id(cfg.name, out_dir)
        folder = out_dir / run_id
        # a resumed run keeps its shards; a new one gets one per CPU of the cluster
        count = shards or shard_count(folder) or max(
            1, int(ray.cluster_resources().get("CPU", 1)))
        check_mix(folder, Shard(1, count))
        start_run(folder, run_id, loaded, count)
        task = ray.remote(num_cpus=1)(run_shard)
        refs = [task.remote(loaded, run_id, k, count) for k in range(1, count + 1)]
        try:
            per_shard = ray.get(refs)
        except ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, PipelineError):
                raise cause from None
            what = f"{type(cause).__name__}: {cause}" if cause is not None else str(exc)[:300]
            raise RunError(f"{folder}: a shard's Ray task failed ({what}); rerun with --run-id "
                           f"{run_id} to resume") from None
    finally:
        if started:
            ray.shutdown()
    status, _ = rescore(folder, baseline=baseline)
    return RayOutcome(run_id, folder, count, status, sorted(per_shard, key=lambda s: s["shard"]))
