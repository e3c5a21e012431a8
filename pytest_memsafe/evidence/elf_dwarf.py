"""DWARF-encoded data in ELF files: ``.eh_frame`` call frame information and the producers
of ``.debug_info`` units (evidence layer; knows no ELF layout, never judges).

Direct decoders with ``struct`` and ``re``: pyelftools costs ~250 µs per FDE and reads every
``.debug_*`` section to find one producer (reference/language.md §5). They work on byte
ranges the caller has checked against the file, and only trust their contents as far as
they parse: a malformed entry ends the decode and what was read so far is returned, so
broken unwind or debug info never fails the file. Every loop advances through its range or
spends a capped budget, so crafted input stays linear.
"""

from __future__ import annotations

import mmap
import re
import struct
from collections.abc import Callable, Iterator, Mapping
from typing import Final, Literal, NamedTuple

__all__ = ["eh_frame_address", "fde_entries", "unit_producers"]

Buffer = bytes | mmap.mmap

# -- call frame information (.eh_frame) -----------------------------------------------------

DW_CFA_REMEMBER_STATE: Final = 0x0A
LEB, BLOCK, ADDRESS = -1, -2, -3
CFA_OPERANDS: Final[dict[int, tuple[int, ...]]] = {
    0x00: (), 0x01: (ADDRESS,), 0x02: (1,), 0x03: (2,), 0x04: (4,), 0x05: (LEB, LEB),
    0x06: (LEB,), 0x07: (LEB,), 0x08: (LEB,), 0x09: (LEB, LEB), 0x0A: (), 0x0B: (),
    0x0C: (LEB, LEB), 0x0D: (LEB,), 0x0E: (LEB,), 0x0F: (BLOCK,), 0x10: (LEB, BLOCK),
    0x11: (LEB, LEB), 0x12: (LEB, LEB), 0x13: (LEB,), 0x14: (LEB, LEB), 0x15: (LEB, LEB),
    0x16: (LEB, BLOCK), 0x1D: (8,), 0x2C: (), 0x2D: (), 0x2E: (LEB,), 0x2F: (LEB, LEB),
}  # fmt: skip
"""Operands of each ``DW_CFA_*`` opcode with no operand in its low bits (DWARF 5 §6.4.2
plus the GNU and AArch64 extensions): fixed sizes, LEB128 numbers, LEB128-sized blocks,
target addresses."""
CFA_TABLE: Final = tuple(
    () if op & 0xC0 in (0x40, 0xC0) else (LEB,) if op & 0xC0 == 0x80 else CFA_OPERANDS.get(op)
    for op in range(256)
)
"""Per opcode byte: advance_loc (0x40) and restore (0xc0) carry no operand, offset (0x80)
one ULEB128; ``None`` is an unknown opcode (the program cannot be followed past it)."""
EH_POINTER_FORMATS: Final = {0x00: "", 0x02: "H", 0x03: "I", 0x04: "Q", 0x0A: "h", 0x0B: "i",
                             0x0C: "q"}  # fmt: skip
"""``DW_EH_PE_*`` value formats of a fixed size (``""``: absptr, the address size)."""
EH_POINTER_BASES: Final = (0x00, 0x10, 0x30)
"""``DW_EH_PE_absptr``, ``pcrel`` and ``datarel``: what ``.eh_frame_hdr`` uses."""


MAX_FDE_RECORDS: Final = 1 << 20
"""``.eh_frame`` records decoded per file; the largest real libraries have ~200k FDEs."""


class _Stop(Exception):
    """The data stops parsing here: its decode ends (the file is not at fault)."""


Unpack = Callable[[bytes, int], tuple[int, ...]]


class _Cie(NamedTuple):
    unpack: Unpack
    """Reads an FDE's pc_begin or pc_range (the CIE's ``R`` encoding, unsigned)."""
    size: int
    """Bytes of each of the two."""
    augmented: bool
    """FDEs carry an augmentation data length (``z``)."""


