"""IFEval shipped and run: the converted dataset against its raw source (541 rows, ids in order),
the converter reproducing it byte for byte, configs/ifeval.toml offline and on Heroku, and the
emulator following the instructions it reads, at its accuracy, without reading the target."""

from __future__ import annotations

import copy
import json
import tomllib

import polars as pl
import pytest

from pipeline.cli import main
from pipeline.config import load_config
from pipeline.datasets import load_samples
from pipeline.emulator.instructions import read, respond
from pipeline.runner import RunOptions, run
from pipeline.scoring.ifeval import instruction_counts
from pipeline.scoring.instructions import follows
from tests.helpers import ROOT, dump_toml
from tests.test_benchmarks import RAW, _converter, source_table

FOLDER = ROOT / "datasets" / "ifeval"
CONFIG = ROOT / "configs" / "ifeval.toml"
RAW_FILE = RAW / "ifeval" / "input_data.jsonl"
needs_raw = pytest.mark.skipif(not RAW_FILE.is_file(), reason=f"raw IFEval not at {RAW_FILE}")


def shipped() -> list[dict]:
    return [json.loads(x) for x in (FOLDER / "input_data.jsonl").read_text("utf-8").splitlines()]


@needs_raw
def test_shipped_rows_match_the_source_row_for_row():
    raw = [json.loads(x) for x in RAW_FILE.read_text("utf-8").splitlines() if x.strip()]
    rows = shipped()
    assert len(rows) == len(raw) == 541
    assert [r["id"] for r in rows] == [str(r["key"]) for r in raw]  # ids, in order
    for r, src in zip(rows, raw, strict=True):
        assert r["prompt"] == src["prompt"]
        assert r["target"]["instruction_id_list"] == src["instruction_id_list"]
        assert r["target"]["kwargs"] == [{k: v for k, v in kw.items() if v is not None}
                                         for kw in src["kwargs"]]
    assert source_table("ifeval") == {
        "input_data.jsonl": (541, (FOLDER / "input_data.jsonl").stat().st_size,
                             source_table("ifeval")["input_data.jsonl"][2])}
    assert (FOLDER / "LICENSE").read_bytes() == (RAW / "ifeval" / "LICENSE").read_bytes()


@needs_raw
def test_converter_reproduces_the_committed_ifeval_files(tmp_path, capsys):
    assert _converter().main(["--raw", str(RAW), "--out", str(tmp_path), "--only", "ifeval"]) == 0
    assert "input_data.jsonl: 541 rows" in capsys.readouterr().out
    names = sorted(p.name for p in FOLDER.iterdir())
    assert names == ["LICENSE", "SOURCE.md", "input_data.jsonl"]
    assert names == sorted(p.name for p in (tmp_path / "ifeval").iterdir())
    for n in names:
        assert (FOLDER / n).read_bytes() == (tmp_path / "ifeval" / n).read_bytes(), n


def test_converter_refuses_a_row_whose_kwargs_do_not_line_up(tmp_path, capsys):
    import hashlib

    raw = tmp_path / "raw" / "ifeval"
    raw.mkdir(parents=True)
    data = b'{"key": 1, "prompt": "p", "instruction_id_list": ["a", "b"], "kwargs": [{}]}\n'
    (raw / "input_data.jsonl").write_bytes(data)
    (raw / "LICENSE").write_bytes(b"Apache\n")
    (raw / "SOURCE.txt").write_text(
        f"{hashlib.sha256(data).hexdigest()}  input_data.jsonl\n"
        f"{hashlib.sha256(b'Apache' + bytes([10])).hexdigest()}  LICENSE\n")
    rc = _converter().main(["--raw", str(tmp_path / "raw"), "--out", str(tmp_path / "out"),
                            "--only", "ifeval"])
    assert rc == 1 and "ifeval key 1: instruction_id_list and kwargs differ" in (
        capsys.readouterr().err)


def test_the_config_loads_every_row_offline_and_validates_for_heroku(monkeypatch, capsys,
                                                                   tmp_path):
    cfg = load_config(CONFIG).config
    assert cfg.provider.kind == "local"
    (ds,) = cfg.datasets
    assert [s.name for s in ds.scorer_specs()] == ["ifeval", "ifeval_loose"]
    samples = list(load_samples(ROOT / ds.path, dataset=ds.name))
    assert len(samples) == 541 and samples[0].messages == [
        {"role": "user", "content": shipped()[0]["prompt"]}]  # the prompt alone
    monkeypatch.chdir(ROOT)
    data = tomllib.loads(CONFIG.read_text())
    data["provider"]["kind"] = "heroku"
    heroku = tmp_path / "ifeval-heroku.toml"  # its dataset path resolves against ROOT, the cwd
    heroku.write_text(dump_toml(data))
    monkeypatch.setenv("INFERENCE_URL", "https://us.inference.heroku.com")
    monkeypatch.setenv("INFERENCE_KEY", "inf-test-key-not-used")
    assert main(["validate", str(heroku)]) == 0
    assert "ok: 1082 work items for 2 models" in capsys.readouterr().out


