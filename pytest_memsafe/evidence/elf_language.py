"""Language signals of an ELF file: ``.symtab`` naming schemes, read-only-data markers,
``.eh_frame`` GCC CFI and DWARF producers (evidence layer; never judges).

Read in the loader's single pass over the mapped file, with ``struct`` and ``re`` only (no
per-symbol or per-FDE objects): pyelftools costs ~31 µs per symbol and ~250 µs per FDE
(reference/language.md §5). The rules follow language.md §1 and §3.3.

Malformed input: the ranges of ``.symtab``, its string table and the scanned read-only data
are checked like every other structure the loader reads (outside the file = a truncated
file). ``.eh_frame`` and DWARF are only trusted as far as they parse: a bad entry ends that
scan and what was counted stands, so broken unwind or debug info never fails the file.
"""

from __future__ import annotations

import bisect
import re
import struct
from collections.abc import Iterable, Iterator
from typing import Final, NamedTuple, Protocol

from .elf_dwarf import Buffer, eh_frame_address, fde_entries, unit_producers
from .elf_records import PT_LOAD, SHT_SYMTAB, ElfSegment, LanguageEvidence

__all__ = ["Section", "in_file", "read_language", "symbol_rows"]

SHT_NOBITS: Final = 8
SHF_EXECINSTR: Final = 0x4
SHF_COMPRESSED: Final = 0x800
SHN_UNDEF: Final = 0
STT_NOTYPE, STT_FUNC, STT_FILE = 0, 2, 4
STB_LOCAL: Final = 0
PT_GNU_EH_FRAME: Final = 0x6474E550

MAX_SYMTAB_SYMBOLS: Final = 1 << 20
"""``.symtab`` entries read for naming schemes; a larger table is left unread (as if
stripped: the language then rests on the other signals). Real ones stay under ~500k."""
MAX_SOURCE_FILES: Final = 256
MAX_CRATES: Final = 256
MAX_MARKER_SCAN_BYTES: Final = 16 << 20
"""Read-only data scanned for markers per file: the scan runs at 60-100 MB/s on real
``.rodata``, so a huge library costs at most ~0.25 s (real ones have under 2 MB)."""
MAX_MARKER_MATCHES: Final = 100_000
"""Marker matches handled per file; real files have hundreds (one per Rust panic site)."""
MAX_MARKER_TEXT: Final = 80


class Section(NamedTuple):
    """One section header, as the language reader needs it."""

    name: str
    type: int
    flags: int
    addr: int
    offset: int
    size: int
    link: int


class RawElf(Protocol):
    """The loader's reader: the mapped file and its bounds-checked accessors."""

    data: Buffer
    end: str
    bits: int
    segments: tuple[ElfSegment, ...]
    string_budget: int

    def _span(self, offset: int, size: int) -> int: ...

    def _bytes(self, offset: int, size: int) -> bytes: ...

    def _cstring(self, offset: int, limit: int) -> str: ...

    def _spend(self, count: int) -> None: ...


def in_file(file_size: int, offset: int, size: int) -> bool:
    """``size`` bytes at ``offset`` lie inside a file of ``file_size`` bytes."""
    return offset >= 0 and size >= 0 and offset + size <= file_size


def read_language(reader: RawElf, sections: tuple[Section, ...]) -> LanguageEvidence:
    """Every language signal of one mapped ELF file (``sections`` empty without a table)."""
    symtab_bytes, source_files = _symtab(reader, sections)
    markers, crates = _markers(reader, sections)
    # With function bytes in .symtab the shares come from there, and .eh_frame only has to
    # show whether any GCC-built code exists: the first such FDE ends the scan.
    named = any(size for scheme, size in symtab_bytes or () if scheme != "toolchain")
    fde_bytes, gcc_bytes = _eh_frame(reader, sections, until_gcc=named)
    return LanguageEvidence(
        symtab_bytes=symtab_bytes,
        source_files=source_files,
        markers=frozenset(markers),
        marker_text=tuple(sorted(markers.items())),
        crates=crates,
        eh_frame_fde_bytes=fde_bytes,
        eh_frame_gcc_bytes=gcc_bytes,
        dwarf_producers=_dwarf_producers(reader, sections),
    )


