"""Corpus of small Mach-O extension modules with known hardening properties.

Built on Linux without a macOS SDK: ``clang -target <arch>-apple-macos11 -c``, then lld's
Mach-O linker (``ld64.lld-14``; ``ld64.lld-16`` for the one chained-fixups sample) against a
text stub of libSystem (``sources/macho/libSystem.B.tbd``), ``llvm-lipo-14`` for universal2.
Every variant is verified with ``llvm-objdump``/``llvm-nm`` (the independent oracle) before a
test may rely on it. What lld cannot produce is made by a documented post-step that also
re-hashes the code signature: MH_ALLOW_STACK_EXECUTION (``_allow_stack_execution``) and a
symbol table without the undefined entries (``_drop_undefined_symbols``).
Importing this module has no side effects.
"""

from __future__ import annotations

import hashlib
import re
import struct
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Final, Literal

from tests.corpus import SOURCES, FixtureBuildError, expect_patterns, require_tool, run_tool

__all__ = [
    "MACHO_SOURCES",
    "MACHO_VARIANTS",
    "TOOLS",
    "MachoCheck",
    "MachoVariant",
    "Status",
    "VendoredDylib",
    "build_macho_all",
    "build_macho_variant",
    "describe_signature",
    "verify_macho",
]

MACHO_SOURCES: Final = SOURCES / "macho"
_PYTAG: Final = ".cpython-311-darwin.so"

CLANG: Final = "clang"
LD64: Final = "ld64.lld-14"
LD64_CHAINED: Final = "ld64.lld-16"  # lld 14 has no -fixup_chains ("undocumented" warning)
OBJDUMP: Final = "llvm-objdump-14"
OBJDUMP_CHAINED: Final = "llvm-objdump-16"  # --chained-fixups/--dyld-info are newer than 14
NM: Final = "llvm-nm-14"
LIPO: Final = "llvm-lipo-14"
TOOLS: Final = (CLANG, LD64, LD64_CHAINED, OBJDUMP, OBJDUMP_CHAINED, NM, LIPO)
"""Debian 12 packages: clang-14, lld-14, llvm-14, lld-16, llvm-16."""

Arch = Literal["arm64", "x86_64"]
Kind = Literal["bundle", "dylib", "execute"]
Status = Literal["pass", "fail", "not_applicable", "unknown"]
Oracle = Literal["headers", "symbols", "binds", "fixups", "signature", "universal"]

_CPU: Final[Mapping[Arch, str]] = {"arm64": "ARM64", "x86_64": "X86_64"}
_FILETYPE: Final[Mapping[Kind, str]] = {
    "bundle": "BUNDLE",
    "dylib": "DYLIB",
    "execute": "EXECUTE",
}


# --------------------------------------------------------------------------- oracle


@dataclass(frozen=True)
class MachoCheck:
    """Regexes (multiline) that must / must not match one oracle's output."""

    oracle: Oracle
    must: tuple[str, ...] = ()
    must_not: tuple[str, ...] = ()


def _has(oracle: Oracle, *patterns: str) -> MachoCheck:
    return MachoCheck(oracle, must=patterns)


def _lacks(oracle: Oracle, *patterns: str) -> MachoCheck:
    return MachoCheck(oracle, must_not=patterns)


def _oracle_cmd(oracle: Oracle, path: Path) -> list[str]:
    commands: Mapping[Oracle, list[str]] = {
        "headers": [OBJDUMP, "--macho", "--private-headers"],
        "symbols": [NM, "-m"],
        "binds": [OBJDUMP, "--macho", "--bind", "--lazy-bind", "--weak-bind"],
        "fixups": [OBJDUMP_CHAINED, "--macho", "--chained-fixups", "--dyld-info"],
        "universal": [OBJDUMP, "--macho", "--universal-headers"],
    }
    tool, *args = commands[oracle]
    return [require_tool(tool), *args, str(path)]


def _header(filetype: str, flags: str = r"NOUNDEFS DYLDLINK TWOLEVEL") -> str:
    """``llvm-objdump --private-headers`` header row: filetype and the exact flag words."""
    return rf"^\s*MH_MAGIC_64\s+\S+\s+ALL\s+0x00\s+{filetype}\s+\d+\s+\d+\s+{flags}$"


