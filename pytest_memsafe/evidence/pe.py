"""PE evidence: the only module that imports pefile (evidence layer; never judges).

pefile reads the headers with ``fast_load`` and then only the export, import and debug
directories. The load config is read here with ``struct``, field by field against the
structure's own ``Size`` (pefile reads the whole structure when ``Size`` does not fall on a
field boundary, so a short load config would lend fields the bytes that follow it).
"""

from __future__ import annotations

import functools
import struct
from types import ModuleType
from typing import Any, Final

from .pe_records import WATCHED_SYMBOLS, LoadConfig, PeEvidence, PeSection
from .reading import (
    MODULE_INIT,
    Buffer,
    Corrupt,
    Truncated,
    check_limit,
    digest_of,
    import_parser,
    read_and_parse,
    rust_marker,
)

__all__ = ["PEFILE_INSTALL", "load_pe_bytes", "load_pe_evidence"]

PEFILE_INSTALL: Final = "pip install 'pefile>=2023.2.7'"

MACHINES: Final[dict[int, str]] = {
    0x014C: "i386",
    0x8664: "x86_64",
    0xAA64: "arm64",
    0x01C4: "arm",
    0x0200: "ia64",
}
"""``FILE_HEADER.Machine`` by the names reports use."""

PE32_PLUS: Final = 0x20B
DIR_EXPORT, DIR_IMPORT, DIR_CERTIFICATE, DIR_BASERELOC, DIR_DEBUG, DIR_LOAD_CONFIG = (
    0, 1, 4, 5, 6, 10,
)  # fmt: skip
DEBUG_TYPE_EX_DLLCHARACTERISTICS: Final = 20
EXPORT_DIRECTORY_SIZE: Final = 40
MAX_EXPORT_NAME: Final = 256
MAX_SECTIONS: Final = 96
"""The Windows loader's limit on ``NumberOfSections`` (PE format specification)."""
COFF_SYMBOL_SIZE: Final = 18
COFF_EXTERNAL: Final = 2
MAX_WATCHED_NAME: Final = max(len(name) for name in WATCHED_SYMBOLS)
MAX_LOAD_CONFIG_READ: Final = 0x200
"""Bytes of the load config read: every field the checks use lies in the first 152."""

# (field, offset in PE32, offset in PE32+, width in PE32, width in PE32+): winnt.h
# IMAGE_LOAD_CONFIG_DIRECTORY32/64; reference/checks.md §1b for the Size thresholds.
LOAD_CONFIG_FIELDS: Final = (
    ("security_cookie", 60, 88, 4, 8),
    ("se_handler_table", 64, 96, 4, 8),
    ("se_handler_count", 68, 104, 4, 8),
    ("guard_cf_check_function", 72, 112, 4, 8),
    ("guard_cf_function_table", 80, 128, 4, 8),
    ("guard_cf_function_count", 84, 136, 4, 8),
    ("guard_flags", 88, 144, 4, 4),
)


def load_pe_evidence(path: str, *, digest: bool = True, language: bool = True) -> PeEvidence:
    """Read the evidence the checks need from the PE file at ``path``.

    Raises :class:`MalformedBinaryError` for anything that cannot be read or parsed.
    """
    return _load(path, None, digest)


def load_pe_bytes(
    data: bytes, label: str, *, digest: bool = True, language: bool = True
) -> PeEvidence:
    """The same, from bytes already in memory (a wheel member); ``label`` names it."""
    return _load(label, data, digest)


def _load(label: str, data: bytes | None, digest: bool) -> PeEvidence:
    pefile = import_parser("pefile", PEFILE_INSTALL, label, "PE")
    parse = functools.partial(_evidence, pefile, digest=digest)
    return read_and_parse(label, "PE", data, parse, (pefile.PEFormatError,))


