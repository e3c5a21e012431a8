"""Mach-O evidence: the only module that imports macholib (evidence layer; never judges).

macholib reads the fat header, each image's header and its load commands. It also copies
every section's contents into memory, so before it runs, :func:`_check_layout` walks the
same structures with ``struct`` and refuses counts and sizes a real image cannot have
(otherwise a crafted section table could make it read one large range thousands of times).
What macholib does not read is read here from the buffer, bounded by the image: the
undefined and exported symbols (``LC_SYMTAB`` through the ``LC_DYSYMTAB`` ranges), the
chained-fixups import table, and the code-signature SuperBlob.
"""

from __future__ import annotations

import functools
import io
import struct
from collections.abc import Iterator
from types import ModuleType
from typing import Any, Final

from ..sniff import MACHO_IMAGE_MAGICS, MAX_FAT_SLICES, slice_names
from .macho_records import CodeSignature, MachoEvidence, MachoSegment, MachoSlice
from .reading import (
    Buffer,
    Corrupt,
    OverLimit,
    Truncated,
    check_limit,
    digest_of,
    import_parser,
    read_and_parse,
    rust_marker,
)

__all__ = ["MACHOLIB_INSTALL", "load_macho_bytes", "load_macho_evidence"]

MACHOLIB_INSTALL: Final = "pip install 'macholib>=1.16.3'"

FAT_MAGIC: Final = 0xCAFEBABE
FAT_MAGIC_64: Final = 0xCAFEBABF
LC_REQ_DYLD: Final = 0x80000000
LC_SEGMENT, LC_SEGMENT_64 = 0x1, 0x19
LC_SYMTAB, LC_DYSYMTAB, LC_CODE_SIGNATURE = 0x2, 0xB, 0x1D
LC_ID_DYLIB, LC_RPATH = 0xD, 0x8000001C
LC_DYLD_CHAINED_FIXUPS: Final = 0x80000034
DYLIB_COMMANDS: Final = frozenset(
    {0xC, 0x18 | LC_REQ_DYLD, 0x1F | LC_REQ_DYLD, 0x20, 0x23 | LC_REQ_DYLD}
)
"""LC_LOAD_DYLIB, LC_LOAD_WEAK_DYLIB, LC_REEXPORT_DYLIB, LC_LAZY_LOAD_DYLIB,
LC_LOAD_UPWARD_DYLIB: each names a library the image loads."""
S_ZEROFILL: Final = 0x1
N_TYPE, N_EXT, N_UNDF, N_SECT = 0x0E, 0x01, 0x0, 0xE

MAX_LOAD_COMMANDS: Final = 4096
MAX_SECTIONS: Final = 1024
"""Symbols address sections with one byte (255); allow some slack, refuse thousands."""
MAX_NAME_BYTES: Final = 4096
NAME_BYTES_PER_IMAGE_BYTE: Final = 4
MAX_SIGNATURE_BLOBS: Final = 64
CSMAGIC_EMBEDDED_SIGNATURE: Final = 0xFADE0CC0
CSMAGIC_CODEDIRECTORY: Final = 0xFADE0C02
CSMAGIC_BLOBWRAPPER: Final = 0xFADE0B01
CSSLOT_CODEDIRECTORY: Final = 0
CSSLOT_ALTERNATE_CODEDIRECTORIES: Final = range(0x1000, 0x1005)
CSSLOT_SIGNATURESLOT: Final = 0x10000
CHAINED_IMPORT_SIZES: Final = {1: 4, 2: 8, 3: 16}
"""DYLD_CHAINED_IMPORT, _ADDEND, _ADDEND64: bytes per import entry."""


def load_macho_evidence(path: str, *, digest: bool = True, language: bool = True) -> MachoEvidence:
    """Read the evidence of every image in the Mach-O file at ``path``.

    Raises :class:`MalformedBinaryError` for anything that cannot be read or parsed.
    """
    return _load(path, None, digest)


