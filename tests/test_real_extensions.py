"""The real extensions installed on this machine: scanned as a new user would, and every
verdict that readelf can decide cross-checked against readelf (the independent oracle)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sysconfig
from pathlib import Path

import pytest

from pytest_memsafe.checks import CheckParams, get_spec
from pytest_memsafe.discovery import discover
from pytest_memsafe.errors import MalformedBinaryError
from pytest_memsafe.evidence import LOADERS
from pytest_memsafe.evidence.elf import load_elf_evidence
from pytest_memsafe.model import BinaryFormat, Status
from tests.corpus import readelf, require_tool

TARGETS = sorted(
    {
        Path(str(sysconfig.get_config_var("DESTSHARED"))),  # the stdlib's lib-dynload
        Path(sysconfig.get_paths()["platlib"]),
    }
)


@pytest.fixture(scope="module")
def installed() -> list[Path]:
    """Every ELF binary under this interpreter's lib-dynload and site-packages."""
    found = discover(
        [(path, str(path)) for path in TARGETS if path.is_dir()],
        rootdir=Path("/nonexistent"),
        formats=LOADERS.keys(),
    )
    paths = [Path(artifact.path) for artifact in found]
    assert paths, "no compiled extension installed: nothing real to check"
    return paths


def test_scan_of_installed_extensions_has_no_error_but_malformed_files(
    pytester: pytest.Pytester, installed: list[Path]
) -> None:
    pytester.makeini("[pytest]\n")
    result = pytester.runpytest_subprocess(
        "--memsafe", "--noconftest", "-q", "-p", "no:cacheprovider",
        "--memsafe-json", "report.json", *map(str, TARGETS),
    )  # fmt: skip
    result.stdout.no_fnmatch_line("*INTERNALERROR*")
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED)
    report = json.loads((pytester.path / "report.json").read_text())
    assert report["summary"]["artifacts"] == len(installed)
    broken = [a["path"] for a in report["artifacts"] if a["error"]]
    for display in broken:  # an error must be a file readelf complains about too
        path = next(p for p in installed if p.as_posix().endswith(display))
        oracle = subprocess.run(
            [require_tool("readelf"), "-W", "-h", "-l", "-d", str(path)],
            capture_output=True, text=True, check=False, env={**os.environ, "LC_ALL": "C"},
        )  # fmt: skip
        assert oracle.returncode != 0 or "Error" in oracle.stderr, (display, oracle.stderr)


def _readelf_facts(path: Path) -> dict[str, object]:
    program_headers = readelf(path, "-l")
    dynamic = readelf(path, "-d")
    # columns: Type Offset VirtAddr PhysAddr FileSiz MemSiz Flg(3 chars, may hold spaces) Align
    stack = re.search(r"^\s*GNU_STACK\s+(?:\S+\s+){5}(.{3})\s", program_headers, re.M)
    return {
        "gnu_relro": re.search(r"^\s*GNU_RELRO\s", program_headers, re.M) is not None,
        "bind_now": re.search(
            r"\(BIND_NOW\)|\(FLAGS\)\s.*\bBIND_NOW\b|\(FLAGS_1\)\s.*\bNOW\b", dynamic
        )
        is not None,
        "stack": stack.group(1).strip() if stack else None,
        "textrel": re.search(r"\(TEXTREL\)|\(FLAGS\)\s.*\bTEXTREL\b", dynamic) is not None,
        "paths": re.findall(r"\((?:RPATH|RUNPATH)\)\s+Library r\w*path: \[(.*)\]", dynamic),
    }


def test_verdicts_agree_with_readelf_on_every_installed_binary(installed: list[Path]) -> None:
    checked = 0
    for path in installed:
        try:
            ev = load_elf_evidence(str(path))
        except MalformedBinaryError:
            continue
        oracle = _readelf_facts(path)
        verdicts = {
            check: get_spec(check).impls[BinaryFormat.ELF](ev, CheckParams())
            for check in ("relro", "nx", "pic", "rpath")
        }
        relro = dict(verdicts["relro"].facts)
        assert relro["gnu_relro"] == oracle["gnu_relro"], path
        assert relro["bind_now"] == oracle["bind_now"], path
        assert (verdicts["nx"].status is Status.FAIL) == (
            oracle["stack"] is None or "E" in str(oracle["stack"])
        ), path
        assert (verdicts["pic"].status is Status.FAIL) == oracle["textrel"], path
        ours = [value for _, value in verdicts["rpath"].facts if value is not None]
        assert sorted(ours) == sorted(oracle["paths"]), path  # type: ignore[type-var]
        checked += 1
    assert checked >= len(installed) // 2


def _readelf_got_slots(path: Path) -> set[int]:
    """Offsets of JUMP_SLOT and GLOB_DAT relocations, as readelf -D -r prints them."""
    listing = readelf(path, "--use-dynamic", "-r")
    return {
        int(match.group(1), 16)
        for match in re.finditer(
            r"^([0-9a-f]+)\s+[0-9a-f]+\s+R_X86_64_(?:JUMP_SLOT|GLOB_DAT)\b", listing, re.M
        )
    }


def test_got_slots_agree_with_readelf(installed: list[Path], corpus: dict[str, Path]) -> None:
    """The GOT slots the relro check judges (relative relocations skipped via
    DT_RELACOUNT) are exactly the JUMP_SLOT and GLOB_DAT targets readelf lists."""
    small = [path for path in installed if path.stat().st_size < 4_000_000][:60]
    for path in [*corpus.values(), *small]:
        ev = load_elf_evidence(str(path))
        if ev.machine != "x86_64":
            continue
        assert set(ev.got_slots) == _readelf_got_slots(path), path