def _check_layout(data: Buffer) -> None:
    """Refuse headers no loader would accept before pefile reads them: the section table
    must fit in the file and hold at most :data:`MAX_SECTIONS` entries."""
    if len(data) < 0x40:
        raise Corrupt("file too short for a DOS header")
    (e_lfanew,) = struct.unpack_from("<I", data, 0x3C)
    if e_lfanew + 24 > len(data) or data[e_lfanew : e_lfanew + 4] != b"PE\0\0":
        raise Corrupt(f"no PE signature at e_lfanew {e_lfanew:#x}")
    count, _, _, _, optional_size = struct.unpack_from("<HIIIH", data, e_lfanew + 6)
    check_limit(count, MAX_SECTIONS, "NumberOfSections")
    table = e_lfanew + 24 + optional_size
    if table + 40 * count > len(data):
        raise Truncated(f"section table ({count} sections at {table:#x}) runs past the end")


def _check_sections(pe: Any, size: int) -> None:
    """Every section's file data lies inside the file (else it was cut short)."""
    for section in pe.sections:
        start, length = section.PointerToRawData, section.SizeOfRawData
        if length and start + length > size:
            name = _text(section.Name.rstrip(b"\0"))
            raise Truncated(
                f"section {name} claims file bytes {start:#x}..{start + length:#x} of a "
                f"{size:#x}-byte file (truncated?)"
            )


def _evidence(pefile: ModuleType, data: Buffer, *, digest: bool) -> PeEvidence:
    _check_layout(data)
    # Never pe.close(): with data passed in it only runs gc.collect() (14 ms in a pytest run).
    return _read(pefile.PE(data=data, fast_load=True), data, digest)


def _read(pe: Any, data: Buffer, digest: bool) -> PeEvidence:
    optional = getattr(pe, "OPTIONAL_HEADER", None)
    if optional is None:
        raise Corrupt("no optional header")
    _check_sections(pe, len(data))
    directories = optional.DATA_DIRECTORY
    pe.parse_data_directories(
        directories=[index for index in (DIR_IMPORT, DIR_DEBUG) if index < len(directories)]
    )
    plus = optional.Magic == PE32_PLUS
    machine = pe.FILE_HEADER.Machine
    return PeEvidence(
        size=len(data),
        sha256=digest_of(data) if digest else None,
        machine=MACHINES.get(machine, f"IMAGE_FILE_MACHINE_{machine:#x}"),
        pe32_plus=plus,
        characteristics=pe.FILE_HEADER.Characteristics,
        dll_characteristics=optional.DllCharacteristics,
        image_base=optional.ImageBase,
        section_alignment=optional.SectionAlignment,
        reloc_size=_directory_size(directories, DIR_BASERELOC),
        certificate_size=_directory_size(directories, DIR_CERTIFICATE),
        sections=tuple(
            PeSection(_text(section.Name.rstrip(b"\0")), section.Characteristics)
            for section in pe.sections
        ),
        imports=frozenset(
            _text(symbol.name)
            for entry in getattr(pe, "DIRECTORY_ENTRY_IMPORT", ())
            for symbol in entry.imports
            if symbol.name
        ),
        import_dlls=tuple(_text(entry.dll) for entry in getattr(pe, "DIRECTORY_ENTRY_IMPORT", ())),
        exports=_python_exports(pe, data, directories),
        linked_in=_linked_in(data, pe.FILE_HEADER),
        load_config=_load_config(pe, directories, plus),
        ex_dll_characteristics=_ex_dll_characteristics(pe, data),
        rust_marker=rust_marker(data),
    )


def _text(raw: bytes) -> str:
    return raw.decode("latin-1")


def _directory_size(directories: Any, index: int) -> int:
    return int(directories[index].Size) if index < len(directories) else 0


def _python_exports(pe: Any, data: Buffer, directories: Any) -> frozenset[str]:
    """The exported ``PyInit_*`` names, read from the export name table with ``struct``
    (pefile's export parser builds an object per export: 0.3 s for OpenBLAS's 8,000)."""
    if len(directories) <= DIR_EXPORT or not directories[DIR_EXPORT].Size:
        return frozenset()
    mapper = _RvaMapper(pe.sections, len(data))
    header = mapper.offset(directories[DIR_EXPORT].VirtualAddress, EXPORT_DIRECTORY_SIZE)
    count, names_rva = struct.unpack_from("<I4xI", data, header + 24)
    table = mapper.offset(names_rva, 4 * count)
    found = set()
    for (name_rva,) in struct.iter_unpack("<I", data[table : table + 4 * count]):
        at = mapper.offset(name_rva, len(MODULE_INIT))
        if data[at : at + len(MODULE_INIT)] == MODULE_INIT:
            end = data.find(b"\0", at, min(at + MAX_EXPORT_NAME, len(data)))
            found.add(_text(bytes(data[at : end if end >= 0 else at + MAX_EXPORT_NAME])))
    return frozenset(found)