def load_macho_bytes(
    data: bytes, label: str, *, digest: bool = True, language: bool = True
) -> MachoEvidence:
    """The same, from bytes already in memory (a wheel member); ``label`` names it."""
    return _load(label, data, digest)


def _load(label: str, data: bytes | None, digest: bool) -> MachoEvidence:
    macholib = import_parser("macholib.MachO", MACHOLIB_INSTALL, label, "Mach-O")
    return read_and_parse(
        label, "Mach-O", data, functools.partial(_evidence, macholib, digest=digest)
    )


# --------------------------------------------------------------------------- layout


def _images(data: Buffer) -> list[tuple[int, int, int, int]]:
    """(offset, size, cputype, cpusubtype) of each image; the fat table checked first."""
    if len(data) < 8:
        raise Corrupt("file too short for a Mach-O header")
    magic, count = struct.unpack_from(">II", data)
    if magic not in (FAT_MAGIC, FAT_MAGIC_64):
        endian, _ = _thin_magic(data, 0)
        cputype, cpusubtype = struct.unpack_from(endian + "iI", data, 4)
        return [(0, len(data), cputype, cpusubtype)]
    if not count:
        raise Corrupt("fat header lists no slices")
    check_limit(count, MAX_FAT_SLICES, "fat slices")
    entry, layout = (20, ">iIII") if magic == FAT_MAGIC else (32, ">iIQQ")
    if 8 + count * entry > len(data):
        raise Truncated(f"fat header's {count} slice entries run past the end of the file")
    images = []
    for index in range(count):
        cputype, cpusubtype, offset, size = struct.unpack_from(layout, data, 8 + index * entry)
        if offset + size > len(data) or size < 28 or offset < 8:
            raise Truncated(
                f"fat slice {index} claims bytes {offset}..{offset + size} of a "
                f"{len(data)}-byte file"
            )
        images.append((offset, size, cputype, cpusubtype))
    return images


def _thin_magic(data: Buffer, offset: int) -> tuple[str, int]:
    found = MACHO_IMAGE_MAGICS.get(bytes(data[offset : offset + 4]))
    if found is None:
        raise Corrupt(f"no Mach-O header magic at offset {offset}")
    return found


def _check_layout(data: Buffer, offset: int, size: int) -> None:
    """Refuse load commands that would make macholib loop or read without bound."""
    endian, bits = _thin_magic(data, offset)
    header = 32 if bits == 64 else 28
    if size < header:
        raise Corrupt("image too short for its header")
    ncmds, sizeofcmds = struct.unpack_from(endian + "II", data, offset + 16)
    check_limit(ncmds, MAX_LOAD_COMMANDS, "load commands")
    if header + sizeofcmds > size:
        raise Truncated(f"load commands ({sizeofcmds} bytes) run past the end of the image")
    position, end = offset + header, offset + header + sizeofcmds
    sections = section_bytes = 0
    for _ in range(ncmds):
        if position + 8 > end:
            raise Corrupt("load commands overrun sizeofcmds")
        cmd, cmdsize = struct.unpack_from(endian + "II", data, position)
        if cmdsize < 8 or position + cmdsize > end:
            raise Corrupt(f"load command {cmd:#x} has size {cmdsize}")
        if cmd in (LC_SEGMENT, LC_SEGMENT_64):
            count, read = _segment_sections(data, position, cmd, endian, size)
            sections += count
            section_bytes += read
        position += cmdsize
    check_limit(sections, MAX_SECTIONS, "sections")
    if section_bytes > size:
        raise Corrupt("sections overlap: their contents add up to more than the image")