def _load(command: str, field: str, value: str) -> str:
    """A load command whose first string field (``path``/``name``) is exactly ``value``."""
    return rf"^\s*cmd {command}\n\s*cmdsize \d+\n\s*{field} {re.escape(value)} \(offset \d+\)$"


def _rpath(value: str) -> str:
    return _load("LC_RPATH", "path", value)


def _dylib(value: str, command: str = "LC_LOAD_DYLIB") -> str:
    return _load(command, "name", value)


def _import(symbol: str, source: str = "from libSystem") -> str:
    """``llvm-nm -m`` line of an undefined external; ``source`` (a regex) is in parentheses."""
    return rf"^\s+\(undefined\) external (?:{symbol}) \((?:{source})\)$"


def _bound(symbol: str, dylib: str = "libSystem") -> str:
    """``--bind``/``--lazy-bind``/``--weak-bind`` (or ``--dyld-info``) row for ``symbol``."""
    return rf"^__DATA\w*\s+__\w+\s+0x[0-9a-f]+\s+(?:.*\s)?{dylib}\s+(?:{symbol})$"


def _chained_import(symbol: str, dylib: str = "libSystem") -> str:
    return rf"^\s+lib_ordinal = \d+ \({dylib}\)\n.*\n\s+name_offset = \d+ \({symbol}\)$"


_SEGMENT_WX: Final = r"^\s*initprot .wx$"
_CHK: Final = ("___memcpy_chk", "___strcpy_chk", "___sprintf_chk")
_PLAIN: Final = ("_memcpy", "_strcpy", "_sprintf")
_SSP: Final = ("___stack_chk_fail", "___stack_chk_guard")
_LIBSYSTEM: Final = "/usr/lib/libSystem.B.dylib"
_LOADER_RPATH: Final = "@loader_path/../.dylibs"
_HOST_RPATH: Final = "/Users/runner/work/x/build/lib"
_EXEC_RPATH: Final = "@executable_path/../lib"
_SIGNED_FLAGS: Final = r"^CodeDirectory .* flags=0x20002 \(adhoc,linker-signed\) "
_HASHES_OK: Final = r"^page hashes: (\d+) of \1 match$"

CANARY: Final = (_has("symbols", *(_import(s) for s in _SSP)),)
NO_CANARY: Final = (_lacks("symbols", _import("___stack_chk_(?:fail|guard)", ".*")),)
FORTIFIED: Final = (
    _has("symbols", *(_import(s) for s in _CHK)),
    _lacks("symbols", _import("|".join(_PLAIN), ".*")),
)
NOT_FORTIFIED: Final = (
    _has("symbols", *(_import(s) for s in _PLAIN)),
    _lacks("symbols", _import(r"___\w+_chk", ".*")),
)
PARTLY_FORTIFIED: Final = (
    _has("symbols", _import("___memcpy_chk"), _import("_strcpy"), _import("_sprintf")),
    _lacks("symbols", _import("_memcpy|___strcpy_chk|___sprintf_chk", ".*")),
)
BOUND_IN_DYLD_INFO: Final = (
    _has("headers", r"^\s*cmd LC_DYLD_INFO_ONLY$"),
    _lacks("headers", r"^\s*cmd LC_DYLD_CHAINED_FIXUPS$"),
    # ___stack_chk_guard is a data import (non-lazy, __got); the calls go through lazy binds.
    _has("binds", _bound("___stack_chk_guard"), _bound("___stack_chk_fail")),
)
STACK_NX: Final = (_lacks("headers", r"\bALLOW_STACK_EXECUTION\b"),)
NO_WX: Final = (_lacks("headers", _SEGMENT_WX),)
SIGNED: Final = (
    _has("headers", r"^\s*cmd LC_CODE_SIGNATURE$"),
    _has("signature", _SIGNED_FLAGS, _HASHES_OK),
)
UNSIGNED: Final = (
    _lacks("headers", r"^\s*cmd LC_CODE_SIGNATURE$"),
    _has("signature", r"^no LC_CODE_SIGNATURE$"),
)
SYSTEM_DYLIB_ONLY: Final = (
    _has("headers", _dylib(_LIBSYSTEM)),
    _lacks("headers", r"^\s*cmd LC_LOAD_WEAK_DYLIB$", r"^\s*name (?!/usr/lib/)\S+ \(offset"),
)
NO_RPATH: Final = (_lacks("headers", r"^\s*cmd LC_RPATH$"),)
LOADER_RPATH: Final = (_has("headers", _rpath(_LOADER_RPATH)),)


