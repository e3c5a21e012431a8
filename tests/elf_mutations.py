"""Structure-aware mutations of real ELF files, shared by the property tests
(``tests/test_malformed.py``) and the standalone fuzzer (``benchmarks/fuzz.py``).

:func:`elf_layout` finds, with ``struct`` alone (it never trusts the module under test),
every field worth lying in: the file header, each program and section header, the dynamic
entries, note headers, symbol entries of ``.symtab``/``.dynsym``, ``.eh_frame`` record
headers, ``.debug_info`` unit headers, and the bytes of the string tables, ``.debug_abbrev``,
``.comment`` and ``.rodata``. An :data:`Edit` names a field, boundary or region by an index
(taken modulo the number present) so that hypothesis can draw and shrink it and the fuzzer
can draw it from a seeded ``random.Random``; :func:`apply_edits` is deterministic.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass, field
from typing import Final, Literal

__all__ = [
    "KINDS",
    "STRUCTURES",
    "Edit",
    "Field",
    "Layout",
    "apply_edits",
    "byte_layout",
    "elf_layout",
    "random_edits",
]

MAX_ENTRIES: Final = 96
"""Entries of one table (symbols, dynamic, notes, records) described per file: the first
ones and an even sample of the rest, so a large real library stays cheap to lay out."""

STRUCTURES: Final = (
    "ehdr", "phdr", "shdr", "dynamic", "note", "symtab", "dynsym", "eh_frame", "debug_info",
    "strings", "debug_abbrev", "debug_str", "comment", "rodata", "gnu_hash",
)  # fmt: skip
"""Every kind of structure a :class:`Field` can belong to."""

_EHDR64: Final = (
    ("e_type", 16, 2), ("e_machine", 18, 2), ("e_version", 20, 4), ("e_entry", 24, 8),
    ("e_phoff", 32, 8), ("e_shoff", 40, 8), ("e_flags", 48, 4), ("e_ehsize", 52, 2),
    ("e_phentsize", 54, 2), ("e_phnum", 56, 2), ("e_shentsize", 58, 2), ("e_shnum", 60, 2),
    ("e_shstrndx", 62, 2), ("EI_CLASS", 4, 1), ("EI_DATA", 5, 1),
)  # fmt: skip
_EHDR32: Final = (
    ("e_type", 16, 2), ("e_machine", 18, 2), ("e_version", 20, 4), ("e_entry", 24, 4),
    ("e_phoff", 28, 4), ("e_shoff", 32, 4), ("e_flags", 36, 4), ("e_ehsize", 40, 2),
    ("e_phentsize", 42, 2), ("e_phnum", 44, 2), ("e_shentsize", 46, 2), ("e_shnum", 48, 2),
    ("e_shstrndx", 50, 2), ("EI_CLASS", 4, 1), ("EI_DATA", 5, 1),
)  # fmt: skip
_PHDR: Final = {
    64: (("p_type", 0, 4), ("p_flags", 4, 4), ("p_offset", 8, 8), ("p_vaddr", 16, 8),
         ("p_filesz", 32, 8), ("p_memsz", 40, 8)),
    32: (("p_type", 0, 4), ("p_offset", 4, 4), ("p_vaddr", 8, 4), ("p_filesz", 16, 4),
         ("p_memsz", 20, 4), ("p_flags", 24, 4)),
}  # fmt: skip
_SHDR: Final = {
    64: (("sh_name", 0, 4), ("sh_type", 4, 4), ("sh_flags", 8, 8), ("sh_addr", 16, 8),
         ("sh_offset", 24, 8), ("sh_size", 32, 8), ("sh_link", 40, 4), ("sh_info", 44, 4),
         ("sh_entsize", 56, 8)),
    32: (("sh_name", 0, 4), ("sh_type", 4, 4), ("sh_flags", 8, 4), ("sh_addr", 12, 4),
         ("sh_offset", 16, 4), ("sh_size", 20, 4), ("sh_link", 24, 4), ("sh_info", 28, 4),
         ("sh_entsize", 36, 4)),
}  # fmt: skip
_SYM: Final = {
    64: (("st_name", 0, 4), ("st_info", 4, 1), ("st_shndx", 6, 2), ("st_value", 8, 8),
         ("st_size", 16, 8)),
    32: (("st_name", 0, 4), ("st_value", 4, 4), ("st_size", 8, 4), ("st_info", 12, 1),
         ("st_shndx", 14, 2)),
}  # fmt: skip
_SIZES: Final = {64: (64, 56, 64, 24, 16), 32: (52, 32, 40, 16, 8)}
"""Per class: ehdr, phdr, shdr, symbol and dynamic entry sizes."""
PT_DYNAMIC, PT_NOTE = 2, 4
SHT_SYMTAB, SHT_NOTE, SHT_DYNSYM, SHT_STRTAB = 2, 7, 11, 3
BYTE_SECTIONS: Final = {
    ".debug_abbrev": "debug_abbrev", ".debug_str": "debug_str", ".comment": "comment",
    ".rodata": "rodata", ".strtab": "strings", ".dynstr": "strings", ".shstrtab": "strings",
    ".debug_line_str": "debug_str", ".debug_str_offsets": "debug_str", ".gnu.hash": "gnu_hash",
}  # fmt: skip
"""Sections whose bytes (not a fixed record layout) are mutated, by structure."""
BYTES_PER_REGION: Final = 24
FILL_BYTES: Final = (0x00, 0x80, 0xFF, 0x0A, 0x41)


@dataclass(frozen=True)
class Field:
    """One integer field of a structure in the file."""

    name: str
    at: int
    width: int
    structure: str


@dataclass
class Layout:
    """Where the structures of one ELF file are (any class, either byte order)."""

    size: int
    bits: int
    order: str
    fields: list[Field] = field(default_factory=list)
    boundaries: set[int] = field(default_factory=set)
    """Offsets where a header, entry, record or section starts or ends."""
    regions: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Section or table name -> (offset, size), inside the file."""
    addresses: set[int] = field(default_factory=set)
    """Virtual addresses and file offsets of the structures (for pointing one at another)."""

    def add(self, structure: str, name: str, at: int, width: int) -> None:
        if at >= 0 and at + width <= self.size:
            self.fields.append(Field(name, at, width, structure))

    def add_record(
        self, structure: str, label: str, at: int, layout: tuple[tuple[str, int, int], ...]
    ) -> None:
        for name, offset, width in layout:
            self.add(structure, f"{label}.{name}", at + offset, width)


