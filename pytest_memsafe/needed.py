"""Which vendored file each library a binary loads resolves to (policy layer).

ELF ``DT_NEEDED`` names through ``$ORIGIN``-relative RUNPATH/RPATH (auditwheel's rule),
Mach-O install names through ``@loader_path`` and ``@loader_path``-relative ``LC_RPATH``
(delocate's), PE imported DLLs beside the binary or in a ``*.libs`` folder (delvewheel's,
names compared without case as Windows does). Read only: never ``ldd``, never the host's
library directories. Paths are report display paths; a wheel member's directory is inside
its wheel (``dist/x.whl!pkg``); a slice of a universal file matches ``<path>[arch]``.
"""

from __future__ import annotations

import posixpath
from collections.abc import Collection

from .evidence.elf_records import ElfEvidence
from .evidence.macho_records import MachoSlice
from .evidence.pe_records import PeEvidence
from .identity import split_slice

__all__ = ["resolve_needed"]

Needed = list[dict[str, str | None]]


def _origin_dirs(ev: ElfEvidence, display: str) -> tuple[str, list[str]]:
    """(wheel prefix, ``$ORIGIN``-relative search directories inside it)."""
    prefix, _, inner = display.rpartition("!")
    origin = posixpath.dirname(inner)
    dyn = ev.dynamic
    paths = (dyn.runpath, dyn.rpath) if dyn is not None else ()
    entries = [entry for value in paths if value for entry in value.split(":")]
    relative = (entry.replace("${ORIGIN}", "$ORIGIN", 1) for entry in entries)
    dirs = [
        posixpath.normpath(posixpath.join(origin, entry.removeprefix("$ORIGIN").lstrip("/")))
        for entry in relative
        if entry.startswith("$ORIGIN")
    ]
    return (f"{prefix}!" if prefix else ""), [*dirs, origin]


def resolve_needed(
    ev: ElfEvidence | PeEvidence | MachoSlice, display: str, available: Collection[str]
) -> Needed:
    """Each library the binary loads, with the display path of the checked file it resolves
    to, or None."""
    if isinstance(ev, PeEvidence):
        return _resolve_pe(ev, display, available)
    if isinstance(ev, MachoSlice):
        return _resolve_macho(ev, display, available)
    return _resolve_elf(ev, display, available)


def _resolve_elf(ev: ElfEvidence, display: str, available: Collection[str]) -> Needed:
    prefix, dirs = _origin_dirs(ev, display)
    needed = ev.dynamic.needed if ev.dynamic is not None else ()
    resolved = []
    for name in needed:
        found = next(
            (
                path
                for directory in dirs
                if (path := prefix + posixpath.normpath(posixpath.join(directory, name)))
                in available
            ),
            None,
        )
        resolved.append({"name": name, "vendored": found})
    return resolved


def _split(display: str) -> tuple[str, str, str]:
    """(wheel prefix with its ``!``, directory inside it, ``[arch]`` suffix or "")."""
    display, arch = split_slice(display)
    prefix, _, inner = display.rpartition("!")
    return (f"{prefix}!" if prefix else ""), posixpath.dirname(inner), arch


def _resolve_macho(ev: MachoSlice, display: str, available: Collection[str]) -> Needed:
    prefix, origin, arch = _split(display)
    loader_dirs = [
        posixpath.join(origin, rpath.removeprefix("@loader_path").lstrip("/"))
        for rpath in ev.rpaths
        if rpath.startswith("@loader_path")
    ]
    resolved: Needed = []
    for name in ev.dylibs:
        if name.startswith("@loader_path/"):
            candidates = [posixpath.join(origin, name.removeprefix("@loader_path/"))]
        elif name.startswith("@rpath/"):
            candidates = [posixpath.join(d, name.removeprefix("@rpath/")) for d in loader_dirs]
        else:
            candidates = []
        found = next(
            (
                shown
                for path in candidates
                for shown in (
                    prefix + posixpath.normpath(path) + arch,
                    prefix + posixpath.normpath(path),
                )
                if shown in available
            ),
            None,
        )
        resolved.append({"name": name, "vendored": found})
    return resolved


def _resolve_pe(ev: PeEvidence, display: str, available: Collection[str]) -> Needed:
    prefix, origin, _ = _split(display)
    by_name: dict[str, str] = {}
    for shown in sorted(available):
        other_prefix, other_dir, _ = _split(shown)
        if other_prefix != prefix:
            continue
        if other_dir == origin or posixpath.basename(other_dir).endswith(".libs"):
            by_name.setdefault(posixpath.basename(shown).lower(), shown)
    return [{"name": dll, "vendored": by_name.get(dll.lower())} for dll in ev.import_dlls]
