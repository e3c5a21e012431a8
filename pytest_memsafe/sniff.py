"""Cheap format identification from magic bytes (stdlib only, no parsing)."""

from __future__ import annotations

from typing import Final

from .model import BinaryFormat

__all__ = [
    "MACHO_IMAGE_MAGICS",
    "MAX_FAT_SLICES",
    "SNIFF_BYTES",
    "arch_name",
    "fat_slices",
    "slice_names",
    "sniff_format",
]

MAX_FAT_SLICES: Final = 31
"""Most slices a universal file may list: like ``file(1)``, a larger count is a Java class
file, whose version field sits where the count is."""
SNIFF_BYTES: Final = 8 + 32 * MAX_FAT_SLICES
"""How many leading bytes :func:`sniff_format` and :func:`fat_slices` need."""
FAT_MAGIC: Final = b"\xca\xfe\xba\xbe"
FAT_MAGIC_64: Final = b"\xca\xfe\xba\xbf"

MACHO_IMAGE_MAGICS: Final[dict[bytes, tuple[str, int]]] = {
    b"\xfe\xed\xfa\xce": (">", 32),  # MH_MAGIC
    b"\xce\xfa\xed\xfe": ("<", 32),  # MH_CIGAM
    b"\xfe\xed\xfa\xcf": (">", 64),  # MH_MAGIC_64
    b"\xcf\xfa\xed\xfe": ("<", 64),  # MH_CIGAM_64
}
"""A Mach-O image's magic -> (``struct`` byte order, word size)."""


def sniff_format(head: bytes) -> BinaryFormat | None:
    """Return the binary format that ``head`` (the first bytes of a file) starts with.

    A text file (such as a ``libc.so`` linker script) or an unknown format gives ``None``.
    """
    if head[:4] == b"\x7fELF" and len(head) >= 16 and head[4] in (1, 2) and head[5] in (1, 2):
        return BinaryFormat.ELF
    if head[:2] == b"MZ" and len(head) >= 64:
        return BinaryFormat.PE
    if head[:4] in MACHO_IMAGE_MAGICS or head[:4] in (FAT_MAGIC, FAT_MAGIC_64):
        if head[:4] == FAT_MAGIC and int.from_bytes(head[4:8], "big") > MAX_FAT_SLICES:
            return None  # a Java class file: its version field sits where nfat_arch is
        return BinaryFormat.MACHO
    return None


CPU_ARCH_ABI64: Final = 0x01000000
CPU_ARCH_ABI64_32: Final = 0x02000000
CPU_TYPES: Final[dict[int, str]] = {
    7: "i386",
    7 | CPU_ARCH_ABI64: "x86_64",
    12: "arm",
    12 | CPU_ARCH_ABI64: "arm64",
    12 | CPU_ARCH_ABI64_32: "arm64_32",
    18: "ppc",
    18 | CPU_ARCH_ABI64: "ppc64",
}
CPU_SUBTYPE_ARM64E: Final = 2
CPU_SUBTYPE_MASK: Final = 0x00FFFFFF


def arch_name(cputype: int, cpusubtype: int) -> str:
    """The name Apple's tools give a CPU (``arm64``, ``arm64e``, ``x86_64``, ...)."""
    name = CPU_TYPES.get(cputype, f"cpu{cputype:#x}")
    if name == "arm64" and cpusubtype & CPU_SUBTYPE_MASK == CPU_SUBTYPE_ARM64E:
        return "arm64e"
    return name


def slice_names(cpus: list[tuple[int, int]]) -> tuple[str, ...]:
    """One distinct name per slice, in file order: a repeated CPU gets ``#2``, ``#3``..."""
    names: list[str] = []
    for cputype, cpusubtype in cpus:
        name = arch_name(cputype, cpusubtype)
        count = sum(1 for taken in names if taken.split("#")[0] == name)
        names.append(f"{name}#{count + 1}" if count else name)
    return tuple(names)


def fat_slices(head: bytes) -> tuple[str, ...] | None:
    """The slice names a universal Mach-O file's header lists (``None``: not universal).

    Only the table is read; whether the slices exist is the loader's business.
    """
    if head[:4] not in (FAT_MAGIC, FAT_MAGIC_64) or len(head) < 8:
        return None
    count = int.from_bytes(head[4:8], "big")
    entry = 20 if head[:4] == FAT_MAGIC else 32
    if not 0 < count <= MAX_FAT_SLICES or 8 + count * entry > len(head):
        return None
    cpus = [
        (
            int.from_bytes(head[at : at + 4], "big", signed=True),
            int.from_bytes(head[at + 4 : at + 8], "big"),
        )
        for at in range(8, 8 + count * entry, entry)
    ]
    return slice_names(cpus)
