"""report.html in a real headless browser: Debian's Chromium driven by Playwright for Python
(never Playwright's own browser download). The demo report renders with no console error;
each explorer filter shows the rows results.parquet says it should; a sample opens with every
model's answer side by side; markup and script in prompts, targets and answers run nothing.
Screenshots are written under the test's tmp folder and their paths printed (`pytest -s`).

Locally these skip when /usr/bin/chromium or playwright is missing; in CI (CI set) they fail
instead: `.ci/run` installs Chromium and the dev extra installs playwright."""

from __future__ import annotations

import json
import os
from pathlib import Path

import polars as pl
import pytest

from pipeline.config import load_config
from pipeline.runner import RunOptions, run
from tests.helpers import demo_config
from tests.injection import CUT, PAYLOADS, REFUSED, injection_run

CHROMIUM = Path("/usr/bin/chromium")
# No network, no background traffic, no sandbox (root in a container), a fresh profile.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]


def _browser_or_skip() -> None:
    try:
        import playwright.sync_api  # noqa: F401
        missing = None if CHROMIUM.exists() else f"{CHROMIUM} is missing"
    except ImportError:
        missing = "playwright is not installed (pip install -e '.[dev]')"
    if missing is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"browser tests must run in CI: {missing} (.ci/run installs chromium)")
    pytest.skip(f"{missing} (apt-get install -y chromium)")


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict[str, Path]:
    """The demo's and the injection dataset's run folders (made before the browser starts:
    a run has its own event loop)."""
    _browser_or_skip()
    demo = run(load_config(demo_config(tmp_path_factory.mktemp("demo"))),
               RunOptions(progress=False))
    injected = injection_run(tmp_path_factory.mktemp("injection"))
    return {"demo": demo.folder, "injection": injected.folder}


@pytest.fixture(scope="module")
def browser(reports, tmp_path_factory):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=str(CHROMIUM),
            headless=True, args=FLAGS, viewport={"width": 1200, "height": 900})
        # nothing but the file itself may load: any request elsewhere fails the test
        asked: list[str] = []
        ctx.route("**/*", lambda route: (asked.append(route.request.url), route.abort())
                  if not route.request.url.startswith("file://") else route.continue_())
        ctx.asked = asked  # type: ignore[attr-defined]
        yield ctx
        ctx.close()
        assert not asked, f"the report asked for {asked}"


class Opened:
    """A page on a report, with every console message, page error and dialog it produced."""

    def __init__(self, browser, folder: Path) -> None:
        self.page = page = browser.new_page()
        self.console: list[tuple[str, str]] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        page.on("console", lambda m: self.console.append((m.type, m.text)))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        page.goto((folder / "report.html").as_uri())
        page.wait_for_selector("#explorer[data-ready]")

    def count(self) -> int:
        return int(self.page.get_attribute("#explorer-count", "data-count"))

    def cells(self) -> list[list[str]]:
        return self.page.eval_on_selector_all(
            "#explorer-rows tr", "rs => rs.map(r => [...r.cells].map(c => c.textContent))")

    def choose(self, select: str, label: str) -> None:
        """Pick the option shown as `label` (or `label (N)`)."""
        value = self.page.eval_on_selector(
            f"#explorer-{select}", "(s, l) => [...s.options].find(o => o.text === l || "
            "o.text.startsWith(l + ' (')).value", label)
        self.page.select_option(f"#explorer-{select}", value)

    def shot(self, path: Path, selector: str | None = None) -> None:
        target = self.page.locator(selector) if selector else self.page
        target.screenshot(path=str(path), **({} if selector else {"full_page": True}))
        print(f"screenshot: {path}")


COLUMNS = ["dataset", "sample", "model", "epoch", "score", "finish", "error", "answer"]
C = {name: i for i, name in enumerate(COLUMNS)}
ACCURACY_ROWS = pl.col("scored") & pl.col("final")


def _results(folder: Path) -> pl.DataFrame:
    return pl.read_parquet(folder / "results.parquet")


def _searched(folder: Path, needle: str) -> pl.DataFrame:
    """The result rows a search finds: the text (any case) in the sample's id, prompt or
    target, or in the row's answer, reasoning, tool calls, error or scorer columns."""
    res = _results(folder).join(pl.read_parquet(folder / "prompts.parquet"),
                                on=["dataset", "sample_id"], how="left")
    texts = ["sample_id", "messages", "target", "output_text", "reasoning", "tool_calls",
             "error_message", *[c for c in res.columns
                                if c.startswith(("answer_", "explanation_"))]]
    hay = pl.concat_str(texts, separator="\n", ignore_nulls=True).str.to_lowercase()
    return res.filter(hay.str.contains(needle.lower(), literal=True))


def test_the_demo_report_renders_with_no_console_error(browser, reports, tmp_path):
    opened = Opened(browser, reports["demo"])
    assert opened.errors == [] and opened.dialogs == []
    assert [m for m in opened.console if m[0] in ("error", "warning")] == []
    assert opened.count() == _results(reports["demo"]).height == 640
    assert len(opened.cells()) == 100  # a page of rows, not 640
    assert "Every answer of the run: 640 answers to 320 samples" in opened.page.text_content(
        "#explorer-note")
    opened.shot(tmp_path / "demo-report.png")
    opened.page.close()


