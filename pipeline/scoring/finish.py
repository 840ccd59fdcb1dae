"""finish: fails an answer cut by max_tokens; meant as a second scorer beside a real one, so a
table shows how many answers were truncated next to how many were right."""

from __future__ import annotations

from pipeline.scoring.base import Output, Score


def finish(out: Output) -> Score:
    """0 when finish_reason is "length" (cut at max_tokens), else 1; the answer is the
    finish_reason."""
    if out.cut:
        return Score(0.0, out.finish_reason, "cut at max_tokens")
    return Score(1.0, out.finish_reason)
