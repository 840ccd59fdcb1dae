"""The run folder: where a run's files live, atomic writes, and the manifest."""

from __future__ import annotations

import json
import os
import platform
import re
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from pipeline.errors import RunStateError

MANIFEST = "manifest.json"
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def now_iso() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_run_id(name: str) -> str:
    """`<name>-<UTC timestamp>` for a fresh run."""
    return f"{name}-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}"


def check_run_id(run_id: str) -> str:
    """A run id is a plain folder name."""
    if not _RUN_ID.match(run_id):
        raise RunStateError(
            f"--run-id {run_id!r}: use letters, digits, '.', '_' and '-' only (a folder name)"
        )
    return run_id


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a temporary file in the same folder, then rename: never a half file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
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


def latest_run(output_dir: Path, name: str) -> Path | None:
    """The most recently started run folder of config `name`, if any."""
    best: tuple[str, Path] | None = None
    if not output_dir.is_dir():
        return None
    for folder in output_dir.iterdir():
        m = read_manifest(folder) if folder.is_dir() else None
        if m and m.get("name") == name:
            stamp = str(m.get("created_at", ""))
            if best is None or stamp > best[0]:
                best = (stamp, folder)
    return best[1] if best else None


def versions() -> dict[str, str]:
    """Versions of Python and the libraries that shape results."""
    out = {"python": platform.python_version()}
    for pkg in ("pipeline", "httpx", "anyio", "polars", "pyarrow", "pydantic", "aiohttp"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out
