"""`pipeline serve`: the emulator standalone, used by the official openai SDK."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import openai
import pytest

from tests.helpers import ROOT


@pytest.fixture(scope="module")
def served():
    env = {**os.environ, "SERVE_KEY": "inf-serve-test"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "serve", "--port", "0", "--speed", "0",
         "--key-env", "SERVE_KEY"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    line = proc.stdout.readline()
    assert "listening on http://127.0.0.1:" in line, line + proc.stderr.read()
    url = line.split("listening on ", 1)[1].split()[0]
    yield url
    proc.send_signal(signal.SIGINT)
    assert proc.wait(15) == 0
    assert "inf-serve-test" not in proc.stdout.read() + proc.stderr.read()


def test_openai_sdk_non_streaming(served):
    client = openai.OpenAI(base_url=served + "/v1", api_key="inf-serve-test", max_retries=0)
    r = client.chat.completions.create(
        model="claude-4-5-haiku", messages=[{"role": "user", "content": "What is 6 * 7?"}],
        max_tokens=200)
    assert r.choices[0].finish_reason == "stop" and r.usage.total_tokens > 0
    assert "Answer:" in r.choices[0].message.content


def test_openai_sdk_streaming(served):
    client = openai.OpenAI(base_url=served + "/v1", api_key="inf-serve-test", max_retries=0)
    stream = client.chat.completions.create(
        model="claude-4-5-sonnet", messages=[{"role": "user", "content": "What is 6 * 7?"}],
        max_tokens=200, stream=True)
    text, reasons = "", []
    for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            reasons.append(chunk.choices[0].finish_reason)
    assert "Answer:" in text and "stop" in reasons


def test_openai_sdk_wrong_key_is_401(served):
    client = openai.OpenAI(base_url=served + "/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(
            model="claude-4-5-haiku", messages=[{"role": "user", "content": "hi"}])


def test_serve_missing_key_env_is_one_line(capsys):
    from pipeline.cli import main

    assert main(["serve", "--key-env", "SURELY_NOT_SET_VAR"]) == 2  # usage
    err = capsys.readouterr().err.strip()
    assert err == "error: --key-env: environment variable SURELY_NOT_SET_VAR is not set"


@pytest.fixture
def served_config(monkeypatch):
    """Run `pipeline serve ARGS` without serving; return the EmulatorConfig it built."""
    import pipeline.emulator
    from pipeline.cli import main

    seen = []
    monkeypatch.setattr(pipeline.emulator, "serve_forever", lambda cfg, **kw: seen.append(cfg))

    def run(*args: str):
        assert main(["serve", *args]) == 0
        return seen[-1]

    return run


def test_serve_usage_option(served_config):
    assert served_config().usage == "always"
    assert served_config("--usage", "requested").usage == "requested"
    assert served_config("--usage", "never").usage == "never"


def test_serve_rate_limit_options(served_config):
    config = served_config()
    assert config.rate_limits is None and config.rate_window_s == 60.0
    assert not config.enforce_rate_limits
    config = served_config("--enforce-rate-limits", "--rpm", "5", "--tpm", "1000",
                           "--rate-window-s", "2")
    assert config.enforce_rate_limits and config.rate_limits == {"*": (5, 1000)}
    assert config.rate_window_s == 2.0


@pytest.mark.parametrize(("args", "message"), [
    (["--rpm", "5", "--tpm", "9"], "need --enforce-rate-limits"),
    (["--rate-window-s", "2"], "need --enforce-rate-limits"),
    (["--rate-window-s", "60"], "need --enforce-rate-limits"),
    (["--enforce-rate-limits", "--rpm", "5"], "--rpm and --tpm go together"),
    (["--enforce-rate-limits", "--rpm", "0", "--tpm", "9"], "positive integers"),
    (["--enforce-rate-limits", "--rate-window-s", "0"], "rate_window_s"),
    (["--rate-429", "2"], "rate_429"),
])
def test_serve_bad_options_are_one_line(capsys, monkeypatch, args, message):
    import pipeline.emulator
    from pipeline.cli import main

    monkeypatch.setattr(pipeline.emulator, "serve_forever", None)  # never serves
    assert main(["serve", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err


def test_serve_other_servers_options(served_config):
    config = served_config()
    assert config.response_model is None and not config.accept_any_model
    config = served_config("--response-model", "llama-3.1-8b", "--accept-any-model")
    assert config.response_model == "llama-3.1-8b" and config.accept_any_model


def test_serve_like_llama_cpp_for_the_openai_sdk():
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "serve", "--port", "0", "--speed", "0",
         "--response-model", "qwen2.5-7b-instruct-q4_k_m.gguf", "--accept-any-model",
         "--usage", "never"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = proc.stdout.readline()
        assert "listening on http://127.0.0.1:" in line, line + proc.stderr.read()
        url = line.split("listening on ", 1)[1].split()[0]
        client = openai.OpenAI(base_url=url + "/v1", api_key="sk-no-key", max_retries=0)
        r = client.chat.completions.create(
            model="local", messages=[{"role": "user", "content": "What is 6 * 7?"}])
        assert r.model == "qwen2.5-7b-instruct-q4_k_m.gguf" and r.usage is None
        assert "Answer:" in r.choices[0].message.content
        client.close()
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 0
