"""ELF evidence records and the ELF constants they are read with (no parser imported).

Checks import these types and constants; only :mod:`pytest_memsafe.evidence.elf` reads files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = [
    "DT_BIND_NOW",
    "DT_FLAGS",
    "DT_FLAGS_1",
    "DT_GNU_HASH",
    "DT_HASH",
    "DT_JMPREL",
    "DT_NEEDED",
    "DT_NULL",
    "DT_PLTREL",
    "DT_PLTRELSZ",
    "DT_REL",
    "DT_RELA",
    "DT_RELACOUNT",
    "DT_RELASZ",
    "DT_RELCOUNT",
    "DT_RELSZ",
    "DT_RPATH",
    "DT_RUNPATH",
    "DT_SONAME",
    "DT_STRSZ",
    "DT_STRTAB",
    "DT_SYMTAB",
    "DT_TEXTREL",
    "GNU_PROPERTY_AARCH64_FEATURE_1_AND",
    "GNU_PROPERTY_X86_FEATURE_1_AND",
    "NT_GNU_PROPERTY_TYPE_0",
    "PF_R",
    "PF_W",
    "PF_X",
    "PT_DYNAMIC",
    "PT_GNU_PROPERTY",
    "PT_GNU_RELRO",
    "PT_GNU_STACK",
    "PT_LOAD",
    "PT_NOTE",
    "PT_TLS",
    "SHT_DYNSYM",
    "SHT_SYMTAB",
    "DynamicInfo",
    "ElfEvidence",
    "ElfSegment",
]

PT_LOAD: Final = 1
PT_DYNAMIC: Final = 2
PT_NOTE: Final = 4
PT_TLS: Final = 7
PT_GNU_STACK: Final = 0x6474E551
PT_GNU_RELRO: Final = 0x6474E552
PT_GNU_PROPERTY: Final = 0x6474E553
PF_X: Final = 1
PF_W: Final = 2
PF_R: Final = 4

SHT_SYMTAB: Final = 2
SHT_DYNSYM: Final = 11

DT_NULL: Final = 0
DT_NEEDED: Final = 1
DT_PLTRELSZ: Final = 2
DT_HASH: Final = 4
DT_STRTAB: Final = 5
DT_SYMTAB: Final = 6
DT_RELA: Final = 7
DT_RELASZ: Final = 8
DT_STRSZ: Final = 10
DT_SONAME: Final = 14
DT_RPATH: Final = 15
DT_REL: Final = 17
DT_RELSZ: Final = 18
DT_PLTREL: Final = 20
DT_TEXTREL: Final = 22
DT_JMPREL: Final = 23
DT_BIND_NOW: Final = 24
DT_RUNPATH: Final = 29
DT_FLAGS: Final = 30
DT_GNU_HASH: Final = 0x6FFFFEF5
DT_RELACOUNT: Final = 0x6FFFFFF9
DT_RELCOUNT: Final = 0x6FFFFFFA
DT_FLAGS_1: Final = 0x6FFFFFFB

DF_TEXTREL: Final = 0x4
DF_BIND_NOW: Final = 0x8
DF_1_NOW: Final = 0x1
DF_1_NOOPEN: Final = 0x40
DF_1_PIE: Final = 0x08000000
ET_REL: Final = 1
ET_EXEC: Final = 2

NT_GNU_PROPERTY_TYPE_0: Final = 5
GNU_PROPERTY_AARCH64_FEATURE_1_AND: Final = 0xC0000000
GNU_PROPERTY_X86_FEATURE_1_AND: Final = 0xC0000002


@dataclass(frozen=True, slots=True, kw_only=True)
class ElfSegment:
    """One program header."""

    p_type: int
    flags: int
    offset: int
    vaddr: int
    filesz: int
    memsz: int

    @property
    def writable(self) -> bool:
        """``PF_W`` is set."""
        return bool(self.flags & PF_W)

    @property
    def executable(self) -> bool:
        """``PF_X`` is set."""
        return bool(self.flags & PF_X)


@dataclass(frozen=True, slots=True, kw_only=True)
class DynamicInfo:
    """The dynamic table, read through ``PT_DYNAMIC``."""

    tags: frozenset[int]
    """Every ``d_tag`` present."""
    flags: int
    """``DT_FLAGS`` (0 when absent)."""
    flags_1: int
    """``DT_FLAGS_1`` (0 when absent)."""
    needed: tuple[str, ...]
    soname: str | None
    rpath: str | None
    runpath: str | None


NAMING_SCHEMES: Final = (
    "rust", "c++", "cython", "mypyc", "fortran", "go", "zig", "nim", "c", "asm", "toolchain",
)  # fmt: skip
"""How ``.symtab`` function names are sorted into languages (``c`` = unmangled, not toolchain)."""

MARKERS: Final = (
    "rust-std", "rust-panic", "pyo3", "cython", "mypyc", "pybind11", "nanobind",
    "boost-python", "go-buildinfo", "nim", "cffi", "f2py", "c-library",
)  # fmt: skip
"""Ids of the language and binder markers found in read-only data or section names."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LanguageEvidence:
    """Raw signals of which compilers and languages produced an ELF file (no verdict).

    Filled by :mod:`pytest_memsafe.evidence.elf_language`; see reference/language.md §1, §3.
    """

    symtab_bytes: tuple[tuple[str, int], ...] | None
    """Function bytes per naming scheme (:data:`NAMING_SCHEMES`) from ``.symtab``, sorted by
    scheme; sizes deduplicated by address, toolchain code under ``toolchain``. ``None`` when
    there is no ``.symtab``."""
    source_files: tuple[str, ...]
    """Distinct ``STT_FILE`` names (sorted, capped), e.g. ``csum.c``, ``lib.abc123-cgu.0``."""
    markers: frozenset[str]
    """Ids from :data:`MARKERS` whose evidence was seen."""
    marker_text: tuple[tuple[str, str], ...]
    """One example of the matched text per marker id (for the report's evidence list)."""
    crates: tuple[str, ...]
    """``name-version`` of Rust crates seen in ``.cargo/registry`` paths (sorted, capped)."""
    eh_frame_fde_bytes: int
    """Bytes of code covered by all ``.eh_frame`` FDEs (their address ranges). When
    :attr:`symtab_bytes` has function bytes (the shares come from there), the scan stops at
    the first GCC-style FDE, and both ``eh_frame`` figures cover only the FDEs read."""
    eh_frame_gcc_bytes: int
    """Bytes covered by FDEs whose CFA program uses ``DW_CFA_remember_state`` (GCC on x86-64)."""
    dwarf_producers: tuple[str, ...]
    """Distinct ``DW_AT_producer`` strings of the compilation units (empty without DWARF)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ElfEvidence:
    """Raw facts about one ELF file, with no judgement in them."""

    size: int
    sha256: str | None
    """Hex digest of the whole file; ``None`` when no report needs it (hashing costs ~0.5 ms/MB)."""
    elf_class: int
    """32 or 64."""
    little_endian: bool
    e_type: int
    e_machine: int
    machine: str
    segments: tuple[ElfSegment, ...]
    dynamic: DynamicInfo | None
    """``None`` when there is no ``PT_DYNAMIC`` (a static or relocatable object)."""
    imports: frozenset[str]
    """Undefined names in the dynamic symbol table (no version suffix)."""
    exports: frozenset[str]
    """The defined global/weak names in the dynamic symbol table that the checks read: the
    ``PyInit_*`` entry points (a library's other exports made up two thirds of a stored
    entry and were never read)."""
    got_slots: tuple[int, ...]
    """``r_offset`` of every PLT (``DT_JMPREL``) and ``GLOB_DAT`` relocation, sorted."""
    x86_features: int | None
    """``GNU_PROPERTY_X86_FEATURE_1_AND`` bits; ``None`` when no such property exists."""
    aarch64_features: int | None
    """``GNU_PROPERTY_AARCH64_FEATURE_1_AND`` bits; ``None`` when absent."""
    comments: tuple[str, ...]
    """Distinct ``.comment`` strings, in file order."""
    has_section_headers: bool
    has_symtab: bool
    has_debug_info: bool
    language: LanguageEvidence | None = None
    """Language signals; ``None`` when they were not read."""

    def segments_of(self, p_type: int) -> tuple[ElfSegment, ...]:
        """The program headers of one type, in file order."""
        return tuple(seg for seg in self.segments if seg.p_type == p_type)

    @property
    def is_python_extension(self) -> bool:
        """It exports a ``PyInit_*`` function (auditwheel's test)."""
        return any(name.startswith("PyInit_") for name in self.exports)