def fde_entries(data: bytes, order: str, word_size: int) -> Iterator[tuple[int, bool]]:
    """(pc_range, uses remember_state) of each FDE of an ``.eh_frame`` image, in order.

    Ends at the zero terminator, at a 64-bit length (no toolchain emits one in
    ``.eh_frame``), at the first entry or CIE that does not parse, and after
    :data:`MAX_FDE_RECORDS` records (what was counted stands: a sample of the code). GCC emits
    ``DW_CFA_remember_state`` for functions with an epilogue before their end; LLVM never
    does on x86-64 (language.md §3.3).
    """
    word = "Q" if word_size == 8 else "I"
    head: Unpack = struct.Struct(order + "II").unpack_from
    cies: dict[int, _Cie | None] = {}
    cie: _Cie | None
    cie_at, unpack, pointer_size, augmented = -1, head, 0, False
    at, size = 0, len(data)
    for _ in range(MAX_FDE_RECORDS):
        if at + 8 > size:
            return
        length, cie_id = head(data, at)
        if length < 4 or length == 0xFFFFFFFF:
            return
        next_at = at + 4 + length
        if next_at > size:
            return
        if cie_id:
            if at + 4 - cie_id != cie_at:
                cie_at = at + 4 - cie_id
                if cie_at not in cies:
                    cies[cie_at] = _parse_cie(data, cie_at, order, word)
                cie = cies[cie_at]
                if cie is None:
                    return
                unpack, pointer_size, augmented = cie
            program = at + 8 + 2 * pointer_size
            if program > next_at:
                return
            pc_range = unpack(data, at + 8 + pointer_size)[0]
            if augmented:
                skip, program = _uleb(data, program, next_at)
                program += skip
                if program > next_at:
                    return
            yield (
                pc_range,
                data.find(b"\n", program, next_at) >= 0
                and _remembers_state(data, program, next_at, pointer_size),
            )
        at = next_at


def eh_frame_address(header: bytes, header_address: int, order: str, bits: int) -> int | None:
    """The address of ``.eh_frame`` that an ``.eh_frame_hdr`` (its first bytes, loaded at
    ``header_address``) records; ``None`` for encodings no linker uses."""
    if len(header) < 4 or header[0] != 1:
        return None
    encoding = header[1]
    value_format = EH_POINTER_FORMATS.get(encoding & 0x0F)
    if value_format is None or encoding & 0x70 not in EH_POINTER_BASES:
        return None
    pointer = struct.Struct(order + (value_format or ("Q" if bits == 64 else "I")))
    if len(header) < 4 + pointer.size:
        return None
    value = pointer.unpack_from(header, 4)[0]
    base = {0x00: 0, 0x10: header_address + 4, 0x30: header_address}[encoding & 0x70]
    return int(base + value) % (1 << bits)


def _parse_cie(data: bytes, at: int, order: str, word: str) -> _Cie | None:
    """The FDE pointer encoding of the CIE at ``at`` (``None`` when it does not parse)."""
    try:
        cur = _Cursor(data, at, len(data), order)
        length = cur.fixed(4)
        cur.end = min(cur.end, cur.pos + length)
        if length < 4 or cur.fixed(4) != 0:
            return None
        version = cur.fixed(1)
        augmentation = cur.cstring(len(data))
        if b"eh" in augmentation:
            cur.skip(struct.calcsize(word))
        cur.uleb()  # code alignment factor
        cur.uleb()  # data alignment factor (an SLEB128 is as long)
        if version == 1:
            cur.fixed(1)  # return address register
        else:
            cur.uleb()
        encoding = 0x00
        if augmentation[:1] == b"z":
            cur.uleb()
            for letter in augmentation[1:].decode("latin-1"):
                if letter == "R":
                    encoding = cur.fixed(1)
                elif letter == "L":
                    cur.fixed(1)
                elif letter == "P":
                    cur.pointer(cur.fixed(1), word)
                elif letter not in "SBG":
                    break  # an FDE's z length still skips its unknown data
        value_format = EH_POINTER_FORMATS.get(encoding & 0x0F)
        if value_format is None:
            return None
        pointer = struct.Struct(order + (value_format or word).upper())
        return _Cie(pointer.unpack_from, pointer.size, augmentation[:1] == b"z")
    except _Stop:
        return None


