"""Summary and comparison tables from the results table (polars; no scores recomputed).

The statistical unit is the sample: each sample's epochs are reduced to one score first
(averaged, or `run.reducer`: the best, or a majority vote), accuracy is the mean of those
per-sample scores, and intervals and paired tests count samples, never epochs.
Rows of outputs-only datasets (`scored` false: `scorers = []`) count in items, tokens and cost
but not in accuracy. Over several datasets accuracy is given two ways: micro (`accuracy`, the
mean over every scored sample, so a large dataset weighs more) and macro (`accuracy_macro`,
the mean of the datasets' accuracies, each weighing the same). Token and cost sums say how
many rows were estimated; a model without a price has no cost (null), never $0.

Every table is an aggregation over a lazy scan of the results (polars' streaming engine), so
memory holds groups, never the rows: a million results cost time, not memory.
"""

from __future__ import annotations

import math

import polars as pl

from pipeline.stats import Z95, paired_moments_test, pass_at_k, wilson

SAMPLE = ["dataset", "sample_id"]
STREAMING = "streaming"


def _lazy(df: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    """The results as a lazy frame with a `scored` column (true where it is missing: results
    written before outputs-only datasets existed)."""
    lf = df.lazy() if isinstance(df, pl.DataFrame) else df
    if "scored" not in lf.collect_schema():
        lf = lf.with_columns(pl.lit(True).alias("scored"))
    return lf


REDUCERS = ("mean", "max", "majority")


def reduced(score: pl.Expr, reducer: str) -> pl.Expr:
    """A sample's score from its epochs' (an aggregation): their mean, their best, or their
    most common value (majority vote; a tie goes to the lower score, never a coin flip's
    credit)."""
    if reducer == "max":
        return score.max()
    if reducer == "majority":
        return score.mode().min()
    return score.mean()


def _per_sample(lf: pl.LazyFrame, by: list[str], epochs: int, reducer: str = "mean"
                ) -> pl.LazyFrame:
    """One row per (group, sample): its score over its epochs by `reducer` (`mean`: the
    column keeps that name whatever the reducer), its epochs (`n`), those fully correct
    (`c`) and whether they agree. With one epoch a row is its sample.
    A sample is known by `_s`, a 64-bit hash of (dataset, sample_id): grouping and pairing
    on it holds integers, not strings (a collision among a million samples: ~1e-8)."""
    score = pl.col("score").fill_null(0.0)
    keys = [*by, "_s"]
    lf = lf.with_columns(pl.struct(SAMPLE).hash(7).alias("_s"))
    if epochs <= 1:
        return lf.select(*keys, score.alias("mean"), pl.lit(1, pl.UInt32).alias("n"),
                         (score >= 1.0).cast(pl.UInt32).alias("c"),
                         pl.lit(True).alias("agree"))
    return lf.group_by(keys).agg(
        reduced(score, reducer).alias("mean"),
        pl.len().alias("n"),
        (score >= 1.0).sum().alias("c"),
        (score.max() == score.min()).alias("agree"),
    )


def _sample_stats(samples: pl.LazyFrame, by: list[str], epochs: int) -> pl.DataFrame:
    """Per group: samples, accuracy (mean of per-sample means), its Wilson interval over
    samples, pass@k and epoch agreement (with more than one epoch)."""
    if epochs > 1:
        samples = samples.with_columns(
            pl.struct("n", "c").map_elements(
                lambda s: pass_at_k(s["n"], s["c"], epochs), return_dtype=pl.Float64)
            .fill_nan(None).alias("_pass"))  # a sample short of k epochs: not in pass@k
    agg = samples.group_by(by).agg(
        pl.len().alias("samples"), pl.col("mean").sum().alias("_sum"),
        *([pl.col("_pass").mean().alias("pass_at_k"),
           pl.col("_pass").count().alias("pass_at_k_samples"),
           pl.col("agree").mean().alias("agreement")] if epochs > 1 else []),
    ).collect(engine=STREAMING)
    rows = []
    for r in agg.iter_rows(named=True):
        n = r["samples"]
        ci = wilson(r["_sum"], n, Z95) if n else None
        rows.append({**{b: r[b] for b in by}, "samples": n,
                     "accuracy": r["_sum"] / n if n else None,
                     "accuracy_ci_low": ci[0] if ci else None,
                     "accuracy_ci_high": ci[1] if ci else None,
                     "pass_at_k": r.get("pass_at_k"),
                     "pass_at_k_samples": r.get("pass_at_k_samples"),
                     "agreement": r.get("agreement")})
    schema = {**{b: pl.String for b in by}, "samples": pl.Int64, "accuracy": pl.Float64,
              "accuracy_ci_low": pl.Float64, "accuracy_ci_high": pl.Float64,
              "pass_at_k": pl.Float64, "pass_at_k_samples": pl.Int64, "agreement": pl.Float64}
    return pl.DataFrame(rows, schema=schema, orient="row")


Order = dict[str, list[str]]  # column -> its values in the order tables show them


def _ordered(groups: pl.DataFrame, by: list[str], order: Order | None) -> pl.DataFrame:
    """The groups in the order given (models and datasets as configured; values not given
    last, by name)."""
    order = order or {}
    rank = pl.lit(0, pl.Int64)
    for col in by:
        values = order.get(col) or []
        pos = pl.col(col).replace_strict(values, list(range(len(values))), default=len(values),
                                         return_dtype=pl.Int64)
        rank = rank * (len(values) + 1) + pos
    return groups.with_columns(rank.alias("_rank")).sort("_rank", *by).drop("_rank")


SMALL = 50_000  # rows: quantiles in one query below this; per group above (bounded memory)
_QUANTILES = (("latency_s", 0.5, "latency_p50_s"), ("latency_s", 0.95, "latency_p95_s"),
              ("elapsed_s", 0.95, "elapsed_p95_s"), ("ttft_s", 0.5, "ttft_p50_s"))


def _quantiles(lf: pl.LazyFrame, by: list[str], groups: pl.DataFrame, rows: int
               ) -> pl.DataFrame:
    """Latency percentiles of successful answers per group. Exact percentiles need a group's
    values in memory: with many rows they are computed one group and one column at a time,
    so memory holds one float column of one group, never the rows."""
    ok = lf.filter(pl.col("status") == "ok")
    aggs = [pl.col(c).quantile(q, "linear").alias(name) for c, q, name in _QUANTILES]
    if rows <= SMALL:
        cols = list(dict.fromkeys([*by, *(c for c, _, _ in _QUANTILES)]))
        return ok.select(cols).group_by(by).agg(aggs).collect()
    out = []
    for key in groups.select(by).iter_rows(named=True):
        cond = pl.lit(True)
        for col, value in key.items():
            cond = cond & (pl.col(col) == value)
        row = dict(key)
        for column in dict.fromkeys(c for c, _, _ in _QUANTILES):
            got = ok.filter(cond).select(
                *[pl.col(c).quantile(q, "linear").alias(name)
                  for c, q, name in _QUANTILES if c == column]).collect()
            row.update(got.row(0, named=True))
        out.append(row)
    schema = {**{b: pl.String for b in by}, **{n: pl.Float64 for _, _, n in _QUANTILES}}
    return pl.DataFrame(out, schema=schema, orient="row")


def _aggregate(df: pl.DataFrame | pl.LazyFrame, by: list[str], epochs: int,
               order: Order | None = None, *, latency: bool = True,
               reducer: str = "mean") -> pl.DataFrame:
    lf = _lazy(df)
    ok = pl.col("status") == "ok"
    scored = pl.col("scored")
    counts = lf.group_by(by).agg(
        pl.len().alias("items"),
        ok.sum().alias("ok"),
        (~ok).sum().alias("errors"),
        (~ok & pl.col("final")).sum().alias("failed"),
        (~pl.col("final")).sum().alias("pending"),
        (ok & (pl.col("finish_reason") == "length")).sum().alias("cut_by_max_tokens"),
        (ok & (pl.col("finish_reason") == "content_filter")).sum().alias("content_filtered"),
        pl.col("score").fill_null(0.0).sum().alias("_correct"),
        pl.col("prompt_tokens").sum().alias("prompt_tokens"),
        pl.col("completion_tokens").sum().alias("completion_tokens"),
        pl.col("usage_estimated").fill_null(False).sum().alias("usage_estimated"),
        pl.col("cost_usd").sum().alias("cost_usd"),
        pl.col("cost_usd").is_null().sum().alias("_unpriced"),
        pl.col("cost_usd").filter(scored).sum().alias("_scored_cost"),
        pl.col("cost_usd").filter(scored).is_null().sum().alias("_scored_unpriced"),
        (~scored).sum().alias("_unscored"),
        pl.col("model_mismatch").fill_null(False).sum().alias("model_mismatch"),
        (pl.col("attempts").fill_null(1) - 1).clip(0).sum().alias("retries"),
    ).collect(engine=STREAMING)
    counts = _ordered(counts, by, order)
    if latency:
        counts = counts.join(_quantiles(lf, by, counts, int(counts["items"].sum() or 0)),
                             on=by, how="left", maintain_order="left")
    # Items still pending (errors left to retry) are no answers yet: only final rows count;
    # outputs-only rows have no score and are left out of accuracy, not counted wrong.
    final = lf.filter(pl.col("final"))
    stats = _sample_stats(_per_sample(final.filter(scored), by, epochs, reducer), by, epochs)
    out = counts.join(stats, on=by, how="left", maintain_order="left").with_columns(
        pl.col("samples").fill_null(0).alias("scored_samples"))
    if int(counts["_unscored"].sum() or 0):
        # A sample may have scored and unscored rows (an epoch the judge has not graded):
        # the samples not in accuracy are those with no scored row.
        every = _per_sample(final, by, epochs).group_by(by).agg(
            pl.len().alias("_all_samples")).collect(engine=STREAMING)
        out = out.join(every, on=by, how="left", maintain_order="left").with_columns(
            (pl.col("_all_samples").fill_null(0) - pl.col("scored_samples"))
            .alias("_unscored_samples"))
    else:
        out = out.with_columns(pl.lit(0, pl.UInt32).alias("_unscored_samples"))
    return out.with_columns(
        pl.lit(epochs, pl.Int32).alias("epochs"),
        # every sample with a final answer, scored or not (a group with only pending items
        # answered none)
        (pl.col("scored_samples") + pl.col("_unscored_samples").fill_null(0))
        .cast(pl.Int64).alias("samples"),
        # Any row without a price makes the sum unknown, not smaller.
        pl.when(pl.col("_unpriced") > 0).then(None).otherwise(pl.col("cost_usd"))
        .alias("cost_usd"),
        pl.when(pl.col("_scored_unpriced") > 0).then(None).otherwise(pl.col("_scored_cost"))
        .alias("_scored_cost"),
    ).with_columns(
        # what the scored answers cost per correct one (outputs-only rows have no correct)
        pl.when(pl.col("_correct") > 0).then(pl.col("_scored_cost") / pl.col("_correct"))
        .otherwise(None).alias("cost_per_correct_usd"),
    ).select(
        *by, "samples", "scored_samples", "epochs", "items", "accuracy", "accuracy_ci_low",
        "accuracy_ci_high", "pass_at_k", "pass_at_k_samples", "agreement", "ok", "errors",
        "failed", "pending", "cut_by_max_tokens", "content_filtered", "prompt_tokens",
        "completion_tokens", "usage_estimated", "cost_usd", "cost_per_correct_usd",
        "model_mismatch", *([c for _, _, c in _QUANTILES] if latency else []), "retries",
    )


def summary(df: pl.DataFrame | pl.LazyFrame, epochs: int = 1,
            order: Order | None = None, *, by_dataset: pl.DataFrame | None = None,
            reducer: str = "mean") -> pl.DataFrame:
    """One row per model over all datasets (models in `order["model"]`'s order): `accuracy`
    is the micro average (every scored sample weighs the same), `accuracy_macro` the mean of
    the model's dataset accuracies (from `by_dataset`, worked out here when not given) and
    `macro_datasets` how many datasets it averages (those with a scored sample)."""
    out = _aggregate(df, ["model"], epochs, order, reducer=reducer)
    if by_dataset is None:
        by_dataset = summary_by_dataset(df, epochs, order, reducer=reducer)
    macro = by_dataset.filter(pl.col("accuracy").is_not_null()).group_by("model").agg(
        pl.col("accuracy").mean().alias("accuracy_macro"),
        pl.len().cast(pl.Int64).alias("macro_datasets"))
    out = out.join(macro, on="model", how="left", maintain_order="left").with_columns(
        pl.col("macro_datasets").fill_null(0))
    cols = out.columns
    at = cols.index("accuracy_ci_high") + 1
    return out.select(*cols[:at], "accuracy_macro", "macro_datasets",
                      *[c for c in cols[at:] if c not in ("accuracy_macro", "macro_datasets")])


def summary_by_dataset(df: pl.DataFrame | pl.LazyFrame, epochs: int = 1,
                       order: Order | None = None, *, reducer: str = "mean") -> pl.DataFrame:
    """One row per model and dataset, grouped by dataset."""
    return _aggregate(df, ["dataset", "model"], epochs, order, reducer=reducer).select(
        "model", "dataset", pl.exclude("model", "dataset"))


NO_GROUP = "(none)"  # the group of a row whose metadata lacks the group_by key


def _group_rank(value: str) -> tuple[int, float, str]:
    """Groups in a natural order: numbers by value (2 before 10), then text by name."""
    try:
        return (0, float(value), value)
    except ValueError:
        return (1, 0.0, value)


def summary_by_group(df: pl.DataFrame | pl.LazyFrame, epochs: int = 1,
                     order: Order | None = None, *, datasets: list[str] | None = None,
                     reducer: str = "mean") -> pl.DataFrame:
    """One row per model, dataset and group, for the datasets with `group_by` (`datasets`;
    when not given, those with a `group` in any row). A row whose metadata lacks the key is
    in group "(none)". The same figures as by dataset without the latency percentiles, which
    would need a query per group."""
    lf = _lazy(df)
    if datasets is None:
        datasets = (lf.filter(pl.col("group").is_not_null()).select("dataset").unique()
                    .collect(engine=STREAMING).to_series().to_list())
    grouped = lf.filter(pl.col("dataset").is_in(pl.Series(datasets, dtype=pl.String)
                                                .implode()))
    grouped = grouped.with_columns(pl.col("group").fill_null(NO_GROUP))
    groups = grouped.select("group").unique().collect(engine=STREAMING).to_series().to_list()
    order = {**(order or {}), "group": sorted(groups, key=_group_rank)}
    return _aggregate(grouped, ["dataset", "group", "model"], epochs, order,
                      latency=False, reducer=reducer).select("model", "dataset", "group",
                                            pl.exclude("model", "dataset", "group"))


ALL = "(all)"  # the dataset of each model's row over every scored dataset


def comparison(df: pl.DataFrame | pl.LazyFrame, epochs: int = 2,
               order: Order | None = None, *, reference: str | None = None,
               reducer: str = "mean") -> pl.DataFrame:
    """Each model against the reference model over all datasets: `comparisons`' "(all)" rows,
    without their dataset column (comparison.parquet)."""
    got = comparisons(df, epochs, order, reference=reference, reducer=reducer)
    return got.filter(pl.col("dataset") == ALL).drop("dataset")


def comparisons(df: pl.DataFrame | pl.LazyFrame, epochs: int = 2,
                order: Order | None = None, *, reference: str | None = None,
                reducer: str = "mean") -> pl.DataFrame:
    """Each model against the reference model (`reference`, else the first), over all
    datasets (dataset "(all)", first) and per dataset, paired on the scored samples both have
    final results for (pending items, outputs-only datasets and answers the judge did not
    grade left out): per-sample scores over epochs (by `reducer`), so epochs never count as
    extra samples. (`epochs` 1 skips the per-sample reduction: rows are samples.) The
    difference is model minus reference, with a 95% Student t interval over samples and a
    p-value made the way a baseline comparison makes it (pipeline.compare): McNemar's exact
    test with one epoch and every score 0 or 1, else the paired t test (`test` says which).
    The reference's column is still named `baseline`. No rows when the reference has no
    results or there is no other model."""
    lf = _lazy(df)
    present = lf.select("model").unique().collect(engine=STREAMING)
    models = _ordered(present, ["model"], order)["model"].to_list()
    base = reference if reference is not None else (models[0] if models else None)
    if base not in models or len(models) < 2:
        return pl.DataFrame(schema=COMPARISON_SCHEMA)
    models = [base, *(m for m in models if m != base)]
    final = lf.filter(pl.col("final") & pl.col("scored"))
    datasets = _ordered(final.select("dataset").unique().collect(engine=STREAMING),
                        ["dataset"], order)["dataset"].to_list()

    def means(model: str, k: int, passes: int) -> pl.LazyFrame:
        got = _per_sample(final.filter(pl.col("model") == model), ["dataset"], epochs,
                          reducer).select("dataset", "_s", "mean")
        return got.filter(pl.col("_s") % passes == k) if passes > 1 else got

    # A hash join of two million-row sides holds ~70 MB in polars: the samples are split by
    # their hash into passes of at most PAIR_ROWS rows a side, and the passes' figures merged
    # (exactly: counts, means and sums of squares combine).
    rows_a_side = final.filter(pl.col("model") == base).select(pl.len()).collect(
        engine=STREAMING).item()
    passes = max(1, -(-rows_a_side // PAIR_ROWS))
    binary = pl.col("mean").is_in([0.0, 1.0]) & pl.col("mean_right").is_in([0.0, 1.0])
    rows = []
    for other in models[1:]:
        found: dict[str, list[dict]] = {}
        for k in range(passes):
            pair = means(base, k, passes).join(means(other, k, passes), on=["dataset", "_s"])
            got = (pair.with_columns((pl.col("mean_right") - pl.col("mean")).alias("d"))
                   .group_by("dataset")
                   .agg(pl.len().alias("n"), pl.col("d").mean().alias("mean"),
                        pl.col("d").var(ddof=1).alias("var"),
                        (pl.col("d") > 0).sum().alias("wins"),
                        (pl.col("d") < 0).sum().alias("losses"),
                        (pl.col("d") == 0).sum().alias("ties"),
                        (~binary).sum().alias("nonbinary"))
                   .collect(engine=STREAMING))
            for r in got.iter_rows(named=True):
                found.setdefault(r["dataset"], []).append(r)
        every = [p for ds in datasets for p in found.get(ds, [])]  # a fixed order: the
        # same sums, bit for bit, whichever order the group-by gave the datasets
        for ds in [ALL, *datasets]:
            merged = _merged(every if ds == ALL else found.get(ds, []))
            rows.append({"dataset": ds, "baseline": base, "model": other,
                         **_paired(merged, single_epoch=epochs <= 1)})
    return pl.DataFrame(rows, schema=COMPARISON_SCHEMA, orient="row")


COMPARISON_SCHEMA = {"dataset": pl.String, "baseline": pl.String, "model": pl.String,
                     "n": pl.Int64, "mean_diff": pl.Float64, "ci_low": pl.Float64,
                     "ci_high": pl.Float64, "p_value": pl.Float64, "test": pl.String,
                     "wins": pl.Int64, "losses": pl.Int64, "ties": pl.Int64}
PAIR_ROWS = 150_000  # rows a side of one pass of the paired comparison


def _merged(parts: list[dict]) -> dict:
    """Paired-difference figures of disjoint sets of samples, combined (Chan et al.'s
    pairwise update for the variance)."""
    parts = [p for p in parts if p["n"]]
    n = sum(p["n"] for p in parts)
    if n == 0:
        return {"n": 0, "mean": None, "var": None, "wins": 0, "losses": 0, "ties": 0,
                "nonbinary": 0}
    mean = sum(p["n"] * p["mean"] for p in parts) / n
    m2 = sum((p["n"] - 1) * (p["var"] or 0.0) + p["n"] * (p["mean"] - mean) ** 2
             for p in parts)
    return {"n": n, "mean": mean, "var": m2 / (n - 1) if n > 1 else None,
            **{k: sum(p.get(k, 0) for p in parts)
               for k in ("wins", "losses", "ties", "nonbinary")}}


def _paired(d: dict, *, single_epoch: bool) -> dict:
    """paired_test's figures (pipeline.stats) from the aggregated differences; null where
    there is none (no paired sample; no p-value from a single sample by the t test)."""
    n = d["n"]
    if n == 0:
        return {"n": 0, "mean_diff": None, "ci_low": None, "ci_high": None,
                "p_value": None, "test": None, "wins": 0, "losses": 0, "ties": 0}
    t = paired_moments_test(n, d["mean"], d["var"], d["wins"], d["losses"],
                            binary=single_epoch and d["nonbinary"] == 0)
    return {"n": n, "mean_diff": t["diff"], "ci_low": t["ci_low"], "ci_high": t["ci_high"],
            "p_value": None if math.isnan(t["p_value"]) else t["p_value"], "test": t["test"],
            "wins": d["wins"], "losses": d["losses"], "ties": d["ties"]}



BINS_PER_DECADE = 10  # latency histogram bins: bin b holds [10^(b/10), 10^((b+1)/10)) s
MIN_LATENCY_S = 1e-3  # faster answers fall in the first bin


def latency_histogram(df: pl.DataFrame | pl.LazyFrame, order: Order | None = None
                      ) -> pl.DataFrame:
    """Per model, how many successful answers' latencies (the last attempt's, as in the
    tables' percentiles) fall in each log-spaced bin (`bin`: bin b holds latencies from
    10^(b/10) to 10^((b+1)/10) seconds): the distribution's shape for the report's chart.
    One streaming group-by: memory holds models times bins, never the rows."""
    lf = _lazy(df).filter((pl.col("status") == "ok") & pl.col("latency_s").is_not_null())
    binned = (pl.col("latency_s").clip(lower_bound=MIN_LATENCY_S).log10() * BINS_PER_DECADE
              ).floor().cast(pl.Int32).alias("bin")
    got = lf.group_by("model", binned).agg(pl.len().cast(pl.Int64).alias("n")).collect(
        engine=STREAMING)
    models = _ordered(got.select("model").unique(), ["model"], order)["model"].to_list()
    rank = pl.col("model").replace_strict(models, list(range(len(models))),
                                          return_dtype=pl.Int64)
    return got.sort(rank, "bin")
