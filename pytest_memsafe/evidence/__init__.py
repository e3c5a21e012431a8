"""Evidence layer entry point: load a binary's evidence once per process and share it.

Evidence never judges; only the format modules import a parser library.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Final

from ..errors import MalformedBinaryError
from ..model import Artifact, BinaryFormat
from .elf import ElfEvidence, load_elf_evidence

__all__ = ["LOADERS", "Evidence", "EvidenceCache"]

Evidence = ElfEvidence
"""Any format's evidence record (one format so far)."""

LOADERS: Final[dict[BinaryFormat, Callable[[str], Evidence]]] = {
    BinaryFormat.ELF: load_elf_evidence,
}

_CacheKey = tuple[str, int, int, int]


class EvidenceCache:
    """Per-process memo: each file is parsed at most once while it stays unchanged.

    The key includes size, mtime and inode, so a binary rebuilt mid-session is read again.
    A parse failure is cached too and raised again for every item of that file.
    """

    def __init__(self) -> None:
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
                entry = loader(artifact.path)
            except MalformedBinaryError as exc:
                entry = MalformedBinaryError(artifact.display, exc.detail)
            self._entries[key] = entry
        if isinstance(entry, MalformedBinaryError):
            raise entry
        return entry
