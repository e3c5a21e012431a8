"""Evidence layer entry point: load a binary's evidence once per process and share it.

Evidence never judges; only the format modules import a parser library.
"""

from __future__ import annotations

import os
from typing import Final, Protocol

from ..errors import MalformedBinaryError
from ..model import Artifact, BinaryFormat
from .elf import ElfEvidence, load_elf_evidence

__all__ = ["LOADERS", "Evidence", "EvidenceCache", "Loader"]

Evidence = ElfEvidence
"""Any format's evidence record (one format so far)."""


class Loader(Protocol):
    """Reads one format's evidence; raises :class:`MalformedBinaryError`."""

    def __call__(self, path: str, *, digest: bool = True, language: bool = True) -> Evidence: ...


LOADERS: Final[dict[BinaryFormat, Loader]] = {
    BinaryFormat.ELF: load_elf_evidence,
}

_CacheKey = tuple[str, int, int, int]


class EvidenceCache:
    """Per-process memo: each file is parsed at most once while it stays unchanged.

    The key includes size, mtime and inode, so a binary rebuilt mid-session is read again.
    A parse failure is cached too and raised again for every item of that file.
    """

    def __init__(self, *, digest: bool = True, language: bool = True) -> None:
        self.digest = digest
        """Whether evidence carries the file's sha256 (only reports need it)."""
        self.language = language
        """Whether language signals are read (only language-aware checks need them)."""
        self._entries: dict[_CacheKey, Evidence | MalformedBinaryError] = {}
        self.parses = 0
        """How many files were actually parsed (the rest were cache hits)."""

    def get(self, artifact: Artifact) -> Evidence:
        """The evidence of ``artifact``; raises :class:`MalformedBinaryError`."""
        if artifact.problem is not None:
            raise MalformedBinaryError(artifact.display, artifact.problem)
        loader = LOADERS.get(artifact.format) if artifact.format else None
        if loader is None:
            raise MalformedBinaryError(
                artifact.display, f"no evidence loader for {artifact.format}"
            )
        try:
            stat = os.stat(artifact.path)
        except OSError as exc:
            raise MalformedBinaryError(artifact.display, f"cannot read: {exc.strerror}") from exc
        key = (artifact.path, stat.st_size, stat.st_mtime_ns, stat.st_ino)
        entry = self._entries.get(key)
        if entry is None:
            self.parses += 1
            try:
                entry = loader(artifact.path, digest=self.digest, language=self.language)
            except MalformedBinaryError as exc:
                entry = MalformedBinaryError(artifact.display, exc.detail)
            self._entries[key] = entry
        if isinstance(entry, MalformedBinaryError):
            raise entry
        return entry
