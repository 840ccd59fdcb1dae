"""The answer first: the report's headline sentences and Comparison table (each model against
the reference model, per dataset and overall: score difference with its interval and p-value,
cost and latency ratios), the gates and the header facts; and report.md and report.html
telling the same figures (parsed from both files of a demo run and of a run with a baseline).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from pipeline.cli import main
from pipeline.compare import describe
from pipeline.config import load_config
from pipeline.gates import GateResult
from pipeline.report import tables
from pipeline.report.markdown import render_markdown
from pipeline.report.sections import build_sections, facts
from pipeline.runner import RunOptions, run
from pipeline.stats import paired_test
from tests.helpers import arith, demo_config
from tests.test_headline import row

ORDER = {"model": ["a", "b"], "dataset": ["big", "free"]}


def two_models(n: int = 30, right_b: int = 20, **b_over: Any) -> pl.DataFrame:
    """Model a (the reference) right on all n samples of `big`, at $0.003 an item and 0.2 s;
    b right on the first `right_b`, at $0.001 and 0.1 s."""
    rows = [row("big", i, "a", 1.0, cost_usd=0.003, latency_s=0.2) for i in range(n)]
    rows += [row("big", i, "b", float(i < right_b), **{"cost_usd": 0.001, "latency_s": 0.1,
                                                        **b_over}) for i in range(n)]
    return pl.DataFrame(rows)


def sections(df: pl.DataFrame, order: dict = ORDER, epochs: int = 1, **kw: Any) -> list:
    by_ds = tables.summary_by_dataset(df, epochs, order)
    summ = tables.summary(df, epochs, order, by_dataset=by_ds)
    comps = tables.comparisons(df, epochs, order, reference=kw.get("reference"))
    return build_sections(df, summ, by_ds, comps, latency=tables.latency_histogram(df, order),
                          **kw)


def section(secs: list, title: str) -> Any:
    return next((s for s in secs if s.title == title), None)


def test_the_headline_says_the_difference_its_interval_p_and_the_ratios():
    df = two_models()
    secs = sections(df)
    assert secs[0].title == "Headline"  # the answer first
    (line,) = secs[0].lines
    t = paired_test([1.0] * 30, [float(i < 20) for i in range(30)])  # compare.py's test
    assert t["test"] == "mcnemar" and t["p_value"] == pytest.approx(2 / 2**10)
    assert line == (f"big: b scores 33.3 pp lower than a (95 % CI {100 * -t['ci_high']:.1f}–"
                    f"{100 * -t['ci_low']:.1f}, p = 0.002 by McNemar's exact test, 30 paired "
                    "samples) at 0.33× the cost and 0.50× the p50 latency.")
    comp = section(secs, "Comparison")
    cells = dict(zip(comp.headers, comp.rows[0], strict=True))
    assert cells["wins of b over a"] == "0" and cells["losses of b to a"] == "10"
    assert cells["accuracy diff vs a"] == "-33.3 pp" and cells["p"] == "0.002"
    assert cells["test"] == "mcnemar"
    assert cells["cost ratio"] == "0.33×" and cells["p50 latency ratio"] == "0.50×"


def test_p_values_and_intervals_are_made_as_a_baseline_comparison_makes_them():
    import random

    rng = random.Random(3)
    rows = [row(ds, i, m, float(rng.random() < p), epoch=e)
            for ds in ("big", "free") for i in range(40) for m, p in (("a", 0.7), ("b", 0.5))
            for e in (1, 2)]
    df = pl.DataFrame(rows).with_columns(pl.lit(True).alias("scored"))
    got = tables.comparisons(df, 2, ORDER)
    for ds in ("(all)", "big", "free"):
        part = df if ds == "(all)" else df.filter(pl.col("dataset") == ds)
        means = (part.group_by("dataset", "sample_id", "model").agg(pl.col("score").mean())
                 .sort("dataset", "sample_id"))
        a = means.filter(pl.col("model") == "a")["score"].to_list()
        b = means.filter(pl.col("model") == "b")["score"].to_list()
        want = paired_test(a, b, single_epoch=False)  # two epochs: the paired t test
        have = got.filter(pl.col("dataset") == ds).row(0, named=True)
        assert have["test"] == want["test"] == "paired-t"
        for k, w in (("mean_diff", "diff"), ("ci_low", "ci_low"), ("ci_high", "ci_high"),
                     ("p_value", "p_value")):
            assert have[k] == pytest.approx(want[w], rel=1e-9)


def test_unknown_cost_is_said_never_a_ratio_of_zero():
    df = two_models(cost_usd=None)  # b has no price
    secs = sections(df)
    (line,) = secs[0].lines
    assert line.endswith("at 0.50× the p50 latency; cost unknown (no price for b).")
    assert not re.search(r"(?<![\d.])0(\.0*)?×", line)  # never "0×" for unknown
    cells = dict(zip(section(secs, "Comparison").headers, section(secs, "Comparison").rows[0],
                     strict=True))
    assert cells["cost ratio"] == "–"
    # the reference without a price: unknown too, saying whose
    df = two_models().with_columns(
        pl.when(pl.col("model") == "a").then(None).otherwise(pl.col("cost_usd"))
        .alias("cost_usd"))
    assert "cost unknown (no price for a)" in sections(df)[0].lines[0]
    # the chart leaves it out and says why
    chart = section(sections(two_models(cost_usd=None)), "Charts").charts[1]
    assert chart.title.startswith("Cost against score")
    assert [p.cost is None for p in chart.points] == [False, True]
    assert "cost unknown (no price), not drawn" in chart.points[1].shown


def test_a_single_model_has_its_own_figures_and_nothing_to_compare():
    df = two_models().filter(pl.col("model") == "a")
    secs = sections(df, {"model": ["a"], "dataset": ["big"]})
    assert secs[0].lines == [
        "a is the only model, so there is nothing to compare it with.",
        "big: a scores 100.0% (95 % CI 88.6–100.0%, 30 scored samples), $0.0900 ($0.003 "
        "per item), p50 latency 0.20s."]
    assert section(secs, "Comparison") is None
    charts = section(secs, "Charts").charts
    assert [c.title for c in charts] == ["Score with its 95% interval", "Latency distribution",
                                         "Tokens per answer"]  # no cost/score chart of one
    md = render_markdown({"run_id": "r"}, secs)
    assert "## Comparison" not in md and "only model" in md


def test_no_paired_sample_outputs_only_and_ungraded_answers():
    rows = [row("big", i, "a", 1.0) for i in range(10)]
    rows += [row("big", i, "b", 1.0) for i in range(10, 20)]  # no sample in common
    rows += [row("free", i, m, None, cost_usd=c) for i in range(4)
             for m, c in (("a", 0.004), ("b", 0.001))]  # outputs only
    secs = sections(pl.DataFrame(rows))
    assert secs[0].lines[1].startswith(
        "big: b and a have no scored sample in common, so no score difference at 1.00× the "
        "cost")
    assert secs[0].lines[2].startswith("free (not scored): b at 0.25× the cost and ")
    assert secs[0].lines[2].endswith(" the p50 latency of a.")
    # answers the judge did not grade (scored false) are left out of the pairs
    df = two_models().with_columns(
        (pl.col("scored") & ~((pl.col("model") == "b") & (pl.col("sample_id").cast(pl.Int64)
                                                         >= 25))).alias("scored"))
    assert "25 paired samples" in sections(df)[0].lines[0]


def test_too_few_samples_and_no_significance_are_said():
    secs = sections(two_models(n=8, right_b=7))
    assert secs[0].lines[0].startswith("big: b scores 12.5 pp lower than a (95 % CI 42.1 pp "
                                       "lower to 17.1 pp higher, p = 1.00 by McNemar's")
    assert "8 paired samples: too few to tell)" in secs[0].lines[0]
    secs = sections(two_models(n=40, right_b=38))
    assert "40 paired samples: not a significant difference)" in secs[0].lines[0]


def test_models_keep_the_models_table_order_everywhere():
    order = {"model": ["zeta", "alpha", "mid"], "dataset": ["d2", "d1"]}
    rows = [row(ds, i, m, float(i % (k + 2) == 0)) for ds in ("d1", "d2") for i in range(12)
            for k, m in enumerate(("mid", "alpha", "zeta"))]
    secs = sections(pl.DataFrame(rows), order, reference="alpha")
    models = [r[0] for r in section(secs, "Models").rows]
    assert models == ["zeta", "alpha", "mid"]
    by_ds = section(secs, "By dataset").rows
    for ds in ("d2", "d1", "all datasets (micro)"):
        assert [r[1] for r in by_ds if r[0] == ds] == models
    comp = section(secs, "Comparison")
    assert [(r[0], r[1]) for r in comp.rows] == [
        (s, m) for s in ("all datasets", "d2", "d1") for m in ("zeta", "mid")]
    assert "wins of model over alpha" in comp.headers  # several models: the side is named
    assert [line.split(": ")[0] + ":" + line.split(": ")[1].split()[0]
            for line in secs[0].lines] == [
        f"{s}:{m}" for s in ("All datasets", "d2", "d1") for m in ("zeta", "mid")]
    charts = section(secs, "Charts").charts
    assert [r.label for r in charts[0].blocks[0][1]] == models


def test_the_header_names_the_config_a_report_was_scored_with():
    meta = {"run_id": "r", "config_path": "configs/demo.toml", "status": "complete"}
    assert facts(meta)[0] == ("Config", "configs/demo.toml")
    got = facts({**meta, "scored_with": "other.toml"})
    assert got[:2] == [("Scored with", "other.toml (pipeline report --config)"),
                       ("Requests sent with", "configs/demo.toml")]


def test_gates_come_right_after_the_headline_failed_first():
    gates = [GateResult("min_score", "a", 0.9, 0.8, True, "gate min_score passed: a: ..."),
             GateResult("min_score", "b", 0.6, 0.8, False, "gate min_score failed: b: ...")]
    secs = sections(two_models(), gates=gates)
    assert [s.title for s in secs[:3]] == ["Headline", "Gates", "Models"]
    assert secs[1].lines == ["1 of 2 gate checks failed.",
                             "gate min_score failed: b: ...", "gate min_score passed: a: ..."]


# --- report.md and report.html agree ---------------------------------------------------------

class _Html(HTMLParser):
    """Per <h2> section of report.html: its <li> texts and its table's cells."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, dict[str, list]] = {}
        self.where: list[str] = []
        self.text = ""
        self.current: dict[str, list] | None = None
        self.row: list[str] = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self.where.append(tag)
        if tag in ("h2", "li", "th", "td"):
            self.text = ""
        if tag == "tr":
            self.row = []

    def handle_endtag(self, tag: str) -> None:
        self.where.pop()
        if tag == "h2":
            self.current = self.sections.setdefault(self.text, {"lines": [], "rows": []})
        elif tag == "li" and self.current is not None and "svg" not in self.where:
            self.current["lines"].append(self.text)
        elif tag in ("th", "td"):
            self.row.append(self.text)
        elif tag == "tr" and self.current is not None:
            self.current["rows"].append(self.row)

    def handle_data(self, data: str) -> None:
        self.text += data


