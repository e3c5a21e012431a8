"""Verdicts read off a binary's imported function names, shared by every format.

ELF, MinGW PE and Mach-O code compiled with a stack protector imports
``__stack_chk_fail``; fortified code imports ``__<function>_chk``. Each format module
decides first whether the question applies (which libc, which language), then asks here.
Checks layer: pure functions; no I/O.
"""

from __future__ import annotations

from collections.abc import Collection
from importlib import resources
from typing import Final

from ..model import Fact, Status, Verdict
from .base import CheckParams, verdict

__all__ = [
    "CANARY_SYMBOLS",
    "FORTIFIABLE",
    "buffer_calls",
    "canary_verdict",
    "fortify_verdict",
    "rust_unknown",
]


def _load_fortifiable() -> frozenset[str]:
    text = resources.files("pytest_memsafe").joinpath("data/glibc-fortify.txt").read_text()
    return frozenset(line for line in text.splitlines() if line and not line.startswith("#"))


FORTIFIABLE: Final = _load_fortifiable()
"""libc functions with a ``__<name>_chk`` variant (glibc's list, shipped; Apple's libc and
MinGW's libssp check a subset of the same names)."""

CANARY_SYMBOLS: Final = ("__stack_chk_fail", "__stack_chk_guard", "__intel_security_cookie")


def buffer_calls(imports: Collection[str]) -> list[str]:
    """Imported libc functions that write into caller buffers (plain or ``_chk``)."""
    return sorted(name for name in FORTIFIABLE if name in imports or f"__{name}_chk" in imports)


def canary_verdict(
    imports: Collection[str], *, instead: Verdict | None = None, protector: str = ""
) -> Verdict:
    """Pass on a protector import; else ``instead`` if given (not applicable, or unknown for
    Rust), fail when the code handles buffers, unknown when nothing shows it has any.
    ``protector`` names what was looked for in the messages."""
    found = [name for name in CANARY_SYMBOLS if name in imports]
    buffers = buffer_calls(imports)
    facts: tuple[Fact, ...] = (
        ("protector_imports", tuple(found)),
        ("buffer_calls", tuple(buffers[:8])),
    )
    if found:
        return verdict("canary", Status.PASS, f"stack protector in use ({found[0]})", *facts)
    if instead is not None:
        return instead
    if buffers:
        return verdict(
            "canary",
            Status.FAIL,
            f"no {protector or 'stack protector'}, yet the code handles buffers "
            f"({', '.join(buffers[:4])})",
            *facts,
        )
    return verdict(
        "canary",
        Status.UNKNOWN,
        f"no {protector or 'stack protector import'}, and no imported call shows the module "
        "has stack buffers",
        *facts,
    )


def fortify_verdict(
    imports: Collection[str], params: CheckParams, *, instead: Verdict | None = None
) -> Verdict:
    """Graded none / partial / full by the share of fortifiable imports that use ``_chk``.

    Unknown when nothing fortifiable is imported; ``instead`` (if given) replaces a failure
    with no fortified import at all.
    """
    fortified = sorted(name for name in FORTIFIABLE if f"__{name}_chk" in imports)
    plain = sorted(name for name in FORTIFIABLE if name in imports)
    fortifiable = set(fortified) | set(plain)
    ratio = round(len(fortified) / len(fortifiable), 3) if fortifiable else 0.0
    facts: tuple[Fact, ...] = (
        ("fortified", tuple(fortified)),
        ("unchecked", tuple(plain)),
        ("ratio", ratio),
    )
    if not fortifiable:
        return verdict(
            "fortify", Status.UNKNOWN, "no fortifiable libc function is imported", *facts
        )
    if not fortified:
        if instead is not None:
            return instead
        return verdict(
            "fortify",
            Status.FAIL,
            f"not fortified: {len(plain)} fortifiable import(s), none checked "
            f"({', '.join(plain[:4])})",
            *facts,
            level="none",
        )
    # A name imported both ways has some checked call sites; only names never checked count
    # against the share (plain calls alone are often sizes the compiler proved safe).
    level = "full" if set(plain) <= set(fortified) else "partial"
    meets = ratio >= params.fortify_min_ratio
    summary = (
        f"fortified: {len(fortified)} of {len(fortifiable)} fortifiable function(s) use __*_chk"
        + ("" if meets else f", below the minimum share {params.fortify_min_ratio}")
    )
    return verdict("fortify", Status.PASS if meets else Status.FAIL, summary, *facts, level=level)


def rust_unknown(check_id: str, marker: str | None) -> Verdict | None:
    """For a PE or Mach-O binary with a rustc trace: ``unknown`` instead of a failure.

    rustc emits no stack protector or FORTIFY, so their absence says nothing about Rust
    code; C linked into it cannot be told apart without symbols (ELF has them: language.py).
    """
    if marker is None:
        return None
    return verdict(
        check_id,
        Status.UNKNOWN,
        f"Rust code ({marker.strip()}...): rustc emits no stack protector or FORTIFY, and "
        "C linked into it cannot be told apart without symbols",
        ("rust_marker", marker),
    )
