"""Evidence layer entry point: load a binary's evidence once per process and share it.

Evidence never judges; only the format modules import a parser library.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import suppress
from dataclasses import replace
from importlib import import_module
from typing import Any, Final, Literal, Protocol

from ..errors import MalformedBinaryError
from ..files import read_member
from ..model import Artifact, BinaryFormat
from .elf_records import ElfEvidence
from .macho_records import MachoEvidence, MachoSlice
from .pe_records import PeEvidence
from .store import EvidenceStore, StoreKey, is_settled, same_file

__all__ = [
    "LOADERS",
    "Evidence",
    "EvidenceCache",
    "EvidenceStore",
    "FileEvidence",
    "Filled",
    "Loader",
]

FileEvidence = ElfEvidence | PeEvidence | MachoEvidence
"""What a loader reads from one file (a universal Mach-O file holds several images)."""
Evidence = ElfEvidence | PeEvidence | MachoSlice
"""What the checks of one artifact see: one image."""


class Loader(Protocol):
    """Reads one format's evidence from a path; raises :class:`MalformedBinaryError`."""

    def __call__(
        self, path: str, *, digest: bool = True, language: bool = True
    ) -> FileEvidence: ...


class BytesLoader(Protocol):
    """Reads one format's evidence from memory; ``label`` names it in errors."""

    def __call__(
        self, data: bytes, label: str, *, digest: bool = True, language: bool = True
    ) -> FileEvidence: ...


