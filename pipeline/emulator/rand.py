"""Deterministic draws from hashes, so the same request always gets the same answer."""

from __future__ import annotations

import math
from collections.abc import Sequence
from hashlib import blake2b
from typing import TypeVar

T = TypeVar("T")

_SCALE = 1.0 / 2**64
_BLANK = blake2b(digest_size=8)  # copied per hash: cheaper than building one from arguments
_from_bytes = int.from_bytes


def h64(*parts: object) -> int:
    """A stable 64-bit hash of the parts' string forms."""
    hasher = _BLANK.copy()
    hasher.update("\x1f".join(map(str, parts)).encode("utf-8", "surrogatepass"))
    return _from_bytes(hasher.digest(), "big")


def unit(*parts: object) -> float:
    """A stable draw in [0, 1) from the parts."""
    return h64(*parts) * _SCALE


def pick(seq: Sequence[T], *parts: object) -> T:
    """A stable choice from a non-empty sequence."""
    return seq[h64(*parts) % len(seq)]


def normal(*parts: object) -> float:
    """A stable standard normal draw from the parts (Box-Muller on the hash's two halves)."""
    h = h64(*parts)
    u1 = ((h >> 32) + 1) * _SCALE_32  # (0, 1]: the log is finite
    u2 = (h & 0xFFFFFFFF) * _SCALE_32
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


_SCALE_32 = 1.0 / 2**32