def _sample(count: int) -> list[int]:
    """Indexes of the entries described: all of a short table, else the first ones and an
    even sample of the rest."""
    if count <= MAX_ENTRIES:
        return list(range(count))
    head = MAX_ENTRIES // 2
    step = (count - head) / (MAX_ENTRIES - head)
    return [*range(head), *(head + int(i * step) for i in range(MAX_ENTRIES - head))]


def elf_layout(data: bytes) -> Layout | None:
    """The structures of ``data`` (``None`` when it is not an ELF file with a whole header)."""
    if data[:4] != b"\x7fELF" or len(data) < 64 or data[4] not in (1, 2) or data[5] not in (1, 2):
        return None
    bits = 64 if data[4] == 2 else 32
    order = "<" if data[5] == 1 else ">"
    lay = Layout(size=len(data), bits=bits, order=order)
    ehdr_size, phdr_size, shdr_size, _, _ = _SIZES[bits]
    lay.add_record("ehdr", "ehdr", 0, _EHDR64 if bits == 64 else _EHDR32)
    lay.boundaries.update(range(0, ehdr_size + 1, 4))
    word = "Q" if bits == 64 else "I"
    phoff, shoff = struct.unpack_from(order + word * 2, data, 32 if bits == 64 else 28)
    phnum, _, shnum, shstrndx = struct.unpack_from(order + "HHHH", data, ehdr_size - 8)
    segments = _program_headers(data, lay, phoff, phnum, phdr_size)
    sections = _section_headers(data, lay, shoff, shnum, shstrndx, shdr_size)
    for name, (p_type, offset, size, _) in segments.items():
        if p_type == PT_DYNAMIC:
            _dynamic(data, lay, offset, size)
        elif p_type == PT_NOTE:
            _notes(data, lay, offset, size, name)
    for name, (sh_type, offset, size) in sections.items():
        lay.regions[name] = (offset, size)
        lay.boundaries.update((offset, offset + size))
        if sh_type in (SHT_SYMTAB, SHT_DYNSYM):
            _symbols(lay, offset, size, "symtab" if sh_type == SHT_SYMTAB else "dynsym")
        elif sh_type == SHT_NOTE:
            _notes(data, lay, offset, size, name)
        elif name == ".eh_frame":
            _eh_frame(data, lay, offset, size)
        elif name == ".debug_info":
            _debug_info(data, lay, offset, size)
        if name in BYTE_SECTIONS:
            _bytes_of(lay, offset, size, BYTE_SECTIONS[name], name)
    lay.boundaries = {at for at in lay.boundaries if 0 <= at <= lay.size}
    return lay