def _rpath_only(value: str) -> tuple[MachoCheck, ...]:
    return (_has("headers", _rpath(value)), _lacks("headers", rf"^\s*path (?!{re.escape(value)} )"))


# --------------------------------------------------------------------------- expectations

CHECK_IDS: Final = ("canary", "fortify", "nx", "wx", "rpath", "code-signature", "loadable")


def _expect(**changes: Status) -> Mapping[str, Status]:
    """All-pass expectations with some checks changed (``code_signature`` for the dash)."""
    table: dict[str, Status] = dict.fromkeys(CHECK_IDS, "pass")
    for key, status in changes.items():
        check = key.replace("_", "-")
        if check not in table:
            raise KeyError(f"unknown check id {check!r}")
        table[check] = status
    return MappingProxyType(table)


def _detail(**values: str) -> Mapping[str, str]:
    return MappingProxyType({k.replace("_", "-"): v for k, v in values.items()})


# code-signature levels: none / linker-signed / ad-hoc / certificate (linker-signed wins when
# CS_LINKER_SIGNED and CS_ADHOC are both set, as lld and ld64 set them).
_SIGNED_DETAIL: Final = _detail(fortify="full", code_signature="linker-signed")
_UNSIGNED_DETAIL: Final = _detail(fortify="full", code_signature="none")


# --------------------------------------------------------------------------- post-steps

_MH_MAGIC_64: Final = 0xFEEDFACF
_MH_ALLOW_STACK_EXECUTION: Final = 0x20000
_LC_SYMTAB: Final = 0x2
_LC_DYSYMTAB: Final = 0xB
_LC_CODE_SIGNATURE: Final = 0x1D
_CSMAGIC_EMBEDDED_SIGNATURE: Final = 0xFADE0CC0
_CSMAGIC_CODEDIRECTORY: Final = 0xFADE0C02
_CS_HASHTYPE_SHA256: Final = 2
_CS_FLAG_NAMES: Final = ((0x2, "adhoc"), (0x10000, "runtime"), (0x20000, "linker-signed"))


def _load_commands(data: bytes | bytearray) -> dict[int, int]:
    """Offsets of the load commands of a thin little-endian Mach-O 64, by ``cmd``."""
    magic, _cpu, _sub, _ftype, ncmds = struct.unpack_from("<5I", data, 0)
    if magic != _MH_MAGIC_64:
        raise FixtureBuildError(f"not a thin little-endian Mach-O 64 (magic {magic:#x})")
    offsets: dict[int, int] = {}
    offset = 32
    for _ in range(ncmds):
        cmd, size = struct.unpack_from("<2I", data, offset)
        offsets.setdefault(cmd, offset)
        offset += size
    return offsets


def _code_directory(data: bytes | bytearray) -> int | None:
    """File offset of the CodeDirectory blob (big-endian), or None when unsigned."""
    command = _load_commands(data).get(_LC_CODE_SIGNATURE)
    if command is None:
        return None
    dataoff, _datasize = struct.unpack_from("<2I", data, command + 8)
    magic, _length, count = struct.unpack_from(">3I", data, dataoff)
    if magic != _CSMAGIC_EMBEDDED_SIGNATURE:
        raise FixtureBuildError(f"SuperBlob magic {magic:#x}")
    for index in range(count):
        _type, blob = struct.unpack_from(">2I", data, dataoff + 12 + 8 * index)
        start: int = dataoff + blob
        if struct.unpack_from(">I", data, start)[0] == _CSMAGIC_CODEDIRECTORY:
            return start
    raise FixtureBuildError("SuperBlob without a CodeDirectory")


def _page_hashes(data: bytes | bytearray, cd: int) -> list[tuple[int, bytes, bytes]]:
    """(slot offset, stored hash, hash of the page now) for every code slot."""
    hash_offset, _ident, _nspecial, nslots, code_limit = struct.unpack_from(">IIIII", data, cd + 16)
    hash_size, hash_type, _platform, page_shift = struct.unpack_from(">4B", data, cd + 36)
    if hash_type != _CS_HASHTYPE_SHA256 or hash_size != 32:
        raise FixtureBuildError(f"CodeDirectory hash type {hash_type} size {hash_size}")
    page = 1 << page_shift
    slots = []
    for index in range(nslots):
        chunk = bytes(data[index * page : min((index + 1) * page, code_limit)])
        slot = cd + hash_offset + index * hash_size
        slots.append((slot, bytes(data[slot : slot + hash_size]), hashlib.sha256(chunk).digest()))
    return slots