def _segment_sections(
    data: Buffer, position: int, cmd: int, endian: str, image_size: int
) -> tuple[int, int]:
    """(section count, bytes macholib would copy) of one segment command."""
    wide = cmd == LC_SEGMENT_64
    head, entry = (72, 80) if wide else (56, 68)
    nsects_at = position + (64 if wide else 48)
    (nsects,) = struct.unpack_from(endian + "I", data, nsects_at)
    check_limit(nsects, MAX_SECTIONS, "sections in one segment")
    size_field = "Q" if wide else "I"
    read = 0
    for index in range(nsects):
        at = position + head + index * entry
        (sect_size,) = struct.unpack_from(endian + size_field, data, at + (40 if wide else 36))
        (flags,) = struct.unpack_from(endian + "I", data, at + entry - (16 if wide else 12))
        if flags & S_ZEROFILL != S_ZEROFILL:
            read += min(sect_size, image_size)
    return nsects, read


# --------------------------------------------------------------------------- macholib


def _macholib(macholib: ModuleType, data: Buffer, label: str) -> Any:
    """macholib's view of every image (its constructor only opens a path, so the
    documented ``load`` is called on a fresh instance with the buffer as the file)."""
    parsed = macholib.MachO.__new__(macholib.MachO)
    parsed.graphident = parsed.filename = label
    parsed.loader_path = ""
    parsed.fat = None
    parsed.headers = []
    parsed.allow_unknown_load_commands = True
    try:
        parsed.load(data if not isinstance(data, bytes) else io.BytesIO(data))
    except OSError as exc:  # macholib's window over one image: an offset outside it
        raise Truncated(str(exc)) from exc
    return parsed


def _evidence(macholib: ModuleType, data: Buffer, *, digest: bool) -> MachoEvidence:
    images = _images(data)
    for offset, size, _, _ in images:
        _check_layout(data, offset, size)
    parsed = _macholib(macholib, data, "")
    if len(parsed.headers) != len(images):
        raise Corrupt(f"macholib read {len(parsed.headers)} images, the file has {len(images)}")
    names = slice_names([(cputype, cpusubtype) for _, _, cputype, cpusubtype in images])
    sha256 = digest_of(data) if digest else None
    slices = tuple(
        _slice(data, header, name, offset, size, sha256)
        for header, name, (offset, size, _, _) in zip(parsed.headers, names, images, strict=True)
    )
    return MachoEvidence(size=len(data), sha256=sha256, fat=parsed.fat is not None, slices=slices)


def _slice(
    data: Buffer, header: Any, arch: str, offset: int, size: int, sha256: str | None
) -> MachoSlice:
    endian, bits = _thin_magic(data, offset)
    image = _Image(data, offset, size, endian, bits)
    segments, rpaths, dylibs = [], [], []
    install_name = symtab = dysymtab = signature = fixups = None
    for load, command, payload in header.commands:
        kind = load.cmd
        if kind in (LC_SEGMENT, LC_SEGMENT_64):
            segments.append(
                MachoSegment(
                    _segname(command.segname),
                    command.initprot,
                    command.maxprot,
                    command.vmaddr,
                    command.vmsize,
                )
            )
        elif kind == LC_RPATH:
            rpaths.append(_lc_string(payload, command.path, 12))
        elif kind in DYLIB_COMMANDS:
            dylibs.append(_lc_string(payload, command.name, 24))
        elif kind == LC_ID_DYLIB:
            install_name = _lc_string(payload, command.name, 24)
        elif kind == LC_SYMTAB:
            symtab = command
        elif kind == LC_DYSYMTAB:
            dysymtab = command
        elif kind == LC_CODE_SIGNATURE:
            signature = command
        elif kind == LC_DYLD_CHAINED_FIXUPS:
            fixups = _linkedit(command, payload, endian)
    imports: set[str] = set()
    exports: frozenset[str] = frozenset()
    sources: list[str] = []
    if symtab is not None:
        undefined, exports = image.symbols(symtab, dysymtab)
        imports.update(undefined)
        sources.append("symtab")
    if fixups is not None:
        imports.update(image.chained_imports(*fixups))
        sources.append("chained-fixups")
    return MachoSlice(
        arch=arch,
        size=size,
        sha256=sha256,
        bits=bits,
        filetype=header.header.filetype,
        flags=header.header.flags,
        segments=tuple(segments),
        rpaths=tuple(rpaths),
        dylibs=tuple(dylibs),
        install_name=install_name,
        imports=frozenset(imports),
        import_sources=tuple(sources),
        exports=exports,
        code_signature=(
            image.code_signature(signature.dataoff, signature.datasize) if signature else None
        ),
        rust_marker=rust_marker(data, offset, offset + size),
    )