def _program_headers(
    data: bytes, lay: Layout, phoff: int, phnum: int, size: int
) -> dict[str, tuple[int, int, int, int]]:
    """Lay out the program headers; name -> (p_type, offset, filesz, vaddr) of those inside."""
    found = {}
    layout = _PHDR[lay.bits]
    for index in range(phnum):
        at = phoff + index * size
        if at + size > lay.size:
            break
        lay.add_record("phdr", f"phdr[{index}]", at, layout)
        lay.boundaries.update((at, at + size))
        values = {name: _read(data, lay, at + off, width) for name, off, width in layout}
        offset, filesz = values["p_offset"], values["p_filesz"]
        lay.addresses.update((values["p_vaddr"], offset))
        if offset + filesz <= lay.size:
            found[f"segment[{index}]"] = (values["p_type"], offset, filesz, values["p_vaddr"])
            lay.boundaries.update((offset, offset + filesz))
    return found


def _section_headers(
    data: bytes, lay: Layout, shoff: int, shnum: int, shstrndx: int, size: int
) -> dict[str, tuple[int, int, int]]:
    """Lay out the section headers; name -> (sh_type, offset, size) of the sections inside."""
    layout = _SHDR[lay.bits]
    if not shoff or shoff + shnum * size > lay.size:
        return {}
    headers = []
    for index in range(shnum):
        at = shoff + index * size
        lay.add_record("shdr", f"shdr[{index}]", at, layout)
        lay.boundaries.update((at, at + size))
        headers.append({name: _read(data, lay, at + off, width) for name, off, width in layout})
    names_at = headers[shstrndx]["sh_offset"] if shstrndx < shnum else lay.size
    found: dict[str, tuple[int, int, int]] = {}
    for header in headers:
        start = names_at + header["sh_name"]
        end = data.find(b"\0", start) if start < lay.size else -1
        name = data[start:end].decode("latin-1") if end >= 0 else ""
        offset, sec_size = header["sh_offset"], header["sh_size"]
        lay.addresses.update((header["sh_addr"], offset))
        if name and header["sh_type"] != 8 and offset + sec_size <= lay.size:
            found.setdefault(name, (header["sh_type"], offset, sec_size))
    return found


def _read(data: bytes, lay: Layout, at: int, width: int) -> int:
    return int.from_bytes(data[at : at + width], "little" if lay.order == "<" else "big")