# -- .symtab ---------------------------------------------------------------------------------

TOOLCHAIN_FUNCTIONS: Final = frozenset(
    {b"_init", b"_fini", b"_start", b"frame_dummy", b"register_tm_clones",
     b"deregister_tm_clones", b"__do_global_dtors_aux", b"__libc_csu_init", b"__libc_csu_fini",
     b"_dl_relocate_static_pie", b"__stack_chk_fail_local", b"__cpu_indicator_init", b"atexit",
     b"at_quick_exit", b"pthread_atfork", b"stat", b"fstat", b"lstat", b"fstatat", b"stat64",
     b"fstat64", b"lstat64", b"fstatat64", b"mknod", b"mknodat"}
)  # fmt: skip
"""crt files and glibc ``libc_nonshared.a`` stubs, linked into every gcc-driven link."""
NAME_RULES: Final = (
    ("toolchain", rb"__(?:u?(?:div|mod|divmod|mul)|mulo|neg|ashl|ashr|lshr|u?cmp|popcount"
                  rb"|parity|clz|ctz|ffs|bswap|add|sub|powi?|extend|trunc|fixuns|fix|floatun"
                  rb"|float|abs)(?:[sdtxh][ifc]){1,2}\d?\Z|__x86\.get_pc_thunk\."),
    ("rust", rb"_ZN.*17h[0-9a-f]{16}E\Z|_R[0-9]*[A-Z]|rust_(?:begin_unwind|panic"
             rb"|eh_personality)\Z|__rust_|__rdl_|__rg_|__rustc"),
    ("c++", rb"_Z|_GLOBAL__|__tcf_|pybind11_"),
    ("cython", rb"__[Pp]yx"),
    ("mypyc", rb"CPy"),
    ("fortran", rb"__\w+?_MOD_|_gfortran"),
    ("nim", rb"NimMain|nim[A-Z]|.*__[A-Za-z0-9]+_u\d+\Z"),
)  # fmt: skip
"""(naming scheme, pattern matched at the start of a function name), first match wins.
Compiler intrinsics (libgcc, Rust ``compiler_builtins``) count as toolchain. Every pattern
is linear in the name length."""
NAME_PATTERN: Final = re.compile(b"|".join(b"(%s)" % rx for _, rx in NAME_RULES), re.DOTALL)
GROUP_SCHEME: Final = ("c", *(scheme for scheme, _ in NAME_RULES))
CLONE_WORDS: Final = frozenset(
    {b"constprop", b"isra", b"part", b"cold", b"lto_priv", b"localalias", b"clone", b"llvm",
     b"specialized", b"resolver", b"__uniq"}
)  # fmt: skip
"""Name components GCC and LLVM append to cloned or split functions (``foo.constprop.0``,
``_ZN…E.llvm.12``), with numbers: not the dotted names of Go or Zig."""
FILE_RULES: Final = (
    ("toolchain", r"(?:^|/)(?:crtstuff\.c|crt[1in]\.S|start\.S|init\.c|initfini\.c"
                  r"|ios_init\.cc)\Z|\.oS\Z"),  # crt files, libc_nonshared.a, libstdc++
    ("rust", r"-cgu\.\d+\Z"),
    ("c++", r"\.(?:cpp|cxx|cc|C|c\+\+)\Z"),
    ("fortran", r"\.(?:f|for|f77|f90|f95|f03|f08|F|F90|F95)\Z"),
    ("c", r"\.c\Z"),
    ("asm", r"\.(?:s|S|asm)\Z"),
)  # fmt: skip
"""(scheme, ``STT_FILE`` name pattern): the language of the local functions that follow."""
FILE_PATTERNS: Final = tuple((scheme, re.compile(rx)) for scheme, rx in FILE_RULES)
LEGACY_RUST_HASH: Final = re.compile(rb"17h[0-9a-f]{16}E")
"""The hash that ends a legacy Rust symbol (:func:`_is_legacy_rust`)."""


