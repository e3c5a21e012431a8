"""Discovery: find compiled extensions and shared libraries under target paths.

Files are chosen by name, then identified by their magic bytes; nothing is parsed, imported
or executed. Imports only the model and the sniffer.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import re
from collections.abc import Collection, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Final

from .files import open_regular
from .identity import slice_display
from .model import Artifact, BinaryFormat, Origin
from .sniff import SNIFF_BYTES, fat_slices, sniff_format

__all__ = [
    "SKIPPED_DIRS",
    "discover",
    "display_path",
    "images",
    "inspect_file",
    "is_candidate_name",
]

log = logging.getLogger(__name__)

SKIPPED_DIRS: Final = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".tox",
        ".nox",
        ".venv",
        "venv",
        "node_modules",
        "__pycache__",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".eggs",
    }
)
"""Directory names never walked (virtualenvs are also spotted by their ``pyvenv.cfg``)."""
VIRTUALENV_MARKERS: Final = frozenset({"pyvenv.cfg", "conda-meta"})

_CANDIDATE: Final = re.compile(r".*(\.so(\.\d+)*|\.pyd|\.dll|\.dylib)$", re.IGNORECASE)


def is_candidate_name(name: str) -> bool:
    """Whether a file name looks like an extension or shared library (``.so``, ``.so.1``,
    ``.pyd``, ``.dll``, ``.dylib``; Windows names in any case)."""
    return _CANDIDATE.fullmatch(name) is not None


def display_path(path: Path, rootdir: Path, named_as: tuple[Path, str] | None = None) -> str:
    """Posix path relative to ``rootdir``, else relative to the target the user named."""
    try:
        return path.relative_to(rootdir).as_posix()
    except ValueError:
        pass
    if named_as is not None:
        target, spelled = named_as
        try:
            rest = path.relative_to(target).as_posix()
        except ValueError:
            return path.as_posix()
        return spelled.rstrip("/") + ("/" + rest if rest != "." else "")
    return path.as_posix()


def images(artifact: Artifact, head: bytes) -> list[Artifact]:
    """The artifact, or one per slice of a universal Mach-O file (``<display>[arm64]``)."""
    names = fat_slices(head) if artifact.format is BinaryFormat.MACHO else None
    if not names:
        return [artifact]
    return [
        replace(artifact, display=slice_display(artifact.display, name), slice=name)
        for name in names
    ]


def inspect_file(path: Path, display: str, origin: Origin) -> list[Artifact]:
    """Sniff one candidate file: its :class:`Artifact` (one per slice of a universal Mach-O
    file), or none when it is not a binary.

    A file that cannot be read (a broken symlink, no permission, a FIFO or device) or that
    is empty is still an artifact, with ``problem`` saying why, so that it is reported
    instead of silently dropped.
    """
    try:
        with open_regular(str(path)) as handle:
            head = handle.read(SNIFF_BYTES)
    except FileNotFoundError:
        problem = "broken symlink" if path.is_symlink() else "file vanished"
        if path.is_symlink():
            problem += f" (points to {os.readlink(path)})"
        return [Artifact(path=str(path), display=display, origin=origin, problem=problem)]
    except OSError as exc:
        problem = f"cannot read: {exc.strerror or exc}"
        return [Artifact(path=str(path), display=display, origin=origin, problem=problem)]
    if not head:  # an empty extension cannot be imported: worth an error, not silence
        return [Artifact(path=str(path), display=display, origin=origin, problem="empty file")]
    fmt = sniff_format(head)
    if fmt is None:
        log.debug("memsafe: %s is not a binary (linker script or text?): skipped", display)
        return []
    artifact = Artifact(path=str(path.resolve()), display=display, origin=origin, format=fmt)
    return images(artifact, head)


def _walk(root: Path, seen_dirs: set[tuple[int, int]]) -> Iterator[Path]:
    """Candidate files under ``root`` in sorted order, following directory symlinks once.

    Depth first with an explicit stack, not recursion: a tree nested thousands of folders
    deep is walked like any other.
    """
    stack = [_listing(root, seen_dirs, top=True)]
    while stack:
        found = next(stack[-1], None)
        if found is None:
            stack.pop()
            continue
        path, is_dir = found
        if is_dir:
            stack.append(_listing(path, seen_dirs, top=False))
        else:
            yield path


def _listing(
    folder: Path, seen_dirs: set[tuple[int, int]], *, top: bool
) -> Iterator[tuple[Path, bool]]:
    """(path, is a directory to walk) of the entries of ``folder`` worth a look, sorted.

    A directory below the top holding ``pyvenv.cfg`` or ``conda-meta`` is a virtualenv and
    is skipped; spotting it in the listing we read anyway costs no extra system call.
    """
    try:
        stat = folder.stat()
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except OSError as exc:
        log.debug("memsafe: cannot list %s: %s", folder, exc)
        return
    if (stat.st_dev, stat.st_ino) in seen_dirs:
        return  # a symlink loop or a second route to the same directory
    seen_dirs.add((stat.st_dev, stat.st_ino))
    if not top and any(entry.name in VIRTUALENV_MARKERS for entry in entries):
        log.debug("memsafe: %s is a virtualenv: skipped", folder)
        return
    for entry in entries:
        if _is_dir(entry):  # follows symlinks; loops are stopped by seen_dirs
            if entry.name not in SKIPPED_DIRS:
                yield Path(entry.path), True
        elif is_candidate_name(entry.name):
            yield Path(entry.path), False  # unreadable ones are reported by inspect_file


def _is_dir(entry: os.DirEntry[str]) -> bool:
    """Whether ``entry`` is a directory or a symlink to one; False when the link cannot be
    followed (a loop of symlinks raises ``ELOOP`` where a dangling one gives False)."""
    try:
        return entry.is_dir()
    except OSError:
        return False


def discover(
    targets: Iterable[tuple[Path, str]],
    *,
    rootdir: Path,
    formats: Collection[BinaryFormat],
    exclude: Iterable[str] = (),
    origin: Origin = "tree",
) -> list[Artifact]:
    """Every binary under the target directories, each file once, sorted by display path.

    ``targets`` pairs each directory with the spelling the user gave it (for display paths
    outside the rootdir). ``exclude`` holds fnmatch globs tested against the display path and
    the file name. Only binaries of ``formats`` (and unreadable candidates) are returned.
    """
    patterns = tuple(exclude)
    seen_dirs: set[tuple[int, int]] = set()
    seen_files: set[tuple[int, int]] = set()
    found: list[Artifact] = []
    for target, spelled in targets:
        for path in _walk(target, seen_dirs):
            display = display_path(path, rootdir, (target, spelled))
            if any(
                fnmatch.fnmatchcase(display, p) or fnmatch.fnmatchcase(path.name, p)
                for p in patterns
            ):
                log.debug("memsafe: %s excluded", display)
                continue
            try:
                stat = path.stat()
                identity = (stat.st_dev, stat.st_ino)
            except OSError:
                identity = None
            if identity is not None:
                if identity in seen_files:
                    log.debug("memsafe: %s is a second name of a file already found", display)
                    continue
                seen_files.add(identity)
            found.extend(
                artifact
                for artifact in inspect_file(path, display, origin)
                if artifact.format is None or artifact.format in formats
            )
    return sorted(found, key=lambda artifact: artifact.display)
