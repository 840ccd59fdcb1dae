"""Run untrusted Python in a child process with limits, and say how it ended.

The child is `python -I` (no user site, PYTHON* variables ignored, the script's folder not on
sys.path) in a fresh temporary folder that is removed afterwards, with an environment built
from nothing (no variable of the parent's reaches it, so no API key), stdin from /dev/null,
stdout and stderr into files in that folder, in a session and process group of its own. A
timer kills the whole group at the wall timeout, and the group is killed again when the
child ends, so processes it forked do not outlive it.

The resource limits are set by a short bootstrap (`_BOOT`) that the child runs before it
compiles the code, not by `preexec_fn`: the scorer runs in worker threads, and `preexec_fn`
is documented as unsafe with threads (the child may deadlock between fork and exec). Soft and
hard limits are set equal, so the code cannot raise them again. The bootstrap also runs the
code as a module named `__solution__` (an `if __name__ == "__main__":` block in an answer is
skipped, as in HumanEval's own harness), and reports how it ended through a status file:
`ok` only once everything ran, so `os._exit(0)` before the tests finish is no pass.

This is not a sandbox: see the README, "Code execution (HumanEval)".
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import BinaryIO

_TAIL_BYTES = 4096  # of stdout and stderr, kept for the explanation
_STATUS_BYTES = 1024

# Run in the child before any of the code: limits, then compile and exec, then the status.
# It imports only built-in modules, before the limits: a MemoryError handler must not import.
_BOOT = r"""
import errno, os, resource, signal, sys

def _limit(name, soft, hard=None):
    which = getattr(resource, name, None)
    if which is None:
        return
    hard = soft if hard is None else hard
    _, old_hard = resource.getrlimit(which)
    if old_hard != resource.RLIM_INFINITY:
        soft, hard = min(soft, old_hard), min(hard, old_hard)
    resource.setrlimit(which, (soft, hard))

def _user_tasks():
    # RLIMIT_NPROC counts every task (thread) of the real user id, not this process's.
    uid, n = os.getuid(), 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/" + pid + "/status", "rb") as f:
                fields = dict(line.split(b":", 1) for line in f.read().splitlines() if b":" in line)
            if int(fields[b"Uid"].split()[0]) == uid:
                n += int(fields[b"Threads"])
        except (OSError, KeyError, ValueError):
            pass
    return n

def _line(tb, source_lines):
    # The innermost line of the code itself (traceback is not imported: 20 ms a run).
    found = ""
    while tb is not None:
        n = tb.tb_lineno or 0
        if tb.tb_frame.f_code.co_filename == "solution.py" and 0 < n <= len(source_lines):
            found = source_lines[n - 1].strip()
        tb = tb.tb_next
    return found

def main():
    path, status_path, cpu_s, mem_mb, file_mb, open_files, procs, alarm_s = sys.argv[1:9]
    cpu_s, mem_mb, file_mb = int(cpu_s), int(mem_mb), int(file_mb)
    with open(path, encoding="utf-8", errors="replace") as f:
        source = f.read()
    status = os.open(status_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)

    def finish(ok, reason=""):
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        text = "ok" if ok else "fail\t" + " ".join(str(reason).split())[:300]
        try:
            os.write(status, text.encode("utf-8", "replace"))
        except OSError:
            pass
        os._exit(0 if ok else 1)  # not sys.exit: it would wait for the code's threads

    # A wall clock of its own, a little past the parent's timer: if the parent dies (SIGKILL,
    # out of memory) nothing else would stop code that sleeps or blocks.
    signal.alarm(int(alarm_s))
    _limit("RLIMIT_CORE", 0)
    _limit("RLIMIT_CPU", cpu_s, cpu_s + 1)  # SIGXCPU at the soft limit, SIGKILL a second on
    _limit("RLIMIT_AS", mem_mb * 2**20)
    _limit("RLIMIT_FSIZE", file_mb * 2**20)
    _limit("RLIMIT_NOFILE", int(open_files))
    if int(procs) > 0 and os.path.isdir("/proc"):
        _limit("RLIMIT_NPROC", _user_tasks() + int(procs))
    try:
        code = compile(source, "solution.py", "exec", dont_inherit=True)
    except SyntaxError as exc:
        text = (exc.text or "").strip()
        finish(False, "syntax error: " + str(exc.msg) + (": " + text if text else ""))
    except (ValueError, MemoryError, RecursionError) as exc:
        finish(False, "syntax error: " + type(exc).__name__ + ": " + str(exc))
    lines = source.splitlines()
    scope = {"__name__": "__solution__", "__builtins__": __builtins__}
    try:
        exec(code, scope)
    except SystemExit as exc:
        value = exc.code
        if value is None or isinstance(value, int):
            value = value or 0
            finish(False, "exit code " + str(value)
                   + (" before the tests finished" if value == 0 else ""))
        finish(False, "exit code 1: " + str(value)[:200])
    except AssertionError as exc:
        where, msg = _line(exc.__traceback__, lines), str(exc)
        finish(False, "assertion failed" + (": " + msg[:150] if msg else "")
               + (" at `" + where[:150] + "`" if where else ""))
    except MemoryError:
        finish(False, "memory limit (" + str(mem_mb) + " MB)")
    except OSError as exc:
        if exc.errno == errno.EFBIG:
            finish(False, "file size limit (" + str(file_mb) + " MB)")
        finish(False, type(exc).__name__ + ": " + str(exc)[:200])
    except BaseException as exc:
        where = _line(exc.__traceback__, lines)
        finish(False, type(exc).__name__ + (": " + str(exc)[:200] if str(exc) else "")
               + (" at `" + where[:150] + "`" if where else ""))
    finish(True)

