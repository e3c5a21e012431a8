"""Evidence kept across runs, keyed by file content (evidence layer; no pytest import).

An entry is the compact JSON of one file's evidence record (ELF, PE or Mach-O: the file's
format says which), named by the sha256 and size of the file and whether language signals
were read, in a directory per *reading* (:func:`reading_id`: format version, pytest-memsafe,
pyelftools, pefile and macholib versions and a digest of the evidence sources), so a new
release or an edited loader never reuses an entry.

* The file is hashed unless a *stat index* entry vouches for its digest: an entry named by
  (path, device, inode, size, mtime, ctime), written after hashing: a hard link to the
  file's evidence entry (whose first field is its digest), or the digest alone when there
  is no entry (a malformed file) or the file system cannot link. Creating a file costs an
  inode, and on some disks inodes are the slow part of a cold run's writes (0.02-0.8 ms
  each here); a link costs none. Size, mtime and inode
  alone would not do (wheels, ``cp -p`` and reproducible builds keep mtimes), but the
  kernel sets ctime on every write, rename or ``utime`` and user space cannot set it back,
  so the index is trusted exactly as git trusts its index. As git does with "racily clean"
  files, no entry is written for a file changed in the last :data:`RACY_SECONDS` (a write
  in the same clock tick would keep its times). Hashing costs ~0.7-1 ms/MB: on a warm run
  over half a GB that was most of the plugin's own time.
* Writes go to a temp file renamed over the entry, so concurrent xdist workers writing one
  key always leave a whole entry.
* A corrupt, partial or unreadable entry is a miss, and is removed.
* An entry over :data:`MAX_ENTRY_BYTES` is not stored (the largest seen is 3.4 MB).
* Nothing is evicted: other readings' directories stay until ``--cache-clear``.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import mmap
import os
import re
import tempfile
import time
import types
from collections.abc import Callable
from contextlib import suppress
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import (
    Any,
    Final,
    NamedTuple,
    TypeVar,
    Union,
    cast,
    get_args,
    get_origin,
    get_type_hints,
)

from .. import __version__
from ..files import MAX_BINARY_BYTES, open_regular

R = TypeVar("R")
"""A format's file-evidence record (ElfEvidence, PeEvidence, MachoEvidence)."""

__all__ = [
    "FORMAT_VERSION",
    "MAX_ENTRY_BYTES",
    "EvidenceStore",
    "StoreKey",
    "decode",
    "encode",
    "is_settled",
    "reading_id",
    "same_file",
]

FORMAT_VERSION: Final = 1
"""Layout of an entry; bump it when the encoding changes."""
MAX_ENTRY_BYTES: Final = 16 << 20
"""Larger entries are not stored (the largest seen: libLLVM-15, 46k exports, 3.4 MB)."""
RACY_SECONDS: Final = 2
"""A file whose mtime or ctime is this recent gets no stat index entry (git's racy clean)."""
INDEX_DIR: Final = "by-stat"
INDEX_DIGEST: Final = re.compile(rb'([0-9a-f]{64})|\{"size":[0-9]{1,20},"sha256":"([0-9a-f]{64})"')
"""A stat index entry: the digest alone, or the start of the evidence entry it links to
(every record's first fields are ``size`` and ``sha256``, in that order)."""


class StoreKey(NamedTuple):
    """What an entry is looked up by: the file's content and the reading asked for."""

    sha256: str
    size: int
    language: bool

    @classmethod
    def of_file(cls, path: str, *, language: bool) -> StoreKey:
        """Hash the file at ``path``; raises OSError, or ValueError for an empty file or one
        over :data:`~pytest_memsafe.files.MAX_BINARY_BYTES` (never hashed)."""
        with open_regular(path) as handle:
            if handle.seek(0, 2) > MAX_BINARY_BYTES:
                raise ValueError(f"{path} is over the {MAX_BINARY_BYTES} byte limit")
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
                return cls(hashlib.sha256(data).hexdigest(), len(data), language)

    @classmethod
    def of_evidence(cls, evidence: Any) -> StoreKey:
        """The key ``evidence`` (any format's file evidence) is stored under; it must carry
        its sha256. Only ELF evidence has language signals (``language`` True)."""
        if evidence.sha256 is None:
            raise ValueError("evidence without a sha256 cannot be stored")
        return cls(evidence.sha256, evidence.size, getattr(evidence, "language", None) is not None)

    @property
    def file_name(self) -> str:
        return f"{self.sha256}-{self.size}-{'lang' if self.language else 'base'}.json"


