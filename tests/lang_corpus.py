"""Corpus of real extension modules, one per source language (issue 3).

Each entry is compiled in the test session from ``tests/sources/lang`` with its real toolchain,
once as built and once as a GNU ``strip --strip-all`` copy (``<name>-stripped``), and verified
with readelf/strings (the independent oracle). The table also records the classification that
``reference/language.md`` §3.2 expects. Importing this module has no side effects.

A missing toolchain skips only the languages that need it (fails them when ``CI == 'true'``).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import sys
import sysconfig
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal, NoReturn, TypeVar, cast

import pytest

from tests.corpus import FixtureBuildError, expect_patterns, readelf, require_tool, run_tool

__all__ = [
    "EXT_SUFFIX",
    "LANGS",
    "LANG_NAMES",
    "SOURCES",
    "STRIPPED",
    "Fact",
    "Lang",
    "build_lang",
    "build_lang_all",
    "expected",
    "fixture_name",
    "lang_dir",
    "lang_fixture",
    "module_name",
    "python_include",
    "require_module",
    "verify_lang",
]

SOURCES: Final = Path(__file__).resolve().parent / "sources" / "lang"
EXT_SUFFIX: Final[str] = str(sysconfig.get_config_var("EXT_SUFFIX"))
STRIPPED: Final = "-stripped"
_TIMEOUT: Final = 600  # a cold Zig build takes ~10 s here; leave room for slow CI machines

Built = tuple[Path, ...]  # the module first, then files it needs next to it to import
Builder = Callable[[Path, Path], Built]  # (scratch dir, output dir) -> files in output dir
Form = Literal["both", "unstripped", "stripped"]  # which forms a Fact applies to
_T = TypeVar("_T")


# --------------------------------------------------------------------------- tools


def _unavailable(reason: str) -> NoReturn:
    """Skip locally, fail when ``CI == 'true'`` (``require_tool`` semantics)."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def require_module(name: str) -> None:
    """Require an importable Python package (a toolchain installed from PyPI)."""
    if importlib.util.find_spec(name) is None:
        _unavailable(f"required Python package {name!r} is not installed")


def python_include() -> Path:
    """The running Python's header directory (must contain Python.h)."""
    include = Path(sysconfig.get_paths()["include"])
    if not (include / "Python.h").is_file():
        _unavailable(f"Python.h not found in {include}")
    return include


def _run(cmd: list[str], *, cwd: Path, env: Mapping[str, str] | None = None) -> str:
    """``tests.corpus.run_tool`` with this corpus's longer timeout (cold Zig builds)."""
    return run_tool(cmd, cwd=cwd, env=env, timeout=_TIMEOUT)


def _strings(path: Path) -> str:
    """``strings -a -n 6 path``: printable runs anywhere in the file."""
    return _run([require_tool("strings"), "-a", "-n", "6", str(path)], cwd=path.parent)


def module_name(path: Path) -> str:
    """The import name of an extension module file (its name without EXT_SUFFIX)."""
    if not path.name.endswith(EXT_SUFFIX):
        raise ValueError(f"{path.name!r} does not end with {EXT_SUFFIX!r}")
    return path.name[: -len(EXT_SUFFIX)]


# --------------------------------------------------------------------------- builders

_SHARED: Final = ("-shared", "-fPIC", "-O2")
_RUSTC: Final = ("--edition", "2021", "--crate-type", "cdylib", "-C", "opt-level=2")


def _out(out: Path, module: str) -> Path:
    return out / (module + EXT_SUFFIX)


def _rustc(module: str, work: Path, out: Path, *link_args: str) -> Built:
    """rustc cdylib of ``<module>.rs`` (no cargo, no crates), optionally linking objects."""
    dest = _out(out, module)
    cmd = [require_tool("rustc"), *_RUSTC, *(f"-Clink-arg={a}" for a in link_args)]
    _run([*cmd, "-o", str(dest), str(SOURCES / f"{module}.rs")], cwd=work)
    return (dest,)


def _build_rust(work: Path, out: Path) -> Built:
    return _rustc("lang_rust", work, out)


def _build_rust_c(work: Path, out: Path) -> Built:
    obj = work / "csum.o"
    gcc = require_tool("gcc")
    _run([gcc, "-O2", "-fPIC", "-c", str(SOURCES / "csum.c"), "-o", str(obj)], cwd=work)
    return _rustc("lang_rust_c", work, out, str(obj))


