"""A run against a baseline run: per dataset and model, on the samples both runs share.

Both runs are read from their run folders (manifest.json and results.parquet); nothing is
sent. The figures follow the report's tables: only final rows count (items still pending a
retry are left out), an item that ended in an error scores 0 (so a model whose error rate
rises loses score), each sample's epochs are reduced to one score first (averaged, or as the
new run's `run.reducer` says, for both runs), and the sample is the unit of every interval
and test (epochs never count as extra samples).

A row compares one (dataset, model) present in both runs on its shared samples (samples
with a final row in both runs); a row per model with dataset "(all)" pools its datasets.
The score change is new minus baseline with a 95% Student t interval over the paired
per-sample differences. Its p-value comes from McNemar's exact test when both runs have one
epoch and every score is 0 or 1 (pass/fail), else from the paired t test (`test` says which).

Verdict rule: fewer than `min_samples` (20) shared samples gives "too few samples", never a
verdict; otherwise p < 0.05 gives "regressed" when the score fell and "improved" when it
rose; anything else is "no significant change". Cost, tokens, latency and error rate are
shown beside it and do not change the verdict (errors already lower the score).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from pipeline.errors import InputError, RunStateError
from pipeline.runfolder import MANIFEST, atomic_write, changes, read_manifest, runs_of
from pipeline.stats import paired_test

if TYPE_CHECKING:
    from pipeline.store import Store

ALL = "(all)"  # the dataset of each model's row over every shared dataset
MIN_SAMPLES = 20
ALPHA = 0.05
COMPLETE = ("complete", "complete_with_errors")
VERDICTS = ("regressed", "improved", "no significant change", "too few samples")
RESULTS = "results.parquet"
BASELINE_FILES = ("baseline.parquet", "baseline.csv")
SAMPLE = ["dataset", "model", "sample_id"]
_COLUMNS = ["dataset", "sample_id", "model", "epoch", "status", "score", "cost_usd",
            "prompt_tokens", "completion_tokens", "latency_s"]

SCHEMA: dict[str, pl.DataType] = {
    "dataset": pl.String(), "model": pl.String(), "shared_samples": pl.Int64(),
    "base_only": pl.Int64(), "new_only": pl.Int64(),
    "base_score": pl.Float64(), "new_score": pl.Float64(), "diff": pl.Float64(),
    "ci_low": pl.Float64(), "ci_high": pl.Float64(), "p_value": pl.Float64(),
    "test": pl.String(), "wins": pl.Int64(), "losses": pl.Int64(), "verdict": pl.String(),
    "base_error_rate": pl.Float64(), "new_error_rate": pl.Float64(),
    "base_cost_per_item": pl.Float64(), "new_cost_per_item": pl.Float64(),
    "base_tokens_per_item": pl.Float64(), "new_tokens_per_item": pl.Float64(),
    "base_latency_p50_s": pl.Float64(), "new_latency_p50_s": pl.Float64(),
    "base_latency_p95_s": pl.Float64(), "new_latency_p95_s": pl.Float64(),
    "base_run_id": pl.String(), "new_run_id": pl.String(),
}


@dataclass(frozen=True, slots=True)
class RunData:
    """One run: its folder, manifest and final result rows."""

    folder: Path
    manifest: dict[str, Any]
    final: pl.DataFrame

    @property
    def run_id(self) -> str:
        return str(self.manifest.get("run_id") or self.folder.name)


@dataclass(slots=True)
class Compared:
    """The comparison table and notes on what differs between the two runs."""

    frame: pl.DataFrame
    base_run_id: str
    new_run_id: str
    warnings: list[str] = field(default_factory=list)


def final_rows(folder: Path) -> pl.DataFrame:
    """The columns a comparison reads of a run's final result rows; rows of outputs-only
    datasets (`scored` false) are left out: they have no score to compare."""
    lf = pl.scan_parquet(folder / RESULTS).filter(pl.col("final"))
    if "scored" in lf.collect_schema():
        lf = lf.filter(pl.col("scored"))
    return lf.select(_COLUMNS).collect()


def load_run(folder: Path) -> RunData:
    """A finished run's manifest and final rows; one clear error for anything else."""
    manifest = read_manifest(folder) if folder.is_dir() else None
    if manifest is None:
        raise RunStateError(f"{folder}: not a run folder (no {MANIFEST}); give a folder under "
                            "output_dir, e.g. reports/demo-20260101-120000")
    path = folder / RESULTS
    if not path.exists():
        raise RunStateError(f"{folder}: no {RESULTS} (the run never finished); build it with "
                            f"`pipeline report {folder}`")
    try:
        final = final_rows(folder)
    except Exception as exc:  # corrupt file, or one from another program
        raise RunStateError(f"{path}: cannot read it ({type(exc).__name__}); rebuild it with "
                            f"`pipeline report {folder}`") from None
    return RunData(folder, manifest, final)


