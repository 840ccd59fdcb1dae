"""Check that two run folders hold the same answers: the same keys, and per key the same
status, scores, tokens and cost; and the same manifest totals. Used to show that a change to
the data path changes cost, not answers:

    .venv/bin/python bench/same_results.py RUN_FOLDER_A RUN_FOLDER_B
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import polars as pl

COLUMNS = ["key", "dataset", "sample_id", "model", "epoch", "status", "final", "score",
           "prompt_tokens", "completion_tokens", "cost_usd", "finish_reason", "output_text"]
TOTALS = ["planned", "done", "pending", "results", "ok", "errors", "failed_items",
          "prompt_tokens", "completion_tokens", "cost_usd", "spent_usd", "attempts"]


def main() -> int:
    a, b = (Path(x) for x in sys.argv[1:3])
    fa, fb = (pl.read_parquet(f / "results.parquet") for f in (a, b))
    cols = [c for c in COLUMNS if c in fa.columns and c in fb.columns]
    cols += sorted(c for c in fa.columns if c.startswith(("score_", "answer_")) and c in fb.columns)
    fa, fb = (f.select(cols).sort("key") for f in (fa, fb))
    problems = []
    if fa["key"].to_list() != fb["key"].to_list():
        problems.append(f"keys differ: {fa.height} vs {fb.height} rows")
    elif not fa.equals(fb):
        for c in cols:
            if not fa[c].equals(fb[c]):
                n = int((fa[c].ne_missing(fb[c])).sum())
                problems.append(f"column {c}: {n} rows differ")
    ta, tb = (json.loads((f / "manifest.json").read_text())["totals"] for f in (a, b))
    for k in TOTALS:
        va, vb = ta.get(k), tb.get(k)
        if isinstance(va, float) and isinstance(vb, float) and abs(va - vb) < 1e-9:
            continue
        if va != vb:
            problems.append(f"totals.{k}: {va} vs {vb}")
    print(f"{fa.height} rows, columns {', '.join(cols)}")
    print("\n".join(problems) if problems else "identical")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
