"""Mach-O (macOS extension and dylib) checks under the shared concept ids, per slice.

Checks layer: pure functions of :class:`MachoSlice`; no I/O, no parser, no policy.
Rules: reference/checks.md §1c and §3.7.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from typing import Final

from ..evidence.macho_records import (
    CS_ADHOC,
    CS_LINKER_SIGNED,
    CS_RUNTIME,
    MH_ALLOW_STACK_EXECUTION,
    MH_BUNDLE,
    MH_DYLIB,
    MH_EXECUTE,
    MH_PIE,
    MachoSlice,
)
from ..model import Status, Verdict
from .base import CheckParams, verdict
from .imports import canary_verdict, fortify_verdict, rust_unknown

__all__ = [
    "EXECUTABLE_ONLY",
    "SIGNATURE_LEVELS",
    "check_canary",
    "check_code_signature",
    "check_fortify",
    "check_loadable",
    "check_nx",
    "check_rpath",
    "check_wx",
]

SYSTEM_PREFIXES: Final = ("/usr/lib/", "/System/")
"""Absolute install names and search paths that only the OS can populate."""
SIGNED_ARCHES: Final = frozenset({"arm64", "arm64e"})
"""Slices macOS refuses to run unsigned."""
SIGNATURE_LEVELS: Final = ("none", "linker-signed", "ad-hoc", "certificate")


def check_canary(ev: MachoSlice, params: CheckParams) -> Verdict:
    """Stack protector: ``___stack_chk_fail``/``___stack_chk_guard`` among the undefined
    symbols (symbol table or chained-fixups imports). Reference: checks.md §1c
    ``macho.stack_canary``."""
    return canary_verdict(ev.imports, instead=rust_unknown("canary", ev.rust_marker))


def check_fortify(ev: MachoSlice, params: CheckParams) -> Verdict:
    """FORTIFY_SOURCE: ``___<f>_chk`` imports against the fortifiable names, graded like
    ELF. Reference: checks.md §1c ``macho.fortify``, §2.4."""
    return fortify_verdict(ev.imports, params, instead=rust_unknown("fortify", ev.rust_marker))


def check_nx(ev: MachoSlice, params: CheckParams) -> Verdict:
    """Non-executable stack. Fails when: the header has ``MH_ALLOW_STACK_EXECUTION`` (only the
    main executable's flag is honoured, but an extension asking for it was linked with
    ``-allow_stack_execute`` on purpose). Reference: checks.md §1c ``macho.nx_stack``."""
    if ev.flags & MH_ALLOW_STACK_EXECUTION:
        return verdict("nx", Status.FAIL, "MH_ALLOW_STACK_EXECUTION is set")
    return verdict("nx", Status.PASS, "the image does not ask for an executable stack")


def check_wx(ev: MachoSlice, params: CheckParams) -> Verdict:
    """W^X. Fails when: a segment's initial protection is both writable and executable
    (a writable-and-executable ``maxprot`` alone is reported). Reference: checks.md §1c
    ``macho.segment_perms``."""
    both = tuple(seg.name for seg in ev.segments if seg.writable_and_executable)
    maxprot = tuple(seg.name for seg in ev.segments if seg.maxprot & 0x6 == 0x6)
    facts = (("wx_segments", both), ("wx_maxprot", maxprot))
    if both:
        return verdict(
            "wx", Status.FAIL, f"writable and executable segment(s): {', '.join(both)}", *facts
        )
    return verdict("wx", Status.PASS, "no segment is both writable and executable", *facts)


def _unsafe_path(path: str, allow: tuple[str, ...], *, install_name: bool) -> str | None:
    """Why a search path or install name lets someone else plant the library (or None)."""
    if path.startswith("@loader_path") or any(fnmatch.fnmatchcase(path, p) for p in allow):
        return None
    if install_name and path.startswith("@rpath/"):
        return None  # resolved through LC_RPATH, which is checked itself
    if path.startswith("@executable_path"):
        return "relative to the executable (the Python interpreter, not this package)"
    if path.startswith("/"):
        return None if path.startswith(SYSTEM_PREFIXES) else "an absolute path outside the OS"
    return "relative to the current directory"


def check_rpath(ev: MachoSlice, params: CheckParams) -> Verdict:
    """Dylib hijacking. Fails when: an ``LC_RPATH`` is not ``@loader_path``-relative, or a
    loaded library's install name is an absolute path outside ``/usr/lib`` and ``/System``,
    ``@executable_path``-relative or relative (delocate rewrites both). ``@rpath/`` install
    names pass (their search paths are the ``LC_RPATH`` entries checked here). Entries
    matching ``params.rpath_allow`` pass. Reference: checks.md §1c ``macho.rpath``."""
    bad = [
        f"{kind} {path} ({why})"
        for kind, paths, install_name in (
            ("LC_RPATH", ev.rpaths, False),
            ("dylib", ev.dylibs, True),
        )
        for path in paths
        if (why := _unsafe_path(path, params.rpath_allow, install_name=install_name))
    ]
    facts = (("rpaths", ev.rpaths), ("dylibs", ev.dylibs))
    if bad:
        return verdict("rpath", Status.FAIL, "; ".join(bad), *facts)
    summary = "search paths are @loader_path-relative" if ev.rpaths else "no LC_RPATH"
    return verdict("rpath", Status.PASS, summary, *facts)


def _signature_level(ev: MachoSlice) -> str:
    signature = ev.code_signature
    if signature is None or signature.flags is None:
        return "none"
    if signature.has_certificates:
        return "certificate"
    if signature.flags & CS_LINKER_SIGNED:
        return "linker-signed"
    return "ad-hoc" if signature.flags & CS_ADHOC else "certificate"


def check_code_signature(ev: MachoSlice, params: CheckParams) -> Verdict:
    """Code signature, graded none / linker-signed / ad-hoc / certificate.

    Fails when: an arm64 slice has no signature (or a signature without a CodeDirectory):
    macOS on Apple silicon refuses to run it. Other slices pass unsigned.
    Reference: checks.md §1c ``macho.code_signature``.
    """
    level = _signature_level(ev)
    signature = ev.code_signature
    facts = (
        ("flags", hex(signature.flags) if signature and signature.flags is not None else None),
        ("identifier", signature.identifier if signature else None),
    )
    if level != "none":
        return verdict("code-signature", Status.PASS, f"signed ({level})", *facts, level=level)
    what = "a signature without a CodeDirectory" if signature else "no code signature"
    if ev.machine in SIGNED_ARCHES:
        return verdict(
            "code-signature",
            Status.FAIL,
            f"{what}: macOS on Apple silicon will not load an unsigned {ev.machine} image",
            *facts,
            level=level,
        )
    return verdict(
        "code-signature", Status.PASS, f"{what} ({ev.machine} may run unsigned)", *facts,
        level=level,
    )  # fmt: skip


def check_loadable(ev: MachoSlice, params: CheckParams) -> Verdict:
    """Importable as an extension: ``MH_BUNDLE`` (setuptools) or ``MH_DYLIB`` (maturin);
    an ``MH_EXECUTE`` or object file is not. Reference: checks.md §1c (filetypes)."""
    if ev.filetype in (MH_BUNDLE, MH_DYLIB):
        return verdict("loadable", Status.PASS, f"{ev.filetype_name} image")
    return verdict(
        "loadable", Status.FAIL, f"{ev.filetype_name} image: dlopen() cannot load it as a module"
    )


# --------------------------------------------------------------------------- executables


def _pagezero(ev: MachoSlice) -> bool:
    reserved = (1 << 32) if ev.bits == 64 else 0x1000
    return any(
        seg.name == "__PAGEZERO"
        and seg.vmaddr == 0
        and seg.initprot == 0
        and seg.vmsize >= reserved
        for seg in ev.segments
    )


EXECUTABLE_ONLY: Final[dict[str, tuple[str, Callable[[MachoSlice], bool]]]] = {
    "pie": ("MH_PIE (a randomised executable base)", lambda ev: bool(ev.flags & MH_PIE)),
    "hardened-runtime": (
        "the hardened runtime (CS_RUNTIME)",
        lambda ev: bool(
            ev.code_signature and ev.code_signature.flags and ev.code_signature.flags & CS_RUNTIME
        ),
    ),
    "pagezero": ("a __PAGEZERO segment that maps the low memory inaccessible", _pagezero),
    "restrict": (
        "a __RESTRICT segment (ignore DYLD_* variables)",
        lambda ev: "__RESTRICT" in ev.segment_names,
    ),
}
"""Properties of the main executable: (what it is, whether the slice has it)."""


def executable_only(check_id: str) -> Callable[[MachoSlice, CheckParams], Verdict]:
    """The check for one :data:`EXECUTABLE_ONLY` property: not applicable to bundles and
    dylibs (the process's executable decides), judged on an ``MH_EXECUTE`` image."""
    what, holds = EXECUTABLE_ONLY[check_id]

    def check(ev: MachoSlice, params: CheckParams) -> Verdict:
        if ev.filetype != MH_EXECUTE:
            return verdict(
                check_id,
                Status.NOT_APPLICABLE,
                f"{what} is a property of the executable (python), not of a "
                f"{ev.filetype_name} it loads",
            )
        if holds(ev):
            return verdict(check_id, Status.PASS, f"has {what}")
        return verdict(check_id, Status.FAIL, f"lacks {what}")

    check.__doc__ = f"{what}: executables only. Reference: checks.md §1c, §3.7."
    return check
