"""ELF evidence: the only module that imports pyelftools (evidence layer; never judges).

pyelftools reads the file header. The section table and the loader-facing structures that
the checks depend on (program headers, the dynamic table through ``PT_DYNAMIC``, ``.dynsym``,
relocations, GNU property notes) are read straight from the mapped file with ``struct``, in
bulk and bounded by the file size, so a file without section headers is still judged and a
large library costs little more than a small one. (pyelftools' section objects parse hash
tables eagerly and read names 64 bytes at a time, which crafted section tables turn into
minutes of work.) Language signals are read in the same pass by :mod:`.elf_language`.
"""

from __future__ import annotations

import array
import hashlib
import io
import mmap
import struct
import sys
from collections.abc import Iterator
from typing import Final

from elftools.common.exceptions import ELFError
from elftools.common.utils import struct_parse
from elftools.elf.structs import ELFStructs

from ..files import MAX_BINARY_BYTES
from .elf_language import Section, in_file, read_language, symbol_rows
from .elf_records import (
    DT_FLAGS,
    DT_FLAGS_1,
    DT_GNU_HASH,
    DT_HASH,
    DT_JMPREL,
    DT_NEEDED,
    DT_NULL,
    DT_PLTREL,
    DT_PLTRELSZ,
    DT_REL,
    DT_RELA,
    DT_RELACOUNT,
    DT_RELASZ,
    DT_RELCOUNT,
    DT_RELSZ,
    DT_RPATH,
    DT_RUNPATH,
    DT_SONAME,
    DT_STRSZ,
    DT_STRTAB,
    DT_SYMTAB,
    GNU_PROPERTY_AARCH64_FEATURE_1_AND,
    GNU_PROPERTY_X86_FEATURE_1_AND,
    NT_GNU_PROPERTY_TYPE_0,
    PT_DYNAMIC,
    PT_GNU_PROPERTY,
    PT_LOAD,
    PT_NOTE,
    SHT_DYNSYM,
    SHT_SYMTAB,
    DynamicInfo,
    ElfEvidence,
    ElfSegment,
)
from .reading import (
    MODULE_INIT,
    OverLimit,
    Truncated,
    check_limit,
    over,
    read_and_parse,
)

__all__ = [
    "DynamicInfo",
    "ElfEvidence",
    "ElfSegment",
    "load_elf_bytes",
    "load_elf_evidence",
]


MAX_FILE_BYTES: Final = MAX_BINARY_BYTES
"""Largest file read (the biggest vendored BLAS builds are ~100 MB). A larger one, such as a
sparse multi-GB file named like a library, is refused before it is mapped or hashed."""
MAX_SEGMENTS: Final = 1024
"""Program headers read; real files have about a dozen. The checks compare GOT slots with
the RELRO segments, so thousands of segments would make them quadratic."""
MAX_SECTIONS: Final = 1 << 16
"""Section headers read; a linked library has a few dozen (``-ffunction-sections`` leaves
thousands only in object files). Extended numbering could otherwise claim billions."""
MAX_DYNAMIC_TAGS: Final = 1 << 16
"""Dynamic entries read before ``DT_NULL``; a real table has a few dozen. A table that goes
on past this fails: the tags after it (``DT_TEXTREL``...) would otherwise go unseen."""
MAX_DYNAMIC_SYMBOLS: Final = 1 << 21
"""Dynamic symbols read; the largest real libraries export a few hundred thousand."""
MAX_HASH_BUCKETS: Final = 1 << 21
"""``DT_GNU_HASH`` buckets read (a linker makes about one per four symbols)."""
MAX_HASH_CHAIN: Final = 1 << 16
"""Entries of the last ``DT_GNU_HASH`` chain walked to count the symbols (real: a few)."""
MAX_RELOCATIONS: Final = 1 << 22
"""Relocations read per table, after the leading relative ones (real: under 100k)."""
MAX_COMMENT_BYTES: Final = 1 << 16
"""Bytes of ``.comment`` read; the rest is ignored (real ones hold a few compiler names)."""
MAX_NOTE_BYTES: Final = 1 << 20
"""Note segments read in all; real ones hold well under a kilobyte (build id, ABI tag,
properties), while many crafted segments over one large range would make the scan
quadratic in the file size."""
STRING_BYTES_PER_FILE_BYTE: Final = 4
"""All names read from string tables may total this many times the file size. Real names
share few bytes; crafted entries that all point into one long string would otherwise cost
time and memory quadratic in the file size."""

