"""BFCL's parallel, parallel_multiple and irrelevance categories: the converted files against
their raw sources, their targets against the scorers, configs/bfcl.toml on the emulator and
(validated) on Heroku, and the emulator's several-call and no-call answers."""

from __future__ import annotations

import copy
import json
import tomllib
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from pipeline.cli import main
from pipeline.config import load_config
from pipeline.emulator.solvers import solve
from pipeline.emulator.validation import parse_request
from pipeline.runner import RunOptions, run
from pipeline.scoring import Output, get_scorer
from tests.helpers import ROOT, dump_toml, offline_copy
from tests.test_benchmarks import _first, _wrong_value

CONFIG = ROOT / "configs" / "bfcl.toml"
RAW = ROOT.parent / "shared" / "datasets-raw" / "bfcl"
BFCL = ROOT / "datasets" / "bfcl"
RAW_CONFIG = tomllib.loads(CONFIG.read_text())
DATASETS = {d["name"]: d for d in RAW_CONFIG["datasets"]}
CATEGORIES = ("simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance")
SETS = ("parallel", "parallel_multiple")


def rows(category: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (BFCL / f"{category}.jsonl").open(encoding="utf-8")]


def raw_lines(rel: str) -> list[dict[str, Any]]:
    text = (RAW / rel).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def tool_calls(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"id": f"call_{i}", "type": "function", "function": {
        "name": c["name"], "arguments": json.dumps(c["arguments"])}} for i, c in enumerate(calls)]


def params(row: dict[str, Any], name: str) -> dict[str, Any]:
    return next(t for t in row["tools"] if t["function"]["name"] == name)["function"]["parameters"]


def perfect(row: dict[str, Any]) -> list[dict[str, Any]]:
    """The expected calls with their first acceptable values (optional ones left out)."""
    return [{"name": t["name"], "arguments": _first(t["arguments"], params(row, t["name"]))}
            for t in row["target"]]


# ------------------------------------------------------------------------- shipped data

@pytest.mark.skipif(not RAW.is_dir(), reason=f"raw BFCL copy not found at {RAW}")
@pytest.mark.parametrize("category", CATEGORIES)
def test_row_counts_and_ids_match_the_raw_sources(category: str) -> None:
    questions = raw_lines(f"BFCL_v4_{category}.json")
    shipped = rows(category)
    assert len(shipped) == len(questions)
    assert [r["id"] for r in shipped] == [q["id"] for q in questions]
    answers = RAW / "possible_answer" / f"BFCL_v4_{category}.json"
    if category == "irrelevance":
        assert not answers.exists()  # upstream has none: the right answer is no call
        assert all(r["target"] == [] for r in shipped)
        return
    truth = {a["id"]: a["ground_truth"] for a in raw_lines(answers.relative_to(RAW).as_posix())}
    assert len(truth) == len(shipped)
    for r in shipped:
        expected = r["target"] if isinstance(r["target"], list) else [r["target"]]
        upstream = truth[r["id"]]
        assert len(expected) == len(upstream), r["id"]
        for mine, theirs in zip(expected, upstream, strict=True):
            ((name, args),) = theirs.items()
            assert mine == {"name": name.replace(".", "_"), "arguments": args}, r["id"]


def test_expected_row_counts_and_the_source_md_table() -> None:
    counts = {"simple_python": 400, "multiple": 200, "parallel": 200, "parallel_multiple": 200,
              "irrelevance": 240}
    source = (BFCL / "SOURCE.md").read_text(encoding="utf-8")
    for category, n in counts.items():
        assert len(rows(category)) == n
        assert f"| `{category}.jsonl` | {n} |" in source
    assert "`irrelevance.jsonl`: 240 rows, each expecting no call." in source


@pytest.mark.parametrize("category", SETS)
def test_set_targets_name_offered_tools_and_list_acceptable_values(category: str) -> None:
    sizes = set()
    for r in rows(category):
        offered = {t["function"]["name"] for t in r["tools"]}
        assert isinstance(r["target"], list) and len(r["target"]) >= 2, r["id"]
        sizes.add(len(r["target"]))
        for call in r["target"]:
            assert call["name"] in offered, r["id"]
            assert all(isinstance(v, list) and v for v in call["arguments"].values())
        if category == "parallel":
            assert len(r["tools"]) == 1
        assert r["metadata"]["category"] == category
    assert max(sizes) >= 5


# ------------------------------------------------------------------ targets vs scorers

@pytest.mark.parametrize("category", SETS)
def test_every_set_row_scores_right_and_wrong_answers(category: str) -> None:
    scorer = get_scorer("tool_call_set")
    for r in rows(category):
        def s(calls: list[dict[str, Any]], r: dict[str, Any] = r) -> float:
            return scorer(Output("", tool_calls(calls), r["target"])).value

        calls = perfect(r)
        assert s(calls) == 1.0, r["id"]
        assert s(calls[::-1]) == 1.0, r["id"]                    # order does not matter
        assert s(calls[1:]) == 0.0, r["id"]                      # one left out
        assert s(calls + calls[:1]) == 0.0, r["id"]              # one made twice
        assert s([]) == 0.0, r["id"]
        first = calls[0]
        renamed = {**first, "name": first["name"] + "_x"}
        assert s([renamed, *calls[1:]]) == 0.0, r["id"]
        required = [k for k, alts in r["target"][0]["arguments"].items() if "" not in alts]
        bad = _wrong_value(r["target"][0]["arguments"][required[0]]) if required else None
        if bad is not None:
            changed = {**first, "arguments": {**first["arguments"], required[0]: bad}}
            assert s([changed, *calls[1:]]) == 0.0, r["id"]


