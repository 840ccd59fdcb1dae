"""Dataset readers: JSONL and Parquet rows become Samples; bad rows name file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.datasets import load_samples
from pipeline.errors import DatasetError


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_jsonl_template_system_and_choices(tmp_path: Path):
    p = write_jsonl(tmp_path / "d.jsonl", [
        {"id": 7, "q": "Pick one", "choices": ["x", "y"], "answer": "B"},
    ])
    [s] = load_samples(p, dataset="d", template="Q: {q}", system="Be brief.",
                       columns={"target": "answer"})
    assert s.sample_id == "7" and s.target == "B" and s.choices == ["x", "y"]
    assert s.messages == [{"role": "system", "content": "Be brief."},
                          {"role": "user", "content": "Q: Pick one\n\nA) x\nB) y"}]


def test_parquet_and_jsonl_give_the_same_samples(tmp_path: Path):
    rows = [{"prompt": f"p{i}", "target": str(i)} for i in range(5)]
    j = write_jsonl(tmp_path / "d.jsonl", rows)
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "d.parquet")
    a = list(load_samples(j, dataset="d"))
    b = list(load_samples(tmp_path / "d.parquet", dataset="d"))
    assert a == b and len(a) == 5
    assert [s.sample_id for s in a] == ["1", "2", "3", "4", "5"]


def test_messages_tools_and_row_generation(tmp_path: Path):
    tools = [{"type": "function", "function": {"name": "f"}}]
    p = write_jsonl(tmp_path / "d.jsonl", [{
        "messages": [{"role": "user", "content": "hi"}], "target": "x",
        "tools": json.dumps(tools), "generation": {"max_tokens": 5}, "metadata": {"k": 1},
    }])
    [s] = load_samples(p, dataset="d")
    assert s.tools == tools and s.metadata == {"k": 1}
    assert s.generation.max_tokens == 5


def test_limit_is_lazy(tmp_path: Path):
    p = write_jsonl(tmp_path / "d.jsonl", [{"prompt": "a", "target": "1"}] * 3 + ["{broken"])
    assert len(list(load_samples(p, dataset="d", limit=3))) == 3


@pytest.mark.parametrize(
    ("lines", "kwargs", "where", "words"),
    [
        (['{"prompt": "a", "target": 1}', "{not json"], {}, ":2:", "malformed JSON"),
        (['[1, 2]'], {}, ":1:", "expected a JSON object"),
        (['{"question": "a", "target": 1}'], {}, ":1:", "no 'prompt' or 'messages' column"),
        (['{"prompt": "a"}'], {}, ":1:", "missing column 'target'"),
        (['{"q": "a", "target": 1}'], {"template": "{question}"}, ":1:",
         "template field {question}"),
        (['{"prompt": "a", "target": 1, "choices": ["only"]}'], {}, ":1:", "2 to 26 options"),
        (['{"messages": [{"role": "robot", "content": "x"}], "target": 1}'], {}, ":1:",
         "needs a role"),
        (['{"id": 1, "prompt": "a", "target": 1}', '{"id": 1, "prompt": "b", "target": 1}'],
         {}, ":2:", "duplicate id '1'"),
        (['{"prompt": "a", "target": 1, "tools": "{nope"}'], {}, ":1:", "not valid JSON"),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path: Path, lines, kwargs, where, words):
    p = tmp_path / "bad.jsonl"
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError) as info:
        list(load_samples(p, dataset="d", **kwargs))
    msg = str(info.value)
    assert f"bad.jsonl{where}" in msg and words in msg, msg


def test_parquet_errors_name_the_row(tmp_path: Path):
    pq.write_table(pa.Table.from_pylist([{"prompt": "a", "target": "1"}, {"prompt": "b"}]),
                   tmp_path / "d.parquet")
    with pytest.raises(DatasetError, match=r"d\.parquet row 2: column 'target' \(the target"):
        list(load_samples(tmp_path / "d.parquet", dataset="d"))


def test_not_a_parquet_file_and_unknown_extension(tmp_path: Path):
    (tmp_path / "x.parquet").write_text("nope")
    with pytest.raises(DatasetError, match="not a readable Parquet file"):
        list(load_samples(tmp_path / "x.parquet", dataset="d"))
    (tmp_path / "x.csv").write_text("a,b")
    with pytest.raises(DatasetError, match="cannot tell the format"):
        list(load_samples(tmp_path / "x.csv", dataset="d"))
    with pytest.raises(DatasetError, match="not found"):
        list(load_samples(tmp_path / "missing.jsonl", dataset="d"))


def test_a_bad_byte_is_reported_on_its_own_line(tmp_path: Path):
    p = tmp_path / "d.jsonl"
    good = b'{"prompt": "What is 1 + 1? Explain at some length please.", "target": "2"}\n'
    p.write_bytes(good * 49 + b'{"prompt": "caf\xe9", "target": "x"}\n' + good * 200)
    with pytest.raises(DatasetError, match=r"d\.jsonl:50: not valid UTF-8 text \(byte 0xe9"):
        list(load_samples(p, dataset="d"))


def test_a_utf8_bom_is_accepted(tmp_path: Path):
    p = tmp_path / "d.jsonl"
    p.write_bytes(b'\xef\xbb\xbf{"prompt": "hi", "target": "x"}\n')
    (s,) = load_samples(p, dataset="d")
    assert s.messages == [{"role": "user", "content": "hi"}]