MACHINES: Final[dict[int, str]] = {
    3: "i386",
    8: "mips",
    20: "ppc",
    21: "ppc64",
    22: "s390",
    40: "arm",
    43: "sparc64",
    50: "ia64",
    62: "x86_64",
    183: "aarch64",
    243: "riscv",
    258: "loongarch",
}
"""``e_machine`` values by the names reports use; others appear as ``EM_<n>``."""
SIZED_MACHINES: Final = frozenset({"riscv", "loongarch"})
"""Machines whose usual name carries the word size (``riscv64``)."""

GLOB_DAT_TYPES: Final[dict[int, int]] = {
    3: 6,  # R_386_GLOB_DAT
    20: 20,  # R_PPC_GLOB_DAT
    21: 20,  # R_PPC64_GLOB_DAT
    22: 10,  # R_390_GLOB_DAT
    40: 21,  # R_ARM_GLOB_DAT
    62: 6,  # R_X86_64_GLOB_DAT
    183: 1025,  # R_AARCH64_GLOB_DAT
}
"""Relocation type that fills a GOT slot, per ``e_machine`` (PLT slots come from DT_JMPREL)."""


def load_elf_evidence(path: str, *, digest: bool = True, language: bool = True) -> ElfEvidence:
    """Read the evidence the checks need from the ELF file at ``path``.

    Raises :class:`MalformedBinaryError` for anything that cannot be read or parsed.
    """
    return load_elf(path, None, digest=digest, language=language)


def load_elf_bytes(
    data: bytes, label: str, *, digest: bool = True, language: bool = True
) -> ElfEvidence:
    """The same, from bytes already in memory (a wheel member); ``label`` names it in errors."""
    return load_elf(label, data, digest=digest, language=language)


def load_elf(label: str, data: bytes | None, *, digest: bool, language: bool) -> ElfEvidence:
    """The file at ``label``, or the bytes ``data`` it names."""
    return read_and_parse(
        label,
        "ELF",
        data,
        lambda buf: _Reader(buf).evidence(digest=digest, language=language),
        (ELFError,),
    )


ELF_CLASSES: Final = {1: 32, 2: 64}
ELF_DATA: Final = {1: True, 2: False}
"""``EI_DATA`` -> little-endian."""
SHN_XINDEX: Final = 0xFFFF
U32_TYPECODE: Final = next(code for code in "IL" if array.array(code).itemsize == 4)
"""``array`` type of 32-bit words: bucket tables are read into one, not into a tuple of ints."""
_STRUCTS: dict[tuple[bool, int], ELFStructs] = {}


def _elf_structs(little_endian: bool, bits: int) -> ELFStructs:
    """pyelftools' header layouts, built once per byte order and class (0.3 ms each)."""
    key = (little_endian, bits)
    if key not in _STRUCTS:
        structs = ELFStructs(little_endian=little_endian, elfclass=bits)
        structs.create_basic_structs()
        _STRUCTS[key] = structs
    return _STRUCTS[key]


