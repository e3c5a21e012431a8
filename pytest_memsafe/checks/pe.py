"""PE (Windows ``.pyd``/``.dll``) checks under the shared concept ids.

Checks layer: pure functions of :class:`PeEvidence`; no I/O, no parser, no policy.
Rules: reference/checks.md §1b and §3.7 (BinSkim's where it is stricter than winchecksec).
"""

from __future__ import annotations

from typing import Final

from ..evidence.pe_records import (
    DLLCHAR_DYNAMIC_BASE,
    DLLCHAR_FORCE_INTEGRITY,
    DLLCHAR_GUARD_CF,
    DLLCHAR_HIGH_ENTROPY_VA,
    DLLCHAR_NO_SEH,
    DLLCHAR_NX_COMPAT,
    EX_DLLCHAR_CET_COMPAT,
    EX_DLLCHAR_CET_STRICT,
    FILE_DLL,
    FILE_RELOCS_STRIPPED,
    GUARD_CF_FUNCTION_TABLE_PRESENT,
    GUARD_CF_INSTRUMENTED,
    GUARD_XFG_ENABLED,
    PeEvidence,
)
from ..model import Status, Verdict
from .base import CheckParams, verdict
from .imports import canary_verdict, fortify_verdict, rust_unknown

__all__ = [
    "check_aslr",
    "check_canary",
    "check_cet",
    "check_cfg",
    "check_fortify",
    "check_loadable",
    "check_nx",
    "check_safeseh",
    "check_wx",
]

LOW_4GB: Final = 0xFFFF_FFFF
PAGE_SIZE: Final = 4096
CET_MACHINES: Final = frozenset({"x86_64", "i386"})
MINGW_RUNTIMES: Final = ("msvcrt.dll", "libssp", "libgcc_s", "libwinpthread", "libstdc++")
"""DLLs only a MinGW-w64 build imports (MSVC links vcruntime and the UCRT api sets)."""


def _flag(ev: PeEvidence, bit: int) -> bool:
    return bool(ev.dll_characteristics & bit)


def check_aslr(ev: PeEvidence, params: CheckParams) -> Verdict:
    """ASLR, graded none / partial / full.

    Evidence: ``DYNAMIC_BASE``, ``RELOCS_STRIPPED``, the base-relocation directory size, the
    image base and ``HIGH_ENTROPY_VA``. Passes when: the image can be moved (DYNAMIC_BASE, a
    non-empty relocation directory, relocations not stripped) and, on PE32+, its preferred
    base lies above 4 GiB (BinSkim BA2001). The level is ``full`` when PE32+ also has
    HIGH_ENTROPY_VA (PE32 has no such bit), ``partial`` otherwise.
    Reference: checks.md §1b ``pe.aslr``, ``pe.image_base_above_4gb``, ``pe.high_entropy_va``.
    """
    missing = [
        why
        for why, lacking in (
            ("no DYNAMIC_BASE", not _flag(ev, DLLCHAR_DYNAMIC_BASE)),
            ("relocations stripped", bool(ev.characteristics & FILE_RELOCS_STRIPPED)),
            ("no base relocations", ev.reloc_size == 0),
        )
        if lacking
    ]
    high_entropy = _flag(ev, DLLCHAR_HIGH_ENTROPY_VA)
    facts = (
        ("dynamic_base", _flag(ev, DLLCHAR_DYNAMIC_BASE)),
        ("relocation_bytes", ev.reloc_size),
        ("image_base", hex(ev.image_base)),
        ("high_entropy_va", high_entropy if ev.pe32_plus else None),
    )
    if missing:
        return verdict(
            "aslr", Status.FAIL, f"the image cannot move: {', '.join(missing)}", *facts,
            level="none",
        )  # fmt: skip
    if ev.pe32_plus and ev.image_base <= LOW_4GB:
        return verdict(
            "aslr",
            Status.FAIL,
            f"image base {ev.image_base:#x} lies below 4 GiB: a 64-bit image there gets "
            "low-entropy ASLR",
            *facts,
            level="partial",
        )
    if ev.pe32_plus and not high_entropy:
        return verdict(
            "aslr", Status.PASS, "relocatable, but without HIGH_ENTROPY_VA", *facts,
            level="partial",
        )  # fmt: skip
    return verdict("aslr", Status.PASS, "relocatable at a random base", *facts, level="full")


