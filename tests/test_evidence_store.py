"""The cross-run evidence store (pytest_memsafe/evidence/store.py) and its use by EvidenceCache.

Every entry must round-trip exactly, a rerun on unchanged files must parse nothing, and no
entry may ever stand for a file whose bytes changed, whatever its size and mtime say.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from pytest_memsafe.errors import MalformedBinaryError
from pytest_memsafe.evidence import LOADERS, Evidence, EvidenceCache, FileEvidence, store
from pytest_memsafe.evidence.elf import ElfEvidence, load_elf_evidence
from pytest_memsafe.evidence.store import EvidenceStore, StoreKey, decode, encode
from pytest_memsafe.model import Artifact, BinaryFormat
from tests.lang_corpus import lang_fixture

lang_rust = lang_fixture("rust")
lang_rust_stripped = lang_fixture("rust-stripped")


def _artifact(path: Path) -> Artifact:
    return Artifact(path=str(path), display=path.name, origin="tree", format=BinaryFormat.ELF)


def _entries(directory: Path) -> list[Path]:
    return sorted(directory.rglob("*.json"))


@pytest.fixture
def binaries(tmp_path: Path, corpus: dict[str, Path]) -> list[Path]:
    """Private copies of a few corpus variants (the tests may patch them)."""
    names = ("hardened", "weak", "relro-partial", "cet-fail")
    copies = tmp_path / "bin"
    copies.mkdir()
    return [Path(shutil.copy2(corpus[name], copies / f"{name}.so")) for name in names]


def _round_trip(evidence: ElfEvidence, directory: Path) -> None:
    assert decode(encode(evidence), ElfEvidence) == evidence
    key = StoreKey.of_evidence(evidence)
    assert EvidenceStore(directory).put(key, evidence)
    assert EvidenceStore(directory).get(key, ElfEvidence) == evidence


def test_round_trip_every_corpus_variant(evidence: dict[str, ElfEvidence], tmp_path: Path) -> None:
    for name, found in evidence.items():
        _round_trip(found, tmp_path / name)


def test_round_trip_without_language(corpus: dict[str, Path], tmp_path: Path) -> None:
    found = load_elf_evidence(str(corpus["hardened"]), language=False)
    assert found.language is None
    _round_trip(found, tmp_path)


@pytest.mark.parametrize("name", ["lang_rust", "lang_rust_stripped"])
def test_round_trip_rust(request: pytest.FixtureRequest, name: str, tmp_path: Path) -> None:
    found = load_elf_evidence(str(request.getfixturevalue(name)))
    assert found.language is not None
    _round_trip(found, tmp_path)


def test_encoding_is_compact_and_deterministic(evidence: dict[str, ElfEvidence]) -> None:
    data = encode(evidence["hardened"])
    assert json.dumps(json.loads(data), separators=(",", ":")).encode() == data
    assert encode(decode(data, ElfEvidence)) == data


def test_rerun_parses_nothing(binaries: list[Path], tmp_path: Path) -> None:
    directory = tmp_path / "store"
    first = EvidenceCache(store=EvidenceStore(directory))
    cold = [first.get(_artifact(path)) for path in binaries]
    assert (first.parses, first.store_hits) == (len(binaries), 0)
    assert len(_entries(directory)) == len(binaries)

    second = EvidenceCache(store=EvidenceStore(directory))
    assert [second.get(_artifact(path)) for path in binaries] == cold
    assert (second.parses, second.store_hits) == (0, len(binaries))


def test_same_content_at_another_path_is_a_hit(binaries: list[Path], tmp_path: Path) -> None:
    copy = Path(shutil.copy(binaries[0], tmp_path / "copy.so"))
    cache = EvidenceCache(store=EvidenceStore(tmp_path / "store"))
    assert cache.get(_artifact(binaries[0])) == cache.get(_artifact(copy))
    assert (cache.parses, cache.store_hits) == (1, 1)


def test_digest_and_language_are_as_asked(binaries: list[Path], tmp_path: Path) -> None:
    directory = tmp_path / "store"
    path = binaries[0]
    EvidenceCache(store=EvidenceStore(directory)).get(_artifact(path))

    no_digest = EvidenceCache(digest=False, store=EvidenceStore(directory))
    assert no_digest.get(_artifact(path)) == load_elf_evidence(str(path), digest=False)
    assert no_digest.store_hits == 1

    no_language = EvidenceCache(language=False, store=EvidenceStore(directory))
    assert no_language.get(_artifact(path)) == load_elf_evidence(str(path), language=False)
    assert (no_language.parses, no_language.store_hits) == (1, 0)


def _patch_comment(path: Path) -> None:
    """Change one byte of the ``.comment`` text, keeping the size and the mtime."""
    before = path.stat()
    data = bytearray(path.read_bytes())
    at = data.index(b"GCC: (")
    data[at : at + 3] = b"XCC"
    path.write_bytes(bytes(data))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)


def test_changed_content_with_same_size_and_mtime_is_not_served(
    binaries: list[Path], tmp_path: Path
) -> None:
    directory = tmp_path / "store"
    path = binaries[0]
    old = EvidenceCache(store=EvidenceStore(directory)).get(_artifact(path))
    _patch_comment(path)

    rerun = EvidenceCache(store=EvidenceStore(directory))
    new = rerun.get(_artifact(path))
    assert (rerun.parses, rerun.store_hits) == (1, 0)
    assert new == load_elf_evidence(str(path))
    assert new.sha256 != old.sha256
    assert any(text.startswith("XCC") for text in new.comments)
    assert len(_entries(directory)) == 2  # the old content's entry stays valid for it


def _index(directory: Path) -> list[Path]:
    return sorted(directory.rglob(f"{store.INDEX_DIR}/*"))


def _replaceable_index_entry(path: Path, directory: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Store ``path`` once and return the path of its stat index entry, unlinked: a write
    there replaces the entry instead of writing through the link into the evidence entry."""
    _stored_once(path, directory, monkeypatch)
    (index_entry,) = _index(directory)
    index_entry.unlink()
    return index_entry


