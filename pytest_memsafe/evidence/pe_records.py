"""PE evidence records and the constants that give them meaning (no parser import).

Constants: reference/checks.md §1b (winnt.h names).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = [
    "DLLCHAR_DYNAMIC_BASE",
    "DLLCHAR_FORCE_INTEGRITY",
    "DLLCHAR_GUARD_CF",
    "DLLCHAR_HIGH_ENTROPY_VA",
    "DLLCHAR_NO_SEH",
    "DLLCHAR_NX_COMPAT",
    "EX_DLLCHAR_CET_COMPAT",
    "EX_DLLCHAR_CET_STRICT",
    "FILE_DLL",
    "FILE_RELOCS_STRIPPED",
    "GUARD_CF_FUNCTION_TABLE_PRESENT",
    "GUARD_CF_INSTRUMENTED",
    "GUARD_XFG_ENABLED",
    "SCN_MEM_EXECUTE",
    "SCN_MEM_SHARED",
    "SCN_MEM_WRITE",
    "WATCHED_SYMBOLS",
    "LoadConfig",
    "PeEvidence",
    "PeSection",
]

FILE_RELOCS_STRIPPED: Final = 0x0001
FILE_DLL: Final = 0x2000

DLLCHAR_HIGH_ENTROPY_VA: Final = 0x0020
DLLCHAR_DYNAMIC_BASE: Final = 0x0040
DLLCHAR_FORCE_INTEGRITY: Final = 0x0080
DLLCHAR_NX_COMPAT: Final = 0x0100
DLLCHAR_NO_SEH: Final = 0x0400
DLLCHAR_GUARD_CF: Final = 0x4000

GUARD_CF_INSTRUMENTED: Final = 0x100
GUARD_CF_FUNCTION_TABLE_PRESENT: Final = 0x400
GUARD_XFG_ENABLED: Final = 0x800000

EX_DLLCHAR_CET_COMPAT: Final = 0x01
EX_DLLCHAR_CET_STRICT: Final = 0x02

WATCHED_SYMBOLS: Final = frozenset({"__stack_chk_fail", "__stack_chk_guard"})
"""COFF symbols worth finding among the defined ones (nothing else is decoded)."""

SCN_MEM_SHARED: Final = 0x10000000
SCN_MEM_EXECUTE: Final = 0x20000000
SCN_MEM_WRITE: Final = 0x80000000


@dataclass(frozen=True, slots=True)
class PeSection:
    """One section header: its name and ``Characteristics``."""

    name: str
    characteristics: int

    @property
    def writable(self) -> bool:
        return bool(self.characteristics & SCN_MEM_WRITE)

    @property
    def executable(self) -> bool:
        return bool(self.characteristics & SCN_MEM_EXECUTE)

    @property
    def shared(self) -> bool:
        return bool(self.characteristics & SCN_MEM_SHARED)


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadConfig:
    """The load-config fields the checks use; a field beyond the directory's own ``Size``
    is ``None`` (absent, whatever bytes follow)."""

    size: int
    security_cookie: int | None
    se_handler_table: int | None
    se_handler_count: int | None
    guard_cf_check_function: int | None
    guard_cf_function_table: int | None
    guard_cf_function_count: int | None
    guard_flags: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class PeEvidence:
    """Raw facts about one PE file, with no judgement in them."""

    size: int
    sha256: str | None
    machine: str
    """``x86_64``, ``i386``, ``arm64``, ... (``IMAGE_FILE_MACHINE_<n>`` otherwise)."""
    pe32_plus: bool
    characteristics: int
    """``FILE_HEADER.Characteristics``."""
    dll_characteristics: int
    """``OPTIONAL_HEADER.DllCharacteristics``."""
    image_base: int
    section_alignment: int
    reloc_size: int
    """Size of the base-relocation directory (0: the image cannot be moved)."""
    certificate_size: int
    """Size of the certificate (Authenticode) directory (0: unsigned)."""
    sections: tuple[PeSection, ...]
    imports: frozenset[str]
    """Imported function names (by-ordinal imports are left out)."""
    import_dlls: tuple[str, ...]
    """Imported DLL names, in directory order."""
    exports: frozenset[str]
    linked_in: frozenset[str]
    """Names of :data:`WATCHED_SYMBOLS` defined in the COFF symbol table (MinGW keeps one
    unless stripped): a stack protector linked statically shows only here."""
    load_config: LoadConfig | None
    """``None`` when there is no load-config directory."""
    rust_marker: str | None = None
    """A rustc trace in the file (std source path, panic message, crate path), if any."""
    ex_dll_characteristics: int | None
    """Payload of the ``IMAGE_DEBUG_TYPE_EX_DLLCHARACTERISTICS`` debug entry, if any."""

    @property
    def is_python_extension(self) -> bool:
        """It exports a ``PyInit_*`` function."""
        return any(name.startswith("PyInit_") for name in self.exports)