def is_settled(stat: os.stat_result) -> bool:
    """Unchanged for :data:`RACY_SECONDS`: a later write would move its mtime or ctime."""
    newest = max(stat.st_mtime_ns, stat.st_ctime_ns)
    return time.time_ns() - newest >= RACY_SECONDS * 1_000_000_000


def same_file(now: os.stat_result, before: os.stat_result) -> bool:
    """The same inode with the same size and times (so the same bytes, if settled)."""
    fields = ("st_dev", "st_ino", "st_size", "st_mtime_ns", "st_ctime_ns")
    return all(getattr(now, name) == getattr(before, name) for name in fields)


PARSERS: Final = ("pyelftools", "pefile", "macholib")
"""The parser libraries whose versions are part of a reading."""


def _version(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"


@functools.cache
def reading_id() -> str:
    """Short digest of everything besides the file that shapes its evidence."""
    parsers = "\0".join(_version(name) for name in PARSERS)
    digest = hashlib.sha256(f"{FORMAT_VERSION}\0{__version__}\0{parsers}\0".encode())
    for source in sorted(Path(__file__).parent.glob("*.py")):
        with suppress(OSError):
            digest.update(source.name.encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()[:16]


class EvidenceStore:
    """Evidence entries under ``directory`` (e.g. ``config.cache.mkdir("memsafe-evidence")``)."""

    def __init__(self, directory: Path, *, reading: str | None = None) -> None:
        self.root = directory / (reading or reading_id())
        """Where this reading's entries live; other readings' directories are left alone."""
        self._digests: dict[Path, str] = {}
        """Stat index entries read in this process, by their path."""

    def get(self, key: StoreKey, kind: type[R]) -> R | None:
        """The stored evidence for ``key`` as a ``kind`` record (the file's format decides
        it), or ``None`` (a bad entry is removed)."""
        path = self.root / key.file_name
        try:
            with open_regular(str(path)) as handle:
                data = handle.read(MAX_ENTRY_BYTES + 1)
            evidence = decode(data, kind)
            if StoreKey.of_evidence(evidence) != key:
                raise ValueError("entry is not for this key")
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError, RecursionError):
            with suppress(OSError):
                path.unlink()
            return None
        return evidence

    def has(self, key: StoreKey) -> bool:
        """An entry exists for ``key`` (not read: :meth:`get` still checks it)."""
        return (self.root / key.file_name).is_file()

    def known_digest(self, path: str, stat: os.stat_result) -> str | None:
        """The sha256 the stat index recorded for ``path`` as it is now (``stat``), if any
        (an entry found once is remembered: its name already pins the file's stat)."""
        index = self._index_path(path, stat)
        known = self._digests.get(index)
        if known is not None:
            return known
        try:
            with open_regular(str(index)) as handle:
                start = handle.read(128)
        except OSError:
            return None
        found = INDEX_DIGEST.match(start)
        if found is None or (found[1] is not None and len(start) != 64):
            return None
        digest = (found[1] or found[2]).decode("ascii")
        self._digests[index] = digest
        return digest

    def remember(self, path: str, stat: os.stat_result, key: StoreKey) -> None:
        """Record that ``path`` as described by ``stat`` has the content of ``key``: a hard
        link to its entry, else its digest (best effort; skipped for a file changed within
        :data:`RACY_SECONDS`)."""
        if not is_settled(stat):
            return
        index = self._index_path(path, stat)
        with suppress(OSError):
            try:
                self._link(self.root / key.file_name, index)
            except OSError:  # no entry, or no hard links here
                self._write(index, key.sha256.encode("ascii"))

    def _index_path(self, path: str, stat: os.stat_result) -> Path:
        described = (
            f"{os.path.abspath(path)}\0{stat.st_dev}\0{stat.st_ino}\0{stat.st_size}\0"
            f"{stat.st_mtime_ns}\0{stat.st_ctime_ns}"
        )
        name = hashlib.sha256(described.encode("utf-8", "surrogateescape")).hexdigest()
        return self.root / INDEX_DIR / name

    def _link(self, entry: Path, target: Path) -> None:
        """Hard-link ``target`` to ``entry`` (replacing it); raises OSError."""
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(entry, target)
        except FileExistsError:
            temp = target.with_name(f".tmp-{os.getpid()}-{target.name}")
            os.link(entry, temp)
            try:
                os.replace(temp, target)
            except BaseException:
                with suppress(OSError):
                    os.unlink(temp)
                raise

    def _write(self, target: Path, data: bytes) -> None:
        """Write ``data`` to ``target`` through a temp file renamed over it; raises OSError."""
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(temp, target)
        except BaseException:
            with suppress(OSError):
                os.unlink(temp)
            raise

    def put(self, key: StoreKey, evidence: object) -> bool:
        """Store ``evidence`` (atomically); ``False`` when it is too large or cannot be written."""
        if StoreKey.of_evidence(evidence) != key:
            raise ValueError(f"evidence does not match {key}")
        data = encode(evidence)
        if len(data) > MAX_ENTRY_BYTES:
            return False
        try:
            self._write(self.root / key.file_name, data)
        except OSError:
            return False
        return True


# -- encoding ---------------------------------------------------------------------------------


def encode(evidence: object) -> bytes:
    """Compact JSON: records as objects, tuples as lists, frozensets as sorted lists."""
    return json.dumps(evidence, default=_jsonable, separators=(",", ":")).encode()


def decode(data: bytes, kind: type[R]) -> R:
    """The ``kind`` record :func:`encode` wrote; raises ValueError or TypeError for anything
    else."""
    evidence: R = _decoder(cast(Any, kind))(json.loads(data))
    return evidence


def _jsonable(value: object) -> object:
    if isinstance(value, frozenset):
        return sorted(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
    raise TypeError(f"cannot encode {type(value).__name__}")


_Decode = Callable[[Any], Any]


@functools.cache
def _decoder(hint: Any) -> _Decode:
    """A checking decoder for one annotated type of the evidence records."""
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _record_decoder(hint)
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType) and len(args) == 2 and types.NoneType in args:
        inner = _decoder(next(arg for arg in args if arg is not types.NoneType))
        return lambda value: None if value is None else inner(value)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return _sequence_decoder(tuple, args[0])
    if origin is frozenset:
        return _sequence_decoder(frozenset, args[0])
    if origin is tuple:
        items = tuple(_decoder(arg) for arg in args)
        return lambda value: tuple(
            item(part) for item, part in zip(items, _list(value, len(items)), strict=True)
        )
    if hint in (bool, int, str):
        return functools.partial(_scalar, hint)
    raise TypeError(f"no decoder for {hint!r}")


def _record_decoder(cls: type[Any]) -> _Decode:
    hints = get_type_hints(cls)
    fields = {field.name: _decoder(hints[field.name]) for field in dataclasses.fields(cls)}

    def decode(value: Any) -> Any:
        if type(value) is not dict or value.keys() != fields.keys():
            raise ValueError(f"not a {cls.__name__} record")
        return cls(**{name: field(value[name]) for name, field in fields.items()})

    return decode


def _sequence_decoder(container: type[Any], item: Any) -> _Decode:
    if item in (int, str):  # a C-speed type check for the large name sets

        def decode_scalars(value: Any) -> Any:
            if not set(map(type, _list(value))) <= {item}:
                raise ValueError(f"expected a list of {item.__name__}")
            return container(value)

        return decode_scalars
    decode_item = _decoder(item)
    return lambda value: container(map(decode_item, _list(value)))


def _list(value: Any, length: int | None = None) -> list[Any]:
    if type(value) is not list or (length is not None and len(value) != length):
        raise ValueError(f"expected a list of {length or 'any'} items")
    return value


def _scalar(kind: type[Any], value: Any) -> Any:
    if type(value) is not kind:
        raise ValueError(f"expected {kind.__name__}, got {type(value).__name__}")
    return value