def _segname(raw: bytes | str) -> str:
    text = raw.decode("latin-1") if isinstance(raw, bytes) else raw
    return text.rstrip("\0")


def _lc_string(payload: bytes, offset: int, struct_size: int) -> str:
    """An ``lc_str`` whose ``offset`` counts from the command's start."""
    start = int(offset) - struct_size
    if not 0 <= start <= len(payload):
        raise Corrupt(f"load-command string offset {int(offset)} is outside its command")
    return payload[start:].split(b"\0", 1)[0].decode("utf-8", "replace")


def _linkedit(command: Any, payload: bytes, endian: str) -> tuple[int, int]:
    """(dataoff, datasize) of a linkedit-data command, known to macholib or raw."""
    if hasattr(command, "dataoff"):
        return int(command.dataoff), int(command.datasize)
    if len(payload) < 8:
        raise Corrupt("linkedit data command too short")
    dataoff, datasize = struct.unpack_from(endian + "II", payload)
    return dataoff, datasize


class _Image:
    """Bounded reads inside one image of the buffer."""

    def __init__(self, data: Buffer, offset: int, size: int, endian: str, bits: int) -> None:
        self.data, self.offset, self.size, self.endian = data, offset, size, endian
        self.wide = bits == 64
        self.name_budget = NAME_BYTES_PER_IMAGE_BYTE * size

    def span(self, start: int, length: int, what: str) -> int:
        """The buffer offset of ``length`` bytes at image offset ``start`` (checked)."""
        if start < 0 or length < 0 or start + length > self.size:
            raise Truncated(f"{what} at {start}+{length} lies outside the {self.size}-byte image")
        return self.offset + start

    def cstring(self, start: int, limit: int, what: str) -> str:
        at = self.span(start, 0, what)
        stop = min(self.offset + self.size, at + min(limit, MAX_NAME_BYTES))
        end = self.data.find(b"\0", at, stop)
        raw = self.data[at : stop if end < 0 else end]
        self.name_budget -= len(raw) + 1
        if self.name_budget < 0:
            raise OverLimit(f"names read exceed {NAME_BYTES_PER_IMAGE_BYTE}x the image size")
        return raw.decode("utf-8", "replace")

    def symbols(self, symtab: Any, dysymtab: Any) -> tuple[set[str], frozenset[str]]:
        """(undefined external names, defined external names), leading ``_`` removed."""
        wide = self.wide
        entry = 16 if wide else 12
        nsyms, symoff = int(symtab.nsyms), int(symtab.symoff)
        stroff, strsize = int(symtab.stroff), int(symtab.strsize)
        base = self.span(symoff, nsyms * entry, "symbol table")
        self.span(stroff, strsize, "string table")
        if dysymtab is not None:
            ranges = {
                "undefined": (int(dysymtab.iundefsym), int(dysymtab.nundefsym)),
                "exported": (int(dysymtab.iextdefsym), int(dysymtab.nextdefsym)),
            }
            for what, (first, count) in ranges.items():
                if first + count > nsyms:
                    raise Corrupt(f"{what} symbols {first}+{count} exceed the {nsyms} symbols")
            rows = {what: range(first, first + count) for what, (first, count) in ranges.items()}
        else:
            rows = {"undefined": range(nsyms), "exported": range(nsyms)}
        layout = self.endian + ("IBBHQ" if wide else "IBBHI")
        undefined: set[str] = set()
        exported: set[str] = set()
        for what, indexes in rows.items():
            for index in indexes:
                strx, n_type, _, _, _ = struct.unpack_from(layout, self.data, base + index * entry)
                kind = n_type & N_TYPE
                if not n_type & N_EXT or (what == "undefined") != (kind == N_UNDF):
                    continue
                if what == "exported" and kind != N_SECT:
                    continue
                if strx >= strsize:
                    raise Corrupt(f"symbol {index} names string {strx} past the string table")
                name = self.cstring(stroff + strx, strsize - strx, "symbol name")
                (undefined if what == "undefined" else exported).add(_c_name(name))
        return undefined, frozenset(exported)

    def chained_imports(self, dataoff: int, datasize: int) -> Iterator[str]:
        """Names in the ``LC_DYLD_CHAINED_FIXUPS`` import table (uncompressed symbols)."""
        base = self.span(dataoff, datasize, "chained fixups")
        if datasize < 28:
            raise Corrupt("chained fixups header too short")
        _, _, imports_at, symbols_at, count, import_format, symbols_format = struct.unpack_from(
            "<7I", self.data, base
        )
        width = CHAINED_IMPORT_SIZES.get(import_format)
        if width is None or symbols_format != 0:
            return  # an import format this reader does not know: no names from here
        self.span(dataoff + imports_at, count * width, "chained-fixups imports")
        if symbols_at > datasize:
            raise Corrupt("chained-fixups symbol pool lies outside the fixups")
        for index in range(count):
            at = base + imports_at + index * width
            if width == 16:
                name_offset = struct.unpack_from("<Q", self.data, at)[0] >> 32
            else:
                name_offset = struct.unpack_from("<I", self.data, at)[0] >> 9
            pool = symbols_at + name_offset
            if pool >= datasize:
                raise Corrupt(f"chained import {index} names a string past the fixups")
            yield _c_name(self.cstring(dataoff + pool, datasize - pool, "import name"))

    def code_signature(self, dataoff: int, datasize: int) -> CodeSignature:
        """The SuperBlob's CodeDirectory flags and whether it carries a certificate blob."""
        base = self.span(dataoff, datasize, "code signature")
        if datasize < 12:
            raise Corrupt("code signature too short")
        magic, _, count = struct.unpack_from(">III", self.data, base)
        if magic != CSMAGIC_EMBEDDED_SIGNATURE:
            raise Corrupt(f"code signature magic {magic:#x} is not an embedded signature")
        check_limit(count, MAX_SIGNATURE_BLOBS, "code signature blobs")
        if 12 + 8 * count > datasize:
            raise Truncated(f"code signature's {count} blob entries run past it")
        flags = identifier = None
        certificates = False
        for index in range(count):
            slot, offset = struct.unpack_from(">II", self.data, base + 12 + 8 * index)
            if offset + 8 > datasize:
                raise Corrupt(f"code signature blob {index} lies outside the signature")
            blob_magic, length = struct.unpack_from(">II", self.data, base + offset)
            primary = slot == CSSLOT_CODEDIRECTORY or slot in CSSLOT_ALTERNATE_CODEDIRECTORIES
            if primary and blob_magic == CSMAGIC_CODEDIRECTORY and flags is None:
                if offset + 24 > datasize:
                    raise Corrupt("CodeDirectory cut short")
                (flags,) = struct.unpack_from(">I", self.data, base + offset + 12)
                (ident_at,) = struct.unpack_from(">I", self.data, base + offset + 20)
                if ident_at and offset + ident_at < datasize:
                    identifier = self.cstring(
                        dataoff + offset + ident_at, datasize - offset - ident_at, "identifier"
                    )
            elif slot == CSSLOT_SIGNATURESLOT and blob_magic == CSMAGIC_BLOBWRAPPER:
                certificates = length > 8
        return CodeSignature(flags=flags, identifier=identifier, has_certificates=certificates)


def _c_name(symbol: str) -> str:
    """A Mach-O symbol's C name (the compiler prefixes one underscore)."""
    return symbol[1:] if symbol.startswith("_") else symbol