def compare_runs(base: Path, new: Path, *, min_samples: int = MIN_SAMPLES) -> pl.DataFrame:
    """The table comparing run `new` with run `base` (see the module docstring)."""
    return compare(load_run(base), load_run(new), min_samples=min_samples).frame


def _per_sample(final: pl.DataFrame, reducer: str = "mean") -> pl.DataFrame:
    from pipeline.report.tables import reduced

    return final.group_by(SAMPLE, maintain_order=True).agg(
        reduced(pl.col("score").fill_null(0.0), reducer).alias("mean"),
        pl.len().alias("epochs"))


def _reducer(run: RunData) -> str:
    """How the run reduces a sample's epochs (`run.reducer` in its config; mean before it
    existed)."""
    return ((run.manifest.get("config") or {}).get("run") or {}).get("reducer", "mean")


def _metrics(rows: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    """Per group: error rate, cost and tokens per item, latency percentiles."""
    ok = pl.col("status") == "ok"
    return rows.group_by(by, maintain_order=True).agg(
        (~ok).mean().alias("error_rate"),
        pl.when(pl.col("cost_usd").is_null().any()).then(None)  # unknown is not zero
        .otherwise(pl.col("cost_usd").sum() / pl.len()).alias("cost_per_item"),
        (pl.col("prompt_tokens") + pl.col("completion_tokens")).filter(ok).mean()
        .alias("tokens_per_item"),
        pl.col("latency_s").filter(ok).quantile(0.5, "linear").alias("latency_p50_s"),
        pl.col("latency_s").filter(ok).quantile(0.95, "linear").alias("latency_p95_s"),
    )


def verdict(shared: int, diff: float, p: float, *, min_samples: int = MIN_SAMPLES) -> str:
    """The verdict rule of the module docstring."""
    if shared < min_samples:
        return "too few samples"
    if not math.isnan(p) and p < ALPHA and diff != 0:
        return "regressed" if diff < 0 else "improved"
    return "no significant change"


def compare(base: RunData, new: RunData, *, min_samples: int = MIN_SAMPLES) -> Compared:
    """Compare run `new` with run `base` on what they share (see the module docstring)."""
    # Both runs' samples are reduced the new run's way, so the two sides mean the same.
    reducer = _reducer(new)
    b, n = _per_sample(base.final, reducer), _per_sample(new.final, reducer)
    pairs = b.join(n, on=SAMPLE, how="inner", suffix="_new", maintain_order="left")
    if pairs.height == 0:
        raise RunStateError(
            f"{base.folder} and {new.folder} share no sample of the same dataset and model "
            f"(datasets {_names(b, 'dataset')} against {_names(n, 'dataset')}, models "
            f"{_names(b, 'model')} against {_names(n, 'model')}); nothing to compare")
    groups = (b.select("dataset", "model").unique(maintain_order=True)
              .join(n.select("dataset", "model").unique(), on=["dataset", "model"],
                    how="semi", maintain_order="left"))
    only_b = _only(b, n)
    only_n = _only(n, b)
    keys = pairs.select(SAMPLE)
    shared_b = base.final.join(keys, on=SAMPLE, how="semi")
    shared_n = new.final.join(keys, on=SAMPLE, how="semi")
    mb, mn = (_metrics(f, ["dataset", "model"]) for f in (shared_b, shared_n))
    mb_all, mn_all = (_metrics(f, ["model"]) for f in (shared_b, shared_n))

    def lookup(frame: pl.DataFrame, **where: str) -> dict[str, Any]:
        hit = frame.filter(*[pl.col(k) == v for k, v in where.items()])
        return hit.row(0, named=True) if hit.height else {}

    rows = []
    models = groups["model"].unique(maintain_order=True).to_list()
    for model in models:
        datasets = groups.filter(pl.col("model") == model)["dataset"].to_list()
        for ds in [ALL, *datasets]:
            where = {"model": model} if ds == ALL else {"model": model, "dataset": ds}
            grp = pairs.filter(*[pl.col(k) == v for k, v in where.items()])
            counts = [sum(v for (d, m), v in only.items()
                          if m == model and d in datasets and ds in (ALL, d))
                      for only in (only_b, only_n)]
            single = grp.height == 0 or (grp["epochs"].max() == 1 and grp["epochs_new"].max() == 1)
            t = paired_test(grp["mean"].to_list(), grp["mean_new"].to_list(),
                            single_epoch=bool(single))
            shared = grp.height
            row: dict[str, Any] = {
                "dataset": ds, "model": model, "shared_samples": shared,
                "base_only": counts[0], "new_only": counts[1],
                "base_score": grp["mean"].mean() if shared else None,
                "new_score": grp["mean_new"].mean() if shared else None,
                "diff": _num(t["diff"]), "ci_low": _num(t["ci_low"]),
                "ci_high": _num(t["ci_high"]), "p_value": _num(t["p_value"]),
                "test": t["test"] if shared else None, "wins": t["wins"],
                "losses": t["losses"],
                "verdict": verdict(shared, t["diff"], t["p_value"], min_samples=min_samples),
                "base_run_id": base.run_id, "new_run_id": new.run_id,
            }
            for prefix, m in (("base", mb_all if ds == ALL else mb),
                              ("new", mn_all if ds == ALL else mn)):
                got = lookup(m, **where)
                for col in ("error_rate", "cost_per_item", "tokens_per_item",
                            "latency_p50_s", "latency_p95_s"):
                    row[f"{prefix}_{col}"] = got.get(col)
            rows.append(row)
    frame = pl.DataFrame(rows, schema=SCHEMA, orient="row")
    notes = _warnings(base, new, frame, groups)
    for label, own, other in (("the baseline", b, n), ("this run", n, b)):
        alone = (own.select("dataset", "model").unique(maintain_order=True)
                 .join(other.select("dataset", "model").unique(), on=["dataset", "model"],
                       how="anti"))
        if alone.height:
            shown = ", ".join(f"{m} on {d}" for d, m in alone.iter_rows())
            notes.append(f"only {label} has {shown}: not compared")
    return Compared(frame, base.run_id, new.run_id, notes)


def _only(a: pl.DataFrame, b: pl.DataFrame) -> dict[tuple[str, str], int]:
    """Per (dataset, model): samples with a final row in `a` and none in `b`."""
    counts = a.join(b, on=SAMPLE, how="anti").group_by("dataset", "model").len()
    return {(r[0], r[1]): r[2] for r in counts.iter_rows()}


def _num(x: Any) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def _names(frame: pl.DataFrame, col: str) -> str:
    names = frame[col].unique(maintain_order=True).to_list()
    return ", ".join(names[:6]) + (" ..." if len(names) > 6 else "") if names else "none"


def request_changes(base: dict[str, Any], new: dict[str, Any], datasets: set[str],
                    models: set[str]) -> list[str]:
    """Dotted paths of the request configs (manifest `request_config`) that differ, limited
    to what the comparison uses: shared datasets and models, generation, epochs."""
    def keep(rc: dict[str, Any]) -> dict[str, Any]:
        return {
            "epochs": rc.get("epochs"), "generation": rc.get("generation"),
            "models": {k: v for k, v in (rc.get("models") or {}).items() if k in models},
            "datasets": {k: v for k, v in (rc.get("datasets") or {}).items() if k in datasets},
        }
    return changes(keep(base), keep(new))


def _warnings(base: RunData, new: RunData, frame: pl.DataFrame, groups: pl.DataFrame
              ) -> list[str]:
    out = []
    for label, run in (("the baseline", base), ("this run", new)):
        status = run.manifest.get("status")
        if status not in COMPLETE:
            out.append(f"{label} {run.run_id} is {status}: only samples both runs finished "
                       "are compared")
    bm, nm = base.manifest, new.manifest
    if bm.get("request_fingerprint") != nm.get("request_fingerprint"):
        diff = request_changes(bm.get("request_config") or {}, nm.get("request_config") or {},
                               set(groups["dataset"]), set(groups["model"]))
        if diff:
            shown = ", ".join(diff[:6]) + (f" and {len(diff) - 6} more" if len(diff) > 6 else "")
            out.append(f"the runs sent different requests ({shown}): the changes below include "
                       "the effect of that")
    if _reducer(base) != _reducer(new):
        out.append(f"the baseline reduced each sample's epochs by {_reducer(base)}, this run "
                   f"by {_reducer(new)}: both are compared by {_reducer(new)}")
    before = {e.get("model"): e for e in bm.get("endpoints") or []}
    for e in nm.get("endpoints") or []:
        was = before.get(e.get("model"))
        if was and e.get("model") in set(groups["model"]) and (
                was.get("kind"), was.get("base_url")) != (e.get("kind"), e.get("base_url")):
            out.append(f"{e['model']}: the baseline's answers came from "
                       f"{was.get('base_url') or was.get('kind')}, this run's from "
                       f"{e.get('base_url') or e.get('kind')}")
    for r in frame.filter(pl.col("dataset") != ALL).iter_rows(named=True):
        if r["base_only"] or r["new_only"]:
            out.append(f"{r['model']} on {r['dataset']}: compared on the {r['shared_samples']} "
                       f"samples both runs finished ({r['base_only']} finished only in the "
                       f"baseline, {r['new_only']} only in this run)")
    return out


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f} %"