def _dynamic(data: bytes, lay: Layout, offset: int, size: int) -> None:
    entry = _SIZES[lay.bits][4]
    count = size // entry
    for index in _sample(count):
        at = offset + index * entry
        lay.add("dynamic", f"dyn[{index}].d_tag", at, entry // 2)
        lay.add("dynamic", f"dyn[{index}].d_val", at + entry // 2, entry // 2)
        lay.boundaries.update((at, at + entry))
        if _read(data, lay, at, entry // 2) == 0:
            break
    lay.regions.setdefault("dynamic", (offset, size))


def _notes(data: bytes, lay: Layout, offset: int, size: int, label: str) -> None:
    at, end, count = offset, offset + size, 0
    while at + 12 <= end and count < MAX_ENTRIES:
        namesz, descsz, _ = struct.unpack_from(lay.order + "III", data, at)
        for name, off in (("n_namesz", 0), ("n_descsz", 4), ("n_type", 8)):
            lay.add("note", f"{label}.note[{count}].{name}", at + off, 4)
        lay.boundaries.update((at, at + 12))
        at += 12 + -(-namesz // 4) * 4 + -(-descsz // 4) * 4
        count += 1


def _symbols(lay: Layout, offset: int, size: int, structure: str) -> None:
    entry = _SIZES[lay.bits][3]
    for index in _sample(size // entry):
        at = offset + index * entry
        lay.add_record(structure, f"{structure}[{index}]", at, _SYM[lay.bits])
        lay.boundaries.update((at, at + entry))


def _eh_frame(data: bytes, lay: Layout, offset: int, size: int) -> None:
    at, end, count = offset, offset + size, 0
    while at + 8 <= end and count < MAX_ENTRIES:
        (length,) = struct.unpack_from(lay.order + "I", data, at)
        lay.add("eh_frame", f"eh_frame[{count}].length", at, 4)
        lay.add("eh_frame", f"eh_frame[{count}].cie_id", at + 4, 4)
        lay.add("eh_frame", f"eh_frame[{count}].pc_begin", at + 8, 4)
        lay.add("eh_frame", f"eh_frame[{count}].pc_range", at + 12, 4)
        lay.add("eh_frame", f"eh_frame[{count}].program", at + 16, 1)
        lay.boundaries.update((at, at + 4 + length))
        if length in (0, 0xFFFFFFFF):
            break
        at += 4 + length
        count += 1


def _debug_info(data: bytes, lay: Layout, offset: int, size: int) -> None:
    at, end, count = offset, offset + size, 0
    while at + 11 <= end and count < MAX_ENTRIES:
        (length,) = struct.unpack_from(lay.order + "I", data, at)
        (version,) = struct.unpack_from(lay.order + "H", data, at + 4)
        abbrev_at = at + (8 if version >= 5 else 6)
        lay.add("debug_info", f"cu[{count}].unit_length", at, 4)
        lay.add("debug_info", f"cu[{count}].version", at + 4, 2)
        lay.add("debug_info", f"cu[{count}].debug_abbrev_offset", abbrev_at, 4)
        for step in range(8):  # the top DIE: abbreviation code, then its attributes
            lay.add("debug_info", f"cu[{count}].die+{step}", abbrev_at + 4 + step, 1)
            lay.add("debug_info", f"cu[{count}].die4+{step}", abbrev_at + 4 + step, 4)
        lay.boundaries.update((at, at + 4 + length, abbrev_at + 4))
        if length in (0, 0xFFFFFFFF):
            break
        at += 4 + length
        count += 1


def _bytes_of(lay: Layout, offset: int, size: int, structure: str, label: str) -> None:
    """Sample bytes of a section without a record layout (strings, abbreviations)."""
    if not size:
        return
    for index in range(min(BYTES_PER_REGION, size)):
        at = offset + index * size // min(BYTES_PER_REGION, size)
        lay.add(structure, f"{label}+{at - offset}", at, 1)
        lay.add(structure, f"{label}+{at - offset}:4", at - at % 4, 4)


def byte_layout(data: bytes) -> Layout:
    """A format-blind layout, for a format without its own (PE, Mach-O until they get one):
    every 32-bit word of the first KiB (the headers) and an even sample of the rest, regions
    of a sixteenth of the file, boundaries every 16 bytes of the first KiB and at each
    region."""
    lay = Layout(size=len(data), bits=32, order="<")
    head = min(len(data), 1024)
    words = [*range(0, head - 3, 4), *(head + i * (len(data) - head) // 256 for i in range(256))]
    for at in words:
        lay.add("ehdr", f"word@{at:#x}", at - at % 4, 4)
    chunk = max(1, len(data) // 16)
    for index in range(16):
        lay.regions[f"part{index}"] = (index * chunk, chunk)
    lay.boundaries = {*range(0, head + 1, 16), *range(0, len(data) + 1, chunk)}
    return lay


# --------------------------------------------------------------------------- edits

KINDS: Final = ("flip", "set", "byte", "copy", "fill", "unterminate", "alias", "link", "cut")
"""Edit kinds: flip a bit of a field; set a field to an extreme or nearby value; set a byte
anywhere; copy one region over another; fill a region with one byte value (0x80 makes one
endless LEB128, 0xff a run of maximal lengths); replace a string table's NULs; make a field
equal another of its name (two headers over the same bytes); point a field at a structure's
offset or address (a table pointing at itself or at another); truncate at a boundary."""


@dataclass(frozen=True)
class Edit:
    """One mutation; every index is taken modulo what the layout holds."""

    kind: str
    target: int
    """Field, boundary or region index."""
    choice: int = 0
    """Value index, bit number, boundary nudge or source index (by kind)."""


def _values(lay: Layout, fld: Field, at_value: int) -> list[int]:
    """Values worth writing into ``fld``: extremes, sizes, nearby and self-pointing ones."""
    mask = (1 << 8 * fld.width) - 1
    return [
        0, 1, mask, mask >> 1, mask - 1, mask - 7, 1 << (8 * fld.width - 1), lay.size,
        lay.size - 1, lay.size + 1, at_value + 1, at_value - 1, at_value * 2, at_value + 0x1000,
        fld.at, fld.at - 8, fld.at + 16, 0xFFFF, 0x10000, 1 << 31, 1 << 40, 12, 24, 64,
    ]  # fmt: skip


def apply_edits(data: bytes, lay: Layout, edits: list[Edit]) -> bytes:
    """``data`` with ``edits`` applied in order (deterministic; never raises)."""
    out = bytearray(data)
    by_structure: dict[str, list[Field]] = {}
    for fld in lay.fields:
        by_structure.setdefault(fld.structure, []).append(fld)
    groups = [by_structure[name] for name in STRUCTURES if name in by_structure]
    fields = lay.fields
    boundaries = sorted(lay.boundaries)
    regions = list(lay.regions.values())
    byteorder: Literal["little", "big"] = "little" if lay.order == "<" else "big"
    for edit in edits:
        if edit.kind == "cut" and boundaries:
            at = boundaries[edit.target % len(boundaries)] + edit.choice % 3 - 1
            del out[max(0, at) :]
        elif edit.kind == "byte" and out:
            out[edit.target % len(out)] = edit.choice % 256
        elif edit.kind == "flip" and groups and out:
            at = (_pick(groups, edit.target).at + edit.choice // 8 % 8) % len(out)
            out[at] ^= 1 << edit.choice % 8
        elif edit.kind == "set" and groups:
            fld = _pick(groups, edit.target)
            current = int.from_bytes(out[fld.at : fld.at + fld.width], byteorder)
            values = _values(lay, fld, current)
            _write(out, fld, values[edit.choice % len(values)], byteorder)
        elif edit.kind == "link" and groups:
            fld = _pick(groups, edit.target)
            pointers = sorted(lay.addresses) or [0]
            _write(out, fld, pointers[edit.choice % len(pointers)], byteorder)
        elif edit.kind == "alias" and groups:
            fld = _pick(groups, edit.target)
            kin = [f for f in fields if f.name.rsplit(".", 1)[-1] == fld.name.rsplit(".", 1)[-1]]
            source = kin[edit.choice % len(kin)]
            value = int.from_bytes(out[source.at : source.at + source.width], byteorder)
            _write(out, fld, value, byteorder)
        elif edit.kind == "copy" and regions:
            src_at, src_size = regions[edit.choice % len(regions)]
            dst_at, _ = regions[edit.target % len(regions)]
            chunk = bytes(out[src_at : src_at + min(src_size, 4096)])
            out[dst_at : dst_at + len(chunk)] = chunk[: max(0, len(out) - dst_at)]
        elif edit.kind == "fill" and regions:
            at, size = regions[edit.target % len(regions)]
            end = min(at + size, len(out))
            out[at:end] = bytes([FILL_BYTES[edit.choice % len(FILL_BYTES)]]) * max(0, end - at)
        elif edit.kind == "unterminate" and regions:
            at, size = regions[edit.target % len(regions)]
            end = min(at + size, len(out))
            out[at:end] = bytes(out[at:end]).replace(b"\0", b"A")
    return bytes(out)


def _pick(groups: list[list[Field]], target: int) -> Field:
    """A field: the structure first (each kind equally likely), then one of its fields."""
    group = groups[target % len(groups)]
    return group[target // len(groups) % len(group)]


def _write(out: bytearray, fld: Field, value: int, byteorder: Literal["little", "big"]) -> None:
    if fld.at + fld.width <= len(out):
        value %= 1 << 8 * fld.width
        out[fld.at : fld.at + fld.width] = value.to_bytes(fld.width, byteorder)


RANDOM_KINDS: Final = (
    "flip", "set", "set", "set", "byte", "copy", "fill", "unterminate", "alias", "link",
)  # fmt: skip
"""Kinds :func:`random_edits` draws from (field values weighted; cuts added separately)."""


def random_edits(rng: random.Random, max_edits: int = 4) -> list[Edit]:
    """Between one and ``max_edits`` edits, uniformly over :data:`KINDS` (cuts last, rarer)."""
    edits = [
        Edit(rng.choice(RANDOM_KINDS), rng.getrandbits(32), rng.getrandbits(16))
        for _ in range(rng.randint(1, max_edits))
    ]
    if rng.random() < 0.15:
        edits.append(Edit("cut", rng.getrandbits(32), rng.getrandbits(8)))
    return edits
