"""Summary and comparison tables from the results table (polars; no scores recomputed).

The statistical unit is the sample: each sample's epochs are averaged first, accuracy is the
mean of those per-sample means, and intervals and paired tests count samples, never epochs.
Token and cost sums say how many rows were estimated; a model without a price has no cost
(null), never $0.
"""

from __future__ import annotations

import polars as pl

from pipeline.stats import mean_interval, paired_difference, pass_at_k

SAMPLE = ["dataset", "sample_id"]


def _per_sample(df: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    """One row per (group, sample): the mean score over its epochs, and epoch agreement."""
    score = pl.col("score").fill_null(0.0)
    keys = list(dict.fromkeys([*by, *SAMPLE]))
    return df.group_by(keys, maintain_order=True).agg(
        score.mean().alias("mean"),
        pl.len().alias("n"),
        (score >= 1.0).sum().alias("c"),
        (score.max() == score.min()).alias("agree"),
    )


def _sample_stats(samples: pl.DataFrame, by: list[str], epochs: int) -> pl.DataFrame:
    rows = []
    for key, grp in samples.group_by(by, maintain_order=True):
        means = grp["mean"].to_list()
        ci = mean_interval(means) or (None, None)
        row = dict(zip(by, key, strict=True))
        row.update(
            samples=len(means), accuracy=sum(means) / len(means) if means else None,
            accuracy_ci_low=ci[0], accuracy_ci_high=ci[1],
            pass_at_k=None, agreement=None,
        )
        if epochs > 1:
            row["pass_at_k"] = sum(
                pass_at_k(n, c, epochs) for n, c in zip(grp["n"], grp["c"], strict=True)
            ) / len(means)
            row["agreement"] = grp["agree"].mean()
        rows.append(row)
    schema = {**{b: pl.String for b in by}, "samples": pl.Int64, "accuracy": pl.Float64,
              "accuracy_ci_low": pl.Float64, "accuracy_ci_high": pl.Float64,
              "pass_at_k": pl.Float64, "agreement": pl.Float64}
    return pl.DataFrame(rows, schema=schema, orient="row")


def _aggregate(df: pl.DataFrame, by: list[str], epochs: int) -> pl.DataFrame:
    ok = pl.col("status") == "ok"
    counts = df.group_by(by, maintain_order=True).agg(
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
        pl.col("model_mismatch").fill_null(False).sum().alias("model_mismatch"),
        pl.col("latency_s").filter(ok).quantile(0.5, "linear").alias("latency_p50_s"),
        pl.col("latency_s").filter(ok).quantile(0.95, "linear").alias("latency_p95_s"),
        pl.col("elapsed_s").filter(ok).quantile(0.95, "linear").alias("elapsed_p95_s"),
        pl.col("ttft_s").filter(ok).quantile(0.5, "linear").alias("ttft_p50_s"),
        (pl.col("attempts").fill_null(1) - 1).clip(0).sum().alias("retries"),
    )
    # Items still pending (errors left to retry) are no answers yet: only final rows count.
    stats = _sample_stats(_per_sample(df.filter(pl.col("final")), by), by, epochs)
    out = counts.join(stats, on=by, how="left", maintain_order="left")
    return out.with_columns(
        pl.lit(epochs, pl.Int32).alias("epochs"),
        pl.col("samples").fill_null(0),  # a group with only pending items answered none
        # Any row without a price makes the sum unknown, not smaller.
        pl.when(pl.col("_unpriced") > 0).then(None).otherwise(pl.col("cost_usd"))
        .alias("cost_usd"),
    ).with_columns(
        pl.when(pl.col("_correct") > 0).then(pl.col("cost_usd") / pl.col("_correct"))
        .otherwise(None).alias("cost_per_correct_usd"),
    ).select(
        *by, "samples", "epochs", "items", "accuracy", "accuracy_ci_low", "accuracy_ci_high",
        "pass_at_k", "agreement", "ok", "errors", "failed", "pending", "cut_by_max_tokens",
        "content_filtered", "prompt_tokens", "completion_tokens", "usage_estimated",
        "cost_usd", "cost_per_correct_usd", "model_mismatch", "latency_p50_s",
        "latency_p95_s", "elapsed_p95_s", "ttft_p50_s", "retries",
    )


def summary(df: pl.DataFrame, epochs: int = 1) -> pl.DataFrame:
    """One row per model over all datasets."""
    return _aggregate(df, ["model"], epochs)


def summary_by_dataset(df: pl.DataFrame, epochs: int = 1) -> pl.DataFrame:
    """One row per model and dataset."""
    return _aggregate(df, ["model", "dataset"], epochs).sort(["dataset"], maintain_order=True)


def comparison(df: pl.DataFrame) -> pl.DataFrame:
    """Each model against the first (the baseline), paired on samples both have final
    results for (pending items left out): per-sample means over epochs, so epochs never
    count as extra samples."""
    models = df["model"].unique(maintain_order=True).to_list()
    if len(models) < 2:
        return pl.DataFrame(schema={"baseline": pl.String, "model": pl.String})
    base = models[0]
    means = _per_sample(df.filter(pl.col("final")), ["model"]).select("model", *SAMPLE, "mean")
    rows = []
    for other in models[1:]:
        pairs = (
            means.filter(pl.col("model") == base)
            .join(means.filter(pl.col("model") == other), on=SAMPLE)
        )
        d = paired_difference(pairs["mean"].to_list(), pairs["mean_right"].to_list())
        rows.append({"baseline": base, "model": other, **d})
    return pl.DataFrame(rows)
