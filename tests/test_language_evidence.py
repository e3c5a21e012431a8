"""Language evidence read by the loader (``elf_language``, ``elf_dwarf``) from real binaries.

Rust, Rust + C and marker fixtures are built here with rustc and gcc; C, C++ and stripped
ones come from the corpus. ``readelf`` is the oracle for function sizes, FDE ranges and
``DW_CFA_remember_state``; malformed inputs are cut from the good builds.
"""

from __future__ import annotations

import dataclasses
import os
import re
import struct
import subprocess
import time
import tracemalloc
from pathlib import Path
from typing import Final

import pytest

from pytest_memsafe.errors import MalformedBinaryError
from pytest_memsafe.evidence.elf import ElfEvidence, load_elf_evidence
from pytest_memsafe.evidence.elf_dwarf import fde_entries
from pytest_memsafe.evidence.elf_language import MARKER_PATTERNS
from pytest_memsafe.evidence.elf_records import MARKERS, NAMING_SCHEMES, LanguageEvidence
from tests.corpus import FixtureBuildError, readelf, require_tool
from tests.test_malformed import SH_OFFSET, Layout, load_bytes

RUST_MODULE: Final = """\
use std::os::raw::c_void;

#[no_mangle]
pub extern "C" fn PyInit_purerust() -> *mut c_void {
    let v: Vec<u64> = (0..std::env::args().count() as u64).collect();
    let n = format!("{v:?}").parse::<u64>().unwrap_or(0) as usize;
    if v.get(n).copied().unwrap() == 7 {
        panic!("boom");
    }
    std::ptr::null_mut()
}
"""
RUST_WITH_C: Final = """\
use std::os::raw::{c_char, c_int, c_void};

extern "C" {
    fn c_adler32(p: *const u8, n: usize) -> u32;
    fn c_parse_kv(s: *const c_char, key: *mut c_char, val: *mut c_char, n: usize) -> c_int;
}

#[no_mangle]
pub extern "C" fn PyInit_rust_with_c() -> *mut c_void {
    let v: Vec<u8> = std::env::args().flat_map(|a| a.into_bytes()).collect();
    let s = unsafe { c_adler32(v.as_ptr(), v.len()) };
    let (mut k, mut w) = ([0 as c_char; 16], [0 as c_char; 16]);
    let r = unsafe { c_parse_kv(b"a=b\\0".as_ptr().cast(), k.as_mut_ptr(), w.as_mut_ptr(), 16) };
    if s == 7 || r == 99 {
        panic!("boom {s} {r}");
    }
    std::ptr::null_mut()
}
"""
CSUM: Final = """\
#include <stddef.h>
#include <string.h>

unsigned c_adler32(const unsigned char *p, size_t n) {
    unsigned a = 1, b = 0;
    for (size_t i = 0; i < n; i++) { a = (a + p[i]) % 65521; b = (b + a) % 65521; }
    return (b << 16) | a;
}

/* Early returns between calls: GCC saves registers and emits DW_CFA_remember_state. */
int c_parse_kv(const char *s, char *key, char *val, size_t n) {
    if (s == NULL || n == 0) return -1;
    const char *eq = strchr(s, '=');
    if (eq == NULL) return -2;
    size_t k = (size_t)(eq - s);
    if (k >= n) return -3;
    memcpy(key, s, k);
    key[k] = 0;
    strncpy(val, eq + 1, n - 1);
    val[n - 1] = 0;
    return (int)(k + strlen(val));
}
"""
C_FUNCTIONS: Final = ("c_adler32", "c_parse_kv")

