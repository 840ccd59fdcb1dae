"""exact: the whole answer equals a target, after normalisation."""

from __future__ import annotations

from pipeline.scoring.base import Output, Score, normalize, targets


def exact(out: Output) -> Score:
    """1 when the normalised output equals any normalised target."""
    answer = normalize(out.text)
    ok = any(answer == normalize(t) for t in targets(out.target))
    return Score(1.0 if ok else 0.0, answer)
