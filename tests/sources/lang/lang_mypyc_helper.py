"""Second module of the mypyc group build (so mypyc emits a shared <hash>__mypyc library)."""

from __future__ import annotations


def clamp(x: int, lo: int, hi: int) -> int:
    if x < lo:
        return lo
    return hi if x > hi else x