def check_nx(ev: PeEvidence, params: CheckParams) -> Verdict:
    """DEP. Evidence: ``NX_COMPAT``. Passes when: set. (64-bit Windows enforces DEP for
    64-bit processes whatever the flag says; for 32-bit it decides.)
    Reference: checks.md §1b ``pe.nx_compat``."""
    if _flag(ev, DLLCHAR_NX_COMPAT):
        return verdict("nx", Status.PASS, "NX_COMPAT set (DEP)")
    note = " (64-bit Windows enforces DEP anyway)" if ev.pe32_plus else ""
    return verdict("nx", Status.FAIL, f"NX_COMPAT not set{note}")


def check_cfg(ev: PeEvidence, params: CheckParams) -> Verdict:
    """Control Flow Guard, as BinSkim BA2008 judges it (not the flag alone).

    Evidence: ``GUARD_CF`` and the load config's guard fields (read against its ``Size``).
    Passes when: GUARD_CF is set, the load config has a CFG check-function pointer and
    function table, and its GuardFlags hold CF_INSTRUMENTED and CF_FUNCTION_TABLE_PRESENT.
    Reference: checks.md §1b ``pe.cfg``.
    """
    config = ev.load_config
    flags = config.guard_flags if config is not None else None
    facts = (
        ("guard_cf", _flag(ev, DLLCHAR_GUARD_CF)),
        ("guard_flags", hex(flags) if flags is not None else None),
        ("xfg", bool(flags and flags & GUARD_XFG_ENABLED)),
    )
    if not _flag(ev, DLLCHAR_GUARD_CF):
        return verdict("cfg", Status.FAIL, "not built with Control Flow Guard (/guard:cf)", *facts)
    instrumented = (
        config is not None
        and bool(config.guard_cf_check_function)
        and bool(config.guard_cf_function_table)
        and flags is not None
        and flags & GUARD_CF_INSTRUMENTED
        and flags & GUARD_CF_FUNCTION_TABLE_PRESENT
    )
    if not instrumented:
        where = "no load config" if config is None else "a load config without CFG data"
        return verdict(
            "cfg",
            Status.FAIL,
            f"GUARD_CF is set but the image has {where}: nothing is instrumented",
            *facts,
        )
    return verdict("cfg", Status.PASS, "Control Flow Guard instrumented", *facts)


def check_canary(ev: PeEvidence, params: CheckParams) -> Verdict:
    """Stack protector: MSVC ``/GS`` or MinGW ``-fstack-protector``.

    Evidence: a non-zero load-config ``SecurityCookie`` (read only when the structure's
    ``Size`` covers it), else ``__stack_chk_fail``/``__stack_chk_guard`` imported or defined
    in the COFF symbol table (libssp linked statically; a stripped image loses this).
    A cookie proves the image reserves one (the MSVC CRT always does), not that every
    function uses it. Fails when: neither, yet the code imports buffer-writing calls.
    Reference: checks.md §1b ``pe.gs``.
    """
    config = ev.load_config
    if config is not None and config.security_cookie:
        return verdict(
            "canary",
            Status.PASS,
            f"/GS security cookie at {config.security_cookie:#x}",
            ("load_config_size", config.size),
        )
    if ev.linked_in:
        return verdict(
            "canary",
            Status.PASS,
            f"stack protector linked statically ({min(ev.linked_in)} defined in the image)",
            ("linked_in", tuple(sorted(ev.linked_in))),
        )
    return canary_verdict(
        ev.imports,
        instead=rust_unknown("canary", ev.rust_marker),
        protector="/GS security cookie or stack protector import",
    )


def check_fortify(ev: PeEvidence, params: CheckParams) -> Verdict:
    """MinGW ``_FORTIFY_SOURCE``: ``__<f>_chk`` imports (libssp), graded like ELF.

    Not applicable when: nothing is imported from a MinGW runtime (MSVC has no FORTIFY).
    Reference: checks.md §1b ``pe.fortify_mingw``, §2.4.
    """
    mingw = any(name.lower().startswith(MINGW_RUNTIMES) for name in ev.import_dlls)
    if not mingw:
        return verdict(
            "fortify",
            Status.NOT_APPLICABLE,
            "not a MinGW build (MSVC has no _FORTIFY_SOURCE)",
            ("import_dlls", ev.import_dlls[:8]),
        )
    return fortify_verdict(ev.imports, params, instead=rust_unknown("fortify", ev.rust_marker))


