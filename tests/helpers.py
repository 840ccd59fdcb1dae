"""Helpers for tests that run whole configs."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "configs" / "demo.toml"


def arith(limit: int = 10, **over: Any) -> dict[str, Any]:
    """The demo's arithmetic dataset as a [[datasets]] table, first `limit` rows."""
    return {"name": "arith", "path": str(ROOT / "datasets/demo/arithmetic.jsonl"),
            "template": "{question}", "columns": {"target": "answer"}, "scorers": ["numeric"],
            "limit": limit, **over}


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f'"{k}" = {_toml_value(x)}' for k, x in v.items()) + " }"
    raise TypeError(type(v))


def dump_toml(data: dict[str, Any]) -> str:
    """A tiny TOML writer for test configs: top-level scalars, then tables as inline tables."""
    lines = []
    for k, v in data.items():
        if isinstance(v, list) and v and isinstance(v[0], dict):
            continue
        lines.append(f'"{k}" = {_toml_value(v)}')
    for k, v in data.items():
        if isinstance(v, list) and v and isinstance(v[0], dict):
            for item in v:
                lines.append(f"[[{k}]]")
                lines += [f'"{ik}" = {_toml_value(iv)}' for ik, iv in item.items()]
    return "\n".join(lines) + "\n"


def demo_config(tmp_path: Path, *, speed: float = 0.0, **changes: Any) -> Path:
    """The demo config as a file in tmp_path: absolute dataset paths, outputs in tmp_path."""
    data = copy.deepcopy(tomllib.loads(DEMO.read_text()))
    data["output_dir"] = str(tmp_path / "reports")
    data["provider"]["emulator"]["speed"] = speed
    for ds in data["datasets"]:
        ds["path"] = str(ROOT / ds["path"])
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key].update(value)
        else:
            data[key] = value
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "config.toml"
    path.write_text(dump_toml(data))
    return path


def offline_copy(config: dict[str, Any], tmp_path: Path, limit: int,
                 **changes: Any) -> Path:
    """A shipped config as a file in tmp_path for a quick offline run: the emulator at speed
    0, outputs in tmp_path, absolute dataset paths, each dataset's first `limit` rows."""
    data = copy.deepcopy(config)
    data["output_dir"] = str(tmp_path / "reports")
    data["provider"] = {**data.get("provider", {}), "kind": "local", "emulator": {"speed": 0}}
    for ds in data["datasets"]:
        ds["path"] = str(ROOT / ds["path"])
        ds["limit"] = limit
    data.update(changes)
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "offline.toml"
    path.write_text(dump_toml(data))
    return path


def emulator(**settings: Any) -> dict[str, Any]:
    """A `[provider]` table for the local emulator at speed 0 with these settings."""
    return {"kind": "local", "emulator": {"speed": 0.0, **settings}}


def run_until(loaded: Any, run_id: str, stop_after: int,
              shard: tuple[int, int] | None = None) -> None:
    """Run a loaded config (or one `shard` of it) in-process and cancel it once `stop_after`
    records have landed (a process stopped part-way); asserts that it was indeed cut short."""
    import anyio

    from pipeline.runner import RunOptions, run_async

    async def interrupted() -> None:
        with anyio.CancelScope() as scope:
            seen = 0

            def on_record(_rec: dict) -> None:
                nonlocal seen
                seen += 1
                if seen == stop_after:
                    scope.cancel()

            await run_async(loaded, RunOptions(run_id=run_id, shard=shard, progress=False,
                                               on_record=on_record))
        assert scope.cancelled_caught

    anyio.run(interrupted)
