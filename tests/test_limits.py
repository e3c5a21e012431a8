"""Hard limits on hostile input (README "Limits on hostile input"): each limit is hit by a
real gcc-built binary made to exceed it, and gives the documented error or truncation.

Where exceeding a limit at its real size would take a file of tens of MB (symbols,
relocations, ``.eh_frame`` records), the test lowers the constant with ``monkeypatch`` and
exceeds that: it proves the check and its message, not the number.
"""

from __future__ import annotations

import os
import struct
import time
from pathlib import Path
from typing import Final

import pytest

from pytest_memsafe.errors import MalformedBinaryError
from pytest_memsafe.evidence import elf, elf_dwarf, elf_language
from pytest_memsafe.evidence.elf import ElfEvidence
from pytest_memsafe.evidence.elf_dwarf import unit_producers
from pytest_memsafe.files import MAX_BINARY_BYTES
from tests.test_malformed import (
    DT_GNU_HASH,
    DT_HASH,
    HEADER_FIELDS,
    PH_OFFSET,
    PHDR_SIZE,
    PT_NOTE,
    SH_OFFSET,
    SH_SIZE,
    Layout,
    _appended,
    _with_dynamic,
    load_bytes,
    load_path,
    original,
)

HARD, NOSEC = "hardened", "nosections"
DT_VERSYM: Final = 0x6FFFFFF0
"""A tag no check reads: padding for an over-long dynamic table."""


def expect_error(outcome: ElfEvidence | MalformedBinaryError, message: str) -> None:
    assert isinstance(outcome, MalformedBinaryError), outcome
    assert message in outcome.detail, outcome.detail


def expect_evidence(outcome: ElfEvidence | MalformedBinaryError) -> ElfEvidence:
    assert isinstance(outcome, ElfEvidence), outcome
    return outcome


# --------------------------------------------------------------------------- file size


@pytest.mark.parametrize(
    "size", [MAX_BINARY_BYTES + 1, 4 << 30], ids=["limit+1", "4GiB"]
)  # fmt: skip
def test_sparse_file_over_the_size_limit_is_refused_unread(
    corpus: dict[str, Path], tmp_path: Path, size: int
) -> None:
    path = tmp_path / "huge.so"
    path.write_bytes(corpus[HARD].read_bytes())  # a real ELF header, then a sparse hole
    os.truncate(path, size)
    assert path.stat().st_blocks * 512 < 1 << 20, "the file must be sparse"

    outcome = load_path(path)  # within LOAD_SECONDS and a few MB of allocation

    expect_error(outcome, f"file size: {size} exceeds the limit of {MAX_BINARY_BYTES}")


# --------------------------------------------------------------------------- headers


def _with_program_headers(data: bytes, layout: Layout, count: int) -> bytes:
    """The file with its program header table moved to the end and padded with PT_NULL
    entries to ``count``."""
    out = bytearray(data)
    table = data[layout.phoff : layout.phdr_end] + bytes(PHDR_SIZE * (count - layout.phnum))
    struct.pack_into("<Q", out, HEADER_FIELDS["e_phoff"][0], _appended(out, table))
    struct.pack_into("<H", out, HEADER_FIELDS["e_phnum"][0], count)
    return bytes(out)


def test_program_headers_up_to_the_limit(corpus: dict[str, Path], tmp_path: Path) -> None:
    data, layout = original(corpus, HARD)

    at_limit = load_bytes(tmp_path / "a.so", _with_program_headers(data, layout, elf.MAX_SEGMENTS))
    over = load_bytes(tmp_path / "b.so", _with_program_headers(data, layout, elf.MAX_SEGMENTS + 1))

    assert len(expect_evidence(at_limit).segments) == elf.MAX_SEGMENTS
    expect_error(over, f"e_phnum: {elf.MAX_SEGMENTS + 1} exceeds the limit of {elf.MAX_SEGMENTS}")


def test_extended_section_count_over_the_limit(corpus: dict[str, Path], tmp_path: Path) -> None:
    """e_shnum 0 defers the count to section 0's sh_size, a 64-bit field."""
    data, layout = original(corpus, HARD)
    out = bytearray(data)
    struct.pack_into("<H", out, HEADER_FIELDS["e_shnum"][0], 0)
    struct.pack_into("<Q", out, layout.shoff + SH_SIZE, 1 << 40)

    outcome = load_bytes(tmp_path / "lib.so", bytes(out))

    expect_error(outcome, f"e_shnum: {1 << 40} exceeds the limit of {elf.MAX_SECTIONS}")


