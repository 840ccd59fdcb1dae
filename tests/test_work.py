"""Work items: request bodies merge settings in order; keys change exactly when requests do."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.config import parse_config
from pipeline.datasets import load_samples
from pipeline.work import plan


def setup(tmp_path: Path, rows: list[dict], **cfg):
    p = tmp_path / "d.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = parse_config({"name": "t", "models": [{"id": "claude-4-5-haiku",
                                                    "generation": {"max_tokens": 300}}],
                           "datasets": [{"name": "d", "path": str(p),
                                         "generation": {"temperature": 0.2}}], **cfg})
    samples = list(load_samples(p, dataset="d"))
    ds, m = config.datasets[0], config.models[0]
    gens = {("d", 0): config.generation.merged(m.generation).merged(ds.generation)}
    return samples, config, gens


def test_body_merges_run_model_dataset_and_row(tmp_path: Path):
    tools = [{"type": "function", "function": {"name": "f"}}]
    samples, cfg, gens = setup(
        tmp_path,
        [{"prompt": "a", "target": "1"},
         {"prompt": "b", "target": "1", "generation": {"max_tokens": 7}, "tools": tools,
          "tool_choice": "required"}],
        generation={"max_tokens": 100, "temperature": 0.9, "top_p": 0.5, "stream": True})
    a, b = plan(samples, cfg.models, gens, epochs=1)
    assert a.body["max_tokens"] == 300 and a.body["temperature"] == 0.2
    assert a.body["top_p"] == 0.5 and a.body["stream"] is True
    assert a.body["stream_options"] == {"include_usage": True}
    assert a.body["messages"] == [{"role": "user", "content": "a"}]
    assert "tools" not in a.body
    assert b.body["max_tokens"] == 7 and b.body["tools"] == tools
    assert b.body["tool_choice"] == "required"


def test_keys_are_stable_and_change_with_the_request(tmp_path: Path):
    samples, cfg, gens = setup(tmp_path, [{"prompt": "a", "target": "1"}])
    k1 = [i.key for i in plan(samples, cfg.models, gens, epochs=2)]
    k2 = [i.key for i in plan(samples, cfg.models, gens, epochs=2)]
    assert k1 == k2 and len(set(k1)) == 2  # deterministic; one per epoch
    samples2, cfg2, gens2 = setup(tmp_path, [{"prompt": "a", "target": "1"}],
                                  generation={"max_tokens": 50, "stop": ["\n\n"]})
    k3 = [i.key for i in plan(samples2, cfg2.models, gens2, epochs=2)]
    assert not set(k3) & set(k1)  # another request body: other items
