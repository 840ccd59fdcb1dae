"""The report's sample explorer data (no browser: tests/test_report_browser.py drives the
page): what is embedded, how it is escaped, the cap and its stratified sample, cut texts, and
the score classes and disagreement read against results.parquet."""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest

from pipeline.config import load_config
from pipeline.report.explorer import (
    CLASSES,
    ROW_FIELDS,
    explorer_data,
    score_class,
    script_json,
)
from pipeline.runner import RunOptions, run
from tests.helpers import arith, demo_config
from tests.injection import PAYLOADS, injection_run

F = {name: i for i, name in enumerate(ROW_FIELDS)}


def embedded(html: str) -> dict:
    """The explorer's data as the page's script reads it (JSON.parse of the element's text)."""
    m = re.search(r'<script type="application/json" id="explorer-data">(.*?)</script>', html,
                  re.S)
    assert m, "no explorer data in the page"
    return json.loads(m.group(1))


def test_script_json_cannot_close_its_element_and_reads_back_the_same():
    data = {"t": PAYLOADS + ["<!--", "]]>", "\u2028\u2029", "</SCRIPT >"], "<k>": 1.5}
    text = script_json(data)
    for bad in ("<", ">", "&", "\u2028", "\u2029"):
        assert bad not in text
    assert json.loads(text) == data


def test_the_demo_embeds_every_answer_with_its_prompt(tmp_path: Path):
    out = run(load_config(demo_config(tmp_path)), RunOptions(progress=False))
    html = (out.folder / "report.html").read_text()
    data = embedded(html)
    res = pl.read_parquet(out.folder / "results.parquet")
    prompts = pl.read_parquet(out.folder / "prompts.parquet")
    assert data["rows_embedded"] == data["rows_total"] == res.height == 640
    # the page's policy (pipeline.report.html.csp) runs exactly the script the page carries:
    # the last <script> element's text, by its sha256; nothing is fetched
    import base64
    import hashlib

    script = html.rsplit("<script>", 1)[1].split("</script>", 1)[0]
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)[1]
    assert policy == ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
                      f"script-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'")
    assert html.index("Content-Security-Policy") < html.index("<style>")  # before it all
    assert data["samples_embedded"] == prompts.height == 320
    assert not data["capped"] and data["fields"] == list(ROW_FIELDS)
    assert data["models"] == ["claude-4-5-sonnet", "claude-4-5-haiku"]  # the config's order
    assert data["datasets"] == ["arithmetic", "multiple_choice", "tools"]
    assert data["scorers"] == [["numeric"], ["choice"], ["tool_call"]]
    # each row as results.parquet has it
    rows = {(data["samples"][r[F["sample"]]]["id"], data["models"][r[F["model"]]]): r
            for r in data["rows"]}
    for want in res.iter_rows(named=True):
        got = rows[(want["sample_id"], want["model"])]
        assert got[F["output"]] == want["output_text"]
        assert got[F["score"]] == want["score"] and got[F["cost_usd"]] == want["cost_usd"]
        assert got[F["tool_calls"]] == want["tool_calls"]
        assert got[F["scorers"]][0][1] == next(want[c] for c in want if c.startswith(
            "answer_") and want[c] is not None)
    by_id = {s["id"]: s for s in data["samples"]}
    first = prompts.row(0, named=True)
    assert by_id[first["sample_id"]]["prompt"] == [[m["role"], m["content"]] for m in
                                                   json.loads(first["messages"])]
    # score classes as accuracy counts them
    classes = res.select(score_class().alias("c"))["c"].value_counts()
    shown = pl.Series([r[F["class"]] for r in data["rows"]]).value_counts()
    assert sorted(classes.rows()) == sorted(shown.rows())
    summary = pl.read_parquet(out.folder / "summary.parquet")
    right = sum(r[F["class"]] == CLASSES.index("right") for r in data["rows"])
    assert right == pytest.approx(float((summary["accuracy"] * summary["samples"]).sum()))


def test_disagreement_is_per_sample_over_the_models_primary_scores(tmp_path: Path):
    out = run(load_config(demo_config(tmp_path)), RunOptions(progress=False))
    data = embedded((out.folder / "report.html").read_text())
    res = pl.read_parquet(out.folder / "results.parquet")
    want = set(res.group_by("sample_id").agg(pl.col("score").n_unique().alias("n"))
               .filter(pl.col("n") > 1)["sample_id"].to_list())
    got = {s["id"] for s in data["samples"] if s["disagree"]}
    assert got == want and 0 < len(got) < 320


def test_markup_in_any_text_stays_inside_the_data(tmp_path: Path):
    out = injection_run(tmp_path)
    html = (out.folder / "report.html").read_text()
    # the page's own two scripts (the data, the explorer) and nothing else
    assert html.count("<script") == 2 and html.lower().count("</script") == 2
    assert "<img" not in html and "<svg onload" not in html and 'href="javascript' not in html
    data = embedded(html)
    texts = json.dumps(data, ensure_ascii=False)
    for p in PAYLOADS:  # every payload is in the data, intact
        assert json.dumps(p, ensure_ascii=False)[1:-1] in texts
    assert any(s["id"].startswith("</script>") for s in data["samples"])


