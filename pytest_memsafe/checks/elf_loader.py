"""ELF checks of what the dynamic loader enforces: relro, nx, wx, pic, rpath, loadable.

Checks layer: pure functions of :class:`ElfEvidence`; no I/O, no parser, no policy.
"""

from __future__ import annotations

import bisect
import fnmatch
from typing import Final

from ..evidence.elf_records import (
    DF_1_NOOPEN,
    DF_1_NOW,
    DF_1_PIE,
    DF_BIND_NOW,
    DF_TEXTREL,
    DT_BIND_NOW,
    DT_JMPREL,
    DT_TEXTREL,
    ET_EXEC,
    ET_REL,
    PT_GNU_RELRO,
    PT_GNU_STACK,
    PT_LOAD,
    PT_TLS,
    ElfEvidence,
)
from ..model import Fact, Status, Verdict
from .base import RELRO_LEVELS, CheckParams, verdict

__all__ = [
    "check_loadable",
    "check_nx",
    "check_pic",
    "check_relro",
    "check_rpath",
    "check_wx",
]

PAGE_SIZE: Final = 4096
"""glibc protects whole pages of the RELRO range; 4 KiB is the smallest page in use."""

STACK_NOT_EXECUTABLE_BY_DEFAULT: Final = frozenset(
    {"aarch64", "riscv64", "riscv32", "loongarch64", "ia64", "EM_93", "EM_195", "EM_252", "EM_113"}
)
"""Machines whose glibc ``DEFAULT_STACK_PERMS`` lack ``PF_X`` (arc, csky and nios2 by number)."""


def _not_applicable(check_id: str, ev: ElfEvidence, *, dynamic: bool = True) -> Verdict | None:
    """not_applicable for an object without program headers (or, if asked, ``PT_DYNAMIC``)."""
    if not ev.segments:
        return verdict(check_id, Status.NOT_APPLICABLE, "no program headers: not a loadable object")
    if dynamic and ev.dynamic is None:
        return verdict(check_id, Status.NOT_APPLICABLE, "no PT_DYNAMIC: statically linked object")
    return None


def _count_inside(slots: tuple[int, ...], ranges: list[tuple[int, int]]) -> int:
    """How many of the sorted ``slots`` lie in the union of the ``[low, high)`` ranges
    (by bisection: libraries have hundreds of thousands of GOT slots)."""
    inside, reached = 0, 0
    for low, high in sorted(ranges):
        low = max(low, reached)  # overlapping ranges count a slot once
        if high > low:
            inside += bisect.bisect_left(slots, high) - bisect.bisect_left(slots, low)
            reached = high
    return inside