def _patch(path: Path, edit: Callable[[bytearray, Mapping[int, int]], None]) -> None:
    """Apply ``edit`` to a thin Mach-O, then re-hash the code pages it changed.

    The signature must stay consistent: a stale page hash is a different defect (the
    binary would be killed on arm64) than the one the variant is about. The CodeDirectory
    is checked before the edit, so a layout misunderstanding fails here, not in a test.
    """
    data = bytearray(path.read_bytes())
    cd = _code_directory(data)
    if cd is not None and any(old != now for _, old, now in _page_hashes(data, cd)):
        raise FixtureBuildError(f"{path}: stale page hashes before patching")
    edit(data, _load_commands(data))
    if cd is not None:
        for slot, _old, now in _page_hashes(data, cd):
            data[slot : slot + len(now)] = now
    path.write_bytes(bytes(data))


def _allow_stack_execution(path: Path) -> None:
    """Set MH_ALLOW_STACK_EXECUTION in the header flags.

    ld64's ``-allow_stack_execute`` is "not yet implemented" in lld 14 (a warning, and the
    flag stays clear), so the one header bit is set here, as ld64 would have set it.
    """

    def edit(data: bytearray, _commands: Mapping[int, int]) -> None:
        (flags,) = struct.unpack_from("<I", data, 24)
        struct.pack_into("<I", data, 24, flags | _MH_ALLOW_STACK_EXECUTION)

    _patch(path, edit)


def _drop_undefined_symbols(path: Path) -> None:
    """Cut the undefined entries (always last in LC_SYMTAB) and the indirect symbol table.

    Leaves the imports visible only in LC_DYLD_CHAINED_FIXUPS. Apple's ld and ``strip``
    keep them in the symbol table, so this is a synthetic case for the parser's fallback.
    """

    def edit(data: bytearray, commands: Mapping[int, int]) -> None:
        symtab, dysymtab = commands[_LC_SYMTAB], commands[_LC_DYSYMTAB]
        (nsyms,) = struct.unpack_from("<I", data, symtab + 12)
        iundef, nundef = struct.unpack_from("<2I", data, dysymtab + 24)
        if iundef + nundef != nsyms or nundef == 0:
            raise FixtureBuildError(f"{path}: undefined symbols not last ({iundef}+{nundef})")
        struct.pack_into("<I", data, symtab + 12, iundef)
        struct.pack_into("<I", data, dysymtab + 28, 0)  # nundefsym
        struct.pack_into("<2I", data, dysymtab + 56, 0, 0)  # indirectsymoff, nindirectsyms

    _patch(path, edit)


def describe_signature(path: Path) -> str:
    """Text rendering of a thin file's code signature, for the ``signature`` oracle.

    No tool here decodes the SuperBlob (llvm-objdump 14 and 16 only show LC_CODE_SIGNATURE's
    dataoff/datasize), so this reads the fixed big-endian CodeDirectory fields itself and
    re-hashes every code page, which proves the signature matches the file.
    """
    data = path.read_bytes()
    cd = _code_directory(data)
    if cd is None:
        return "no LC_CODE_SIGNATURE\n"
    version, flags = struct.unpack_from(">2I", data, cd + 8)
    (ident_offset,) = struct.unpack_from(">I", data, cd + 20)
    ident = data[cd + ident_offset : data.index(b"\0", cd + ident_offset)].decode()
    names = ",".join(name for bit, name in _CS_FLAG_NAMES if flags & bit) or "none"
    hashes = _page_hashes(data, cd)
    matching = sum(old == now for _, old, now in hashes)
    return (
        f"CodeDirectory version={version:#x} flags={flags:#x} ({names}) ident={ident}\n"
        f"page hashes: {matching} of {len(hashes)} match\n"
    )


# --------------------------------------------------------------------------- table


@dataclass(frozen=True)
class VendoredDylib:
    """A stub third-party dylib (``sources/macho/vendored.c``) linked by install name."""

    file_name: str
    install_name: str
    weak: bool = False  # LC_LOAD_WEAK_DYLIB (-weak_library) instead of LC_LOAD_DYLIB