@pytest.mark.parametrize(("extra", "fails"), [(0, False), (1, True)], ids=["at-limit", "over"])
def test_dynamic_table_without_end_over_the_limit(
    corpus: dict[str, Path], tmp_path: Path, extra: int, fails: bool
) -> None:
    """Tags past the limit would go unseen (a DT_TEXTREL there): an error, not a cut."""
    data, layout = original(corpus, NOSEC)
    kept = [(entry.tag, entry.value) for entry in layout.dynamic]
    padding = [(DT_VERSYM, 0)] * (elf.MAX_DYNAMIC_TAGS - len(kept) + extra)

    outcome = load_bytes(
        tmp_path / "lib.so", _with_dynamic(bytearray(data), layout, kept + padding)
    )

    if fails:
        expect_error(outcome, f"dynamic entries before DT_NULL: {elf.MAX_DYNAMIC_TAGS + 1} exceeds")
    else:
        assert expect_evidence(outcome).dynamic is not None


def test_gnu_hash_chain_over_the_limit(corpus: dict[str, Path], tmp_path: Path) -> None:
    """Without section headers the symbol count comes from the last DT_GNU_HASH chain."""
    data, layout = original(corpus, NOSEC)
    out = bytearray(data)
    chain = bytes(4 * (elf.MAX_HASH_CHAIN + 8))  # even words: the chain never ends
    table_at = _appended(out, struct.pack("<IIII", 1, 0, 1, 6) + bytes(8) + bytes(4) + chain)
    kept = [(e.tag, e.value) for e in layout.dynamic if e.tag not in (DT_HASH, DT_GNU_HASH)]

    outcome = load_bytes(
        tmp_path / "lib.so", _with_dynamic(out, layout, [*kept, (DT_GNU_HASH, table_at)])
    )

    expect_error(outcome, f"last DT_GNU_HASH chain: {elf.MAX_HASH_CHAIN + 1} exceeds")


def test_gnu_hash_buckets_over_the_limit(corpus: dict[str, Path], tmp_path: Path) -> None:
    """Read as one array of words, bounded: a tuple of ints would take 9x the file size."""
    data, layout = original(corpus, NOSEC)
    out = bytearray(data)
    nbuckets = elf.MAX_HASH_BUCKETS + 1
    table_at = _appended(out, struct.pack("<IIII", nbuckets, 0, 1, 6) + bytes(8 + 4 * nbuckets))
    kept = [(e.tag, e.value) for e in layout.dynamic if e.tag not in (DT_HASH, DT_GNU_HASH)]

    outcome = load_bytes(
        tmp_path / "lib.so", _with_dynamic(out, layout, [*kept, (DT_GNU_HASH, table_at)])
    )

    expect_error(outcome, f"DT_GNU_HASH buckets: {nbuckets} exceeds the limit")


@pytest.mark.parametrize(
    ("constant", "message"),
    [
        ("MAX_DYNAMIC_SYMBOLS", "dynamic symbols: "),
        ("MAX_RELOCATIONS", "relocations at "),
    ],
)
def test_counted_tables_over_a_lowered_limit(
    corpus: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    constant: str,
    message: str,
) -> None:
    monkeypatch.setattr(elf, constant, 2)

    outcome = load_bytes(tmp_path / "lib.so", corpus[HARD].read_bytes())

    expect_error(outcome, message)
    assert "exceeds the limit of 2" in str(outcome)


def test_note_segments_over_the_limit(corpus: dict[str, Path], tmp_path: Path) -> None:
    data, layout = original(corpus, HARD)
    out = bytearray(data)
    size = elf.MAX_NOTE_BYTES + 12
    notes_at = _appended(out, bytes(size))  # empty notes, 12 bytes each
    note = layout.segment(PT_NOTE).header_at
    struct.pack_into("<QQQQ", out, note + PH_OFFSET, notes_at, notes_at, 0, size)

    outcome = load_bytes(tmp_path / "lib.so", bytes(out))

    expect_error(outcome, f"note bytes: {size} exceeds the limit of {elf.MAX_NOTE_BYTES}")


def test_comment_is_read_up_to_its_limit(corpus: dict[str, Path], tmp_path: Path) -> None:
    data, layout = original(corpus, HARD)
    out = bytearray(data)
    text = b"early compiler\0" + b"x" * elf.MAX_COMMENT_BYTES + b"\0late compiler\0"
    comment_at = _appended(out, text)
    header = layout.sections[".comment"].header_at
    struct.pack_into("<QQ", out, header + SH_OFFSET, comment_at, len(text))

    comments = expect_evidence(load_bytes(tmp_path / "lib.so", bytes(out))).comments

    assert "early compiler" in comments
    assert "late compiler" not in comments


# --------------------------------------------------------------------------- language


def _section_to(data: bytes, layout: Layout, name: str, payload: bytes) -> bytes:
    """The file with section ``name`` moved to ``payload``, appended."""
    out = bytearray(data)
    at = _appended(out, payload)
    struct.pack_into("<QQ", out, layout.sections[name].header_at + SH_OFFSET, at, len(payload))
    return bytes(out)