def _symtab(
    reader: RawElf, sections: tuple[Section, ...]
) -> tuple[tuple[tuple[str, int], ...] | None, tuple[str, ...]]:
    """Function bytes per naming scheme and the ``STT_FILE`` names (language.md §3.3).

    ``STT_FUNC`` symbols, plus ``STT_NOTYPE`` labels in executable sections (hand-written
    asm), deduplicated by address; a size-0 one runs to the next function start or its
    section's end. Unmangled local functions take the language of the preceding STT_FILE.
    Names are sliced from one copy of the string table and charged to the loader's budget.
    """
    symtab = next((sec for sec in sections if sec.type == SHT_SYMTAB), None)
    entry = struct.Struct(reader.end + ("IBBHQQ" if reader.bits == 64 else "IIIBBH"))
    if symtab is None or symtab.size // entry.size > MAX_SYMTAB_SYMBOLS:
        return None, ()
    if not 0 < symtab.link < len(sections):
        raise ValueError(f".symtab sh_link {symtab.link} names no section")
    names = sections[symtab.link]
    names_end = reader._span(names.offset, names.size)
    strtab = reader._bytes(names.offset, names.size)
    find = strtab.find
    raw = reader._bytes(symtab.offset, symtab.size - symtab.size % entry.size)
    dotted = "go" if b"\0runtime." in strtab else "zig"
    # With no legacy Rust hash anywhere in the names, every _Z name is C++ (most names of
    # a big C++ library): settled by its first two bytes.
    cxx_only = LEGACY_RUST_HASH.search(strtab) is None
    executable = frozenset(i for i, sec in enumerate(sections) if sec.flags & SHF_EXECINSTR)
    file_schemes: dict[str, str | None] = {}
    file_scheme: str | None = None
    best: dict[int, tuple[int, int, str, int]] = {}
    """address -> (rank: sized function 2, sizeless 1, label 0; size; scheme; st_shndx)"""
    budget, spent = reader.string_budget, 0
    for name_at, info, _, shndx, value, size in symbol_rows(entry.iter_unpack(raw), reader.bits):
        kind = info & 0xF
        if kind == STT_FUNC and shndx != SHN_UNDEF:
            rank = 2 if size else 1
        elif kind == STT_NOTYPE and shndx in executable:
            rank = 0
        elif kind != STT_FILE:
            continue
        name_end = find(b"\0", name_at)
        if name_end < 0:
            reader._cstring(names.offset + name_at, names_end)  # raises: outside or unterminated
            continue
        spent += name_end - name_at
        if spent > budget:
            reader._spend(spent)  # raises: many names into one long string
        name = strtab[name_at:name_end]
        if kind == STT_FILE:
            text = name.decode("utf-8", "replace")
            if text not in file_schemes:
                file_schemes[text] = _file_scheme(text)
            file_scheme = file_schemes[text]
            continue
        if rank:
            scheme = "c++" if cxx_only and name[:2] == b"_Z" else _name_scheme(name, dotted)
        elif name[:1] in (b"", b".", b"$"):  # annobin/perlasm locals, ARM mapping symbols
            continue
        else:
            scheme = "asm"
        if scheme == "c" and info >> 4 == STB_LOCAL and file_scheme is not None:
            scheme = file_scheme
        known = best.get(value)
        if known is None or rank > known[0]:
            best[value] = (rank, size, scheme, shndx)
    reader._spend(spent)
    files = tuple(sorted(name for name in file_schemes if name))[:MAX_SOURCE_FILES]
    return _scheme_bytes(best, sections), files


def symbol_rows(rows: Iterator[tuple[int, ...]], bits: int) -> Iterable[tuple[int, ...]]:
    """Symbol rows in ELF64 field order (name, info, other, shndx, value, size)."""
    if bits == 64:
        return rows
    return ((name, info, other, shndx, value, size) for name, value, size, info, other, shndx
            in rows)  # fmt: skip


