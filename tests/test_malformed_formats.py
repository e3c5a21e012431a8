"""Hostile PE and Mach-O input: evidence or ``MalformedBinaryError``, nothing else, in
bounded time, and an ERROR item (never an INTERNALERROR) in a run that checks other files.

Every input is a real fixture (tests/pe_corpus.py, tests/macho_corpus.py) with fields
patched at offsets read from its own headers.
"""

from __future__ import annotations

import shutil
import signal
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import Final

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_memsafe.errors import MalformedBinaryError
from pytest_memsafe.evidence.macho import load_macho_bytes
from pytest_memsafe.evidence.macho_records import MachoEvidence
from pytest_memsafe.evidence.pe import load_pe_bytes
from pytest_memsafe.evidence.pe_records import PeEvidence
from pytest_memsafe.sniff import sniff_format

SECONDS: Final = 2.0
Loader = Callable[[bytes, str], object]
LOADERS: Final[dict[str, Loader]] = {"pe": load_pe_bytes, "macho": load_macho_bytes}


class TooSlow(Exception):
    """The loader ran past SECONDS."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    def on_alarm(signum: int, frame: FrameType | None) -> None:
        raise TooSlow(f"load took over {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def load(kind: str, data: bytes) -> object:
    """The evidence, or the MalformedBinaryError (anything else propagates)."""
    with time_limit(SECONDS):
        try:
            return LOADERS[kind](data, "x")
        except MalformedBinaryError as exc:
            return exc


# --------------------------------------------------------------------------- PE layout


def pe_offsets(data: bytes) -> dict[str, int]:
    """Offsets of the PE fields the patches below target (from the file's own headers)."""
    pe = struct.unpack_from("<I", data, 0x3C)[0]
    optional = pe + 24
    plus = struct.unpack_from("<H", data, optional)[0] == 0x20B
    directories = optional + (112 if plus else 96)
    sections = optional + struct.unpack_from("<H", data, pe + 20)[0]
    return {
        "e_lfanew": 0x3C,
        "NumberOfSections": pe + 6,
        "PointerToSymbolTable": pe + 12,
        "NumberOfSymbols": pe + 16,
        "import_rva": directories + 8,
        "debug_rva": directories + 6 * 8,
        "load_config_rva": directories + 10 * 8,
        "section0_raw_pointer": sections + 20,
        "section0_raw_size": sections + 16,
    }


def patched(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


PE_LIES: Final = [
    ("e_lfanew", "<I", 0xFFFF_FFF0),
    ("NumberOfSections", "<H", 0xFFFF),
    ("NumberOfSymbols", "<I", 0x0FFF_FFFF),
    ("PointerToSymbolTable", "<I", 0xFFFF_FFF0),
    ("import_rva", "<I", 0x7FFF_FFF0),
    ("debug_rva", "<I", 0x7FFF_FFF0),
    ("load_config_rva", "<I", 0x7FFF_FFF0),
    ("section0_raw_pointer", "<I", 0xFFFF_FFF0),
    ("section0_raw_size", "<I", 0xFFFF_FFF0),
]


@pytest.mark.parametrize(("field", "fmt", "value"), PE_LIES, ids=[lie[0] for lie in PE_LIES])
@pytest.mark.parametrize("variant", ["hardened", "lld-hardened", "x86-hardened"])
def test_pe_header_lies(
    pe_corpus: dict[str, Path], variant: str, field: str, fmt: str, value: int
) -> None:
    data = pe_corpus[variant].read_bytes()

    outcome = load("pe", patched(data, pe_offsets(data)[field], fmt, value))

    assert isinstance(outcome, PeEvidence | MalformedBinaryError)


def test_pe_truncated_at_every_header_boundary(pe_corpus: dict[str, Path]) -> None:
    data = pe_corpus["lld-hardened"].read_bytes()
    offsets = pe_offsets(data)
    cuts = sorted({0, 1, 2, 0x3C, 0x40, offsets["NumberOfSections"], offsets["import_rva"],
                   offsets["section0_raw_pointer"], len(data) // 2, len(data) - 1})  # fmt: skip
    for cut in cuts:
        outcome = load("pe", data[:cut])
        assert isinstance(outcome, PeEvidence | MalformedBinaryError), cut
    assert isinstance(load("pe", data[:0x3C]), MalformedBinaryError)


def test_pe_load_config_size_below_the_cookie_hides_it(pe_corpus: dict[str, Path]) -> None:
    short = load("pe", pe_corpus["canary-fail-gs-short"].read_bytes())
    full = load("pe", pe_corpus["canary-pass-gs-cookie"].read_bytes())

    assert isinstance(short, PeEvidence) and isinstance(full, PeEvidence)
    assert short.load_config is not None and short.load_config.security_cookie is None
    assert full.load_config is not None and full.load_config.security_cookie


# --------------------------------------------------------------------------- Mach-O layout


def fat_patched(data: bytes, entry: int, field: int, value: int) -> bytes:
    """Patch one big-endian word of a fat_arch entry (0 cputype .. 3 size)."""
    return patched(data, 8 + entry * 20 + field * 4, ">I", value)


MACHO_LIES: Final = [
    ("nfat_arch-huge", lambda d: patched(d, 4, ">I", 31)),
    ("nfat_arch-zero", lambda d: patched(d, 4, ">I", 0)),
    ("slice-past-eof", lambda d: fat_patched(d, 1, 2, len(d))),
    ("slice-size-huge", lambda d: fat_patched(d, 0, 3, 0xFFFF_FFF0)),
    ("slice-offset-zero", lambda d: fat_patched(d, 0, 2, 0)),
    ("slices-overlap", lambda d: fat_patched(d, 1, 2, struct.unpack_from(">I", d, 16)[0])),
]


@pytest.mark.parametrize("lie", [lie for _, lie in MACHO_LIES], ids=[n for n, _ in MACHO_LIES])
def test_fat_header_lies(macho_corpus: dict[str, Path], lie: Callable[[bytes], bytes]) -> None:
    data = macho_corpus["universal2-canary-arm64-only"].read_bytes()

    outcome = load("macho", lie(data))

    assert isinstance(outcome, MachoEvidence | MalformedBinaryError)


THIN_LIES: Final = [
    ("ncmds-huge", 16, "<I", 0xFFFF_FFFF),
    ("sizeofcmds-huge", 20, "<I", 0xFFFF_FFF0),
    ("ncmds-one-more", 16, "<I", None),
    ("first-cmdsize-zero", 36, "<I", 0),
    ("first-cmdsize-huge", 36, "<I", 0xFFFF_FFF0),
]


@pytest.mark.parametrize(("at", "fmt", "value"), [lie[1:] for lie in THIN_LIES],
                         ids=[lie[0] for lie in THIN_LIES])  # fmt: skip
def test_thin_header_lies(
    macho_corpus: dict[str, Path], at: int, fmt: str, value: int | None
) -> None:
    data = macho_corpus["hardened-arm64"].read_bytes()
    if value is None:
        value = struct.unpack_from("<I", data, 16)[0] + 1

    outcome = load("macho", patched(data, at, fmt, value))

    assert isinstance(outcome, MalformedBinaryError)


def test_overlapping_sections_are_refused_before_macholib_copies_them(
    macho_corpus: dict[str, Path],
) -> None:
    data = bytearray(macho_corpus["hardened-arm64"].read_bytes())
    # Point every section of every segment at the whole image: macholib would copy the
    # file once per section.
    ncmds = struct.unpack_from("<I", data, 16)[0]
    at, patched_sections = 32, 0
    for _ in range(ncmds):
        cmd, size = struct.unpack_from("<II", data, at)
        if cmd == 0x19:
            nsects = struct.unpack_from("<I", data, at + 64)[0]
            for index in range(nsects):
                section = at + 72 + index * 80
                struct.pack_into("<QQI", data, section + 32, 0, len(data), 0)
                struct.pack_into("<I", data, section + 64, 0)  # flags: regular
                patched_sections += 1
        at += size
    assert patched_sections > 1

    outcome = load("macho", bytes(data))

    assert isinstance(outcome, MalformedBinaryError)
    assert "overlap" in outcome.detail


@pytest.mark.parametrize("kind", ["pe", "macho"])
def test_empty_and_foreign_bytes(kind: str) -> None:
    for data in (b"", b"MZ", b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe\0\0\0\2", b"\0" * 4096):
        assert isinstance(load(kind, data), MalformedBinaryError), data[:8]


# --------------------------------------------------------------------------- property

EDITS: Final = st.lists(
    st.tuples(
        st.sampled_from(("flip", "word", "cut")),
        st.integers(min_value=0, max_value=1 << 16),
        st.sampled_from((0, 1, 0x7FFF_FFFF, 0xFFFF_FFFF, 0xFFFF, 8)),
    ),
    min_size=1,
    max_size=4,
)
"""Edits weighted to the headers (the first 64 KiB), where every structure the loaders
follow is described."""


def mutate(data: bytes, edits: list[tuple[str, int, int]]) -> bytes:
    out = bytearray(data)
    for kind, position, value in edits:
        at = position % max(len(out), 1)
        if kind == "cut":
            del out[at:]
        elif kind == "flip" and at < len(out):
            out[at] ^= 1 << (value % 8)
        elif at + 4 <= len(out):
            struct.pack_into("<I", out, at - at % 4, value)
    return bytes(out)


SEEDS: Final = {
    "pe": ("hardened", "lld-hardened", "x86-hardened", "safeseh-pass-table"),
    "macho": ("hardened-arm64", "universal2-canary-arm64-only", "canary-pass-chained-fixups-only"),
}


@pytest.mark.parametrize(
    ("kind", "seed"), [(kind, seed) for kind, seeds in SEEDS.items() for seed in seeds]
)
@settings(max_examples=150, deadline=timedelta(seconds=SECONDS), database=None)
@given(edits=EDITS)
def test_mutated_binary_gives_evidence_or_malformed(
    pe_corpus: dict[str, Path],
    macho_corpus: dict[str, Path],
    kind: str,
    seed: str,
    edits: list[tuple[str, int, int]],
) -> None:
    data = (pe_corpus if kind == "pe" else macho_corpus)[seed].read_bytes()

    outcome = load(kind, mutate(data, edits))  # any other exception fails the test

    assert isinstance(outcome, PeEvidence | MachoEvidence | MalformedBinaryError)


def test_malformed_files_are_error_items_and_the_rest_is_checked(
    pytester: pytest.Pytester, pe_corpus: dict[str, Path], macho_corpus: dict[str, Path]
) -> None:
    pytester.makeini("[pytest]\n")
    pe = pe_corpus["hardened"].read_bytes()
    fat = macho_corpus["universal2-canary-arm64-only"].read_bytes()
    (pytester.path / "cut.pyd").write_bytes(pe[:300])
    (pytester.path / "sections.pyd").write_bytes(
        patched(pe, pe_offsets(pe)["NumberOfSections"], "<H", 0xFFFF)
    )
    (pytester.path / "lying.so").write_bytes(fat_patched(fat, 1, 2, len(fat)))
    shutil.copy(pe_corpus["hardened"], pytester.path / "good.pyd")

    result = pytester.runpytest("--memsafe", "-p", "no:cacheprovider", "-rE")

    result.stdout.no_fnmatch_line("*INTERNALERROR*")
    result.stdout.no_fnmatch_line("*Traceback*")
    outcomes = result.parseoutcomes()
    assert outcomes["errors"] == 2 * 11 + 2 * 9  # every check of each broken file or slice
    result.stdout.fnmatch_lines(
        [
            "*lying.so[[]arm64[]]: truncated or corrupt Mach-O: fat slice 1 claims bytes*",
            "*sections.pyd: malformed PE: NumberOfSections: 65535 exceeds the limit of 96*",
        ],
        consecutive=False,
    )
    assert "good.pyd" not in "\n".join(line for line in result.stdout.lines if "ERROR" in line)


def _first_segment_with_sections(data: bytes) -> int:
    at = 32
    for _ in range(struct.unpack_from("<I", data, 16)[0]):
        cmd, size = struct.unpack_from("<II", data, at)
        if cmd == 0x19 and struct.unpack_from("<I", data, at + 64)[0]:
            return at
        at += size
    raise AssertionError("no LC_SEGMENT_64 with sections")


def _signature_superblob(data: bytes) -> int:
    at = 32
    for _ in range(struct.unpack_from("<I", data, 16)[0]):
        cmd, size = struct.unpack_from("<II", data, at)
        if cmd == 0x1D:
            return int(struct.unpack_from("<I", data, at + 8)[0])
        at += size
    raise AssertionError("no LC_CODE_SIGNATURE")


MACHO_LIMITS: Final = [
    ("sections in one segment", lambda d: patched(d, _first_segment_with_sections(d) + 64,
                                                  "<I", 1025)),
    ("load commands", lambda d: patched(d, 16, "<I", 4097)),
    ("code signature blobs", lambda d: patched(d, _signature_superblob(d) + 8, ">I", 65)),
]  # fmt: skip


@pytest.mark.parametrize(("what", "lie"), MACHO_LIMITS, ids=[n for n, _ in MACHO_LIMITS])
def test_macho_limits(
    macho_corpus: dict[str, Path], what: str, lie: Callable[[bytes], bytes]
) -> None:
    data = macho_corpus["hardened-arm64"].read_bytes()

    outcome = load("macho", lie(data))

    assert isinstance(outcome, MalformedBinaryError)
    assert f"{what}: " in outcome.detail and "exceeds the limit of" in outcome.detail


def test_fat_slice_limit() -> None:
    header = struct.pack(">II", 0xCAFEBABF, 31) + b"\0" * (32 * 31)

    outcome = load("macho", header)

    assert isinstance(outcome, MalformedBinaryError)  # 31 entries of nothing: no slice fits
    assert sniff_format(struct.pack(">II", 0xCAFEBABE, 32)) is None  # a Java class file