def check_relro(ev: ElfEvidence, params: CheckParams) -> Verdict:
    """RELRO, graded none / partial / full.

    Evidence: ``PT_GNU_RELRO``; bind-now as ``DT_BIND_NOW``, ``DF_BIND_NOW`` or ``DF_1_NOW``;
    the ``r_offset`` of every ``DT_JMPREL`` and ``GLOB_DAT`` relocation.
    Full when: a ``PT_GNU_RELRO`` exists, binding is immediate (or there is no PLT), and every
    GOT slot lies inside the page-truncated RELRO range, so it is read-only after relocation.
    Partial when: ``PT_GNU_RELRO`` exists but some slot stays writable. Passes when the level
    meets ``params.relro_min``. Not applicable: no program headers or no ``PT_DYNAMIC``.
    Reference: checks.md §1a ``elf.full_relro`` (BIND_NOW without ``PT_GNU_RELRO`` is not full).
    """
    if (na := _not_applicable("relro", ev)) is not None:
        return na
    assert ev.dynamic is not None
    dyn = ev.dynamic
    relro = ev.segments_of(PT_GNU_RELRO)
    bind_now = (
        DT_BIND_NOW in dyn.tags or bool(dyn.flags & DF_BIND_NOW) or bool(dyn.flags_1 & DF_1_NOW)
    )
    lazy_plt = DT_JMPREL in dyn.tags and not bind_now
    ranges = [
        (seg.vaddr - seg.vaddr % PAGE_SIZE, (seg.vaddr + seg.memsz) // PAGE_SIZE * PAGE_SIZE)
        for seg in relro
    ]
    outside = len(ev.got_slots) - _count_inside(ev.got_slots, ranges)
    facts = (
        ("gnu_relro", bool(relro)),
        ("bind_now", bind_now),
        ("got_slots", len(ev.got_slots)),
        ("got_slots_writable", outside),
    )
    if not relro:
        level = "none"
        summary = "no RELRO: no PT_GNU_RELRO segment" + (
            " (BIND_NOW alone does not protect the GOT)" if bind_now else ""
        )
    elif lazy_plt or outside:
        level = "partial"
        why = "no BIND_NOW" if lazy_plt else f"{outside} GOT slot(s) outside the RELRO range"
        summary = f"partial RELRO: PT_GNU_RELRO present, {why}"
    else:
        level = "full"
        summary = "full RELRO: every GOT slot is read-only after relocation"
    meets = RELRO_LEVELS.index(level) >= RELRO_LEVELS.index(params.relro_min)
    status = Status.PASS if meets else Status.FAIL
    return verdict("relro", status, summary, *facts, level=level)


def check_nx(ev: ElfEvidence, params: CheckParams) -> Verdict:
    """Non-executable stack.

    Evidence: ``PT_GNU_STACK`` and its ``PF_X`` flag; the machine.
    Passes when: ``PT_GNU_STACK`` exists without ``PF_X``, or is missing on a machine whose
    default stack is not executable (aarch64, riscv, loongarch, ...). Fails otherwise: glibc
    before 2.41 then makes every thread stack of the interpreter executable, and glibc 2.41
    and later refuse to load the extension. Not applicable: no program headers.
    Reference: checks.md §1a ``elf.nx_stack``, §3.4.
    """
    if (na := _not_applicable("nx", ev, dynamic=False)) is not None:
        return na
    stacks = ev.segments_of(PT_GNU_STACK)
    if stacks:
        executable = any(seg.executable for seg in stacks)
        facts: tuple[Fact, ...] = (("gnu_stack", True), ("stack_executable", executable))
        if executable:
            return verdict(
                "nx",
                Status.FAIL,
                "executable stack: PT_GNU_STACK has PF_X; glibc >= 2.41 refuses to load "
                "this extension, older glibc makes every thread stack executable",
                *facts,
            )
        return verdict(
            "nx", Status.PASS, "non-executable stack (PT_GNU_STACK without PF_X)", *facts
        )
    facts = (("gnu_stack", False), ("machine", ev.machine))
    if ev.machine in STACK_NOT_EXECUTABLE_BY_DEFAULT:
        return verdict(
            "nx",
            Status.PASS,
            f"no PT_GNU_STACK; the {ev.machine} default stack is not executable",
            *facts,
        )
    return verdict(
        "nx",
        Status.FAIL,
        f"no PT_GNU_STACK: on {ev.machine} the stack defaults to executable; glibc >= 2.41 "
        "refuses to load this extension, older glibc makes every thread stack executable",
        *facts,
    )


def check_wx(ev: ElfEvidence, params: CheckParams) -> Verdict:
    """No segment that is both writable and executable (W^X).

    Evidence: flags of every ``PT_LOAD`` with ``p_memsz > 0`` and of ``PT_TLS``.
    Passes when: no ``PT_LOAD`` has both ``PF_W`` and ``PF_X`` and no ``PT_TLS`` has ``PF_X``.
    Not applicable: no program headers. Reference: checks.md §1a ``elf.rwx_segments``.
    """
    if (na := _not_applicable("wx", ev, dynamic=False)) is not None:
        return na
    bad = [
        seg
        for seg in ev.segments
        if (seg.p_type == PT_LOAD and seg.memsz and seg.writable and seg.executable)
        or (seg.p_type == PT_TLS and seg.executable)
    ]
    if bad:
        where = ", ".join(
            f"{'PT_TLS' if seg.p_type == PT_TLS else 'PT_LOAD'} at {seg.vaddr:#x}" for seg in bad
        )
        return verdict(
            "wx",
            Status.FAIL,
            f"writable and executable segment(s): {where}",
            ("wx_segments", len(bad)),
        )
    return verdict("wx", Status.PASS, "no writable and executable segment", ("wx_segments", 0))


def check_pic(ev: ElfEvidence, params: CheckParams) -> Verdict:
    """Position-independent code: no text relocations.

    Evidence: a ``DT_TEXTREL`` entry or ``DF_TEXTREL`` in ``DT_FLAGS``.
    Passes when: neither is present. Not applicable: no program headers or no ``PT_DYNAMIC``.
    Reference: checks.md §1a ``elf.pic``.
    """
    if (na := _not_applicable("pic", ev)) is not None:
        return na
    assert ev.dynamic is not None
    textrel = DT_TEXTREL in ev.dynamic.tags or bool(ev.dynamic.flags & DF_TEXTREL)
    if textrel:
        return verdict(
            "pic",
            Status.FAIL,
            "text relocations (DT_TEXTREL): the loader must make code pages writable",
            ("textrel", True),
        )
    return verdict("pic", Status.PASS, "no text relocations", ("textrel", False))


def rpath_problem(entry: str, allow: tuple[str, ...]) -> str | None:
    """Why one RPATH/RUNPATH element is unsafe, or None when it is fine."""
    if not entry:
        return "empty element (searches the current directory)"
    if entry.startswith(("$ORIGIN", "${ORIGIN}")):
        return None
    if not entry.startswith("/"):
        return f"{entry!r} is relative to the current directory"
    if any(fnmatch.fnmatchcase(entry, pattern) for pattern in allow):
        return None
    return f"{entry!r} is an absolute path (a build-host directory on the user's machine)"


def check_rpath(ev: ElfEvidence, params: CheckParams) -> Verdict:
    """Safe library search paths.

    Evidence: every ``:``-separated element of ``DT_RPATH`` and ``DT_RUNPATH``.
    Passes when: there is none, or every element is ``$ORIGIN``-relative or matches
    ``params.rpath_allow``. Fails on an empty element, a CWD-relative element or an absolute
    path. A ``DT_RPATH`` (not ``DT_RUNPATH``) is noted. Not applicable: no ``PT_DYNAMIC``.
    Reference: checks.md §1a ``elf.rpath``.
    """
    if (na := _not_applicable("rpath", ev)) is not None:
        return na
    assert ev.dynamic is not None
    dyn = ev.dynamic
    facts = (("rpath", dyn.rpath), ("runpath", dyn.runpath))
    paths = [("DT_RPATH", dyn.rpath), ("DT_RUNPATH", dyn.runpath)]
    problems = [
        f"{tag} {problem}"
        for tag, value in paths
        if value is not None
        for entry in value.split(":")
        if (problem := rpath_problem(entry, params.rpath_allow)) is not None
    ]
    if problems:
        return verdict("rpath", Status.FAIL, "unsafe search path: " + "; ".join(problems), *facts)
    if dyn.rpath is None and dyn.runpath is None:
        return verdict("rpath", Status.PASS, "no RPATH or RUNPATH", *facts)
    note = " (DT_RPATH also applies to dependencies; prefer DT_RUNPATH)" if dyn.rpath else ""
    return verdict("rpath", Status.PASS, f"search path is $ORIGIN-relative{note}", *facts)


def check_loadable(ev: ElfEvidence, params: CheckParams) -> Verdict:
    """Nothing stops ``import`` from loading the object.

    Evidence: ``e_type``; ``DF_1_PIE`` and ``DF_1_NOOPEN`` in ``DT_FLAGS_1``.
    Fails when: the file is a relocatable object or a non-PIE executable, carries
    ``DF_1_PIE`` (glibc >= 2.30 refuses to load a PIE), or is an extension module with
    ``DF_1_NOOPEN`` (``-z nodlopen``: ``dlopen`` refuses it). Reference: checks.md §1a
    ``elf.ext_not_pie``, ``elf.ext_dlopenable``.
    """
    if ev.e_type in (ET_REL, ET_EXEC):
        kind = "a relocatable object (.o)" if ev.e_type == ET_REL else "a non-PIE executable"
        return verdict(
            "loadable",
            Status.FAIL,
            f"{kind}, not a shared object: it cannot be loaded",
            ("e_type", ev.e_type),
        )
    flags_1 = ev.dynamic.flags_1 if ev.dynamic is not None else 0
    facts = (("df_1_pie", bool(flags_1 & DF_1_PIE)), ("df_1_noopen", bool(flags_1 & DF_1_NOOPEN)))
    if flags_1 & DF_1_PIE:
        return verdict(
            "loadable",
            Status.FAIL,
            "DF_1_PIE: linked as a PIE executable; glibc >= 2.30 refuses to load it",
            *facts,
        )
    if flags_1 & DF_1_NOOPEN and ev.is_python_extension:
        return verdict(
            "loadable",
            Status.FAIL,
            "DF_1_NOOPEN (-z nodlopen): dlopen() refuses it, so import fails",
            *facts,
        )
    return verdict("loadable", Status.PASS, "loadable by dlopen()", *facts)
