"""Which vendored file each ``DT_NEEDED`` library of a binary resolves to (policy layer).

Read only, like auditwheel's ``$ORIGIN``-relative RUNPATH logic: never ``ldd``, never the
host's library directories. Paths are report display paths; a wheel member's directory is
inside its wheel (``dist/x.whl!pkg``).
"""

from __future__ import annotations

import posixpath
from collections.abc import Collection

from .evidence.elf_records import ElfEvidence

__all__ = ["resolve_needed"]


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
    ev: ElfEvidence, display: str, available: Collection[str]
) -> list[dict[str, str | None]]:
    """Each NEEDED name with the display path of the checked file it resolves to, or None."""
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
