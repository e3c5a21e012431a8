"""Wheels: the binaries inside a ``.whl``, read into memory, never extracted to disk.

Discovery layer (stdlib and packaging only). Every member is treated as hostile: unsafe
names, duplicates, oversized members and zip bombs become artifacts with a ``problem``
(reported as ERROR items), and a corrupt archive becomes one such artifact for the wheel.
"""

from __future__ import annotations

import zipfile
from collections.abc import Collection
from pathlib import Path, PurePosixPath
from typing import Final

from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from .discovery import images, is_candidate_name
from .files import MAX_MEMBER_BYTES
from .model import Artifact, BinaryFormat
from .sniff import SNIFF_BYTES, sniff_format

__all__ = ["MAX_RATIO", "wheel_artifacts", "wheel_tags"]

MAX_TOTAL_BYTES: Final = 4 << 30
"""Largest total of the binary members of one wheel."""
MAX_RATIO: Final = 200
"""Largest uncompressed/compressed ratio of a member over 1 MiB (code compresses ~3-5x)."""


def wheel_tags(path: Path) -> dict[str, object] | None:
    """Name, version and tags from the wheel's file name (None when it is not valid)."""
    try:
        name, version, build, tags = parse_wheel_filename(path.name)
    except InvalidWheelFilename:
        return None
    return {
        "name": str(name),
        "version": str(version),
        "build": list(build) if build else None,
        "tags": sorted(str(tag) for tag in tags),
    }


def _member_problem(info: zipfile.ZipInfo, seen: set[str]) -> str | None:
    """Why a member must not be read, or None."""
    name = info.filename
    parts = PurePosixPath(name).parts
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or ".." in parts:
        return f"unsafe member name {name!r} (absolute or '..')"
    if name in seen:
        return f"duplicate member {name!r}"
    if info.file_size > MAX_MEMBER_BYTES:
        return f"member is {info.file_size} bytes, over the {MAX_MEMBER_BYTES} limit"
    if info.file_size > 1 << 20 and info.file_size > MAX_RATIO * max(info.compress_size, 1):
        return f"compression ratio over {MAX_RATIO}: a zip bomb?"
    return None


def wheel_artifacts(
    path: Path, display: str, *, formats: Collection[BinaryFormat]
) -> list[Artifact]:
    """One artifact per binary member, displayed ``<wheel>!<member>``, in member order."""

    def artifact(
        member: str, *, problem: str | None = None, fmt: BinaryFormat | None = None
    ) -> Artifact:
        return Artifact(
            path=str(path.resolve()), display=f"{display}!{member}", origin="wheel",
            member=member, format=fmt, problem=problem,
        )  # fmt: skip

    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile, ValueError) as exc:
        return [
            Artifact(
                path=str(path.resolve()),
                display=display,
                origin="wheel",
                problem=f"not a readable wheel: {exc}",
            )
        ]
    found: list[Artifact] = []
    seen: set[str] = set()
    dupes: dict[str, int] = {}  # how many times each duplicated name was met so far
    total = 0
    with archive:
        for info in archive.infolist():
            name = info.filename
            if info.is_dir() or not is_candidate_name(PurePosixPath(name).name):
                seen.add(name)
                continue
            problem = _member_problem(info, seen)
            if name in seen:
                dupes[name] = dupes.get(name, 1) + 1
            seen.add(name)
            total += info.file_size
            if problem is None and total > MAX_TOTAL_BYTES:
                problem = f"binary members exceed {MAX_TOTAL_BYTES} bytes in all"
            if problem is not None:
                # a duplicate gets its own id, so it is reported beside the first copy
                shown = f"{name} (copy {dupes[name]})" if name in dupes else name
                found.append(artifact(shown, problem=problem))
                continue
            try:
                with archive.open(info) as member:
                    head = member.read(SNIFF_BYTES)
            except (OSError, zipfile.BadZipFile, ValueError, EOFError) as exc:
                found.append(artifact(name, problem=f"cannot read member: {exc}"))
                continue
            if not head:  # an empty extension cannot be imported
                found.append(artifact(name, problem="empty file"))
                continue
            fmt = sniff_format(head)
            if fmt is not None and fmt in formats:
                found.extend(images(artifact(name, fmt=fmt), head))
    return found