HARDENED_CFLAGS: Final = ("-O2", "-fstack-protector-strong", "-DMEMSAFE_FORTIFY")


@dataclass(frozen=True)
class MachoVariant:
    """One corpus entry: how to build it, what the oracle must show, what the plugin says.

    ``expect`` maps each check id in CHECK_IDS to its expected status; ``detail`` adds the
    graded level or signature kind where a check reports one. A universal2 variant has
    ``slices`` (thin recipes of the same name) and an empty ``expect``: read
    ``expect_slices`` (arch -> expect), which works for thin variants too.
    """

    name: str
    expect: Mapping[str, Status]
    checks: tuple[MachoCheck, ...] = ()
    arch: Arch = "arm64"
    kind: Kind = "bundle"
    cflags: tuple[str, ...] = HARDENED_CFLAGS
    ldflags: tuple[str, ...] = ()
    libsystem: bool = True  # link sources/macho/libSystem.B.tbd, as every SDK build does
    vendored: VendoredDylib | None = None
    linker: str = LD64
    post: Callable[[Path], None] | None = None
    detail: Mapping[str, str] = field(default_factory=lambda: _SIGNED_DETAIL)
    slices: tuple[MachoVariant, ...] = ()

    @property
    def stem(self) -> str:
        return self.name.replace("-", "_")

    @property
    def file_name(self) -> str:
        return self.stem + _PYTAG

    @property
    def expect_slices(self) -> Mapping[str, Mapping[str, Status]]:
        """Expected statuses per architecture (one entry for a thin file)."""
        if self.slices:
            return MappingProxyType({s.arch: s.expect for s in self.slices})
        return MappingProxyType({self.arch: self.expect})

    @property
    def detail_slices(self) -> Mapping[str, Mapping[str, str]]:
        if self.slices:
            return MappingProxyType({s.arch: s.detail for s in self.slices})
        return MappingProxyType({self.arch: self.detail})

    @property
    def all_checks(self) -> tuple[MachoCheck, ...]:
        """``checks`` plus the shape every thin variant promises: CPU, filetype, export."""
        if self.slices:
            archs = (
                rf"^architecture {s.arch}\n\s*cputype CPU_TYPE_{_CPU[s.arch]}$" for s in self.slices
            )
            return (*self.checks, _has("universal", rf"^nfat_arch {len(self.slices)}$", *archs))
        shape = rf"^\s*MH_MAGIC_64\s+{_CPU[self.arch]}\s+ALL\s+0x00\s+{_FILETYPE[self.kind]}\s"
        export = rf"^[0-9a-f]{{16}} \(__TEXT,__text\) external _PyInit_{self.stem}$"
        return (*self.checks, _has("headers", shape), _has("symbols", export))


def _table(*variants: MachoVariant) -> dict[str, MachoVariant]:
    table = {v.name: v for v in variants}
    if len(table) != len(variants):
        raise ValueError("duplicate variant names")
    for variant in variants:
        for expect in variant.expect_slices.values():
            if set(expect) != set(CHECK_IDS):
                raise ValueError(f"{variant.name}: expect must cover {CHECK_IDS}")
    return table


_HARDENED_CHECKS: Final = (
    *CANARY,
    *FORTIFIED,
    *BOUND_IN_DYLD_INFO,
    *STACK_NX,
    *NO_WX,
    *SYSTEM_DYLIB_ONLY,
    *_rpath_only(_LOADER_RPATH),
)


def _hardened(name: str, arch: Arch) -> MachoVariant:
    """The hardened recipe for ``arch``; lld signs arm64 output only (like Apple's ld64).

    An unsigned x86_64 slice passes code-signature (Intel Macs run unsigned code).
    """
    signed = arch == "arm64"
    return MachoVariant(
        name,
        _expect(),
        (*_HARDENED_CHECKS, *(SIGNED if signed else UNSIGNED)),
        arch=arch,
        ldflags=("-rpath", _LOADER_RPATH),
        detail=_SIGNED_DETAIL if signed else _UNSIGNED_DETAIL,
    )


_LIBSSL: Final = VendoredDylib("libssl.3.dylib", "/opt/homebrew/opt/openssl@3/lib/libssl.3.dylib")
_LIBFOO: Final = VendoredDylib("libfoo.dylib", "@loader_path/.dylibs/libfoo.dylib")
_LIBFOO_WEAK: Final = VendoredDylib(
    "libfoo.dylib", "/Users/runner/work/x/build/lib/libfoo.dylib", weak=True
)
_VENDORED_CFLAGS: Final = (*HARDENED_CFLAGS, "-DMEMSAFE_VENDORED")


