"""Benchmark: whole `pipeline` processes at scale (issue 7's targets), each measured alone.

For each size N it writes N/2 distinct arithmetic samples x 2 models (N work items), a config
pointing at `fast_server.py` (a canned-answer OpenAI-compatible server in its own process,
pinned to core 1), and runs `python -m pipeline run CONFIG --run-id scale-N -q` pinned to
core 0 through `measure.py` (the child's own peak RSS, user+sys CPU, wall and exit code; the
time just before it is spawned). Time to first request is the server's first-request time
minus that spawn time. Then `pipeline report RUN_FOLDER -q` (peak RSS, wall), and a raw
aiohttp loop (`raw_loop.py`, its own process, pinned to core 0) sending the same request
bodies. A resume: the largest size is started, stopped with SIGTERM once half its requests
reached the server, and resumed with the same --run-id (peak RSS, first request). Last, a
server answering in 100 ms: 2,000 items at concurrency 64, wall against the ideal
2000/64 x 0.1 s, beside the raw loop. Every run must exit 0 with every request answered, or
the bench stops with the log's tail.

    make bench                                          # every size of issue 7
    .venv/bin/python bench/bench_scale.py --sizes 2000 20000   # a minute or two
    .venv/bin/python bench/bench_scale.py --sizes 200000 --resume-size 0

Writes bench/out/scale.md (the tables, the command, the commit) and bench/out/scale.json.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import random
import shlex
import shutil
import signal
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
sys.path.insert(0, str(BENCH))

import fast_server  # noqa: E402

PY = sys.executable
KEY_ENV = "PIPELINE_BENCH_KEY"
MODELS = ["claude-4-5-sonnet", "claude-4-5-haiku"]
SYSTEM = "Solve the arithmetic problem. End with a line 'Answer: <number>'."
MAX_TOKENS = 256
EXIT_MEANING = {0: "ok", 1: "a gate failed", 2: "bad input", 3: "incomplete",
                70: "internal error", 130: "interrupted"}
# issue 7's targets
RSS_RUN_MB, RSS_REPORT_MB, FIRST_S, FIRST_RESUME_S, CPU_RATIO, WALL_RATIO = (
    150, 500, 0.5, 2.0, 2.0, 1.15)


class BenchError(Exception):
    """A run that did not complete: the bench stops with this one line (and a log tail)."""


class Bench:
    """The servers, the paths and the measured commands of one benchmark invocation."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.out = Path(args.out_dir).resolve()
        for sub in ("data", "configs", "runs", "logs", "measure"):
            (self.out / sub).mkdir(parents=True, exist_ok=True)
        self.pin = not args.no_pin and shutil.which("taskset") is not None and (
            os.cpu_count() or 1) >= 2
        self.env = {**os.environ, KEY_ENV: "bench-key-not-secret",
                    "PYTHONPATH": os.pathsep.join(
                        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
        self.servers: list[Any] = []

    # servers ---------------------------------------------------------------------------
    def server(self, delay_ms: float) -> str:
        try:
            proc, url = fast_server.start(delay_ms, cpu=1 if self.pin else None)
        except RuntimeError as exc:
            raise BenchError(str(exc)) from None
        self.servers.append(proc)
        return url

    def close(self) -> None:
        for proc in self.servers:
            proc.terminate()
            proc.wait(10)

    @staticmethod
    def stats(url: str) -> dict[str, Any]:
        with urllib.request.urlopen(url + "/stats", timeout=10) as r:
            return json.loads(r.read())

    @staticmethod
    def reset(url: str, delay_ms: float | None = None) -> dict[str, Any]:
        q = "" if delay_ms is None else f"?delay_ms={delay_ms}"
        req = urllib.request.Request(url + "/reset" + q, data=b"", method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    # inputs ----------------------------------------------------------------------------
    def dataset(self, items: int) -> Path:
        """items/2 distinct arithmetic prompts (one per sample; 2 models each)."""
        n = items // len(MODELS)
        path = self.out / "data" / f"scale-{n * len(MODELS)}.jsonl"
        rng = random.Random(7)
        with path.open("w", encoding="utf-8") as f:
            for i in range(n):
                a, b, c = rng.randint(2, 999), rng.randint(2, 999), rng.randint(2, 20)
                f.write(json.dumps({"id": i, "question": f"What is {a} * {c} + {b}? (#{i})",
                                    "answer": str(a * c + b)}) + "\n")
        return path

    def config(self, name: str, dataset: Path, base_url: str) -> Path:
        models = "\n".join(f'[[models]]\nid = "{m}"\n' for m in MODELS)
        text = f"""# written by bench/bench_scale.py
name = "scale"
output_dir = {json.dumps(str(self.out / "runs"))}

[provider]
kind = "openai"
base_url = "{base_url}"
key_env = "{KEY_ENV}"

{models}
[generation]
max_tokens = {MAX_TOKENS}

[[datasets]]
name = "arith"
path = {json.dumps(str(dataset))}
system = {json.dumps(SYSTEM)}
template = "{{question}}"
columns = {{ target = "answer" }}
scorers = ["numeric"]

[run]
concurrency = {self.args.concurrency}
"""
        tomllib.loads(text)
        path = self.out / "configs" / f"{name}.toml"
        path.write_text(text)
        return path

    # measured commands -----------------------------------------------------------------
    def spawn(self, label: str, cmd: list[str]) -> tuple[subprocess.Popen, Path, Path]:
        """`cmd` through measure.py, pinned to core 0; its output goes to logs/<label>.log."""
        result = self.out / "measure" / f"{label}.json"
        result.unlink(missing_ok=True)
        log = self.out / "logs" / f"{label}.log"
        full = [PY, str(BENCH / "measure.py"), "--out", str(result), "--", *cmd]
        if self.pin:
            full = ["taskset", "-c", "0", *full]
        with log.open("w") as f:
            f.write("$ " + shlex.join(cmd) + "\n")
            f.flush()
            proc = subprocess.Popen(full, cwd=ROOT, env=self.env, stdout=f,
                                    stderr=subprocess.STDOUT)
        return proc, result, log

    def finish(self, label: str, proc: subprocess.Popen, result: Path, log: Path,
               ok: tuple[int, ...] = (0,)) -> dict[str, Any]:
        proc.wait()
        if proc.returncode or not result.exists():
            raise BenchError(f"{label}: measure.py failed (exit {proc.returncode}); see {log}")
        m = json.loads(result.read_text())
        if m["rc"] not in ok:
            tail = "".join(log.read_text(errors="replace").splitlines(True)[-15:])
            raise BenchError(f"{label}: exit {m['rc']} ({EXIT_MEANING.get(m['rc'], '?')}), "
                             f"expected {ok}; log {log}:\n{tail}")
        return m

    def measured(self, label: str, cmd: list[str], ok: tuple[int, ...] = (0,)) -> dict:
        return self.finish(label, *self.spawn(label, cmd), ok=ok)

    def pipeline_run(self, config: Path, run_id: str) -> list[str]:
        return [PY, "-m", "pipeline", "run", str(config), "--run-id", run_id, "-q"]

    def raw_cmd(self, dataset: Path, url: str) -> list[str]:
        return [PY, str(BENCH / "raw_loop.py"), "--url", url + "/v1/chat/completions",
                "--dataset", str(dataset), "--models", *MODELS, "--system", SYSTEM,
                "--max-tokens", str(MAX_TOKENS), "--concurrency", str(self.args.concurrency),
                "--key-env", KEY_ENV]

    def folder(self, run_id: str) -> Path:
        return self.out / "runs" / run_id

    def check_complete(self, label: str, run_id: str) -> str:
        """The run folder exists and its manifest (when it says) is complete."""
        folder = self.folder(run_id)
        if not folder.is_dir():
            raise BenchError(f"{label}: no run folder at {folder}")
        manifest = folder / "manifest.json"
        status = json.loads(manifest.read_text()).get("status") if manifest.exists() else None
        if status is not None and status != "complete":
            raise BenchError(f"{label}: run folder status {status!r}, expected 'complete'")
        return status or "?"

    # scenarios -------------------------------------------------------------------------
    def one_run(self, label: str, config: Path, run_id: str, url: str, items: int,
                fresh: bool = True) -> dict[str, Any]:
        """A measured `pipeline run` that must send exactly `items` requests and exit 0."""
        if fresh:
            shutil.rmtree(self.folder(run_id), ignore_errors=True)
        s0 = self.reset(url)
        m = self.measured(label, self.pipeline_run(config, run_id))
        st = self.stats(url)
        if st["requests"] != items:
            raise BenchError(f"{label}: the server got {st['requests']} requests, "
                             f"expected {items}")
        m["status"] = self.check_complete(label, run_id)
        return {**m, "items": items, "first_request_s": st["first_request_time"] - m[
            "spawn_time"], "last_request_s": st["last_request_time"] - m["spawn_time"],
            "server_cpu_s": st["cpu_s"] - s0["cpu_s"],
            "max_in_flight": st["max_in_flight"], "max_connections": st["max_connections"]}

    def raw(self, label: str, dataset: Path, url: str, items: int) -> dict[str, Any]:
        self.reset(url)
        m = self.measured(label, self.raw_cmd(dataset, url))
        st = self.stats(url)
        if st["requests"] != items:
            raise BenchError(f"{label}: the server got {st['requests']}, expected {items}")
        return {**m, "items": items,
                "first_request_s": st["first_request_time"] - m["spawn_time"],
                "last_request_s": st["last_request_time"] - m["spawn_time"],
                "max_in_flight": st["max_in_flight"], "max_connections": st["max_connections"]}

    def size(self, items: int, url: str) -> dict[str, Any]:
        dataset = self.dataset(items)
        config = self.config(f"scale-{items}", dataset, url)
        run_id = f"scale-{items}"
        say(f"{items:,} items: pipeline run ...")
        row: dict[str, Any] = {"items": items, "run": self.one_run(
            f"run-{items}", config, run_id, url, items)}
        say(f"{items:,} items: pipeline report ...")
        row["report"] = self.measured(
            f"report-{items}", [PY, "-m", "pipeline", "report", str(self.folder(run_id)), "-q"])
        if items <= self.args.raw_max:
            say(f"{items:,} items: raw aiohttp loop ...")
            row["raw"] = self.raw(f"raw-{items}", dataset, url, items)
        if not self.args.keep_runs:
            shutil.rmtree(self.folder(run_id), ignore_errors=True)
        return row

    def resume(self, items: int, url: str) -> dict[str, Any]:
        """Start a run, SIGTERM it when half its requests have reached the server, resume it."""
        dataset = self.dataset(items)
        config = self.config(f"scale-{items}", dataset, url)
        run_id = f"resume-{items}"
        shutil.rmtree(self.folder(run_id), ignore_errors=True)
        say(f"resume of {items:,} items: first part ...")
        self.reset(url, self.args.resume_delay_ms)
        label = f"resume-{items}-first"
        proc, result, log = self.spawn(label, self.pipeline_run(config, run_id))
        while self.stats(url)["requests"] < items // 2:
            if proc.poll() is not None:
                raise BenchError(f"{label}: the run ended before half its requests were sent "
                                 f"(exit {proc.returncode}; see {log}); for a small size, "
                                 "slow the server with --resume-delay-ms")
            time.sleep(0.02)
        stopped_at = self.stats(url)["requests"]
        proc.send_signal(signal.SIGTERM)  # measure.py passes it on to the pipeline
        first = self.finish(label, proc, result, log, ok=(130,))
        sent_first = self.stats(url)["requests"]
        self.reset(url, 0)
        say(f"resume of {items:,} items: resume ...")
        m = self.measured(f"resume-{items}", self.pipeline_run(config, run_id))
        st = self.stats(url)
        if not 0 < st["requests"] <= items - stopped_at + self.args.concurrency or (
                sent_first + st["requests"] < items):
            raise BenchError(f"resume-{items}: sent {st['requests']} after {sent_first} "
                             f"before it, for {items} items")
        m["status"] = self.check_complete(f"resume-{items}", run_id)
        if not self.args.keep_runs:
            shutil.rmtree(self.folder(run_id), ignore_errors=True)
        return {"items": items, "stopped_at": stopped_at, "first_part": first,
                "sent_before": sent_first, "resume": {
                    **m, "sent": st["requests"],
                    "first_request_s": st["first_request_time"] - m["spawn_time"]}}

    def latency(self, items: int, delay_ms: float) -> dict[str, Any]:
        url = self.server(delay_ms)
        dataset = self.dataset(items)
        config = self.config(f"latency-{items}", dataset, url)
        say(f"{items:,} items, server answering in {delay_ms:g} ms: pipeline run ...")
        run = self.one_run(f"latency-run-{items}", config, f"latency-{items}", url, items)
        say(f"{items:,} items, server answering in {delay_ms:g} ms: raw aiohttp loop ...")
        raw = self.raw(f"latency-raw-{items}", dataset, url, items)
        if not self.args.keep_runs:
            shutil.rmtree(self.folder(f"latency-{items}"), ignore_errors=True)
        ideal = items / self.args.concurrency * delay_ms / 1000
        return {"items": items, "delay_ms": delay_ms, "ideal_s": ideal, "run": run, "raw": raw}


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def git_describe() -> str:
    def git(*a: str) -> str:
        r = subprocess.run(["git", "-C", str(ROOT), *a], capture_output=True, text=True)
        return r.stdout.strip()
    head = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = " + uncommitted changes" if git("status", "--porcelain", "--", "pipeline") else ""
    return f"{git('rev-parse', '--abbrev-ref', 'HEAD')} @ {head}{dirty}"


# output ---------------------------------------------------------------------------------
def _mb(m: dict | None) -> str:
    return "–" if m is None else f"{m['maxrss_mb']:,.0f} MB"


def _s(v: float | None) -> str:
    return "–" if v is None else f"{v:.2f} s"


def _ms_item(m: dict | None) -> str:
    return "–" if m is None else f"{1000 * m['cpu_s'] / m['items']:.3f} ms"


def _yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


def table(head: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def markdown(res: dict[str, Any]) -> str:
    conc = res["concurrency"]
    lines = [
        "# Scale benchmark (issue 7)", "",
        f"Command: `{res['command']}`  ",
        f"Code: {res['code']}; {res['machine']}; load average (1 min) "
        f"{res['load_before']:.1f} before, {res['load_after']:.1f} after (other work on the "
        "machine inflates wall and first-request times; CPU and RSS much less).  ",
        f"Client pinned to core 0, server to core 1: {res['pinned']}. {len(MODELS)} models x "
        f"items/2 distinct arithmetic samples, concurrency {conc}, max_tokens {MAX_TOKENS}; "
        f"server `bench/fast_server.py` ({res['server_us_per_request']:.0f} us of server CPU "
        "per request over this bench). Every figure is one whole process, measured alone "
        "(`bench/measure.py`: its own peak RSS and user+sys CPU); first request = the "
        "server's first-request time minus the time just before the process was spawned. "
        "MB = 2^20 bytes.", "",
        "## `pipeline run`, zero-latency server", "",
    ]
    rows = []
    for r in res["sizes"]:
        run, raw = r["run"], r.get("raw")
        rows.append([
            f"{r['items']:,}", _mb(run), _s(run["first_request_s"]), _ms_item(run),
            f"{run['wall_s']:.2f} s", f"{r['items'] / run['wall_s']:,.0f}",
            _mb(r["report"]), f"{r['report']['wall_s']:.2f} s", _ms_item(raw),
            "–" if raw is None else f"{run['cpu_s'] / raw['cpu_s']:.2f}x",
            "–" if raw is None else f"{raw['wall_s']:.2f} s",
            "–" if raw is None else _s(raw["first_request_s"]),
        ])
    lines += table(["items", "peak RSS", "first request", "CPU/item", "wall", "items/s",
                    "report RSS", "report wall", "raw CPU/item", "CPU vs raw", "raw wall",
                    "raw first request"], rows)
    rs = res.get("resume")
    if rs:
        r = rs["resume"]
        lines += ["", f"## Resume of the {rs['items']:,}-item run", "",
                  f"SIGTERM once {rs['stopped_at']:,} requests had reached the server "
                  f"(exit {rs['first_part']['rc']}: interrupted); then `pipeline run` with the "
                  "same `--run-id`.", ""]
        lines += table(
            ["items", "sent before SIGTERM", "sent by the resume", "resume peak RSS",
             "resume first request", "resume wall", "first part peak RSS"],
            [[f"{rs['items']:,}", f"{rs['sent_before']:,}", f"{r['sent']:,}", _mb(r),
              _s(r["first_request_s"]), f"{r['wall_s']:.2f} s", _mb(rs["first_part"])]])
    lt = res.get("latency")
    if lt:
        lines += ["", f"## Server answering in {lt['delay_ms']:g} ms: {lt['items']:,} items at "
                  f"concurrency {conc}", "",
                  f"Ideal: {lt['items']:,} / {conc} x {lt['delay_ms'] / 1000:g} s = "
                  f"{lt['ideal_s']:.3f} s.", ""]
        lines += table(["what", "wall", "vs ideal", "first request", "peak RSS", "CPU",
                        "most in flight"], [
            [name, f"{m['wall_s']:.2f} s", f"{m['wall_s'] / lt['ideal_s']:.2f}x",
             _s(m["first_request_s"]), _mb(m), f"{m['cpu_s']:.2f} s", str(m["max_in_flight"])]
            for name, m in (("pipeline", lt["run"]), ("raw aiohttp loop", lt["raw"]))])
    lines += ["", "## Issue 7's targets", ""]
    lines += table(["target", "measured", "met"], targets(res))
    return "\n".join(lines) + "\n"


def targets(res: dict[str, Any]) -> list[list[str]]:
    rows = []
    sizes = res["sizes"]
    if sizes:
        worst = max(sizes, key=lambda r: r["run"]["maxrss_mb"])
        rows.append([f"`pipeline run` peak RSS <= {RSS_RUN_MB} MB at every size",
                     f"{worst['run']['maxrss_mb']:,.0f} MB at {worst['items']:,}",
                     _yes(worst["run"]["maxrss_mb"] <= RSS_RUN_MB)])
        worst = max(sizes, key=lambda r: r["report"]["maxrss_mb"])
        rows.append([f"`pipeline report` peak RSS <= {RSS_REPORT_MB} MB",
                     f"{worst['report']['maxrss_mb']:,.0f} MB at {worst['items']:,}",
                     _yes(worst["report"]["maxrss_mb"] <= RSS_REPORT_MB)])
        worst = max(sizes, key=lambda r: r["run"]["first_request_s"])
        rows.append([f"first request <= {FIRST_S} s at every size",
                     f"{worst['run']['first_request_s']:.2f} s at {worst['items']:,}",
                     _yes(worst["run"]["first_request_s"] <= FIRST_S)])
    rs = res.get("resume")
    if rs:
        r = rs["resume"]
        rows.append([f"resume peak RSS <= {RSS_REPORT_MB} MB (target: 1,000,000 items)",
                     f"{r['maxrss_mb']:,.0f} MB at {rs['items']:,}",
                     _yes(r["maxrss_mb"] <= RSS_REPORT_MB)])
        rows.append([f"resume first request <= {FIRST_RESUME_S} s (target: 1,000,000 items)",
                     f"{r['first_request_s']:.2f} s at {rs['items']:,}",
                     _yes(r["first_request_s"] <= FIRST_RESUME_S)])
    for r in sizes:
        if r["items"] == 20_000 and r.get("raw"):
            ratio = r["run"]["cpu_s"] / r["raw"]["cpu_s"]
            rows.append([f"client CPU/item at 20,000 <= {CPU_RATIO:g}x the raw loop's",
                         f"{ratio:.2f}x", _yes(ratio <= CPU_RATIO)])
    lt = res.get("latency")
    if lt:
        ratio = lt["run"]["wall_s"] / lt["ideal_s"]
        rows.append([f"wall at {lt['delay_ms']:g} ms, {lt['items']:,} items <= "
                     f"{WALL_RATIO}x ideal", f"{ratio:.2f}x (raw loop "
                     f"{lt['raw']['wall_s'] / lt['ideal_s']:.2f}x)", _yes(ratio <= WALL_RATIO)])
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="*",
                    default=[2_000, 20_000, 200_000, 1_000_000], help="work items per run")
    ap.add_argument("--resume-size", type=int, default=None,
                    help="items of the stopped-and-resumed run (default: the largest size; "
                    "0: none)")
    ap.add_argument("--resume-delay-ms", type=float, default=0,
                    help="server delay while the run to resume is first sent (so a small "
                    "run can be stopped half way)")
    ap.add_argument("--raw-max", type=int, default=200_000,
                    help="run the raw aiohttp loop at the sizes up to this")
    ap.add_argument("--latency-items", type=int, default=2_000,
                    help="items of the slow-server run (0: none)")
    ap.add_argument("--latency-ms", type=float, default=100)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--out-dir", default=str(BENCH / "out"))
    ap.add_argument("--keep-runs", action="store_true", help="keep the run folders")
    ap.add_argument("--no-pin", action="store_true", help="do not pin with taskset")
    args = ap.parse_args(argv)
    if args.resume_size is None:
        args.resume_size = max(args.sizes, default=0)
    for n in [*args.sizes, args.resume_size, args.latency_items]:
        if n and (n < len(MODELS) or n % len(MODELS)):
            ap.error(f"sizes must be even numbers of items (2 models), got {n}")
    command = "python bench/bench_scale.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    # Measure the package as installed: `pip install` writes bytecode, an editable checkout
    # under PYTHONDONTWRITEBYTECODE never does (0.07-0.18 s of compiling at every start).
    compileall.compile_dir(str(ROOT / "pipeline"), quiet=1)
    bench = Bench(args)
    res: dict[str, Any] = {
        "command": command.strip(), "code": git_describe(), "concurrency": args.concurrency,
        "machine": f"{os.cpu_count()} cores, Python {sys.version.split()[0]}",
        "pinned": "yes (taskset)" if bench.pin else "no", "models": MODELS, "sizes": [],
        "load_before": os.getloadavg()[0],
    }
    try:
        url = bench.server(0)
        cpu0 = bench.stats(url)["cpu_s"]
        for n in args.sizes:
            res["sizes"].append(bench.size(n, url))
        if args.resume_size:
            res["resume"] = bench.resume(args.resume_size, url)
        sent = sum(r["items"] + (r["items"] if "raw" in r else 0) for r in res["sizes"])
        if res.get("resume"):
            sent += res["resume"]["sent_before"] + res["resume"]["resume"]["sent"]
        res["server_us_per_request"] = 1e6 * (bench.stats(url)["cpu_s"] - cpu0) / max(1, sent)
        if args.latency_items:
            res["latency"] = bench.latency(args.latency_items, args.latency_ms)
    except BenchError as exc:
        print(f"bench_scale: {exc}", file=sys.stderr)
        return 1
    finally:
        bench.close()
    res["load_after"] = os.getloadavg()[0]
    text = markdown(res)
    print("\n" + text)
    (bench.out / "scale.md").write_text(text)
    (bench.out / "scale.json").write_text(json.dumps(res, indent=2))
    print(f"saved {bench.out / 'scale.md'} and scale.json", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