NAMED_FUNCTIONS: Final = (
    ("rust", "_ZN4core3fmt5write17h0123456789abcdefE"),
    ("rust", "_ZN4core3ptr13drop_in_place17hfedcba9876543210E.llvm.4242"),
    ("rust", "_RNvCs1234_5crate3foo"),
    ("rust", "rust_begin_unwind"),
    ("c++", "_ZN3foo3barEv"),
    ("c++", "_GLOBAL__sub_I_ext.cpp"),
    ("c++", "pybind11_meta_call"),
    ("cython", "__pyx_pw_3mod_1f"),
    ("mypyc", "CPyDef_mod___f"),
    ("fortran", "__solver_MOD_step"),
    ("fortran", "_gfortran_st_write"),
    ("nim", "eqdestroy___system_u123"),
    ("nim", "NimMainModule"),
    ("toolchain", "__udivti3"),
    ("toolchain", "atexit"),
    ("c", "plain_function"),
    ("c", "plain_function.constprop.0"),
    ("dotted", "array_list.Aligned.append"),
    ("dotted", "mem.eql"),
)
"""(scheme, symbol name) of the functions of the naming fixture; ``dotted`` names are Go's
when a ``runtime.`` function is present and Zig's otherwise."""
LOCAL_FILES: Final = (
    ("c++", "helpers.cpp"),
    ("fortran", "kernel.f90"),
    ("rust", "mycrate.1a2b3c-cgu.0"),
    ("c", "util.c"),
)
"""(scheme, source file name) of objects holding one unmangled static function each."""

MARKER_STRINGS: Final = (
    "/rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/fmt/mod.rs",
    "called `Option::unwrap()` on a `None` value",
    "/u/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/pyo3-0.22.6/src/err/mod.rs",
    "/u/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/openssl-sys-0.9.117/src/lib.rs",
    "/u/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/bzip2-sys-0.1.13+1.0.8/lib.rs",
    "cython_runtime",
    "_cython_3_1_4",
    "0123456789abcdef0123__mypyc",
    "__pybind11_internals_v5_gcc_libstdcpp_cxxabi1018",
    "nanobind.nb_func",
    "Boost.Python.ArgumentError",
    "SIGSEGV: Illegal storage access. (Attempt to read from nil?)",
    "_cffi_backend",
    "fortranobject",
    "OpenSSL 3.5.0 8 Apr 2025",
    " deflate 1.3.1 Copyright 1995-2024 Jean-loup Gailly and Mark Adler ",
    "\\xff Go buildinf:",
)
"""C string literals (as written in C) that carry every marker of :data:`MARKERS`."""
MARKER_CRATES: Final = ("bzip2-sys-0.1.13+1.0.8", "openssl-sys-0.9.117", "pyo3-0.22.6")


def _run(*cmd: str | Path, cwd: Path | None = None) -> str:
    proc = subprocess.run(
        [str(part) for part in cmd],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "LC_ALL": "C"},
        timeout=300,
        check=False,
    )
    if proc.returncode:
        raise FixtureBuildError(f"{' '.join(map(str, cmd))}: {proc.stderr.strip()}")
    return proc.stdout


def _rustc(out: Path, source: Path, *extra: str) -> Path:
    rustc = require_tool("rustc")
    _run(rustc, "--edition", "2021", "--crate-type", "cdylib", "-C", "opt-level=2", *extra,
         "-o", out, source)  # fmt: skip
    return out


def _stripped(path: Path) -> Path:
    out = path.with_suffix(".stripped.so")
    _run(require_tool("strip"), "--strip-all", "-o", out, path)
    return out


def _without_section_headers(path: Path) -> Path:
    """A copy with e_shoff, e_shentsize, e_shnum and e_shstrndx zeroed (ELF64 LSB)."""
    data = bytearray(path.read_bytes())
    assert data.startswith(b"\x7fELF\x02\x01")
    for fmt, at in (("<Q", 0x28), ("<H", 0x3A), ("<H", 0x3C), ("<H", 0x3E)):
        struct.pack_into(fmt, data, at, 0)
    out = path.with_suffix(".nosections.so")
    out.write_bytes(bytes(data))
    return out