def _cfa_run(address_size: int) -> re.Pattern[bytes]:
    """A regex, built from :data:`CFA_TABLE`, matching CFA instructions up to the first
    remember_state, instruction with a block operand, or unknown opcode."""
    by_operands: dict[tuple[int, ...], list[int]] = {}
    for op, operands in enumerate(CFA_TABLE):
        if operands is not None and op != DW_CFA_REMEMBER_STATE and BLOCK not in operands:
            by_operands.setdefault(operands, []).append(op)
    sizes = {LEB: rb"[\x80-\xff]*[\x00-\x7f]", ADDRESS: b".{%d}" % address_size}
    instructions = (
        b"[" + b"".join(re.escape(bytes([op])) for op in ops) + b"]"
        + b"".join(sizes.get(operand, b".{%d}" % operand) for operand in operands)
        for operands, ops in by_operands.items()
    )  # fmt: skip
    return re.compile(b"(?:" + b"|".join(instructions) + b")*", re.DOTALL)


CFA_RUNS: Final = {size: _cfa_run(size) for size in (2, 4, 8)}
"""The instruction-run regex per FDE address size (the CIE's ``R`` encoding)."""
CFA_WINDOW: Final = 512
"""Program bytes one run match may cover (real FDE programs are a few dozen bytes)."""


def _remembers_state(data: bytes, at: int, end: int, address_size: int) -> bool:
    """Whether the CFA program in ``data[at:end]`` has a ``DW_CFA_remember_state`` opcode,
    decoded so that an operand byte 0x0a is not taken for one. Runs of ordinary
    instructions are matched by :data:`CFA_RUNS` in C, a window at a time (the regex keeps
    ~100 bytes of state per instruction byte); the rest is stepped over here."""
    run = CFA_RUNS[address_size]
    while at < end:
        ordinary = run.match(data, at, min(end, at + CFA_WINDOW))
        if ordinary is not None and ordinary.end() > at:
            at = ordinary.end()
            continue
        op = data[at]
        operands = CFA_TABLE[op]
        if op == DW_CFA_REMEMBER_STATE or operands is None:
            return op == DW_CFA_REMEMBER_STATE  # or an unknown opcode: stop decoding
        at += 1
        for operand in operands:
            if operand > 0:
                at += operand
            elif operand == ADDRESS:
                at += address_size
            else:
                size, at = _uleb(data, at, end)
                at += size if operand == BLOCK else 0
    return False


MAX_LEB_BYTES: Final = 10
"""Bytes of one LEB128 number: ten hold any 64-bit value. Longer ones end the decode (a run
of continuation bytes would otherwise build an ever larger integer: quadratic time)."""


def _uleb(data: Buffer, at: int, end: int) -> tuple[int, int]:
    """An unsigned LEB128 at ``at``: (value, position after it); past ``end`` when cut or
    longer than :data:`MAX_LEB_BYTES`."""
    value = shift = 0
    end_of_number = min(end, at + MAX_LEB_BYTES)
    while at < end_of_number:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7
    return 0, end + 1


class _Cursor:
    """Reads forward through ``data[pos:end]``; reading past ``end`` raises :class:`_Stop`."""

    def __init__(self, data: Buffer, pos: int, end: int, order: str) -> None:
        if not 0 <= pos <= end <= len(data):
            raise _Stop
        self.data, self.pos, self.end, self.order = data, pos, end, order
        self.byteorder: Literal["little", "big"] = "little" if order == "<" else "big"

    def skip(self, size: int) -> None:
        if size < 0 or self.pos + size > self.end:
            raise _Stop
        self.pos += size

    def fixed(self, size: int) -> int:
        at = self.pos
        self.skip(size)
        return int.from_bytes(self.data[at : at + size], self.byteorder)

    def uleb(self) -> int:
        value, self.pos = _uleb(self.data, self.pos, self.end)
        if self.pos > self.end:
            raise _Stop
        return value

    def cstring(self, limit: int) -> bytes:
        stop = self.data.find(b"\0", self.pos, min(self.end, self.pos + limit))
        if stop < 0:
            raise _Stop
        text, self.pos = self.data[self.pos : stop], stop + 1
        return bytes(text)

    def pointer(self, encoding: int, word: str) -> None:
        """Skip one ``DW_EH_PE_*`` encoded value."""
        if encoding & 0x0F in (0x01, 0x09):
            self.uleb()
        elif (value_format := EH_POINTER_FORMATS.get(encoding & 0x0F)) is not None:
            self.skip(struct.calcsize(value_format or word))
        else:
            raise _Stop


