"""The code scorer: what it takes from an answer, how it assembles the program, and each limit
of the child process triggered (timeout, CPU, memory, file size, open files, exit codes,
signals, the environment, the temporary folder, the process group)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.scoring import get_scorer
from pipeline.scoring.base import Output
from pipeline.scoring.code import ANSWER_CHARS, code, extract, program
from pipeline.scoring.sandbox import Limits, child_env, run_python

PROMPT = '''from typing import List


def add_all(xs: List[int]) -> int:
    """ Sum of the numbers.
    >>> add_all([1, 2])
    3
    """
'''
TEST = '''

METADATA = {}


def check(candidate):
    assert candidate([1, 2]) == 3
    assert candidate([]) == 0
    assert candidate([5, -5, 7]) == 7
'''
TARGET = {"test": TEST, "entry_point": "add_all", "prompt": PROMPT}
WHOLE = "from typing import List\n\ndef add_all(xs: List[int]) -> int:\n    return sum(xs)\n"
BODY = "    return sum(xs)\n"


def score(text: str, target: object = TARGET, finish: str | None = "stop", **options: object):
    return code(Output(text, [], target, options=dict(options), finish_reason=finish))


def fenced(body: str, tag: str = "python") -> str:
    return f"```{tag}\n{body}```"


# ------------------------------------------------------------------- answers as models write them

ANSWERS = [
    ("fenced whole function", f"Here you go:\n\n{fenced(WHOLE)}\n", 1.0),
    ("fenced, py tag", fenced(WHOLE, "py"), 1.0),
    ("fenced, no tag", fenced(WHOLE, ""), 1.0),
    ("tilde fence", f"~~~python\n{WHOLE}~~~", 1.0),
    ("unfenced whole function", WHOLE, 1.0),
    ("completion only (indented body)", BODY, 1.0),
    ("completion in a fence", fenced(BODY), 1.0),
    ("completion flush left", "return sum(xs)\n", 1.0),
    ("prose before unfenced code", f"Sure. The sum is built in.\n\n{WHOLE}", 1.0),
    ("prose around a fence", f"Use sum:\n{fenced(WHOLE)}\nThis runs in O(n).", 1.0),
    ("solution then usage block",
     f"{fenced(WHOLE)}\nUsage:\n{fenced('print(add_all([1, 2]))')}", 1.0),
    ("first try then a fix (last defining block wins)",
     f"{fenced('def add_all(xs):' + chr(10) + '    return 0' + chr(10))}\nFixed:\n"
     f"{fenced(WHOLE)}", 1.0),
    ("python block preferred over a shell block",
     f"{fenced(WHOLE)}\nRun it with:\n{fenced('python solution.py', 'bash')}", 1.0),
    ("no typing import: the prompt's preamble gives it",
     fenced("def add_all(xs: List[int]) -> int:\n    return sum(xs)\n"), 1.0),
    ("main guard is not run", fenced(WHOLE + "\nif __name__ == '__main__':\n"
                                     "    import sys\n    sys.exit(1)\n"), 1.0),
    # SmolLM2-135M-Instruct on llama.cpp (11 of 15 HumanEval answers): the code, then only
    # the fence that closes it, and sometimes prose or a usage block after it.
    ("closing fence only (SmolLM2)", WHOLE + "```", 1.0),
    ("closing fence then prose (SmolLM2)",
     WHOLE + "```\n\nThis function adds the numbers of the list with sum().", 1.0),
    ("closing fence then a usage block",
     f"{WHOLE}```\n\nUsage:\n{fenced('print(add_all([1, 2]))' + chr(10))}", 1.0),
    ("closing fence after a body only", BODY + "```", 1.0),
    ("wrong function", fenced("def add_all(xs):\n    return len(xs)\n"), 0.0),
    ("wrong function, closing fence only",
     "def add_all(xs: List[int]) -> int:\n    return any([x >= 0 for x in xs])\n```", 0.0),
    ("prose only", "I am not able to write this function.", 0.0),
]


@pytest.mark.parametrize(("text", "expected"), [a[1:] for a in ANSWERS],
                         ids=[a[0] for a in ANSWERS])
def test_real_looking_answers(text: str, expected: float) -> None:
    s = score(text)
    assert s.value == expected, s.explanation
    assert (s.explanation is None) == (expected == 1.0)
    assert s.answer and len(s.answer) <= ANSWER_CHARS


def test_extraction_rules() -> None:
    two = f"{fenced('x = 1' + chr(10))}\ntext\n{fenced('y = 2' + chr(10))}"
    assert extract(two) == "y = 2"  # neither defines the entry point: the last block
    assert extract(f"{fenced(WHOLE)}{fenced('y = 2')}", "add_all") == WHOLE.rstrip()
    assert extract("```python\ndef f():\n    return 1") == "def f():\n    return 1"  # unclosed
    assert extract("\n\n    return 1\n\n") == "    return 1"  # indentation kept
    assert extract("```python\n```") == ""
    assert extract("Sorry, I cannot help with that.") == "Sorry, I cannot help with that."
    # A bare fence after prose opens a block; after code, with no opener before, it closes one.
    assert extract("Here:\n```\nx = 1\n```\n") == "x = 1"
    assert extract("import os\nx = 1\n```\nThat sets x.") == "import os\nx = 1"


def test_program_assembly() -> None:
    whole = program(WHOLE, TARGET)
    assert whole.startswith(PROMPT.rstrip()) and whole.index(WHOLE) > len(PROMPT) - 2
    assert whole.rstrip().endswith("check(add_all)")
    completion = program(BODY, TARGET)
    assert completion.startswith(PROMPT + BODY)
    flush = program("return sum(xs)", TARGET)
    assert flush.startswith(PROMPT + "    return sum(xs)")
    future = "from __future__ import annotations\n" + WHOLE
    assert program(future, TARGET).startswith(future)  # must stay first in the file


def test_helper_from_the_prompt_is_available() -> None:
    """HumanEval/38 style: the test calls a helper that only the prompt defines."""
    prompt = ('def enc(s: str):\n    return s[::-1]\n\n\ndef dec(s: str):\n'
              '    """Undo enc."""\n')
    test = "def check(candidate):\n    assert candidate(enc('abc')) == 'abc'\n"
    target = {"test": test, "entry_point": "dec", "prompt": prompt}
    assert score(fenced("def dec(s: str):\n    return s[::-1]\n"), target).value == 1.0


def test_target_as_json_text_and_bad_targets() -> None:
    assert score(fenced(WHOLE), json.dumps(TARGET)).value == 1.0
    for bad in (None, "not json", 3, {"test": "x"}, {"test": 1, "entry_point": "f"},
                {"test": "x", "entry_point": "f", "prompt": 3}):
        s = score(fenced(WHOLE), bad)
        assert s.value == 0.0 and "not a code task" in s.explanation


def test_no_code_and_cut_answers() -> None:
    for text in ("", "   \n", "```python\n```"):
        s = score(text)
        assert (s.value, s.answer, s.explanation) == (0.0, None, "no code in the answer")
    cut = score("```python\ndef add_all(xs: List[int]) -> int:\n    return sum(", finish="length")
    assert cut.value == 0.0
    assert cut.explanation.startswith("answer cut by max_tokens; syntax error")


def test_answer_column_is_capped() -> None:
    long = WHOLE + "".join(f"# filler line {i}\n" for i in range(500))
    s = score(fenced(long))
    assert s.value == 1.0 and len(s.answer) == ANSWER_CHARS and s.answer.endswith("…")


def test_registered_by_name() -> None:
    assert get_scorer("code") is code


# ------------------------------------------------------------------- failures and their reasons

FAILURES = [
    ("syntax error", "def add_all(xs:\n    return 0\n", "syntax error: "),
    ("indentation error", "def add_all(xs):\nreturn 0\n", "syntax error: expected an indented"),
    ("assertion", "def add_all(xs):\n    return 3\n",
     "assertion failed at `assert candidate([]) == 0`"),
    ("exception", "def add_all(xs):\n    return xs[99]\n",
     "IndexError: list index out of range at `return xs[99]`"),
    ("sys.exit(1)", "import sys\nsys.exit(1)\n", "exit code 1"),
    ("sys.exit(0) before the tests", "import sys\nsys.exit(0)\n",
     "exit code 0 before the tests finished"),
    ("sys.exit('text')", "import sys\nsys.exit('bye')\n", "exit code 1: bye"),
    ("os._exit(3)", "import os\nos._exit(3)\n", "exit code 3"),
    ("os._exit(0) is no pass", "import os\nos._exit(0)\n", "exit code 0 before the tests finished"),
    ("killed", "import os\nos.kill(os.getpid(), 9)\n", "killed by signal SIGKILL"),
    ("segfault", "import ctypes\nctypes.string_at(0)\n", "killed by signal SIGSEGV"),
    ("stdin is closed", "input()\n", "EOFError: EOF when reading a line"),
    ("memory: 2 GB at once", "x = bytearray(2 * 1024**3)\n", "memory limit (512 MB)"),
    ("memory: growing", "x = []\nwhile True:\n    x.append(bytearray(10**7))\n",
     "memory limit (512 MB)"),
    ("huge file", "with open('big', 'wb') as f:\n    f.write(b'x' * (100 * 2**20))\n",
     "file size limit (16 MB)"),
    ("endless printing", "while True:\n    print('x' * 1000)\n", "file size limit (16 MB)"),
    ("open files", "fs = [open('f%d' % i, 'w') for i in range(200)]\n",
     "OSError: [Errno 24] Too many open files"),
    ("recursion", "def add_all(xs):\n    return add_all(xs)\n", "RecursionError"),
]


@pytest.mark.parametrize(("body", "reason"), [f[1:] for f in FAILURES],
                         ids=[f[0] for f in FAILURES])
def test_each_failure_gives_a_failed_row_with_its_reason(body: str, reason: str) -> None:
    started = time.monotonic()
    s = score(fenced(body))
    assert s.value == 0.0
    assert s.explanation.startswith(reason), s.explanation
    assert time.monotonic() - started < 8


def test_infinite_loop_times_out_within_slack() -> None:
    started = time.monotonic()
    s = score(fenced("while True:\n    pass\n"), timeout_s=1)
    elapsed = time.monotonic() - started
    assert (s.value, s.explanation) == (0.0, "timeout after 1 s")
    assert 1.0 <= elapsed < 2.5


def test_sleeping_code_times_out_too() -> None:
    """A wall timeout, not only CPU: code that sleeps or blocks uses no CPU."""
    s = score(fenced("import time\ntime.sleep(60)\n"), timeout_s=0.5)
    assert s.explanation == "timeout after 0.5 s"


def test_cpu_limit() -> None:
    out = run_python("while True:\n    pass\n", Limits(timeout_s=5, cpu_s=1))
    assert not out.passed and out.reason == "cpu time limit (1 s)" and out.wall_s < 4


def test_bad_options_fall_back_to_defaults() -> None:
    assert score(fenced(WHOLE), timeout_s="soon", memory_mb=-1).value == 1.0


# ------------------------------------------------------------------- what the child sees

_REPORT = """
import json, os, resource
names = ("RLIMIT_CPU", "RLIMIT_AS", "RLIMIT_FSIZE", "RLIMIT_NOFILE", "RLIMIT_CORE",
         "RLIMIT_NPROC")
