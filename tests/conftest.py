"""Shared fixtures: the compiled corpus (built once per session) and pytester helpers."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import pytest_memsafe.active  # noqa: F401 - see below
from pytest_memsafe.evidence.elf import ElfEvidence, load_elf_evidence
from tests.corpus import SOURCES, build_all, require_tool, run_tool
from tests.macho_corpus import build_macho_all
from tests.pe_corpus import build_pe_all

pytest_plugins = ["pytester"]
# The entry point imports pytest_memsafe.active only for --memsafe runs. Imported here, it is
# part of the module snapshot that pytester's in-process runs restore, so every run uses the
# same classes (MemsafeWarning above all) instead of importing the stack anew each time.
GITHUB_VARIABLES = ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "GITHUB_WORKSPACE")


@pytest.fixture(autouse=True)
def _outside_github_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs under test never write this job's step summary or print annotations into it."""
    for name in GITHUB_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every corpus variant, compiled and verified with readelf: name -> path."""
    return build_all(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="session")
def evidence(corpus: dict[str, Path]) -> dict[str, ElfEvidence]:
    """Evidence of every corpus variant: name -> ElfEvidence."""
    return {name: load_elf_evidence(str(path)) for name, path in corpus.items()}


@pytest.fixture(scope="session")
def pe_corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every PE variant, cross-compiled with mingw-w64 or clang+lld and verified with
    objdump: name -> path (tests/pe_corpus.py)."""
    return build_pe_all(tmp_path_factory.mktemp("pe_corpus"))


@pytest.fixture(scope="session")
def macho_corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every Mach-O variant, built with clang + ld64.lld and verified with llvm-objdump:
    name -> path (tests/macho_corpus.py)."""
    return build_macho_all(tmp_path_factory.mktemp("macho-corpus"))


@pytest.fixture(scope="session")
def debug_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The corpus extension built with DWARF (``-g``): ``.symtab``, ``.eh_frame``,
    ``.debug_info``/``_abbrev``/``_str``, ``.comment`` and ``.rodata`` all present."""
    path = tmp_path_factory.mktemp("debug") / "debug.cpython-311-x86_64-linux-gnu.so"
    run_tool([require_tool("gcc"), "-shared", "-fPIC", "-O2", "-g", "-DMODULE=debug",
              f"-I{SOURCES}", str(SOURCES / "ext.c"), "-o", str(path)])  # fmt: skip
    return path


@pytest.fixture
def project(pytester: pytest.Pytester, corpus: dict[str, Path]) -> pytest.Pytester:
    """A project with a hardened and a weak extension under src/pkg (with a booby-trapped
    ``__init__.py`` that fails loudly if anything imports it)."""
    pkg = pytester.mkdir("src") / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("raise SystemExit('pkg/__init__.py was imported')\n")
    shutil.copy(corpus["hardened"], pkg / "_good.cpython-311-x86_64-linux-gnu.so")
    shutil.copy(corpus["weak"], pkg / "_weak.cpython-311-x86_64-linux-gnu.so")
    pytester.makeini("[pytest]\n")
    return pytester