def _forbid_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_hashing(*args: object, **kwargs: object) -> StoreKey:
        raise AssertionError("hashed a file the stat index knows")

    monkeypatch.setattr(StoreKey, "of_file", no_hashing)


def _stored_once(path: Path, directory: Path, monkeypatch: pytest.MonkeyPatch) -> Evidence:
    """Parse ``path`` into a fresh store at ``directory``, indexed at once (no racy-file
    grace: RACY_SECONDS 0)."""
    monkeypatch.setattr(store, "RACY_SECONDS", 0)
    return EvidenceCache(store=EvidenceStore(directory)).get(_artifact(path))


def test_stat_index_spares_the_hash(
    binaries: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "RACY_SECONDS", 0)
    directory = tmp_path / "store"
    first = EvidenceCache(store=EvidenceStore(directory))
    cold = [first.get(_artifact(path)) for path in binaries]
    assert len(_index(directory)) == len(binaries)
    _forbid_hashing(monkeypatch)
    second = EvidenceCache(store=EvidenceStore(directory))
    assert [second.get(_artifact(path)) for path in binaries] == cold
    assert (second.parses, second.store_hits) == (0, len(binaries))


def test_stat_index_never_serves_rewritten_content(
    binaries: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory, path = tmp_path / "store", binaries[0]
    old = _stored_once(path, directory, monkeypatch)
    _patch_comment(path)  # same size and mtime; the kernel moves ctime

    rerun = EvidenceCache(store=EvidenceStore(directory))
    new = rerun.get(_artifact(path))
    assert (rerun.parses, rerun.store_hits) == (1, 0)
    assert new == load_elf_evidence(str(path))
    assert new.sha256 != old.sha256


def test_recently_changed_file_is_not_indexed(binaries: list[Path], tmp_path: Path) -> None:
    directory = tmp_path / "store"
    os.utime(binaries[0])  # changed just now: a write in the same clock tick could follow
    cache = EvidenceCache(store=EvidenceStore(directory))
    cache.get(_artifact(binaries[0]))
    assert _index(directory) == []
    assert len(_entries(directory)) == 1


def _spy_loader(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Record the ``digest`` flag of every ELF parse."""
    asked: list[bool] = []
    real, from_bytes = LOADERS[BinaryFormat.ELF]

    def spy(path: str, *, digest: bool = True, language: bool = True) -> FileEvidence:
        asked.append(digest)
        return real(path, digest=digest, language=language)

    monkeypatch.setitem(LOADERS, BinaryFormat.ELF, (spy, from_bytes))
    return asked


def test_cold_parse_reuses_the_lookup_digest(
    binaries: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "RACY_SECONDS", 0)
    asked = _spy_loader(monkeypatch)
    directory = tmp_path / "store"
    path = binaries[0]
    found = EvidenceCache(store=EvidenceStore(directory)).get(_artifact(path))
    assert asked == [False]  # hashed once, for the lookup
    assert found == load_elf_evidence(str(path))
    assert found.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    rerun = EvidenceCache(store=EvidenceStore(directory))
    assert rerun.get(_artifact(path)) == found
    assert rerun.store_hits == 1


def test_recently_changed_file_is_stored_under_the_digest_of_what_was_parsed(
    binaries: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = _spy_loader(monkeypatch)
    os.utime(binaries[0])  # could still change within the clock tick it was hashed in
    found = EvidenceCache(store=EvidenceStore(tmp_path / "store")).get(_artifact(binaries[0]))
    assert asked == [True]
    assert found == load_elf_evidence(str(binaries[0]))


def test_index_digest_without_its_entry_is_not_trusted_for_storing(
    binaries: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory, path = tmp_path / "store", binaries[0]
    other_content = "0" * 64  # a well-formed digest, of some other content
    _replaceable_index_entry(path, directory, monkeypatch).write_text(other_content)
    for entry in _entries(directory):
        entry.unlink()
    asked = _spy_loader(monkeypatch)
    found = EvidenceCache(store=EvidenceStore(directory)).get(_artifact(path))
    assert asked == [True]  # parsed with its own digest, not stored under the index's
    assert found.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert EvidenceStore(directory).get(StoreKey("0" * 64, found.size, True), ElfEvidence) is None


def test_corrupt_index_entry_is_a_miss(
    binaries: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory, path = tmp_path / "store", binaries[0]
    _replaceable_index_entry(path, directory, monkeypatch).write_bytes(b"0" * 63 + b"g")
    rerun = EvidenceCache(store=EvidenceStore(directory))
    assert rerun.get(_artifact(path)) == load_elf_evidence(str(path))
    assert rerun.store_hits == 1  # hashed again, found by content


def test_stat_index_entry_is_a_link_to_the_evidence_entry(
    binaries: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory, path = tmp_path / "store", binaries[0]
    _stored_once(path, directory, monkeypatch)
    (index_entry,) = _index(directory)
    (entry,) = _entries(directory)
    assert index_entry.samefile(entry)  # no inode of its own
    assert entry.stat().st_nlink == 2


def test_stat_index_works_without_hard_links(
    binaries: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(*args: object) -> None:
        raise PermissionError(1, "Operation not permitted")  # as on a file system without them

    monkeypatch.setattr(os, "link", no_links)
    directory, path = tmp_path / "store", binaries[0]
    found = _stored_once(path, directory, monkeypatch)
    (index_entry,) = _index(directory)
    assert index_entry.read_text() == found.sha256
    rerun = EvidenceCache(store=EvidenceStore(directory))
    _forbid_hashing(monkeypatch)
    assert rerun.get(_artifact(path)) == found
    assert rerun.store_hits == 1


def test_stat_index_keeps_the_digest_where_there_is_nothing_to_link(
    tmp_path: Path, corpus: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "RACY_SECONDS", 0)
    path = tmp_path / "cut.so"
    path.write_bytes(corpus["hardened"].read_bytes()[:40])
    os.utime(path, ns=(0, 0))
    directory = tmp_path / "store"
    for _ in range(2):
        with pytest.raises(MalformedBinaryError):
            EvidenceCache(store=EvidenceStore(directory)).get(_artifact(path))
    (index_entry,) = _index(directory)
    assert index_entry.read_text() == hashlib.sha256(path.read_bytes()).hexdigest()
    _forbid_hashing(monkeypatch)
    with pytest.raises(MalformedBinaryError):  # still reported, without hashing it again
        EvidenceCache(store=EvidenceStore(directory)).get(_artifact(path))


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda data: data[: len(data) // 2], id="truncated"),
        pytest.param(lambda data: b"", id="empty"),
        pytest.param(lambda data: b"\xff\xfe not json", id="garbage"),
        pytest.param(lambda data: data.replace(b'"elf_class":64', b'"elf_class":"64"'), id="type"),
        pytest.param(lambda data: data.replace(b'"has_symtab"', b'"has_symbols"'), id="field"),
        pytest.param(lambda data: data.replace(b'"size":', b'"size":1', 1), id="other-key"),
        pytest.param(lambda data: b"[" * 100_000, id="deep"),
    ],
)
def test_corrupt_entry_is_a_removed_miss(
    damage: Callable[[bytes], bytes], binaries: list[Path], tmp_path: Path
) -> None:
    directory = tmp_path / "store"
    path = binaries[0]
    EvidenceCache(store=EvidenceStore(directory)).get(_artifact(path))
    (entry,) = _entries(directory)
    broken = damage(entry.read_bytes())
    assert broken != entry.read_bytes()
    entry.write_bytes(broken)

    key = StoreKey.of_file(str(path), language=True)
    assert EvidenceStore(directory).get(key, ElfEvidence) is None
    assert not entry.exists()
    rerun = EvidenceCache(store=EvidenceStore(directory))
    assert rerun.get(_artifact(path)) == load_elf_evidence(str(path))
    assert (rerun.parses, rerun.store_hits) == (1, 0)
    assert EvidenceStore(directory).get(key, ElfEvidence) is not None  # rewritten whole


def test_unreadable_entry_is_a_miss(binaries: list[Path], tmp_path: Path) -> None:
    directory = tmp_path / "store"
    path = binaries[0]
    key = StoreKey.of_file(str(path), language=True)
    (directory / store.reading_id() / key.file_name).mkdir(parents=True)  # not a file
    cache = EvidenceCache(store=EvidenceStore(directory))
    assert cache.get(_artifact(path)) == load_elf_evidence(str(path))
    assert cache.parses == 1


def test_unwritable_store_is_no_error(binaries: list[Path], tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    cache = EvidenceCache(store=EvidenceStore(blocker))  # its root cannot be created
    assert cache.get(_artifact(binaries[0])) == load_elf_evidence(str(binaries[0]))
    assert cache.parses == 1


def test_oversized_entry_is_not_stored(
    binaries: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "MAX_ENTRY_BYTES", 100)
    found = load_elf_evidence(str(binaries[0]))
    assert not EvidenceStore(tmp_path).put(StoreKey.of_evidence(found), found)
    assert _entries(tmp_path) == []


def test_put_refuses_a_mismatched_key(evidence: dict[str, ElfEvidence], tmp_path: Path) -> None:
    found = evidence["hardened"]
    with pytest.raises(ValueError, match="does not match"):
        EvidenceStore(tmp_path).put(StoreKey.of_evidence(evidence["weak"]), found)
    with pytest.raises(ValueError, match="without a sha256"):
        StoreKey.of_evidence(replace(found, sha256=None))


def test_a_file_parsed_once_reports_its_error_under_each_name(
    tmp_path: Path, corpus: dict[str, Path]
) -> None:
    """Two artifacts of one file (a universal file's slices) share its one parse, and each
    reports the error under its own name."""
    path = tmp_path / "cut.so"
    path.write_bytes(corpus["hardened"].read_bytes()[:40])
    cache = EvidenceCache(store=EvidenceStore(tmp_path / "store"))
    for display in ("cut.so[x86_64]", "cut.so[arm64]", "cut.so[x86_64]"):
        artifact = Artifact(path=str(path), display=display, origin="tree",
                            format=BinaryFormat.ELF)  # fmt: skip
        with pytest.raises(MalformedBinaryError) as raised:
            cache.get(artifact)
        assert raised.value.path == display
    assert cache.parses == 1


def test_malformed_binary_is_not_stored(tmp_path: Path, corpus: dict[str, Path]) -> None:
    path = tmp_path / "cut.so"
    path.write_bytes(corpus["hardened"].read_bytes()[:40])
    for _ in range(2):
        cache = EvidenceCache(store=EvidenceStore(tmp_path / "store"))
        with pytest.raises(MalformedBinaryError, match=r"cut\.so"):
            cache.get(_artifact(path))
        assert (cache.parses, cache.store_hits) == (1, 0)
    assert _entries(tmp_path / "store") == []


def test_concurrent_writers_leave_a_whole_entry(
    evidence: dict[str, ElfEvidence], tmp_path: Path
) -> None:
    found = evidence["hardened"]
    key = StoreKey.of_evidence(found)
    EvidenceStore(tmp_path).put(key, found)
    start = threading.Barrier(5)
    misses: list[ElfEvidence | None] = []

    def write() -> None:
        start.wait()
        for _ in range(100):
            assert EvidenceStore(tmp_path).put(key, found)

    def read() -> None:
        start.wait()
        for _ in range(200):
            got = EvidenceStore(tmp_path).get(key, ElfEvidence)
            if got != found:
                misses.append(got)

    threads = [threading.Thread(target=write) for _ in range(4)] + [threading.Thread(target=read)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert misses == []
    assert EvidenceStore(tmp_path).get(key, ElfEvidence) == found
    assert [p.name for p in (tmp_path / store.reading_id()).iterdir()] == [key.file_name]


@pytest.mark.parametrize("part", ["__version__", "FORMAT_VERSION"])
def test_new_release_or_format_ignores_old_entries(
    part: str, binaries: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "store"
    EvidenceCache(store=EvidenceStore(directory)).get(_artifact(binaries[0]))
    old = store.reading_id()
    monkeypatch.setattr(store, part, "bumped")
    store.reading_id.cache_clear()
    try:
        assert store.reading_id() != old
        rerun = EvidenceCache(store=EvidenceStore(directory))
        rerun.get(_artifact(binaries[0]))
        assert (rerun.parses, rerun.store_hits) == (1, 0)
    finally:
        store.reading_id.cache_clear()
