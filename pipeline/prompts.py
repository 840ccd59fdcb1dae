"""prompts.parquet: each sample's request messages, once per sample, so every answer in
results.parquet can be read beside the prompt it answered (join on `dataset`, `sample_id`).

The messages travel in the journal on the record of each sample's first item (epoch 1, the
first model: pipeline.records), not once per model and epoch, so the journal stays small
and the run folder alone says what was asked (no dataset needed, and a re-score with another
config cannot show another prompt); on every record of a dataset with an LLM judge, whose
rubric shows them. Finalize streams the result rows that carry them here. A sample appears
more than once then, or when the first model changed between invocations (a model added in
front): each sample's first row is kept, found from 64-bit hashes, never by holding the
prompts.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pipeline.report.tables import STREAMING
from pipeline.runfolder import atomic_write

PROMPTS = "prompts.parquet"
COLUMNS = ("dataset", "sample_id", "messages")
# Rows per row group: a sink holds a group whole, and a prompt can be kilobytes (200,000
# items: +30 MB of peak at polars' default, +6 MB at 4,096).
ROW_GROUP = 4096


def write_prompts(folder: Path, results: pl.LazyFrame) -> Path:
    """Write prompts.parquet from the results' `messages` cells (JSON text), one row per
    sample, atomically and streaming; returns its path."""
    carried = results.filter(pl.col("messages").is_not_null()).select(*COLUMNS)
    sample = pl.struct("dataset", "sample_id").hash(11)
    rows, samples = carried.select(pl.len(), sample.n_unique()).collect(
        engine=STREAMING).row(0)
    if rows > samples:
        numbered = carried.with_row_index("_i")
        first = (numbered.group_by(sample.alias("_s")).agg(pl.col("_i").min())
                 .select("_i").collect(engine=STREAMING).to_series())
        carried = numbered.filter(pl.col("_i").is_in(first.implode())).drop("_i")
    path = folder / PROMPTS
    atomic_write(path, lambda p: carried.sink_parquet(p, row_group_size=ROW_GROUP))
    return path