def _vendored(name: str, rpath: Status, lib: VendoredDylib) -> MachoVariant:
    """Hardened, plus a call into ``lib``: one more load command with its install name."""
    command = "LC_LOAD_WEAK_DYLIB" if lib.weak else "LC_LOAD_DYLIB"
    short = lib.file_name.split(".")[0]  # how llvm-objdump names the dylib in bind tables
    return MachoVariant(
        name,
        _expect(rpath=rpath),
        (
            _has("headers", _dylib(lib.install_name, command), _dylib(_LIBSYSTEM)),
            *NO_RPATH,
            _has("binds", _bound("_vendored_answer", short)),
        ),
        cflags=_VENDORED_CFLAGS,
        vendored=lib,
    )


MACHO_VARIANTS: Final[dict[str, MachoVariant]] = _table(
    # setuptools' recipe (-bundle -undefined dynamic_lookup); lld 14 ad-hoc signs arm64
    # output by default with CS_ADHOC|CS_LINKER_SIGNED, like Apple's ld64 since Xcode 12.
    _hardened("hardened-arm64", "arm64"),
    # lld 14 leaves x86_64 unsigned unless -adhoc_codesign (as ld64 does).
    _hardened("hardened-x86_64", "x86_64"),
    MachoVariant(
        "codesign-pass-x86_64-adhoc",
        _expect(),
        (*SIGNED, *CANARY, *FORTIFIED),
        arch="x86_64",
        ldflags=("-adhoc_codesign",),
    ),
    MachoVariant(
        "codesign-fail-unsigned-arm64",
        _expect(code_signature="fail"),
        (*UNSIGNED, *CANARY, *FORTIFIED),
        ldflags=("-no_adhoc_codesign",),
        detail=_UNSIGNED_DETAIL,
    ),
    # Stack canary
    MachoVariant(
        "canary-fail-off",
        _expect(canary="fail"),
        (*NO_CANARY, *FORTIFIED, *SIGNED),
        cflags=("-O2", "-fno-stack-protector", "-DMEMSAFE_FORTIFY"),
    ),
    # No LC_LOAD_DYLIB at all: every import is a flat-namespace lookup (ordinal -2).
    MachoVariant(
        "canary-pass-flat-lookup",
        _expect(),
        (
            _has("symbols", *(_import(s, "dynamically looked up") for s in (*_SSP, *_CHK))),
            _lacks("headers", r"^\s*cmd LC_LOAD_(?:WEAK_)?DYLIB$"),
            _has("binds", _bound("___stack_chk_fail", "flat-namespace")),
            *SIGNED,
        ),
        libsystem=False,
    ),
    # FORTIFY
    MachoVariant(
        "fortify-fail-off",
        _expect(fortify="fail"),
        (*NOT_FORTIFIED, *CANARY, *SIGNED),
        cflags=("-O2", "-fstack-protector-strong"),
        detail=_detail(fortify="none", code_signature="linker-signed"),
    ),
    # 1 of 3 fortifiable functions checked; passes at the default fortify_min_ratio 0.0.
    MachoVariant(
        "fortify-partial",
        _expect(),
        (*PARTLY_FORTIFIED, *CANARY, *SIGNED),
        cflags=("-O2", "-fstack-protector-strong", "-DMEMSAFE_FORTIFY_MEMCPY_ONLY"),
        detail=_detail(fortify="partial", code_signature="linker-signed"),
    ),
    # NX (lld 14 ignores -allow_stack_execute: see _allow_stack_execution)
    MachoVariant(
        "nx-fail-allow-stack-execute",
        _expect(nx="fail"),
        (
            _has("headers", _header("BUNDLE", "NOUNDEFS DYLDLINK TWOLEVEL ALLOW_STACK_EXECUTION")),
            *SIGNED,
            *CANARY,
        ),
        post=_allow_stack_execution,
    ),
    # W^X: lld implements -segprot
    MachoVariant(
        "wx-fail-segprot",
        _expect(wx="fail"),
        (
            _has("headers", r"^\s*segname __TEXT\n(?:.*\n){4}\s*maxprot rwx\n\s*initprot rwx$"),
            *STACK_NX,
            *SIGNED,
        ),
        ldflags=("-segprot", "__TEXT", "rwx", "rwx"),
    ),
    # LC_RPATH
    MachoVariant(
        "rpath-fail-absolute",
        _expect(rpath="fail"),
        _rpath_only(_HOST_RPATH),
        ldflags=("-rpath", _HOST_RPATH),
    ),
    MachoVariant(
        "rpath-fail-executable-path",
        _expect(rpath="fail"),
        _rpath_only(_EXEC_RPATH),
        ldflags=("-rpath", _EXEC_RPATH),
    ),
    MachoVariant("rpath-pass-none", _expect(), (*NO_RPATH, *SYSTEM_DYLIB_ONLY)),
    # Install names of vendored dylibs (what delocate rewrites)
    _vendored("rpath-fail-vendored-absolute", "fail", _LIBSSL),
    _vendored("rpath-pass-vendored-loader-path", "pass", _LIBFOO),
    _vendored("rpath-fail-weak-absolute", "fail", _LIBFOO_WEAK),
    # Loadability (a Rust cdylib built by maturin is an MH_DYLIB renamed to .so)
    MachoVariant(
        "loadable-pass-dylib",
        _expect(),
        (
            _has("headers", _load("LC_ID_DYLIB", "name", "@rpath/libloadable_pass_dylib.dylib")),
            *SIGNED,
            *CANARY,
        ),
        kind="dylib",
    ),
    MachoVariant(
        "loadable-fail-execute",
        _expect(loadable="fail"),
        (
            _has("headers", _header("EXECUTE", "NOUNDEFS DYLDLINK TWOLEVEL PIE")),
            _has("headers", r"^\s*cmd LC_MAIN$", r"^\s*segname __PAGEZERO$"),
            *SIGNED,
            *CANARY,
        ),
        kind="execute",
    ),
    # universal2: the slices differ in the canary only, so per-slice results can be told apart.
    MachoVariant(
        "universal2-canary-arm64-only",
        MappingProxyType({}),
        slices=(
            MachoVariant(
                "universal2-canary-arm64-only",
                _expect(),
                (*CANARY, *FORTIFIED, *SIGNED),
            ),
            MachoVariant(
                "universal2-canary-arm64-only",
                _expect(canary="fail"),
                (*NO_CANARY, *FORTIFIED, *UNSIGNED),
                arch="x86_64",
                cflags=("-O2", "-fno-stack-protector", "-DMEMSAFE_FORTIFY"),
                detail=_UNSIGNED_DETAIL,
            ),
        ),
    ),
    # Chained fixups (lld 16 -fixup_chains) with the undefined symbols cut from LC_SYMTAB:
    # the imports are visible in LC_DYLD_CHAINED_FIXUPS only.
    MachoVariant(
        "canary-pass-chained-fixups-only",
        _expect(),
        (
            _has("headers", r"^\s*cmd LC_DYLD_CHAINED_FIXUPS$", r"^\s*cmd LC_DYLD_EXPORTS_TRIE$"),
            _lacks("headers", r"^\s*cmd LC_DYLD_INFO(?:_ONLY)?$"),
            _lacks("symbols", r"\(undefined\)"),
            _has("fixups", *(_chained_import(s) for s in (*_SSP, *_CHK))),
            *SIGNED,
        ),
        linker=LD64_CHAINED,
        ldflags=("-fixup_chains",),
        post=_drop_undefined_symbols,
    ),
)


