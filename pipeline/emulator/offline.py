"""The emulator's answer to a request body, worked out in process: nothing is served or sent.

`pipeline estimate` uses it for the expected output of a run on the built-in emulator: the
same parsing, solvers and max_tokens rule as a served answer, so the figure is what the
emulator will answer (faults aside), not a guess.
"""

from __future__ import annotations

from typing import Any

from .responses import build_reply
from .solvers import solve
from .validation import RequestError, parse_request


def answer_tokens(
    body: dict[str, Any], *, seed: int = 0, draw: int = 0, accept_any_model: bool = False,
    accuracy: float | None = None,
) -> int | None:
    """Completion tokens the emulator would bill for this body on its `draw`-th answer
    (epoch - 1 for a body sent once per epoch); None when it would refuse the request."""
    try:
        chat = parse_request(body, accept_any_model=accept_any_model)
    except RequestError:
        return None
    acc = chat.model.accuracy if accuracy is None else accuracy
    draw = draw if chat.seed is None else chat.seed
    return build_reply(chat, solve(chat, acc, seed=seed, draw=draw)).completion_tokens