# -- compilation unit producers (.debug_info) -----------------------------------------------

MAX_UNITS: Final = 4096
"""Compilation units whose top DIE is read (tls-client has 342)."""
MAX_PRODUCERS: Final = 64
MAX_PRODUCER_BYTES: Final = 1024
MAX_ABBREV_STEPS: Final = 100_000
"""Abbreviation entries and attributes one read may parse; a real top DIE needs a dozen,
and this keeps crafted tables shared by thousands of units linear."""
DW_AT_PRODUCER: Final = 0x25
DW_AT_STR_OFFSETS_BASE: Final = 0x72
DW_FORM_STRING, DW_FORM_STRP, DW_FORM_LINE_STRP = 0x08, 0x0E, 0x1F
DW_FORM_INDIRECT, DW_FORM_IMPLICIT_CONST = 0x16, 0x21
STRX_FORMS: Final = {0x1A: 0, 0x25: 1, 0x26: 2, 0x27: 3, 0x28: 4, 0x1F02: 0}
"""``DW_FORM_strx``, ``strx1``-``strx4``, ``GNU_str_index`` -> index size (0: ULEB128)."""
ULEB, OFFSET, ADDR, REF_ADDR, STRING, LEB_BLOCK = "uleb", "offset", "addr", "ref", "str", "block"
FORM_SIZES: Final[dict[int, int | str]] = {
    0x01: ADDR, 0x03: 2, 0x04: 4, 0x05: 2, 0x06: 4, 0x07: 8, 0x08: STRING, 0x09: LEB_BLOCK,
    0x0A: 1, 0x0B: 1, 0x0C: 1, 0x0D: ULEB, 0x0E: OFFSET, 0x0F: ULEB, 0x10: REF_ADDR, 0x11: 1,
    0x12: 2, 0x13: 4, 0x14: 8, 0x15: ULEB, 0x17: OFFSET, 0x18: LEB_BLOCK, 0x19: 0, 0x1A: ULEB,
    0x1B: ULEB, 0x1C: 4, 0x1D: OFFSET, 0x1E: 16, 0x1F: OFFSET, 0x20: 8, 0x21: 0, 0x22: ULEB,
    0x23: ULEB, 0x24: 8, 0x25: 1, 0x26: 2, 0x27: 3, 0x28: 4, 0x29: 1, 0x2A: 2, 0x2B: 3,
    0x2C: 4, 0x1F01: ULEB, 0x1F02: ULEB, 0x1F20: OFFSET, 0x1F21: OFFSET,
}  # fmt: skip
"""Size of each ``DW_FORM_*`` value (DWARF 2-5 and GNU forms). ``block2``, ``block4`` and
``block1`` (0x03, 0x04, 0x0a) are a length of that size followed by the block."""
BLOCK_LENGTH_FORMS: Final = frozenset({0x03, 0x04, 0x0A})
UNIT_HEADER_EXTRA: Final = {2: 8, 4: 8, 5: 8, 6: 8}
"""DWARF 5 unit type -> bytes after the abbreviation offset (type units add an offset)."""

Span = tuple[int, int]


def unit_producers(
    data: Buffer, info: Span, abbrev: Span, strings: Mapping[str, Span], order: str
) -> tuple[str, ...]:
    """Distinct ``DW_AT_producer`` of the compilation units in ``.debug_info``, in order
    (e.g. ``GNU C17 12.2.0 -O2 -fPIC``, ``zig 0.16.0``).

    Only each unit's top DIE is read, skipping from unit header to unit header (a few µs per
    unit). ``strings`` holds the ``.debug_str``, ``.debug_line_str`` and
    ``.debug_str_offsets`` ranges present.
    """
    producers: dict[str, None] = {}
    steps = [MAX_ABBREV_STEPS]
    at, end = info
    try:
        for _ in range(MAX_UNITS):
            if at >= end or len(producers) >= MAX_PRODUCERS:
                break
            unit = _Cursor(data, at, end, order)
            length, offset_size = unit.fixed(4), 4
            if length == 0xFFFFFFFF:
                length, offset_size = unit.fixed(8), 8
            if unit.pos + length > end:
                break
            unit.end = at = unit.pos + length
            producer = _unit_producer(unit, offset_size, abbrev, strings, steps)
            if producer:
                producers.setdefault(producer)
    except _Stop:
        pass  # a malformed unit ends the walk; the producers read so far stand
    return tuple(producers)