# --------------------------------------------------------------------------- build


def verify_macho(variant: MachoVariant, path: Path, *, label: str | None = None) -> list[str]:
    """Check ``path`` against ``variant.all_checks``; return the evidence lines.

    Raise FixtureBuildError with the command and the relevant oracle output on a mismatch.
    """
    outputs: dict[Oracle, tuple[str, str]] = {}
    evidence: list[str] = []
    for check in variant.all_checks:
        if check.oracle not in outputs:
            if check.oracle == "signature":
                outputs[check.oracle] = ("code signature", describe_signature(path))
            else:
                cmd = _oracle_cmd(check.oracle, path)
                outputs[check.oracle] = (" ".join(cmd[:-1]), run_tool(cmd))
        cmd_text, text = outputs[check.oracle]
        evidence += expect_patterns(
            label or f"variant {variant.name!r}",
            path,
            cmd_text,
            text,
            check.must,
            check.must_not,
        )
    return evidence


def _target(arch: Arch) -> tuple[str, ...]:
    return ("-target", f"{arch}-apple-macos11")


def _link_cmd(variant: MachoVariant, objects: list[Path], dest: Path) -> list[str]:
    kind: Mapping[Kind, tuple[str, ...]] = {
        "bundle": ("-bundle",),
        "dylib": ("-dylib", "-install_name", f"@rpath/lib{variant.stem}.dylib"),
        "execute": ("-execute", "-e", "_main"),
    }
    return [
        require_tool(variant.linker),
        "-arch",
        variant.arch,
        "-platform_version",
        "macos",
        "11.0",
        "11.0",
        *kind[variant.kind],
        "-undefined",
        "dynamic_lookup",
        *variant.ldflags,
        *(str(o) for o in objects),
        *((str(MACHO_SOURCES / "libSystem.B.tbd"),) if variant.libsystem else ()),
        "-o",
        str(dest),
    ]