@pytest.fixture(scope="module")
def rust(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """purerust, rust_with_c (+ a GCC C object), their strip --strip-all copies, and
    rust_with_c.debug (the C object built with -g)."""
    gcc = require_tool("gcc")
    out = tmp_path_factory.mktemp("rust")
    for name, text in (("purerust.rs", RUST_MODULE), ("rust_with_c.rs", RUST_WITH_C),
                       ("csum.c", CSUM)):  # fmt: skip
        (out / name).write_text(text)
    _run(gcc, "-O2", "-fPIC", "-c", out / "csum.c", "-o", out / "csum.o")
    _run(gcc, "-O2", "-g", "-fPIC", "-c", out / "csum.c", "-o", out / "csum_g.o")
    csum, csum_g = f"link-arg={out / 'csum.o'}", f"link-arg={out / 'csum_g.o'}"
    built = {
        "rust": _rustc(out / "purerust.so", out / "purerust.rs"),
        "rust-c": _rustc(out / "rust_with_c.so", out / "rust_with_c.rs", "-C", csum),
        "rust-c-debug": _rustc(out / "rust_with_c.debug.so", out / "rust_with_c.rs", "-C", csum_g),
    }
    built["rust-stripped"] = _stripped(built["rust"])
    built["rust-c-stripped"] = _stripped(built["rust-c"])
    built["rust-nosections"] = _without_section_headers(built["rust"])
    return built


def language(path: Path) -> LanguageEvidence:
    found = load_elf_evidence(str(path)).language
    assert found is not None
    return found


def schemes(evidence: LanguageEvidence) -> dict[str, int]:
    assert evidence.symtab_bytes is not None
    assert all(scheme in NAMING_SCHEMES and size > 0 for scheme, size in evidence.symtab_bytes)
    return dict(evidence.symtab_bytes)


# -- readelf as the oracle -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Symbol:
    value: int
    size: int
    kind: str
    bind: str
    index: str
    name: str


def symbols(path: Path) -> list[Symbol]:
    """``.symtab`` as ``readelf -sW`` prints it."""
    text = readelf(path, "-s").split("Symbol table '.symtab'", 1)[1]
    row = re.compile(r"^\s*\d+: ([0-9a-f]+)\s+(0x[0-9a-f]+|\d+) (\w+)\s+(\w+)\s+\w+\s+(\w+) ?(.*)$",
                     re.M)  # fmt: skip
    return [Symbol(int(v, 16), int(s, 0), k, b, i, n) for v, s, k, b, i, n in row.findall(text)]


@dataclasses.dataclass(frozen=True)
class SectionRow:
    name: str
    address: int
    offset: int
    size: int
    flags: str


def sections(path: Path) -> dict[int, SectionRow]:
    """Section index -> its ``readelf -SW`` row."""
    row = re.compile(r"^\s*\[\s*(\d+)\] (\S+)\s+\S+\s+([0-9a-f]+) ([0-9a-f]+) ([0-9a-f]+) \S+ +"
                     r"([A-Za-z]*) +\d", re.M)  # fmt: skip
    return {
        int(i): SectionRow(name, int(addr, 16), int(off, 16), int(size, 16), flags)
        for i, name, addr, off, size, flags in row.findall(readelf(path, "-S"))
    }


@dataclasses.dataclass(frozen=True)
class Functions:
    by_name: dict[str, int]
    by_address: dict[int, int]
    """One size per address: a sized FUNC's, else a sizeless FUNC's, else a label's."""


def functions(path: Path) -> Functions:
    """Bytes of each function or code label (sized, or up to the next start), by readelf."""
    table = sections(path)
    kept: dict[int, list[Symbol]] = {}
    for sym in symbols(path):
        code = sym.index.isdigit() and "X" in table[int(sym.index)].flags
        if (sym.kind == "FUNC" and sym.index != "UND") or (
            sym.kind == "NOTYPE" and code and sym.name[:1] not in (".", "$", "")
        ):
            kept.setdefault(sym.value, []).append(sym)
    starts = sorted(kept)
    by_name: dict[str, int] = {}
    by_address: dict[int, int] = {}
    for at, address in enumerate(starts):
        for sym in sorted(kept[address], key=lambda s: (s.kind != "FUNC", not s.size)):
            size = sym.size
            if not size and sym.index.isdigit():
                sec = table[int(sym.index)]
                size = min([sec.address + sec.size, *starts[at + 1 : at + 2]]) - address
            by_name[sym.name] = size
            by_address.setdefault(address, size)
    return Functions(by_name, by_address)


def function_bytes(path: Path) -> dict[str, int]:
    return functions(path).by_name


def readelf_fdes(path: Path) -> list[tuple[int, bool]]:
    """(pc range, has DW_CFA_remember_state) of each ``.eh_frame`` FDE, by readelf."""
    text = readelf(path, "--debug-dump=frames").split("Contents of the .eh_frame section:")[1]
    text = text.split("Contents of the ")[0]
    fdes = []
    for block in re.split(r"\n(?=[0-9a-f]{8} )", text):
        head = re.match(r"[0-9a-f]{8} \S+ \S+ FDE cie=\S+ pc=([0-9a-f]+)\.\.([0-9a-f]+)", block)
        if head is not None:
            start, end = (int(value, 16) for value in head.groups())
            fdes.append((end - start, "DW_CFA_remember_state" in block))
    return fdes


def eh_frame_image(path: Path) -> bytes:
    sec = next(sec for sec in sections(path).values() if sec.name == ".eh_frame")
    return path.read_bytes()[sec.offset : sec.offset + sec.size]


# -- Rust, and C inside Rust -----------------------------------------------------------------


def test_rust_cdylib_is_rust_by_every_signal(rust: dict[str, Path]) -> None:
    found = language(rust["rust"])
    counts = schemes(found)
    code = sum(size for scheme, size in counts.items() if scheme != "toolchain")
    assert counts["rust"] / code > 0.99, counts  # the rest is PyInit_purerust (#[no_mangle])
    assert counts.get("c", 0) == function_bytes(rust["rust"])["PyInit_purerust"]
    assert {"rust-std", "rust-panic"} <= found.markers
    assert dict(found.marker_text)["rust-std"].startswith("/rustc/")
    assert found.eh_frame_fde_bytes > 0 and found.eh_frame_gcc_bytes == 0  # LLVM: no GCC CFI
    assert any(name.startswith("purerust.") and "-cgu." in name for name in found.source_files)
    assert found.dwarf_producers  # std's DWARF is linked in
    assert all(p.startswith("clang LLVM (rustc version") for p in found.dwarf_producers)


def test_c_object_in_rust_shows_in_symtab_and_cfi(rust: dict[str, Path]) -> None:
    found = language(rust["rust-c"])
    sizes = function_bytes(rust["rust-c"])
    assert "csum.c" in found.source_files
    # c_adler32/c_parse_kv are local after rustc's version script: csum.c's STT_FILE and
    # their unmangled names make them C; PyInit_* is the only other unmangled function.
    assert schemes(found)["c"] == sum(sizes[name] for name in (*C_FUNCTIONS, "PyInit_rust_with_c"))
    assert found.eh_frame_gcc_bytes == sizes["c_parse_kv"]  # the early-return function


@pytest.mark.parametrize("name", ["rust", "rust-c"])
def test_strip_keeps_markers_and_cfi(rust: dict[str, Path], name: str) -> None:
    built, stripped = language(rust[name]), language(rust[f"{name}-stripped"])
    assert stripped.symtab_bytes is None and stripped.source_files == ()
    assert stripped.dwarf_producers == ()
    assert (stripped.markers, stripped.marker_text) == (built.markers, built.marker_text)
    # With .symtab the scan stops at the first GCC-style FDE; stripped, it counts them all.
    assert stripped.eh_frame_fde_bytes >= built.eh_frame_fde_bytes
    assert stripped.eh_frame_gcc_bytes >= built.eh_frame_gcc_bytes
    assert (stripped.eh_frame_gcc_bytes > 0) == (built.eh_frame_gcc_bytes > 0) == (name == "rust-c")


def test_without_section_headers_markers_and_cfi_come_from_segments(
    rust: dict[str, Path],
) -> None:
    """PT_LOAD segments stand in for .rodata, PT_GNU_EH_FRAME for .eh_frame."""
    built, bare = language(rust["rust"]), language(rust["rust-nosections"])
    assert bare.symtab_bytes is None
    assert {"rust-std", "rust-panic"} <= bare.markers
    assert (bare.eh_frame_fde_bytes, bare.eh_frame_gcc_bytes) == (
        built.eh_frame_fde_bytes,
        built.eh_frame_gcc_bytes,
    )


def test_every_compilation_unit_producer_is_read(rust: dict[str, Path]) -> None:
    producers = language(rust["rust-c-debug"]).dwarf_producers
    assert any(p.startswith("clang LLVM (rustc version") for p in producers)
    gcc = [p for p in producers if p.startswith("GNU C")]
    assert len(gcc) == 1 and " -g " in gcc[0] and "-O2" in gcc[0], producers


# -- C and C++ from the corpus ---------------------------------------------------------------


def test_c_extension(evidence: dict[str, ElfEvidence]) -> None:
    found = evidence["hardened"].language
    assert found is not None
    counts = schemes(found)
    assert counts.keys() == {"c", "toolchain"}
    assert {"ext.c", "crtstuff.c"} <= set(found.source_files)
    assert found.markers == frozenset() and found.crates == ()
    assert found.eh_frame_gcc_bytes / found.eh_frame_fde_bytes > 0.5  # GCC-style CFI
    assert found.dwarf_producers == ()


def test_cxx_extension(evidence: dict[str, ElfEvidence], corpus: dict[str, Path]) -> None:
    found = evidence["cxx-ext"].language
    assert found is not None
    counts, sizes = schemes(found), function_bytes(corpus["cxx-ext"])
    assert "ext.cpp" in found.source_files
    mangled = sum(size for name, size in sizes.items() if name.startswith("_Z"))
    cold = sum(size for name, size in sizes.items() if name.endswith(".cold"))
    assert counts["c++"] == mangled + cold  # cxx_join.cold: a local under ext.cpp
    assert counts["c"] == sizes["cxx_join"] + sizes["PyInit_cxx_ext"]  # extern "C"


@pytest.mark.parametrize("variant", ["stripped", "nosections"])
def test_stripped_c_keeps_its_cfi(evidence: dict[str, ElfEvidence], variant: str) -> None:
    """Same recipe as ``hardened``: the same code and unwind tables, without .symtab."""
    found, built = evidence[variant].language, evidence["hardened"].language
    assert found is not None and built is not None
    assert found.symtab_bytes is None and found.source_files == ()
    assert found.eh_frame_fde_bytes >= built.eh_frame_fde_bytes > 0  # built: up to a GCC FDE
    assert found.eh_frame_gcc_bytes >= built.eh_frame_gcc_bytes > 0


def test_vendored_c_library(evidence: dict[str, ElfEvidence]) -> None:
    found = evidence["vendored-lib"].language
    assert found is not None
    assert schemes(found).keys() == {"c", "toolchain"} and "lib.c" in found.source_files


# -- readelf cross-checks --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["rust-c", "cxx-ext", "hardened"])
def test_fdes_match_readelf(rust: dict[str, Path], corpus: dict[str, Path], name: str) -> None:
    path = rust.get(name) or corpus[name]
    fdes = list(fde_entries(eh_frame_image(path), "<", 8))

    assert fdes == readelf_fdes(path)
    found = language(path)
    # These files have .symtab function bytes: the scan ends at the first GCC-style FDE.
    first_gcc = next((i for i, (_, gcc) in enumerate(fdes) if gcc), len(fdes) - 1)
    read = fdes[: first_gcc + 1]
    assert found.eh_frame_fde_bytes == sum(size for size, _ in read)
    assert found.eh_frame_gcc_bytes == sum(size for size, gcc in read if gcc)


@pytest.mark.parametrize("name", ["rust-c", "cxx-ext", "hardened"])
def test_symtab_bytes_match_readelf(
    rust: dict[str, Path], corpus: dict[str, Path], name: str
) -> None:
    """Every function byte is counted once: aliases by address, sizeless ones up to the
    next function (readelf's addresses and sizes, summed here independently)."""
    path = rust.get(name) or corpus[name]
    assert sum(schemes(language(path)).values()) == sum(functions(path).by_address.values())


# -- naming schemes --------------------------------------------------------------------------


def _c_function(index: int, name: str) -> str:
    return (
        f'__attribute__((noinline, used)) int f{index}(int x) __asm__("{name}");\n'
        f"int f{index}(int x) {{ volatile int y = x * {index + 3}; return y + {index}; }}\n"
    )


@pytest.fixture(scope="module")
def named(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Shared objects whose functions carry the names of every scheme (asm labels),
    one ``STT_FILE`` per local-language file, and a sizeless asm label; ``go`` also has a
    ``runtime.`` function."""
    gcc = require_tool("gcc")
    out = tmp_path_factory.mktemp("named")
    objects = []
    for scheme, file_name in LOCAL_FILES:
        source = out / file_name
        source.write_text(
            f"__attribute__((noinline, used)) static int local_{scheme.replace('+', 'x')}"
            "(int x) { volatile int y = x; return y * 7; }\n"
        )
        objects.append(out / f"{source.name}.o")
        _run(gcc, "-x", "c", "-O1", "-fPIC", "-c", source.name, "-o", objects[-1], cwd=out)
    asm = '__asm__(".text\\n.globl asm_label\\nasm_label:\\n\\tret\\n\\t.p2align 4\\n");\n'
    built = {}
    for flavour, extra in (("go", [(0, "runtime.main")]), ("zig", [])):
        functions = [*((i + 1, name) for i, (_, name) in enumerate(NAMED_FUNCTIONS)), *extra]
        source = out / f"names_{flavour}.c"
        source.write_text(asm + "".join(_c_function(i, name) for i, name in functions))
        built[flavour] = out / f"names_{flavour}.so"
        _run(gcc, "-shared", "-fPIC", "-O1", source, *objects, "-o", built[flavour])
    return built


@pytest.mark.parametrize("flavour", ["go", "zig"])
def test_naming_schemes_match_readelf_sizes(named: dict[str, Path], flavour: str) -> None:
    path = named[flavour]
    sizes = function_bytes(path)
    expected: dict[str, int] = {"asm": sizes["asm_label"]}
    named_functions = [*NAMED_FUNCTIONS, *([("dotted", "runtime.main")] * (flavour == "go"))]
    for scheme, name in named_functions:
        scheme = flavour if scheme == "dotted" else scheme
        expected[scheme] = expected.get(scheme, 0) + sizes[name]
    for scheme, file_name in LOCAL_FILES:
        local = f"local_{scheme.replace('+', 'x')}"
        expected[scheme] = expected.get(scheme, 0) + sizes[local]
        assert file_name in language(path).source_files

    counts = schemes(language(path))
    toolchain = counts.pop("toolchain") - expected.pop("toolchain")
    assert counts == expected
    assert toolchain > 0  # crtstuff.c's functions, _init, _fini


# -- markers ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def marked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A C library whose read-only data holds every marker (with and without sections)."""
    out = tmp_path_factory.mktemp("markers")
    strings = ",\n    ".join(f'"{text}"' for text in MARKER_STRINGS)
    source = out / "markers.c"
    source.write_text(
        f"__attribute__((used)) const char *const markers[] = {{\n    {strings}\n}};\n"
    )
    path = out / "markers.so"
    _run(require_tool("gcc"), "-shared", "-fPIC", "-O2", source, "-o", path)
    return {"sections": path, "segments": _without_section_headers(path)}


@pytest.mark.parametrize("source", ["sections", "segments"])
def test_every_marker_is_found(marked: dict[str, Path], source: str) -> None:
    found = language(marked[source])
    text = dict(found.marker_text)

    assert found.markers == frozenset(MARKERS)
    assert found.crates == MARKER_CRATES
    assert text["pyo3"] == "pyo3-0.22.6"  # from the crate path
    assert text["mypyc"] == "0123456789abcdef0123__mypyc"  # widened to the whole name
    assert text["nanobind"] == "nanobind.nb_func"
    assert text["c-library"] in ("OpenSSL 3.5.0", "deflate 1.3.1 Copyright")
    assert text["go-buildinfo"] == "\\xff Go buildinf:"
    assert all(len(example) <= 80 for example in text.values())


def test_marker_table_covers_every_marker_id() -> None:
    ids = {marker for marker, _ in MARKER_PATTERNS}
    assert ids == {*MARKERS, "crate"}


def test_mypyc_string_tables_are_not_cffi(tmp_path: Path) -> None:
    """mypyc stores Python str constants length-prefixed, not NUL-terminated: a module that
    merely mentions ``_cffi_backend`` is not a cffi module."""
    source = tmp_path / "m.c"
    source.write_text(
        '__attribute__((used)) const char table[] = "\\x05\\r_cffi_backend\\ntypes";\n'
    )
    _run(require_tool("gcc"), "-shared", "-fPIC", source, "-o", tmp_path / "m.so")
    assert "cffi" not in language(tmp_path / "m.so").markers


# -- .eh_frame decoding ----------------------------------------------------------------------

FDE_START: Final = 0x1000


def _patched(data: bytes, at: int, payload: bytes) -> bytes:
    return data[:at] + payload + data[at + len(payload) :]


def eh_frame(*programs: bytes, cie_id: int = 0) -> bytes:
    """A CIE (``zR``, pcrel sdata4) and one FDE per CFA program, then the terminator."""
    cie = struct.pack("<I", cie_id) + b"\x01zR\x00\x01\x78\x10\x01\x1b\x0c\x07\x08\x90\x01"
    image = struct.pack("<I", len(cie)) + cie
    for index, program in enumerate(programs):
        body = struct.pack("<IiI", len(image) + 4, 0, FDE_START + index) + b"\x00" + program
        image += struct.pack("<I", len(body)) + body
    return image + bytes(4)


CFA_PROGRAMS: Final = (
    (b"\x41\x0e\x10\x86\x02\x0a\x0b", True),  # advance_loc, def_cfa_offset, offset, remember
    (b"\x0e\x0a", False),  # def_cfa_offset 10: an operand byte 0x0a
    (b"\x02\x0a", False),  # advance_loc1 10
    (b"\x0e\x8a\x01", False),  # def_cfa_offset with a two-byte ULEB128
    (b"\x01\x0a\x00\x00\x00", False),  # set_loc: a 4-byte address (the R encoding's size)
    (b"\x01\x0a\x00\x00\x00\x0a", True),
    (b"\x0f\x02\x0a\x0a", False),  # def_cfa_expression: a block of two 0x0a bytes
    (b"\x0f\x02\x0a\x0a\x0a", True),
    (b"\x10\x07\x01\x0a\x0a", True),  # expression r7, block [0x0a], then remember_state
    (b"\x3f\x0a", False),  # an unknown opcode: the program cannot be followed
    (b"\x00\x00\x0a", True),  # nops
)


def test_remember_state_is_an_opcode_not_a_byte() -> None:
    image = eh_frame(*(program for program, _ in CFA_PROGRAMS))
    expected = [(FDE_START + i, remembers) for i, (_, remembers) in enumerate(CFA_PROGRAMS)]
    assert list(fde_entries(image, "<", 8)) == expected


GOOD: Final = eh_frame(b"\x0a")
FIRST_FDE: Final = 4 + struct.unpack_from("<I", GOOD)[0]


@pytest.mark.parametrize(
    ("image", "count"),
    [
        pytest.param(GOOD, 1, id="good"),
        pytest.param(GOOD[:-10], 0, id="fde-cut-short"),
        pytest.param(GOOD[:-4] + b"\xf0\xff\xff\xff" + bytes(8), 1, id="length-past-end"),
        pytest.param(GOOD[:-4] + b"\x02\x00\x00\x00" + bytes(8), 1, id="length-below-4"),
        pytest.param(eh_frame(b"\x0a", cie_id=7), 0, id="cie-id-not-0"),
        pytest.param(bytes(4) + GOOD, 0, id="terminator-first"),
        pytest.param(b"\xff\xff\xff\xff" + bytes(60), 0, id="64-bit-length"),
        pytest.param(_patched(GOOD, FIRST_FDE + 4, b"\xff\xff\xff\x7f"), 0, id="cie-pointer"),
        pytest.param(_patched(GOOD, 9, b"zQ"), 0, id="unknown-augmentation-letter"),
        pytest.param(_patched(GOOD, 16, b"\x01"), 0, id="uleb-pointer-encoding"),
    ],
)
def test_malformed_eh_frame_ends_the_decode(image: bytes, count: int) -> None:
    assert len(list(fde_entries(image, "<", 8))) == count


@pytest.mark.parametrize(
    ("program", "remembers"),
    [
        pytest.param(b"\x0e\x10" * 500_000 + b"\x0a", True, id="many-instructions"),
        # an overlong LEB128 (over 10 bytes) ends the decode; this one took minutes before
        pytest.param(b"\x0e" + b"\xff" * 1_000_000 + b"\x01\x0a", False, id="1MB-uleb"),
        pytest.param(b"\x0e" + b"\x80" * 10_000 + b"\x01\x0a", False, id="10kB-uleb"),
    ],
)
def test_long_cfa_program_stays_linear(program: bytes, remembers: bool) -> None:
    tracemalloc.start()
    started = time.perf_counter()
    try:
        entries = list(fde_entries(eh_frame(program), "<", 8))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert entries == [(FDE_START, remembers)]
    assert time.perf_counter() - started < 1.0
    assert peak < 4 * len(program) + (1 << 20)


# -- malformed files -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"\xf0\xff\xff\xff", id="length-past-end"),
        pytest.param(bytes(4), id="zero-length"),
        pytest.param(b"\xff" * 64, id="garbage"),
    ],
)
def test_malformed_eh_frame_never_fails_the_file(
    corpus: dict[str, Path], evidence: dict[str, ElfEvidence], tmp_path: Path, payload: bytes
) -> None:
    data = corpus["hardened"].read_bytes()
    eh_frame_at = Layout.of(data).sections[".eh_frame"].offset
    first_fde = eh_frame_at + 4 + struct.unpack_from("<I", data, eh_frame_at)[0]

    outcome = load_bytes(tmp_path / "lib.so", _patched(data, first_fde, payload))

    assert isinstance(outcome, ElfEvidence), outcome
    assert outcome.language is not None and outcome.imports == evidence["hardened"].imports
    assert outcome.language.eh_frame_fde_bytes == 0  # the first FDE ends the decode


