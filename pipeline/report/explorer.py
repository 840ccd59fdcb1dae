"""The report's sample explorer: every answer (or, for a large run, a capped stratified sample
of them) embedded in report.html as JSON, with a small inline script that filters, searches
and opens one sample with every model's answer side by side.

The rows come from results.parquet and the prompts from prompts.parquet (joined on dataset
and sample_id), read lazily by polars: passes over the key columns choose the samples to
embed and over the text lengths how long a text may be, then the chosen rows are read (at
most `cap`, their texts cut), and their prompts picked out by a streamed filter. The JSON is
written into the page a chunk of rows at a time (finalize: write_page), so memory holds the
chosen rows once in polars and a chunk as Python objects, never the run's rows.

Safety: the data sits in a `<script type="application/json">` element whose JSON has every
`<`, `>`, `&`, U+2028 and U+2029 written as a \\u escape, so no text can close the element
or start markup; the script renders with DOM APIs and `textContent` only, never innerHTML,
and sets no URL from the data.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.prompts import PROMPTS
from pipeline.report.tables import SAMPLE, STREAMING, reduced

EMBED_ROWS = 20_000  # result rows embedded at most; a larger run embeds a stratified sample
TEXT_CHARS = 4_000  # characters of one text cell (answer, reasoning, ...) embedded at most
PROMPT_CHARS = 8_000  # characters of one prompt message embedded at most
# Characters of the rows' texts embedded at most (the page stays some tens of MB): when the
# cells cut at TEXT_CHARS would hold more, they are cut shorter, down to MIN_TEXT_CHARS.
TEXT_BUDGET = 30_000_000
MIN_TEXT_CHARS = 500
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


def _messages(text: str | None, limit: int = PROMPT_CHARS) -> list[list[Any]] | None:
    """A request's messages (JSON text) as [[role, text or [text, full length]], ...]."""
    if not text:
        return None
    try:
        messages = json.loads(text)
    except ValueError:
        return [["?", _cut(text, limit)]]
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
        out.append([str(m.get("role", "?")), _cut(content or "", limit)])
    return out


def _cut(text: str, limit: int) -> Any:
    return [text[:limit], len(text)] if len(text) > limit else text


@dataclass(slots=True)
class Parts:
    """The explorer's data: `head` (every field but the samples and rows), then the samples
    and the rows one at a time, so the page's JSON is written in pieces and never holds
    every row or prompt as Python objects."""

    head: dict[str, Any]
    samples: Iterator[dict[str, Any]]
    rows: Iterator[list[Any]]


def explorer_parts(folder: Path, scorers: Mapping[str, list[str]],
                   order: Mapping[str, list[str]], *, run_id: str = "", reducer: str = "mean",
                   cap: int = EMBED_ROWS, text_chars: int = TEXT_CHARS) -> Parts:
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
    text_chars = _within_budget(results, texts, text_chars)
    frame = results.select(
        *SAMPLE, "position", "model", "epoch", "finish_reason", "error_type",
        "prompt_tokens", "completion_tokens", "usage_estimated", "cost_usd", "latency_s",
        "score", *[c for c in cols if c.startswith("score_")],
        pl.col("group") if "group" in have else pl.lit(None, pl.String).alias("group"),
        score_class().alias("_class"),
        *[e for c in texts for e in _text(c, text_chars)],
    ).collect(engine=STREAMING).sort("position", maintain_order=True)
    # each sample once, in the order of its first row; each row's sample by that order
    samples = frame.select(*SAMPLE, "target", "_n_target", "group").unique(
        subset=SAMPLE, keep="first", maintain_order=True).with_row_index("_si")
    frame = frame.join(samples.select(*SAMPLE, "_si"), on=SAMPLE, how="left",
                       maintain_order="left")
    datasets = _index(frame["dataset"].unique().to_list(), list(order.get("dataset", [])))
    models = _index(frame["model"].unique().to_list(), list(order.get("model", [])))
    ds_cols = [[c for c in scorers.get(d, []) if f"score_{c}" in have] for d in datasets]
    prompt_chars = min(PROMPT_CHARS, 2 * text_chars)
    head = {"version": 1, "run_id": run_id, **facts, "rows_embedded": frame.height,
            "samples_embedded": samples.height, "capped": chosen is not None, "cap": cap,
            "text_chars": text_chars, "prompt_chars": prompt_chars, "reducer": reducer,
            "fields": list(ROW_FIELDS), "classes": list(CLASSES), "datasets": datasets,
            "models": models,
            "finish_reasons": sorted(v for v in frame["finish_reason"].unique().to_list()
                                     if v is not None),
            "errors": sorted(v for v in frame["error_type"].unique().to_list()
                             if v is not None),
            "scorers": ds_cols}
    disagree = _disagree(frame, reducer)
    return Parts(head, _samples(folder, samples, disagree, head, prompt_chars),
                 _rows(frame, head))