def _name_scheme(name: bytes, dotted: str) -> str:
    if b"." in name:
        name = _unclone(name)
    if name[:2] == b"_Z":  # most names of big libraries: settle Rust's legacy hash cheaply
        return "rust" if _is_legacy_rust(name) else "c++"
    if name in TOOLCHAIN_FUNCTIONS:
        return "toolchain"
    found = NAME_PATTERN.match(name)
    if found is not None:
        return GROUP_SCHEME[found.lastindex or 0]
    return dotted if b"." in name else "c"


def _is_legacy_rust(name: bytes) -> bool:
    """``_ZN…17h<16 lowercase hex>E``: NAME_RULES' legacy Rust pattern, with the hash
    matched at its fixed place (the rule's ``.*`` walks every C++ name to the end and back)."""
    return (
        name[:3] == b"_ZN"
        and len(name) >= 23
        and LEGACY_RUST_HASH.fullmatch(name, len(name) - 20) is not None
    )


def _unclone(name: bytes) -> bytes:
    """``name`` without its clone suffix components (linear: no regex backtracking)."""
    end = len(name)
    while (dot := name.rfind(b".", 0, end)) > 0:
        part = name[dot + 1 : end]
        if not (part.isdigit() or part in CLONE_WORDS):
            break
        end = dot
    return name[:end]


def _file_scheme(name: str) -> str | None:
    return next((scheme for scheme, rx in FILE_PATTERNS if rx.search(name)), None)


def _scheme_bytes(
    best: dict[int, tuple[int, int, str, int]], sections: tuple[Section, ...]
) -> tuple[tuple[str, int], ...]:
    totals: dict[str, int] = {}
    sizeless = []
    for address, (_, size, scheme, _) in best.items():
        if size:
            totals[scheme] = totals.get(scheme, 0) + size
        else:
            sizeless.append(address)
    starts = sorted(best) if sizeless else []
    for address in sizeless:
        _, _, scheme, shndx = best[address]
        index = bisect.bisect_right(starts, address)
        before = best[starts[index - 2]] if index > 1 else None
        if shndx >= len(sections) or (before and starts[index - 2] + before[1] > address):
            continue  # no section to bound it, or a label inside the preceding function
        limit = sections[shndx].addr + sections[shndx].size
        if index < len(starts):
            limit = min(limit, starts[index])
        totals[scheme] = totals.get(scheme, 0) + max(0, limit - address)
    return tuple(sorted((scheme, size) for scheme, size in totals.items() if size > 0))


# -- markers in read-only data ---------------------------------------------------------------

