"""pipeline estimate: nothing is sent, the worst case bounds a real run, the expected is close."""

from __future__ import annotations

import json
import socket
import tomllib
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from pipeline.cli import main
from pipeline.config import load_config
from pipeline.emulator.server import EmulatorServer
from pipeline.estimate import duration, estimate, one_line, render
from pipeline.limits import MARGIN
from pipeline.runner import RunOptions, run
from tests.helpers import DEMO, ROOT, demo_config

LIMIT = 8  # rows per demo dataset: 24 samples, 48 items


def small_demo(tmp: Path, limit: int = LIMIT, **changes: Any) -> Path:
    """The demo config (both models, all three datasets), first `limit` rows of each."""
    datasets = tomllib.loads(DEMO.read_text())["datasets"]
    for ds in datasets:
        ds["path"], ds["limit"] = str(ROOT / ds["path"]), limit
    return demo_config(tmp, datasets=datasets, **changes)


@pytest.fixture
def no_network(monkeypatch):
    """Any emulator start or outgoing connection fails the test."""
    def refuse(*_a: Any, **_k: Any) -> None:
        raise AssertionError("estimate must send nothing")

    monkeypatch.setattr(EmulatorServer, "__init__", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """One small demo run on the emulator, and its config."""
    tmp = tmp_path_factory.mktemp("est")
    path = small_demo(tmp)
    outcome = run(load_config(path), RunOptions(progress=False, run_id="first"))
    assert outcome.status == "complete"
    return path, outcome


def _real(folder: Path) -> dict[tuple[str, str], dict[str, float]]:
    df = pl.read_parquet(folder / "results.parquet")
    return {(r["model"], r["dataset"]): r for r in df.group_by("model", "dataset").agg(
        pl.col("cost_usd").sum(), pl.col("completion_tokens").sum(),
        pl.col("completion_tokens").mean().alias("mean"), pl.len().alias("n"),
    ).iter_rows(named=True)}


def test_estimate_sends_nothing_and_its_worst_case_bounds_the_real_run(
        tmp_path, no_network, demo_run):
    path, outcome = demo_run
    est = estimate(load_config(path))  # the emulator cannot start, no socket can connect
    real = _real(outcome.folder)
    assert est.items == outcome.planned == 2 * 3 * LIMIT
    real_total = sum(r["cost_usd"] for r in real.values())
    assert est.cost_worst_usd is not None and est.cost_worst_usd >= real_total
    for c in est.cells:  # per model and dataset too
        r = real[c.model, c.dataset]
        assert c.items == r["n"]
        assert c.cost_worst_usd >= r["cost_usd"]
        assert c.completion_tokens_worst == 512 * c.items >= r["completion_tokens"]
        # the emulator's answers, worked out in process: the very tokens it answered
        assert c.expected_source == "emulator"
        assert c.completion_tokens_expected == r["completion_tokens"]
    assert 0.9 * real_total <= est.cost_expected_usd <= 1.1 * real_total
    assert est.simulated and "SIMULATED" in render(est)


def test_a_budget_of_the_worst_case_never_stops_the_run(tmp_path):
    path = small_demo(tmp_path, limit=3)
    est = estimate(load_config(path))
    capped = small_demo(tmp_path / "capped", limit=3,
                        run={"max_cost_usd": est.cost_worst_usd * (1 + 1e-9)})
    est_capped = estimate(load_config(capped))
    assert est_capped.budget_fits is True and "fits; the budget cannot stop" in render(est_capped)
    outcome = run(load_config(capped), RunOptions(progress=False))
    assert outcome.status == "complete"
    tight = small_demo(tmp_path / "tight", limit=3, run={"max_cost_usd": est.cost_worst_usd / 4})
    assert "does not fit: the run may stop at the budget" in render(estimate(load_config(tight)))


def test_expected_from_an_earlier_run_elsewhere_than_the_emulator(tmp_path, no_network,
                                                                  demo_run):
    path, outcome = demo_run
    data = path.read_text().replace('"kind" = "local"', '"kind" = "heroku"')
    heroku = tmp_path / "heroku.toml"
    heroku.write_text(data)  # same name and output_dir: the earlier run is found
    est = estimate(load_config(heroku))  # no INFERENCE_* variables needed: nothing is sent
    real = _real(outcome.folder)
    for c in est.cells:
        assert c.expected_source == "run first"
        assert c.expected_mean == pytest.approx(real[c.model, c.dataset]["mean"])
        assert c.completion_tokens_expected == pytest.approx(real[c.model, c.dataset][
            "completion_tokens"])
    assert "run first: mean" in render(est) and not est.simulated
    # without an earlier run the expected cost is unknown, never $0
    other = tmp_path / "other.toml"
    other.write_text(data.replace(str(outcome.folder.parent), str(tmp_path / "empty")))
    est = estimate(load_config(other))
    assert est.cost_expected_usd is None and est.cost_worst_usd is not None
    assert "expected unknown" in one_line(est)


def test_rate_limits_give_the_shortest_wall_time(tmp_path, no_network):
    path = small_demo(tmp_path, provider={"kind": "heroku"})
    est = estimate(load_config(path))
    by = {p.model: p for p in est.paces}
    n = 3 * LIMIT
    assert by["claude-4-5-sonnet"].rpm == 150 and by["claude-4-5-haiku"].rpm == 200
    assert by["claude-4-5-sonnet"].min_wall_s == pytest.approx((n - 1) * 60 * MARGIN / 150)
    assert est.min_wall_s == by["claude-4-5-sonnet"].min_wall_s  # the slowest model's
    assert "at least " + duration(est.min_wall_s) in render(est)
    # the emulator enforces no limit unless asked
    local = estimate(load_config(small_demo(tmp_path / "local")))
    assert local.min_wall_s is None and "no rate limit applies" in one_line(local)


def test_unpriced_model_has_unknown_cost_not_zero(tmp_path, no_network):
    path = small_demo(tmp_path, provider={"kind": "openai", "base_url": "http://127.0.0.1:9/v1"},
                      models=[{"id": "my-local-model"}])
    path.write_text(path.read_text().replace('"max_tokens" = 512, ', ""))
    est = estimate(load_config(path))  # no max_tokens, no published cap, no price
    cell = est.cells[0]
    assert cell.cost_worst_usd is None and cell.cost_expected_usd is None
    assert cell.completion_tokens_worst is None
    assert est.cost_worst_usd is None
    text = render(est)
    assert "$0 " not in text and "unknown" in text and "no price for my-local-model" in text
    assert "no published limit for 'my-local-model'" in text


def test_run_id_estimates_what_is_left(tmp_path, no_network, demo_run):
    path, outcome = demo_run
    est = estimate(load_config(path), run_id="first")
    assert est.items == 0 and est.already_done == outcome.planned
    assert est.cost_worst_usd == 0 and est.spent_usd > 0
    more = path.read_text().replace(f'"limit" = {LIMIT}', f'"limit" = {LIMIT + 2}')
    bigger = tmp_path / "bigger.toml"
    bigger.write_text(more)
    est = estimate(load_config(bigger), run_id="first")
    assert est.items == 2 * 3 * 2 and est.remaining_of == "first"
    assert "only what run first still has to send" in render(est)


def test_cli_estimate_json_validate_line_and_bad_input(tmp_path, no_network, demo_run, capsys):
    path, _ = demo_run
    assert main(["estimate", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["totals"]["items"] == 2 * 3 * LIMIT and data["simulated"] is True
    assert {"model", "dataset", "items", "prompt_tokens", "completion_tokens_worst",
            "cost_expected_usd", "cost_worst_usd", "expected_source"} <= set(data["rows"][0])
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1].startswith(f"estimate (simulated: built-in emulator): "
                                           f"{2 * 3 * LIMIT} items")
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[[models]]\nid = 3\n')
    assert main(["estimate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    assert main(["estimate", str(path), "--run-id", "nope"]) == 2
    assert "no run folder" in capsys.readouterr().err
