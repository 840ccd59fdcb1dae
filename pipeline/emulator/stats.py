"""Request counters the emulator keeps, safe to read from another thread."""

from __future__ import annotations

import threading
from typing import Any


class EmulatorStats:
    """Counters of chat requests: totals, per model, per status, faults and tokens."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Zero every counter."""
        with self._lock:
            self.requests_total = 0
            self.completed = 0
            self.dropped = 0
            # in_flight is a gauge of handlers running now, so a reset keeps it
            self.in_flight = getattr(self, "in_flight", 0)
            self.peak_in_flight = self.in_flight
            self.prompt_tokens = 0
            self.completion_tokens = 0
            self._by_model: dict[str, int] = {}
            self._by_status: dict[int, int] = {}
            self._faults: dict[str, int] = {}

    @property
    def by_model(self) -> dict[str, int]:
        """Chat requests per requested model id (a copy)."""
        with self._lock:
            return dict(self._by_model)

    @property
    def by_status(self) -> dict[int, int]:
        """Responses per HTTP status sent (a copy); dropped connections are not here."""
        with self._lock:
            return dict(self._by_status)

    @property
    def faults(self) -> dict[str, int]:
        """Injected fault outcomes by name (a copy)."""
        with self._lock:
            return dict(self._faults)

    def begin(self) -> None:
        """A chat request arrived."""
        with self._lock:
            self.requests_total += 1
            self.in_flight += 1
            if self.in_flight > self.peak_in_flight:
                self.peak_in_flight = self.in_flight

    def end(self) -> None:
        """A chat request's handler finished (any outcome)."""
        with self._lock:
            self.in_flight -= 1

    def model(self, model_id: str) -> None:
        """The request named this model."""
        with self._lock:
            self._by_model[model_id] = self._by_model.get(model_id, 0) + 1

    def status(self, code: int) -> None:
        """A response with this status was (or is being) sent."""
        with self._lock:
            self._by_status[code] = self._by_status.get(code, 0) + 1

    def fault(self, outcome: str) -> None:
        """A fault outcome was injected; a drop also counts as dropped."""
        with self._lock:
            self._faults[outcome] = self._faults.get(outcome, 0) + 1
            if outcome == "drop":
                self.dropped += 1

    def complete(self, prompt_tokens: int, completion_tokens: int) -> None:
        """A 200 answer is being sent in full (counted before its last bytes leave)."""
        with self._lock:
            self.completed += 1
            self.prompt_tokens += prompt_tokens
            self.completion_tokens += completion_tokens

    def retract(self, prompt_tokens: int, completion_tokens: int) -> None:
        """Undo ``complete`` for an answer whose last bytes could not be sent."""
        with self._lock:
            self.completed -= 1
            self.prompt_tokens -= prompt_tokens
            self.completion_tokens -= completion_tokens

    def snapshot(self) -> dict[str, Any]:
        """Every counter as a plain JSON-ready dict (status keys as strings)."""
        with self._lock:
            return {
                "requests_total": self.requests_total,
                "completed": self.completed,
                "dropped": self.dropped,
                "in_flight": self.in_flight,
                "peak_in_flight": self.peak_in_flight,
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "by_model": dict(self._by_model),
                "by_status": {str(k): v for k, v in sorted(self._by_status.items())},
                "faults": dict(self._faults),
            }