main()
"""


@dataclass(frozen=True, slots=True)
class Limits:
    """What the child may use. cpu_s None: the timeout rounded up, plus one second."""

    timeout_s: float = 10.0
    memory_mb: int = 512
    file_mb: int = 16  # any one file it writes, its stdout and stderr included
    open_files: int = 64
    max_procs: int = 32  # tasks beyond the user's current count; 0: no RLIMIT_NPROC
    cpu_s: int | None = None

    @property
    def cpu(self) -> int:
        return self.cpu_s if self.cpu_s is not None else math.ceil(self.timeout_s) + 1


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a run ended: passed, or the reason it did not; the ends of its output."""

    passed: bool
    reason: str | None
    returncode: int | None
    stdout: str
    stderr: str
    wall_s: float


def child_env(folder: str) -> dict[str, str]:
    """The child's whole environment: basics only, none of the parent's variables."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "HOME": folder,
        "TMPDIR": folder,
    }


_hardened = False


def harden_parent() -> bool:
    """Make this process non-dumpable (Linux prctl PR_SET_DUMPABLE 0), once: a process of the
    same (non-root) user can then no longer read its /proc/<pid>/environ, where the API key
    is, nor attach to it. The cost: no core dumps and no debugger attach to this process.
    Returns whether the process is now non-dumpable."""
    global _hardened
    if not _hardened and sys.platform == "linux":
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            _hardened = libc.prctl(4, 0, 0, 0, 0) == 0  # PR_SET_DUMPABLE = 4
        except (OSError, AttributeError):  # no prctl here: nothing to harden with
            _hardened = False
    return _hardened


def run_python(source: str, limits: Limits | None = None) -> Outcome:
    """Run `source` as a program in a limited child; never raises for what the code does.
    The first call makes this process non-dumpable (harden_parent)."""
    harden_parent()
    limits = limits or Limits()
    folder = tempfile.mkdtemp(prefix="pipeline-code-")
    start = time.monotonic()
    try:
        return _run(source, limits, folder, start)
    except OSError as exc:  # the machinery failed (no fork, no disk): not the code's doing
        return Outcome(False, f"could not run the code: {type(exc).__name__}: {exc}", None,
                       "", "", time.monotonic() - start)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _run(source: str, limits: Limits, folder: str, start: float) -> Outcome:
    program = os.path.join(folder, "solution.py")
    status = os.path.join(folder, ".status")
    with open(program, "w", encoding="utf-8", errors="surrogatepass") as f:
        f.write(source)
    argv = [sys.executable, "-I", "-S", "-X", "utf8", "-c", _BOOT, program, status, str(limits.cpu),
            str(limits.memory_mb), str(limits.file_mb), str(limits.open_files),
            str(limits.max_procs), str(math.ceil(limits.timeout_s) + 2)]
    with open(os.path.join(folder, ".stdout"), "wb+") as out, \
            open(os.path.join(folder, ".stderr"), "wb+") as err:
        proc = subprocess.Popen(argv, cwd=folder, env=child_env(folder),
                                stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                start_new_session=True, close_fds=True)
        timed_out = threading.Event()

        def on_timeout() -> None:
            timed_out.set()
            _kill_group(proc.pid)

        timer = threading.Timer(limits.timeout_s, on_timeout)
        timer.daemon = True
        timer.start()
        try:
            # Wait without reaping: while the child is a zombie its pid, and so its process
            # group id, cannot be reused, so killing the group below can hit no stranger.
            _wait_exited(proc.pid)
        finally:
            timer.cancel()
            timer.join()
            _kill_group(proc.pid)
            returncode = proc.wait()
        wall = time.monotonic() - start
        stdout, stderr = _tail(out), _tail(err)
    reason = _reason(returncode, _read_status(status), timed_out.is_set(), limits, stderr)
    return Outcome(reason is None, reason, returncode, stdout, stderr, wall)


def _wait_exited(pid: int) -> None:
    while True:
        try:
            os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
            return
        except InterruptedError:
            continue
        except ChildProcessError:
            return


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _tail(f: BinaryIO) -> str:
    """The last few KB of an output file: a chatty program costs no memory here."""
    f.seek(0, os.SEEK_END)
    size = f.tell()
    f.seek(max(0, size - _TAIL_BYTES))
    data = f.read(_TAIL_BYTES)
    return ("…" if size > _TAIL_BYTES else "") + data.decode("utf-8", "replace")


def _read_status(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return f.read(_STATUS_BYTES).decode("utf-8", "replace")
    except OSError:
        return None


def _reason(returncode: int, status: str | None, timed_out: bool, limits: Limits,
            stderr: str) -> str | None:
    """None when the code ran to the end; otherwise why it did not, in a few words."""
    if timed_out:
        return f"timeout after {limits.timeout_s:g} s"
    if returncode < 0:
        sig = -returncode
        if sig == signal.SIGXCPU:
            return f"cpu time limit ({limits.cpu} s)"
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        return f"killed by signal {name}"
    if status is not None and status.startswith("fail\t"):
        return status[5:] or "failed"
    if returncode == 0 and status == "ok":
        return None
    if returncode == 0:
        return "exit code 0 before the tests finished"
    last = stderr.strip().splitlines()[-1:] if stderr.strip() else []
    return f"exit code {returncode}" + (f": {last[0][:200]}" if last else "")
