"""Benchmark: the whole pipeline against the zero-latency emulator in its own process.

Prints items/s and client CPU ms per item (user+sys of this process: planning, requests,
journal, progress, scoring, tables, reports) for each HTTP backend and concurrency, beside a
raw aiohttp loop sending the same requests in the same run.

    make bench                      # 20,000 items at concurrency 64 and 256
    .venv/bin/python bench/bench_pipeline.py --items 5000 --concurrency 64
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing
OUT = ROOT / "bench" / "out"
KEY_ENV = "PIPELINE_BENCH_KEY"
MODELS = ["claude-4-5-sonnet", "claude-4-5-haiku"]
SYSTEM = "Solve the arithmetic problem. End with a line 'Answer: <number>'."


def cpu_s() -> float:
    """User + system CPU seconds of this process so far."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def start_emulator() -> tuple[subprocess.Popen[str], str]:
    """`pipeline serve --speed 0` on a free port, in its own process."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "serve", "--port", "0", "--speed", "0"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    url = line.split("listening on ", 1)[1].split()[0]
    return proc, url


def admin(url: str, path: str, method: str = "GET") -> dict:
    data = b"{}" if method == "POST" else None
    req = urllib.request.Request(url + path, method=method, data=data)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read() or b"{}")


def write_dataset(n_samples: int) -> Path:
    """Distinct arithmetic prompts, so every request is a different work item."""
    rng = random.Random(7)
    path = OUT / f"bench-{n_samples}.jsonl"
    with path.open("w") as f:
        for i in range(n_samples):
            a, b, c = rng.randint(2, 999), rng.randint(2, 999), rng.randint(2, 20)
            f.write(json.dumps({"id": i, "question": f"What is {a} * {c} + {b}?",
                                "answer": str(a * c + b)}) + "\n")
    return path


def write_config(dataset: Path, base_url: str, backend: str, concurrency: int) -> Path:
    models = "\n".join(f'[[models]]\nid = "{m}"\n' for m in MODELS)
    text = f"""
name = "bench"
output_dir = "{OUT}"
[provider]
kind = "openai"
base_url = "{base_url}"
key_env = "{KEY_ENV}"
http_backend = "{backend}"
{models}
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
max_attempts = 3
attempt_timeout_s = 60
"""
    path = OUT / f"bench-{backend}-{concurrency}.toml"
    path.write_text(text)
    tomllib.loads(text)
    return path


def bench_pipeline(config: Path, run_id: str) -> dict:
    from pipeline.config import load_config
    from pipeline.runner import RunOptions, run

    shutil.rmtree(OUT / run_id, ignore_errors=True)
    c0, t0 = cpu_s(), time.perf_counter()
    outcome = run(load_config(config), RunOptions(run_id=run_id, progress=True))
    wall, cpu = time.perf_counter() - t0, cpu_s() - c0
    assert outcome.errors == 0, f"{outcome.errors} errors"
    return {"items": outcome.sent, "wall_s": wall, "cpu_s": cpu}


async def _raw_loop(url: str, bodies: list[bytes], concurrency: int) -> None:
    import aiohttp

    headers = {"authorization": "Bearer bench", "content-type": "application/json"}
    it = iter(bodies)
    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=conn) as session:

        async def worker() -> None:
            for body in it:
                async with session.post(url, data=body, headers=headers) as r:
                    data = await r.json()
                    assert r.status == 200 and data["choices"], data

        await asyncio.gather(*(worker() for _ in range(concurrency)))


def bench_raw(base_url: str, dataset: Path, concurrency: int) -> dict:
    bodies = []
    for line in dataset.read_text().splitlines():
        q = json.loads(line)["question"]
        for m in MODELS:
            bodies.append(json.dumps({"model": m, "max_tokens": 256, "temperature": 0.0,
                                      "messages": [{"role": "system", "content": SYSTEM},
                                                   {"role": "user", "content": q}]}).encode())
    c0, t0 = cpu_s(), time.perf_counter()
    asyncio.run(_raw_loop(base_url + "/v1/chat/completions", bodies, concurrency))
    return {"items": len(bodies), "wall_s": time.perf_counter() - t0, "cpu_s": cpu_s() - c0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=20_000, help="work items per run")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[64, 256])
    ap.add_argument("--backends", nargs="+", default=["httpx", "aiohttp"])
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    os.environ[KEY_ENV] = "bench-key"
    dataset = write_dataset(args.items // len(MODELS))
    proc, url = start_emulator()
    rows = []
    try:
        for conc in args.concurrency:
            admin(url, "/_emulator/reset", "POST")
            rows.append({"what": "raw aiohttp loop", "concurrency": conc,
                         **bench_raw(url, dataset, conc)})
            for backend in args.backends:
                admin(url, "/_emulator/reset", "POST")
                cfg = write_config(dataset, url, backend, conc)
                res = bench_pipeline(cfg, f"bench-{backend}-{conc}")
                sent = admin(url, "/_emulator/stats")["requests_total"]
                assert sent == res["items"], (sent, res)
                rows.append({"what": f"pipeline ({backend})", "concurrency": conc, **res})
    finally:
        proc.terminate()
        proc.wait(10)
    print(f"\n{'what':<22} {'conc':>5} {'items':>7} {'wall s':>8} {'items/s':>9} "
          f"{'CPU ms/item':>12}")
    for r in rows:
        r["items_per_s"] = r["items"] / r["wall_s"]
        r["cpu_ms_per_item"] = 1000 * r["cpu_s"] / r["items"]
        print(f"{r['what']:<22} {r['concurrency']:>5} {r['items']:>7} {r['wall_s']:>8.2f} "
              f"{r['items_per_s']:>9.0f} {r['cpu_ms_per_item']:>12.3f}")
    (OUT / "results.json").write_text(json.dumps(rows, indent=2))
    print(f"\nsaved {OUT / 'results.json'}; machine: {os.cpu_count()} cores, "
          f"Python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
