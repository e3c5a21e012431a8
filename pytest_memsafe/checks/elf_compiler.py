"""ELF checks of what the compiler instruments: canary, fortify, cet.

Checks layer: pure functions of :class:`ElfEvidence`; no I/O, no parser, no policy.
"""

from __future__ import annotations

from typing import Final

from ..evidence.elf_records import ElfEvidence
from ..model import Status, Verdict
from .base import CheckParams, verdict
from .imports import canary_verdict, fortify_verdict
from .language import classify

__all__ = ["check_canary", "check_cet", "check_fortify"]


GLIBC: Final = "libc.so.6"
X86_MARKS: Final[tuple[tuple[int, str], ...]] = ((0x1, "IBT"), (0x2, "SHSTK"))
AARCH64_MARKS: Final[tuple[tuple[int, str], ...]] = ((0x1, "BTI"), (0x2, "PAC"), (0x4, "GCS"))


C_FAMILY: Final = frozenset({"c", "c++", "cython", "mypyc", "nim", "fortran"})
"""Languages whose code a C compiler instruments (canary, FORTIFY)."""
NO_C_REASONS: Final = {
    "rust": "Rust code has bounds checks; rustc emits no stack protector on stable",
    "go": "Go code has bounds checks and no C stack frames to protect",
    "zig": "Zig code is not compiled by a C compiler",
}


def _without_c(ev: ElfEvidence, check_id: str) -> Verdict | None:
    """not_applicable when the language evidence shows no C-family code at all."""
    profile = classify(ev)
    if profile.primary not in NO_C_REASONS or C_FAMILY.intersection(profile.languages):
        return None
    return verdict(
        check_id,
        Status.NOT_APPLICABLE,
        f"no C or C++ evidence ({profile.primary} only): {NO_C_REASONS[profile.primary]}",
        ("languages", profile.languages),
    )


def check_canary(ev: ElfEvidence, params: CheckParams) -> Verdict:
    """Stack protector.

    Evidence: imports of ``__stack_chk_fail``, ``__stack_chk_guard`` or
    ``__intel_security_cookie``; imports of buffer-writing libc calls.
    Passes when: a protector symbol is imported. Fails when: none is, yet the module calls
    libc functions that write into buffers. Unknown when: nothing shows the module has stack
    buffers (absence is then no proof). Not applicable when: the language evidence shows
    Rust, Go or Zig and no C-family code (stable rustc has no stack protector; language.py).
    Reference: checks.md §1a ``elf.stack_canary``.
    """
    return canary_verdict(ev.imports, instead=_without_c(ev, "canary"))


def check_fortify(ev: ElfEvidence, params: CheckParams) -> Verdict:
    """FORTIFY_SOURCE, graded none / partial / full by the fortified share.

    Evidence: undefined ``.dynsym`` names against the shipped glibc list: ``__<f>_chk``
    imports are fortified, plain ``<f>`` imports are fortifiable but unchecked.
    Passes when: at least one fortified import exists and the fortified share meets
    ``params.fortify_min_ratio``. Fails when: only plain imports exist. Unknown when: nothing
    fortifiable is imported. Not applicable: the object does not link glibc (musl has no
    ``_chk`` functions; static objects), or the language evidence shows no C-family code.
    The level (1, 2, 3) is not visible in symbols and is never claimed.
    Reference: checks.md §2.4.
    """
    needed = ev.dynamic.needed if ev.dynamic is not None else ()
    if GLIBC not in needed:
        libc = next((lib for lib in needed if lib.startswith("libc.")), None)
        why = f"links {libc}, not glibc" if libc else "does not link glibc"
        return verdict("fortify", Status.NOT_APPLICABLE, f"FORTIFY_SOURCE is glibc's; this {why}")
    return fortify_verdict(ev.imports, params, instead=_without_c(ev, "fortify"))


def check_cet(ev: ElfEvidence, params: CheckParams) -> Verdict:
    """Control-flow protection markings: x86 IBT+SHSTK, AArch64 BTI (PAC reported).

    Evidence: the ``GNU_PROPERTY_X86_FEATURE_1_AND`` / ``GNU_PROPERTY_AARCH64_FEATURE_1_AND``
    property notes. Passes when: x86 has both IBT and SHSTK, AArch64 has BTI. The linker
    ANDs these bits over every input object, so one unmarked object (assembly, crt files,
    Rust's std) drops them. Not applicable: other machines.
    Reference: checks.md §1a ``elf.cet_ibt``, ``elf.cet_shstk``, ``elf.aarch64_bti``, §3.5.
    """
    if ev.machine in ("x86_64", "i386"):
        bits, names, required = ev.x86_features, X86_MARKS, {"IBT", "SHSTK"}
    elif ev.machine == "aarch64":
        bits, names, required = ev.aarch64_features, AARCH64_MARKS, {"BTI"}
    else:
        return verdict("cet", Status.NOT_APPLICABLE, f"no CET/BTI markings exist for {ev.machine}")
    marks = tuple(name for bit, name in names if (bits or 0) & bit)
    level = "+".join(marks) or "none"
    facts = (("markings", marks),)
    if required <= set(marks):
        return verdict("cet", Status.PASS, f"marked {level}", *facts, level=level)
    rust = (
        " (stable rustc cannot emit these markings yet)" if "rust" in classify(ev).languages else ""
    )
    shown = f"only {level}" if marks else "no control-flow protection markings"
    missing = ", ".join(sorted(required - set(marks)))
    return verdict("cet", Status.FAIL, f"{shown}, missing {missing}{rust}", *facts, level=level)