def _synthetic(folder: Path, sizes: dict[str, tuple[int, int]], long: int = 0) -> None:
    """results.parquet and prompts.parquet with `sizes[dataset] = (samples, models)` rows."""
    rows, prompts = [], []
    position = 0
    for dataset, (n, models) in sizes.items():
        for s in range(n):
            sid = f"{dataset}-{s}"
            prompts.append({"dataset": dataset, "sample_id": sid,
                            "messages": json.dumps([{"role": "user", "content": "q" * long
                                                     or f"q {sid}"}])})
            for m in range(models):
                rows.append({"dataset": dataset, "sample_id": sid, "position": position,
                             "model": f"m{m}", "epoch": 1, "status": "ok", "final": True,
                             "scored": True, "score": float((s + m) % 2),
                             "score_exact": float((s + m) % 2), "answer_exact": "a",
                             "explanation_exact": None, "output_text": "x" * long or "ok",
                             "reasoning": None, "tool_calls": None, "error_type": None,
                             "error_message": None, "finish_reason": "stop",
                             "prompt_tokens": 1, "completion_tokens": 1,
                             "usage_estimated": False, "cost_usd": None, "latency_s": 0.1,
                             "target": "t", "group": None})
                position += 1
    folder.mkdir(parents=True, exist_ok=True)
    text = ("explanation_exact", "reasoning", "tool_calls", "error_type", "error_message",
            "group")
    pl.DataFrame(rows, schema_overrides=dict.fromkeys(text, pl.String),
                 infer_schema_length=None).write_parquet(folder / "results.parquet")
    pl.DataFrame(prompts).write_parquet(folder / "prompts.parquet")


def test_a_large_run_embeds_a_capped_sample_of_whole_samples_from_every_dataset(tmp_path):
    _synthetic(tmp_path, {"big": (3000, 3), "mid": (400, 3), "small": (10, 3)})
    data = explorer_data(tmp_path, {"big": ["exact"], "mid": ["exact"], "small": ["exact"]},
                         {}, cap=1200)
    assert data["capped"] and data["rows_total"] == 10_230
    assert data["rows_embedded"] <= 1200
    per = pl.DataFrame({"d": [data["samples"][r[F["sample"]]]["d"] for r in data["rows"]],
                        "s": [r[F["sample"]] for r in data["rows"]]})
    # every sample embedded with all three models' answers
    assert (per.group_by("s").len()["len"] == 3).all()
    counts = dict(per.group_by("d").len().iter_rows())
    by_name = {data["datasets"][d]: n for d, n in counts.items()}
    # the small dataset whole; the rest share what it leaves equally (whole samples)
    assert by_name["small"] == 30
    assert by_name["mid"] == by_name["big"] == 585
    assert all(s["prompt"] is not None for s in data["samples"])


def test_long_texts_are_cut_and_say_how_long_they_were(tmp_path: Path):
    _synthetic(tmp_path, {"d": (2, 1)}, long=10_000)
    data = explorer_data(tmp_path, {"d": ["exact"]}, {}, text_chars=500)
    assert data["rows"][0][F["output"]] == ["x" * 500, 10_000]
    # a prompt message may be twice as long (at most 8,000 characters)
    assert data["samples"][0]["prompt"][0][1] == ["q" * 1000, 10_000]
    assert data["rows"][0][F["scorers"]] == [[0.0, "a", None]]
    assert data["text_chars"] == 500 and data["prompt_chars"] == 1000


def test_texts_are_cut_shorter_when_the_page_would_hold_too_much(tmp_path, monkeypatch):
    from pipeline.report import explorer

    _synthetic(tmp_path, {"d": (40, 2)}, long=10_000)  # 80 answers of 10,000 characters
    monkeypatch.setattr(explorer, "TEXT_BUDGET", 80 * 1_002)  # + targets and answers ("t", "a")
    data = explorer_data(tmp_path, {"d": ["exact"]}, {})
    assert data["text_chars"] == 1_000 and data["prompt_chars"] == 2_000
    assert {len(r[F["output"]][0]) for r in data["rows"]} == {1_000}
    monkeypatch.setattr(explorer, "TEXT_BUDGET", 10)  # never below MIN_TEXT_CHARS
    assert explorer_data(tmp_path, {"d": ["exact"]}, {})["text_chars"] == 500


def test_an_outputs_only_dataset_is_not_scored_not_wrong(tmp_path: Path):
    cfg = demo_config(tmp_path, datasets=[arith(4, scorers=[])],
                      models=[{"id": "claude-4-5-haiku"}])
    out = run(load_config(cfg), RunOptions(progress=False))
    data = embedded((out.folder / "report.html").read_text())
    assert {r[F["class"]] for r in data["rows"]} == {CLASSES.index("unscored")}
    assert data["scorers"] == [[]]


def test_the_script_writes_no_markup_and_no_url():
    """The explorer's script shows data with textContent and form values only (the browser
    test checks the behaviour; this keeps the easy mistakes out of the source)."""
    from importlib import resources

    js = resources.files("pipeline.report").joinpath("explorer.js").read_text("utf-8")
    code = "\n".join(line.split("//")[0] for line in js.splitlines())  # comments aside
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                 "Function(", ".href", ".src", "setTimeout(\"", "srcdoc", "fetch(",
                 "XMLHttpRequest"):
        assert sink not in code, sink
    css = resources.files("pipeline.report").joinpath("explorer.css").read_text("utf-8")
    assert "</" not in js and "</" not in css  # nothing can close its element