def test_irrelevance_rows_score_no_call_right_and_any_call_wrong() -> None:
    none, as_set = get_scorer("no_tool_call"), get_scorer("tool_call_set")
    for r in rows("irrelevance"):
        fn = r["tools"][0]["function"]
        declined = Output("None of the tools can do this.", [], r["target"])
        called = Output("", tool_calls([{"name": fn["name"], "arguments": {}}]), r["target"])
        assert none(declined).value == as_set(declined).value == 1.0
        assert none(called).value == as_set(called).value == 0.0
        assert fn["name"] in none(called).explanation


# ------------------------------------------------------------------------------ config

def test_config_names_every_category_with_its_scorer() -> None:
    scorers = {Path(d["path"]).stem: d["scorers"] for d in DATASETS.values()}
    assert scorers == {
        "simple_python": ["tool_call_any", "finish"], "multiple": ["tool_call_any", "finish"],
        "parallel": ["tool_call_set", "finish"], "parallel_multiple": ["tool_call_set", "finish"],
        "irrelevance": ["no_tool_call", "finish"],
    }
    assert all("limit" not in d for d in DATASETS.values())
    assert "once" not in DATASETS["bfcl_irrelevance"]["system"]  # no hint to call anyway


def test_config_validates_offline_and_for_heroku(monkeypatch, capsys, tmp_path) -> None:
    monkeypatch.chdir(ROOT)
    assert main(["validate", "configs/bfcl.toml"]) == 0
    out = capsys.readouterr().out
    assert "ok: 2480 work items for 2 models" in out and "simulated" in out
    heroku = copy.deepcopy(RAW_CONFIG)
    heroku["provider"] = {"kind": "heroku"}
    for ds in heroku["datasets"]:
        ds["path"] = str(ROOT / ds["path"])
    path = tmp_path / "bfcl-heroku.toml"
    path.write_text(dump_toml(heroku))
    monkeypatch.delenv("INFERENCE_URL", raising=False)
    assert main(["validate", str(path)]) == 2
    assert "INFERENCE_URL is not set" in capsys.readouterr().err
    monkeypatch.setenv("INFERENCE_URL", "https://us.inference.heroku.com")
    monkeypatch.setenv("INFERENCE_KEY", "inf-test-key-not-used")
    assert main(["validate", str(path)]) == 0
    assert "ok: 2480 work items for 2 models" in capsys.readouterr().out


def test_config_runs_end_to_end_on_the_emulator(tmp_path) -> None:
    path = offline_copy(RAW_CONFIG, tmp_path, 12)
    outcome = run(load_config(path), RunOptions(progress=False))
    n = 12 * len(DATASETS) * 2
    assert outcome.status == "complete" and outcome.sent == n and outcome.errors == 0
    df = pl.read_parquet(outcome.folder / "results.parquet")
    assert df.height == n and df["score"].is_between(0, 1).all()
    calls = df.with_columns(n_calls=pl.col("tool_calls").map_elements(
        lambda t: len(json.loads(t)), return_dtype=pl.Int64).fill_null(0))
    by = {d: g for (d,), g in calls.group_by("dataset")}
    assert by["bfcl_parallel"]["n_calls"].max() >= 3                 # several calls at once
    assert (by["bfcl_irrelevance"]["n_calls"] == 0).sum() >= 6       # often none
    assert (by["bfcl_irrelevance"]["score_no_tool_call"]
            == (by["bfcl_irrelevance"]["n_calls"] == 0).cast(pl.Float64)).all()
    assert by["bfcl_parallel"]["score_tool_call_set"].sum() >= 1     # some exactly right
    assert df["score_finish"].drop_nulls().min() == 1.0               # nothing cut at 512


# ---------------------------------------------------------------------------- emulator

def _tool(name: str, description: str, props: dict[str, Any], required: list[str]
          ) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "description": description,
            "parameters": {"type": "object", "properties": props, "required": required}}}


FACTORS = _tool("number_prime_factors", "Find the prime factors of a number.",
                {"number": {"type": "integer", "description": "The number."}}, ["number"])
BMI = _tool("calculate_bmi", "Calculate the body mass index of a person.",
            {"height": {"type": "number", "description": "Height in feet."},
             "weight": {"type": "integer", "description": "Weight in kg."}},
            ["height", "weight"])
GCD = _tool("math_gcd", "Greatest common divisor of two integers.",
            {"num1": {"type": "integer"}, "num2": {"type": "integer"}}, ["num1", "num2"])
