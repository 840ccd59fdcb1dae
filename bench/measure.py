"""Run one command and write what it cost as JSON: its peak RSS, CPU, wall and exit code.

The benchmarks spawn every measured command through this wrapper, so the figures are those
of that one child (os.wait4 gives its own rusage: RUSAGE_CHILDREN of the harness would mix
every earlier child in). `spawn_time` is time.time() just before the child is started, so a
server's first-request time minus it is the child's time to its first request. SIGTERM and
SIGINT are passed on to the child (the harness stops a run this way and measures its exit).

    python bench/measure.py --out cost.json -- python -m pipeline run cfg.toml -q

ru_maxrss covers the child and any children it waited for (Linux keeps the high-water mark
across exec, so it is at least this wrapper's own few MB; far below what is measured here).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="where to write the JSON")
    ap.add_argument("cmd", nargs=argparse.REMAINDER, help="-- then the command")
    args = ap.parse_args(argv)
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        ap.error("no command given (put it after --)")
    spawn_time = time.time()
    t0 = time.perf_counter()
    child = subprocess.Popen(cmd)

    def forward(signum: int, _frame: object) -> None:
        if child.returncode is None:
            os.kill(child.pid, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    while True:
        try:
            _, status, ru = os.wait4(child.pid, 0)
            break
        except InterruptedError:  # pragma: no cover - retried by Python itself since 3.5
            continue
    wall = time.perf_counter() - t0
    child.returncode = os.waitstatus_to_exitcode(status)  # reaped: Popen must not wait again
    result = {
        "cmd": cmd, "rc": child.returncode, "spawn_time": spawn_time, "wall_s": wall,
        "user_s": ru.ru_utime, "sys_s": ru.ru_stime, "cpu_s": ru.ru_utime + ru.ru_stime,
        "maxrss_mb": ru.ru_maxrss / 1024,  # Linux: kilobytes
    }
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
