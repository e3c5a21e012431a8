"""Hostile input for the ELF evidence loader.

For any bytes in a file, ``load_elf_evidence`` returns an ``ElfEvidence`` or raises
``MalformedBinaryError`` -- nothing else, within a second, with a peak allocation bounded by
the file size rather than by what a header claims. Every input here is a real gcc-built
binary from the corpus, mutated at offsets found by parsing it with ``struct``.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import struct
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import Final

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_memsafe.errors import MalformedBinaryError
from pytest_memsafe.evidence import EvidenceCache
from pytest_memsafe.evidence.elf import ElfEvidence, load_elf_bytes, load_elf_evidence
from pytest_memsafe.model import Artifact, BinaryFormat
from tests import elf_mutations as mut
from tests.elf_mutations import Field as MutField
from tests.elf_mutations import Layout as MutLayout

# ELF constants, spelled out here so the tests do not trust the module under test.
PT_LOAD: Final = 1
PT_DYNAMIC: Final = 2
PT_NOTE: Final = 4
DT_NULL: Final = 0
DT_NEEDED: Final = 1
DT_PLTRELSZ: Final = 2
DT_HASH: Final = 4
DT_STRTAB: Final = 5
DT_SYMTAB: Final = 6
DT_RELASZ: Final = 8
DT_STRSZ: Final = 10
DT_JMPREL: Final = 23
DT_GNU_HASH: Final = 0x6FFFFEF5
SHN_XINDEX: Final = 0xFFFF

EHDR_SIZE: Final = 64
PHDR_SIZE: Final = 56
SHDR_SIZE: Final = 64
DYN_SIZE: Final = 16
SYM_SIZE: Final = 24
PH_OFFSET, PH_VADDR, PH_FILESZ, PH_MEMSZ = 8, 16, 32, 40
SH_NAME, SH_OFFSET, SH_SIZE = 0, 24, 32
NOTE_NAMESZ, NOTE_DESCSZ = 0, 4
GNU_HASH_NBUCKETS, GNU_HASH_SYMOFFSET, GNU_HASH_BLOOM_SIZE = 0, 4, 8
U32_MAX: Final = 0xFFFF_FFFF
U64_MAX: Final = 0xFFFF_FFFF_FFFF_FFFF
UNMAPPED: Final = 1 << 40
"""A virtual address no PT_LOAD of a small corpus binary covers."""

HEADER_FIELDS: Final[dict[str, tuple[int, str]]] = {
    "magic": (0, "<I"),
    "EI_CLASS": (4, "<B"),
    "EI_DATA": (5, "<B"),
    "e_machine": (18, "<H"),
    "e_phoff": (0x20, "<Q"),
    "e_shoff": (0x28, "<Q"),
    "e_phentsize": (0x36, "<H"),
    "e_phnum": (0x38, "<H"),
    "e_shentsize": (0x3A, "<H"),
    "e_shnum": (0x3C, "<H"),
    "e_shstrndx": (0x3E, "<H"),
}
"""ELF64 header field -> (offset, struct format)."""

LOAD_SECONDS: Final = 1.0
"""Every load must finish within this (the corpus files take milliseconds)."""
PEAK_BYTES_PER_FILE_BYTE: Final = 8
PEAK_SLACK_BYTES: Final = 4 << 20
"""Peak allocation allowed: proportional to the file, plus pyelftools' fixed structures."""

EVIDENCE: Final = "<evidence>"
"""Expected outcome: evidence with the unmutated file's imports and DT_NEEDED."""
EITHER: Final = "<either>"
"""Expected outcome: evidence or MalformedBinaryError (the contract alone)."""

Outcome = ElfEvidence | MalformedBinaryError


# --------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class Segment:
    header_at: int
    """File offset of the program header itself."""
    p_type: int
    offset: int
    vaddr: int
    filesz: int


@dataclass(frozen=True)
class Section:
    header_at: int
    """File offset of the section header itself."""
    offset: int
    size: int


@dataclass(frozen=True)
class DynEntry:
    at: int
    """File offset of the entry."""
    tag: int
    value: int


@dataclass(frozen=True)
class Layout:
    """Where the structures of an ELF64 little-endian file are, read with ``struct``."""

    size: int
    phoff: int
    phnum: int
    shoff: int
    shnum: int
    shstrndx: int
    segments: tuple[Segment, ...]
    sections: dict[str, Section]
    dynamic: tuple[DynEntry, ...]

    @classmethod
    def of(cls, data: bytes) -> Layout:
        assert data.startswith(b"\x7fELF\x02\x01"), "corpus binaries are ELF64 LSB"
        (phoff,) = struct.unpack_from("<Q", data, HEADER_FIELDS["e_phoff"][0])
        (shoff,) = struct.unpack_from("<Q", data, HEADER_FIELDS["e_shoff"][0])
        phnum, _, shnum, shstrndx = struct.unpack_from("<HHHH", data, 0x38)
        segments = []
        for index in range(phnum):
            at = phoff + index * PHDR_SIZE
            p_type, _, offset, vaddr, _, filesz = struct.unpack_from("<IIQQQQ", data, at)
            segments.append(Segment(at, p_type, offset, vaddr, filesz))
        header_offsets = [shoff + index * SHDR_SIZE for index in range(shnum if shoff else 0)]
        headers = [(at, struct.unpack_from("<IIQQQQ", data, at)) for at in header_offsets]
        sections = {}
        if headers:
            names_at = headers[shstrndx][1][4]
            for at, (name_at, _, _, _, offset, size) in headers:
                start = names_at + name_at
                name = data[start : data.index(b"\0", start)].decode()
                sections[name] = Section(at, offset, size)
        dynamic = []
        dyn_segment = next(seg for seg in segments if seg.p_type == PT_DYNAMIC)
        for at in range(dyn_segment.offset, dyn_segment.offset + dyn_segment.filesz, DYN_SIZE):
            tag, value = struct.unpack_from("<qQ", data, at)
            if tag == DT_NULL:
                break
            dynamic.append(DynEntry(at, tag, value))
        return cls(
            size=len(data),
            phoff=phoff,
            phnum=phnum,
            shoff=shoff,
            shnum=shnum,
            shstrndx=shstrndx,
            segments=tuple(segments),
            sections=sections,
            dynamic=tuple(dynamic),
        )

    @property
    def phdr_end(self) -> int:
        return self.phoff + self.phnum * PHDR_SIZE

    @property
    def shdr_end(self) -> int:
        return self.shoff + self.shnum * SHDR_SIZE

    @property
    def loader_end(self) -> int:
        """End of the last byte any program header covers."""
        return max(seg.offset + seg.filesz for seg in self.segments)

    def segment(self, p_type: int) -> Segment:
        return next(seg for seg in self.segments if seg.p_type == p_type)

    def dyn(self, tag: int) -> DynEntry:
        return next(entry for entry in self.dynamic if entry.tag == tag)

    def file_offset(self, vaddr: int) -> int:
        """Map a virtual address to its file offset through the PT_LOAD segments."""
        for seg in self.segments:
            if seg.p_type == PT_LOAD and seg.vaddr <= vaddr < seg.vaddr + seg.filesz:
                return vaddr - seg.vaddr + seg.offset
        raise LookupError(f"{vaddr:#x} is not in any PT_LOAD")


