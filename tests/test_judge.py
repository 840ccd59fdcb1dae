"""The LLM judge: rubric and grades, config errors, a judged run on the emulator (verdicts per
row, judge cost in the totals, honest offline judging), resuming without paying twice,
`pipeline score`, ungraded answers left out of accuracy, and no key anywhere."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from pipeline.cli import main
from pipeline.config import load_config
from pipeline.emulator import EmulatorConfig, EmulatorServer
from pipeline.errors import ConfigError
from pipeline.journal import iter_journal
from pipeline.runner import RunOptions, run
from pipeline.scoring import judge as rubric
from pipeline.scoring.options import JudgeOptions
from tests.helpers import arith, demo_config

JUDGE = {"name": "judge", "model": "claude-4-5-sonnet"}
MODELS = [{"id": "claude-4-5-sonnet"}, {"id": "claude-4-5-haiku"}]


def _options(**over) -> dict:
    return JudgeOptions.model_validate({"model": "m", **over}).model_dump()


def _config(tmp_path: Path, scorers: list, n: int = 12, **changes) -> Path:
    return demo_config(tmp_path, datasets=[arith(n, scorers=scorers)], models=MODELS,
                       **changes)


def _judge_lines(folder: Path) -> list[dict]:
    return [rec for rec, _ in iter_journal(folder / "judge.jsonl")]


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


# -- the rubric, the key and the grade ------------------------------------------------------

def test_the_rubric_shows_question_reference_and_answer():
    opts = _options()
    record = {"output_text": "12 + 3 = 15\nAnswer: 15", "target": "15", "choices": None}
    messages = [{"role": "system", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "What is 12 + 3?"}]}]
    (asked,) = rubric.render(opts, messages, record)
    text = asked["content"]
    assert "[Question]\nWhat is 12 + 3?\n" in text
    assert "[Reference answer]\n15\n" in text and "[Answer to grade]\n12 + 3 = 15" in text
    many = rubric.render(_options(rubric="{answer} / {target} / {choices} / {prompt}",
                                  system="You grade."), messages,
                         {"output_text": "", "tool_calls": [{"name": "f", "arguments": {}}],
                          "target": ["a", "b"], "choices": ["x", "y"]})
    assert many[0] == {"role": "system", "content": "You grade."}
    assert many[1]["content"] == ('[tool calls] [{"name": "f", "arguments": {}}] / '
                                  "any of: a | b / A. x\nB. y / system: Be brief.\n\n"
                                  "user: What is 12 + 3?")


def test_a_judge_request_is_keyed_by_the_answer_and_what_shapes_the_request():
    opts = _options()
    key = rubric.judge_key("k1", "claude-4-5-sonnet", opts)
    assert key == rubric.judge_key("k1", "claude-4-5-sonnet", dict(opts))
    assert key != rubric.judge_key("k2", "claude-4-5-sonnet", opts)
    assert key != rubric.judge_key("k1", "claude-4-5-haiku", opts)
    assert key != rubric.judge_key("k1", "claude-4-5-sonnet", _options(rubric="{answer}?"))
    assert key != rubric.judge_key("k1", "claude-4-5-sonnet", _options(max_tokens=100))
    # reading the grade is not part of the request: no new request for another mapping
    assert key == rubric.judge_key("k1", "claude-4-5-sonnet", _options(grades={"C": 1.0}))


@pytest.mark.parametrize(("reply", "expected"), [
    ("Right.\nGRADE: C", (1.0, "C")),
    ("Partly.\nGRADE: P", (0.5, "P")),
    ("It says GRADE: C is wrong here.\nGRADE: I", (0.0, "I")),  # the last one counts
    ("grade: c", (None, None)),  # the pattern is case-sensitive: no grade
    ("GRADE: **C**", (1.0, "C")),  # markdown emphasis
    ("GRADE: c", (1.0, "c")),  # an unknown key is matched case-insensitively
    ("GRADE: X", (None, "X")),  # a grade the mapping does not know: no score
    ("", (None, None)),
])
def test_grades_are_read_from_the_last_match(reply, expected):
    assert rubric.grade(reply, _options()) == expected


def test_a_numeric_grade_pattern_and_mapping():
    opts = _options(grade_pattern=r"Score: ([0-9]+)/5", grades={str(i): i / 5 for i in range(6)})
    assert rubric.grade("Clear and correct. Score: 4/5", opts) == (0.8, "4")


# -- config errors ----------------------------------------------------------------------------

def _problem(cfg: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(cfg)
    return str(info.value)


def test_judge_options_are_validated_with_field_paths(tmp_path: Path):
    where = "datasets[0].scorers[0]"
    cases = [
        ({"name": "judge"}, f"{where}.model: required key is missing"),
        ({**JUDGE, "rubric": "Grade this."}, "put {answer} in it"),
        ({**JUDGE, "rubric": "{answer} {reference}"}, "unknown placeholder {reference}"),
        ({**JUDGE, "grade_pattern": "GRADE: C"}, f"{where}.grade_pattern: "),
        ({**JUDGE, "grades": {"C": 2.0}}, "grade 'C': 2.0 is not a score from 0 to 1"),
        ({**JUDGE, "temprature": 0}, f"{where}.temprature: unknown option of scorer 'judge'"),
        ({**JUDGE, "rubric": 'Reply {"grade": "C"} for {answer}'},
         "must be a placeholder (letters, digits, _); a rubric's placeholders are"),
    ]
    for i, (spec, expected) in enumerate(cases):
        assert expected in _problem(_config(tmp_path / str(i), [spec])), spec


def test_a_judge_the_emulator_does_not_serve_is_refused_before_sending(tmp_path: Path, capsys):
    cfg = _config(tmp_path, [{"name": "judge", "model": "gpt-9"}])
    assert main(["run", str(cfg), "-q"]) == 2
    err = capsys.readouterr().err
    assert "datasets[0].scorers[0].model" in err and "no model 'gpt-9'" in err
    assert not list((tmp_path / "reports").glob("*/journal.jsonl"))  # nothing was paid for
    assert main(["validate", str(cfg)]) == 2


def test_a_missing_judge_key_is_refused_before_any_answer_is_paid_for(tmp_path: Path, capsys,
                                                                      monkeypatch):
    with EmulatorServer(EmulatorConfig(api_key="inf-key-12345678", speed=0.0)) as srv:
        monkeypatch.setenv("INFERENCE_URL", srv.base_url)
        monkeypatch.setenv("INFERENCE_KEY", "inf-key-12345678")
        monkeypatch.delenv("JUDGE_KEY", raising=False)
        cfg = demo_config(tmp_path, datasets=[arith(3, scorers=[{
            "name": "judge", "model": "claude-4-5-sonnet"}])], provider={"kind": "heroku"},
            models=[{"id": "claude-4-5-haiku"},
                    {"id": "claude-4-5-sonnet", "label": "s", "key_env": "JUDGE_KEY"}])
        assert main(["run", str(cfg), "-q"]) == 2
        err = capsys.readouterr().err
        assert "JUDGE_KEY is not set" in err and "models[1].key_env" in err
        assert srv.stats.requests_total == 0


# -- a judged run -----------------------------------------------------------------------------

def test_a_judged_run_stores_verdicts_and_counts_the_judge_cost(tmp_path: Path):
    cfg = _config(tmp_path, [JUDGE, "numeric"], n=40)
    out = run(load_config(cfg), RunOptions(progress=False))
    assert out.status == "complete"
    judged = _judge_lines(out.folder)
    assert len(judged) == 80 and {r["scorer"] for r in judged} == {"judge"}
    assert len({r["key"] for r in judged}) == 80
    assert {r["judged_model"] for r in judged} == {"claude-4-5-sonnet", "claude-4-5-haiku"}
    assert out.emulator_stats["requests_total"] == 160  # 80 answers, 80 verdicts, none twice
    res = pl.read_parquet(out.folder / "results.parquet")
    assert res["score_judge"].null_count() == 0
    assert set(res["answer_judge"]) <= {"C", "I"}
    assert res["explanation_judge"].str.contains("reference").all()
    assert (res["score"] == res["score_judge"]).all()  # the first scorer is the accuracy
    # The emulator judges honestly, at sonnet's judging accuracy (0.965): nearly always the
    # numeric scorer's verdict.
    agree = (res["score_judge"] == res["score_numeric"]).mean()
    assert 0.85 <= agree < 1.0 or agree == 1.0
    totals = _manifest(out.folder)["totals"]
    judge_cost = sum(r["cost_usd"] for r in judged)
    answers_cost = float(res["cost_usd"].sum())
    assert totals["judge_spent_usd"] == pytest.approx(judge_cost)
    assert totals["spent_usd"] == pytest.approx(answers_cost + judge_cost)
    assert totals["cost_usd"] == pytest.approx(answers_cost)  # no model pays for the judge
    summary = pl.read_parquet(out.folder / "summary.parquet")
    assert summary["cost_usd"].sum() == pytest.approx(answers_cost)
    judge = _manifest(out.folder)["judge"]
    assert judge["requests"] == 80 and judge["pending"] == 0
    assert judge["scorers"] == [{"dataset": "arith", "scorer": "judge",
                                 "model": "claude-4-5-sonnet", "answers": 80, "graded": 80,
                                 "pending": 0, "errors": 0, "no_grade": 0, "cut": 0,
                                 "agrees_with": "numeric", "agreement": pytest.approx(agree)}]
    md = (out.folder / "report.md").read_text()
    assert "## Judge" in md and "(of which $" in md and "on the judge)" in md
    assert f"| {100 * agree:.1f}% with numeric |" in md


def test_an_interrupted_judging_resumes_without_sending_a_judge_request_twice(tmp_path: Path):
    cfg = load_config(_config(tmp_path, [JUDGE], n=30))
    first = run(cfg, RunOptions(progress=False, run_id="j"))
    lines = (first.folder / "judge.jsonl").read_text().splitlines(keepends=True)
    assert len(lines) == 60
    # The process died after 25 judge requests (and one torn line): judge.jsonl keeps them.
    (first.folder / "judge.jsonl").write_text("".join(lines[:25]) + lines[25][:40])
    again = run(cfg, RunOptions(progress=False, run_id="j"))
    assert again.sent == 0  # every answer was there
    assert again.emulator_stats["requests_total"] == 35  # only the verdicts missing
    keys = [r["key"] for r in _judge_lines(again.folder)]
    assert len(keys) == 60 == len(set(keys))
    res = pl.read_parquet(again.folder / "results.parquet")
    assert res["score_judge"].null_count() == 0 and again.status == "complete"
    third = run(cfg, RunOptions(progress=False, run_id="j"))
    assert third.emulator_stats["requests_total"] == 0


def test_a_budget_spent_while_judging_stops_the_run_and_a_resume_finishes(tmp_path: Path,
                                                                           capsys):
    cfg = _config(tmp_path, [JUDGE], n=30, run={"max_cost_usd": 0.03},
                  generation={"max_tokens": 256})
    out = run(load_config(cfg), RunOptions(progress=False, run_id="b"))
    m = _manifest(out.folder)
    assert out.sent == 60 and out.status == "budget_exhausted", m["totals"]
    assert 0 < m["judge"]["pending"] < 60
    assert m["totals"]["spent_usd"] <= 0.03
    res = pl.read_parquet(out.folder / "results.parquet")
    assert res["explanation_judge"].str.starts_with("not judged yet").sum() == \
        m["judge"]["pending"]
    summary = pl.read_parquet(out.folder / "summary.parquet")
    # answers not judged are left out of accuracy, not counted wrong
    graded = res.filter(pl.col("score_judge").is_not_null())
    for r in summary.iter_rows(named=True):
        mine = graded.filter(pl.col("model") == r["model"])
        assert r["scored_samples"] == mine.height and r["samples"] == 30
        assert r["accuracy"] == pytest.approx(mine["score_judge"].mean())
    # a budget already spent: nothing more is sent, and the hint keeps the --config
    spent = tmp_path / "spent.toml"
    spent.write_text(cfg.read_text().replace("0.03", "0.001"))
    assert main(["score", str(out.folder), "--config", str(spent), "-q"]) == 3
    assert f"judge the rest with: pipeline score {out.folder} --config {spent}" in \
        capsys.readouterr().err
    assert _manifest(out.folder)["judge"]["pending"] == m["judge"]["pending"]
    # `pipeline score` with a higher budget sends only what is missing
    (tmp_path / "more.toml").write_text(cfg.read_text().replace("0.03", "1.0"))
    assert main(["score", str(out.folder), "--config", str(tmp_path / "more.toml"), "-q"]) == 0
    said = capsys.readouterr().out
    assert f"{m['judge']['pending']} judge requests sent now; the judge: 60 of 60 answers " \
        "graded, $" in said and said.rstrip().endswith("status: complete")
    keys = [r["key"] for r in _judge_lines(out.folder) if r["status"] == "ok"]
    assert len(keys) == 60 == len(set(keys))


def test_pipeline_score_adds_a_judge_to_a_finished_run_and_sends_nothing_twice(
        tmp_path: Path, capsys, monkeypatch):
    plain = _config(tmp_path, ["numeric"], n=10)
    out = run(load_config(plain), RunOptions(progress=False, run_id="p"))
    journal = (out.folder / "journal.jsonl").read_bytes()
    judged = _config(tmp_path / "j", [JUDGE, "numeric"], n=10, output_dir=str(tmp_path))
    assert main(["score", str(out.folder), "--config", str(judged), "-q"]) == 0
    assert "20 judge requests sent now" in capsys.readouterr().out
    # records of the second model carry no messages: the prompt came from the sample's first
    assert all("What is" in r["messages"][0]["content"] for r in _judge_lines(out.folder))
    assert (out.folder / "journal.jsonl").read_bytes() == journal

    def no_sending(*a, **k):
        raise AssertionError("nothing should be sent")

    monkeypatch.setattr("pipeline.providers.open_endpoints", no_sending)
    assert main(["score", str(out.folder), "--config", str(judged), "-q"]) == 0
    assert "0 judge requests sent now" in capsys.readouterr().out
    assert main(["score", str(out.folder), "-q"]) == 0  # no judge in the run's own config
    assert len(_judge_lines(out.folder)) == 20
    res = pl.read_parquet(out.folder / "results.parquet")
    assert "score_judge" not in res.columns  # scored with the run's own scorers again


def test_answers_the_judge_does_not_grade_are_left_out_of_accuracy(tmp_path: Path):
    # A rubric without the default's blocks: the emulator cannot tell what to compare and
    # gives no grade.
    spec = {**JUDGE, "rubric": "Is this answer right? {answer} End with GRADE: C or I."}
    out = run(load_config(_config(tmp_path, [spec, "numeric"], n=8)),
              RunOptions(progress=False))
    res = pl.read_parquet(out.folder / "results.parquet")
    assert res["score_judge"].null_count() == 16 and res["score"].null_count() == 16
    assert res["explanation_judge"].str.starts_with("the judge's reply has no grade").all()
    summary = pl.read_parquet(out.folder / "summary.parquet")
    assert summary["accuracy"].null_count() == 2 and (summary["scored_samples"] == 0).all()
    assert (summary["samples"] == 8).all()
    assert _manifest(out.folder)["judge"]["scorers"][0]["no_grade"] == 16
    assert out.status == "complete"


def test_a_judge_request_the_server_refuses_is_a_judge_error_not_a_wrong_answer(
        tmp_path: Path):
    import httpx

    def handler(request: httpx.Request) -> httpx.Response:
        asked = json.loads(request.content)["messages"][-1]["content"]
        if "[Answer to grade]" in asked:
            return httpx.Response(400, json={"error": {"message": "no", "code": 400}})
        body = {"id": "x", "object": "chat.completion", "model": "claude-4-5-sonnet",
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": "Answer: 1"}}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}
        return httpx.Response(200, json=body)

    cfg = demo_config(tmp_path, datasets=[arith(5, scorers=[JUDGE, "numeric"])],
                      models=MODELS, run={"max_attempts": 1},
                      provider={"kind": "openai", "base_url": "http://127.0.0.1:9/v1"})
    out = run(load_config(cfg), RunOptions(progress=False, env={},
                                           transport=httpx.MockTransport(handler)))
    res = pl.read_parquet(out.folder / "results.parquet")
    assert res["explanation_judge"].str.starts_with("judge error: bad_request").all(), \
        res["explanation_judge"].to_list()
    assert res["score_judge"].null_count() == 10 and res["score_numeric"].null_count() == 0
    assert _manifest(out.folder)["judge"]["scorers"][0]["errors"] == 10
    summary = pl.read_parquet(out.folder / "summary.parquet")
    assert (summary["scored_samples"] == 0).all()  # no grade: not in accuracy, not wrong


def test_a_judge_max_tokens_past_the_model_limit_is_a_config_error(tmp_path: Path, capsys):
    cfg = _config(tmp_path, [{**JUDGE, "max_tokens": 60_000}])
    assert main(["validate", str(cfg)]) == 2
    assert "datasets[0].scorers[0].max_tokens: 60000 exceeds" in capsys.readouterr().err


def test_the_judge_key_never_reaches_the_run_folder(tmp_path: Path, monkeypatch):
    key = "inf-judge-key-0123456789abcdef"
    with EmulatorServer(EmulatorConfig(api_key=key, speed=0.0)) as srv:
        monkeypatch.setenv("INFERENCE_URL", srv.base_url)
        monkeypatch.setenv("INFERENCE_KEY", key)
        cfg = demo_config(tmp_path, datasets=[arith(4, scorers=[JUDGE])],
                          provider={"kind": "heroku"}, models=MODELS)
        out = run(load_config(cfg), RunOptions(progress=False))
        assert out.status == "complete" and srv.stats.requests_total == 16
    for path in out.folder.rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), path


def test_ungraded_answers_are_a_warning(tmp_path: Path):
    spec = {**JUDGE, "rubric": "Is this answer right? {answer} End with GRADE: C or I."}
    out = run(load_config(_config(tmp_path, [spec], n=6)), RunOptions(progress=False))
    (warning,) = [w for w in out.warnings if "no grade from the judge" in w]
    assert warning.startswith("arith: 12 of 12 answers have no grade from the judge "
                              "claude-4-5-sonnet (0 judge errors, 12 replies without a grade")
    assert "no grade from the judge" in (out.folder / "report.md").read_text()


def test_the_estimate_prices_the_judge_and_a_run_folder_counts_its_spending(tmp_path: Path):
    from pipeline.estimate import estimate

    cfg = load_config(_config(tmp_path, [JUDGE, "numeric"], n=20))
    est = estimate(cfg)
    (cell,) = [c for c in est.cells if c.model == "claude-4-5-sonnet (judge)"]
    assert cell.items == 40 and cell.dataset == "arith"
    out = run(cfg, RunOptions(progress=False, run_id="e"))
    judge_cost = _manifest(out.folder)["totals"]["judge_spent_usd"]
    assert cell.cost_expected_usd == pytest.approx(judge_cost, rel=0.1)
    assert cell.cost_worst_usd >= judge_cost
    # half the judge's lines lost: the run folder's estimate counts what is spent and owed
    lines = (out.folder / "judge.jsonl").read_text().splitlines(keepends=True)
    (out.folder / "judge.jsonl").write_text("".join(lines[:30]))
    left = estimate(cfg, run_id="e")
    kept = sum(json.loads(line)["cost_usd"] for line in lines[:30])
    answers = float(pl.read_parquet(out.folder / "results.parquet")["cost_usd"].sum())
    assert left.spent_usd == pytest.approx(answers + kept)
    assert left.items == 0
    assert any(n.startswith("10 judge requests for answers already made") for n in left.notes)


def test_a_sharded_judged_run_judges_each_answer_once(tmp_path: Path, capsys):
    from pipeline.journal import sources

    cfg = _config(tmp_path, [JUDGE, "numeric"], n=12)
    for k in (1, 2):
        out = run(load_config(cfg), RunOptions(progress=False, run_id="S", shard=(k, 2)))
        assert out.status == "complete" and out.judged == out.planned
    folder = tmp_path / "reports" / "S"
    keys = [r["key"] for src in sources(folder) for r, _ in iter_journal(src / "judge.jsonl")]
    assert len(keys) == 24 == len(set(keys))
    assert main(["report", str(folder), "-q"]) == 0
    res = pl.read_parquet(folder / "results.parquet")
    assert res.height == 24 and res["score_judge"].null_count() == 0
    assert main(["score", str(folder), "-q"]) == 0  # nothing pending: nothing sent
    assert "0 judge requests sent now" in capsys.readouterr().out
    other = _config(tmp_path / "o", [{**JUDGE, "rubric": "Right? {answer} vs {target}"}],
                    n=12, output_dir=str(tmp_path / "reports"))
    assert main(["score", str(folder), "--config", str(other), "-q"]) == 2
    assert "judge requests are sent by its shards" in capsys.readouterr().err


def test_a_judge_outside_the_models_gets_a_shards_share_of_its_limits(tmp_path: Path):
    from pipeline.judging import judge_config
    from pipeline.shards import divide_limits, judge_share

    cfg = load_config(demo_config(
        tmp_path, datasets=[arith(3, scorers=[{"name": "judge", "model": "claude-4-5-haiku"}])],
        models=[{"id": "claude-4-5-sonnet", "rpm": 100}], run={"rate_limits": True})).config
    shard = divide_limits(cfg, 4)
    (judge,) = judge_share(shard, judge_config(shard), 4).models
    (full,) = judge_config(cfg).models
    assert full.rpm is None  # the gate takes the catalogue's published limits
    from pipeline.catalog import CATALOG

    assert judge.rpm == CATALOG["claude-4-5-haiku"].rpm // 4
    assert shard.models[0].rpm == 25  # the run's own model: divided once, not twice


@pytest.mark.parametrize(("answer", "target", "right"), [
    ("Let me check.\n\nIs it 5? No, 3 + 4 is more.\n\nAnswer: 7", "7", True),
    ("Does 3 + 4 make 8?\n\nAnswer: 8", "7", False),
    ("1,234 in all. Answer: 1,234", "1234", True),
    ("The answer is (B).", "B", True),
    ("Answer: C", "B", False),
    ("It is Paris, of course.", ["Paris", "paris france"], True),
    ("It is Lyon.", ["Paris"], False),
])
def test_the_emulator_judges_what_the_prompt_shows(answer, target, right):
    from pipeline.emulator import judge as emulated

    asked = rubric.render(_options(), [{"role": "user", "content": "Q?"}],
                          {"output_text": answer, "target": target})[0]["content"]
    reply, _ = emulated.judge(asked, 1.0, "salt")  # judging accuracy 1: never flipped
    assert reply.endswith("GRADE: C" if right else "GRADE: I")
    blind, _ = emulated.judge("Grade this: " + answer + " GRADE: C or I", 1.0, "salt")
    assert rubric.grade(blind, _options()) == (None, None)


def test_an_unpriced_judge_and_replies_cut_before_their_grade_are_said(tmp_path: Path):
    import httpx

    def handler(request: httpx.Request) -> httpx.Response:
        asked = json.loads(request.content)
        judging = "[Answer to grade]" in asked["messages"][-1]["content"]
        body = {"id": "x", "object": "chat.completion", "model": asked["model"],
                "choices": [{"index": 0, "finish_reason": "length" if judging else "stop",
                             "message": {"role": "assistant", "content":
                                         "The answer shows 15, the reference" if judging
                                         else "Answer: 15"}}],
                "usage": {"prompt_tokens": 50, "completion_tokens": 8, "total_tokens": 58}}
        return httpx.Response(200, json=body)

    spec = {"name": "judge", "model": "local-judge", "max_tokens": 16}
    cfg = demo_config(tmp_path, datasets=[arith(3, scorers=[spec, "numeric"])],
                      models=[{"id": "m", "price": {"input": 1.0, "output": 1.0}}],
                      provider={"kind": "openai", "base_url": "http://127.0.0.1:9/v1"})
    out = run(load_config(cfg), RunOptions(progress=False, env={},
                                           transport=httpx.MockTransport(handler)))
    res = pl.read_parquet(out.folder / "results.parquet")
    assert res["explanation_judge"].str.starts_with(
        "the judge's reply was cut by its max_tokens (16) before a grade").all()
    m = _manifest(out.folder)
    assert m["judge"]["cost_usd"] is None and m["totals"]["judge_spent_usd"] is None
    assert m["totals"]["spent_known"] is False
    assert any(w.startswith("the judge's cost is unknown: 3 judge requests") for w in out.warnings)
    assert any("3 judge replies were cut by the judge's max_tokens" in w for w in out.warnings)
    assert "costing unknown (no price)" in (out.folder / "report.md").read_text()
