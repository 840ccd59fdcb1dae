"""Which rows of a dataset a run reads when its config says `sample = N`: N row numbers drawn
with a seeded generator and kept as a bitmap (one bit a row), which the row cursor checks as it
streams the file, so the dataset is never loaded and the rows not drawn are passed over unread.

The draw is nested: for one seed and row count, the rows of `sample = 100` are among those of
`sample = 200` (each draw is the next new row number of one seeded sequence), so raising
`sample` on a resume only adds rows, as raising `limit` does. The sequence is Python's
Mersenne Twister seeded with an integer, read through `getrandbits` with our own rejection
step, so the same config picks the same rows in every process, on every platform and Python
version. Drawing N of R rows takes about R * ln(R / (R - N)) draws: fast unless N is within a
few rows of R (N = R takes every row without drawing).
"""

from __future__ import annotations

import random


def _below(rng: random.Random, n: int) -> int:
    """A uniform integer in [0, n) by rejection over `getrandbits` (stable by construction;
    `randrange`'s own method is an implementation detail of the Python version)."""
    bits = max(1, (n - 1).bit_length())
    while True:
        r = rng.getrandbits(bits)
        if r < n:
            return r


def choose_rows(rows: int, n: int, seed: int) -> bytearray | None:
    """A bitmap of the `n` rows (0-based, in file order) drawn from `rows` with `seed`; None
    when every row is taken (n >= rows: nothing to skip)."""
    if n >= rows:
        return None
    rng = random.Random(seed)
    bits = bytearray((rows + 7) // 8)
    for _ in range(n):
        while True:
            i = _below(rng, rows)
            if not bits[i >> 3] & (1 << (i & 7)):
                break
        bits[i >> 3] |= 1 << (i & 7)
    return bits


def is_chosen(bits: bytearray | None, row: int) -> bool:
    """Whether row `row` (0-based) is one of the drawn rows (every row when `bits` is None)."""
    return bits is None or bool(bits[row >> 3] & (1 << (row & 7)))