def _unit_producer(
    unit: _Cursor, offset_size: int, abbrev: Span, strings: Mapping[str, Span], steps: list[int]
) -> str | None:
    version = unit.fixed(2)
    if version >= 5:
        unit_type, address_size = unit.fixed(1), unit.fixed(1)
        abbrev_offset = unit.fixed(offset_size)
        extra = UNIT_HEADER_EXTRA.get(unit_type, 0)
        unit.skip(extra + (offset_size if unit_type in (2, 6) else 0))
    elif version >= 2:
        abbrev_offset, address_size = unit.fixed(offset_size), unit.fixed(1)
    else:
        return None
    table = _Cursor(unit.data, *abbrev, unit.order)
    table.skip(abbrev_offset)
    attributes = _abbreviation(table, unit.uleb(), steps)
    sizes = {ADDR: address_size, OFFSET: offset_size}
    sizes[REF_ADDR] = address_size if version == 2 else offset_size
    producer: tuple[int, int] | None = None
    base = 8 if offset_size == 4 else 16  # the str_offsets header, when no base is given
    for attribute, form in attributes:
        while form == DW_FORM_INDIRECT:
            form = unit.uleb()
        if attribute == DW_AT_PRODUCER:
            producer = (form, unit.pos)
        if attribute == DW_AT_STR_OFFSETS_BASE:
            base = unit.fixed(offset_size)
        else:
            _skip_form(unit, form, sizes)
    if producer is None:
        return None
    form, unit.pos = producer
    return _string(unit, form, offset_size, base, strings)


def _abbreviation(table: _Cursor, code: int, steps: list[int]) -> list[tuple[int, int]]:
    """(attribute, form) of abbreviation ``code`` in the table starting at the cursor."""
    while True:
        entry = table.uleb()
        if entry == 0:
            raise _Stop
        table.uleb()  # tag
        table.skip(1)  # has children
        attributes = []
        while True:
            steps[0] -= 1
            if steps[0] < 0:
                raise _Stop
            attribute, form = table.uleb(), table.uleb()
            if attribute == 0 and form == 0:
                break
            if form == DW_FORM_IMPLICIT_CONST:
                table.uleb()  # the constant lives here, not in the DIE
            attributes.append((attribute, form))
        if entry == code:
            return attributes


def _skip_form(unit: _Cursor, form: int, sizes: dict[str, int]) -> None:
    size = FORM_SIZES.get(form)
    if size is None:
        raise _Stop
    if isinstance(size, int):
        unit.skip(unit.fixed(size) if form in BLOCK_LENGTH_FORMS else size)
    elif size == ULEB:
        unit.uleb()
    elif size == LEB_BLOCK:
        unit.skip(unit.uleb())
    elif size == STRING:
        unit.cstring(unit.end - unit.pos)
    else:
        unit.skip(sizes[size])


def _string(
    unit: _Cursor, form: int, offset_size: int, base: int, strings: Mapping[str, Span]
) -> str | None:
    """The string value of form ``form`` at the cursor (inline, or in a string section)."""
    if form == DW_FORM_STRING:
        return unit.cstring(MAX_PRODUCER_BYTES).decode("utf-8", "replace")
    if form in (DW_FORM_STRP, DW_FORM_LINE_STRP):
        section = ".debug_str" if form == DW_FORM_STRP else ".debug_line_str"
        offset = unit.fixed(offset_size)
    elif form in STRX_FORMS and ".debug_str_offsets" in strings:
        index = unit.fixed(STRX_FORMS[form]) if STRX_FORMS[form] else unit.uleb()
        entry = _Cursor(unit.data, *strings[".debug_str_offsets"], unit.order)
        entry.skip(base + index * offset_size)
        section, offset = ".debug_str", entry.fixed(offset_size)
    else:
        return None
    if section not in strings:
        return None
    text = _Cursor(unit.data, *strings[section], unit.order)
    text.skip(offset)
    return text.cstring(MAX_PRODUCER_BYTES).decode("utf-8", "replace")