C_LIBRARIES: Final = (
    ("openssl", rb"OpenSSL \d+\.\d+\.\d+"),
    ("zlib", rb"deflate \d\.\d+(?:\.\d+)* Copyright"),
    ("zlib", rb"inflate \d\.\d+(?:\.\d+)* Copyright"),
    ("libxml2", rb"xmlParseCharRef: invalid xmlChar value"),
    ("libyaml", rb"found character that cannot start any token"),
    ("sqlite", rb"SQLite format 3\x00"),
    ("bzip2", rb"bzip2/libbzip2: internal error number"),
)
"""Strings of well-known C libraries that extensions bundle statically."""
MARKER_PATTERNS: Final = (
    ("rust-std", rb"/rustc/[0-9a-f]{40}/library/"),
    ("rust-panic", rb"`Option::unwrap\(\)` on a `None` value"),
    ("rust-panic", rb"`Result::unwrap\(\)` on an `Err` value"),
    ("pyo3", rb"_runtime\.PanicException"),  # pyo3_runtime.PanicException
    ("pyo3", rb"/pyo3(?:-ffi)?-\d+\.\d+\.\d+/"),
    ("cython", rb"cython_runtime"),
    ("cython", rb"__reduce_cython__"),
    ("cython", rb"_cython_\d+_\d+_\d+"),
    ("mypyc", rb"__mypyc_attrs__"),
    ("mypyc", rb"__mypyc(?=[\x00.])"),  # the <20 hex>__mypyc or md__mypyc module name
    ("pybind11", rb"__pybind11_internals_v"),
    ("pybind11", rb"pybind11_object"),
    ("nanobind", rb"__nb_internals"),
    ("nanobind", rb"\.nb_func"),  # nanobind.nb_func
    ("boost-python", rb"Boost\.Python\.ArgumentError"),
    ("go-buildinfo", rb"\xff Go buildinf:"),
    ("nim", rb"SIGSEGV: Illegal storage access"),
    ("nim", rb"fatal\.nim"),
    ("nim", rb"NimMain"),
    ("cffi", rb"_cffi_backend(?=\x00)"),  # a C literal (mypyc's string tables hold it too)
    ("f2py", rb"fortranobject"),
    *(("c-library", rx) for _, rx in C_LIBRARIES),
    ("crate", rb"\.cargo/registry/src/[^/\x00]{1,100}/[A-Za-z0-9_-]{1,64}?-\d+\.\d+\.\d+"
              rb"[A-Za-z0-9.+-]{0,40}/"),
)  # fmt: skip
"""(marker id, pattern). Each starts with a literal byte, so the combined scan only stops
at bytes that can begin a marker (5x faster than a free-form alternation); a match that
starts inside a name (``_``, ``.``) is shown widened to the whole name."""
MARKER_SECTIONS: Final = (".rodata", ".data.rel.ro", ".go.buildinfo")
SECTION_MARKERS: Final = {".go.buildinfo": "go-buildinfo", ".note.go.buildid": "go-buildinfo"}
CRATE_MARKERS: Final = {"pyo3": "pyo3", "pyo3-ffi": "pyo3"}
CRATE_VERSION: Final = re.compile(r"-\d+\.\d+\.\d+")
NAME_BYTES: Final = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.")
FIRST_LITERAL: Final = re.compile(rb"\\x[0-9a-fA-F]{2}|\\[^\w]|[^\\\[\](){}.*+?|^$]")


def _scan_pattern(
    rows: tuple[tuple[str, bytes], ...],
) -> tuple[re.Pattern[bytes], tuple[str, ...]]:
    """One regex for all rows, factored by first byte, and the marker id of each capturing
    group (group ``i`` is ``ids[i]``)."""
    by_first: dict[bytes, list[tuple[str, bytes]]] = {}
    for marker, rx in rows:
        first = FIRST_LITERAL.match(rx)
        if first is None:
            raise ValueError(f"marker pattern {rx!r} must start with a literal byte")
        by_first.setdefault(first.group(), []).append((marker, rx[first.end() :]))
    branches = (
        first + b"(?:" + b"|".join(b"(" + rest + b")" for _, rest in group) + b")"
        for first, group in by_first.items()
    )
    ids = ("", *(marker for group in by_first.values() for marker, _ in group))
    return re.compile(b"|".join(branches)), ids


def _literal_prefix(rx: bytes) -> bytes:
    """The bytes every match of ``rx`` (no top-level ``|``) starts with."""
    prefix, at = b"", 0
    while (token := FIRST_LITERAL.match(rx, at)) is not None:
        text = token.group()
        literal = bytes.fromhex(text[2:].decode()) if text[:2] == b"\\x" else text[-1:]
        at = token.end()
        quantifier = rx[at : at + 1]
        if quantifier in (b"*", b"?", b"{"):
            break
        prefix += literal
        if quantifier == b"+":
            break
    return prefix


def _anchors(rows: tuple[tuple[str, bytes], ...]) -> tuple[bytes, ...]:
    """The fixed starts of the marker patterns, none a prefix of another: every marker
    match begins where one of them occurs."""
    prefixes = sorted({_literal_prefix(rx) for _, rx in rows}, key=len)
    if not all(prefixes):
        raise ValueError("every marker pattern must start with a literal byte")
    return tuple(
        prefix for i, prefix in enumerate(prefixes)
        if not any(prefix.startswith(shorter) for shorter in prefixes[:i])
    )  # fmt: skip