def _pp(x: float | None, *, sign: bool = True) -> str:
    if x is None:
        return "–"
    text = f"{100 * x:+.1f}" if sign else f"{100 * x:.1f}"
    if text.lstrip("+-") == "0.0":
        text = "0.0"
    return text.replace("-", "−")


def _p(p: float | None) -> str:
    """A p-value in a sentence, rounded as the report's tables round it (cells.p_text)."""
    from pipeline.report.cells import p_text  # here: pipeline.report imports this module

    shown = p_text(p)
    return f"p {shown}" if shown.startswith(("<", "–")) else f"p = {shown}"


def describe(row: dict[str, Any]) -> str:
    """One row in plain words: "claude-4-5-haiku on gsm8k: 81.0 % → 76.5 %, −4.5 pp
    (95 % CI −7.9 to −1.1), p = 0.01: regressed"."""
    where = "all datasets" if row["dataset"] == ALL else row["dataset"]
    ci = (f"95 % CI {_pp(row['ci_low'], sign=False)} to {_pp(row['ci_high'], sign=False)}"
          if row["ci_low"] is not None and row["ci_high"] is not None else "95 % CI –")
    text = (f"{row['model']} on {where}: {_pct(row['base_score'])} → {_pct(row['new_score'])}, "
            f"{_pp(row['diff'])} pp ({ci}), {_p(row['p_value'])}: {row['verdict']}")
    if row["verdict"] == "too few samples":
        text += f" ({row['shared_samples']} shared)"
    return text


