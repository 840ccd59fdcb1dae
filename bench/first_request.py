"""Benchmark: time from spawning `python -m pipeline run` to its first request reaching the
server (issue 7: "the first request leaves within 0.5 s of process start"), many times over,
optionally against a second checkout of the code, run for run in turn (A B A B ...).

The config and datasets are bench_scale.py's (N/2 arithmetic samples x 2 models, concurrency
64, an OpenAI-compatible endpoint); the endpoint here is a socket of this process that
accepts the first connection, reads the request's head, notes the time and kills the run, so
a run costs its start-up only. The child is pinned to core 0 with taskset when it exists (as
bench_scale.py pins it), PYTHONDONTWRITEBYTECODE is unset for it and the package is compiled
first (an installed package has its bytecode).

    .venv/bin/python bench/first_request.py --sizes 2000 20000 --runs 15
    .venv/bin/python bench/first_request.py --sizes 20000 --runs 15 --vs /path/to/other/checkout

Prints per size the median, min and max in seconds of the wall time and of the child's CPU
time to then (and with --vs the other checkout's, and the median of the pair-by-pair ratios).
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import bench_scale  # noqa: E402


def first_request(tree: Path, config: Path, out_dir: Path, pin: bool) -> tuple[float, float]:
    """One run of `tree`'s pipeline on `config` (its base_url rewritten to a socket here):
    (seconds from just before the spawn to the first request's head being read, the child's
    CPU seconds by then: user + sys, to the kill just after; steadier on a shared machine)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(256)
        port = server.getsockname()[1]
        text = config.read_text().replace("http://127.0.0.1:1", f"http://127.0.0.1:{port}")
        cfg = out_dir / "config.toml"
        cfg.write_text(text)
        env = {**os.environ, bench_scale.KEY_ENV: "bench-key-not-secret",
               "PYTHONPATH": str(tree)}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        cmd = [sys.executable, "-m", "pipeline", "run", str(cfg), "-q"]
        if pin:
            cmd = ["taskset", "-c", "0", *cmd]
        t0 = time.time()
        proc = subprocess.Popen(cmd, cwd=tree, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        server.settimeout(60)
        try:
            conn, _ = server.accept()
        except TimeoutError:
            proc.kill()
            raise SystemExit(f"no request within 60 s: {proc.communicate()[1][-2000:]!r}") from None
        head = b""
        with conn:
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                head += chunk
            elapsed = time.time() - t0
        proc.kill()
        err = proc.stderr.read() if proc.stderr else b""
        _, status, ru = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if not head.startswith(b"POST "):
            raise SystemExit(f"not a request: {head[:200]!r}; stderr: {err[-2000:]!r}")
        shutil.rmtree(out_dir / "runs", ignore_errors=True)
        return elapsed, ru.ru_utime + ru.ru_stime


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[2_000, 20_000])
    ap.add_argument("--runs", type=int, default=15, help="counted runs per size (and tree)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--vs", metavar="TREE", help="another checkout to run in turn with this one")
    ap.add_argument("--no-pin", action="store_true")
    args = ap.parse_args(argv)
    trees = [ROOT] + ([Path(args.vs).resolve()] if args.vs else [])
    for tree in trees:
        compileall.compile_dir(str(tree / "pipeline"), quiet=1)
    pin = not args.no_pin and shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2
    with tempfile.TemporaryDirectory(prefix="first-request-") as tmp:
        out = Path(tmp)
        bench = SimpleNamespace(out=out, args=SimpleNamespace(concurrency=64))
        (out / "data").mkdir()
        (out / "configs").mkdir()
        for items in args.sizes:
            dataset = bench_scale.Bench.dataset(bench, items)  # type: ignore[arg-type]
            config = bench_scale.Bench.config(bench, f"first-{items}", dataset,  # type: ignore[arg-type]
                                              "http://127.0.0.1:1")
            times: list[list[tuple[float, float]]] = [[] for _ in trees]
            for i in range(args.warmup + args.runs):
                for t, tree in enumerate(trees):
                    got = first_request(tree, config, out, pin)
                    if i >= args.warmup:
                        times[t].append(got)
            for tree, ts in zip(trees, times, strict=True):
                for what, xs in (("wall", [w for w, _ in ts]), ("CPU", [c for _, c in ts])):
                    print(f"{items:>9,} items  {tree}: {what} median {statistics.median(xs):.3f}"
                          f" s (min {min(xs):.3f}, max {max(xs):.3f}, {len(xs)} runs)")
            if len(trees) == 2:
                for what, k in (("wall", 0), ("CPU", 1)):
                    ratios = [a[k] / b[k] for a, b in zip(*times, strict=True)]
                    print(f"{items:>9,} items  {what} ratio this/other, pair by pair: median "
                          f"{statistics.median(ratios):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