def test_symtab_over_its_limit_is_left_unread(
    debug_build: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Language evidence degrades (as if stripped); the file is still checked."""
    whole = expect_evidence(load_path(debug_build))
    assert whole.language is not None and whole.language.symtab_bytes
    monkeypatch.setattr(elf_language, "MAX_SYMTAB_SYMBOLS", 3)

    outcome = expect_evidence(load_path(debug_build))

    assert outcome.has_symtab and outcome.language is not None
    assert outcome.language.symtab_bytes is None and outcome.language.source_files == ()
    assert outcome.imports == whole.imports


def test_eh_frame_records_past_the_limit_are_not_counted(
    debug_build: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = expect_evidence(load_path(debug_build)).language
    assert whole is not None and whole.eh_frame_fde_bytes
    monkeypatch.setattr(elf_dwarf, "MAX_FDE_RECORDS", 2)  # the CIE and one FDE

    cut = expect_evidence(load_path(debug_build)).language

    assert cut is not None and 0 < cut.eh_frame_fde_bytes < whole.eh_frame_fde_bytes


def _unit(producer: bytes, code: int = 1) -> bytes:
    """A DWARF 4 compilation unit whose top DIE (abbreviation ``code``) is an inline producer."""
    body = struct.pack("<HIB", 4, 0, 8) + bytes([code]) + producer + b"\0"
    return struct.pack("<I", len(body)) + body


PRODUCER_ABBREV: Final = b"\x01\x11\x00\x25\x08\x00\x00"
"""Abbreviation 1: DW_TAG_compile_unit, no children, DW_AT_producer as DW_FORM_string."""


def _producers(units: bytes, abbrev: bytes) -> tuple[str, ...]:
    data = units + abbrev
    return unit_producers(data, (0, len(units)), (len(units), len(data)), {}, "<")


def test_dwarf_units_past_the_limit_are_not_read() -> None:
    units = _unit(b"GNU C17") * elf_dwarf.MAX_UNITS + _unit(b"late")
    assert _producers(units, PRODUCER_ABBREV + b"\0") == ("GNU C17",)


def test_distinct_producers_are_capped() -> None:
    units = b"".join(_unit(b"cc %d" % index) for index in range(elf_dwarf.MAX_PRODUCERS + 5))
    assert len(_producers(units, PRODUCER_ABBREV + b"\0")) == elf_dwarf.MAX_PRODUCERS


def test_abbreviation_steps_are_shared_by_all_units() -> None:
    """Each unit's lookup walks 1,000 entries (2,000 steps) to reach its abbreviation: the
    step budget runs out after 50 units, so the producer of unit 151 is never read."""
    filler = b"".join(b"\x02\x11\x00\x25\x08\x00\x00" for _ in range(1_000))
    abbrev = filler + PRODUCER_ABBREV + b"\0"
    units = _unit(b"GNU C17") * 150 + _unit(b"late")
    started = time.perf_counter()
    assert _producers(units, abbrev) == ("GNU C17",)
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize("run", [b"\xff", b"\x80"], ids=["0xff", "0x80"])
def test_overlong_leb128_in_debug_info_ends_the_decode(
    debug_build: Path, tmp_path: Path, run: bytes
) -> None:
    """A 1 MB abbreviation code: decoding it whole cost minutes (quadratic), before
    MAX_LEB_BYTES; now the unit is dropped and the file still gives evidence."""
    data = debug_build.read_bytes()
    body = struct.pack("<HIB", 4, 0, 8) + run * (1 << 20) + b"\x01"
    unit = struct.pack("<I", len(body)) + body

    outcome = load_bytes(
        tmp_path / "lib.so", _section_to(data, Layout.of(data), ".debug_info", unit)
    )

    language = expect_evidence(outcome).language
    assert language is not None and language.dwarf_producers == ()


def test_marker_scan_stops_at_its_byte_budget(corpus: dict[str, Path], tmp_path: Path) -> None:
    data, layout = original(corpus, HARD)
    rodata = b"cython_runtime\0" + bytes(elf_language.MAX_MARKER_SCAN_BYTES) + b"NimMain\0"

    outcome = load_bytes(tmp_path / "lib.so", _section_to(data, layout, ".rodata", rodata))

    language = expect_evidence(outcome).language
    assert language is not None and "cython" in language.markers
    assert "nim" not in language.markers


def test_marker_matches_are_capped(corpus: dict[str, Path], tmp_path: Path) -> None:
    data, layout = original(corpus, HARD)
    rodata = b"NimMain\0" * elf_language.MAX_MARKER_MATCHES + b"cython_runtime\0"

    outcome = load_bytes(tmp_path / "lib.so", _section_to(data, layout, ".rodata", rodata))

    language = expect_evidence(outcome).language
    assert language is not None and "nim" in language.markers
    assert "cython" not in language.markers