def original(corpus: dict[str, Path], variant: str) -> tuple[bytes, Layout]:
    data = corpus[variant].read_bytes()
    return data, Layout.of(data)


# --------------------------------------------------------------------------- loading


class LoaderTooSlow(Exception):
    """The loader ran past LOAD_SECONDS (a hang, or quadratic work)."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Interrupt the block after ``seconds``, and again every ``seconds`` (a library may
    swallow one interruption); fail if it took longer even so."""

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        raise LoaderTooSlow(f"load_elf_evidence took over {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds, seconds)
    started = time.perf_counter()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    elapsed = time.perf_counter() - started
    assert elapsed < seconds, f"load_elf_evidence took {elapsed:.2f} s"


def load_path(path: Path, file_bytes: int = 0) -> Outcome:
    """Load ``path``: the evidence or the MalformedBinaryError (anything else propagates),
    within LOAD_SECONDS and a peak allocation bounded by ``file_bytes``."""
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    outcome: Outcome
    try:
        with time_limit(LOAD_SECONDS):
            try:
                outcome = load_elf_evidence(str(path))
            except MalformedBinaryError as exc:
                outcome = exc
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if started:
            tracemalloc.stop()
    allowed = PEAK_BYTES_PER_FILE_BYTE * file_bytes + PEAK_SLACK_BYTES
    assert peak - before <= allowed, f"peak {peak - before} bytes for a {file_bytes}-byte file"
    return outcome


def load_bytes(path: Path, data: bytes) -> Outcome:
    path.write_bytes(data)
    return load_path(path, len(data))


def patched(data: bytes, at: int, fmt: str, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, at, value)
    return bytes(out)


def assert_outcome(outcome: Outcome, expect: str, baseline: ElfEvidence) -> None:
    """Check ``outcome`` against EVIDENCE, EITHER or a word of the error detail."""
    if expect == EITHER:
        return
    if expect == EVIDENCE:
        assert isinstance(outcome, ElfEvidence), outcome
        assert outcome.imports == baseline.imports
        assert outcome.dynamic is not None and baseline.dynamic is not None
        assert outcome.dynamic.needed == baseline.dynamic.needed
        return
    assert isinstance(outcome, MalformedBinaryError), f"expected an error with {expect!r}"
    assert expect in outcome.detail


# --------------------------------------------------------------------------- truncation

TRUNCATIONS: Final[dict[str, Callable[[Layout], int]]] = {
    "0": lambda lay: 0,
    "4-magic": lambda lay: 4,
    "16-e_ident": lambda lay: 16,
    "24-e_version": lambda lay: 24,
    "52-elf32-header": lambda lay: 52,
    "63": lambda lay: EHDR_SIZE - 1,
    "64-elf64-header": lambda lay: EHDR_SIZE,
    "phdr-middle": lambda lay: lay.phoff + lay.phnum * PHDR_SIZE // 2,
    "phdr-end": lambda lay: lay.phdr_end,
    "before-dynamic": lambda lay: lay.segment(PT_DYNAMIC).offset,
    "inside-dynamic": lambda lay: lay.segment(PT_DYNAMIC).offset + DYN_SIZE * 2 + 3,
    "inside-dynsym": lambda lay: lay.sections[".dynsym"].offset + SYM_SIZE + 5,
    "inside-shdr": lambda lay: lay.shoff + lay.shnum * SHDR_SIZE // 2,
    "len-1": lambda lay: lay.size - 1,
}
EARLY_TRUNCATIONS: Final = frozenset(
    {
        "0",
        "4-magic",
        "16-e_ident",
        "24-e_version",
        "52-elf32-header",
        "63",
        "64-elf64-header",
        "phdr-middle",
        "phdr-end",
    }
)
"""Cuts inside the ELF header or the program header table."""


@pytest.mark.parametrize("cut_name", TRUNCATIONS)
def test_truncated_binary(corpus: dict[str, Path], tmp_path: Path, cut_name: str) -> None:
    data, layout = original(corpus, "hardened")
    cut = TRUNCATIONS[cut_name](layout)
    assert 0 <= cut < len(data)

    outcome = load_bytes(tmp_path / "lib.so", data[:cut])

    if cut_name in EARLY_TRUNCATIONS:
        assert isinstance(outcome, MalformedBinaryError)
        assert ("empty" if cut == 0 else "ELF") in outcome.detail
    if cut < layout.shdr_end:  # the section table is read whole: cutting it is an error
        assert isinstance(outcome, MalformedBinaryError)


def test_truncation_past_loader_structures_still_parses(
    corpus: dict[str, Path], tmp_path: Path, evidence: dict[str, ElfEvidence]
) -> None:
    data, layout = original(corpus, "nosections")
    assert layout.loader_end < len(data), ".comment/.symtab follow the last segment"

    outcome = load_bytes(tmp_path / "lib.so", data[: layout.loader_end])

    assert isinstance(outcome, ElfEvidence), outcome
    whole = evidence["nosections"]
    assert outcome.size == layout.loader_end
    assert (outcome.imports, outcome.exports) == (whole.imports, whole.exports)
    assert outcome.dynamic == whole.dynamic
    assert outcome.got_slots == whole.got_slots


# --------------------------------------------------------------------------- lies

Mutation = Callable[[bytes, Layout], bytes]
Value = int | Callable[[Layout], int]


def _resolve(value: Value, layout: Layout) -> int:
    return value if isinstance(value, int) else value(layout)


def at_header(field: str, value: Value) -> Mutation:
    at, fmt = HEADER_FIELDS[field]
    return lambda data, lay: patched(data, at, fmt, _resolve(value, lay))


def at_segment(p_type: int, field_at: int, value: Value) -> Mutation:
    return lambda data, lay: patched(
        data, lay.segment(p_type).header_at + field_at, "<Q", _resolve(value, lay)
    )


def at_section(name: str, field_at: int, fmt: str, value: Value) -> Mutation:
    return lambda data, lay: patched(
        data, lay.sections[name].header_at + field_at, fmt, _resolve(value, lay)
    )


def at_dynamic(tag: int, value: Value) -> Mutation:
    return lambda data, lay: patched(data, lay.dyn(tag).at + 8, "<Q", _resolve(value, lay))


def in_target_of(tag: int, field_at: int, value: int) -> Mutation:
    """Patch a 32-bit field of the table that dynamic entry ``tag`` points at."""
    return lambda data, lay: patched(
        data, lay.file_offset(lay.dyn(tag).value) + field_at, "<I", value
    )


def in_first_note(field_at: int, value: int) -> Mutation:
    return lambda data, lay: patched(data, lay.segment(PT_NOTE).offset + field_at, "<I", value)


def notes_of_zero_size(data: bytes, layout: Layout) -> bytes:
    """PT_NOTE over a run of zero bytes: 85 empty notes (each only 12 header bytes)."""
    zeros_at = data.index(bytes(1024), EHDR_SIZE)
    note = layout.segment(PT_NOTE).header_at
    data = patched(data, note + PH_OFFSET, "<Q", zeros_at)
    return patched(data, note + PH_FILESZ, "<Q", 85 * 12)


@dataclass(frozen=True)
class Lie:
    name: str
    variant: str
    mutate: Mutation
    expect: str
    """EVIDENCE, EITHER, or a word the MalformedBinaryError detail must contain."""


def _params(*lies: Lie) -> list[object]:
    return [pytest.param(lie, id=f"{lie.variant}:{lie.name}") for lie in lies]


HARD, NOSEC = "hardened", "nosections"
OUTSIDE = "outside the file"

HEADER_LIES: Final = _params(
    Lie("bad-magic", HARD, at_header("magic", 0x464C457E), "Magic"),
    Lie("EI_CLASS=0", HARD, at_header("EI_CLASS", 0), "EI_CLASS"),
    Lie("EI_CLASS=3", HARD, at_header("EI_CLASS", 3), "EI_CLASS"),
    Lie("EI_CLASS=32-bit", HARD, at_header("EI_CLASS", 1), EITHER),
    Lie("EI_DATA=0", HARD, at_header("EI_DATA", 0), "EI_DATA"),
    Lie("EI_DATA=3", HARD, at_header("EI_DATA", 3), "EI_DATA"),
    Lie("EI_DATA=big-endian", HARD, at_header("EI_DATA", 2), EITHER),
    Lie("e_phnum=0xffff", HARD, at_header("e_phnum", 0xFFFF), "e_phnum: 65535 exceeds"),
    Lie("e_phnum=0xffff", NOSEC, at_header("e_phnum", 0xFFFF), "e_phnum: 65535 exceeds"),
    Lie("e_phoff-past-eof", HARD, at_header("e_phoff", lambda lay: lay.size), OUTSIDE),
    Lie("e_phoff=max", NOSEC, at_header("e_phoff", U64_MAX), OUTSIDE),
    Lie("e_phentsize=8", HARD, at_header("e_phentsize", 8), "e_phentsize"),
    Lie("e_phentsize=0xffff", HARD, at_header("e_phentsize", 0xFFFF), OUTSIDE),
    Lie("e_shoff-past-eof", HARD, at_header("e_shoff", lambda lay: lay.size), OUTSIDE),
    Lie("e_shoff=max", HARD, at_header("e_shoff", U64_MAX), OUTSIDE),
    Lie("e_shnum=0xffff", HARD, at_header("e_shnum", 0xFFFF), OUTSIDE),
    Lie("e_shnum=0xffff", NOSEC, at_header("e_shnum", 0xFFFF), EVIDENCE),  # e_shoff is 0
    Lie("e_shnum=0", HARD, at_header("e_shnum", 0), EVIDENCE),  # count in section 0: none
    Lie("e_shentsize=8", HARD, at_header("e_shentsize", 8), "e_shentsize"),
    Lie("e_shstrndx=e_shnum", HARD, at_header("e_shstrndx", lambda lay: lay.shnum), "e_shstrndx"),
    Lie("e_shstrndx=0xfeff", HARD, at_header("e_shstrndx", 0xFEFF), "e_shstrndx"),
    Lie("e_shstrndx=SHN_XINDEX", HARD, at_header("e_shstrndx", SHN_XINDEX), EVIDENCE),
    Lie("e_machine=0xffff", HARD, at_header("e_machine", 0xFFFF), EVIDENCE),
)

_dynamic_at_phdrs = at_segment(PT_DYNAMIC, PH_OFFSET, lambda lay: lay.phoff)
_dynamic_at_itself = at_segment(
    PT_DYNAMIC, PH_OFFSET, lambda lay: lay.segment(PT_DYNAMIC).header_at
)
_dynamic_past_eof = at_segment(PT_DYNAMIC, PH_OFFSET, lambda lay: lay.size)
_needed_past_strtab = at_dynamic(DT_NEEDED, lambda lay: lay.dyn(DT_STRSZ).value)
_nbuckets_max = in_target_of(DT_GNU_HASH, GNU_HASH_NBUCKETS, U32_MAX)
_bloom_max = in_target_of(DT_GNU_HASH, GNU_HASH_BLOOM_SIZE, U32_MAX)
_symoffset_max = in_target_of(DT_GNU_HASH, GNU_HASH_SYMOFFSET, U32_MAX)
_comment_past_eof = at_section(".comment", SH_OFFSET, "<Q", lambda lay: lay.size)
_shstrtab_past_eof = at_section(".shstrtab", SH_OFFSET, "<Q", lambda lay: lay.size)
IN_TABLE = "outside its table"
RELOCS = "relocation table"

STRUCTURE_LIES: Final = _params(
    Lie("dynamic-at-phdrs", HARD, _dynamic_at_phdrs, EITHER),
    Lie("dynamic-at-phdrs", NOSEC, _dynamic_at_phdrs, EITHER),
    Lie("dynamic-at-itself", NOSEC, _dynamic_at_itself, EITHER),
    Lie("dynamic-past-eof", HARD, _dynamic_past_eof, OUTSIDE),
    Lie("dynamic-filesz=max", HARD, at_segment(PT_DYNAMIC, PH_FILESZ, U64_MAX), EITHER),
    Lie("dynamic-filesz=max", NOSEC, at_segment(PT_DYNAMIC, PH_FILESZ, U64_MAX), EITHER),
    Lie("DT_STRTAB-unmapped", HARD, at_dynamic(DT_STRTAB, UNMAPPED), "DT_STRTAB"),
    Lie("DT_STRTAB-unmapped", NOSEC, at_dynamic(DT_STRTAB, UNMAPPED), "DT_STRTAB"),
    Lie("DT_STRSZ=max", HARD, at_dynamic(DT_STRSZ, U64_MAX), EVIDENCE),
    Lie("DT_STRSZ=max", NOSEC, at_dynamic(DT_STRSZ, U64_MAX), EVIDENCE),
    Lie("DT_NEEDED-past-strtab", HARD, _needed_past_strtab, IN_TABLE),
    Lie("DT_NEEDED=max", HARD, at_dynamic(DT_NEEDED, U64_MAX), IN_TABLE),
    Lie("DT_SYMTAB-unmapped", NOSEC, at_dynamic(DT_SYMTAB, UNMAPPED), "DT_SYMTAB"),
    Lie("DT_SYMTAB-unmapped", HARD, at_dynamic(DT_SYMTAB, UNMAPPED), EVIDENCE),  # .dynsym
    Lie("DT_GNU_HASH-unmapped", NOSEC, at_dynamic(DT_GNU_HASH, UNMAPPED), "DT_GNU_HASH"),
    Lie("gnu-hash-nbuckets=max", NOSEC, _nbuckets_max, OUTSIDE),
    Lie("gnu-hash-nbuckets=max", HARD, _nbuckets_max, EVIDENCE),  # .dynsym, no hash needed
    Lie("gnu-hash-bloom=max", NOSEC, _bloom_max, OUTSIDE),
    Lie("gnu-hash-bloom=max", HARD, _bloom_max, EVIDENCE),
    Lie("gnu-hash-symoffset=max", NOSEC, _symoffset_max, EITHER),
    Lie("DT_JMPREL=max", HARD, at_dynamic(DT_JMPREL, U64_MAX), RELOCS),
    Lie("DT_PLTRELSZ=max", HARD, at_dynamic(DT_PLTRELSZ, U64_MAX), RELOCS),
    Lie("DT_PLTRELSZ=max", NOSEC, at_dynamic(DT_PLTRELSZ, U64_MAX), RELOCS),
    Lie("DT_RELASZ=max", HARD, at_dynamic(DT_RELASZ, U64_MAX), RELOCS),
    Lie("note-namesz=max", HARD, in_first_note(NOTE_NAMESZ, U32_MAX), "note"),
    Lie("note-descsz=max", HARD, in_first_note(NOTE_DESCSZ, U32_MAX), "note"),
    Lie("note-namesz-wraps-to-0", HARD, in_first_note(NOTE_NAMESZ, U32_MAX - 2), "note"),
    Lie("note-descsz-wraps-to-0", HARD, in_first_note(NOTE_DESCSZ, U32_MAX - 2), "note"),
    Lie("note-filesz=max", HARD, at_segment(PT_NOTE, PH_FILESZ, U64_MAX), "note"),
    Lie("notes-of-zero-size", HARD, notes_of_zero_size, EVIDENCE),
    Lie(".comment-size=max", HARD, at_section(".comment", SH_SIZE, "<Q", U64_MAX), EITHER),
    Lie(".comment-past-eof", HARD, _comment_past_eof, OUTSIDE),
    Lie(".dynsym-size=max", HARD, at_section(".dynsym", SH_SIZE, "<Q", U64_MAX), OUTSIDE),
    Lie(".shstrtab-past-eof", HARD, _shstrtab_past_eof, IN_TABLE),
    Lie(".text-name=max", HARD, at_section(".text", SH_NAME, "<I", U32_MAX), IN_TABLE),
)


@pytest.mark.parametrize("lie", [*HEADER_LIES, *STRUCTURE_LIES])
def test_lie(
    corpus: dict[str, Path], evidence: dict[str, ElfEvidence], tmp_path: Path, lie: Lie
) -> None:
    """A header or structure that lies gives evidence or MalformedBinaryError, as expected."""
    data, layout = original(corpus, lie.variant)
    mutated = lie.mutate(data, layout)
    assert mutated != data

    outcome = load_bytes(tmp_path / "lib.so", mutated)

    assert_outcome(outcome, lie.expect, evidence[lie.variant])


def test_unknown_machine_still_gives_evidence(corpus: dict[str, Path], tmp_path: Path) -> None:
    data, layout = original(corpus, "hardened")

    outcome = load_bytes(tmp_path / "lib.so", at_header("e_machine", 0xFFFF)(data, layout))

    assert isinstance(outcome, ElfEvidence), outcome
    assert (outcome.e_machine, outcome.machine) == (0xFFFF, "EM_65535")
    assert outcome.got_slots  # PLT slots come from DT_JMPREL whatever the machine


# --------------------------------------------------------------------------- scale
# Files of a few hundred KB whose many entries all point at one large range: the work
# must stay linear in the file size (these took seconds to minutes and hundreds of MB).

LONG_RUN: Final = b"A" * 100_000 + b"\0"


def _appended(out: bytearray, payload: bytes) -> int:
    """Append ``payload`` 8-aligned to ``out``; return its offset."""
    out += bytes(-len(out) % 8)
    at = len(out)
    out += payload
    return at


def _with_dynamic(out: bytearray, layout: Layout, entries: list[tuple[int, int]]) -> bytes:
    """Point PT_DYNAMIC at a new table appended to ``out`` and map the whole file through
    the first PT_LOAD (offset 0, vaddr 0), so appended offsets are valid addresses."""
    table = b"".join(struct.pack("<qQ", tag, value) for tag, value in [*entries, (DT_NULL, 0)])
    table_at = _appended(out, table)
    first_load = layout.segment(PT_LOAD)
    assert (first_load.offset, first_load.vaddr) == (0, 0)
    for field_at in (PH_FILESZ, PH_MEMSZ):
        struct.pack_into("<Q", out, first_load.header_at + field_at, len(out))
    dynamic = layout.segment(PT_DYNAMIC).header_at
    for field_at, value in ((PH_OFFSET, table_at), (PH_VADDR, table_at), (PH_FILESZ, len(table))):
        struct.pack_into("<Q", out, dynamic + field_at, value)
    return bytes(out)


def needed_into_one_string(data: bytes, layout: Layout) -> bytes:
    out = bytearray(data)
    run_at = _appended(out, LONG_RUN)
    needed = [(DT_NEEDED, offset) for offset in range(10_000)]
    return _with_dynamic(out, layout, [(DT_STRTAB, run_at), (DT_STRSZ, len(LONG_RUN)), *needed])


def symbols_into_one_string(data: bytes, layout: Layout) -> bytes:
    out = bytearray(data)
    count = 8_000
    run_at = _appended(out, LONG_RUN)
    symbols = b"".join(
        struct.pack("<IBBHQQ", name_at, 0x12, 0, 0, 0, 0) for name_at in range(count)
    )
    symbols_at = _appended(out, symbols)
    hash_at = _appended(out, struct.pack("<II", 1, count))  # DT_HASH nbucket, nchain
    return _with_dynamic(
        out,
        layout,
        [
            (DT_STRTAB, run_at),
            (DT_STRSZ, len(LONG_RUN)),
            (DT_SYMTAB, symbols_at),
            (DT_HASH, hash_at),
        ],
    )


def _with_sections(out: bytearray, table: bytes) -> bytes:
    """Point e_shoff/e_shnum at a section table appended to ``out``."""
    table_at = _appended(out, table)
    struct.pack_into("<Q", out, HEADER_FIELDS["e_shoff"][0], table_at)
    struct.pack_into("<H", out, HEADER_FIELDS["e_shnum"][0], len(table) // SHDR_SIZE)
    return bytes(out)


def _section_header(data: bytes, layout: Layout, name: str) -> bytearray:
    at = layout.sections[name].header_at
    return bytearray(data[at : at + SHDR_SIZE])


def section_names_into_one_string(data: bytes, layout: Layout) -> bytes:
    out = bytearray(data)
    run_at = _appended(out, LONG_RUN)
    headers = bytearray(data[layout.shoff : layout.shdr_end])
    shstrtab = layout.sections[".shstrtab"].header_at - layout.shoff
    struct.pack_into("<QQ", headers, shstrtab + SH_OFFSET, run_at, len(LONG_RUN))
    text = _section_header(data, layout, ".text")
    extra = b"".join(struct.pack("<I", name_at) + text[4:] for name_at in range(2_500))
    return _with_sections(out, bytes(headers) + extra)


def gnu_hash_sections(data: bytes, layout: Layout) -> bytes:
    out = bytearray(data)
    nbuckets = 20_000
    table = struct.pack("<IIII", nbuckets, 1, 1, 6) + bytes(8 + 8 * nbuckets)
    hash_at = _appended(out, table)
    gnu_hash = _section_header(data, layout, ".gnu.hash")
    struct.pack_into("<QQ", gnu_hash, SH_OFFSET, hash_at, len(table))
    return _with_sections(out, data[layout.shoff : layout.shdr_end] + gnu_hash * 1_500)


def note_segments_over_one_range(data: bytes, layout: Layout) -> bytes:
    out = bytearray(data)
    zeros = 100_008  # 8334 empty notes
    zeros_at = _appended(out, bytes(zeros))
    note = struct.pack("<IIQQQQQQ", PT_NOTE, 4, zeros_at, zeros_at, zeros_at, zeros, zeros, 4)
    table_at = _appended(out, data[layout.phoff : layout.phdr_end] + note * 3_000)
    struct.pack_into("<Q", out, HEADER_FIELDS["e_phoff"][0], table_at)
    struct.pack_into("<H", out, HEADER_FIELDS["e_phnum"][0], layout.phnum + 3_000)
    return bytes(out)


@pytest.mark.parametrize(
    ("variant", "build"),
    [
        pytest.param(NOSEC, needed_into_one_string, id="DT_NEEDED-into-one-string"),
        pytest.param(NOSEC, symbols_into_one_string, id="dynsym-names-into-one-string"),
        pytest.param(HARD, section_names_into_one_string, id="section-names-into-one-string"),
        pytest.param(HARD, gnu_hash_sections, id="many-gnu-hash-sections"),
        pytest.param(HARD, note_segments_over_one_range, id="many-note-segments"),
    ],
)
def test_repeated_references_stay_linear(
    corpus: dict[str, Path], tmp_path: Path, variant: str, build: Mutation
) -> None:
    data, layout = original(corpus, variant)
    hostile = build(data, layout)
    assert 200_000 < len(hostile) < 400_000

    load_bytes(tmp_path / "lib.so", hostile)  # fails past LOAD_SECONDS or the memory bound


# --------------------------------------------------------------------------- not ELF


def _empty(tmp_path: Path) -> Path:
    path = tmp_path / "empty.so"
    path.write_bytes(b"")
    return path


def _linker_script(tmp_path: Path) -> Path:
    path = tmp_path / "libc.so"
    path.write_text("/* GNU ld script */\nINPUT(-lc)\n")
    return path


def _random_bytes(tmp_path: Path) -> Path:
    path = tmp_path / "random.so"
    path.write_bytes(random.Random(1).randbytes(4096))
    return path


def _directory(tmp_path: Path) -> Path:
    path = tmp_path / "dir.so"
    path.mkdir()
    return path


def _broken_symlink(tmp_path: Path) -> Path:
    path = tmp_path / "dangling.so"
    path.symlink_to(tmp_path / "missing-target.so")
    return path


def _nonexistent(tmp_path: Path) -> Path:
    return tmp_path / "nonexistent.so"


@pytest.mark.parametrize(
    ("make", "word"),
    [
        pytest.param(_empty, "empty", id="empty-file"),
        pytest.param(_linker_script, "Magic", id="linker-script"),
        pytest.param(_random_bytes, "Magic", id="random-bytes"),
        pytest.param(_directory, "cannot read", id="directory"),
        pytest.param(_broken_symlink, "cannot read", id="broken-symlink"),
        pytest.param(_nonexistent, "cannot read", id="nonexistent"),
    ],
)
def test_not_an_elf_file(tmp_path: Path, make: Callable[[Path], Path], word: str) -> None:
    path = make(tmp_path)

    outcome = load_path(path)

    assert isinstance(outcome, MalformedBinaryError)
    assert outcome.path == str(path)
    assert word in outcome.detail


# --------------------------------------------------------------------------- property

REGIONS: Final = ("ehdr", "ehdr", "phdr", "phdr", "dynamic", "dynamic", "anywhere")
"""Where mutations land; repeated names weight the loader's structures."""
EXTREMES: Final = (0, 1, 0x7FFF_FFFF, U32_MAX, U64_MAX, None, -1, -8, -56)
"""Values for overwrites: ``None`` is the file size; negatives are stored as unsigned."""


@dataclass(frozen=True)
class Flip:
    region: str
    position: int
    bit: int


@dataclass(frozen=True)
class Overwrite:
    region: str
    position: int
    width: int
    value: int | None


@dataclass(frozen=True)
class DynamicValue:
    """Overwrite the ``d_val`` of one dynamic entry (an address, size or string offset)."""

    index: int
    value: int | None


@dataclass(frozen=True)
class Truncate:
    position: int


Edit = Flip | Overwrite | DynamicValue | Truncate
_positions = st.integers(min_value=0, max_value=1 << 20)
_regions = st.sampled_from(REGIONS)
_extremes = st.sampled_from(EXTREMES)
EDITS: Final = st.lists(
    st.one_of(
        st.builds(Flip, _regions, _positions, st.integers(0, 7)),
        st.builds(Overwrite, _regions, _positions, st.sampled_from((4, 8)), _extremes),
        st.builds(DynamicValue, st.integers(0, 63), _extremes),
        st.builds(Truncate, _positions),
    ),
    min_size=1,
    max_size=4,
)


def apply_edits(data: bytes, layout: Layout, edits: list[Edit]) -> bytes:
    dynamic = layout.segment(PT_DYNAMIC)
    regions = {
        "ehdr": (0, EHDR_SIZE),
        "phdr": (layout.phoff, layout.phnum * PHDR_SIZE),
        "dynamic": (dynamic.offset, dynamic.filesz),
        "anywhere": (0, len(data)),
    }
    out = bytearray(data)
    for edit in edits:
        if isinstance(edit, Truncate):
            del out[edit.position % (len(out) + 1) :]
            continue
        if isinstance(edit, DynamicValue):
            entry = layout.dynamic[edit.index % len(layout.dynamic)]
            edit = Overwrite("anywhere", entry.at + 8, 8, edit.value)
        start, length = regions[edit.region]
        if isinstance(edit, Flip):
            at = start + edit.position % length
            if at < len(out):
                out[at] ^= 1 << edit.bit
            continue
        # Overwrites are aligned, like every field they are meant to hit.
        at = start + edit.position % length // edit.width * edit.width
        if at + edit.width <= len(out):
            value = len(out) if edit.value is None else edit.value
            fmt = "<I" if edit.width == 4 else "<Q"
            struct.pack_into(fmt, out, at, value % (1 << 8 * edit.width))
    return bytes(out)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One directory for the property test's files (hypothesis reuses it per example)."""
    return tmp_path_factory.mktemp("mutated")


@pytest.mark.parametrize("variant", [HARD, NOSEC])
@settings(max_examples=400, deadline=timedelta(seconds=LOAD_SECONDS), database=None)
@given(edits=EDITS)
def test_mutated_binary_gives_evidence_or_malformed(
    corpus: dict[str, Path], scratch: Path, variant: str, edits: list[Edit]
) -> None:
    data, layout = original(corpus, variant)
    mutated = apply_edits(data, layout, edits)

    outcome = load_bytes(scratch / f"{variant}.so", mutated)  # other exceptions propagate

    if isinstance(outcome, ElfEvidence):
        assert outcome.size == len(mutated)
        assert outcome.sha256 == hashlib.sha256(mutated).hexdigest()
    else:
        assert outcome.path == str(scratch / f"{variant}.so")


# --------------------------------------------------------------------------- structured
# The same contract over structure-aware edits (tests/elf_mutations.py, shared with
# benchmarks/fuzz.py): every field of every header, table, note, symbol, .eh_frame record
# and DWARF unit header, the bytes of the string tables, .debug_abbrev, .comment and
# .rodata, regions copied over each other, fields pointing at their own structure.

STRUCTURED_EDITS: Final = st.lists(
    st.builds(
        mut.Edit,
        st.sampled_from(mut.KINDS),
        st.integers(min_value=0, max_value=U32_MAX),
        st.integers(min_value=0, max_value=0xFFFF),
    ),
    min_size=1,
    max_size=5,
)
DEBUG = "debug"
LANGUAGE_STRUCTURES: Final = (
    "symtab", "strings", "eh_frame", "debug_info", "debug_abbrev", "debug_str", "comment",
    "rodata",
)  # fmt: skip
"""The structures only the language-provenance readers look at."""


def _seed(corpus: dict[str, Path], debug_build: Path, variant: str) -> tuple[bytes, MutLayout]:
    data = (debug_build if variant == DEBUG else corpus[variant]).read_bytes()
    layout = mut.elf_layout(data)
    assert layout is not None
    return data, layout


def check_contract(scratch: Path, name: str, mutated: bytes) -> None:
    """Evidence of the mutated bytes, or a MalformedBinaryError naming the file."""
    outcome = load_bytes(scratch / name, mutated)  # other exceptions propagate
    if isinstance(outcome, ElfEvidence):
        assert outcome.size == len(mutated)
    else:
        assert outcome.path == str(scratch / name)
        assert outcome.detail


@pytest.mark.parametrize("variant", [HARD, NOSEC, DEBUG])
@settings(max_examples=250, deadline=timedelta(seconds=LOAD_SECONDS), database=None)
@given(edits=STRUCTURED_EDITS)
def test_structured_mutation_gives_evidence_or_malformed(
    corpus: dict[str, Path], debug_build: Path, scratch: Path, variant: str, edits: list[mut.Edit]
) -> None:
    data, layout = _seed(corpus, debug_build, variant)
    check_contract(scratch, f"s-{variant}.so", mut.apply_edits(data, layout, edits))


def _only(layout: MutLayout, structure: str) -> MutLayout:
    """``layout`` with the fields of one structure only (regions and boundaries kept)."""
    fields = [fld for fld in layout.fields if fld.structure == structure]
    return replace(layout, fields=fields)


@pytest.mark.parametrize("structure", [s for s in mut.STRUCTURES if s != "gnu_hash"])
@settings(max_examples=60, deadline=timedelta(seconds=LOAD_SECONDS), database=None)
@given(edits=STRUCTURED_EDITS)
def test_every_structure_is_mutated(
    debug_build: Path, scratch: Path, structure: str, edits: list[mut.Edit]
) -> None:
    """Edits confined to one structure of the debug build, each structure in turn."""
    data = debug_build.read_bytes()
    layout = mut.elf_layout(data)
    assert layout is not None
    only = _only(layout, structure)
    assert only.fields, f"the debug build has no {structure} to mutate"
    check_contract(scratch, f"only-{structure}.so", mut.apply_edits(data, only, edits))


@pytest.mark.parametrize("variant", [HARD, NOSEC, DEBUG])
def test_truncation_at_every_boundary(
    corpus: dict[str, Path], debug_build: Path, variant: str
) -> None:
    """Every start and end of a header, entry, note, record, unit and section, and one
    byte either side: evidence or MalformedBinaryError, each within LOAD_SECONDS."""
    data, layout = _seed(corpus, debug_build, variant)
    cuts = sorted({at + nudge for at in layout.boundaries for nudge in (-1, 0, 1)} - {-1})
    assert len(cuts) > 150
    outcomes: dict[str, int] = {}
    for cut in cuts:
        with time_limit(LOAD_SECONDS):
            try:
                load_elf_bytes(data[:cut], f"cut-{cut}")
                outcomes["evidence"] = outcomes.get("evidence", 0) + 1
            except MalformedBinaryError as exc:
                assert exc.path == f"cut-{cut}"
                outcomes["malformed"] = outcomes.get("malformed", 0) + 1
    assert outcomes.get("malformed", 0) > 0  # cuts inside the headers must fail


def _field(layout: MutLayout, name: str) -> MutField:
    return next(fld for fld in layout.fields if fld.name == name)


def _set(data: bytes, fld: MutField, value: int) -> bytes:
    out = bytearray(data)
    out[fld.at : fld.at + fld.width] = (value % (1 << 8 * fld.width)).to_bytes(fld.width, "little")
    return bytes(out)


def _section_index(data: bytes, layout: MutLayout, name: str) -> int:
    offset, _ = layout.regions[name]
    offsets = [fld for fld in layout.fields if fld.name.endswith(".sh_offset")]
    return next(
        int(fld.name[5 : fld.name.index("]")])
        for fld in offsets
        if int.from_bytes(data[fld.at : fld.at + 8], "little") == offset
    )


SYMTAB_LINKS: Final = {
    "to-itself": lambda data, lay: _section_index(data, lay, ".symtab"),
    "to-section-0": lambda data, lay: 0,
    "to-shstrtab": lambda data, lay: _section_index(data, lay, ".shstrtab"),
    "past-the-table": lambda data, lay: 0xFFFF,
}
"""``.symtab`` ``sh_link`` values: a loop onto itself, no section, another table, none."""


@pytest.mark.parametrize("link", SYMTAB_LINKS)
def test_symtab_link_loops_and_lies(debug_build: Path, tmp_path: Path, link: str) -> None:
    data = debug_build.read_bytes()
    layout = mut.elf_layout(data)
    assert layout is not None
    index = _section_index(data, layout, ".symtab")
    value = SYMTAB_LINKS[link](data, layout)

    outcome = load_bytes(
        tmp_path / "lib.so", _set(data, _field(layout, f"shdr[{index}].sh_link"), value)
    )

    if link in ("to-section-0", "past-the-table"):
        assert isinstance(outcome, MalformedBinaryError)
        assert "sh_link" in outcome.detail
    else:
        assert isinstance(outcome, (ElfEvidence, MalformedBinaryError))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        pytest.param("cu[0].unit_length", U32_MAX - 1, id="unit-length-huge"),
        pytest.param("cu[0].unit_length", U32_MAX, id="unit-length-64-bit-marker"),
        pytest.param("cu[0].debug_abbrev_offset", U32_MAX, id="abbrev-offset-past-end"),
        pytest.param("cu[0].version", 0xFFFF, id="version-unknown"),
        pytest.param("eh_frame[0].length", U32_MAX - 3, id="eh-frame-length-huge"),
        pytest.param("eh_frame[1].cie_id", 0x8000_0000, id="fde-cie-pointer-wild"),
        pytest.param("eh_frame[1].cie_id", 4, id="fde-cie-pointer-at-itself"),
    ],
)
def test_broken_debug_and_unwind_info_never_fails_the_file(
    debug_build: Path, tmp_path: Path, name: str, value: int
) -> None:
    """Optional language evidence: a bad DWARF unit or .eh_frame record ends that decode
    and the rest of the file is judged as usual."""
    data = debug_build.read_bytes()
    layout = mut.elf_layout(data)
    assert layout is not None
    whole = load_bytes(tmp_path / "whole.so", data)
    assert isinstance(whole, ElfEvidence)

    outcome = load_bytes(tmp_path / "lib.so", _set(data, _field(layout, name), value))

    assert isinstance(outcome, ElfEvidence), outcome
    assert outcome.imports == whole.imports and outcome.dynamic == whole.dynamic


