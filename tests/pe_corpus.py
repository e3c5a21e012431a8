"""Corpus of small Windows extension modules (PE ``.pyd``) with known hardening properties.

Each variant is cross-compiled from ``tests/sources/pe`` with mingw-w64 gcc and GNU ld, or
with clang and lld where GNU ld 2.40 cannot produce the property (load configuration
directory, Control Flow Guard, CET compatibility). Every linker default is pinned. Each
file is then verified with ``*-w64-mingw32-objdump`` (the independent oracle): the
variant's own regexes, and an objdump reading of every check's evidence rule that must
give the variant's ``expect`` status. Importing this module has no side effects.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from tests.corpus import (
    SOURCES,
    Check,
    FixtureBuildError,
    expect_patterns,
    has,
    lacks,
    require_tool,
    run_tool,
)

__all__ = [
    "CHECK_IDS",
    "PE_SOURCES",
    "PE_VARIANTS",
    "ObjdumpFacts",
    "PeVariant",
    "Status",
    "build_pe_all",
    "build_pe_variant",
    "objdump",
    "objdump_facts",
    "oracle_statuses",
    "verify_pe_variant",
]

PE_SOURCES: Final = SOURCES / "pe"

Status = Literal["pass", "fail", "not_applicable", "unknown"]
Arch = Literal["x64", "x86"]
Toolchain = Literal["gcc", "clang"]  # gcc + GNU ld, or clang + lld (needs the gcc runtime)

CHECK_IDS: Final = ("aslr", "nx", "cfg", "canary", "safeseh", "cet", "wx", "fortify")

_TRIPLE: Final[Mapping[Arch, str]] = {"x64": "x86_64-w64-mingw32", "x86": "i686-w64-mingw32"}
_PYTAG: Final[Mapping[Arch, str]] = {"x64": ".cp311-win_amd64.pyd", "x86": ".cp311-win32.pyd"}

# PE constants (checks.md section 1b).
RELOCS_STRIPPED: Final = 0x0001
HIGH_ENTROPY_VA: Final = 0x0020
DYNAMIC_BASE: Final = 0x0040
NX_COMPAT: Final = 0x0100
NO_SEH: Final = 0x0400
GUARD_CF: Final = 0x4000
CF_INSTRUMENTED: Final = 0x100
CF_FUNCTION_TABLE_PRESENT: Final = 0x400
CET_COMPAT: Final = 0x01
_DEBUG_TYPE_EX_DLLCHARACTERISTICS: Final = 20
_DIR_BASERELOC: Final = 5
_DIR_LOAD_CONFIG: Final = 10


def objdump(arch: Arch, path: Path, *args: str) -> str:
    """Return the stdout of ``<triple>-objdump <args> path`` (LC_ALL=C)."""
    return run_tool([require_tool(f"{_TRIPLE[arch]}-objdump"), *args, str(path)])


# --------------------------------------------------------------------------- oracle

# IMAGE_LOAD_CONFIG_DIRECTORY{32,64} field -> (offset, width) per architecture; a field
# exists only when it ends within the directory's Size (tests/sources/pe/loadcfg.S).
_LOAD_CONFIG_FIELDS: Final[Mapping[Arch, Mapping[str, tuple[int, int]]]] = {
    "x64": {
        "Size": (0, 4),
        "SecurityCookie": (88, 8),
        "SEHandlerTable": (96, 8),
        "SEHandlerCount": (104, 8),
        "GuardCFCheckFunctionPointer": (112, 8),
        "GuardCFFunctionTable": (128, 8),
        "GuardCFFunctionCount": (136, 8),
        "GuardFlags": (144, 4),
    },
    "x86": {
        "Size": (0, 4),
        "SecurityCookie": (60, 4),
        "SEHandlerTable": (64, 4),
        "SEHandlerCount": (68, 4),
        "GuardCFCheckFunctionPointer": (72, 4),
        "GuardCFFunctionTable": (80, 4),
        "GuardCFFunctionCount": (84, 4),
        "GuardFlags": (88, 4),
    },
}

# Functions mingw-w64's headers fortify with -D_FORTIFY_SOURCE (mingw-w64 10 + libssp).
_FORTIFIABLE: Final = frozenset(
    {
        "memcpy", "mempcpy", "memmove", "memset", "strcpy", "stpcpy", "strncpy", "strcat",
        "strncat", "sprintf", "snprintf", "vsprintf", "vsnprintf", "gets", "fgets",
    }
)  # fmt: skip
_CHK_IMPORT: Final = re.compile(r"__(\w+)_chk")
# objdump -t: a function symbol (type 0x20, external) defined in a section.
_STATIC_SSP: Final = (
    r"^\[\s*\d+\]\(sec\s+[1-9]\d*\)\(fl 0x00\)\(ty\s+20\)\(scl\s+2\) .* __stack_chk_fail$"
)


@dataclass(frozen=True)
class ObjdumpFacts:
    """What ``objdump -p``/``-h``/``-s`` show about one PE file (the oracle's evidence)."""

    arch: Arch
    characteristics: int
    image_base: int
    dll_characteristics: int
    directories: tuple[tuple[int, int], ...]
    """(RVA, size) of each data directory, by index."""
    imports: frozenset[str]
    exports: frozenset[str]
    section_flags: tuple[tuple[str, frozenset[str]], ...]
    """BFD flags per section: READONLY absent = MEM_WRITE, CODE = CNT_CODE or MEM_EXECUTE,
    SHARED = MEM_SHARED."""
    load_config: Mapping[str, int] | None
    """Fields inside the directory's Size; None when data directory 10 is empty."""
    ex_dll_characteristics: int | None
    """First dword of the type-20 debug entry; None when there is none."""
    static_ssp: bool
    """``objdump -t``: __stack_chk_fail defined in a section and no __imp_ pointer to it."""


def _search(pattern: str, text: str, what: str) -> re.Match[str]:
    found = re.search(pattern, text, re.MULTILINE)
    if found is None:
        raise FixtureBuildError(f"objdump output has no {what} (/{pattern}/)")
    return found


def _dump_bytes(arch: Arch, path: Path, vma: int, size: int) -> bytes:
    """Bytes at [vma, vma + size) read with ``objdump -s --start/stop-address``."""
    text = objdump(arch, path, "-s", f"--start-address={vma:#x}", f"--stop-address={vma + size:#x}")
    data = bytearray()
    for line in text.splitlines():
        found = re.match(r"^ ([0-9a-f]+) ((?:[0-9a-f]{2,8} ?)+)(?:  |$)", line)
        if found is None:
            continue
        if int(found.group(1), 16) != vma + len(data):
            raise FixtureBuildError(f"{path}: objdump -s skipped bytes near {line!r}")
        data += bytes.fromhex(found.group(2).replace(" ", ""))
    if len(data) != size:
        raise FixtureBuildError(f"{path}: objdump -s gave {len(data)} of {size} bytes at {vma:#x}")
    return bytes(data)


def objdump_facts(arch: Arch, path: Path) -> ObjdumpFacts:
    """Read the evidence every PE check needs from objdump's output."""
    private = objdump(arch, path, "-p")
    fmt = _search(r"file format (pei-x86-64|pei-i386)$", private, "file format").group(1)
    if (fmt == "pei-x86-64") != (arch == "x64"):
        raise FixtureBuildError(f"{path}: objdump says {fmt}, expected {arch}")
    image_base = int(_search(r"^ImageBase\s+([0-9a-f]+)$", private, "ImageBase").group(1), 16)
    directories = tuple(
        (int(rva, 16), int(size, 16))
        for rva, size in re.findall(r"^Entry [0-9a-f] ([0-9a-f]+) ([0-9a-f]+) ", private, re.M)
    )
    load_config = None
    rva, size = directories[_DIR_LOAD_CONFIG]
    if rva and size:
        raw = _dump_bytes(arch, path, image_base + rva, size)
        declared = int.from_bytes(raw[:4], "little")
        load_config = {
            name: int.from_bytes(raw[off : off + width], "little")
            for name, (off, width) in _LOAD_CONFIG_FIELDS[arch].items()
            if off + width <= min(declared, size)
        }
    ex_dll = None
    for entry in re.finditer(
        r"^\s*(\d+)\s+\S+\s+([0-9a-f]{8}) ([0-9a-f]{8}) ([0-9a-f]{8})$", private, re.M
    ):
        if int(entry.group(1)) == _DEBUG_TYPE_EX_DLLCHARACTERISTICS:
            payload = _dump_bytes(arch, path, image_base + int(entry.group(3), 16), 4)
            ex_dll = int.from_bytes(payload, "little")
    headers = objdump(arch, path, "-h")
    sections = tuple(
        (name, frozenset(flag.strip() for flag in flags.split(",")))
        for name, flags in re.findall(r"^\s*\d+ (\S+)\s+[0-9a-f]+\s.*\n\s+(.*)$", headers, re.M)
    )
    symbols = objdump(arch, path, "-t")
    static_ssp = re.search(_STATIC_SSP, symbols, re.M) is not None and not re.search(
        r" __imp___stack_chk_fail$", symbols, re.M
    )
    return ObjdumpFacts(
        arch=arch,
        characteristics=int(
            _search(r"^Characteristics 0x([0-9a-f]+)$", private, "Characteristics").group(1), 16
        ),
        image_base=image_base,
        dll_characteristics=int(
            _search(r"^DllCharacteristics\s+([0-9a-f]+)$", private, "DllCharacteristics").group(1),
            16,
        ),
        directories=directories,
        imports=frozenset(re.findall(r"^\t[0-9a-f]+\t\s*\d+\s+(\S+)$", private, re.M)),
        exports=frozenset(re.findall(r"^\t\[\s*\d+\] (\S+)$", private, re.M)),
        section_flags=sections,
        load_config=load_config,
        ex_dll_characteristics=ex_dll,
        static_ssp=static_ssp,
    )


def _status(ok: bool) -> Status:
    return "pass" if ok else "fail"


def oracle_statuses(facts: ObjdumpFacts) -> dict[str, Status]:
    """Each check's evidence rule (checks.md section 1b) applied to objdump's reading."""
    dll = facts.dll_characteristics
    lc = facts.load_config or {}
    x64 = facts.arch == "x64"
    chk = {m.group(1) for name in facts.imports if (m := _CHK_IMPORT.fullmatch(name))}
    plain = _FORTIFIABLE & facts.imports
    fortify: Status = "pass" if chk else "fail" if plain else "unknown"
    canary: Status = _status(
        "__stack_chk_fail" in facts.imports or lc.get("SecurityCookie", 0) != 0 or facts.static_ssp
    )
    writable = [(name, flags) for name, flags in facts.section_flags if "READONLY" not in flags]
    return {
        "aslr": _status(
            bool(dll & DYNAMIC_BASE)
            and not facts.characteristics & RELOCS_STRIPPED
            and facts.directories[_DIR_BASERELOC][1] > 0
            and (not x64 or facts.image_base > 0xFFFFFFFF)
        ),
        "nx": _status(bool(dll & NX_COMPAT)),
        "cfg": _status(
            bool(dll & GUARD_CF)
            and lc.get("GuardFlags", 0) & CF_INSTRUMENTED != 0
            and lc.get("GuardFlags", 0) & CF_FUNCTION_TABLE_PRESENT != 0
            and lc.get("GuardCFCheckFunctionPointer", 0) != 0
            and lc.get("GuardCFFunctionTable", 0) != 0
            and lc.get("GuardCFFunctionCount", 0) != 0
        ),
        "canary": canary,
        "safeseh": "not_applicable"
        if x64
        else _status(
            bool(dll & NO_SEH)
            or (lc.get("SEHandlerTable", 0) != 0 and lc.get("SEHandlerCount", 0) != 0)
        ),
        "cet": _status((facts.ex_dll_characteristics or 0) & CET_COMPAT != 0),
        "wx": _status(not any("CODE" in flags or "SHARED" in flags for _, flags in writable)),
        "fortify": fortify,
    }


# --------------------------------------------------------------------------- table


def _dll_flag(name: str) -> str:
    """Pattern for a flag name listed under objdump's DllCharacteristics line."""
    return rf"^DllCharacteristics\s+[0-9a-f]+\n(?:\t+\w+\n)*\t+{name}$"


def _imports(*names: str) -> Check:
    return has("-p", *(rf"^\t[0-9a-f]+\t\s*\d+\s+{n}$" for n in names))


def _no_imports(pattern: str) -> Check:
    return lacks("-p", rf"^\t[0-9a-f]+\t\s*\d+\s+(?:{pattern})$")


def _dll(name: str) -> str:
    return rf"^\tDLL Name: {re.escape(name)}$"


def _section(name: str, flags: str) -> Check:
    """Section ``name`` whose BFD flag line matches ``flags`` (a regex)."""
    return has("-h", rf"^\s*\d+ {re.escape(name)}\s.*\n\s+{flags}$")


_NO_DIR: Final = r"0{8,16} 0{8}"
_HIGH_BASE: Final = r"^ImageBase\s+0{7}[1-9a-f][0-9a-f]{8}$"  # PE32+ base above 4 GiB
_SSP: Final = _imports("__stack_chk_fail")
_NO_SSP: Final = _no_imports("__stack_chk_fail|__stack_chk_guard")
_FORTIFIED: Final = (_imports("__memcpy_chk", "__strcpy_chk"), has("-p", _dll("libssp-0.dll")))
_NOT_FORTIFIED: Final = (_no_imports(r"__\w+_chk"), _imports("memcpy", "strcpy"))
_NO_LOAD_CONFIG: Final = has("-p", rf"^Entry a {_NO_DIR} Load Configuration Directory$")
_NO_DEBUG_DIR: Final = has("-p", rf"^Entry 6 {_NO_DIR} Debug Directory$")

# Every knob is pinned: binutils 2.40 already defaults to --dynamicbase, --nxcompat and
# --high-entropy-va, but older ones (and other distributions' builds) did not.
FORTIFY_OFF: Final = ("-U_FORTIFY_SOURCE",)
FORTIFY_2: Final = ("-U_FORTIFY_SOURCE", "-D_FORTIFY_SOURCE=2")

_GCC_HARDENED: Final[Mapping[str, tuple[str, ...]]] = {
    "kind": ("-shared",),
    "opt": ("-O2",),
    "fortify": FORTIFY_2,
    "ssp": ("-fstack-protector-strong",),
    # Before dynamicbase: GNU ld's --high-entropy-va turns DYNAMIC_BASE back on after
    # --disable-dynamicbase (while --disable-dynamicbase also clears HIGH_ENTROPY_VA).
    "entropy": ("-Wl,--high-entropy-va",),
    "dynamicbase": ("-Wl,--dynamicbase",),
    "nxcompat": ("-Wl,--nxcompat",),
    # gcc's spec already passes it with -shared: a base hashed from the DLL name, above
    # 4 GiB on x64. lld accepts and ignores it (0x180000000 on x64, 0x10000000 on x86).
    "base": ("-Wl,--enable-auto-image-base",),
    "seh": (),
    "extra": (),
}

# lld-link (through ld.lld's MinGW driver) also sets DYNAMIC_BASE, NX_COMPAT and
# HIGH_ENTROPY_VA by default; -Xlink passes lld-link options (lld 14 has no MinGW
# spelling for -guard:cf or -cetcompat).
_CLANG_BASE: Final[Mapping[str, tuple[str, ...]]] = {
    "kind": ("-shared",),
    "opt": ("-O2",),
    "fortify": FORTIFY_OFF,
    "ssp": ("-fno-stack-protector",),
    "entropy": ("-Wl,--high-entropy-va",),
    "dynamicbase": ("-Wl,--dynamicbase",),
    "nxcompat": ("-Wl,--nxcompat",),
    # gcc's spec already passes it with -shared: a base hashed from the DLL name, above
    # 4 GiB on x64. lld accepts and ignores it (0x180000000 on x64, 0x10000000 on x86).
    "base": ("-Wl,--enable-auto-image-base",),
    "seh": (),
    "extra": (),
}


def _flags(
    knobs: Mapping[str, tuple[str, ...]], /, **overrides: tuple[str, ...]
) -> tuple[str, ...]:
    """``knobs`` with some replaced (an empty tuple leaves that one to the default)."""
    unknown = overrides.keys() - knobs.keys()
    if unknown:
        raise KeyError(f"unknown flag knobs: {sorted(unknown)}")
    knobs = {**knobs, **overrides}
    return tuple(flag for value in knobs.values() for flag in value)


def _gcc(**overrides: tuple[str, ...]) -> tuple[str, ...]:
    return _flags(_GCC_HARDENED, **overrides)


def _gcc_x86(**overrides: tuple[str, ...]) -> tuple[str, ...]:
    """i686 ld has no --high-entropy-va option (a PE32+ flag)."""
    return _flags(_GCC_HARDENED, **{"entropy": (), **overrides})


def _clang(**overrides: tuple[str, ...]) -> tuple[str, ...]:
    return _flags(_CLANG_BASE, **overrides)


_GCC_EXPECT: Final[Mapping[str, Status]] = {
    "aslr": "pass",
    "nx": "pass",
    "cfg": "fail",  # GNU toolchains cannot emit Control Flow Guard
    "canary": "pass",
    "safeseh": "not_applicable",
    "cet": "fail",  # GNU ld 2.40 writes no debug directory at all
    "wx": "pass",
    "fortify": "pass",
}
_CLANG_EXPECT: Final[Mapping[str, Status]] = {
    **_GCC_EXPECT,
    "canary": "fail",
    "fortify": "fail",
}


def _expect(base: Mapping[str, Status], **overrides: Status) -> Mapping[str, Status]:
    unknown = overrides.keys() - set(CHECK_IDS)
    if unknown:
        raise KeyError(f"unknown check ids: {sorted(unknown)}")
    return {**base, **overrides}


@dataclass(frozen=True)
class PeVariant:
    """One corpus entry: how to build it, what objdump must show, each check's status."""

    name: str
    flags: tuple[str, ...]
    expect: Mapping[str, Status]
    checks: tuple[Check, ...] = ()
    sources: tuple[str, ...] = ("ext.c",)
    libs: tuple[str, ...] = ()  # after the sources: GNU ld resolves import libraries in order
    arch: Arch = "x64"
    toolchain: Toolchain = "gcc"

    @property
    def stem(self) -> str:
        return self.name.replace("-", "_")

    @property
    def file_name(self) -> str:
        return self.stem + _PYTAG[self.arch]

    @property
    def triple(self) -> str:
        return _TRIPLE[self.arch]

    @property
    def all_checks(self) -> tuple[Check, ...]:
        """``checks`` plus the extension shape: a DLL exporting PyInit_<stem>."""
        return (
            *self.checks,
            has("-p", r"^Characteristics 0x[0-9a-f]+\n(?:\t.*\n)*\tDLL$"),
            has("-p", rf"^\t\[\s*\d+\] PyInit_{self.stem}$"),
        )


def _table(*variants: PeVariant) -> dict[str, PeVariant]:
    table = {v.name: v for v in variants}
    if len(table) != len(variants):
        raise ValueError("duplicate variant names")
    for v in variants:
        if set(v.expect) != set(CHECK_IDS):
            raise ValueError(f"{v.name}: expect must give exactly {CHECK_IDS}")
    return table


_SSP_LIB: Final = ("-lssp",)  # fortified calls resolve to libssp-0.dll (-fstack-protector adds it)
_LOADCFG: Final = ("ext.c", "loadcfg.S")

PE_VARIANTS: Final[dict[str, PeVariant]] = _table(
    # ---- x64, mingw-w64 gcc + GNU ld
    PeVariant(
        "hardened",
        _gcc(),
        _GCC_EXPECT,
        (
            has("-p", _HIGH_BASE, _dll_flag("DYNAMIC_BASE"), _dll_flag("NX_COMPAT")),
            has("-p", _dll_flag("HIGH_ENTROPY_VA")),
            _SSP,
            *_FORTIFIED,
            _NO_LOAD_CONFIG,
            _NO_DEBUG_DIR,
        ),
        libs=_SSP_LIB,
    ),
    PeVariant(
        "weak",
        _gcc(
            fortify=FORTIFY_OFF,
            ssp=("-fno-stack-protector",),
            dynamicbase=("-Wl,--disable-dynamicbase",),
            nxcompat=("-Wl,--disable-nxcompat",),
            entropy=("-Wl,--disable-high-entropy-va",),
        ),
        _expect(_GCC_EXPECT, aslr="fail", nx="fail", canary="fail", fortify="fail"),
        (has("-p", r"^DllCharacteristics\s+00000000$"), _NO_SSP, *_NOT_FORTIFIED),
    ),
    # ASLR
    PeVariant(
        "aslr-fail-nodynamicbase",
        _gcc(dynamicbase=("-Wl,--disable-dynamicbase",)),
        _expect(_GCC_EXPECT, aslr="fail"),
        # GNU ld also drops HIGH_ENTROPY_VA (meaningless without DYNAMIC_BASE) but keeps .reloc
        (
            lacks("-p", _dll_flag("DYNAMIC_BASE"), _dll_flag("HIGH_ENTROPY_VA")),
            has("-p", r"^Entry 5 [0-9a-f]+ 0*[1-9a-f][0-9a-f]* Base Relocation Directory"),
        ),
        libs=_SSP_LIB,
    ),
    PeVariant(
        "aslr-pass-nohighentropy",
        _gcc(entropy=("-Wl,--disable-high-entropy-va",)),
        _GCC_EXPECT,  # HIGH_ENTROPY_VA only lowers the graded level
        (
            has("-p", _dll_flag("DYNAMIC_BASE"), _HIGH_BASE),
            lacks("-p", _dll_flag("HIGH_ENTROPY_VA")),
        ),
        libs=_SSP_LIB,
    ),
    PeVariant(
        "aslr-fail-lowbase",
        _gcc(base=("-Wl,--image-base=0x10000000",)),
        _expect(_GCC_EXPECT, aslr="fail"),
        (has("-p", r"^ImageBase\s+0000000010000000$", _dll_flag("DYNAMIC_BASE")),),
        libs=_SSP_LIB,
    ),
    # NX (DEP is always on for x64 processes; the flag still reads as fail)
    PeVariant(
        "nx-fail-nonxcompat",
        _gcc(nxcompat=("-Wl,--disable-nxcompat",)),
        _expect(_GCC_EXPECT, nx="fail"),
        (lacks("-p", _dll_flag("NX_COMPAT")), has("-p", _dll_flag("DYNAMIC_BASE"))),
        libs=_SSP_LIB,
    ),
    # W^X
    PeVariant(
        "wx-fail-rwx",
        _gcc(),
        _expect(_GCC_EXPECT, wx="fail"),
        (_section(".rwx", "CONTENTS, ALLOC, LOAD, CODE"),),
        sources=("ext.c", "rwx.c"),
        libs=_SSP_LIB,
    ),
    PeVariant(
        "wx-fail-shared",
        _gcc(),
        _expect(_GCC_EXPECT, wx="fail"),
        (_section(".shared", "CONTENTS, ALLOC, LOAD, DATA, SHARED"),),
        sources=("ext.c", "shared.c"),
        libs=_SSP_LIB,
    ),
    # Stack canary (MinGW: __stack_chk_fail imported from libssp-0.dll)
    PeVariant(
        "canary-pass-strong",
        _gcc(fortify=FORTIFY_OFF),
        _expect(_GCC_EXPECT, fortify="fail"),
        (_SSP, _imports("__stack_chk_guard"), has("-p", _dll("libssp-0.dll")), *_NOT_FORTIFIED),
    ),
    PeVariant(
        "canary-fail-off",
        _gcc(fortify=FORTIFY_OFF, ssp=("-fno-stack-protector",)),
        _expect(_GCC_EXPECT, canary="fail", fortify="fail"),
        (_NO_SSP, lacks("-p", _dll("libssp-0.dll")), *_NOT_FORTIFIED, _NO_LOAD_CONFIG),
    ),
    # -static links libssp.a: the canary code is there (objdump -t: __stack_chk_fail
    # defined in .text) but nothing is imported; the COFF symbol table shows it.
    PeVariant(
        "canary-pass-static-libssp",
        _gcc(fortify=FORTIFY_OFF, extra=("-static",)),
        _expect(_GCC_EXPECT, fortify="fail"),
        (
            _NO_SSP,
            lacks("-p", _dll("libssp-0.dll")),
            has("-t", _STATIC_SSP),
            lacks("-t", r" __imp___stack_chk_fail$"),
        ),
    ),
    # FORTIFY (mingw-w64's headers; the _chk functions live in libssp-0.dll)
    PeVariant(
        "fortify-pass",
        _gcc(ssp=("-fno-stack-protector",)),
        _expect(_GCC_EXPECT, canary="fail"),
        (*_FORTIFIED, _imports("__chk_fail"), _NO_SSP),
        libs=_SSP_LIB,
    ),
    # ---- x86, mingw-w64 gcc + GNU ld (ImageBase has no 4 GiB rule on PE32)
    PeVariant(
        "x86-hardened",
        _gcc_x86(seh=("-Wl,--no-seh",)),
        _expect(_GCC_EXPECT, safeseh="pass"),
        (has("-p", _dll_flag("NO_SEH"), _dll_flag("DYNAMIC_BASE")), _SSP, *_FORTIFIED),
        libs=_SSP_LIB,
        arch="x86",
    ),
    PeVariant(
        "safeseh-fail-x86",
        _gcc_x86(),
        _expect(_GCC_EXPECT, safeseh="fail"),
        (lacks("-p", _dll_flag("NO_SEH")), _NO_LOAD_CONFIG),
        libs=_SSP_LIB,
        arch="x86",
    ),
    # ---- clang + lld: the load configuration directory, CFG and CET
    PeVariant(
        "lld-baseline",
        _clang(),
        _CLANG_EXPECT,
        (has("-p", r"^ImageBase\s+0000000180000000$"), _NO_LOAD_CONFIG, _NO_SSP),
        toolchain="clang",
    ),
    PeVariant(
        "lld-hardened",
        _clang(
            fortify=FORTIFY_2,
            ssp=("-fstack-protector-strong",),
            extra=(
                "-DLOADCFG_COOKIE",
                "-DLOADCFG_GUARD",
                "-Xclang",
                "-cfguard",
                "-Wl,-Xlink=-guard:cf",
                "-Wl,-Xlink=-cetcompat",
            ),
        ),
        _expect(_GCC_EXPECT, cfg="pass", cet="pass"),
        (has("-p", _dll_flag("GUARD_CF")), _SSP, *_FORTIFIED),
        sources=_LOADCFG,
        libs=_SSP_LIB,
        toolchain="clang",
    ),
    PeVariant(
        "cet-pass",
        _clang(extra=("-Wl,-Xlink=-cetcompat",)),
        _expect(_CLANG_EXPECT, cet="pass"),
        (has("-p", r"^\s*20\s+Unknown 00000004 [0-9a-f]{8} [0-9a-f]{8}$"),),
        toolchain="clang",
    ),
    PeVariant(
        "cfg-pass",
        _clang(extra=("-DLOADCFG_GUARD", "-Xclang", "-cfguard", "-Wl,-Xlink=-guard:cf")),
        _expect(_CLANG_EXPECT, cfg="pass"),
        (
            has("-p", _dll_flag("GUARD_CF")),
            has("-p", r"^Entry a [0-9a-f]+ 00000094 Load Configuration Directory$"),
        ),
        sources=_LOADCFG,
        toolchain="clang",
    ),
    # lld sets GUARD_CF with no _load_config_used to hold the tables: the flag alone.
    PeVariant(
        "cfg-fail-flag-only",
        _clang(extra=("-Xclang", "-cfguard", "-Wl,-Xlink=-guard:cf")),
        _CLANG_EXPECT,
        (has("-p", _dll_flag("GUARD_CF")), _NO_LOAD_CONFIG),
        toolchain="clang",
    ),
    # A /GS cookie slot in the load config and no __stack_chk_fail: MSVC-style evidence.
    PeVariant(
        "canary-pass-gs-cookie",
        _clang(extra=("-DLOADCFG_COOKIE",)),
        _expect(_CLANG_EXPECT, canary="pass"),
        (has("-p", r"^Entry a [0-9a-f]+ 00000094 Load Configuration Directory$"), _NO_SSP),
        sources=_LOADCFG,
        toolchain="clang",
    ),
    # Same cookie bytes, but Size = 64 ends the directory before SecurityCookie (offset 88).
    PeVariant(
        "canary-fail-gs-short",
        _clang(extra=("-DLOADCFG_COOKIE", "-DLOADCFG_SIZE=64")),
        _CLANG_EXPECT,
        (has("-p", r"^Entry a [0-9a-f]+ 00000040 Load Configuration Directory$"), _NO_SSP),
        sources=_LOADCFG,
        toolchain="clang",
    ),
    # x86 SafeSEH through a registered-handler table (GNU ld cannot make one).
    PeVariant(
        "safeseh-pass-table",
        _clang(entropy=(), extra=("-DLOADCFG_SAFESEH",)),
        _expect(_CLANG_EXPECT, safeseh="pass"),
        (
            lacks("-p", _dll_flag("NO_SEH")),
            has("-p", r"^Entry a [0-9a-f]+ 0000005c Load Configuration Directory$"),
        ),
        sources=_LOADCFG,
        arch="x86",
        toolchain="clang",
    ),
)


# --------------------------------------------------------------------------- build


def verify_pe_variant(name: str, path: Path) -> list[str]:
    """Check ``path`` against variant ``name``'s oracle; return the evidence lines.

    Raise FixtureBuildError with the relevant objdump output on a mismatch: a missing
    or unexpected pattern, or an evidence rule whose status differs from ``expect``.
    """
    variant = PE_VARIANTS[name]
    label = f"PE variant {name!r}"
    outputs: dict[tuple[str, ...], str] = {}
    evidence: list[str] = []
    for check in variant.all_checks:
        if check.args not in outputs:
            outputs[check.args] = objdump(variant.arch, path, *check.args)
        cmd = f"{variant.triple}-objdump " + " ".join(check.args)
        evidence += expect_patterns(
            label, path, cmd, outputs[check.args], check.must, check.must_not
        )
    facts = objdump_facts(variant.arch, path)
    got = oracle_statuses(facts)
    wrong = {c: (variant.expect[c], got[c]) for c in CHECK_IDS if got[c] != variant.expect[c]}
    if wrong:
        detail = "\n".join(f"  {c}: expect {e}, objdump shows {g}" for c, (e, g) in wrong.items())
        raise FixtureBuildError(
            f"{label} ({path}): expect disagrees with objdump\n{detail}\n{facts}"
        )
    evidence += [f"objdump: {c} {got[c]}" for c in CHECK_IDS]
    return evidence


@functools.cache
def _gcc_libdir(arch: Arch) -> str:
    """The mingw-w64 gcc runtime directory (libgcc, libssp): clang 14 does not find it."""
    out = run_tool([require_tool(f"{_TRIPLE[arch]}-gcc"), "-print-libgcc-file-name"])
    return str(Path(out.strip()).parent)


def _compiler(variant: PeVariant) -> list[str]:
    if variant.toolchain == "gcc":
        return [require_tool(f"{variant.triple}-gcc")]
    require_tool("ld.lld")
    return [
        require_tool("clang"),
        f"--target={variant.triple}",
        "-fuse-ld=lld",
        f"-L{_gcc_libdir(variant.arch)}",
    ]


def build_pe_variant(name: str, out_dir: Path) -> Path:
    """Build variant ``name`` into ``out_dir``, verify it with objdump, return its path."""
    variant = PE_VARIANTS[name]
    out_dir.mkdir(parents=True, exist_ok=True)
    dest = out_dir / variant.file_name
    run_tool(
        [
            *_compiler(variant),
            *variant.flags,
            f"-DMODULE={variant.stem}",
            f"-I{SOURCES}",
            *(str(PE_SOURCES / s) for s in variant.sources),
            *variant.libs,
            "-o",
            variant.file_name,
        ],
        # GNU ld hashes the output path into the auto image base: a relative name keeps
        # the base the same in every temporary directory.
        cwd=out_dir,
    )
    verify_pe_variant(name, dest)
    return dest


def _tools() -> set[str]:
    tools = set()
    for v in PE_VARIANTS.values():
        tools |= {f"{v.triple}-objdump", f"{v.triple}-gcc"}
        if v.toolchain == "clang":
            tools |= {"clang", "ld.lld"}
    return tools


def build_pe_all(dest: Path) -> dict[str, Path]:
    """Build and verify every variant into ``dest`` (in parallel); name -> path."""
    for tool in sorted(_tools()):
        require_tool(tool)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        futures = {name: pool.submit(build_pe_variant, name, dest) for name in PE_VARIANTS}
        return {name: future.result() for name, future in futures.items()}