def check_safeseh(ev: PeEvidence, params: CheckParams) -> Verdict:
    """SafeSEH (x86 only). Passes when: ``NO_SEH`` is set, or the load config (read against
    its ``Size``) has a handler table and count. Not applicable: other machines, whose
    exception handling is table-based. Reference: checks.md §1b ``pe.safeseh``."""
    if ev.machine != "i386":
        return verdict(
            "safeseh",
            Status.NOT_APPLICABLE,
            f"SafeSEH is x86 only; {ev.machine} uses table-based exception handling",
        )
    if _flag(ev, DLLCHAR_NO_SEH):
        return verdict("safeseh", Status.PASS, "NO_SEH: the image has no exception handlers")
    config = ev.load_config
    if config is not None and config.se_handler_table and config.se_handler_count:
        return verdict(
            "safeseh",
            Status.PASS,
            f"{config.se_handler_count} registered exception handler(s)",
            ("se_handler_count", config.se_handler_count),
        )
    return verdict("safeseh", Status.FAIL, "no SafeSEH handler table and NO_SEH not set")


def check_cet(ev: PeEvidence, params: CheckParams) -> Verdict:
    """CET shadow-stack compatibility. Evidence: the ``EX_DLLCHARACTERISTICS`` debug entry.
    Passes when: CET_COMPAT is set (level ``strict`` with strict mode). Not applicable:
    machines other than x86/x64. Reference: checks.md §1b ``pe.cetcompat``."""
    if ev.machine not in CET_MACHINES:
        return verdict("cet", Status.NOT_APPLICABLE, f"CET does not exist on {ev.machine}")
    bits = ev.ex_dll_characteristics or 0
    facts = (
        ("ex_dll_characteristics", hex(bits) if ev.ex_dll_characteristics is not None else None),
    )
    if bits & EX_DLLCHAR_CET_COMPAT:
        level = "strict" if bits & EX_DLLCHAR_CET_STRICT else "compat"
        return verdict(
            "cet", Status.PASS, f"CET shadow-stack compatible ({level})", *facts, level=level
        )
    return verdict(
        "cet", Status.FAIL, "not marked CET-compatible (/CETCOMPAT)", *facts, level="none"
    )


def check_wx(ev: PeEvidence, params: CheckParams) -> Verdict:
    """W^X. Fails when: a section is both writable and executable, a writable section is
    shared between processes, or sections are aligned below a page (they then share pages).
    Reference: checks.md §1b ``pe.wx_sections``, ``pe.shared_writable``."""
    wx = tuple(section.name for section in ev.sections if section.writable and section.executable)
    shared = tuple(section.name for section in ev.sections if section.writable and section.shared)
    facts = (
        ("wx_sections", wx),
        ("shared_writable", shared),
        ("section_alignment", ev.section_alignment),
    )
    problems = [
        text
        for text, present in (
            (f"writable and executable: {', '.join(wx)}", wx),
            (f"writable and shared between processes: {', '.join(shared)}", shared),
            (
                f"section alignment {ev.section_alignment} is below a page",
                ev.section_alignment < PAGE_SIZE,
            ),
        )
        if present
    ]
    if problems:
        return verdict("wx", Status.FAIL, "; ".join(problems), *facts)
    return verdict(
        "wx", Status.PASS, "no section is both writable and executable or shared", *facts
    )


def check_loadable(ev: PeEvidence, params: CheckParams) -> Verdict:
    """Importable as an extension: a DLL image, and not one that demands a signature it
    lacks (``FORCE_INTEGRITY`` on an unsigned image stops it loading). Authenticode and
    FORCE_INTEGRITY are otherwise informational. Reference: checks.md §1b, §3.7."""
    signed = ev.certificate_size > 0
    force = _flag(ev, DLLCHAR_FORCE_INTEGRITY)
    facts = (("authenticode_signed", signed), ("force_integrity", force))
    if not ev.characteristics & FILE_DLL:
        return verdict(
            "loadable", Status.FAIL, "an EXE image, not a DLL: it cannot be imported", *facts
        )
    if force and not signed:
        return verdict(
            "loadable",
            Status.FAIL,
            "FORCE_INTEGRITY is set but the image is unsigned: Windows refuses to load it",
            *facts,
        )
    return verdict("loadable", Status.PASS, "a DLL image", *facts)
