"""Mach-O evidence records, constants and CPU names (no parser import).

Constants: reference/checks.md §1c (``<mach-o/loader.h>``, ``<kern/cs_blobs.h>`` names).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = [
    "CS_ADHOC",
    "CS_LINKER_SIGNED",
    "CS_RUNTIME",
    "MH_ALLOW_STACK_EXECUTION",
    "MH_BUNDLE",
    "MH_DYLIB",
    "MH_EXECUTE",
    "MH_PIE",
    "VM_PROT_EXECUTE",
    "VM_PROT_WRITE",
    "CodeSignature",
    "MachoEvidence",
    "MachoSegment",
    "MachoSlice",
]

MH_EXECUTE: Final = 0x2
MH_DYLIB: Final = 0x6
MH_BUNDLE: Final = 0x8
FILETYPES: Final[dict[int, str]] = {
    0x1: "MH_OBJECT",
    MH_EXECUTE: "MH_EXECUTE",
    0x5: "MH_CORE",
    MH_DYLIB: "MH_DYLIB",
    0x7: "MH_DYLINKER",
    MH_BUNDLE: "MH_BUNDLE",
    0xA: "MH_DSYM",
}

MH_TWOLEVEL: Final = 0x80
MH_ALLOW_STACK_EXECUTION: Final = 0x20000
MH_PIE: Final = 0x200000

VM_PROT_WRITE: Final = 0x2
VM_PROT_EXECUTE: Final = 0x4

CS_ADHOC: Final = 0x2
CS_RUNTIME: Final = 0x10000
CS_LINKER_SIGNED: Final = 0x20000


@dataclass(frozen=True, slots=True)
class MachoSegment:
    """One ``LC_SEGMENT``/``LC_SEGMENT_64``: its name and protections."""

    name: str
    initprot: int
    maxprot: int
    vmaddr: int
    vmsize: int

    @property
    def writable_and_executable(self) -> bool:
        both = VM_PROT_WRITE | VM_PROT_EXECUTE
        return self.initprot & both == both


@dataclass(frozen=True, slots=True, kw_only=True)
class CodeSignature:
    """What the ``LC_CODE_SIGNATURE`` blob says (``flags`` of its CodeDirectory)."""

    flags: int | None
    """CodeDirectory flags; ``None`` when the blob holds no CodeDirectory."""
    identifier: str | None
    has_certificates: bool
    """A CMS blob with content: signed with a certificate, not only ad hoc."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MachoSlice:
    """Raw facts about one Mach-O image (a thin file, or one slice of a universal file)."""

    arch: str
    """Distinct slice name (:func:`slice_names`): ``arm64``, ``x86_64``, ``arm64e``..."""
    size: int
    """Bytes of this image (the whole file for a thin file)."""
    sha256: str | None
    """Digest of the whole file the slice is in."""
    bits: int
    filetype: int
    flags: int
    segments: tuple[MachoSegment, ...]
    rpaths: tuple[str, ...]
    """``LC_RPATH`` paths, in load-command order."""
    dylibs: tuple[str, ...]
    """Install names of the libraries it loads (``LC_LOAD_DYLIB``, weak, reexport, ...)."""
    install_name: str | None
    """``LC_ID_DYLIB`` of a dylib."""
    imports: frozenset[str]
    """Undefined external symbols, with the Mach-O leading underscore removed (C names)."""
    import_sources: tuple[str, ...]
    """Where imports were read: ``symtab`` and/or ``chained-fixups``."""
    exports: frozenset[str]
    """Defined external symbols, leading underscore removed."""
    code_signature: CodeSignature | None
    """``None`` when there is no ``LC_CODE_SIGNATURE``."""
    rust_marker: str | None = None
    """A rustc trace in the image (std source path, panic message, crate path), if any."""

    @property
    def machine(self) -> str:
        """The slice's CPU, without the ``#n`` of a repeated CPU."""
        return self.arch.split("#")[0]

    @property
    def segment_names(self) -> frozenset[str]:
        return frozenset(segment.name for segment in self.segments)

    @property
    def filetype_name(self) -> str:
        return FILETYPES.get(self.filetype, f"filetype {self.filetype:#x}")

    @property
    def is_python_extension(self) -> bool:
        """It exports a ``PyInit_*`` function."""
        return any(name.startswith("PyInit_") for name in self.exports)


@dataclass(frozen=True, slots=True, kw_only=True)
class MachoEvidence:
    """A Mach-O file: one slice when thin, several when universal ("fat")."""

    size: int
    sha256: str | None
    fat: bool
    slices: tuple[MachoSlice, ...]

    def slice(self, arch: str | None) -> MachoSlice | None:
        """The slice named ``arch``; with ``None``, the only slice of a thin file."""
        if arch is None:
            return self.slices[0] if not self.fat and self.slices else None
        return next((piece for piece in self.slices if piece.arch == arch), None)
