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
         "datasets[0].scorers[0]", "unknown scorer 'nope'"),
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


@pytest.mark.parametrize(("over", "path"), [
    ({"generation": {"temperature": "0.5"}}, "generation.temperature"),
    ({"generation": {"max_tokens": "512"}}, "generation.max_tokens"),
    ({"generation": {"stream": "yes"}}, "generation.stream"),
    ({"run": {"concurrency": 4.0}}, "run.concurrency"),
    ({"run": {"max_error_rate": "0.1"}}, "run.max_error_rate"),
])
def test_values_are_never_coerced(over, path):
    with pytest.raises(ConfigError) as info:
        parse_config(with_(**over), source="c.toml")
    assert str(info.value).startswith(f"c.toml: {path}: ")


def test_integers_are_accepted_where_floats_are_expected():
    cfg = parse_config(with_(generation={"temperature": 1}, run={"max_cost_usd": 2}))
    assert cfg.generation.temperature == 1.0 and cfg.run.max_cost_usd == 2.0


def test_every_config_error_is_reported_at_once():
    with pytest.raises(ConfigError) as info:
        parse_config(with_(generation={"temperature": "hot", "max_tokens": 0}, bogus=1,
                           run={"concurrency": 0},
                           datasets=[{"name": "d", "path": "x", "scorers": ["nope"]}]),
                     source="c.toml")
    lines = str(info.value).splitlines()
    assert len(lines) == 5, lines
    assert {line.split(": ")[1] for line in lines} == {
        "generation.temperature", "generation.max_tokens", "bogus", "run.concurrency",
        "datasets[0].scorers[0]"}
    assert all(line.startswith("c.toml: ") for line in lines)


def test_cli_prints_each_config_error_on_its_own_line(tmp_path: Path, capsys):
    from pipeline.cli import main

    p = tmp_path / "c.toml"
    p.write_text('name = "t"\n[[models]]\nid = "claude-4-5-haiku"\n[generation]\n'
                 'temperature = "0.5"\nstream = "yes"\n[[datasets]]\nname = "d"\npath = "x"\n')
    assert main(["validate", str(p)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(e.startswith("error: ") for e in err)


def test_a_utf8_bom_is_accepted_and_a_bad_byte_names_its_line(tmp_path: Path):
    p = tmp_path / "c.toml"
    p.write_bytes(b'\xef\xbb\xbfname = "t"\n[[models]]\nid = "m"\n[[datasets]]\nname = "d"\n'
                  b'path = "x"\n')
    assert load_config(p).config.name == "t"
    p.write_bytes(b'name = "t"\n\n\n# caf\xe9\n')
    with pytest.raises(ConfigError, match=r"c\.toml:4: not valid UTF-8"):
        load_config(p)


def test_merging_keeps_extended_thinking_typed():
    """A model's (or dataset's, or row's) extended_thinking used to become a dict when merged
    and crash the request body with AttributeError."""
    from pipeline.work import generation_body

    cfg = parse_config(with_(
        generation={"max_tokens": 2048},
        models=[{"id": "m", "generation": {"temperature": 1, "extended_thinking": {
            "enabled": True, "budget_tokens": 1024, "include_reasoning": True}}}]))
    merged = cfg.generation.merged(cfg.models[0].generation).merged(None)
    body = generation_body(merged.merged(cfg.generation))
    assert body["extended_thinking"] == {"enabled": True, "budget_tokens": 1024,
                                         "include_reasoning": True}
    assert body["max_tokens"] == 2048 and body["temperature"] == 1.0


def test_openai_endpoint_may_have_no_key_unless_one_is_named():
    cfg = parse_config(with_(provider={"kind": "openai", "base_url": "http://127.0.0.1:9"}))
    assert resolve_endpoint(cfg, 0, {}).api_key == ""  # a local llama.cpp needs none
    cfg = parse_config(with_(provider={"kind": "openai", "base_url": "http://127.0.0.1:9",
                                       "key_env": "MY_KEY"}))
    with pytest.raises(ConfigError, match="MY_KEY is not set"):
        resolve_endpoint(cfg, 0, {})