def explorer_data(folder: Path, scorers: Mapping[str, list[str]],
                  order: Mapping[str, list[str]], **options: Any) -> dict[str, Any]:
    """The explorer's data as one object (its samples and rows in lists): see
    explorer_parts."""
    parts = explorer_parts(folder, scorers, order, **options)
    return {**parts.head, "samples": list(parts.samples), "rows": list(parts.rows)}


def _within_budget(results: pl.LazyFrame, texts: list[str], limit: int) -> int:
    """The longest cut (at most `limit`) at which the embedded rows' texts hold at most
    TEXT_BUDGET characters (never below MIN_TEXT_CHARS): found from their lengths alone."""
    lengths = results.select([pl.col(c).str.len_chars().fill_null(0) for c in texts]
                             ).collect(engine=STREAMING)

    def size(cut: int) -> int:
        return int(sum(lengths[c].clip(upper_bound=cut).sum() for c in texts))

    if size(limit) <= TEXT_BUDGET:
        return limit
    lo, hi = MIN_TEXT_CHARS, limit  # size(hi) is over the budget
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if size(mid) <= TEXT_BUDGET else (lo, mid)
    return lo


def _index(values: list[str], first: list[str]) -> list[str]:
    """Values in the configured order, then any others by name."""
    return [v for v in first if v in values] + sorted(set(values) - set(first))


def _disagree(frame: pl.DataFrame, reducer: str) -> pl.Series:
    """The samples (their `_si`) whose models' primary scores differ (each model's epochs
    reduced by the run's reducer; rows not in accuracy left out; at least two models
    scored)."""
    scored = frame.filter(pl.col("_class") != 3).with_columns(pl.col("score").fill_null(0.0))
    per = scored.group_by("_si", "model").agg(reduced(pl.col("score"), reducer).alias("s"))
    got = per.group_by("_si").agg(pl.len().alias("m"), pl.col("s").max().alias("hi"),
                                  pl.col("s").min().alias("lo"))
    return got.filter((pl.col("m") > 1) & (pl.col("hi") != pl.col("lo")))["_si"]


def _samples(folder: Path, samples: pl.DataFrame, disagree: pl.Series, head: dict[str, Any],
             prompt_chars: int) -> Iterator[dict[str, Any]]:
    """Each embedded sample: dataset (index), id, prompt, target, group, and whether the
    models disagree on it; its prompt from prompts.parquet (joined on dataset, sample_id)."""
    path = folder / PROMPTS
    table = samples.with_columns(pl.col("_si").is_in(disagree.implode()).alias("_disagree"))
    if path.exists() and samples.height:
        # a filter on the samples' hashes streams (a join would hold the file's prompts)
        wanted = samples.select(HASH.alias("_h"))["_h"]
        prompts = (pl.scan_parquet(path).select(*SAMPLE, "messages")
                   .filter(HASH.is_in(wanted.implode())).collect(engine=STREAMING))
        table = table.join(prompts, on=SAMPLE, how="left", maintain_order="left")
    else:
        table = table.with_columns(pl.lit(None, pl.String).alias("messages"))
    ds_at = {d: i for i, d in enumerate(head["datasets"])}
    for d, sid, target, full, group, split, messages in table.select(
            *SAMPLE, "target", "_n_target", "group", "_disagree", "messages").iter_rows():
        yield {"d": ds_at[d], "id": sid, "prompt": _messages(messages, prompt_chars),
               "target": _cell(target, full), "group": group, "disagree": split}