def _cc(compiler: str, source: Path, module: str, out: Path) -> Built:
    """Compile one C/C++ file into an extension module against the running Python's headers."""
    dest = _out(out, module)
    cmd = [require_tool(compiler), *_SHARED, f"-I{python_include()}", str(source), "-o", str(dest)]
    _run(cmd, cwd=source.parent)
    return (dest,)


def _build_c(work: Path, out: Path) -> Built:
    return _cc("gcc", SOURCES / "lang_c.c", "lang_c", out)


def _build_cpp(work: Path, out: Path) -> Built:
    return _cc("g++", SOURCES / "lang_cpp.cpp", "lang_cpp", out)


def _cython(module: str, *, cplus: bool) -> Builder:
    """``cython -3 [--cplus]`` to C/C++ in ``work``, then gcc/g++."""

    def build(work: Path, out: Path) -> Built:
        require_module("Cython")
        pyx = shutil.copy(SOURCES / f"{module}.pyx", work / f"{module}.pyx")
        generated = work / (module + (".cpp" if cplus else ".c"))
        mode = ("--cplus",) if cplus else ()
        cmd = [sys.executable, "-m", "cython", "-3", *mode, Path(pyx).name, "-o", generated.name]
        _run(cmd, cwd=work)
        return _cc("g++" if cplus else "gcc", generated, module, out)

    return build


def _mypyc(*modules: str) -> Callable[[Path], list[Path]]:
    """``mypyc <modules>.py`` in a scratch dir; return every extension it produced."""

    def build(work: Path) -> list[Path]:
        require_module("mypyc")
        require_module("setuptools")  # mypyc.build drives the C compiler through setuptools
        require_tool("gcc")
        python_include()
        for module in modules:
            shutil.copy(SOURCES / f"{module}.py", work / f"{module}.py")
        _run([sys.executable, "-m", "mypyc", *(f"{m}.py" for m in modules)], cwd=work)
        return sorted(work.glob("*" + EXT_SUFFIX))  # mypyc copies the results next to the .py

    return build


def _copy_to(files: list[Path], out: Path) -> list[Path]:
    return [Path(shutil.copy2(f, out / f.name)) for f in files]


def _build_mypyc(work: Path, out: Path) -> Built:
    """One module on its own: its code and the mypyc runtime (CPy*) in one .so."""
    (dest,) = _copy_to(_mypyc("lang_mypyc")(work), out)
    return (dest,)


def _mypyc_group(out: Path) -> tuple[Path, list[Path]]:
    """Two modules compiled together: (the ``<hash>__mypyc`` library, the two shims)."""

    def build() -> tuple[Path, list[Path]]:
        work = _scratch(out, "work", "mypyc-group")
        files = _copy_to(_mypyc("lang_mypyc_shim", "lang_mypyc_helper")(work), out)
        libs = [f for f in files if module_name(f).endswith("__mypyc")]
        if len(libs) != 1:
            raise FixtureBuildError(f"mypyc: expected one <hash>__mypyc library, got {files}")
        return libs[0], [f for f in files if f != libs[0]]

    return _once(("mypyc-group", out), build)


def _build_mypyc_lib(work: Path, out: Path) -> Built:
    """The shared library of a group build: all compiled code, PyInit_<hash>__mypyc."""
    lib, _ = _mypyc_group(out)
    return (lib,)


def _build_mypyc_shim(work: Path, out: Path) -> Built:
    """A group member's own .so: a stub whose PyInit imports its code from the library."""
    lib, shims = _mypyc_group(out)
    (shim,) = (s for s in shims if module_name(s) == "lang_mypyc_shim")
    return (shim, lib, *(s for s in shims if s != shim))


def _build_go(work: Path, out: Path) -> Built:
    """``go build -buildmode=c-shared`` (cgo), std only, no network, caches in ``<out>.build``."""
    require_tool("gcc")  # cgo's C compiler
    dest = work / ("lang_go" + EXT_SUFFIX)  # go also writes a .h next to it
    env = {
        "GOCACHE": str(_scratch(out, "cache", "go-build")),
        "GOPATH": str(_scratch(out, "cache", "gopath")),
        "GOENV": "off",
        "GOFLAGS": "",
        "GOPROXY": "off",
        "GOTOOLCHAIN": "local",
        "CGO_ENABLED": "1",
    }
    cmd = [require_tool("go"), "build", "-buildmode=c-shared", "-o", str(dest)]
    _run([*cmd, str(SOURCES / "lang_go.go")], cwd=work, env=env)
    return tuple(_copy_to([dest], out))


