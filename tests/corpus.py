"""Corpus of small ELF extension modules with known hardening properties.

Each variant is compiled from ``tests/sources`` with every distribution-dependent
default pinned explicitly, then verified with ``readelf`` (the independent oracle).
Importing this module has no side effects.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

import pytest

__all__ = [
    "SOURCES",
    "VARIANTS",
    "Check",
    "FixtureBuildError",
    "Variant",
    "build_all",
    "build_variant",
    "expect_patterns",
    "readelf",
    "require_tool",
    "run_tool",
    "verify_variant",
]

SOURCES: Final = Path(__file__).resolve().parent / "sources"
_TIMEOUT: Final = 120
_PYTAG: Final = ".cpython-311-x86_64-linux-gnu.so"


class FixtureBuildError(Exception):
    """The toolchain failed, or did not produce what a variant promises."""


def require_tool(name: str) -> str:
    """Return the path of ``name``; skip locally, fail when ``CI == 'true'``."""
    path = shutil.which(name)
    if path is not None:
        return path
    reason = f"required tool {name!r} not found on PATH"
    if os.environ.get("CI") == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


TOOL_HOMES: Final = {
    "RUSTUP_HOME": os.environ.get("RUSTUP_HOME", str(Path.home() / ".rustup")),
    "CARGO_HOME": os.environ.get("CARGO_HOME", str(Path.home() / ".cargo")),
}
"""Where rustup keeps its toolchains, fixed at import: pytester points HOME at a temporary
directory, and the ``rustc`` proxy then finds no toolchain."""


def run_tool(
    cmd: list[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = _TIMEOUT,
) -> str:
    """Run ``cmd`` (no shell) and return stdout; raise FixtureBuildError on failure."""
    try:
        proc = subprocess.run(
            cmd,
            cwd=cwd,
            capture_output=True,
            text=True,
            env={**os.environ, **TOOL_HOMES, "LC_ALL": "C", **(env or {})},
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FixtureBuildError(f"{_quote(cmd)}: {exc}") from exc
    if proc.returncode != 0:
        output = (proc.stderr.strip() or proc.stdout.strip())[-4000:]
        raise FixtureBuildError(f"command failed ({proc.returncode}): {_quote(cmd)}\n{output}")
    return proc.stdout


def _quote(cmd: list[str]) -> str:
    return " ".join(repr(a) if not a or " " in a else a for a in cmd)


def readelf(path: Path, *args: str) -> str:
    """Return the stdout of ``readelf -W <args> path`` (LC_ALL=C)."""
    return run_tool([require_tool("readelf"), "-W", *args, str(path)])


# --------------------------------------------------------------------------- oracle


@dataclass(frozen=True)
class Check:
    """Regexes (multiline) that must / must not match ``readelf -W <args>`` output."""

    args: tuple[str, ...]
    must: tuple[str, ...] = ()
    must_not: tuple[str, ...] = ()


def has(args: str, *patterns: str) -> Check:
    """The tool run with ``args`` (``readelf``, ``objdump``) prints every pattern."""
    return Check(tuple(args.split()), must=patterns)


def lacks(args: str, *patterns: str) -> Check:
    """The tool run with ``args`` prints none of the patterns."""
    return Check(tuple(args.split()), must_not=patterns)


def _und(symbol: str) -> str:
    """Pattern for an imported (UND) dynamic symbol; ``symbol`` is a regex."""
    return rf"\sUND\s+(?:{symbol})(?:@\S*)?(?:\s|$)"


def _imports(*symbols: str) -> Check:
    return has("--dyn-syms", *(_und(s) for s in symbols))


def _no_imports(*symbols: str) -> Check:
    return lacks("--dyn-syms", _und("|".join(symbols)))


def _exports(symbol: str) -> str:
    """Pattern for a defined global dynamic symbol."""
    return rf"\sGLOBAL\s+DEFAULT\s+\d+\s+{symbol}(?:@\S*)?$"


def _dyn_string(tag: str, label: str, value: str) -> str:
    return rf"\({tag}\)\s+{label}: \[{re.escape(value)}\]$"


RELRO: Final = has("-l", r"^\s*GNU_RELRO\s")
NO_RELRO: Final = lacks("-l", r"^\s*GNU_RELRO\s")
_NOW: Final = r"\(FLAGS\)\s.*\bBIND_NOW\b|\(FLAGS_1\)\s.*\bNOW\b|\(BIND_NOW\)"
BIND_NOW: Final = has("-d", _NOW)
LAZY: Final = lacks("-d", _NOW)
_STACK_RW: Final = r"^\s*GNU_STACK\s.*\sRW\s+0x"
STACK_NX: Final = has("-l", _STACK_RW)
STACK_X: Final = has("-l", r"^\s*GNU_STACK\s.*\sRWE\s+0x")
CANARY: Final = _imports("__stack_chk_fail")
NO_CANARY: Final = _no_imports("__stack_chk_fail")
_CHK: Final = r"__\w+_chk"
FORTIFIED: Final = _imports("__memcpy_chk", "__strcpy_chk", "__sprintf_chk", "__read_chk")
NOT_FORTIFIED: Final = _no_imports(_CHK)
PLAIN_BUFFER_CALLS: Final = _imports("memcpy", "strcpy", "sprintf", "read")
_FORTIFIABLE: Final = (
    "memcpy|mempcpy|memmove|memset|strcpy|stpcpy|strncpy|stpncpy|strcat|strncat"
    "|sprintf|snprintf|vsprintf|vsnprintf|gets|fgets|read|pread|recv|recvfrom|realpath"
)
CET: Final = has("-n", r"x86 feature: IBT, SHSTK$")
NO_CET: Final = lacks("-n", r"x86 feature:.*\b(?:IBT|SHSTK)\b")
NO_RPATH: Final = lacks("-d", r"\((?:RPATH|RUNPATH)\)")
_LOAD_WX: Final = r"^\s*LOAD\s.*\sRWE\s+0x"
NO_TEXTREL: Final = lacks("-d", r"\(TEXTREL\)|\(FLAGS\)\s.*\bTEXTREL\b")


def _runpath(value: str, *, old_dtags: bool = False) -> tuple[Check, ...]:
    """RUNPATH (or RPATH with ``old_dtags``) is exactly ``value``; the other tag is absent."""
    tag, label, other = (
        ("RPATH", "Library rpath", "RUNPATH")
        if old_dtags
        else ("RUNPATH", "Library runpath", "RPATH")
    )
    return (has("-d", _dyn_string(tag, label, value)), lacks("-d", rf"\({other}\)"))


# --------------------------------------------------------------------------- flags

# Every knob is pinned in every build because distributions change these defaults
# (Ubuntu: -D_FORTIFY_SOURCE=3, -fstack-protector-strong, -fcf-protection, -z relro ...).
FORTIFY_OFF: Final = ("-U_FORTIFY_SOURCE",)
FORTIFY_2: Final = ("-U_FORTIFY_SOURCE", "-D_FORTIFY_SOURCE=2")
FORTIFY_3: Final = ("-U_FORTIFY_SOURCE", "-D_FORTIFY_SOURCE=3")
RELRO_FULL: Final = ("-Wl,-z,relro", "-Wl,-z,now")
RELRO_PARTIAL: Final = ("-Wl,-z,relro", "-Wl,-z,lazy")
RELRO_NONE: Final = ("-Wl,-z,norelro", "-Wl,-z,lazy")
OLD_DTAGS: Final = ("-Wl,--disable-new-dtags",)

_HARDENED: Final[Mapping[str, tuple[str, ...]]] = {
    "kind": ("-shared", "-fPIC"),
    # Real extensions link the C start files; only cet-pass leaves them out (see there).
    "startfiles": (),
    "opt": ("-O2",),
    "fortify": FORTIFY_2,
    "ssp": ("-fstack-protector-strong",),
    "cf": ("-fcf-protection=full",),
    "relro": RELRO_FULL,
    "stack": ("-Wl,-z,noexecstack",),
    "text": ("-Wl,-z,text",),
    "dtags": ("-Wl,--enable-new-dtags",),
    "extra": (),
}


def _flags(**overrides: tuple[str, ...]) -> tuple[str, ...]:
    """Hardened flags with some knobs replaced (an empty tuple leaves it to the default)."""
    unknown = overrides.keys() - _HARDENED.keys()
    if unknown:
        raise KeyError(f"unknown flag knobs: {sorted(unknown)}")
    knobs = {**_HARDENED, **overrides}
    return tuple(flag for value in knobs.values() for flag in value)


# --------------------------------------------------------------------------- derived


def _strip_all(path: Path) -> None:
    run_tool([require_tool("strip"), "--strip-all", str(path)])


_ELF64_LE: Final = b"\x7fELF\x02\x01"
_SH_FIELDS: Final = (("<Q", 0x28), ("<H", 0x3A), ("<H", 0x3C), ("<H", 0x3E))


def _drop_section_headers(path: Path) -> None:
    """Zero e_shoff/e_shentsize/e_shnum/e_shstrndx in place (ELF64 LSB only)."""
    data = bytearray(path.read_bytes())
    if not data.startswith(_ELF64_LE):
        raise FixtureBuildError(f"{path}: not an ELF64 little-endian file")
    for fmt, offset in _SH_FIELDS:
        struct.pack_into(fmt, data, offset, 0)
    path.write_bytes(bytes(data))


# --------------------------------------------------------------------------- table


@dataclass(frozen=True)
class Variant:
    """One corpus entry: how to build it and what readelf must show."""

    name: str
    sources: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    checks: tuple[Check, ...] = ()
    compiler: Literal["gcc", "g++"] = "gcc"  # gcc also assembles the .s/.S sources
    output: str | None = None
    post: Callable[[Path], None] | None = None  # in-place step after linking
    extension: bool = True  # exports PyInit_<stem>
    symbols: str = "--dyn-syms"  # readelf option listing the dynamic symbols

    @property
    def stem(self) -> str:
        return self.name.replace("-", "_")

    @property
    def file_name(self) -> str:
        return self.output or self.stem + _PYTAG

    @property
    def all_checks(self) -> tuple[Check, ...]:
        """``checks`` plus the PyInit_<stem> export check for extension-shaped variants."""
        pyinit = _exports(f"PyInit_{self.stem}")
        shape = has(self.symbols, pyinit) if self.extension else lacks(self.symbols, "PyInit_")
        return (*self.checks, shape)


def _table(*variants: Variant) -> dict[str, Variant]:
    table = {v.name: v for v in variants}
    if len(table) != len(variants):
        raise ValueError("duplicate variant names")
    return table


_EXT: Final = ("ext.c",)
_TINY: Final = ("tiny.c",)
_HARD_CHECKS: Final = (RELRO, BIND_NOW, STACK_NX, CANARY, FORTIFIED, NO_TEXTREL, NO_RPATH)
_ORIGIN: Final = "$ORIGIN/../mypkg.libs"  # literal: no shell is involved
_ABSOLUTE: Final = "/home/builder/.pyenv/versions/3.11.7/lib"
_EMPTY_ELEMENT: Final = "$ORIGIN:"  # trailing empty element = current directory

VARIANTS: Final[dict[str, Variant]] = _table(
    Variant(
        "hardened",
        _EXT,
        _flags(),
        (*_HARD_CHECKS, lacks("-l", _LOAD_WX)),
    ),
    Variant(
        "weak",
        _EXT,
        _flags(
            fortify=FORTIFY_OFF,
            ssp=("-fno-stack-protector",),
            cf=("-fcf-protection=none",),
            relro=RELRO_NONE,
            stack=("-Wl,-z,execstack",),
        ),
        (NO_RELRO, LAZY, STACK_X, NO_CANARY, NOT_FORTIFIED, PLAIN_BUFFER_CALLS, NO_CET),
    ),
    # RELRO
    Variant("relro-full", _EXT, _flags(relro=RELRO_FULL), (RELRO, BIND_NOW)),
    Variant("relro-partial", _EXT, _flags(relro=RELRO_PARTIAL), (RELRO, LAZY)),
    Variant("relro-none", _EXT, _flags(relro=RELRO_NONE), (NO_RELRO, LAZY)),
    # NX stack
    Variant("nx-pass", _EXT, _flags(stack=("-Wl,-z,noexecstack",)), (STACK_NX,)),
    Variant("nx-fail-execstack", _EXT, _flags(stack=("-Wl,-z,execstack",)), (STACK_X,)),
    # No stack flag on purpose: ld falls back to an executable stack for the
    # note-less asm object (ld 2.40: "missing .note.GNU-stack section implies
    # executable stack" -> GNU_STACK RWE; future ld may omit it instead).
    Variant(
        "nx-fail-nonote",
        ("nonote.s", *_TINY),
        _flags(stack=()),
        (lacks("-l", _STACK_RW), has("--dyn-syms", _exports("nonote_answer"))),
    ),
    # No input has .note.GNU-stack (asm only, -nostartfiles) and no -z [no]execstack:
    # ld creates no PT_GNU_STACK at all (-z nognustack is ignored by ld 2.40 on x86-64).
    Variant(
        "nx-fail-nognustack",
        ("nognustack.S",),
        _flags(stack=(), startfiles=("-nostartfiles",)),
        (lacks("-l", r"^\s*GNU_STACK\s"),),
    ),
    # Stack canary
    Variant("canary-pass-strong", _EXT, _flags(ssp=("-fstack-protector-strong",)), (CANARY,)),
    # FORTIFY off too, so the buffer calls show under their plain names.
    Variant(
        "canary-fail-off",
        _EXT,
        _flags(ssp=("-fno-stack-protector",), fortify=FORTIFY_OFF),
        (NO_CANARY, _imports("memcpy", "strcpy", "read")),
    ),
    Variant(
        "canary-unknown-nobuffers",
        _TINY,
        _flags(ssp=("-fstack-protector-strong",)),
        (NO_CANARY, _no_imports(_FORTIFIABLE, _CHK)),
    ),
    # FORTIFY (ext.c gives identical imports at levels 2 and 3)
    Variant("fortify2", _EXT, _flags(fortify=FORTIFY_2), (FORTIFIED,)),
    Variant("fortify3", _EXT, _flags(fortify=FORTIFY_3), (FORTIFIED,)),
    Variant("fortify-off", _EXT, _flags(fortify=FORTIFY_OFF), (NOT_FORTIFIED, PLAIN_BUFFER_CALLS)),
    # glibc ignores _FORTIFY_SOURCE without optimization (and #warns about it).
    Variant(
        "fortify-O0",
        _EXT,
        _flags(opt=("-O0",), fortify=FORTIFY_2),
        (NOT_FORTIFIED, PLAIN_BUFFER_CALLS),
    ),
    Variant(
        "fortify-unknown-nocalls",
        ("nofortify.c",),
        _flags(fortify=FORTIFY_2),
        (
            _no_imports(_FORTIFIABLE, _CHK),
            _imports("strlen", "calloc", "free"),
            has("-d", _dyn_string("NEEDED", "Shared library", "libc.so.6")),
        ),
    ),
    # RPATH / RUNPATH
    Variant("rpath-none", _TINY, _flags(), (NO_RPATH,)),
    Variant("rpath-origin", _TINY, _flags(extra=(f"-Wl,-rpath,{_ORIGIN}",)), _runpath(_ORIGIN)),
    Variant(
        "rpath-origin-old",
        _TINY,
        _flags(dtags=OLD_DTAGS, extra=(f"-Wl,-rpath,{_ORIGIN}",)),
        _runpath(_ORIGIN, old_dtags=True),
    ),
    Variant(
        "rpath-absolute", _TINY, _flags(extra=(f"-Wl,-rpath,{_ABSOLUTE}",)), _runpath(_ABSOLUTE)
    ),
    Variant(
        "rpath-absolute-old",
        _TINY,
        _flags(dtags=OLD_DTAGS, extra=(f"-Wl,-rpath,{_ABSOLUTE}",)),
        _runpath(_ABSOLUTE, old_dtags=True),
    ),
    Variant(
        "rpath-empty",
        _TINY,
        _flags(extra=(f"-Wl,-rpath,{_EMPTY_ELEMENT}",)),
        _runpath(_EMPTY_ELEMENT),
    ),
    Variant(
        "rpath-relative",
        _TINY,
        _flags(extra=("-Wl,-rpath,lib/relative",)),
        _runpath("lib/relative"),
    ),
    # W^X (wx-pass: use "hardened")
    Variant(
        "wx-fail-rwx",
        ("wx.c",),
        _flags(extra=("-Wl,--no-warn-rwx-segments",)),
        (has("-l", _LOAD_WX), STACK_NX),
    ),
    # Text relocations
    Variant(
        "pic-fail-textrel",
        ("textrel.S", *_TINY),
        _flags(text=("-Wl,-z,notext",)),
        (has("-d", r"\(TEXTREL\)", r"\(FLAGS\)\s.*\bTEXTREL\b"),),
    ),
    # Loadability
    Variant(
        "loadable-fail-nodlopen",
        _TINY,
        _flags(extra=("-Wl,-z,nodlopen",)),
        (has("-d", r"\(FLAGS_1\)\s.*\bNOOPEN\b"),),
    ),
    Variant(
        "loadable-fail-pie",
        ("pie.c",),
        _flags(kind=("-pie", "-fPIE", "-rdynamic")),
        (has("-d", r"\(FLAGS_1\)\s.*\bPIE\b"), has("-h", r"Type:\s+DYN\b")),
    ),
    # CET trap: ld ANDs the x86 feature property over all inputs, and Debian 12's
    # crti.o/crtn.o carry none ("crti.o: warning: missing IBT and SHSTK properties"
    # with -z cet-report=warning), so a normal link silently drops IBT/SHSTK even with
    # -fcf-protection=full. An extension module needs no start files, so the passing
    # sample links with -nostartfiles.
    Variant(
        "cet-pass",
        _TINY,
        _flags(cf=("-fcf-protection=full",), startfiles=("-nostartfiles",)),
        (CET,),
    ),
    Variant(
        "cet-dropped-by-crt",
        _TINY,
        _flags(cf=("-fcf-protection=full",)),
        (NO_CET,),
    ),
    Variant("cet-fail", _TINY, _flags(cf=("-fcf-protection=none",)), (NO_CET,)),
    # The hardened recipe, post-processed (rebuilt so PyInit_<stem> matches the file name)
    Variant(
        "stripped",
        _EXT,
        _flags(),
        post=_strip_all,
        checks=(
            has("-S", r"\]\s+\.dynsym\s"),
            lacks("-S", r"\]\s+\.symtab\s"),
            *_HARD_CHECKS,
        ),
    ),
    Variant(
        "nosections",
        _EXT,
        _flags(),
        post=_drop_section_headers,
        checks=(
            has("-S", r"^There are no sections in this file\.$"),
            has("-d", r"^Dynamic section at offset", r"\(NEEDED\)"),
            has("-l", r"^\s*DYNAMIC\s"),
            has("-D -s", _und("__stack_chk_fail"), _und(_CHK)),
            RELRO,
            BIND_NOW,
            STACK_NX,
        ),
        symbols="-D -s",  # --dyn-syms needs the section headers; -D uses PT_DYNAMIC
    ),
    # C++
    Variant(
        "cxx-ext",
        ("ext.cpp",),
        _flags(),
        (
            has("-d", _dyn_string("NEEDED", "Shared library", "libstdc++.so.6")),
            RELRO,
            BIND_NOW,
            CANARY,
        ),
        compiler="g++",
    ),
    # Vendored library: hardened, not an extension.
    Variant(
        "vendored-lib",
        ("lib.c",),
        _flags(extra=("-Wl,-soname,libvendored.so.1",)),
        (
            has("-d", _dyn_string("SONAME", "Library soname", "libvendored.so.1")),
            has("--dyn-syms", _exports("vendored_format")),
            RELRO,
            BIND_NOW,
            STACK_NX,
            CANARY,
        ),
        output="libvendored.so.1",
        extension=False,
    ),
)


# --------------------------------------------------------------------------- build


def verify_variant(name: str, path: Path) -> list[str]:
    """Check ``path`` against variant ``name``'s oracle; return the evidence lines.

    Raise FixtureBuildError with the relevant readelf output on a mismatch.
    """
    outputs: dict[tuple[str, ...], str] = {}
    evidence: list[str] = []
    for check in VARIANTS[name].all_checks:
        if check.args not in outputs:
            outputs[check.args] = readelf(path, *check.args)
        cmd = "readelf -W " + " ".join(check.args)
        evidence += expect_patterns(
            f"variant {name!r}", path, cmd, outputs[check.args], check.must, check.must_not
        )
    return evidence


def expect_patterns(
    label: str, path: Path, cmd: str, text: str, must: Iterable[str], must_not: Iterable[str]
) -> list[str]:
    """Match an oracle's output: every ``must`` regex found, no ``must_not`` one.

    Returns one evidence line per pattern; raises FixtureBuildError naming ``label``, the
    command and the relevant output on a mismatch.
    """
    evidence = []
    for pattern in must:
        found = re.search(pattern, text, re.MULTILINE)
        if found is None:
            raise _mismatch(label, path, cmd, f"missing /{pattern}/", text)
        evidence.append(f"{cmd}: {_line_of(text, found).strip()}")
    for pattern in must_not:
        found = re.search(pattern, text, re.MULTILINE)
        if found is not None:
            raise _mismatch(label, path, cmd, f"unexpected /{pattern}/", _line_of(text, found))
        evidence.append(f"{cmd}: no /{pattern}/")
    return evidence


def _line_of(text: str, found: re.Match[str]) -> str:
    start = text.rfind("\n", 0, found.start()) + 1
    end = text.find("\n", found.end())
    return text[start : end if end >= 0 else len(text)]


def _mismatch(label: str, path: Path, cmd: str, problem: str, excerpt: str) -> FixtureBuildError:
    lines = excerpt.strip().splitlines()
    shown = "\n".join(lines[:60]) + ("\n..." if len(lines) > 60 else "")
    return FixtureBuildError(f"{label} ({path}): {cmd}: {problem}\n{shown}")


def _compile(variant: Variant, dest: Path) -> None:
    cmd = [
        require_tool(variant.compiler),
        *variant.flags,
        f"-DMODULE={variant.stem}",
        f"-I{SOURCES}",
        *(str(SOURCES / s) for s in variant.sources),
        "-o",
        str(dest),
    ]
    run_tool(cmd)


def build_variant(name: str, out_dir: Path) -> Path:
    """Build variant ``name`` into ``out_dir``, verify it with readelf, return its path."""
    variant = VARIANTS[name]
    require_tool("readelf")
    out_dir.mkdir(parents=True, exist_ok=True)
    dest = out_dir / variant.file_name
    _compile(variant, dest)
    if variant.post is not None:
        variant.post(dest)
    verify_variant(name, dest)
    return dest


def build_all(out_dir: Path) -> dict[str, Path]:
    """Build and verify every variant into ``out_dir`` (in parallel); name -> path."""
    for tool in sorted({"readelf", "strip", *(v.compiler for v in VARIANTS.values())}):
        require_tool(tool)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        futures = {name: pool.submit(build_variant, name, out_dir) for name in VARIANTS}
        return {name: future.result() for name, future in futures.items()}