def test_each_filter_shows_the_rows_results_parquet_says(browser, reports):
    res = _results(reports["demo"])
    opened = Opened(browser, reports["demo"])
    score = pl.col("score").fill_null(0.0)
    cases = [  # (control, option, rows it keeps, what each shown row says)
        ("dataset", "tools", pl.col("dataset") == "tools", ("dataset", "tools")),
        ("model", "claude-4-5-haiku", pl.col("model") == "claude-4-5-haiku",
         ("model", "claude-4-5-haiku")),
        ("score", "right", ACCURACY_ROWS & (score >= 1), ("score", "right")),
        ("score", "wrong", ACCURACY_ROWS & (score == 0), ("score", "wrong")),
        ("finish", "tool_calls", pl.col("finish_reason") == "tool_calls",
         ("finish", "tool_calls")),
    ]
    for control, option, keep, (column, text) in cases:
        opened.choose(control, option)
        want = res.filter(keep).height
        assert 0 < want < res.height, (control, option)  # the filter must change something
        assert opened.count() == want, (control, option)
        shown = opened.cells()
        assert len(shown) == min(100, want)
        assert all(row[C[column]] == text for row in shown), (control, option)
        opened.choose(control, "any" if control not in ("dataset", "model") else "all")
        assert opened.count() == res.height
    # filters combine
    opened.choose("dataset", "arithmetic")
    opened.choose("score", "wrong")
    assert opened.count() == res.filter((pl.col("dataset") == "arithmetic") & ACCURACY_ROWS
                                        & (score == 0)).height
    opened.choose("dataset", "all")
    opened.choose("score", "any")
    # the models disagree: samples whose models' scores differ, every answer to them shown
    split = (res.group_by("sample_id").agg(pl.col("score").n_unique().alias("n"))
             .filter(pl.col("n") > 1)["sample_id"])
    opened.page.check("#explorer-disagree")
    assert opened.count() == res.filter(pl.col("sample_id").is_in(split.implode())).height
    assert opened.page.get_attribute("#explorer-count", "data-samples") == str(split.len())
    opened.page.uncheck("#explorer-disagree")
    # search: the prompt or the answer holds the text, any case
    opened.page.fill("#explorer-search", "OSLO")
    found = _searched(reports["demo"], "oslo")
    assert 0 < found.height == opened.count()
    assert {r[C["sample"]] for r in opened.cells()} == set(found["sample_id"])
    opened.page.fill("#explorer-search", "")
    # pages of 100
    opened.page.click("#explorer-next")
    assert opened.page.text_content("#explorer-page") == "101–200 of 640"
    assert opened.cells()[0][C["sample"]] == res.sort("position")["sample_id"][100]
    assert opened.errors == [] and opened.dialogs == []
    opened.page.close()


def test_a_sample_opens_with_every_models_answer_side_by_side(browser, reports, tmp_path):
    res = _results(reports["demo"])
    opened = Opened(browser, reports["demo"])
    page = opened.page
    page.fill("#explorer-search", "arith-000")
    page.wait_for_function("document.querySelector('#explorer-count').dataset.count === '2'")
    assert page.text_content("#explorer-count") == "2 of 640 answers match (1 sample)"
    page.click("#explorer-rows tr >> nth=0 >> button")
    assert "the models agree" in page.text_content("#explorer-sample") or \
        "the models disagree" in page.text_content("#explorer-sample")  # two models here
    cards = page.locator("#explorer-answers .ex-answer")
    assert cards.count() == 2
    models = [cards.nth(i).get_attribute("data-model") for i in range(2)]
    assert models == ["claude-4-5-sonnet", "claude-4-5-haiku"]
    boxes = [cards.nth(i).bounding_box() for i in range(2)]
    assert boxes[0]["y"] == boxes[1]["y"] and boxes[0]["x"] + boxes[0]["width"] <= boxes[1]["x"]
    want = {r["model"]: r for r in res.filter(pl.col("sample_id") == "arith-000").to_dicts()}
    for i, model in enumerate(models):
        card = cards.nth(i)
        assert card.locator(".ex-block pre").first.text_content() == want[model]["output_text"]
        assert card.locator(".ex-extracted").text_content() == want[model]["answer_numeric"]
        facts = card.locator(".ex-facts").text_content()
        assert f"{want[model]['prompt_tokens']} / {want[model]['completion_tokens']}" in facts
        assert ("right" if want[model]["score"] == 1 else "wrong") == card.locator(
            ".ex-badge").text_content()
    prompt = json.loads(pl.read_parquet(reports["demo"] / "prompts.parquet").filter(
        pl.col("sample_id") == "arith-000")["messages"][0])
    assert page.locator(".ex-msg pre").all_text_contents() == [m["content"] for m in prompt]
    opened.shot(tmp_path / "demo-sample.png", "#explorer-sample")
    page.click("#explorer-close")
    assert page.locator("#explorer-sample").is_hidden()
    assert opened.errors == [] and opened.dialogs == []
    page.close()