class _Reader:
    """Reads one mapped ELF file; every raw access is bounds-checked."""

    def __init__(self, data: mmap.mmap | bytes) -> None:
        self.data = data
        ident = self._bytes(0, 16)
        if ident[:4] != b"\x7fELF":
            raise ELFError(f"Magic number does not match: {ident[:4]!r}")
        if ident[4] not in ELF_CLASSES or ident[5] not in ELF_DATA:
            raise ELFError(f"invalid EI_CLASS {ident[4]} or EI_DATA {ident[5]}")
        self.bits = ELF_CLASSES[ident[4]]
        self.little_endian = ELF_DATA[ident[5]]
        self.end = "<" if self.little_endian else ">"
        self._bytes(0, 52 if self.bits == 32 else 64)  # the whole file header is there
        header_struct = _elf_structs(self.little_endian, self.bits).Elf_Ehdr
        stream = data if isinstance(data, mmap.mmap) else io.BytesIO(data)
        self.header = struct_parse(header_struct, stream, 0)  # type: ignore[arg-type]
        self.word = "Q" if self.bits == 64 else "I"
        self.string_budget = STRING_BYTES_PER_FILE_BYTE * len(data)
        """Bytes of names :meth:`_cstring` may still return."""
        self.segments = self._segments()

    def evidence(self, *, digest: bool, language: bool) -> ElfEvidence:
        e_machine = self._raw_half(18)
        table = self._sections()
        sections = _names(table)
        dyn_entries = self._dynamic_entries()
        values = _first_values(dyn_entries or [])
        dynamic = self._dynamic_info(dyn_entries, values) if dyn_entries is not None else None
        imports, exports = self._dynamic_symbols(values, sections)
        x86, aarch64 = self._gnu_properties(e_machine)
        return ElfEvidence(
            size=len(self.data),
            sha256=hashlib.sha256(self.data).hexdigest() if digest else None,
            elf_class=self.bits,
            little_endian=self.little_endian,
            e_type=self._raw_half(16),
            e_machine=e_machine,
            machine=_machine_name(e_machine, self.bits, self.little_endian),
            segments=self.segments,
            dynamic=dynamic,
            imports=imports,
            exports=exports,
            got_slots=self._got_slots(values, e_machine),
            x86_features=x86,
            aarch64_features=aarch64,
            comments=self._comments(sections),
            has_section_headers=bool(sections),
            has_symtab=any(sh_type == SHT_SYMTAB for sh_type, _, _ in sections.values()),
            has_debug_info=".debug_info" in sections or ".zdebug_info" in sections,
            language=read_language(self, table) if language else None,
        )

    # -- raw access --------------------------------------------------------------------

    def _span(self, offset: int, size: int) -> int:
        """The end of ``size`` bytes at ``offset``, which must lie inside the file."""
        if not in_file(len(self.data), offset, size):
            raise Truncated(f"{size} bytes at offset {offset:#x} lie outside the file")
        return offset + size

    def _bytes(self, offset: int, size: int) -> bytes:
        return self.data[offset : self._span(offset, size)]

    def _raw_half(self, offset: int) -> int:
        return int(struct.unpack_from(self.end + "H", self._bytes(offset, 2))[0])

    def _file_offset(self, vaddr: int, size: int = 1) -> int | None:
        """Map a virtual address to a file offset through the ``PT_LOAD`` segments."""
        for seg in self.segments:
            if (
                seg.p_type == PT_LOAD
                and seg.vaddr <= vaddr
                and vaddr + size <= seg.vaddr + seg.filesz
            ):
                return vaddr - seg.vaddr + seg.offset
        return None

    def _cstring(self, offset: int, limit: int) -> str:
        if offset < 0 or offset >= limit:
            raise Truncated(f"string at offset {offset:#x} lies outside its table")
        search_end = min(limit, offset + self.string_budget + 1)
        end = self.data.find(b"\0", offset, search_end)
        if end < 0:
            if search_end < limit:
                self._spend(search_end - offset)
            raise Truncated(f"unterminated string at offset {offset:#x}")
        self._spend(end - offset)
        return self.data[offset:end].decode("utf-8", "replace")

    def _spend(self, count: int) -> None:
        """Charge ``count`` bytes of names to :attr:`string_budget`."""
        self.string_budget -= count
        if self.string_budget < 0:
            raise Truncated(f"names exceed {STRING_BYTES_PER_FILE_BYTE}x the file size")

    # -- structures ----------------------------------------------------------------------

    def _segments(self) -> tuple[ElfSegment, ...]:
        header = self.header
        count, size, table = header["e_phnum"], header["e_phentsize"], header["e_phoff"]
        if count == 0:
            return ()
        check_limit(count, MAX_SEGMENTS, "e_phnum")
        layout = "IIQQQQQQ" if self.bits == 64 else "IIIIIIII"
        if size < struct.calcsize(layout):
            raise Truncated(f"e_phentsize {size} is too small")
        raw = self._bytes(table, count * size)
        segments = []
        for index in range(count):
            fields = struct.unpack_from(self.end + layout, raw, index * size)
            if self.bits == 64:
                p_type, flags, offset, vaddr, _, filesz, memsz, _ = fields
            else:
                p_type, offset, vaddr, _, filesz, memsz, flags, _ = fields
            segments.append(
                ElfSegment(
                    p_type=p_type,
                    flags=flags,
                    offset=offset,
                    vaddr=vaddr,
                    filesz=filesz,
                    memsz=memsz,
                )
            )
        return tuple(segments)

    def _sections(self) -> tuple[Section, ...]:
        """The section table, with names; empty when there is none."""
        size, table = self.header["e_shentsize"], self.header["e_shoff"]
        if table == 0:
            return ()
        layout = struct.Struct(self.end + ("IIQQQQIIQQ" if self.bits == 64 else "IIIIIIIIII"))
        if size < layout.size:
            raise Truncated(f"e_shentsize {size} is too small")
        # Extended numbering: e_shnum 0 and e_shstrndx SHN_XINDEX defer to section 0.
        first = layout.unpack_from(self._bytes(table, layout.size))
        count = self.header["e_shnum"] or first[5]
        if count == 0:
            return ()
        check_limit(count, MAX_SECTIONS, "e_shnum")
        names_index = self.header["e_shstrndx"]
        names_index = first[6] if names_index == SHN_XINDEX else names_index
        raw = self._bytes(table, count * size)
        headers = [layout.unpack_from(raw, index * size)[:7] for index in range(count)]
        if names_index >= count:
            raise Truncated(f"e_shstrndx {names_index} is not one of {count} sections")
        _, _, _, _, names_at, names_size, _ = headers[names_index]
        names_end = min(names_at + names_size, len(self.data))
        return tuple(
            Section(
                self._cstring(names_at + sh_name, names_end) if names_index else "",
                *fields,
            )
            for sh_name, *fields in headers
        )

    def _dynamic_entries(self) -> list[tuple[int, int]] | None:
        dynamic = next((seg for seg in self.segments if seg.p_type == PT_DYNAMIC), None)
        if dynamic is None:
            return None
        entry = struct.Struct(self.end + ("qQ" if self.bits == 64 else "iI"))
        count = min(dynamic.filesz // entry.size, MAX_DYNAMIC_TAGS + 1)
        raw = self._bytes(dynamic.offset, count * entry.size)
        entries = []
        for tag, value in entry.iter_unpack(raw):
            if tag == DT_NULL:
                break
            entries.append((tag, value))
        check_limit(len(entries), MAX_DYNAMIC_TAGS, "dynamic entries before DT_NULL")
        return entries

    def _dynamic_info(self, entries: list[tuple[int, int]], values: dict[int, int]) -> DynamicInfo:
        strtab = self._file_offset(values.get(DT_STRTAB, -1))
        strsz = values.get(DT_STRSZ, 0)

        def string(value: int) -> str:
            if strtab is None:
                raise Truncated("DT_STRTAB does not map into the file")
            limit = min(strtab + strsz, len(self.data)) if strsz else len(self.data)
            return self._cstring(strtab + value, limit)

        def optional(tag: int) -> str | None:
            return string(values[tag]) if tag in values else None

        return DynamicInfo(
            tags=frozenset(tag for tag, _ in entries),
            flags=values.get(DT_FLAGS, 0),
            flags_1=values.get(DT_FLAGS_1, 0),
            needed=tuple(string(value) for tag, value in entries if tag == DT_NEEDED),
            soname=optional(DT_SONAME),
            rpath=optional(DT_RPATH),
            runpath=optional(DT_RUNPATH),
        )

    def _symbol_table(
        self, values: dict[int, int], sections: dict[str, tuple[int, int, int]]
    ) -> tuple[int, int] | None:
        """File offset and entry count of the dynamic symbol table."""
        entsize = 24 if self.bits == 64 else 16
        if ".dynsym" in sections and sections[".dynsym"][0] == SHT_DYNSYM:
            _, offset, size = sections[".dynsym"]
            return offset, size // entsize
        if DT_SYMTAB not in values:
            return None
        table_at = self._file_offset(values[DT_SYMTAB], entsize)
        if table_at is None:
            raise Truncated("DT_SYMTAB does not map into the file")
        count = self._hash_symbol_count(values)
        return table_at, min(count, (len(self.data) - table_at) // entsize)

    def _hash_symbol_count(self, values: dict[int, int]) -> int:
        """Number of dynamic symbols from DT_HASH (nchain) or DT_GNU_HASH (highest index)."""
        if DT_HASH in values and (offset := self._file_offset(values[DT_HASH], 8)) is not None:
            return int(struct.unpack_from(self.end + "I", self._bytes(offset + 4, 4))[0])
        if DT_GNU_HASH not in values:
            return 0
        offset = self._file_offset(values[DT_GNU_HASH], 16)
        if offset is None:
            raise Truncated("DT_GNU_HASH does not map into the file")
        nbuckets, symoffset, bloom_size, _ = struct.unpack_from(
            self.end + "IIII", self._bytes(offset, 16)
        )
        buckets_at = offset + 16 + bloom_size * (self.bits // 8)
        buckets = array.array(U32_TYPECODE, self._bytes(buckets_at, 4 * nbuckets))
        check_limit(nbuckets, MAX_HASH_BUCKETS, "DT_GNU_HASH buckets")
        if (sys.byteorder == "little") != self.little_endian:
            buckets.byteswap()
        highest = max(buckets, default=0)
        if highest < symoffset:
            return int(symoffset)
        chain_at = buckets_at + 4 * nbuckets + 4 * (highest - symoffset)
        for _ in range(MAX_HASH_CHAIN):
            if struct.unpack_from(self.end + "I", self._bytes(chain_at, 4))[0] & 1:
                return int(highest) + 1
            highest += 1
            chain_at += 4
        raise OverLimit(over("last DT_GNU_HASH chain", MAX_HASH_CHAIN + 1, MAX_HASH_CHAIN))

    def _dynamic_symbols(
        self, values: dict[int, int], sections: dict[str, tuple[int, int, int]]
    ) -> tuple[frozenset[str], frozenset[str]]:
        table = self._symbol_table(values, sections)
        strtab = self._file_offset(values.get(DT_STRTAB, -1))
        if table is None or strtab is None:
            return frozenset(), frozenset()
        offset, count = table
        limit = min(strtab + values.get(DT_STRSZ, len(self.data)), len(self.data))
        layout = "IBBHQQ" if self.bits == 64 else "IIIBBH"
        symbol = struct.Struct(self.end + layout)
        imports: set[str] = set()
        exports: set[str] = set()
        raw = self._bytes(offset, count * symbol.size)
        check_limit(count, MAX_DYNAMIC_SYMBOLS, "dynamic symbols")
        names = self.data[strtab:limit] if strtab < limit else b""
        find, starts, spent = names.find, names.startswith, 0
        for name_at, info, _, shndx, _, _ in symbol_rows(symbol.iter_unpack(raw), self.bits):
            if not name_at or info >> 4 not in (1, 2):  # STB_GLOBAL, STB_WEAK
                continue
            if shndx and not starts(MODULE_INIT, name_at):
                continue  # an export the checks do not read
            end = find(b"\0", name_at)
            if end < 0:
                self._cstring(strtab + name_at, limit)  # raises: outside or unterminated
            spent += end - name_at
            if spent > self.string_budget:
                self._spend(spent)  # raises: many names into one long string
            name = names[name_at:end].decode("utf-8", "replace")
            (exports if shndx else imports).add(name)
        self._spend(spent)
        return frozenset(imports), frozenset(exports)

    def _relocations(
        self, address: int, size: int, rela: bool, skip: int = 0
    ) -> Iterator[tuple[int, int]]:
        """``(r_offset, type)`` of each entry of a REL or RELA table, after the first ``skip``."""
        if not size:
            return
        offset = self._file_offset(address, size)
        if offset is None:
            raise Truncated(f"relocation table at {address:#x} does not map into the file")
        layout = {(64, True): "QQq", (64, False): "QQ", (32, True): "IIi", (32, False): "II"}
        entry = struct.Struct(self.end + layout[self.bits, rela])
        skipped = min(skip, size // entry.size) * entry.size
        offset, size = offset + skipped, size - skipped
        usable = size - size % entry.size
        check_limit(usable // entry.size, MAX_RELOCATIONS, f"relocations at {address:#x}")
        type_mask = 0xFFFFFFFF if self.bits == 64 else 0xFF
        for fields in entry.iter_unpack(self._bytes(offset, usable)):
            yield fields[0], fields[1] & type_mask

    def _got_slots(self, values: dict[int, int], e_machine: int) -> tuple[int, ...]:
        slots = {
            r_offset
            for r_offset, _ in self._relocations(
                values.get(DT_JMPREL, 0),
                values.get(DT_PLTRELSZ, 0),
                values.get(DT_PLTREL) == DT_RELA,
            )
        }
        glob_dat = GLOB_DAT_TYPES.get(e_machine)
        if glob_dat is not None:
            # DT_RELACOUNT/DT_RELCOUNT leading entries are applied as R_*_RELATIVE by glibc
            # whatever their type, so they bind no GOT slot; skipping them keeps a library
            # with 400k relative relocations cheap.
            for address_tag, size_tag, count_tag, rela in (
                (DT_RELA, DT_RELASZ, DT_RELACOUNT, True),
                (DT_REL, DT_RELSZ, DT_RELCOUNT, False),
            ):
                slots.update(
                    r_offset
                    for r_offset, r_type in self._relocations(
                        values.get(address_tag, 0),
                        values.get(size_tag, 0),
                        rela,
                        values.get(count_tag, 0),
                    )
                    if r_type == glob_dat
                )
        return tuple(sorted(slots))

    def _gnu_properties(self, e_machine: int) -> tuple[int | None, int | None]:
        """Feature bits from ``NT_GNU_PROPERTY_TYPE_0`` notes in the note segments."""
        found: dict[int, int] = {}
        align = 8 if self.bits == 64 else 4
        note_segments = [s for s in self.segments if s.p_type == PT_GNU_PROPERTY]
        note_segments = note_segments or [s for s in self.segments if s.p_type == PT_NOTE]
        check_limit(sum(seg.filesz for seg in note_segments), MAX_NOTE_BYTES, "note bytes")
        for seg in note_segments:
            for n_type, name, desc in self._notes(seg.offset, seg.filesz):
                if n_type != NT_GNU_PROPERTY_TYPE_0 or name != b"GNU\0":
                    continue
                at = 0
                while at + 8 <= len(desc):
                    pr_type, pr_datasz = struct.unpack_from(self.end + "II", desc, at)
                    data = desc[at + 8 : at + 8 + pr_datasz]
                    if pr_datasz == 4 and len(data) == 4:
                        found.setdefault(pr_type, struct.unpack_from(self.end + "I", data)[0])
                    at += 8 + -(-pr_datasz // align) * align
        x86 = found.get(GNU_PROPERTY_X86_FEATURE_1_AND) if e_machine in (3, 62) else None
        arm = found.get(GNU_PROPERTY_AARCH64_FEATURE_1_AND) if e_machine == 183 else None
        return x86, arm

    def _notes(self, offset: int, size: int) -> Iterator[tuple[int, bytes, bytes]]:
        raw = self._bytes(offset, size)
        at = 0
        while at + 12 <= len(raw):
            namesz, descsz, n_type = struct.unpack_from(self.end + "III", raw, at)
            name_at = at + 12
            desc_at = name_at + -(-namesz // 4) * 4
            if desc_at + descsz > len(raw):
                raise Truncated(f"note at offset {offset + at:#x} runs past its segment")
            yield n_type, raw[name_at : name_at + namesz], raw[desc_at : desc_at + descsz]
            at = desc_at + -(-descsz // 4) * 4

    def _comments(self, sections: dict[str, tuple[int, int, int]]) -> tuple[str, ...]:
        if ".comment" not in sections:
            return ()
        _, offset, size = sections[".comment"]
        raw = self._bytes(offset, min(size, MAX_COMMENT_BYTES))
        strings = (part.decode("utf-8", "replace") for part in raw.split(b"\0"))
        return tuple(dict.fromkeys(text for text in strings if text))


def _names(table: tuple[Section, ...]) -> dict[str, tuple[int, int, int]]:
    """Section name -> (type, offset, size) of the first section with that name."""
    found: dict[str, tuple[int, int, int]] = {}
    for section in table:
        found.setdefault(section.name, (section.type, section.offset, section.size))
    return found


def _first_values(entries: list[tuple[int, int]]) -> dict[int, int]:
    """Tag -> value of the first entry with that tag (what the loader uses)."""
    values: dict[int, int] = {}
    for tag, value in entries:
        values.setdefault(tag, value)
    return values


def _machine_name(e_machine: int, bits: int, little_endian: bool) -> str:
    """The usual platform name: ``x86_64``, ``aarch64``, ``ppc64le``, ``riscv64``, ``s390x``."""
    name = MACHINES.get(e_machine, f"EM_{e_machine}")
    if name == "s390" and bits == 64:
        return "s390x"
    if name in SIZED_MACHINES:
        return f"{name}{bits}"
    return f"{name}le" if name == "ppc64" and little_endian else name
