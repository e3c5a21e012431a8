"""Files on disk: opening regular files without ever blocking, reading archive members
into memory, writing atomically.

A FIFO, socket or device named like a library would make a plain ``open()`` block or read
forever (and opening a FIFO would release a writer waiting on it); it is refused from its
``stat``, before it is opened.
"""

from __future__ import annotations

import os
import stat
import tempfile
import zipfile
from pathlib import Path
from typing import BinaryIO, Final

__all__ = [
    "MAX_BINARY_BYTES",
    "MAX_MEMBER_BYTES",
    "NotRegularFileError",
    "open_regular",
    "read_member",
    "write_atomic",
]

MAX_BINARY_BYTES: Final = 512 << 20
"""Largest binary read, on disk or in an archive (the biggest vendored BLAS builds are
~100 MB); a larger file, such as a sparse multi-GB one, is refused unread."""
MAX_MEMBER_BYTES: Final = MAX_BINARY_BYTES
"""Largest archive member read into memory."""


_OPEN_FLAGS: Final = (
    getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
)
"""POSIX: never block on a FIFO swapped in after the ``stat``; Windows has neither flag
(nor FIFOs in the file system) but needs ``O_BINARY``."""


class NotRegularFileError(OSError):
    """The path is a FIFO, socket, device or directory, not a regular file."""


def open_regular(path: str) -> BinaryIO:
    """Open ``path`` for binary reading if it is a regular file (symlinks followed).

    Anything else is refused from its ``stat`` without being opened; the opened file is
    checked again (``O_NONBLOCK``, ``fstat``) in case the path was swapped in between.
    """
    _require_regular(os.stat(path).st_mode)
    fd = os.open(path, os.O_RDONLY | _OPEN_FLAGS)
    try:
        _require_regular(os.fstat(fd).st_mode)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _require_regular(mode: int) -> None:
    if not stat.S_ISREG(mode):
        kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
        raise NotRegularFileError(f"{kind} (a FIFO, socket or device is never opened)")


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically: a temporary file beside it, then a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def read_member(path: str, member: str) -> bytes:
    """One member of a zip archive, in memory, at most :data:`MAX_MEMBER_BYTES`.

    Raises ``OSError`` or ``ValueError`` (corrupt archive, missing or oversized member).
    """
    try:
        with zipfile.ZipFile(path) as archive, archive.open(member) as handle:
            data = handle.read(MAX_MEMBER_BYTES + 1)
    except (zipfile.BadZipFile, KeyError, EOFError) as exc:
        raise ValueError(f"cannot read member {member!r}: {exc}") from exc
    if len(data) > MAX_MEMBER_BYTES:
        raise ValueError(f"member {member!r} is over the {MAX_MEMBER_BYTES} byte limit")
    return data