def _build_zig(work: Path, out: Path) -> Built:
    """``zig build-lib -dynamic -OReleaseSafe`` (Zig from PyPI's ziglang)."""
    require_module("ziglang")
    dest = _out(out, "lang_zig")
    cmd = [sys.executable, "-m", "ziglang", "build-lib", "-dynamic", "-OReleaseSafe"]
    cmd += ["--name", "lang_zig", "--cache-dir", str(work / "zig-cache")]
    cmd += ["--global-cache-dir", str(_scratch(out, "cache", "zig")), f"-femit-bin={dest}"]
    _run([*cmd, str(SOURCES / "lang_zig.zig")], cwd=work)
    return (dest,)


# --------------------------------------------------------------------------- oracle


@dataclass(frozen=True)
class Fact:
    """Regexes (multiline) that must / must not match ``readelf -W <args>`` or ``strings``."""

    tool: Literal["readelf", "strings"]
    args: tuple[str, ...] = ()
    must: tuple[str, ...] = ()
    must_not: tuple[str, ...] = ()
    form: Form = "both"


def _readelf(args: str, *must: str, lacks: tuple[str, ...] = (), form: Form = "both") -> Fact:
    return Fact("readelf", tuple(args.split()), must, lacks, form)


def _strings_fact(*must: str, lacks: tuple[str, ...] = (), form: Form = "both") -> Fact:
    return Fact("strings", (), must, lacks, form)


def _comment(*must: str, lacks: tuple[str, ...] = ()) -> Fact:
    return _readelf("-p .comment", *must, lacks=lacks)


def _symtab(*must: str, lacks: tuple[str, ...] = ()) -> Fact:
    """Facts about ``.symtab`` (GNU strip removes it; ``-s`` also lists ``.dynsym``)."""
    return _readelf("-s", *must, lacks=lacks, form="unstripped")


def _func(name: str) -> str:
    """A defined function symbol; ``name`` is a regex."""
    return rf"\sFUNC\s+(?:LOCAL|GLOBAL|WEAK)\s+\w+\s+\d+\s+(?:{name})$"


def _file(name: str) -> str:
    """An STT_FILE symbol (a source file name kept in .symtab)."""
    return rf"\sFILE\s+LOCAL\s+DEFAULT\s+ABS\s+{re.escape(name)}$"


def _needed(lib: str) -> str:
    return rf"\(NEEDED\)\s+Shared library: \[{re.escape(lib)}\]$"


def _section(name: str) -> str:
    return rf"\]\s+{re.escape(name)}\s"


_GCC: Final = r"GCC: \("
_RUSTC_IDENT: Final = r"rustc version \d+\.\d+\.\d+"
_NOT_LLVM_C: Final = (_RUSTC_IDENT, r"clang version", r"Linker: LLD")
# GCC-style CFI: GCC emits DW_CFA_remember_state for early returns; LLVM never does on x86-64.
_GCC_CFI: Final = _readelf("--debug-dump=frames", r"DW_CFA_remember_state")
_NO_GCC_CFI: Final = _readelf("--debug-dump=frames", lacks=(r"DW_CFA_remember_state",))
_LIBSTDCXX: Final = _needed("libstdc++.so.6")
_RUST: Final = (
    _comment(_RUSTC_IDENT),
    _strings_fact(r"/rustc/[0-9a-f]{40}/library/"),  # std panic locations
    # the crate's own code (legacy mangling), std (v0 mangling since rustc 1.9x), Rust CGUs
    _symtab(
        _func(r"_ZN\w+17h[0-9a-f]{16}E"), _func(r"_R\w+"), r"\sFILE\s.*\sstd\.[0-9a-f]+-cgu\.\d+$"
    ),
)
_CYTHON: Final = _strings_fact(r"^cython_runtime$", r"_cython_\d+_\d+_\d+")
_MYPYC_LIB: Final = _strings_fact(r"[0-9a-f]{20}__mypyc")
_MYPYC_CODE: Final = _symtab(_func(r"CPyDef_\w+"), _func(r"CPy[A-Z]\w+"))


