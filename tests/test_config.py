"""Config validation: unknown keys and out-of-range values name their field path."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import load_config, parse_config, resolve_endpoint
from pipeline.errors import ConfigError

BASE = {
    "name": "t",
    "models": [{"id": "claude-4-5-haiku"}],
    "datasets": [{"name": "d", "path": "x.jsonl"}],
}


def with_(**over):
    data = {k: (list(v) if isinstance(v, list) else v) for k, v in BASE.items()}
    data.update(over)
    return data


def test_minimal_config_defaults():
    cfg = parse_config(BASE)
    assert cfg.provider.kind == "local"
    assert cfg.output_dir == "reports"
    assert cfg.run.concurrency == 16
    assert cfg.datasets[0].scorer_specs()[0].name == "exact"


@pytest.mark.parametrize(
    ("data", "path", "words"),
    [
        (with_(bogus=1), "bogus", "unknown key"),
        (with_(generation={"temperature": 1.5}), "generation.temperature", "less than or equal"),
        (with_(generation={"top_p": -0.1}), "generation.top_p", "greater than or equal"),
        (with_(generation={"max_tokens": 0}), "generation.max_tokens", "greater than"),
        (with_(generation={"tool_choice": "sometimes"}), "generation.tool_choice", "must be"),
        (with_(models=[{"id": "m", "generation": {"temprature": 0}}]),
         "models[0].generation.temprature", "unknown key"),
        (with_(models=[]), "models", "at least 1"),
        (with_(datasets=[{"name": "d", "path": "x", "scorers": ["nope"]}]),
         "datasets[0].scorers", "unknown scorer 'nope'"),
        (with_(datasets=[{"name": "d", "path": "x", "columns": {"answer": "y"}}]),
         "datasets[0].columns", "unknown field 'answer'"),
        (with_(run={"concurrency": 0}), "run.concurrency", "greater than or equal"),
        (with_(provider={"kind": "openai"}), "provider", "needs base_url"),
        (with_(provider={"kind": "azure"}), "provider.kind", "heroku"),
        (with_(name="bad name!"), "name", "pattern"),
        (with_(models=[{"id": "a"}, {"id": "a"}]), "(top level)", "duplicate name 'a'"),
        (with_(generation={"extended_thinking": {"budget_tokens": 10}}),
         "generation.extended_thinking.budget_tokens", "greater than or equal to 1024"),
    ],
)
def test_bad_values_name_the_field(data, path, words):
    with pytest.raises(ConfigError) as info:
        parse_config(data, source="c.toml")
    msg = str(info.value)
    assert msg.startswith(f"c.toml: {path}:"), msg
    assert words in msg
    assert "\n" not in msg


def test_toml_syntax_error_names_the_line(tmp_path: Path):
    p = tmp_path / "c.toml"
    p.write_text('name = "x"\n[provider\nkind = "local"\n')
    with pytest.raises(ConfigError, match=r"c\.toml:2: invalid TOML"):
        load_config(p)


def test_missing_file(tmp_path: Path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")


def test_merge_order_later_levels_win():
    cfg = parse_config(with_(
        generation={"max_tokens": 100, "temperature": 0.5},
        models=[{"id": "m", "generation": {"max_tokens": 200}}],
    ))
    merged = cfg.generation.merged(cfg.models[0].generation)
    assert merged.max_tokens == 200 and merged.temperature == 0.5


def test_heroku_endpoint_from_env_and_per_model_names():
    cfg = parse_config(with_(
        provider={"kind": "heroku"},
        models=[{"id": "claude-4-5-haiku"},
                {"id": "claude-4-5-sonnet", "key_env": "CLAUDE_SONNET_KEY",
                 "url_env": "CLAUDE_SONNET_URL"}],
    ))
    env = {"INFERENCE_URL": "https://us.inference.heroku.com", "INFERENCE_KEY": "inf-a",
           "CLAUDE_SONNET_URL": "https://eu.inference.heroku.com", "CLAUDE_SONNET_KEY": "inf-b"}
    a, b = resolve_endpoint(cfg, 0, env), resolve_endpoint(cfg, 1, env)
    assert (a.base_url, a.api_key) == ("https://us.inference.heroku.com", "inf-a")
    assert (b.base_url, b.api_key) == ("https://eu.inference.heroku.com", "inf-b")


def test_missing_key_env_is_a_clear_error_without_values():
    cfg = parse_config(with_(provider={"kind": "heroku"}))
    with pytest.raises(ConfigError) as info:
        resolve_endpoint(cfg, 0, {"INFERENCE_URL": "https://us.inference.heroku.com"})
    assert "INFERENCE_KEY is not set" in str(info.value)


def test_openai_kind_uses_base_url_and_prompt_caching_header():
    cfg = parse_config(with_(provider={"kind": "openai", "base_url": "http://127.0.0.1:9/v1",
                                       "key_env": "MY_KEY"}))
    r = resolve_endpoint(cfg, 0, {"MY_KEY": "k"})
    assert r.base_url == "http://127.0.0.1:9/v1" and r.api_key == "k"
    cfg = parse_config(with_(provider={"kind": "heroku", "prompt_caching": False}))
    r = resolve_endpoint(cfg, 0, {"INFERENCE_URL": "https://x", "INFERENCE_KEY": "k"})
    assert r.headers == {"X-Heroku-Prompt-Caching": "false"}