LCM = _tool("math_lcm", "Least common multiple of two integers.",
            {"num1": {"type": "integer"}, "num2": {"type": "integer"}}, ["num1", "num2"])
LAWSUITS = _tool("lawsuit_lookup", "List the lawsuits filed against a company in a year.",
                 {"company_name": {"type": "string", "description": "The company."},
                  "year": {"type": "integer", "description": "The year filed."}},
                 ["company_name", "year"])


def answer(prompt: str, tools: list[dict[str, Any]], accuracy: float = 1.0,
           model: str = "claude-4-5-sonnet") -> list[tuple[str, dict[str, Any]]]:
    body = {"model": model, "messages": [{"role": "user", "content": prompt}], "tools": tools}
    solution = solve(parse_request(body), accuracy)
    return [(c["function"]["name"], json.loads(c["function"]["arguments"]))
            for c in solution.tool_calls]


@pytest.mark.parametrize(("prompt", "tools", "calls"), [
    ("What are the prime factors of the numbers 45, 100, and 150?", [FACTORS],
     [("number_prime_factors", {"number": n}) for n in (45, 100, 150)]),
    ("Calculate the body mass index for a person who is 6 feet tall and weighs 80 kg, also "
     "for a person who is 5.6 feet and weighs 60 kg.", [BMI],
     [("calculate_bmi", {"height": 6, "weight": 80}),
      ("calculate_bmi", {"height": 5.6, "weight": 60})]),
    ("List all cases against a company named 'Dara Inc' filed in 2019. Also list cases filed "
     "in the year 2018 against the same company.", [LAWSUITS],   # the second takes the name
     [("lawsuit_lookup", {"company_name": "Dara Inc", "year": 2019}),
      ("lawsuit_lookup", {"company_name": "Dara Inc", "year": 2018})]),
    ("Find the greatest common divisor of 96 and 128, then the least common multiple of 15 "
     "and 25.", [GCD, LCM],
     [("math_gcd", {"num1": 96, "num2": 128}), ("math_lcm", {"num1": 15, "num2": 25})]),
    ("Find the greatest common divisor of 96 and 128.", [GCD, LCM],      # one thing: one call
     [("math_gcd", {"num1": 96, "num2": 128})]),
    ("Find the greatest common divisor of numbers between 10 and 20.", [GCD],  # a range
     [("math_gcd", {"num1": 10, "num2": 20})]),
])
def test_emulator_makes_several_calls_when_asked_for_several_things(prompt, tools, calls):
    assert answer(prompt, tools) == calls


def test_emulator_declines_a_tool_that_does_not_fit_and_calls_one_that_does():
    body_mass = _tool("determine_body_mass_index", "Calculate the body mass index from weight "
                      "and height.", BMI["function"]["parameters"]["properties"],
                      ["height", "weight"])
    circle = "Calculate the area of a circle with a radius of 3 meters."  # shares "calculate"
    assert answer(circle, [body_mass]) == []
    assert answer(circle, [body_mass], accuracy=0.0)[0][0] == "determine_body_mass_index"
    weather = "What is the weather like in Paris?"             # no word in common at all
    assert answer(weather, [GCD]) == []
    assert answer(weather, [GCD], accuracy=0.0)[0][0] == "math_gcd"
    fits = "What is the body mass index of someone 6 feet tall weighing 80 kg?"
    assert answer(fits, [BMI]) == [("calculate_bmi", {"height": 6, "weight": 80})]


def test_a_wrong_draw_leaves_out_or_spoils_one_of_several_calls():
    prompt = "What are the prime factors of the numbers 45, 100, and 150?"
    right = answer(prompt, [FACTORS])
    seen = set()
    for model in ("claude-4-5-sonnet", "claude-4-5-haiku", "nova-lite", "gpt-oss-120b"):
        wrong = answer(prompt, [FACTORS], accuracy=0.0, model=model)
        assert wrong != right
        seen.add(len(wrong))
        assert len(wrong) in (2, 3) and sum(c in right for c in wrong) == 2
    assert answer(prompt, [FACTORS]) == right                   # deterministic


def test_emulator_scores_follow_the_simulated_accuracy_on_the_shipped_rows():
    """A perfect model beats a middling one beats an always-wrong one, per new category; an
    always-wrong model calls a tool on every irrelevance row."""
    scorer = {"parallel": "tool_call_set", "parallel_multiple": "tool_call_set",
              "irrelevance": "no_tool_call"}
    for category, name in scorer.items():
        fn = get_scorer(name)
        got = {}
        for accuracy in (1.0, 0.6, 0.0):
            total = 0.0
            for r in rows(category)[:120]:
                body = {"model": "claude-4-5-sonnet", "messages": r["messages"],
                        "tools": r["tools"]}
                s = solve(parse_request(body), accuracy)
                total += fn(Output(s.content, s.tool_calls, r["target"])).value
            got[accuracy] = total
        assert got[1.0] > got[0.6] > got[0.0], (category, got)
        if category == "irrelevance":
            assert got[0.0] == 0 and got[1.0] >= 0.6 * 120
