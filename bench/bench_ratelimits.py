"""Benchmark: rate limits that cooperate, against the emulator in its own process.

A. The emulator answers 20 % of requests with 429 and `Retry-After: 1`: every item must
   finish (none out of attempts) and the requests sent must stay within 5 % of
   items / 0.8 (a retry only for each 429, no hammering).
B. The emulator enforces a requests-per-minute limit that the config declares too: no 429
   at all.

    make bench                                   # runs this after bench_pipeline.py
    .venv/bin/python bench/bench_ratelimits.py --items 2000
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_pipeline import KEY_ENV, OUT, SYSTEM, admin, write_dataset  # noqa: E402

MODEL = "claude-4-5-haiku"


def start(*flags: str) -> tuple[object, str]:
    import subprocess

    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "serve", "--port", "0", "--speed", "0", *flags],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().split("listening on ", 1)[1].split()[0]
    return proc, url


def config(dataset: Path, url: str, name: str, concurrency: int, extra_model: str = "",
           extra_run: str = "") -> Path:
    text = f"""
name = "{name}"
output_dir = "{OUT}"
[provider]
kind = "openai"
base_url = "{url}"
key_env = "{KEY_ENV}"
[[models]]
id = "{MODEL}"
{extra_model}
[generation]
max_tokens = 256
temperature = 0.0
[[datasets]]
name = "arith"
path = "{dataset}"
system = "{SYSTEM}"
template = "{{question}}"
columns = {{ target = "answer" }}
scorers = ["numeric"]
[run]
concurrency = {concurrency}
attempt_timeout_s = 60
{extra_run}
"""
    path = OUT / f"{name}.toml"
    path.write_text(text)
    return path


def run_config(path: Path, run_id: str) -> dict:
    from pipeline.config import load_config
    from pipeline.journal import read_journal
    from pipeline.runner import RunOptions, run

    shutil.rmtree(OUT / run_id, ignore_errors=True)
    t0 = time.perf_counter()
    out = run(load_config(path), RunOptions(run_id=run_id, progress=False))
    wall = time.perf_counter() - t0
    rows = list(read_journal(out.folder))
    manifest = json.loads((out.folder / "manifest.json").read_text())
    gate = manifest["rate_limits"][MODEL]
    return {
        "items": len(rows), "ok": sum(r["status"] == "ok" for r in rows),
        "out_of_attempts": sum(r["status"] != "ok" for r in rows),
        "attempts": sum(r["attempts"] for r in rows), "wall_s": round(wall, 2),
        "status": out.status, "min_concurrency": gate["concurrency"]["min"],
        "paused_s": gate["paused_s"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--rpm", type=int, default=6000)
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    os.environ[KEY_ENV] = "bench-key"
    dataset = write_dataset(args.items)
    rows = []

    proc, url = start("--rate-429", "0.2")  # Retry-After: 1 (the emulator's default)
    try:
        res = run_config(config(dataset, url, "bench-429", args.concurrency), "bench-429")
        stats = admin(url, "/_emulator/stats")
        expected = args.items / 0.8
        res.update(server_requests=stats["requests_total"],
                   server_429=stats["by_status"].get("429", 0),
                   vs_items_over_0_8=round(stats["requests_total"] / expected, 3))
        assert stats["requests_total"] == res["attempts"], (stats, res)
        rows.append({"what": "20% 429, Retry-After 1", **res})
    finally:
        proc.terminate()
        proc.wait(10)

    proc, url = start("--enforce-rate-limits", "--rpm", str(args.rpm), "--tpm", "100000000")
    try:
        cfg = config(dataset, url, "bench-rpm", args.concurrency,
                     extra_model=f"rpm = {args.rpm}", extra_run="rate_limits = true")
        res = run_config(cfg, "bench-rpm")
        stats = admin(url, "/_emulator/stats")
        res.update(server_requests=stats["requests_total"],
                   server_429=stats["by_status"].get("429", 0))
        rows.append({"what": f"server and config at {args.rpm} RPM", **res})
    finally:
        proc.terminate()
        proc.wait(10)

    print(f"\n{'scenario':<32} {'items':>6} {'ok':>6} {'out of att.':>11} {'requests':>9} "
          f"{'429s':>5} {'req/(n/0.8)':>11} {'wall s':>7}")
    for r in rows:
        print(f"{r['what']:<32} {r['items']:>6} {r['ok']:>6} {r['out_of_attempts']:>11} "
              f"{r['server_requests']:>9} {r['server_429']:>5} "
              f"{r.get('vs_items_over_0_8', '–'):>11} {r['wall_s']:>7}")
    (OUT / "ratelimits.json").write_text(json.dumps(rows, indent=2))
    print(f"\nsaved {OUT / 'ratelimits.json'}")


if __name__ == "__main__":
    main()