# --------------------------------------------------------------------------- table


@dataclass(frozen=True)
class Lang:
    """One corpus language: how to build it, what the oracle must see, what to expect."""

    name: str
    primary: str  # expected primary language (reference/language.md §3.2)
    others: frozenset[str]  # expected secondary languages
    build: Builder
    facts: tuple[Fact, ...]
    maybe: frozenset[str] = frozenset()  # secondary languages a classifier may also report
    smoke: str = "True"  # Python expression over the imported module ``m`` that must hold
    note: str = ""


def _lang(
    name: str,
    primary: str,
    others: str,
    build: Builder,
    *facts: Fact,
    maybe: str = "",
    smoke: str = "True",
    note: str = "",
) -> Lang:
    return Lang(
        name,
        primary,
        frozenset(others.split()),
        build,
        facts,
        frozenset(maybe.split()),
        smoke,
        note,
    )


def _table(*langs: Lang) -> dict[str, Lang]:
    table = {lang.name: lang for lang in langs}
    if len(table) != len(langs):
        raise ValueError("duplicate language names")
    return table


LANGS: Final[dict[str, Lang]] = _table(
    _lang(
        "rust",
        "rust",
        "",
        _build_rust,
        *_RUST,
        _NO_GCC_CFI,
        note="rustc cdylib, hand-declared PyModuleDef, no crates",
        smoke="m.collatz(27) == 111",
    ),
    _lang(
        "rust-c",
        "rust",
        "c",
        _build_rust_c,
        *_RUST,
        _GCC_CFI,  # the only trace of csum.c that survives strip (.comment is unchanged)
        _symtab(_file("csum.c"), _func("c_adler32"), _func("c_parse_kv")),
        note="rustc cdylib linking a gcc -O2 object (csum.c)",
        smoke="m.adler(0) == 1 + 8",
    ),
    _lang(
        "c",
        "c",
        "",
        _build_c,
        _comment(_GCC, lacks=_NOT_LLVM_C),
        _GCC_CFI,
        _readelf("-d", lacks=(_needed("libstdc++.so.6"),)),
        _symtab(_file("lang_c.c"), _func("checksum"), _func("clamp")),
        smoke="m.clamp(300) == 255",
    ),
    _lang(
        "cpp",
        "c++",
        "",
        _build_cpp,
        _comment(_GCC, lacks=_NOT_LLVM_C),
        _readelf("-d", _LIBSTDCXX),
        _readelf("--dyn-syms", r"\sUND\s+__gxx_personality_v0@", r"\sUND\s+_Znwm@"),
        _symtab(_file("lang_cpp.cpp"), _func("join")),
        note='every function is extern "C" in a .cpp: still C++',
        smoke="m.join(3) == '0,1,2,'",
    ),
    _lang(
        "cython-c",
        "cython",
        "",
        _cython("lang_cython_c", cplus=False),
        _CYTHON,
        _strings_fact(r"^__reduce_cython__$", r"lang_cython_c\.pyx"),
        _readelf("-d", lacks=(_needed("libstdc++.so.6"),)),
        _symtab(_file("lang_cython_c.c"), _func(r"__pyx_\w+")),
        maybe="c",
        smoke="m.fib(10) == 55 and m.Counter().add(2) == 2",
    ),
    _lang(
        "cython-cpp",
        "cython",
        "c++",
        _cython("lang_cython_cpp", cplus=True),
        _CYTHON,
        _strings_fact(r"lang_cython_cpp\.pyx"),
        _readelf("-d", _LIBSTDCXX),
        # C++ mode mangles Cython's own static functions too: _ZL<len>__pyx_..., _ZL<len>__Pyx_...
        _symtab(
            _file("lang_cython_cpp.cpp"),
            _func(r"_ZL\d+__[pP]yx_\w+"),
            lacks=(_func(r"__[pP]yx_\w+"),),
        ),
        maybe="c",
        smoke="m.squares(4) == [0, 1, 4, 9] and m.shout('hi') == 'hi!'",
    ),
    _lang(
        "mypyc",
        "mypyc",
        "",
        _build_mypyc,
        _strings_fact(r"^__mypyc_attrs__$", lacks=(r"[0-9a-f]{20}__mypyc",)),
        _MYPYC_CODE,
        note="mypyc on one module: code and runtime in lang_mypyc.so, no shared library",
        smoke="m.fib(10) == 55 and m.Counter().add(2) == 2",
    ),
    _lang(
        "mypyc-lib",
        "mypyc",
        "",
        _build_mypyc_lib,
        _MYPYC_LIB,
        _MYPYC_CODE,
        note="group build of two modules: the <hash>__mypyc library holding all the code",
    ),
    _lang(
        "mypyc-shim",
        "mypyc",
        "",
        _build_mypyc_shim,
        _strings_fact(r"[0-9a-f]{20}__mypyc\.init_lang_mypyc_shim$"),
        _symtab(_func("PyInit_lang_mypyc_shim"), lacks=(_func(r"CPy\w+"),)),
        note="group build of two modules: lang_mypyc_shim.so, a stub importing the library",
        smoke="m.scale([1, 200], 2) == [2, 255]",
    ),
    _lang(
        "go",
        "go",
        "c",
        _build_go,
        _readelf("-S", _section(".go.buildinfo"), _section(".note.go.buildid")),
        _strings_fact(r"Go buildinf:", r"\bgo1\.\d+"),
        _comment(_GCC, lacks=_NOT_LLVM_C),  # from the crt files and the cgo C glue
        _GCC_CFI,  # cgo's C glue (Go code itself has no FDEs)
        _symtab(_file("_cgo_export.c"), _func(r"runtime\.mallocgc")),
        note="c = cgo runtime glue",
    ),
    _lang(
        "zig",
        "zig",
        "",
        _build_zig,
        _comment(r"^\s*\[\s*\d+\]\s+Linker: LLD \d", lacks=(_GCC, r"rustc", r"clang")),
        _readelf("-d", lacks=(r"\(NEEDED\)",)),
        _NO_GCC_CFI,
        _symtab(_func(r"(?:mem|heap|Io|fmt)\.\S+")),
        _strings_fact(r"^zig \d+\.\d+\.\d+", form="unstripped"),  # DW_AT_producer
        note="no libc, no crt files: .comment holds only the LLD ident",
        smoke="m.popcount(255) == 8 + 3",
    ),
)