print(json.dumps({"env": dict(os.environ), "cwd": os.getcwd(),
                  "limits": {n: resource.getrlimit(getattr(resource, n)) for n in names},
                  "pgid": os.getpgid(0), "pid": os.getpid(), "sid": os.getsid(0)}))
"""


def test_child_environment_holds_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFERENCE_KEY", "inf-secret-must-not-leak")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret-must-not-leak")
    monkeypatch.setenv("PYTHONPATH", "/nowhere")
    out = run_python(_REPORT)
    assert out.passed, out.reason
    seen = json.loads(out.stdout)
    assert "INFERENCE_KEY" not in seen["env"] and "AWS_SECRET_ACCESS_KEY" not in seen["env"]
    assert "must-not-leak" not in out.stdout
    assert set(seen["env"]) == set(child_env("/x"))
    assert seen["env"]["HOME"] == seen["cwd"]
    # and through the scorer: a test that needs the key fails
    target = {**TARGET, "test": "def check(candidate):\n    import os\n"
              "    assert os.environ.get('INFERENCE_KEY'), 'no key'\n"}
    s = score(fenced(WHOLE), target)
    assert s.value == 0.0 and s.explanation.startswith("assertion failed: no key")


def test_child_limits_folder_and_process_group() -> None:
    out = run_python(_REPORT, Limits(timeout_s=3, memory_mb=256))
    seen = json.loads(out.stdout)
    lim = seen["limits"]
    assert lim["RLIMIT_CPU"] == [4, 5]
    assert lim["RLIMIT_AS"] == [256 * 2**20] * 2
    assert lim["RLIMIT_FSIZE"] == [16 * 2**20] * 2
    assert lim["RLIMIT_NOFILE"] == [64, 64]
    assert lim["RLIMIT_CORE"] == [0, 0]
    nproc = lim["RLIMIT_NPROC"][0]
    assert 32 < nproc < 10**6 and lim["RLIMIT_NPROC"][1] == nproc  # the user's tasks + 32
    assert seen["pgid"] == seen["pid"] == seen["sid"]  # its own session and group
    assert seen["pgid"] != os.getpgid(0)
    folder = Path(seen["cwd"])
    assert folder.name.startswith("pipeline-code-") and not folder.exists()  # removed


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _gone(pid: int) -> bool:
    deadline = time.monotonic() + 3
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _alive(pid)


@pytest.mark.parametrize("then", ["exit", "loop"])
def test_forked_children_do_not_outlive_the_run(then: str) -> None:
    """What the code forks is killed with it: after a normal end and after a timeout."""
    rest = "" if then == "exit" else "while True:\n    pass\n"
    source = ("import os, sys, time\npid = os.fork()\nif pid == 0:\n    time.sleep(60)\n"
              "    os._exit(0)\nprint(pid, flush=True)\n" + rest)
    out = run_python(source, Limits(timeout_s=1))
    assert out.passed == (then == "exit"), out.reason
    grandchild = int(out.stdout.split()[0])
    assert _gone(grandchild), f"pid {grandchild} outlived the run"


def test_output_is_kept_bounded() -> None:
    out = run_python("import sys\nsys.stdout.write('a' * 100_000 + 'END')\n"
                     "sys.stderr.write('e' * 50_000)\n")
    assert out.passed and len(out.stdout) <= 4097 and out.stdout.endswith("END")
    assert out.stdout.startswith("…") and len(out.stderr) <= 4097


@pytest.mark.skipif(os.geteuid() == 0, reason="RLIMIT_NPROC is not enforced for root; "
                    "test_child_limits_folder_and_process_group checks that it is set")
def test_fork_bomb_is_capped() -> None:
    """At most 200 forks are tried (a bounded bomb), and fewer than that succeed."""
    source = ("import os, time\nn = 0\nfor _ in range(200):\n    try:\n        pid = os.fork()\n"
              "    except OSError:\n        break\n    if pid == 0:\n        time.sleep(30)\n"
              "        os._exit(0)\n    n += 1\nprint(n)\n")
    out = run_python(source, Limits(timeout_s=5))
    assert out.passed and int(out.stdout) <= 33


def test_child_stops_on_its_own_when_the_parent_dies(tmp_path: Path) -> None:
    """The parent killed outright (no timer left to fire): the child's own alarm, set a
    little past the timeout, still ends code that only sleeps."""
    pidfile = tmp_path / "child.pid"
    candidate = (f"import os, time\nopen({str(pidfile)!r}, 'w').write(f'{{os.getpid()}} "
                 "{os.getcwd()}')\ntime.sleep(600)\n")
    parent = subprocess.Popen(
        [sys.executable, "-c", "import sys; from pipeline.scoring.sandbox import Limits, "
         "run_python; run_python(sys.argv[1], Limits(timeout_s=1))", candidate],
        cwd=Path(__file__).resolve().parents[1])
    deadline = time.monotonic() + 10
    while not pidfile.exists() or " " not in pidfile.read_text():
        assert time.monotonic() < deadline, "the child never started"
        time.sleep(0.02)
    parent.kill()
    parent.wait()
    pid, folder = pidfile.read_text().split(" ", 1)
    child = int(pid)
    try:
        assert _alive(child)
        deadline = time.monotonic() + 6  # alarm at ceil(1) + 2 = 3 s after the child started
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child), "the child outlived its parent by more than its alarm"
    finally:
        if _alive(child):
            os.kill(child, 9)
        shutil.rmtree(folder, ignore_errors=True)  # the killed parent could not remove it


def test_scoring_from_many_threads_at_once() -> None:
    """The runner scores in worker threads: runs side by side keep their own folders,
    outcomes and timers (one times out while the others pass)."""
    from concurrent.futures import ThreadPoolExecutor

    answers = [fenced(WHOLE)] * 7 + [fenced("while True:\n    pass\n")]
    with ThreadPoolExecutor(8) as pool:
        scores = list(pool.map(lambda t: score(t, timeout_s=2), answers))
    assert [s.value for s in scores] == [1.0] * 7 + [0.0]
    assert scores[-1].explanation == "timeout after 2 s"


def test_running_code_makes_the_pipeline_non_dumpable():
    # other processes of the user (the code under test among them) cannot read this
    # process's /proc/<pid>/environ, where the API key is (root still can: see the README)
    import ctypes
    import sys as _sys

    if _sys.platform != "linux":
        pytest.skip("prctl is Linux's")
    from pipeline.scoring.sandbox import run_python

    run_python("pass\n")
    libc = ctypes.CDLL(None)
    assert libc.prctl(3, 0, 0, 0, 0) == 0  # PR_GET_DUMPABLE: 0
    import os

    if os.geteuid() != 0:
        out = run_python(
            "import os\n"
            "open(f'/proc/{os.getppid()}/environ').read()\n")
        assert not out.passed
