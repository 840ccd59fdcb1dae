"""Sampling at temperature > 0: which draw a request gets, and whether that draw is right.

The model. Each (model, prompt) pair has a latent difficulty z = Φ⁻¹(u), where
u = unit("correct", model, prompt) is the draw the emulator has always used, and Φ is the
standard normal CDF. With accuracy a and temperature T:

- T = 0: the answer is right iff z < Φ⁻¹(a), i.e. u < a. It never varies.
- T > 0: draw d adds noise σ·ε_d, with σ = NOISE_PER_TEMPERATURE · T and
  ε_d = normal("noise", model, prompt, seed, d) a standard normal, and is right iff
  z + σ·ε_d < Φ⁻¹(a)·√(1 + σ²) (computed as u < Φ(Φ⁻¹(a)·√(1 + σ²) − σ·ε_d)). As z + σ·ε_d
  is normal with variance 1 + σ², every draw is right with probability a over the questions:
  the profile's accuracy holds at any temperature. Easy questions (z far below the threshold)
  stay right, hard ones stay wrong, and those near the edge flip from draw to draw, so pass@k
  rises above a. At T = 1 (σ = 0.25) and 5 draws, 82–94 % of questions get the same verdict
  every time for accuracies 0.75–0.95.

What a wrong draw says (the arithmetic delta, the wrong option, the wrong tool or corrupted
arguments), a tool call's id and the length of free text are picked with the draw's salt too, so
they vary from draw to draw; at T = 0 the draw's salt is the question's, as before.

The draw index. A request's own integer ``seed`` is its draw (the same seed gives the same
answer, as OpenAI-compatible servers do). Otherwise the draw is the lowest index not yet given
to an identical body (same raw bytes) by this emulator instance, nor being given right now:
sent one after another, the n-th identical request gets draw n - 1 (the number of complete
answers given before it); sent at once, they get distinct draws; a failed attempt (a fault, a
429, a dropped client) frees its draw, so the retry gets it. Everything is deterministic from
(emulator seed, prompt, draw).
"""

from __future__ import annotations

import math
import threading
from functools import lru_cache
from statistics import NormalDist

NOISE_PER_TEMPERATURE = 0.25


def is_correct(u: float, accuracy: float, temperature: float, noise: float) -> bool:
    """Whether a draw is right: latent uniform u, perturbed by a standard normal noise."""
    if accuracy >= 1.0 or accuracy <= 0.0 or temperature <= 0.0:
        return u < accuracy
    sigma, threshold = _threshold(accuracy, temperature)
    return u < 0.5 * (1.0 + math.erf((threshold - sigma * noise) * _SQRT_HALF))


_SQRT_HALF = math.sqrt(0.5)


@lru_cache(maxsize=256)
def _threshold(accuracy: float, temperature: float) -> tuple[float, float]:
    """(σ, Φ⁻¹(accuracy)·√(1 + σ²)) for a temperature: cached, as inv_cdf is pure Python."""
    sigma = NOISE_PER_TEMPERATURE * temperature
    return sigma, NormalDist().inv_cdf(accuracy) * math.sqrt(1.0 + sigma * sigma)


class Draws:
    """Draw indexes per body hash: the lowest index neither answered nor in flight; bounded."""

    def __init__(self, cap: int) -> None:
        self._cap = cap
        self._lock = threading.Lock()
        # body hash -> n: draws 0 .. n-1 were answered in full
        self._answered: dict[bytes, int] = {}
        # body hash -> draws in flight
        self._busy: dict[bytes, list[int]] = {}
        # body hash -> draws answered beyond the contiguous n (answered out of order; rare)
        self._beyond: dict[bytes, set[int]] = {}

    def clear(self) -> None:
        """Forget every body."""
        with self._lock:
            self._answered.clear()
            self._busy.clear()
            self._beyond.clear()

    def take(self, key: bytes) -> int:
        """Reserve and return the draw for a request with this body hash."""
        with self._lock:
            draw = self._answered.get(key, 0)
            busy = self._busy.get(key)
            if busy is None:
                if key not in self._beyond:  # the common case: nothing else pending
                    if len(self._busy) >= self._cap:
                        self._busy.clear()
                    self._busy[key] = [draw]
                    return draw
                busy = self._busy[key] = []
            beyond = self._beyond.get(key, ())
            while draw in busy or draw in beyond:
                draw += 1
            busy.append(draw)
            return draw

    def finish(self, key: bytes, draw: int, answered: bool) -> None:
        """Release a reserved draw: kept as given if answered in full, else free for a retry."""
        with self._lock:
            busy = self._busy.get(key)
            if busy is None or draw not in busy:
                return  # forgotten meanwhile (clear, or the cap)
            busy.remove(draw)
            if not busy:
                del self._busy[key]
            if not answered:
                return
            done = self._answered.get(key, 0)
            if draw != done:
                if len(self._beyond) >= self._cap:
                    self._beyond.clear()
                self._beyond.setdefault(key, set()).add(draw)
                return
            done += 1
            beyond = self._beyond.get(key)
            if beyond:
                while done in beyond:
                    beyond.discard(done)
                    done += 1
                if not beyond:
                    del self._beyond[key]
            if key not in self._answered and len(self._answered) >= self._cap:
                self._answered.clear()
            self._answered[key] = done