def _rows(frame: pl.DataFrame, head: dict[str, Any]) -> Iterator[list[Any]]:
    """Each result row as the array ROW_FIELDS names, with the indexes `head` gives."""
    at = {name: {v: i for i, v in enumerate(head[name])}
          for name in ("datasets", "models", "finish_reasons", "errors")}
    ds_cols = head["scorers"]
    for r in frame.iter_rows(named=True):
        marks = [[_num(r[f"score_{c}"]), _cell(r.get(f"answer_{c}"), r.get(f"_n_answer_{c}")),
                  _cell(r.get(f"explanation_{c}"), r.get(f"_n_explanation_{c}"))]
                 for c in ds_cols[at["datasets"][r["dataset"]]]]
        yield [
            r["_si"], at["models"][r["model"]], r["epoch"], r["_class"], _num(r["score"]),
            at["finish_reasons"].get(r["finish_reason"], -1),
            at["errors"].get(r["error_type"], -1),
            _cell(r["error_message"], r["_n_error_message"]),
            _cell(r["output_text"], r["_n_output_text"]),
            _cell(r["reasoning"], r["_n_reasoning"]),
            _cell(r["tool_calls"], r["_n_tool_calls"]),
            r["prompt_tokens"], r["completion_tokens"], bool(r["usage_estimated"]),
            _num(r["cost_usd"]), _num(r["latency_s"]), marks,
        ]


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


def script_hash() -> str:
    """The CSP hash ("sha256-<base64>") of the explorer's script as the page carries it: the
    page's policy lets it, and no other script, run (pipeline.report.html.csp)."""
    digest = hashlib.sha256(_static("explorer.js").encode("utf-8")).digest()
    return "sha256-" + base64.b64encode(digest).decode("ascii")


CHUNK = 2_000  # rows encoded at a time
SLOT = "<!--sample explorer-->"  # where write_page puts the explorer in the page


def _array(items: Iterable[Any]) -> Iterator[str]:
    """A JSON array's items, script-safe, encoded CHUNK at a time (no brackets)."""
    chunk: list[Any] = []
    first = True
    for item in items:
        chunk.append(item)
        if len(chunk) == CHUNK:
            yield ("" if first else ",") + script_json(chunk)[1:-1]
            chunk, first = [], False
    if chunk:
        yield ("" if first else ",") + script_json(chunk)[1:-1]


def data_json(parts: Parts) -> Iterator[str]:
    """The explorer's data as script-safe JSON (see script_json), in pieces: the head's
    fields, then "samples" and "rows", a chunk at a time."""
    yield script_json(parts.head)[:-1] + ',"samples":['
    yield from _array(parts.samples)
    yield '],"rows":['
    yield from _array(parts.rows)
    yield "]}"


def explorer_pieces(parts: Parts) -> Iterator[str]:
    """The explorer's block for the end of <body>, in pieces: its heading, a note on what is
    embedded, a container the script fills, the data and the script (inline: nothing is
    fetched)."""
    yield ("<section id=explorer-section><h2>Samples</h2>"
           f"<style>{_static('explorer.css')}</style>"
           "<p class=note id=explorer-note></p>"
           "<noscript><p class=note>The sample explorer needs JavaScript; the answers are "
           "in results.parquet.</p></noscript>"
           "<div id=explorer></div>"
           '<script type="application/json" id="explorer-data">')
    yield from data_json(parts)
    yield f"</script><script>{_static('explorer.js')}</script></section>"


def explorer_html(data: Parts | dict[str, Any]) -> str:
    """The explorer's block as one string (see explorer_pieces), from explorer_parts or
    explorer_data."""
    if isinstance(data, dict):
        head = {k: v for k, v in data.items() if k not in ("samples", "rows")}
        data = Parts(head, iter(data["samples"]), iter(data["rows"]))
    return "".join(explorer_pieces(data))


def write_page(path: Path, page: str, pieces: Iterable[str]) -> None:
    """Write `page` (made with SLOT where the explorer goes: the last SLOT, as user text
    is escaped and cannot hold one) with the explorer's pieces in its place, piece by piece:
    the explorer is never one string in memory."""
    before, after = page.rsplit(SLOT, 1)
    with path.open("w", encoding="utf-8") as f:
        f.write(before)
        for piece in pieces:
            f.write(piece)
        f.write(after)