def test_markup_in_prompts_targets_and_answers_runs_nothing(browser, reports, tmp_path):
    folder = reports["injection"]
    res = _results(folder)
    opened = Opened(browser, folder)
    page = opened.page
    title = page.title()

    def nothing_ran() -> None:
        assert opened.dialogs == [] and opened.errors == []
        assert [m for m in opened.console if m[0] in ("error", "warning")] == []
        assert page.evaluate("window.__pwned") is None and page.title() == title
        # no element made from the injected markup: the report's own two scripts only
        assert page.evaluate("""() => ({
            scripts: document.scripts.length,
            made: document.querySelectorAll(
                'img, iframe, a, svg[onload], td b, li b, #explorer-section b').length})
            """) == {"scripts": 2, "made": 0}

    nothing_ran()
    # every sample opened: each prompt, target and answer shows as the text it is
    for i in range(page.locator(".ex-open").count()):
        page.locator(".ex-open").nth(i).click()
        nothing_ran()
    page.locator(".ex-open").first.click()
    assert page.locator(".ex-msg pre").first.text_content() == f"Repeat this: {PAYLOADS[0]}"
    blocks = page.locator("#explorer-sample .ex-block pre").all_text_contents()
    assert PAYLOADS[0] in blocks  # the target, and `plain`'s answer
    assert f"You said {PAYLOADS[0]}\n{PAYLOADS[0]}" in blocks
    # a search for markup finds it as text
    page.fill("#explorer-search", "</SCRIPT><script>")
    assert opened.count() == _searched(folder, "</script><script>").height == 3
    page.fill("#explorer-search", "")
    # the error and finish_reason filters, against results.parquet
    opened.choose("error", "bad_request")
    assert opened.count() == res.filter(pl.col("error_type") == "bad_request").height == 1
    assert opened.cells()[0][C["sample"]] == REFUSED
    opened.choose("error", "no error")
    assert opened.count() == res.filter(pl.col("error_type").is_null()).height == 13
    opened.choose("error", "any")
    opened.choose("finish", "length")
    assert opened.count() == res.filter(pl.col("finish_reason") == "length").height == 1
    assert opened.cells()[0][C["sample"]] == CUT
    opened.choose("finish", "none (no answer)")
    assert opened.count() == res.filter(pl.col("finish_reason").is_null()).height == 1
    opened.choose("finish", "any")
    # an unpriced model's cost is unknown, not $0
    page.locator(".ex-open").first.click()
    plain = page.locator('.ex-answer[data-model="plain"] .ex-facts').text_content()
    assert "– (unknown)" in plain and "$0" not in plain
    nothing_ran()
    opened.shot(tmp_path / "injection-report.png")
    page.close()


def test_a_capped_page_says_what_it_embeds_and_where_the_rest_is(browser, reports, tmp_path):
    from pipeline.report.explorer import explorer_data, explorer_html
    from pipeline.report.html import render_html

    data = explorer_data(reports["demo"], {"arithmetic": ["numeric"], "multiple_choice":
                                           ["choice"], "tools": ["tool_call"]}, {}, cap=100)
    page_dir = tmp_path / "capped"
    page_dir.mkdir()
    (page_dir / "report.html").write_text(render_html({"run_id": "capped"}, [],
                                                      explorer=explorer_html(data)))
    opened = Opened(browser, page_dir)
    note = opened.page.text_content("#explorer-note")
    assert f"This page embeds {data['rows_embedded']} of the run's 640 answers" in note
    assert "results.parquet" in note and "prompts.parquet" in note
    assert 90 <= opened.count() == data["rows_embedded"] <= 100
    opened.choose("dataset", "tools")  # every dataset is in it
    assert opened.count() > 0
    assert opened.errors == []
    opened.page.close()


def test_the_pages_policy_runs_the_explorer_and_nothing_else(browser, reports, tmp_path):
    """Defence in depth (pipeline.report.html.csp): were some text ever to escape its
    escaping, the page's Content-Security-Policy still runs no script but the explorer's
    (allowed by its hash), no inline handler, and fetches nothing from anywhere."""
    page_dir = tmp_path / "tampered"
    page_dir.mkdir()
    page = (reports["demo"] / "report.html").read_text()
    evil = ('<script>window.__ran = 1; alert("ran")</script>'
            '<img src="http://127.0.0.1:9/leak.png" onerror="window.__ran = 2; alert(2)">'
            '<img src="x.png" onerror="window.__ran = 3">')
    (page_dir / "report.html").write_text(page.replace("<h1>", evil + "<h1>", 1))
    asked = len(browser.asked)
    opened = Opened(browser, page_dir)  # waits until the explorer's script has drawn it
    assert opened.page.evaluate("window.__ran") is None and opened.dialogs == []
    assert browser.asked[asked:] == []  # not even a request the test's router would refuse
    blocked = [text for _, text in opened.console if "Content Security Policy" in text]
    assert len(blocked) >= 3, opened.console  # the script, both handlers and the images
    assert opened.count() == 640 and opened.errors == []
    opened.page.close()
