"""Rebuild a run's tables and reports from its journal, without sending anything.

For a run whose process died before the end, or to score again with other scorers
(`--config` with the same datasets and models, different `scorers`).
"""

from __future__ import annotations

import sys
from pathlib import Path

from pipeline.config import LoadedConfig, load_config, parse_config
from pipeline.errors import RunStateError
from pipeline.finalize import finalize
from pipeline.journal import latest_by_key, read_journal
from pipeline.runfolder import MANIFEST, RunLock, read_manifest


def rescore(folder: Path, config: str | None = None) -> str:
    """Score the journal of `folder` again and rewrite its outputs; returns the run status."""
    if not (folder / MANIFEST).exists() or not (folder / "journal.jsonl").exists():
        raise RunStateError(f"{folder}: not a run folder (no {MANIFEST} and journal.jsonl)")
    with RunLock(folder):  # a run in progress is not rescored under its feet
        return _rescore(folder, config)


def _rescore(folder: Path, config: str | None) -> str:
    from pipeline.runner import prepare

    manifest = read_manifest(folder)
    assert manifest is not None
    if config is not None:
        loaded = load_config(config)
    else:
        source = f"{folder / MANIFEST}: config"
        loaded = LoadedConfig(parse_config(manifest["config"], source=source),
                              Path(manifest["config_path"]), manifest["config"])
    the_plan = prepare(loaded)
    journal = latest_by_key(read_journal(folder))
    matched = sum(item.key in journal for item in the_plan.items)
    if matched == 0:
        raise RunStateError(
            f"{folder}: none of the config's {len(the_plan.items)} requests is in the journal "
            "(its models, generation settings or datasets differ from the run's); rescoring "
            "needs the same requests, only the scorers may change"
        )
    if matched < len(the_plan.items):
        print(f"warning: {len(the_plan.items) - matched} of {len(the_plan.items)} planned "
              "requests have no answer in the journal", file=sys.stderr)
    before = {d["name"]: d.get("sha256") for d in manifest.get("datasets", [])}
    for d in the_plan.datasets:
        if before.get(d["name"]) not in (None, d["sha256"]):
            print(f"warning: dataset {d['name']!r} changed since the run ({d['path']}); "
                  "rows whose requests changed have no results", file=sys.stderr)
    status = manifest.get("send_status") or manifest.get("status", "complete")
    if status in ("running", "failed"):  # the process died before or while finalising
        status = "interrupted"
    if config is not None:
        manifest = {**manifest, "scored_with": str(config)}
    return finalize(folder, the_plan, manifest.get("run_id", folder.name), manifest, status,
                    journal)
