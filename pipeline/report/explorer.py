"""The report's sample explorer: every answer (or, for a large run, a capped stratified sample
of them) embedded in report.html as JSON, with a small inline script that filters, searches
and opens one sample with every model's answer side by side.

The rows come from results.parquet and the prompts from prompts.parquet (joined on dataset
and sample_id), read lazily by polars: a first pass reads only the key columns to choose the
samples to embed, a second reads the chosen rows, so memory holds at most `cap` rows (and
their texts cut to `text_chars`), never the run's.

Safety: the data sits in a `<script type="application/json">` element whose JSON has every
`<`, `>`, `&`, U+2028 and U+2029 written as a \\u escape, so no text can close the element
or start markup; the script renders with DOM APIs and `textContent` only, never innerHTML,
and sets no URL from the data.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.prompts import PROMPTS
from pipeline.report.tables import SAMPLE, STREAMING, reduced

EMBED_ROWS = 20_000  # result rows embedded at most; a larger run embeds a stratified sample
TEXT_CHARS = 4_000  # characters of one text cell (answer, reasoning, ...) embedded at most
PROMPT_CHARS = 8_000  # characters of one prompt message embedded at most
RESULTS = "results.parquet"

# Each embedded row is an array; its fields in this order (explorer.js reads them by index).
ROW_FIELDS = ("sample", "model", "epoch", "class", "score", "finish", "error",
              "error_message", "output", "reasoning", "tool_calls", "prompt_tokens",
              "completion_tokens", "usage_estimated", "cost_usd", "latency_s", "scorers")
# The score classes: `unscored` rows are not in accuracy (outputs-only datasets, answers the
# judge did not grade, errors still to retry); a final error counts as wrong, as in accuracy.
CLASSES = ("right", "partly right", "wrong", "unscored")


def _text(col: str, limit: int) -> list[pl.Expr]:
    """A text column cut to `limit` characters, with its full length beside it (`_n_<col>`)."""
    c = pl.col(col)
    return [c.str.slice(0, limit).alias(col), c.str.len_chars().alias(f"_n_{col}")]


def _cell(text: str | None, full: int | None) -> Any:
    """A text cell: the text, or [text, full length] when it was cut."""
    if text is None:
        return None
    return [text, int(full)] if full is not None and full > len(text) else text


def _num(value: Any) -> Any:
    """A number as JSON can hold it (no NaN or infinity: those are unknown)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def score_class() -> pl.Expr:
    """Each result row's score class, as the explorer shows it (an index into CLASSES)."""
    score = pl.col("score").fill_null(0.0)
    return (pl.when(~pl.col("scored") | ~pl.col("final")).then(pl.lit(3))
            .when(score >= 1.0).then(pl.lit(0))
            .when(score > 0.0).then(pl.lit(1))
            .otherwise(pl.lit(2)))


HASH = pl.struct(SAMPLE).hash(7)  # a sample's 64-bit hash: what the choice is made on
_SPREAD = 1 << 30  # the hash's low bits, as a fraction of this, spread samples evenly