# --------------------------------------------------------------------------- cache


def test_cache_keeps_the_error_and_rereads_a_rewritten_file(
    corpus: dict[str, Path], tmp_path: Path
) -> None:
    good = corpus["hardened"].read_bytes()
    path = tmp_path / "mod.so"
    path.write_bytes(good[: EHDR_SIZE - 1])
    artifact = Artifact(
        path=str(path), display="pkg/mod.so", origin="tree", format=BinaryFormat.ELF
    )
    cache = EvidenceCache()

    for _ in range(2):
        with pytest.raises(MalformedBinaryError) as info:
            cache.get(artifact)
        assert info.value.path == "pkg/mod.so"
    assert cache.parses == 1

    path.write_bytes(good)  # size changes
    assert cache.get(artifact).is_python_extension
    assert cache.get(artifact).size == len(good)
    assert cache.parses == 2

    stat = path.stat()
    path.write_bytes(patched(good, HEADER_FIELDS["EI_CLASS"][0], "<B", 0))  # same size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    with pytest.raises(MalformedBinaryError, match="EI_CLASS"):
        cache.get(artifact)
    assert cache.parses == 3


# --------------------------------------------------------------------------- no sections


def test_nosections_matches_its_build_with_section_headers(
    corpus: dict[str, Path], evidence: dict[str, ElfEvidence], tmp_path: Path
) -> None:
    """``nosections`` is the hardened recipe with e_shoff/e_shnum/... zeroed; the table is
    still at the end of the file, so restoring the header gives back the build it came from."""
    hardened = Layout.of(corpus["hardened"].read_bytes())
    data, layout = original(corpus, "nosections")
    assert layout.shnum == 0
    restored = bytearray(data)
    for field, value in (
        ("e_shoff", len(data) - hardened.shnum * SHDR_SIZE),
        ("e_shentsize", SHDR_SIZE),
        ("e_shnum", hardened.shnum),
        ("e_shstrndx", hardened.shstrndx),
    ):
        at, fmt = HEADER_FIELDS[field]
        struct.pack_into(fmt, restored, at, value)

    assert ".dynsym" in Layout.of(bytes(restored)).sections

    built = load_bytes(tmp_path / "built.so", bytes(restored))
    stripped = evidence["nosections"]

    assert isinstance(built, ElfEvidence), built
    assert built.has_section_headers and built.has_symtab
    assert not stripped.has_section_headers
    assert built.dynamic is not None and stripped.dynamic is not None
    assert stripped.imports == built.imports
    assert stripped.exports == built.exports
    assert stripped.dynamic.needed == built.dynamic.needed
    assert [seg.p_type for seg in stripped.segments] == [seg.p_type for seg in built.segments]
    assert stripped.got_slots == built.got_slots
    # and it has the shape of the hardened build (same recipe, other module name)
    like = evidence["hardened"]
    assert stripped.imports == like.imports
    assert stripped.exports - {"PyInit_nosections"} == like.exports - {"PyInit_hardened"}
    assert like.dynamic is not None and stripped.dynamic.needed == like.dynamic.needed
    assert stripped.got_slots == like.got_slots
