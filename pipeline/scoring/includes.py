"""includes: a target appears inside the answer, after normalisation."""

from __future__ import annotations

from pipeline.scoring.base import Output, Score, normalize, targets


def includes(out: Output) -> Score:
    """1 when any normalised target is a substring of the normalised output."""
    text = normalize(out.text)
    hit = next((normalize(t) for t in targets(out.target) if normalize(t) in text), None)
    return Score(1.0 if hit is not None else 0.0, hit)
