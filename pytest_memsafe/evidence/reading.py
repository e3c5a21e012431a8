"""How every format loader reads a file: mapped or from memory, errors translated once.

Evidence layer; imports no parser library.
"""

from __future__ import annotations

import hashlib
import importlib
import mmap
import re
import struct
from collections.abc import Callable
from types import ModuleType
from typing import Final, TypeVar

from ..errors import MalformedBinaryError
from ..files import MAX_BINARY_BYTES, open_regular

__all__ = [
    "MODULE_INIT",
    "Buffer",
    "Corrupt",
    "OverLimit",
    "Truncated",
    "check_limit",
    "digest_of",
    "import_parser",
    "over",
    "read_and_parse",
    "rust_marker",
]

Buffer = mmap.mmap | bytes
"""What a parser reads: the mapped file, or an archive member already in memory."""
MODULE_INIT: Final = b"PyInit_"
"""How a Python extension module's entry points are named: the only exports the loaders
keep (the checks read no other)."""

T = TypeVar("T")


class Corrupt(ValueError):
    """Raised by a loader's own code for a structure that cannot be right; the message
    names the structure and becomes the detail of the :class:`MalformedBinaryError`."""


class Truncated(Corrupt):
    """A structure points outside the file (cut short, or an offset that lies)."""


class OverLimit(Corrupt):
    """A count or size read from the file exceeds one of the loaders' hard limits."""


def over(what: str, count: int, limit: int) -> str:
    """The message of a hard limit: ``<what>: <count> exceeds the limit of <limit>``."""
    return f"{what}: {count} exceeds the limit of {limit}"


def check_limit(count: int, limit: int, what: str) -> None:
    """Raise :class:`OverLimit` when ``count`` exceeds ``limit``."""
    if count > limit:
        raise OverLimit(over(what, count, limit))


DATA_ERRORS: tuple[type[Exception], ...] = (
    ValueError,
    KeyError,
    IndexError,
    OverflowError,
    struct.error,
    UnicodeDecodeError,
    EOFError,
)
"""What parsing crafted bytes raises besides a parser's own errors (never a bug of ours to
hide: each loader keeps its own logic free of these by bounding every read)."""


def _read_file(path: str, parse: Callable[[Buffer], T]) -> T:
    """Map the regular file at ``path`` read-only and parse it. An empty file is malformed;
    one over :data:`MAX_BINARY_BYTES` (a sparse multi-GB file) is refused before it is
    mapped or hashed."""
    with open_regular(path) as handle:
        size = handle.seek(0, 2)
        if not size:
            raise MalformedBinaryError(path, "empty file")
        if size > MAX_BINARY_BYTES:
            raise MalformedBinaryError(path, over("file size", size, MAX_BINARY_BYTES))
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return parse(data)


def _read_memory(data: bytes, label: str, parse: Callable[[Buffer], T]) -> T:
    """Parse bytes already in memory (a wheel member); ``label`` names it in errors."""
    if not data:
        raise MalformedBinaryError(label, "empty file")
    return parse(data)


def digest_of(data: Buffer) -> str:
    """Hex sha256 of the whole buffer."""
    return hashlib.sha256(data).hexdigest()


def _translated(
    label: str,
    kind: str,
    read: Callable[[], T],
    parser_errors: tuple[type[BaseException], ...] = (),
) -> T:
    """Run ``read``; the one place where a loader's parser and I/O exceptions become
    :class:`MalformedBinaryError` (``kind`` names the format in the message)."""
    try:
        return read()
    except MalformedBinaryError:
        raise
    except Truncated as exc:
        raise MalformedBinaryError(label, f"truncated or corrupt {kind}: {exc}") from exc
    except Corrupt as exc:
        raise MalformedBinaryError(label, f"malformed {kind}: {exc}") from exc
    except OSError as exc:
        raise MalformedBinaryError(label, f"cannot read: {exc.strerror or exc}") from exc
    except parser_errors as exc:
        raise MalformedBinaryError(label, f"malformed {kind}: {exc}") from exc
    except DATA_ERRORS as exc:
        raise MalformedBinaryError(label, f"malformed {kind}: {type(exc).__name__}: {exc}") from exc


def read_and_parse(
    label: str,
    kind: str,
    data: bytes | None,
    parse: Callable[[Buffer], T],
    parser_errors: tuple[type[BaseException], ...] = (),
) -> T:
    """What every format loader does: parse the file at ``label`` (``data`` None) or the
    bytes ``data`` that ``label`` names, with every error a :class:`MalformedBinaryError`."""
    if data is None:
        return _translated(label, kind, lambda: _read_file(label, parse), parser_errors)
    return _translated(label, kind, lambda: _read_memory(data, label, parse), parser_errors)


def import_parser(module: str, install: str, label: str, kind: str) -> ModuleType:
    """Import a format's parser library when the first file of that format is read, so a
    run without such files never pays for it; a missing library fails that file only."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MalformedBinaryError(
            label, f"cannot check a {kind} file: {module} is not installed ({install})"
        ) from exc


RUST_TRACES: Final = (
    b"/rustc/",  # std source paths in panic locations: /rustc/<commit>/library/...
    b"::unwrap()` on a",  # std's unwrap panic messages
    b".cargo/registry/src/",  # crate source paths
    b".cargo\\registry\\src\\",  # the same, built on Windows
)
"""What rustc leaves in a binary's read-only data whatever the platform, searched as plain
bytes (a regex alternation would stop at every ``.``); a stripped ``panic=abort`` build may
have none."""
RUSTC_PATH: Final = re.compile(rb"/rustc/[0-9a-f]{40}[/\\]library[/\\]")
MAX_RUST_SCAN_BYTES: Final = 32 << 20
MAX_TRACE_TEXT: Final = 80


def rust_marker(data: Buffer, start: int = 0, end: int | None = None) -> str | None:
    """The first rustc trace in ``data[start:end]`` (at most :data:`MAX_RUST_SCAN_BYTES`
    from ``start``), as text; ``None`` when there is none."""
    stop = min(len(data) if end is None else end, start + MAX_RUST_SCAN_BYTES)
    for trace in RUST_TRACES:
        at = data.find(trace, start, stop)
        while at >= 0 and trace == b"/rustc/" and not RUSTC_PATH.match(data, at, stop):
            at = data.find(trace, at + 1, stop)
        if at >= 0:
            text = bytes(data[at : min(stop, at + MAX_TRACE_TEXT)]).split(b"\0", 1)[0]
            return text.decode("utf-8", "replace")
    return None
