"""Summary and comparison tables from the results table (polars; no scores recomputed)."""

from __future__ import annotations

import polars as pl

from pipeline.stats import paired_difference, wilson


def _aggregate(df: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    ok = pl.col("status") == "ok"
    out = (
        df.group_by(by, maintain_order=True)
        .agg(
            pl.len().alias("samples"),
            ok.sum().alias("ok"),
            (~ok).sum().alias("errors"),
            pl.col("score").fill_null(0.0).mean().alias("accuracy"),
            pl.col("score").fill_null(0.0).sum().alias("_correct"),
            pl.col("prompt_tokens").fill_null(0).sum().alias("prompt_tokens"),
            pl.col("completion_tokens").fill_null(0).sum().alias("completion_tokens"),
            pl.col("cost_usd").sum().alias("cost_usd"),
            pl.col("cost_usd").is_null().sum().alias("_unpriced"),
            pl.col("latency_s").filter(ok).quantile(0.5, "linear").alias("latency_p50_s"),
            pl.col("latency_s").filter(ok).quantile(0.95, "linear").alias("latency_p95_s"),
            pl.col("ttft_s").filter(ok).quantile(0.5, "linear").alias("ttft_p50_s"),
            (pl.col("attempts").fill_null(1) - 1).sum().alias("retries"),
        )
    )
    cis = [wilson(c, n) or (None, None) for c, n in zip(out["_correct"], out["samples"],
                                                         strict=True)]
    return out.with_columns(
        pl.Series("accuracy_ci_low", [c[0] for c in cis], dtype=pl.Float64),
        pl.Series("accuracy_ci_high", [c[1] for c in cis], dtype=pl.Float64),
        pl.when(pl.col("_unpriced") == pl.col("samples")).then(None)
        .otherwise(pl.col("cost_usd")).alias("cost_usd"),
    ).with_columns(
        pl.when(pl.col("_correct") > 0).then(pl.col("cost_usd") / pl.col("_correct"))
        .otherwise(None).alias("cost_per_correct_usd"),
    ).drop("_correct", "_unpriced")


def summary(df: pl.DataFrame) -> pl.DataFrame:
    """One row per model over all datasets."""
    return _aggregate(df, ["model"])


def summary_by_dataset(df: pl.DataFrame) -> pl.DataFrame:
    """One row per model and dataset."""
    return _aggregate(df, ["model", "dataset"]).sort(["dataset", "model"], maintain_order=True)


def comparison(df: pl.DataFrame) -> pl.DataFrame:
    """Each model against the first (the baseline), paired on the same sample and epoch."""
    models = df["model"].unique(maintain_order=True).to_list()
    rows = []
    if len(models) < 2:
        return pl.DataFrame(schema={"baseline": pl.String, "model": pl.String})
    base = models[0]
    scores = df.select(
        "dataset", "sample_id", "epoch", "model", pl.col("score").fill_null(0.0)
    )
    for other in models[1:]:
        pairs = (
            scores.filter(pl.col("model") == base)
            .join(scores.filter(pl.col("model") == other), on=["dataset", "sample_id", "epoch"])
        )
        d = paired_difference(pairs["score"].to_list(), pairs["score_right"].to_list())
        rows.append({"baseline": base, "model": other, **d})
    return pl.DataFrame(rows)