def choose_samples(results: pl.LazyFrame, cap: int) -> tuple[pl.Expr | None, dict[str, Any]]:
    """Which rows to embed: None for all (the run has at most `cap` rows), else a filter on
    the results. Stratified: each dataset gets an equal share of the `cap` rows (a dataset
    smaller than its share is embedded whole, and what it leaves is shared by the rest); in
    each, whole samples (every model, every epoch) in an order fixed by their hash, as many
    as fit its share. Memory holds a dataset's row counts, then the counts of only the
    samples that might be chosen (a random slice a little larger than the share), never one
    row per sample of the run. Also returns counts for the page's note."""
    sizes = (results.group_by("dataset").agg(pl.len().alias("n"))
             .collect(engine=STREAMING).sort("n", "dataset"))
    total = int(sizes["n"].sum() or 0)
    if total <= cap:
        return None, {"rows_total": total}
    share, left, budget = {}, sizes.height, cap
    for name, n in sizes.iter_rows():
        share[name] = min(int(n), budget // left)
        budget -= share[name]
        left -= 1
    whole = [name for name, n in sizes.iter_rows() if share[name] >= n]
    rank = (HASH % _SPREAD).alias("_r")
    chosen = []
    for name, n in sizes.iter_rows():
        if name in whole:
            continue
        # the candidates: a slice of the samples a quarter larger than the share needs
        slice_ = min(1.0, share[name] / n * 1.25 + 100 / n)
        got = (results.filter(pl.col("dataset") == name)
               .filter(rank < int(slice_ * _SPREAD))
               .group_by(HASH.alias("_s")).agg(rank.first(), pl.len().alias("n"))
               .collect(engine=STREAMING).sort("_r", "_s"))
        keep = max(1, int((got["n"].cum_sum() <= share[name]).sum()))  # one at least
        chosen.append(got["_s"].head(keep))
    hashes = pl.concat(chosen) if chosen else pl.Series([], dtype=pl.UInt64)
    keep_rows = (pl.col("dataset").is_in(pl.Series(whole, dtype=pl.String).implode())
                 | HASH.is_in(hashes.implode()))
    return keep_rows, {"rows_total": total}


def _prompts(folder: Path, samples: pl.DataFrame) -> dict[tuple[str, str], Any]:
    """The embedded samples' prompts as [[role, text], ...], by (dataset, sample_id)."""
    path = folder / PROMPTS
    if not path.exists() or samples.is_empty():
        return {}
    got = (pl.scan_parquet(path).join(samples.lazy(), on=SAMPLE, how="semi")
           .collect(engine=STREAMING))
    return {(d, s): _messages(m) for d, s, m in got.select(*SAMPLE, "messages").iter_rows()}


def _messages(text: str | None) -> list[list[Any]] | None:
    """A request's messages (JSON text) as [[role, text or [text, full length]], ...]."""
    if not text:
        return None
    try:
        messages = json.loads(text)
    except ValueError:
        return [["?", _cut(text)]]
    out = []
    for m in messages if isinstance(messages, list) else []:
        if not isinstance(m, dict):
            continue
        content = m.get("content")
        if isinstance(content, list):  # parts: text, images, ...
            content = "\n".join(p.get("text", "") if p.get("type") == "text"
                                else f"[{p.get('type', 'part')}]"
                                for p in content if isinstance(p, dict))
        elif content is not None and not isinstance(content, str):
            content = json.dumps(content, ensure_ascii=False)
        if m.get("tool_calls"):
            calls = json.dumps(m["tool_calls"], ensure_ascii=False)
            content = f"{content or ''}\n[tool calls] {calls}".strip()
        out.append([str(m.get("role", "?")), _cut(content or "")])
    return out


def _cut(text: str, limit: int = PROMPT_CHARS) -> Any:
    return [text[:limit], len(text)] if len(text) > limit else text


def explorer_data(folder: Path, scorers: Mapping[str, list[str]], order: Mapping[str, list[str]],
                  *, run_id: str = "", reducer: str = "mean", cap: int = EMBED_ROWS,
                  text_chars: int = TEXT_CHARS) -> dict[str, Any]:
    """The explorer's data from the run folder's results.parquet and prompts.parquet.
    `scorers`: each dataset's scorer column suffixes, its primary scorer first; `order`:
    models and datasets in the order the tables show them."""
    results = pl.scan_parquet(folder / RESULTS)
    chosen, facts = choose_samples(results, cap)
    if chosen is not None:
        results = results.filter(chosen)
    have = results.collect_schema().names()
    cols = sorted({f"{k}_{c}" for cs in scorers.values() for c in cs
                   for k in ("score", "answer", "explanation")} & set(have))
    texts = ["output_text", "reasoning", "tool_calls", "error_message", "target",
             *[c for c in cols if not c.startswith("score_")]]
    frame = results.select(
        *SAMPLE, "position", "model", "epoch", "status", "finish_reason", "error_type",
        "prompt_tokens", "completion_tokens", "usage_estimated", "cost_usd", "latency_s",
        "score", *[c for c in cols if c.startswith("score_")],
        pl.col("group") if "group" in have else pl.lit(None, pl.String).alias("group"),
        score_class().alias("_class"),
        *[e for c in texts for e in _text(c, text_chars)],
    ).collect(engine=STREAMING).sort("position", maintain_order=True)
    return _assemble(folder, frame, scorers, order, facts, run_id=run_id, reducer=reducer,
                     cap=cap, chosen=chosen is not None, text_chars=text_chars)


def _index(values: list[str], first: list[str]) -> list[str]:
    """Values in the configured order, then any others by name."""
    return [v for v in first if v in values] + sorted(set(values) - set(first))


def _disagree(frame: pl.DataFrame, reducer: str) -> set[tuple[str, str]]:
    """Samples whose models' primary scores differ (each model's epochs reduced by the run's
    reducer; rows not in accuracy left out; at least two models scored)."""
    scored = frame.filter(pl.col("_class") != 3).with_columns(pl.col("score").fill_null(0.0))
    per = scored.group_by(*SAMPLE, "model").agg(reduced(pl.col("score"), reducer).alias("s"))
    got = per.group_by(SAMPLE).agg(pl.len().alias("m"), pl.col("s").max().alias("hi"),
                                   pl.col("s").min().alias("lo"))
    got = got.filter((pl.col("m") > 1) & (pl.col("hi") != pl.col("lo")))
    return {(d, s) for d, s in got.select(SAMPLE).iter_rows()}


def _assemble(folder: Path, frame: pl.DataFrame, scorers: Mapping[str, list[str]],
              order: Mapping[str, list[str]], facts: dict[str, Any], *, run_id: str,
              reducer: str, cap: int, chosen: bool, text_chars: int) -> dict[str, Any]:
    datasets = _index(frame["dataset"].unique().to_list(), list(order.get("dataset", [])))
    models = _index(frame["model"].unique().to_list(), list(order.get("model", [])))
    finishes = sorted(v for v in frame["finish_reason"].unique().to_list() if v is not None)
    errors = sorted(v for v in frame["error_type"].unique().to_list() if v is not None)
    ds_at = {d: i for i, d in enumerate(datasets)}
    m_at = {m: i for i, m in enumerate(models)}
    f_at = {f: i for i, f in enumerate(finishes)}
    e_at = {e: i for i, e in enumerate(errors)}
    have = set(frame.columns)
    ds_cols = [[c for c in scorers.get(d, []) if f"score_{c}" in have] for d in datasets]
    disagree = _disagree(frame, reducer)
    keys = frame.select(SAMPLE).unique(maintain_order=True)
    prompts = _prompts(folder, keys)
    samples: list[dict[str, Any]] = []
    s_at: dict[tuple[str, str], int] = {}
    rows = []
    for r in frame.iter_rows(named=True):
        key = (r["dataset"], r["sample_id"])
        s = s_at.get(key)
        if s is None:
            s = s_at[key] = len(samples)
            samples.append({"d": ds_at[key[0]], "id": key[1], "prompt": prompts.get(key),
                            "target": _cell(r["target"], r["_n_target"]),
                            "group": r["group"], "disagree": key in disagree})
        marks = [[_num(r[f"score_{c}"]), _cell(r.get(f"answer_{c}"), r.get(f"_n_answer_{c}")),
                  _cell(r.get(f"explanation_{c}"), r.get(f"_n_explanation_{c}"))]
                 for c in ds_cols[ds_at[key[0]]]]
        rows.append([
            s, m_at[r["model"]], r["epoch"], r["_class"], _num(r["score"]),
            f_at.get(r["finish_reason"], -1), e_at.get(r["error_type"], -1),
            _cell(r["error_message"], r["_n_error_message"]),
            _cell(r["output_text"], r["_n_output_text"]),
            _cell(r["reasoning"], r["_n_reasoning"]),
            _cell(r["tool_calls"], r["_n_tool_calls"]),
            r["prompt_tokens"], r["completion_tokens"], bool(r["usage_estimated"]),
            _num(r["cost_usd"]), _num(r["latency_s"]), marks,
        ])
    return {"version": 1, "run_id": run_id, **facts, "rows_embedded": len(rows),
            "samples_embedded": len(samples), "capped": chosen, "cap": cap,
            "text_chars": text_chars, "prompt_chars": PROMPT_CHARS, "reducer": reducer,
            "fields": list(ROW_FIELDS), "classes": list(CLASSES), "datasets": datasets,
            "models": models, "finish_reasons": finishes, "errors": errors,
            "scorers": ds_cols, "samples": samples, "rows": rows}


_ESCAPES = (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
            ("\u2029", "\\u2029"))


def script_json(data: Any) -> str:
    """JSON safe inside a <script> element: no `<`, `>` or `&` (so no `</script>` or `<!--`)
    and no line separators, each written as its \\u escape (JSON reads them back as they
    were)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for char, escape in _ESCAPES:  # str.replace: 20x faster than str.translate on MBs
        text = text.replace(char, escape)
    return text


def _static(name: str) -> str:
    return resources.files("pipeline.report").joinpath(name).read_text("utf-8")


def explorer_html(data: dict[str, Any]) -> str:
    """The explorer's block for the end of <body>: its heading, a note on what is embedded,
    a container the script fills, the data and the script (inline: nothing is fetched)."""
    return ("<section id=explorer-section><h2>Samples</h2>"
            f"<style>{_static('explorer.css')}</style>"
            "<p class=note id=explorer-note></p>"
            "<noscript><p class=note>The sample explorer needs JavaScript; the answers are "
            "in results.parquet.</p></noscript>"
            "<div id=explorer></div>"
            f'<script type="application/json" id="explorer-data">{script_json(data)}</script>'
            f"<script>{_static('explorer.js')}</script></section>")


def build_explorer(folder: Path, scorers: Mapping[str, list[str]],
                   order: Mapping[str, list[str]], *, run_id: str = "",
                   reducer: str = "mean", cap: int = EMBED_ROWS) -> str:
    """The explorer's HTML block for this run folder (see explorer_html)."""
    return explorer_html(explorer_data(folder, scorers, order, run_id=run_id, reducer=reducer,
                                       cap=cap))