def parse_html(text: str) -> dict[str, dict[str, list]]:
    p = _Html()
    p.feed(text)
    return p.sections


def parse_md(text: str) -> dict[str, dict[str, list]]:
    out: dict[str, dict[str, list]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("## "):
            current = out.setdefault(line[3:], {"lines": [], "rows": []})
        elif current is None:
            continue
        elif line.startswith("- "):
            current["lines"].append(line[2:])
        elif line.startswith("|") and not line.startswith("|---"):
            cells = re.split(r"(?<!\\)\|", line.strip()[1:-1])
            current["rows"].append([c.strip().replace("\\|", "|") for c in cells])
    return out


FIGURE = re.compile(r"p [<=] [\d.]+|[−+-]?\d[\d,]*(?:\.\d+)?(?: ?(?:pp|%|×|s|ms))?")


def figures(line: str) -> list[str]:
    """Every figure in a sentence, with its unit (model names' digits included: a name that
    differs would differ here too)."""
    return FIGURE.findall(line)


def check_agree(folder: Path) -> dict[str, dict[str, list]]:
    md = parse_md((folder / "report.md").read_text())
    html = parse_html((folder / "report.html").read_text())
    # same sections, same order (the HTML adds its charts and the sample explorer)
    assert list(md) == [t for t in html if t not in ("Charts", "Samples")]
    for title, got in md.items():
        assert [figures(x) for x in got["lines"]] == [figures(x) for x in html[title]["lines"]]
        assert got["lines"] == html[title]["lines"], title
        assert got["rows"] == html[title]["rows"], title
    assert md["Headline"]["lines"]
    return md


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return run(load_config(demo_config(tmp_path_factory.mktemp("agree"))),
               RunOptions(progress=False))


def test_markdown_and_html_tell_the_same_headline_figures(demo):
    md = check_agree(demo.folder)
    summ = {r["model"]: r for r in pl.read_parquet(demo.folder / "summary.parquet")
            .iter_rows(named=True)}
    comp = pl.read_parquet(demo.folder / "comparison.parquet").row(0, named=True)
    overall = md["Headline"]["lines"][0]
    assert overall.startswith("All datasets: claude-4-5-haiku scores ")
    nums = figures(overall)
    s, h = summ["claude-4-5-sonnet"], summ["claude-4-5-haiku"]
    assert f"{100 * abs(comp['mean_diff']):.1f} pp" in nums
    assert comp["mean_diff"] == pytest.approx(h["accuracy"] - s["accuracy"])  # all paired
    assert f"{100 * -comp['ci_high']:.1f}–{100 * -comp['ci_low']:.1f}" in overall
    assert f"{(h['cost_usd'] / h['items']) / (s['cost_usd'] / s['items']):.2f}×" in nums
    assert f"{h['latency_p50_s'] / s['latency_p50_s']:.2f}×" in nums
    assert "p < 0.001 by McNemar's exact test, 320 paired samples" in overall
    # one line per dataset after the overall one, in the by-dataset table's order
    assert [x.split(":")[0] for x in md["Headline"]["lines"]] == [
        "All datasets", "arithmetic", "multiple_choice", "tools"]
    by_ds = pl.read_parquet(demo.folder / "comparison_by_dataset.parquet")
    assert by_ds["dataset"].to_list() == ["arithmetic", "multiple_choice", "tools"]
    rows = md["Comparison"]["rows"]
    assert rows[0][:4] == ["dataset", "model", "paired samples",
                           "accuracy diff vs claude-4-5-sonnet"]
    assert "wins of claude-4-5-haiku over claude-4-5-sonnet" in rows[0]


def test_markdown_and_html_agree_with_a_baseline(tmp_path: Path):
    first = demo_config(tmp_path / "a", datasets=[arith(40)])
    assert main(["run", str(first), "--no-progress"]) == 0
    (base,) = (tmp_path / "a" / "reports").iterdir()
    second = demo_config(tmp_path / "a", datasets=[arith(40)],
                         provider={"emulator": {"speed": 0.0,
                                                "accuracy": {"claude-4-5-haiku": 0.4}}})
    assert main(["run", str(second), "--no-progress", "--baseline", "latest"]) == 0
    (new,) = [p for p in (tmp_path / "a" / "reports").iterdir() if p != base]
    md = check_agree(new)
    assert list(md)[:3] == ["Headline", "Change against baseline", "Models"]
    frame = pl.read_parquet(new / "baseline.parquet")
    assert md["Change against baseline"]["lines"] == [describe(r) for r in
                                                      frame.iter_rows(named=True)]


def test_models_that_tie_on_every_sample_are_said_to():
    df = two_models(right_b=30)
    line = sections(df)[0].lines[0]
    assert line.startswith("big: b scores the same as a (every paired sample scored the same, "
                           "p = 1.00 by McNemar's exact test, 30 paired samples: not a "
                           "significant difference)")


def test_a_model_with_no_answers_is_said_to_have_none_not_to_be_unscored():
    from pipeline.report.headline import _alone_words

    base = {"model": "m", "accuracy": None, "cost_usd": None, "items": 0, "ok": 0,
            "latency_p50_s": None, "scored_samples": 0}
    assert _alone_words({**base, "pending": 20, "failed": 2}).startswith(
        "m has no answers here yet (20 pending, 2 failed), ")
    assert _alone_words({**base, "failed": 3}).startswith("m has no answers here (3 failed), ")
    # answered, but nothing scores it (an outputs-only dataset): that is "not scored"
    assert _alone_words({**base, "ok": 5, "items": 5}).startswith("m is not scored here, ")