def flagged(frame: pl.DataFrame, which: str) -> list[dict[str, Any]]:
    """The rows with verdict `which`, as {dataset, model, diff, p_value} for the manifest."""
    return [{"dataset": r["dataset"], "model": r["model"], "diff": r["diff"],
             "p_value": r["p_value"]}
            for r in frame.filter(pl.col("verdict") == which).iter_rows(named=True)]


def write_baseline(folder: Path, frame: pl.DataFrame) -> list[Path]:
    """Write baseline.parquet and baseline.csv into the run folder, atomically."""
    pq, csv = (folder / name for name in BASELINE_FILES)
    atomic_write(pq, frame.write_parquet)
    atomic_write(csv, frame.write_csv)
    return [pq, csv]


def check_overlap(folder: Path, datasets: list[str], models: list[str]) -> None:
    """Refuse a baseline run that has no result for any of these datasets and models (a
    check made before a run sends anything)."""
    try:
        pairs = (pl.scan_parquet(folder / RESULTS).select("dataset", "model").unique()
                 .collect())
    except Exception as exc:
        raise RunStateError(f"{folder / RESULTS}: cannot read it ({type(exc).__name__}); "
                            f"rebuild it with `pipeline report {folder}`") from None
    if not pairs.filter(pl.col("dataset").is_in(datasets) & pl.col("model").is_in(models)
                        ).height:
        raise RunStateError(
            f"--baseline {folder}: has no results for these datasets ({', '.join(datasets)}) "
            f"and models ({', '.join(models)}) (it has {_names(pairs, 'dataset')} and "
            f"{_names(pairs, 'model')}); give a run of the same datasets and models")


