"""The journal: append-only, torn last lines are ignored and repaired, last record wins."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from pipeline.errors import RunStateError
from pipeline.journal import Journal, is_final, latest_by_key, read_journal


def test_append_read_and_latest(tmp_path: Path):
    with Journal(tmp_path) as j:
        j.append({"key": "a", "status": "error", "retryable": True})
        j.append({"key": "b", "status": "ok"})
        j.append({"key": "a", "status": "ok"})
    recs = list(read_journal(tmp_path))
    assert [r["key"] for r in recs] == ["a", "b", "a"]
    latest = latest_by_key(iter(recs))
    assert latest["a"]["status"] == "ok" and len(latest) == 2


def test_torn_last_line_is_ignored_then_repaired(tmp_path: Path):
    with Journal(tmp_path) as j:
        j.append({"key": "a", "status": "ok"})
    with (tmp_path / "journal.jsonl").open("a") as f:
        f.write('{"key": "b", "sta')  # the process died mid-write
    assert [r["key"] for r in read_journal(tmp_path)] == ["a"]
    with Journal(tmp_path) as j:
        j.append({"key": "c", "status": "ok"})
    assert [r["key"] for r in read_journal(tmp_path)] == ["a", "c"]


def test_corrupt_middle_line_is_an_error(tmp_path: Path):
    (tmp_path / "journal.jsonl").write_text('{"key": "a"}\nnot json\n{"key": "b"}\n')
    with pytest.raises(RunStateError, match=r"journal.jsonl:2: corrupt"):
        list(read_journal(tmp_path))


@pytest.mark.parametrize(
    ("rec", "final"),
    [({"status": "ok"}, True), ({"status": "error", "retryable": False}, True),
     ({"status": "error", "retryable": True}, False)],
)
def test_is_final(rec, final):
    assert is_final(rec) is final


def test_lone_surrogates_are_replaced_not_fatal(tmp_path: Path):
    with Journal(tmp_path) as j:
        j.append({"key": "a", "output_text": "caf\ud800 ok"})
    [rec] = read_journal(tmp_path)
    assert rec["output_text"] == "caf\ufffd ok"


def test_a_real_write_failure_is_one_run_error_and_close_is_quiet(tmp_path: Path):
    import resource

    from pipeline.errors import RunError

    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    old = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a kill
    j = Journal(tmp_path).open()
    resource.setrlimit(resource.RLIMIT_FSIZE, (4000, hard))
    try:
        with pytest.raises(RunError, match="cannot write the journal"):
            for i in range(1000):
                j.append({"key": str(i), "output_text": "x" * 100})
        with pytest.raises(RunError):  # stays broken: nothing more is written
            j.append({"key": "late"})
        j.close()  # no second error from the buffered tail
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old)
    keys = [r["key"] for r in read_journal(tmp_path)]
    assert keys == [str(i) for i in range(len(keys))] and 0 < len(keys) < 1000
