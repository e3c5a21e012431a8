"""Vendored libraries: checked beside the extension that needs them, and named in failures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.corpus import SOURCES, require_tool, run_tool

HARDENED = ("-O2", "-fPIC", "-fstack-protector-strong", "-Wl,-z,relro,-z,now")


@pytest.fixture(scope="module")
def vendored_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``mypkg.libs/libvendored.so.1`` built with an executable stack, and
    ``mypkg/_speedups.abi3.so`` needing it through RUNPATH ``$ORIGIN/../mypkg.libs``."""
    root = tmp_path_factory.mktemp("vendored")
    libs, pkg = root / "mypkg.libs", root / "mypkg"
    libs.mkdir()
    pkg.mkdir()
    gcc = require_tool("gcc")
    lib = libs / "libvendored.so.1"
    run_tool(
        [
            gcc,
            "-shared",
            *HARDENED,
            "-Wl,-z,execstack",
            "-Wl,-soname,libvendored.so.1",
            f"-I{SOURCES}",
            "-DMODULE=vendored",
            str(SOURCES / "lib.c"),
            "-o",
            str(lib),
        ]
    )
    ext = pkg / "_speedups.abi3.so"
    run_tool(
        [
            gcc,
            "-shared",
            *HARDENED,
            "-Wl,-z,noexecstack",
            f"-I{SOURCES}",
            "-DMODULE=_speedups",
            str(SOURCES / "tiny.c"),
            "-Wl,--no-as-needed",
            f"-L{libs}",
            "-l:libvendored.so.1",
            "-Wl,-rpath,$ORIGIN/../mypkg.libs",
            "-Wl,--enable-new-dtags",
            "-o",
            str(ext),
        ]
    )
    return lib, ext  # fmt: skip


@pytest.fixture
def project(pytester: pytest.Pytester, vendored_pair: tuple[Path, Path]) -> pytest.Pytester:
    lib, ext = vendored_pair
    for source in (lib, ext):
        target = pytester.path / source.parent.name / source.name
        target.parent.mkdir(exist_ok=True)
        target.write_bytes(source.read_bytes())
    pytester.makeini("[pytest]\nmemsafe_severity = cet=off\n    language=off\n")
    return pytester


def test_vendored_failure_names_the_library_and_its_extension(project: pytest.Pytester) -> None:
    result = project.runpytest("--memsafe", "--memsafe-json=r.json")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*[[]memsafe[]] mypkg.libs/libvendored.so.1::nx*",
            "Non-executable stack: executable stack*",
            "  a vendored library, needed by: mypkg/_speedups.abi3.so",
        ]
    )
    report = {a["path"]: a for a in json.loads((project.path / "r.json").read_text())["artifacts"]}
    ext, lib = report["mypkg/_speedups.abi3.so"], report["mypkg.libs/libvendored.so.1"]
    assert (ext["kind"], lib["kind"]) == ("extension", "library")
    assert {"name": "libvendored.so.1", "vendored": "mypkg.libs/libvendored.so.1"} in ext["needed"]
    assert {"name": "libc.so.6", "vendored": None} in ext["needed"]


def test_vendored_failures_can_be_made_advisory(project: pytest.Pytester) -> None:
    result = project.runpytest("--memsafe", "-o", "memsafe_vendored=warn")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*libvendored.so.1*nx: executable stack*"])
