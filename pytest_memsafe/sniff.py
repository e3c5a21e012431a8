"""Cheap format identification from magic bytes (stdlib only, no parsing)."""

from __future__ import annotations

from typing import Final

from .model import BinaryFormat

__all__ = ["SNIFF_BYTES", "sniff_format"]

SNIFF_BYTES: Final = 64
"""How many leading bytes :func:`sniff_format` needs."""

_MACHO_MAGICS: Final = frozenset(
    {
        b"\xfe\xed\xfa\xce",  # MH_MAGIC
        b"\xce\xfa\xed\xfe",  # MH_CIGAM
        b"\xfe\xed\xfa\xcf",  # MH_MAGIC_64
        b"\xcf\xfa\xed\xfe",  # MH_CIGAM_64
        b"\xca\xfe\xba\xbe",  # FAT_MAGIC (also Java class files; checked below)
        b"\xca\xfe\xba\xbf",  # FAT_MAGIC_64
    }
)


def sniff_format(head: bytes) -> BinaryFormat | None:
    """Return the binary format that ``head`` (the first bytes of a file) starts with.

    A text file (such as a ``libc.so`` linker script) or an unknown format gives ``None``.
    """
    if head[:4] == b"\x7fELF" and len(head) >= 16 and head[4] in (1, 2) and head[5] in (1, 2):
        return BinaryFormat.ELF
    if head[:2] == b"MZ" and len(head) >= 64:
        return BinaryFormat.PE
    if head[:4] in _MACHO_MAGICS:
        if head[:4] == b"\xca\xfe\xba\xbe" and int.from_bytes(head[4:8], "big") >= 0x20:
            return None  # a Java class file: its version field sits where nfat_arch is
        return BinaryFormat.MACHO
    return None