def test_the_config_runs_end_to_end_on_the_emulator(tmp_path):
    data = copy.deepcopy(tomllib.loads(CONFIG.read_text()))
    data["output_dir"] = str(tmp_path / "reports")
    data["provider"]["emulator"]["speed"] = 0
    data["datasets"][0]["path"] = str(FOLDER / "input_data.jsonl")
    data["datasets"][0]["limit"] = 60
    path = tmp_path / "ifeval.toml"
    path.write_text(dump_toml(data))
    outcome = run(load_config(path), RunOptions(progress=False))
    assert outcome.status == "complete" and outcome.sent == 120 and outcome.errors == 0
    df = pl.read_parquet(outcome.folder / "results.parquet")
    assert df["score"].to_list() == df["score_ifeval"].to_list()
    assert (df["score_ifeval_loose"] >= df["score_ifeval"]).all()  # loose never loses
    counts = [instruction_counts(a) for a in df["answer_ifeval"].to_list()]
    assert all(0 <= k <= n for k, n in counts) and sum(n for _, n in counts) > 120
    per_model = df.group_by("model").agg(pl.col("score_ifeval").mean()).to_dicts()
    assert all(0 < m["score_ifeval"] < 1 for m in per_model)  # meaningful, not 0 or 1
    # IFEval's own figures, recomputed here from the answers: prompt-level and
    # instruction-level, strict and loose, leaving out answers with nothing checked
    table = pl.read_parquet(outcome.folder / "instructions.parquet")
    assert table.height == 4 and set(table["mode"]) == {"strict", "loose"}
    for r in table.iter_rows(named=True):
        mine = df.filter(pl.col("model") == r["model"])
        pairs = [instruction_counts(a) for a in mine[f"answer_{r['scorer']}"].to_list()]
        checked = [(k, n) for k, n in pairs if n > 0]
        assert r["answers"] == len(checked)
        assert r["unchecked_only"] == len(pairs) - len(checked)
        assert r["prompt_level"] == pytest.approx(
            sum(k == n for k, n in checked) / len(checked))
        assert r["instruction_level"] == pytest.approx(
            sum(k for k, _ in checked) / sum(n for _, n in checked))
    assert "## Instruction following" in (outcome.folder / "report.md").read_text()


PROMPT = ('Write a short note about bikes in all lowercase letters. Do not use any commas. '
          'Answer with at least 60 words, and finish your response with the exact phrase '
          '"any questions?". Wrap your entire response with double quotation marks.')
WANTED = [("change_case:english_lowercase", {}), ("punctuation:no_comma", {}),
          ("length_constraints:number_words", {"num_words": 60, "relation": "at least"}),
          ("startend:end_checker", {"end_phrase": "any questions?"}),
          ("startend:quotation", {})]


def test_the_emulator_reads_instructions_from_the_prompt_only():
    assert [a.kind for a in read(PROMPT)] == [
        "lowercase", "no_comma", "min_words", "end", "quotes"]
    assert read("What is 6 * 7?") == [] and read("Tell me about bikes.") == []
    assert read('Say "hi" in no more than 5 words.')[0].value == 5
    assert read("At the end, add a postscript starting with P.P.S")[0].value == "P.P.S."


def test_the_emulator_follows_at_its_accuracy_deterministically():
    perfect, _ = respond(PROMPT, 1.0, salt="m\x1fp", pick="m\x1fp", temperature=0)
    assert all(follows(i, perfect, kw).followed for i, kw in WANTED), perfect
    never, _ = respond(PROMPT, 0.0, salt="m\x1fp", pick="m\x1fp", temperature=0)
    assert not any(follows(i, never, kw).followed for i, kw in WANTED), never
    again, _ = respond(PROMPT, 1.0, salt="m\x1fp", pick="m\x1fp", temperature=0)
    assert again == perfect
    # at 0.7, about 70 % of instructions followed over many prompts; each drawn on its own
    followed = total = 0
    for n in range(200):
        text, _ = respond(PROMPT, 0.7, salt=f"m\x1f{n}", pick=f"m\x1f{n}", temperature=0)
        followed += sum(bool(follows(i, text, kw).followed) for i, kw in WANTED)
        total += len(WANTED)
    assert 0.62 < followed / total < 0.78
    # above temperature 0 the draw (pick) varies which instructions are followed
    drawn = {respond(PROMPT, 0.7, salt="m\x1fp", pick=f"m\x1fp\x1f{d}", temperature=1.0)[0]
             for d in range(20)}
    assert len(drawn) > 1