LANG_NAMES: Final = (*LANGS, *(name + STRIPPED for name in LANGS))


def _spec(name: str) -> tuple[Lang, bool]:
    """(table entry, stripped?) for a corpus name such as ``go`` or ``go-stripped``."""
    base = name.removesuffix(STRIPPED)
    if name not in LANG_NAMES:
        raise KeyError(f"unknown language fixture {name!r}")
    return LANGS[base], base != name


def expected(name: str) -> tuple[str, frozenset[str]]:
    """(primary, other languages) expected for ``name`` (stripped or not)."""
    lang, _ = _spec(name)
    return lang.primary, lang.others


# --------------------------------------------------------------------------- verify


def _generic(path: Path, stripped: bool) -> tuple[Fact, ...]:
    export = rf"\sFUNC\s+GLOBAL\s+DEFAULT\s+\d+\s+PyInit_{module_name(path)}(?:@\S*)?$"
    symtab = _section(".symtab")
    return (
        _readelf("-h", r"^\s*Class:\s+ELF64$", r"^\s*Type:\s+DYN\b"),
        _readelf("--dyn-syms", export),
        _readelf("-S", _section(".dynsym")),
        _readelf("-S", lacks=(symtab,)) if stripped else _readelf("-S", symtab),
    )


def verify_lang(name: str, path: Path) -> list[str]:
    """Check ``path`` against ``name``'s oracle; return the evidence lines.

    Raise FixtureBuildError quoting the tool output on a mismatch.
    """
    lang, stripped = _spec(name)
    skip_form = "unstripped" if stripped else "stripped"
    facts = [f for f in (*_generic(path, stripped), *lang.facts) if f.form != skip_form]
    outputs: dict[tuple[str, ...], str] = {}
    evidence: list[str] = []
    for fact in facts:
        key = (fact.tool, *fact.args)
        if key not in outputs:
            outputs[key] = _strings(path) if fact.tool == "strings" else readelf(path, *fact.args)
        cmd = " ".join(("readelf -W" if fact.tool == "readelf" else "strings", *fact.args))
        evidence += expect_patterns(
            f"language {name!r}", path, cmd, outputs[key], fact.must, fact.must_not
        )
    return evidence


