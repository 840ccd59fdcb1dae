"""Benchmark: the report's sample explorer at 20,000 rows, in Debian's headless Chromium.

A run of N distinct arithmetic samples x 2 models on the built-in emulator at speed 0 (the
real pipeline: journal, results.parquet, prompts.parquet, report.html), then report.html is
opened RUNS times, each in a fresh page, and timed from the page's own clock
(performance.now(), 0 = navigation start):

- first rows: navigation start to the first page of rows painted (the next frame after the
  explorer's script put them in the DOM: reading the file, parsing the JSON, the first filter);
- each action (a filter, the disagree box, the first search, which builds the lower-cased
  text it searches, a later search, opening a sample) from the event to the next frame.

Also: report.html's size, and the time finalize spends building the explorer's block
(explorer_parts and explorer_pieces, in this process). Prints medians (and min-max) and the command.

    .venv/bin/python bench/bench_explorer.py                   # 10,000 samples x 2 models
    .venv/bin/python bench/bench_explorer.py --samples 60000   # 120,000 rows: 20,000 embedded
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
MODELS = ["claude-4-5-sonnet", "claude-4-5-haiku"]

# Records when the explorer's first rows are painted: the frame after they enter the DOM.
FIRST_ROWS = """
window.__firstRows = null;
new MutationObserver(function (_, obs) {
  var body = document.getElementById("explorer-rows");
  if (body && body.firstChild) {
    obs.disconnect();
    requestAnimationFrame(function () {
      setTimeout(function () { window.__firstRows = performance.now(); }, 0);
    });
  }
}).observe(document, {childList: true, subtree: true});
"""

# One action: set a control and fire its event, then wait for the next frame.
ACT = """
async ([selector, kind, value]) => {
  const frame = () => new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)));
  const el = document.querySelector(selector);
  const t0 = performance.now();
  if (kind === "check") { el.checked = value; el.dispatchEvent(new Event("change")); }
  else if (kind === "click") { el.click(); }
  else { el.value = value; el.dispatchEvent(new Event(kind)); }
  await frame();
  return [performance.now() - t0, document.getElementById("explorer-count").dataset.count];
}
"""


def write_dataset(folder: Path, n: int) -> Path:
    """n distinct arithmetic prompts, so every request is a different work item."""
    rng = random.Random(7)
    path = folder / f"arith-{n}.jsonl"
    with path.open("w") as f:
        for i in range(n):
            a, b, c = rng.randint(2, 999), rng.randint(2, 999), rng.randint(2, 20)
            f.write(json.dumps({"id": f"s{i:06d}", "question": f"What is {a} * {c} + {b}?",
                                "answer": str(a * c + b)}) + "\n")
    return path


def make_run(folder: Path, n: int) -> Path:
    """Run n samples x 2 models on the emulator at speed 0; returns the run folder."""
    from pipeline.config import load_config
    from pipeline.runner import RunOptions, run
    from tests.helpers import dump_toml

    data = tomllib.loads((ROOT / "configs" / "demo.toml").read_text())
    data["output_dir"] = str(folder / "reports")
    data["provider"]["emulator"]["speed"] = 0.0
    data["run"]["concurrency"] = 128
    data["models"] = [{"id": m} for m in MODELS]
    data["datasets"] = [{**data["datasets"][0], "path": str(write_dataset(folder, n))}]
    cfg = folder / "bench.toml"
    cfg.write_text(dump_toml(data))
    return run(load_config(cfg), RunOptions(progress=False)).folder


def build_time(folder: Path, repeat: int) -> float:
    """Median seconds of finalize's explorer step (results.parquet -> the HTML block)."""
    from pipeline.report.explorer import explorer_parts, explorer_pieces

    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        parts = explorer_parts(folder, {"arithmetic": ["numeric"]}, {"model": MODELS})
        for _piece in explorer_pieces(parts):
            pass
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def measure(html: Path, runs: int) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    got: dict[str, list[float]] = {}
    with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        ctx = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=FLAGS,
            viewport={"width": 1200, "height": 900})
        ctx.add_init_script(FIRST_ROWS)
        for _ in range(runs):
            page = ctx.new_page()
            page.goto(html.as_uri())
            page.wait_for_function("window.__firstRows !== null", timeout=120_000)
            got.setdefault("first rows", []).append(page.evaluate("window.__firstRows"))
            wrong = page.eval_on_selector(
                "#explorer-score", "s => [...s.options].find(o => o.text.startsWith('wrong'))"
                ".value")
            actions = [
                ("filter: one model", ("#explorer-model", "change", "1")),
                ("filter: score wrong", ("#explorer-score", "change", wrong)),
                ("filter: the models disagree", ("#explorer-disagree", "check", True)),
                ("clear the filters", ("#explorer-disagree", "check", False)),
                ("first search", ("#explorer-search", "input", "* 13 +")),
                ("a later search", ("#explorer-search", "input", "answer: 1")),
                ("open a sample", (".ex-open", "click", None)),
            ]
            for name, action in actions:
                if name == "clear the filters":  # the two selects first, then timed: the box
                    page.evaluate(ACT, ["#explorer-model", "change", "-1"])
                    page.evaluate(ACT, ["#explorer-score", "change", "-1"])
                got.setdefault(name, []).append(page.evaluate(ACT, list(action))[0])
            page.close()
        ctx.close()
    return got


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=10_000, help="samples (x 2 models)")
    ap.add_argument("--runs", type=int, default=5, help="page loads to take the median of")
    ap.add_argument("--keep", type=Path, help="make the run here and keep it")
    args = ap.parse_args()
    if not Path(CHROMIUM).exists():
        sys.exit(f"{CHROMIUM} is missing: apt-get install -y chromium")
    with tempfile.TemporaryDirectory() as tmp:
        where = args.keep or Path(tmp)
        where.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        folder = make_run(where, args.samples)
        run_s = time.perf_counter() - t
        html = folder / "report.html"
        data = json.loads(html.read_text().split('id="explorer-data">', 1)[1]
                          .split("</script>", 1)[0])
        build_s = build_time(folder, 3)
        got = measure(html, args.runs)
        size = html.stat().st_size
    print(f"\n{data['rows_total']:,} result rows ({args.samples:,} samples x {len(MODELS)} "
          f"models, emulator at speed 0; run {run_s:.1f} s); embedded "
          f"{data['rows_embedded']:,} rows of {data['samples_embedded']:,} samples; "
          f"report.html {size / 1e6:.1f} MB; explorer build in finalize "
          f"{build_s * 1000:,.0f} ms (median of 3)")
    print(f"Chromium {CHROMIUM}, {args.runs} page loads, {os.cpu_count()} cores\n")
    print(f"| {'what':<28} | {'median':>8} | {'min-max':>15} |")
    print(f"| {'-' * 28} | {'-' * 8}:| {'-' * 15}:|")
    for name, ms in got.items():
        print(f"| {name:<28} | {statistics.median(ms):>5.0f} ms | "
              f"{min(ms):>5.0f}-{max(ms):>5.0f} ms |")
    print(f"\ncommand: python bench/bench_explorer.py --samples {args.samples} "
          f"--runs {args.runs}")


if __name__ == "__main__":
    main()