@pytest.mark.parametrize(
    ("section", "at", "payload"),
    [
        pytest.param(".debug_info", 0, b"\xff\xff\xff\xff" + b"\xff" * 12, id="unit-length"),
        pytest.param(".debug_info", 4, b"\x09\x00", id="version"),
        pytest.param(".debug_abbrev", 0, b"\xff" * 256, id="abbrev-garbage"),
        pytest.param(".debug_str", 0, b"\x01" * 4096, id="unterminated-strings"),
    ],
)
def test_malformed_dwarf_never_fails_the_file(
    rust: dict[str, Path], tmp_path: Path, section: str, at: int, payload: bytes
) -> None:
    data = rust["rust-c-debug"].read_bytes()
    offset = Layout.of(data).sections[section].offset

    outcome = load_bytes(tmp_path / "lib.so", _patched(data, offset + at, payload))

    assert isinstance(outcome, ElfEvidence), outcome
    assert outcome.language is not None and "rust-std" in outcome.language.markers


def test_symtab_outside_the_file_is_malformed(corpus: dict[str, Path], tmp_path: Path) -> None:
    data = corpus["hardened"].read_bytes()
    symtab = Layout.of(data).sections[".symtab"].header_at
    mutated = _patched(data, symtab + SH_OFFSET, struct.pack("<Q", len(data)))

    outcome = load_bytes(tmp_path / "lib.so", mutated)

    assert isinstance(outcome, MalformedBinaryError) and "outside the file" in outcome.detail


def test_symtab_names_into_one_long_string_stay_linear(
    corpus: dict[str, Path], tmp_path: Path
) -> None:
    """Many function symbols naming offsets inside one long string: the loader's name
    budget stops it (within the time and memory bounds of test_malformed)."""
    data = bytearray(corpus["hardened"].read_bytes())
    layout = Layout.of(bytes(data))
    run_at = len(data) + -len(data) % 8
    data += bytes(run_at - len(data)) + b"A" * 100_000 + b"\0"
    symbols_at = len(data) + -len(data) % 8
    data += bytes(symbols_at - len(data))
    data += b"".join(struct.pack("<IBBHQQ", i, 0x12, 0, 1, i, 1) for i in range(8_000))
    strtab, symtab = layout.sections[".strtab"], layout.sections[".symtab"]
    struct.pack_into("<QQ", data, strtab.header_at + SH_OFFSET, run_at, 100_001)  # + sh_size
    struct.pack_into("<QQ", data, symtab.header_at + SH_OFFSET, symbols_at, 8_000 * 24)

    outcome = load_bytes(tmp_path / "lib.so", bytes(data))

    assert isinstance(outcome, MalformedBinaryError) and "names exceed" in outcome.detail