class _RvaMapper:
    """RVA to file offset through the section table, remembering the last section hit."""

    def __init__(self, sections: Any, size: int) -> None:
        self.size = size
        self.spans = [
            (s.VirtualAddress, max(s.Misc_VirtualSize, s.SizeOfRawData), s.PointerToRawData)
            for s in sections
        ]
        self.last = self.spans[0] if self.spans else (0, 0, 0)

    def offset(self, rva: int, length: int) -> int:
        """The file offset of ``length`` bytes at ``rva``; Corrupt when they are not in one
        section's file data."""
        for start, span, raw in (self.last, *self.spans):
            if start <= rva and rva + length <= start + span:
                self.last = (start, span, raw)
                at = raw + rva - start
                if at + length > self.size:
                    break
                return at
        raise Corrupt(f"RVA {rva:#x} (+{length}) lies outside the sections' file data")


def _linked_in(data: Buffer, file_header: Any) -> frozenset[str]:
    """Which :data:`WATCHED_SYMBOLS` the COFF symbol table defines (external, in a section).

    Only names of the watched lengths are compared, so the scan is one pass of fixed-size
    records bounded by the file, whatever the table holds.
    """
    start, count = file_header.PointerToSymbolTable, file_header.NumberOfSymbols
    if not start or not count:
        return frozenset()
    strings = start + count * COFF_SYMBOL_SIZE
    if strings > len(data):
        raise Truncated(f"COFF symbol table ({count} symbols at {start:#x}) runs past the end")
    wanted = {name.encode(): name for name in WATCHED_SYMBOLS}
    found: set[str] = set()
    index = 0
    while index < count:
        at = start + index * COFF_SYMBOL_SIZE
        zeroes, offset, _, section, _, storage, aux = struct.unpack_from("<IIIhHBB", data, at)
        index += 1 + aux
        if storage != COFF_EXTERNAL or section <= 0:
            continue
        if zeroes:  # a short name inline (up to 8 bytes), too short for a watched one
            continue
        name_at = strings + offset
        raw = bytes(data[name_at : name_at + MAX_WATCHED_NAME + 1]).split(b"\0", 1)[0]
        if raw in wanted:
            found.add(wanted[raw])
    return frozenset(found)


def _load_config(pe: Any, directories: Any, plus: bool) -> LoadConfig | None:
    """The load config read against its own ``Size`` (``None`` when absent)."""
    if len(directories) <= DIR_LOAD_CONFIG or not directories[DIR_LOAD_CONFIG].VirtualAddress:
        return None
    rva = directories[DIR_LOAD_CONFIG].VirtualAddress
    raw = pe.get_data(rva, MAX_LOAD_CONFIG_READ)
    if len(raw) < 4:
        raise Corrupt(f"load config at RVA {rva:#x} is cut short")
    (size,) = struct.unpack_from("<I", raw)
    fields: dict[str, int | None] = {}
    for name, offset32, offset64, width32, width64 in LOAD_CONFIG_FIELDS:
        offset, width = (offset64, width64) if plus else (offset32, width32)
        present = offset + width <= min(size, len(raw))
        fields[name] = int.from_bytes(raw[offset : offset + width], "little") if present else None
    return LoadConfig(size=size, **fields)


def _ex_dll_characteristics(pe: Any, data: Buffer) -> int | None:
    """The flags word of the first ``EX_DLLCHARACTERISTICS`` debug entry (``None``: none)."""
    for entry in getattr(pe, "DIRECTORY_ENTRY_DEBUG", ()):
        if entry.struct.Type != DEBUG_TYPE_EX_DLLCHARACTERISTICS:
            continue
        offset, size = entry.struct.PointerToRawData, entry.struct.SizeOfData
        if size < 4 or offset + 4 > len(data):
            raise Corrupt("EX_DLLCHARACTERISTICS debug entry points past the file")
        return int.from_bytes(data[offset : offset + 4], "little")
    return None