def _on_first_call(module: str, name: str) -> Any:
    """The function ``name`` of the format module ``module``, imported when it is first
    called: a run whose evidence all comes from the store never imports the parsers (~40 ms
    of its start)."""

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(import_module(f"{__name__}.{module}"), name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    return call


LOADERS: Final[dict[BinaryFormat, tuple[Loader, BytesLoader]]] = {
    fmt: (_on_first_call(module, f"load_{module}_evidence"),
          _on_first_call(module, f"load_{module}_bytes"))
    for fmt, module in ((BinaryFormat.ELF, "elf"), (BinaryFormat.PE, "pe"),
                        (BinaryFormat.MACHO, "macho"))
}  # fmt: skip
"""Each format's (path loader, bytes loader)."""
RECORDS: Final[dict[BinaryFormat, type[FileEvidence]]] = {
    BinaryFormat.ELF: ElfEvidence,
    BinaryFormat.PE: PeEvidence,
    BinaryFormat.MACHO: MachoEvidence,
}
"""Each format's file-evidence record: what its store entries decode to."""


def with_digest(evidence: FileEvidence, sha256: str | None) -> FileEvidence:
    """``evidence`` carrying ``sha256`` (each slice of a universal file too)."""
    if isinstance(evidence, MachoEvidence):
        slices = tuple(replace(piece, sha256=sha256) for piece in evidence.slices)
        return replace(evidence, sha256=sha256, slices=slices)
    return replace(evidence, sha256=sha256)


Filled = Literal["known", "parsed", "failed"]
"""What :meth:`EvidenceCache.fill` did for one file."""
_CacheKey = tuple[str, str | None, int, int, int, int]
"""(path, archive member, size, mtime, ctime, inode)."""


def _memo_key(path: str, member: str | None, stat: os.stat_result) -> _CacheKey:
    return (path, member, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)


class EvidenceCache:
    """Per-process memo: each file is parsed at most once while it stays unchanged.

    The key includes size, mtime, ctime and inode, so a binary rebuilt or patched mid-session
    (even with its mtime put back) is read again.
    A parse failure is cached too and raised again for every item of that file. With a
    ``store``, a file not seen in this process is hashed and looked up there before it is
    parsed, and what is parsed is stored (failures are not: they may come from the
    environment, and they are cheap to find again).
    """

    def __init__(
        self, *, digest: bool = True, language: bool = True, store: EvidenceStore | None = None
    ) -> None:
        self.digest = digest
        """Whether evidence carries the file's sha256 (only reports need it)."""
        self.language = language
        """Whether language signals are read (only language-aware checks need them)."""
        self._entries: dict[_CacheKey, FileEvidence | MalformedBinaryError] = {}
        self.store = store
        """Evidence kept across runs, keyed by file content (``None``: this process only)."""
        self.parses = 0
        """How many files were actually parsed (the rest were cache hits)."""
        self.store_hits = 0
        """How many files were read from :attr:`store` instead of parsed."""
        self.waiter: Callable[[str], None] | None = None
        """Called with a file's path before it is looked up in :attr:`store` (the
        parse-ahead helper's :meth:`~.ahead.ParseAhead.wait_for`)."""

    def clear(self) -> None:
        """Forget every file's evidence (at the end of a run: less for the garbage collector
        to walk; the store keeps what was stored)."""
        self._entries.clear()

    def get(self, artifact: Artifact) -> Evidence:
        """The evidence of ``artifact`` (of its slice, for a universal Mach-O file);
        raises :class:`MalformedBinaryError`."""
        evidence = self._file(artifact)
        if not isinstance(evidence, MachoEvidence):
            return evidence
        image = evidence.slice(artifact.slice)
        if image is None:
            raise MalformedBinaryError(
                artifact.display,
                f"no {artifact.slice or 'single'} slice (the file holds "
                f"{', '.join(piece.arch for piece in evidence.slices)})",
            )
        return image

    def _file(self, artifact: Artifact) -> FileEvidence:
        """The evidence of the whole file ``artifact`` is in, parsed once."""
        if artifact.problem is not None:
            raise MalformedBinaryError(artifact.display, artifact.problem)
        fmt = artifact.format
        if fmt is None or fmt not in LOADERS:
            raise MalformedBinaryError(artifact.display, f"no evidence loader for {fmt}")
        loaders = LOADERS[fmt]
        try:
            stat = os.stat(artifact.path)
        except OSError as exc:
            raise MalformedBinaryError(artifact.display, f"cannot read: {exc.strerror}") from exc
        key = _memo_key(artifact.path, artifact.member, stat)
        entry = self._entries.get(key)
        if entry is None:
            try:
                evidence = (
                    self._parse_member(artifact, loaders[1])
                    if artifact.member is not None
                    else self._from_file(artifact.path, stat, loaders[0], RECORDS[fmt])
                )
            except MalformedBinaryError as exc:
                entry = MalformedBinaryError(artifact.display, exc.detail)
            else:
                entry = self._as_asked(evidence)
            self._entries[key] = entry
        if isinstance(entry, MalformedBinaryError):
            if entry.path != artifact.display:  # found under another name: a parse-ahead
                raise MalformedBinaryError(artifact.display, entry.detail)  # steal, a slice
            raise entry
        return entry

    def fill(self, path: str, fmt: BinaryFormat, *, keep: bool = False) -> Filled:
        """See that :attr:`store` holds the evidence of the file at ``path`` (the
        parse-ahead step): ``known`` when it already did, ``parsed`` when it was parsed and
        stored now, ``failed`` when it cannot be (no store, unreadable or malformed: the
        items report why). ``keep``: also remember it (or why it is malformed) in this
        process, so that its items do not parse it again."""
        if self.store is None or fmt not in LOADERS or not os.path.isfile(path):
            return "failed"
        stat = self.unstored(path, fmt)
        if stat is None:
            return "known"
        hits, key = self.store_hits, _memo_key(path, None, stat)
        try:
            evidence = self._from_file(path, stat, LOADERS[fmt][0], RECORDS[fmt])
        except MalformedBinaryError as exc:
            if keep:  # its items report it without parsing it again
                self._entries[key] = exc
            return "failed"
        if keep:
            self._entries[key] = self._as_asked(evidence)
        return "known" if self.store_hits > hits else "parsed"

    def _as_asked(self, evidence: FileEvidence) -> FileEvidence:
        """Stored evidence always carries its digest; drop it when it was not asked for."""
        keep = self.digest or evidence.sha256 is None
        return evidence if keep else with_digest(evidence, None)

    def unstored(self, path: str, fmt: BinaryFormat) -> os.stat_result | None:
        """The file's stat when :attr:`store` cannot yet vouch for it (no stat index entry,
        or no evidence entry for it: a parse-ahead candidate); ``None`` when it can, or when
        the file cannot be looked up at all (no store, no loader, no file)."""
        if self.store is None or fmt not in LOADERS:
            return None
        try:
            stat = os.stat(path)
        except OSError:
            return None
        digest = self.store.known_digest(path, stat)
        language = self._language_for(RECORDS[fmt])
        if digest is not None and self.store.has(StoreKey(digest, stat.st_size, language)):
            return None
        return stat

    def _language_for(self, kind: type[FileEvidence]) -> bool:
        """Whether ``kind`` records are read with language signals (ELF only has them: other
        formats' entries serve both readings)."""
        return self.language and kind is ElfEvidence

    def _parse_member(self, artifact: Artifact, loader: BytesLoader) -> FileEvidence:
        """Parse an archive member from memory (never extracted, not kept in the store)."""
        assert artifact.member is not None
        self.parses += 1
        try:
            data = read_member(artifact.path, artifact.member)
        except (OSError, ValueError) as exc:
            raise MalformedBinaryError(artifact.display, str(exc)) from exc
        return loader(data, artifact.display, digest=self.digest, language=self.language)

    def _from_file(
        self, path: str, stat: os.stat_result, loader: Loader, kind: type[FileEvidence]
    ) -> FileEvidence:
        """From the store when it knows the content, else parsed (and stored)."""
        if self.store is None:
            self.parses += 1
            return loader(path, digest=self.digest, language=self.language)
        if self.waiter is not None:
            self.waiter(path)
        key, hashed = self._content_key(path, stat, self._language_for(kind))
        try:
            evidence = self.store.get(key, kind) if key is not None else None
            if evidence is not None:
                self.store_hits += 1
                return evidence
            self.parses += 1
            # Only a digest computed just now vouches for the bytes about to be parsed.
            return self._parse_and_store(path, stat, loader, key if hashed else None)
        finally:
            if hashed and key is not None:  # indexed once its entry is there to link to
                self.store.remember(path, stat, key)

    def _content_key(
        self, path: str, stat: os.stat_result, language: bool
    ) -> tuple[StoreKey | None, bool]:
        """The store key of the file as ``stat`` describes it, and whether it was hashed
        just now: its digest from the store's stat index, else hashed; None when it cannot
        be hashed."""
        assert self.store is not None
        digest = self.store.known_digest(path, stat)
        if digest is not None:
            return StoreKey(digest, stat.st_size, language), False
        try:
            return StoreKey.of_file(path, language=language), True
        except (OSError, ValueError):
            return None, False  # the loader reports why it cannot be read

    def _parse_and_store(
        self, path: str, before: os.stat_result, loader: Loader, key: StoreKey | None
    ) -> FileEvidence:
        """Parse and store under the digest of exactly the bytes parsed: the lookup's digest
        when the file provably did not change since it was hashed (settled, same stat
        after the parse), so a cold run hashes each file once; else the parse's own."""
        assert self.store is not None
        if key is not None and is_settled(before):
            evidence = loader(path, digest=False, language=self.language)
            with suppress(OSError):
                if same_file(os.stat(path), before) and evidence.size == key.size:
                    evidence = with_digest(evidence, key.sha256)
                    self.store.put(key, evidence)
                    return evidence
        evidence = loader(path, digest=True, language=self.language)
        self.store.put(StoreKey.of_evidence(evidence), evidence)
        return evidence
