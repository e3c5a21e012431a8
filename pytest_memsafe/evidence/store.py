"""Evidence kept across runs, keyed by file content (evidence layer; no pytest import).

An entry is the compact JSON of one :class:`ElfEvidence`, named by the sha256 and size of
the file and whether language signals were read, in a directory per *reading*
(:func:`reading_id`: format version, pytest-memsafe and pyelftools versions and a digest of
the evidence sources), so a new release or an edited loader never reuses an entry.

* The file is always hashed, never trusted by (size, mtime, inode): wheels, ``cp -p`` and
  reproducible builds keep mtimes, so such an index would be trusted exactly when it is
  wrong. sha256 over the mapped file costs ~0.7 ms/MB, a fraction of a parse that reads
  language signals.
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
import tempfile
import types
from collections.abc import Callable
from contextlib import suppress
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Final, NamedTuple, Union, get_args, get_origin, get_type_hints

from .. import __version__
from ..files import MAX_BINARY_BYTES, open_regular
from .elf_records import ElfEvidence

__all__ = [
    "FORMAT_VERSION",
    "MAX_ENTRY_BYTES",
    "EvidenceStore",
    "StoreKey",
    "decode",
    "encode",
    "reading_id",
]

FORMAT_VERSION: Final = 1
"""Layout of an entry; bump it when the encoding changes."""
MAX_ENTRY_BYTES: Final = 16 << 20
"""Larger entries are not stored (the largest seen: libLLVM-15, 46k exports, 3.4 MB)."""


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
    def of_evidence(cls, evidence: ElfEvidence) -> StoreKey:
        """The key ``evidence`` is stored under (it must carry its sha256)."""
        if evidence.sha256 is None:
            raise ValueError("evidence without a sha256 cannot be stored")
        return cls(evidence.sha256, evidence.size, evidence.language is not None)

    @property
    def file_name(self) -> str:
        return f"{self.sha256}-{self.size}-{'lang' if self.language else 'base'}.json"


@functools.cache
def reading_id() -> str:
    """Short digest of everything besides the file that shapes its evidence."""
    try:
        elftools = version("pyelftools")
    except PackageNotFoundError:
        elftools = "unknown"
    digest = hashlib.sha256(f"{FORMAT_VERSION}\0{__version__}\0{elftools}\0".encode())
    for source in sorted(Path(__file__).parent.glob("*.py")):
        with suppress(OSError):
            digest.update(source.name.encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()[:16]


class EvidenceStore:
    """Evidence entries under ``directory`` (e.g. ``config.cache.mkdir("memsafe-evidence")``)."""

    def __init__(self, directory: Path, *, reading: str | None = None) -> None:
        self.root = directory / (reading or reading_id())
        """Where this reading's entries live; other readings' directories are left alone."""

    def get(self, key: StoreKey) -> ElfEvidence | None:
        """The stored evidence for ``key``, or ``None`` (a bad entry is removed)."""
        path = self.root / key.file_name
        try:
            with open_regular(str(path)) as handle:
                data = handle.read(MAX_ENTRY_BYTES + 1)
            evidence = decode(data)
            if StoreKey.of_evidence(evidence) != key:
                raise ValueError("entry is not for this key")
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError, RecursionError):
            with suppress(OSError):
                path.unlink()
            return None
        return evidence

    def put(self, key: StoreKey, evidence: ElfEvidence) -> bool:
        """Store ``evidence`` (atomically); ``False`` when it is too large or cannot be written."""
        if StoreKey.of_evidence(evidence) != key:
            raise ValueError(f"evidence does not match {key}")
        data = encode(evidence)
        if len(data) > MAX_ENTRY_BYTES:
            return False
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=self.root, prefix=".tmp-", suffix=".json")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                os.replace(temp, self.root / key.file_name)
            except BaseException:
                with suppress(OSError):
                    os.unlink(temp)
                raise
        except OSError:
            return False
        return True


# -- encoding ---------------------------------------------------------------------------------


def encode(evidence: ElfEvidence) -> bytes:
    """Compact JSON: records as objects, tuples as lists, frozensets as sorted lists."""
    return json.dumps(evidence, default=_jsonable, separators=(",", ":")).encode()


def decode(data: bytes) -> ElfEvidence:
    """The evidence :func:`encode` wrote; raises ValueError or TypeError for anything else."""
    evidence: ElfEvidence = _decoder(ElfEvidence)(json.loads(data))
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
