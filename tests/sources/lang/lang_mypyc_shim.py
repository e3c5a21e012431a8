"""mypyc group member: its .so is a shim; the code lives in the <hash>__mypyc library."""

from __future__ import annotations

from lang_mypyc_helper import clamp


def scale(values: list[int], factor: int) -> list[int]:
    return [clamp(v * factor, 0, 255) for v in values]
