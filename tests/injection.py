"""A run whose prompts, targets, metadata and answers carry markup and script-injection
strings (for the report's escaping tests: test_explorer.py, test_report_browser.py).

The emulator never echoes such text, so the answers come from an httpx.MockTransport behind
provider kind "openai" (no network: the transport answers every request itself). Two models:
`echo` (priced) echoes each prompt; `plain` (no price: its cost is unknown) answers the target,
except that it is refused with a 400 on one sample and cut by max_tokens on another, so the
error and finish_reason filters have something to find."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import demo_config

# Each string must show as text and run nothing. `window.__pwned` and the title are set by
# any that runs; alert() opens a dialog.
PAYLOADS = [
    "<script>alert(1);window.__pwned=1</script>",
    "</script><script>alert(2);window.__pwned=2</script>",
    "<img src=x onerror=\"alert(3);window.__pwned=3\">",
    "<a href=\"javascript:alert(4)\">click me</a> javascript:alert(5)",
    "<svg onload=alert(6)><!-- <script>document.title='pwned'</script> -->",
    "&lt;b&gt; is not <b>, and \u2028line\u2029separators",
]
REFUSED, CUT = "inj-2", "inj-3"  # the samples `plain` gets a 400 / a cut answer on
MODELS = [{"id": "echo", "price": {"input": 1.0, "output": 2.0}}, {"id": "plain"}]


def write_dataset(folder: Path) -> Path:
    """A JSONL dataset: one sample per payload, the payload in its question, target and
    `kind` (its group), and one whose id is a payload."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "injection.jsonl"
    rows = [{"id": f"inj-{i}", "question": f"Repeat this: {p}", "answer": p,
             "kind": p[:30]} for i, p in enumerate(PAYLOADS)]
    rows.append({"id": "</script><img src=x onerror=alert(9)>", "question": "Say hi",
                 "answer": "hi", "kind": "<b>id</b>"})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def handler(request):  # noqa: ANN001, ANN201 - an httpx handler
    import httpx

    asked = json.loads(request.content)
    user = asked["messages"][-1]["content"]
    model = asked["model"]
    payload = user.removeprefix("Repeat this: ")
    message: dict = {"role": "assistant"}
    finish = "stop"
    if model == "echo":
        message["content"] = f"You said {payload}\n{PAYLOADS[0]}"
        message["reasoning_content"] = f"Thinking about {PAYLOADS[2]}"
    else:
        sample = next((f"inj-{i}" for i, p in enumerate(PAYLOADS) if p == payload), None)
        if sample == REFUSED:
            return httpx.Response(400, json={"error": {"message": f"refused {PAYLOADS[2]}",
                                                       "code": 400}})
        message["content"] = payload
        if sample == CUT:
            finish = "length"
        if user == "Say hi":
            message["content"] = None
            message["tool_calls"] = [{"id": "c1", "type": "function", "function": {
                "name": "<img src=x onerror=alert(10)>",
                "arguments": json.dumps({"html": PAYLOADS[1]})}}]
            finish = "tool_calls"
    body = {"id": "x", "object": "chat.completion", "model": model,
            "choices": [{"index": 0, "finish_reason": finish, "message": message}],
            "usage": {"prompt_tokens": 20, "completion_tokens": 9, "total_tokens": 29}}
    return httpx.Response(200, json=body)


def injection_run(tmp_path: Path):  # noqa: ANN201 - a RunOutcome
    """Run the injection dataset through the mock transport; returns the run's outcome."""
    import httpx

    from pipeline.config import load_config
    from pipeline.runner import RunOptions, run

    data = write_dataset(tmp_path / "data")
    dataset = {"name": "inject", "path": str(data), "template": "{question}",
               "columns": {"target": "answer"}, "scorers": ["exact", "includes"],
               "group_by": "kind"}
    cfg = demo_config(tmp_path, datasets=[dataset], models=MODELS, run={"max_attempts": 1},
                      provider={"kind": "openai", "base_url": "http://127.0.0.1:9/v1"})
    return run(load_config(cfg), RunOptions(progress=False, env={},
                                            transport=httpx.MockTransport(handler)))
