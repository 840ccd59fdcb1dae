"""Work items and the plan: bodies merge settings in order, keys change exactly when requests
do, and the order keeps any prefix representative and paired."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from pipeline.config import LoadedConfig, parse_config
from pipeline.plan import Plan
from pipeline.work import item_key


def make_plan(tmp_path: Path, datasets: dict[str, list[dict]], models=None, **cfg) -> Plan:
    specs = []
    for name, rows in datasets.items():
        p = tmp_path / f"{name}.jsonl"
        p.write_text("".join(json.dumps(r) + "\n" for r in rows))
        specs.append({"name": name, "path": str(p), "generation": {"temperature": 0.2}})
    models = models or [{"id": "claude-4-5-haiku", "generation": {"max_tokens": 300}}]
    data = {"name": "t", "models": models, "datasets": specs, **cfg}
    return Plan(LoadedConfig(parse_config(data), tmp_path / "c.toml", data))


def test_body_merges_run_model_dataset_and_row(tmp_path: Path):
    tools = [{"type": "function", "function": {"name": "f"}}]
    plan = make_plan(
        tmp_path,
        {"d": [{"prompt": "a", "target": "1"},
               {"prompt": "b", "target": "1", "generation": {"max_tokens": 7}, "tools": tools,
                "tool_choice": "required"}]},
        generation={"max_tokens": 100, "temperature": 0.9, "top_p": 0.5, "stream": True})
    a, b = plan.items()
    assert a.body["max_tokens"] == 300 and a.body["temperature"] == 0.2
    assert a.body["top_p"] == 0.5 and a.body["stream"] is True
    assert a.body["stream_options"] == {"include_usage": True}
    assert a.body["messages"] == [{"role": "user", "content": "a"}]
    assert "tools" not in a.body
    assert b.body["max_tokens"] == 7 and b.body["tools"] == tools
    assert b.body["tool_choice"] == "required"


def test_keys_are_stable_and_change_with_the_request(tmp_path: Path):
    rows = {"d": [{"prompt": "a", "target": "1"}]}
    k1 = [i.key for i in make_plan(tmp_path, rows, run={"epochs": 2}).items()]
    k2 = [i.key for i in make_plan(tmp_path, rows, run={"epochs": 2}).items()]
    assert k1 == k2 and len(set(k1)) == 2  # deterministic; one per epoch
    k3 = [i.key for i in make_plan(tmp_path, rows, run={"epochs": 2},
                                   generation={"max_tokens": 50, "stop": ["\n\n"]}).items()]
    assert not set(k3) & set(k1)  # another request body: other items


def test_key_formula_is_unchanged(tmp_path: Path):
    """Run folders made before the plan moved out of the runner must still resume."""
    (item,) = make_plan(tmp_path, {"d": [{"prompt": "a", "target": "1"}]}).items()
    assert item.key == item_key("d", "1", "claude-4-5-haiku", 1, item.body)


def test_datasets_interleave_in_proportion_and_models_stay_together(tmp_path: Path):
    big = [{"prompt": f"b{i}", "target": "1"} for i in range(300)]
    small = [{"prompt": f"s{i}", "target": "1"} for i in range(30)]
    models = [{"id": "claude-4-5-haiku"}, {"id": "claude-4-5-sonnet"}]
    plan = make_plan(tmp_path, {"big": big, "small": small}, models=models, run={"epochs": 2})
    items = list(plan.items())
    assert len(items) == plan.total == 330 * 2 * 2
    # Every prefix holds each dataset in about its share (1 in 11 samples is 'small').
    for cut in (44, 220, 660, 1320):
        share = Counter(i.sample.dataset for i in items[:cut])
        assert abs(share["small"] / cut - 1 / 11) <= 4 / cut + 0.01, (cut, share)
    # A sample's epochs and models come together: every 4 items are one sample, complete.
    for start in range(0, len(items), 4):
        group = items[start:start + 4]
        assert len({(i.sample.dataset, i.sample.sample_id) for i in group}) == 1
        assert sorted((i.epoch, i.model) for i in group) == [
            (1, "claude-4-5-haiku"), (1, "claude-4-5-sonnet"),
            (2, "claude-4-5-haiku"), (2, "claude-4-5-sonnet")]
    # Each dataset's rows keep their file order.
    small_ids = [i.sample.sample_id for i in items if i.sample.dataset == "small"]
    assert small_ids[::4] == [str(n) for n in range(1, 31)]


def test_plan_check_counts_exactly_and_limit_caps(tmp_path: Path):
    rows = [{"prompt": f"p{i}", "target": "1"} for i in range(12)]
    p = tmp_path / "d.jsonl"
    p.write_text("".join(json.dumps(r) + "\n\n" for r in rows))  # blank lines between
    data = {"name": "t", "models": [{"id": "claude-4-5-haiku"}],
            "datasets": [{"name": "d", "path": str(p), "limit": 5}]}
    plan = Plan(LoadedConfig(parse_config(data), tmp_path / "c.toml", data))
    (info,) = plan.check()
    assert info["samples"] == 5 and plan.total == 5 and len(list(plan.items())) == 5