MARKER_SCAN, GROUP_MARKER = _scan_pattern(MARKER_PATTERNS)
MARKER_ANCHORS: Final = _anchors(MARKER_PATTERNS)
MARKER_WINDOW: Final = 1 << 20
"""Read-only data is searched for anchors a window at a time (bounds the positions held)."""
MAX_WINDOW_ANCHORS: Final = 8192
"""More anchors than this in one window and it is scanned with the combined pattern instead
(trying an anchor costs ~1 µs, scanning a MiB ~12 ms; real data has at most hundreds)."""


def _marker_ranges(reader: RawElf, sections: tuple[Section, ...]) -> list[tuple[int, int]]:
    """The read-only data: named sections, or the non-executable PT_LOADs without a table."""
    if sections:
        return [
            (sec.offset, reader._span(sec.offset, sec.size))
            for sec in sections
            if sec.name in MARKER_SECTIONS and sec.type != SHT_NOBITS
        ]
    size = len(reader.data)
    return [
        (min(seg.offset, size), min(seg.offset + seg.filesz, size))
        for seg in reader.segments
        if seg.p_type == PT_LOAD and not seg.executable
    ]


def _markers(
    reader: RawElf, sections: tuple[Section, ...]
) -> tuple[dict[str, str], tuple[str, ...]]:
    """Marker id -> one example, and the crates of ``.cargo/registry`` paths (language.md §1)."""
    found = {SECTION_MARKERS[sec.name]: sec.name for sec in sections if sec.name in SECTION_MARKERS}
    crates: set[str] = set()
    budget, matches = MAX_MARKER_SCAN_BYTES, 0
    for start, end in _marker_ranges(reader, sections):
        end = min(end, start + budget)
        budget -= max(0, end - start)
        for match in _marker_matches(reader.data, start, end):
            marker = GROUP_MARKER[match.lastindex or 0]
            if marker == "crate":
                crate = match.group()[:-1].rsplit(b"/", 1)[1].decode("ascii")
                crates.add(crate)
                name = CRATE_VERSION.split(crate, maxsplit=1)[0]
                if name in CRATE_MARKERS:
                    found.setdefault(CRATE_MARKERS[name], crate)
            elif marker not in found:
                found[marker] = _example(reader.data, match, start)
            matches += 1
            if matches >= MAX_MARKER_MATCHES:
                break
        if budget <= 0 or matches >= MAX_MARKER_MATCHES:
            break
    return found, tuple(sorted(crates))[:MAX_CRATES]


def _marker_matches(data: Buffer, start: int, end: int) -> Iterator[re.Match[bytes]]:
    """What ``MARKER_SCAN.finditer(data, start, end)`` yields (leftmost, non-overlapping
    matches), ~1.6x faster on real read-only data: the combined pattern is tried only where
    an anchor occurs (a few byte searches per window instead of stepping through every
    byte that can begin a marker). A window crowded with anchors is scanned with
    ``finditer`` itself, so crafted data costs what the plain scan costs."""
    done = start
    for window in range(start, end, MARKER_WINDOW):
        window_end = min(window + MARKER_WINDOW, end)
        positions = _anchor_positions(data, max(window, done), window_end, end)
        if positions is None:  # crowded: scan from here on, up to the first match past it
            for match in MARKER_SCAN.finditer(data, max(window, done), end):
                done = match.end()
                yield match
                if match.start() >= window_end:
                    break
            continue
        for at in positions:
            if at < done:
                continue  # inside the previous match
            found = MARKER_SCAN.match(data, at, end)
            if found is not None:
                done = found.end()
                yield found


