"""The `pipeline` process's start-up and exit, and Python's cyclic garbage collector.

Loading the modules and the config allocates some 50,000 objects that live as long as the
process; the collector runs some 50 times over them before the first request could leave
(10-30 ms here), and finds next to nothing. So the command pauses it while it starts
(`pause`), and a run resumes it just before it sends (`resume`), with the objects made so
far frozen: later collections skip them, as gc.freeze() is meant for. `settle` (at the
end of the command) unfreezes them, so a process that calls the command again (tests,
embedding) keeps collecting everything.

`leave` ends the process once the command is over, without Python's teardown;
`guard_stderr` keeps a closed log pipe from stopping a paid run.
"""

from __future__ import annotations

import gc
import os
import sys
import threading
from typing import Any, NoReturn

_state = {"paused": False, "frozen": False}


def pause() -> None:
    """Stop the collector for the start-up (not when it is off already)."""
    if gc.isenabled():
        gc.disable()
        _state["paused"] = True


def resume() -> None:
    """The start-up is over: freeze what it made, and collect again."""
    if _state["paused"]:
        _state["paused"] = False
        gc.freeze()
        _state["frozen"] = True
        gc.enable()


def settle() -> None:
    """The command is over: resume if it never did, and unfreeze the start-up's objects."""
    resume()
    if _state["frozen"]:
        _state["frozen"] = False
        gc.unfreeze()


def leave(code: int) -> NoReturn:
    """End the `pipeline` process with `code`: the command is over and what it wrote is
    closed. Python's own exit would then free every module and object one by one (50-60 ms
    after a run: polars, pyarrow and the run's objects), which a scheduled job waits for and
    nothing needs. So: flush stdout, stderr and logging (what an exit does that matters) and
    leave with os._exit. Unless another non-daemon thread is still alive (a normal exit
    waits for it), or a profiler, debugger or coverage watches the process (they write
    their findings at exit): then the normal exit.

    Output that could not be written is never a success: what stdout still buffered (the
    commands that print without flushing: estimate, history, compare, validate) goes out
    here, and a reader gone (`| head`) makes the exit 141, a failed write (a full disk) one
    error line and 74, unless the command had failed already."""
    code = _flush_stdout(code)
    try:
        if sys.stderr is not None:
            sys.stderr.flush()
    except (OSError, ValueError):
        pass
    if "logging" in sys.modules:
        sys.modules["logging"].shutdown()
    main = threading.main_thread()
    if (any(t is not main and not t.daemon and t.is_alive() for t in threading.enumerate())
            or sys.getprofile() is not None or sys.gettrace() is not None
            or "coverage" in sys.modules):
        sys.exit(code)
    os._exit(code)


def _flush_stdout(code: int) -> int:
    from pipeline.errors import EXIT_OUTPUT, EXIT_PIPE

    try:
        if sys.stdout is not None:
            sys.stdout.flush()
        return code
    except BrokenPipeError:
        failed = EXIT_PIPE
    except (OSError, ValueError) as exc:
        failed = EXIT_OUTPUT
        try:
            print(f"error: cannot write the output: {exc}", file=sys.stderr, flush=True)
        except (OSError, ValueError):
            pass
    silence(sys.stdout)  # what is left in the buffer goes nowhere: no later flush fails again
    return code or failed


def silence(stream: Any) -> None:
    """Point the stream's file descriptor at /dev/null (its reader is gone or its disk
    full): later writes and flushes succeed and go nowhere."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
    except (OSError, ValueError, AttributeError):  # no descriptor (a test's capture)
        pass


class _PipeSafe:
    """sys.stderr for the `pipeline` process: a reader that went away (`... 2>&1 | head`)
    must not stop a run half way (its progress and error lines are only words; the run's
    work is in its folder), so a write to a broken pipe sends this and every later line to
    /dev/null instead of raising."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            silence(self._stream)
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            silence(self._stream)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def guard_stderr() -> None:
    """Install _PipeSafe over sys.stderr (the process's entry point does, not main())."""
    if sys.stderr is not None and not isinstance(sys.stderr, _PipeSafe):
        sys.stderr = _PipeSafe(sys.stderr)  # type: ignore[assignment]
