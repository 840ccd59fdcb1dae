"""Run settings end to end: epochs, budget, extended thinking, openai-compatible endpoints."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pipeline.cli import main
from pipeline.config import load_config
from pipeline.emulator import EmulatorConfig, EmulatorServer
from pipeline.runner import RunOptions, run
from tests.helpers import arith, demo_config

ARITH = arith(10)


def test_epochs_multiply_items_with_distinct_keys(tmp_path: Path):
    loaded = load_config(demo_config(tmp_path, datasets=[ARITH], run={"epochs": 3}))
    out = run(loaded, RunOptions(progress=False))
    df = pl.read_parquet(out.folder / "results.parquet")
    assert df.height == 10 * 2 * 3 and df["key"].n_unique() == 60
    assert sorted(df["epoch"].unique()) == [1, 2, 3]


def test_budget_stops_starting_requests(tmp_path: Path, capsys):
    ds = {**ARITH, "limit": 120}
    cfg = demo_config(tmp_path, datasets=[ds], generation={"max_tokens": 64},
                      run={"concurrency": 2, "max_cost_usd": 0.004})
    assert main(["run", str(cfg), "--run-id", "b", "--no-progress"]) == 3
    assert "max_cost_usd" in capsys.readouterr().err
    df = pl.read_parquet(tmp_path / "reports/b/results.parquet")
    assert 0 < df.height < 240
    assert df["cost_usd"].sum() <= 0.004  # never over, not even by the requests in flight


def test_extended_thinking_records_reasoning(tmp_path: Path):
    loaded = load_config(demo_config(
        tmp_path, datasets=[ARITH],
        generation={"max_tokens": 2048, "temperature": 1.0,
                    "extended_thinking": {"enabled": True, "budget_tokens": 1024,
                                          "include_reasoning": True}}))
    df = pl.read_parquet(run(loaded, RunOptions(progress=False)).folder / "results.parquet")
    assert (df["status"] == "ok").all()
    assert df["reasoning"].is_not_null().all() and (df["reasoning"].str.len_chars() > 10).all()


def test_openai_compatible_endpoint_with_v1_base_url(tmp_path: Path, monkeypatch):
    with EmulatorServer(EmulatorConfig(api_key="k-123", speed=0.0)) as srv:
        monkeypatch.setenv("MY_KEY", "k-123")
        loaded = load_config(demo_config(
            tmp_path, datasets=[ARITH],
            provider={"kind": "openai", "base_url": srv.base_url + "/v1", "key_env": "MY_KEY"}))
        out = run(loaded, RunOptions(progress=False))
        assert srv.stats.requests_total == 20
    df = pl.read_parquet(out.folder / "results.parquet")
    assert (df["status"] == "ok").all() and df["score"].mean() > 0.5


def test_bad_input_sends_nothing_to_a_live_endpoint(tmp_path: Path, monkeypatch, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "What is 1 + 1?", "answer": "2"}\n{"question": 3}\n')
    with EmulatorServer(EmulatorConfig(api_key="k", speed=0.0)) as srv:
        monkeypatch.setenv("INFERENCE_URL", srv.base_url)
        monkeypatch.setenv("INFERENCE_KEY", "k")
        cfg = demo_config(tmp_path, provider={"kind": "heroku"},
                          datasets=[{**ARITH, "path": str(bad)}])
        assert main(["run", str(cfg)]) == 2
        assert srv.stats.requests_total == 0
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"{bad}:2: missing column 'answer'" in err


def test_the_first_wave_sends_each_request_before_admitting_the_next(tmp_path: Path,
                                                                      monkeypatch):
    """An admission by a model's gate does not yield to the event loop (limits.ModelGate:
    anyio's fast_acquire), so in the first wave the sender yields itself after each request
    it starts: each goes out before the next is set up, not after all `concurrency` of
    them (which cost the first request ~40 ms at concurrency 64). Later, requests start
    as others end."""
    import httpx

    from pipeline.limits import ModelGate

    events: list[str] = []
    admit = ModelGate.admit

    async def recording_admit(self, *args, **kwargs):
        reserved = await admit(self, *args, **kwargs)
        events.append("admit")
        return reserved

    def handler(request: httpx.Request) -> httpx.Response:
        events.append("send")
        body = {"id": "x", "object": "chat.completion", "model": "local-model",
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": "Answer: 2"}}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}
        return httpx.Response(200, json=body)

    monkeypatch.setattr(ModelGate, "admit", recording_admit)
    cfg = demo_config(tmp_path, datasets=[arith(12)], models=[{"id": "local-model"}],
                      provider={"kind": "openai", "base_url": "http://127.0.0.1:9/v1"},
                      run={"concurrency": 6})
    out = run(load_config(cfg), RunOptions(progress=False, env={},
                                           transport=httpx.MockTransport(handler)))
    assert out.status == "complete" and events.count("send") == 12
    assert events[:12] == ["admit", "send"] * 6