def _anchor_positions(data: Buffer, start: int, stop: int, end: int) -> list[int] | None:
    """Sorted positions in ``[start, stop)`` where an anchor begins (it may run on up to
    ``end``), or ``None`` when there are more than :data:`MAX_WINDOW_ANCHORS`."""
    positions: list[int] = []
    for anchor in MARKER_ANCHORS:
        limit = min(stop + len(anchor) - 1, end)
        at = data.find(anchor, start, limit)
        while at >= 0:
            positions.append(at)
            if len(positions) > MAX_WINDOW_ANCHORS:
                return None
            at = data.find(anchor, at + 1, limit)
    positions.sort()
    return positions


def _example(data: Buffer, match: re.Match[bytes], floor: int) -> str:
    """The matched text, widened back to the start of the name it begins inside."""
    begin, end = match.span()
    if data[begin] in b"_.":
        while begin > max(floor, end - MAX_MARKER_TEXT) and data[begin - 1] in NAME_BYTES:
            begin -= 1
    return data[begin:end].decode("utf-8", "backslashreplace")[:MAX_MARKER_TEXT]


# -- where the DWARF-encoded data is ---------------------------------------------------------

DEBUG_STRINGS: Final = (".debug_str", ".debug_line_str", ".debug_str_offsets")


def _eh_frame(
    reader: RawElf, sections: tuple[Section, ...], *, until_gcc: bool = False
) -> tuple[int, int]:
    """Bytes covered by all ``.eh_frame`` FDEs, and by those using remember_state (GCC's
    CFI on x86-64: language.md §3.3), read from the section, or without a section table
    from the ``.eh_frame`` that ``PT_GNU_EH_FRAME`` names up to the end of its PT_LOAD.
    ``until_gcc``: stop after the first remember_state FDE (both figures are then partial)."""
    region = _eh_frame_region(reader, sections)
    if region is None:
        return 0, 0
    total = gcc = 0
    data = reader.data[region[0] : region[1]]
    for pc_range, remembers_state in fde_entries(data, reader.end, reader.bits // 8):
        total += pc_range
        if remembers_state:
            gcc += pc_range
            if until_gcc:
                break
    return total, gcc


def _eh_frame_region(reader: RawElf, sections: tuple[Section, ...]) -> tuple[int, int] | None:
    size = len(reader.data)
    if sections:
        found = next((sec for sec in sections if sec.name == ".eh_frame"), None)
        if found is None or not _readable(size, found):
            return None
        return found.offset, found.offset + found.size
    header = next((seg for seg in reader.segments if seg.p_type == PT_GNU_EH_FRAME), None)
    if header is None or not in_file(size, header.offset, 16):
        return None
    start = header.offset
    address = eh_frame_address(reader.data[start : start + 16], header.vaddr, reader.end,
                               reader.bits)  # fmt: skip
    for seg in reader.segments:
        if address is not None and seg.p_type == PT_LOAD and 0 <= address - seg.vaddr < seg.filesz:
            end = min(seg.offset + seg.filesz, size)
            start = address - seg.vaddr + seg.offset
            return (start, end) if start < end else None
    return None


def _dwarf_producers(reader: RawElf, sections: tuple[Section, ...]) -> tuple[str, ...]:
    """``DW_AT_producer`` of the compilation units, when uncompressed DWARF is present."""
    named = {sec.name: sec for sec in reversed(sections)}
    info, abbrev = named.get(".debug_info"), named.get(".debug_abbrev")
    size = len(reader.data)
    if info is None or abbrev is None or not (_readable(size, info) and _readable(size, abbrev)):
        return ()
    strings = {
        name: (sec.offset, sec.offset + sec.size)
        for name in DEBUG_STRINGS
        if (sec := named.get(name)) is not None and _readable(size, sec)
    }
    return unit_producers(
        reader.data,
        (info.offset, info.offset + info.size),
        (abbrev.offset, abbrev.offset + abbrev.size),
        strings,
        reader.end,
    )


def _readable(file_size: int, sec: Section) -> bool:
    """Stored uncompressed inside the file (unwind and debug info never fail the file)."""
    return (
        sec.type != SHT_NOBITS
        and not sec.flags & SHF_COMPRESSED
        and in_file(file_size, sec.offset, sec.size)
    )
