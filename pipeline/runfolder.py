"""The run folder: where a run's files live, atomic writes, and the manifest."""

from __future__ import annotations

import fcntl
import json
import os
import re
import tempfile
import threading
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.errors import RunStateError

MANIFEST = "manifest.json"


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# Files are created with the usual permissions (0666 less the umask), like any other tool's
# output; mkstemp's 0600 would hide a team's reports from each other. No secret is ever in
# them.
FILE_MODE = 0o666 & ~_umask()
LOCK = "run.lock"
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def now_iso() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_run_id(name: str, output_dir: Path,
               taken: Callable[[str], bool] | None = None) -> str:
    """`<name>-<UTC timestamp>` for a fresh run, with a suffix if that folder exists (or
    `taken` says the id is used, as in an object store)."""
    base = f"{name}-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}"
    run_id, n = base, 1
    while (output_dir / run_id).exists() or (taken is not None and taken(run_id)):
        n += 1
        run_id = f"{base}-{n}"
    return run_id


def check_run_id(run_id: str) -> str:
    """A run id is a plain folder name."""
    if not run_id.strip():
        raise RunStateError("--run-id is empty: give a run folder name, or leave it out")
    if not _RUN_ID.match(run_id):
        raise RunStateError(
            f"--run-id {run_id!r}: use letters, digits, '.', '_' and '-' only (a folder name)"
        )
    return run_id


class RunLock:
    """An exclusive lock on a run folder, so two processes never send the same run's items."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / LOCK
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise RunStateError(
                f"{self.path.parent}: cannot create the run folder ({exc.strerror or exc}); "
                "check output_dir"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunStateError(
                f"{self.path.parent}: another pipeline process is running this run "
                "(wait for it, or pick another --run-id)"
            ) from None
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a temporary file in the same folder, then rename: never a half file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.fchmod(fd, FILE_MODE)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_json(path: Path, data: Any) -> None:
    """Atomically write pretty JSON."""
    atomic_write(
        path, lambda p: p.write_text(json.dumps(data, indent=2, default=str) + "\n", "utf-8")
    )


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest of a run folder, or None if there is none."""
    path = folder / MANIFEST
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text("utf-8"))
    except json.JSONDecodeError:
        raise RunStateError(f"{path}: corrupt manifest (delete the run folder or fix it)") from None


def runs_of(output_dir: Path, name: str) -> list[tuple[Path, dict[str, Any]]]:
    """Every run folder of config `name` under output_dir with its manifest, oldest first
    (by start time, then folder name: a second run in the same second is `-2`)."""
    if not output_dir.is_dir():
        return []
    runs = []
    for folder in output_dir.iterdir():
        m = read_manifest(folder) if folder.is_dir() else None
        if m and m.get("name") == name:
            runs.append((str(m.get("created_at", "")), folder.name, folder, m))
    runs.sort(key=lambda r: (r[0], r[1]))
    return [(folder, m) for _, _, folder, m in runs]


def latest_run(output_dir: Path, name: str, *, statuses: Collection[str] | None = None,
               exclude: str | None = None, before: str | None = None) -> Path | None:
    """The most recently started run folder of config `name`, if any: only those whose
    manifest status is in `statuses` (when given), never the folder named `exclude`, and only
    those started before the ISO time `before` (when given; in the same second, those whose
    name sorts before `exclude`)."""
    best = None
    for folder, m in runs_of(output_dir, name):
        if statuses is not None and m.get("status") not in statuses:
            continue
        if folder.name == exclude:
            continue
        key = (str(m.get("created_at", "")), folder.name)
        if before is not None and key > (before, exclude or ""):
            continue
        best = folder  # runs_of is oldest first
    return best


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: value}


def changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Dotted paths whose values differ between two (manifest `request_config`) tables."""
    a, b = _flatten(before), _flatten(after)
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))


def versions() -> dict[str, str]:
    """Versions of Python and the libraries that shape results, read once per process from
    the installed packages' metadata (importlib.metadata takes 30-50 ms to import; a run
    reads them in the background while it sends, see `versions_soon`)."""
    with _versions_lock:
        if not _versions:
            _versions.update(_read_versions())
        return dict(_versions)


def versions_soon() -> None:
    """Read `versions` in a background thread (once), so the end of a run finds them read."""
    global _versions_reader
    if _versions_reader is None and not _versions:
        _versions_reader = threading.Thread(target=versions, name="read-versions", daemon=True)
        _versions_reader.start()


_versions: dict[str, str] = {}
_versions_lock = threading.Lock()
_versions_reader: threading.Thread | None = None


def _read_versions() -> dict[str, str]:
    import platform
    from importlib import metadata

    out = {"python": platform.python_version()}
    for pkg in ("pipeline", "httpx", "anyio", "polars", "pyarrow", "pydantic", "aiohttp"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out