def _build_vendored(variant: MachoVariant, lib: VendoredDylib, work: Path) -> list[str]:
    """Build the stub dylib with its install name; return the linker arguments naming it."""
    obj, dylib = work / "vendored.o", work / lib.file_name
    run_tool(
        [
            require_tool(CLANG),
            *_target(variant.arch),
            "-O2",
            "-c",
            str(MACHO_SOURCES / "vendored.c"),
            "-o",
            str(obj),
        ]
    )
    stub = MachoVariant(lib.file_name, variant.expect, arch=variant.arch, kind="dylib")
    cmd = _link_cmd(stub, [obj], dylib)
    at = cmd.index("-install_name")
    cmd[at + 1] = lib.install_name
    run_tool(cmd)
    return ["-weak_library", str(dylib)] if lib.weak else [str(dylib)]


def _build_thin(variant: MachoVariant, work: Path, dest: Path) -> None:
    sources = ["ext.c", *(("main.c",) if variant.kind == "execute" else ())]
    objects = []
    for source in sources:
        obj = work / (Path(source).stem + ".o")
        run_tool(
            [
                require_tool(CLANG),
                *_target(variant.arch),
                *variant.cflags,
                f"-DMODULE={variant.stem}",
                f"-I{SOURCES}",
                "-c",
                str(MACHO_SOURCES / source),
                "-o",
                str(obj),
            ]
        )
        objects.append(obj)
    cmd = _link_cmd(variant, objects, dest)
    if variant.vendored is not None:
        at = cmd.index("-o")
        cmd[at:at] = _build_vendored(variant, variant.vendored, work)
    run_tool(cmd)
    if variant.post is not None:
        variant.post(dest)
    verify_macho(variant, dest)


def build_macho_variant(name: str, out_dir: Path) -> Path:
    """Build variant ``name`` into ``out_dir``, verify it with the oracle, return its path.

    Object files and stub dylibs go to a temporary directory, so ``out_dir`` holds only
    the corpus files.
    """
    variant = MACHO_VARIANTS[name]
    out_dir.mkdir(parents=True, exist_ok=True)
    dest = out_dir / variant.file_name
    with tempfile.TemporaryDirectory(prefix=f"macho-{name}-") as tmp:
        work = Path(tmp)
        if not variant.slices:
            _build_thin(variant, work, dest)
            return dest
        thin = []
        for piece in variant.slices:
            (work / piece.arch).mkdir()
            _build_thin(piece, work / piece.arch, work / piece.arch / piece.file_name)
            thin.append(str(work / piece.arch / piece.file_name))
        run_tool([require_tool(LIPO), "-create", *thin, "-output", str(dest)])
        verify_macho(variant, dest)
        for piece in variant.slices:
            extracted = work / f"{piece.arch}.so"
            run_tool(
                [require_tool(LIPO), str(dest), "-thin", piece.arch, "-output", str(extracted)]
            )
            verify_macho(piece, extracted, label=f"variant {name!r} slice {piece.arch}")
    return dest


def build_macho_all(dest: Path) -> dict[str, Path]:
    """Build and verify every Mach-O variant into ``dest``; name -> path.

    Sequential: each build is a few milliseconds of clang and lld.
    """
    for tool in TOOLS:
        require_tool(tool)
    return {name: build_macho_variant(name, dest) for name in MACHO_VARIANTS}