# --------------------------------------------------------------------------- build

_LOCK: Final = threading.Lock()
_KEY_LOCKS: dict[tuple[str, Path], threading.Lock] = {}
_DONE: dict[tuple[str, Path], object] = {}
_FAILED: dict[tuple[str, Path], FixtureBuildError] = {}


def _once(key: tuple[str, Path], build: Callable[[], _T]) -> _T:
    """Run ``build`` once per key and process (thread-safe); build errors are remembered.

    Skips are not remembered: finding a tool is cheap and the answer may change.
    """
    with _LOCK:
        lock = _KEY_LOCKS.setdefault(key, threading.Lock())
    with lock:
        if key in _FAILED:
            raise _FAILED[key]
        if key not in _DONE:
            try:
                _DONE[key] = build()
            except FixtureBuildError as exc:
                _FAILED[key] = exc
                raise
        return cast(_T, _DONE[key])


def _scratch(out: Path, *parts: str) -> Path:
    """A directory under ``<out>.build/`` (sources, objects, caches); ``out`` holds modules only."""
    work = out.parent.joinpath(out.name + ".build", *parts)
    work.mkdir(parents=True, exist_ok=True)
    return work


def _build_base(lang: Lang, out: Path) -> Built:
    def build() -> Built:
        files = lang.build(_scratch(out, "work", lang.name), out)
        for file in files:
            if file.parent != out or not file.is_file():
                raise FixtureBuildError(
                    f"{lang.name}: builder returned {file}, not a file in {out}"
                )
        verify_lang(lang.name, files[0])
        return files

    return _once((lang.name, out), build)


def _strip_copy(path: Path, dest_dir: Path) -> Path:
    def strip() -> Path:
        dest_dir.mkdir(parents=True, exist_ok=True)
        dest = dest_dir / path.name
        _run([require_tool("strip"), "--strip-all", "-o", str(dest), str(path)], cwd=dest_dir)
        return dest

    return _once(("strip:" + path.name, dest_dir), strip)


def build_lang(name: str, out_dir: Path) -> Path:
    """Build and verify ``name`` (e.g. ``rust`` or ``rust-stripped``) into ``out_dir``.

    Unstripped modules go to ``out_dir``; stripped copies keep their file name (so
    ``PyInit_<name>`` still matches) in ``out_dir / "stripped"``, with stripped copies of the
    files they import next to them. Built once per process and ``out_dir``.
    """
    lang, stripped = _spec(name)
    require_tool("readelf")
    out_dir.mkdir(parents=True, exist_ok=True)
    files = _build_base(lang, out_dir)
    if not stripped:
        return files[0]
    copies = [_strip_copy(f, out_dir / "stripped") for f in files]
    _once((name, out_dir), lambda: verify_lang(name, copies[0]))
    return copies[0]


def build_lang_all(out_dir: Path) -> dict[str, Path]:
    """Build and verify every language, unstripped and stripped (in parallel): name -> path."""
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        futures = {name: pool.submit(build_lang, name, out_dir) for name in LANGS}
        built = {name: future.result() for name, future in futures.items()}
    return {**built, **{n + STRIPPED: build_lang(n + STRIPPED, out_dir) for n in LANGS}}


# --------------------------------------------------------------------------- fixtures


def lang_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The per-session output directory that every ``lang_fixture`` shares."""
    return tmp_path_factory.getbasetemp() / "lang-corpus"


def fixture_name(name: str) -> str:
    """``rust-c-stripped`` -> ``lang_rust_c_stripped``."""
    return "lang_" + name.replace("-", "_")


def lang_fixture(name: str, *, scope: Literal["module", "session"] = "module") -> object:
    """A fixture named ``fixture_name(name)`` giving the built, verified module's path.

    Assign it in a test module or conftest (``lang_rust = lang_fixture("rust")``). All such
    fixtures share ``lang_dir``, so each module is built once per session however many test
    modules use it; a missing toolchain skips (CI: fails) only the tests that use it.
    """
    _spec(name)

    def fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
        return build_lang(name, lang_dir(tmp_path_factory))

    fixture.__doc__ = f"The {name!r} language corpus module (built and verified)."
    return pytest.fixture(fixture, scope=scope, name=fixture_name(name))