def resolve_baseline(spec: str, where: Path | Store, *, name: str, run_id: str,
                     created_at: str | None = None) -> Path:
    """The baseline run folder that `--baseline SPEC` names for run `run_id` of config `name`,
    `where` being the config's output_dir: a local folder or an object store (whose run is
    fetched to a local working copy: its manifest and results).

    "latest" is the newest complete run of the config other than this one and not started
    after it (`created_at`: when this run started, if it is resumed; else read from the run's
    manifest where it has one; in the same second, a run whose id sorts before it). Anything
    else is a run id (a store: a stored one) or, for a local output_dir, a run folder path.
    The run's own folder is refused."""
    if not spec.strip():
        raise InputError("--baseline: empty; give 'latest' or a run folder")
    if isinstance(where, Path):
        return _local_baseline(spec, where, name, run_id, created_at)
    return _stored_baseline(spec, where, name, run_id, created_at)


def _latest(runs: list[tuple[str, dict[str, Any]]], run_id: str, created_at: str | None
            ) -> str | None:
    """The id of the newest complete run among (id, manifest) pairs that is not `run_id` and
    not started after it (the same rule for a folder and a store). Without `created_at`, the
    run's own start is read from the pairs when it is among them (a resumed run)."""
    if created_at is None:
        created_at = next((str(m.get("created_at", "")) for r, m in runs if r == run_id), None)
    best = None
    for other, m in sorted(runs, key=lambda r: (str(r[1].get("created_at", "")), r[0])):
        if other == run_id or m.get("status") not in COMPLETE:
            continue
        if created_at is not None and (str(m.get("created_at", "")), other) > (created_at,
                                                                                 run_id):
            continue
        best = other
    return best


def _local_baseline(spec: str, output_dir: Path, name: str, run_id: str,
                    created_at: str | None) -> Path:
    if spec == "latest":
        found = _latest([(f.name, m) for f, m in runs_of(output_dir, name)], run_id,
                        created_at)
        if found is None:
            raise RunStateError(f"--baseline latest: no earlier complete run of {name!r} under "
                                f"{output_dir}/; run once without --baseline first")
        return output_dir / found
    folder = Path(spec)
    if not folder.exists() and not folder.is_absolute() and (output_dir / spec).is_dir():
        folder = output_dir / spec
    if not folder.is_dir():
        raise RunStateError(f"--baseline {spec}: no such run folder; give 'latest' or a "
                            f"folder under {output_dir}/")
    if (folder.resolve() == (output_dir / run_id).resolve()):
        raise InputError(f"--baseline {spec}: that is this run's own folder; give an earlier "
                         "run")
    if not (folder / MANIFEST).exists() or not (folder / RESULTS).exists():
        raise RunStateError(f"--baseline {spec}: not a finished run folder (no {MANIFEST} or "
                            f"{RESULTS}); give 'latest' or a folder under {output_dir}/")
    return folder


def _stored_baseline(spec: str, store: Store, name: str, run_id: str,
                     created_at: str | None) -> Path:
    if spec == "latest":
        found = _latest(store.runs(name), run_id, created_at)
        if found is None:
            raise RunStateError(f"--baseline latest: no earlier complete run of {name!r} in "
                                f"{store.url}; run once without --baseline first")
        spec = found
    elif spec == run_id or not store.exists(spec):
        raise RunStateError(f"--baseline {spec}: no earlier run with that id in "
                            f"{store.url}; give 'latest' or a stored run id")
    return store.fetch(spec, names=[MANIFEST, RESULTS])
