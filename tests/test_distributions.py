"""Installed distributions: their compiled files via importlib.metadata, checked end to end."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

RECORD = ("mypkg/__init__.py", "mypkg/_speedups.abi3.so", "mypkg.libs/libvendored-1a2b.so.1",
          "mypkg-1.0.dist-info/METADATA", "../../bin/mypkg-tool.so")  # fmt: skip


@pytest.fixture
def site(
    pytester: pytest.Pytester, corpus: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A site directory outside the project where ``mypkg`` 1.0 is installed (RECORD and all)."""
    site = pytester.path.parent / f"{pytester.path.name}-site"
    (site / "mypkg").mkdir(parents=True)
    (site / "mypkg.libs").mkdir()
    (site / "mypkg" / "__init__.py").write_text("raise SystemExit('mypkg was imported')\n")
    shutil.copy(corpus["hardened"], site / "mypkg/_speedups.abi3.so")
    shutil.copy(corpus["vendored-lib"], site / "mypkg.libs/libvendored-1a2b.so.1")
    info = site / "mypkg-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mypkg\nVersion: 1.0\n")
    (info / "RECORD").write_text("".join(f"{line},,\n" for line in RECORD))
    monkeypatch.setenv("PYTHONPATH", str(site))
    pytester.makeini("[pytest]\nmemsafe_severity = cet=off\n    language=off\n")
    return site


def collected(result: pytest.RunResult) -> list[str]:
    return [line for line in result.outlines if "::" in line]


def test_named_distribution_is_checked_by_record_path(
    site: Path, pytester: pytest.Pytester
) -> None:
    result = pytester.runpytest_subprocess(
        "--memsafe", "--memsafe-dist", "mypkg", "--collect-only", "-q"
    )
    ids = collected(result)
    assert "mypkg/_speedups.abi3.so::relro" in ids
    assert "mypkg.libs/libvendored-1a2b.so.1::relro" in ids
    assert not any("bin/" in nodeid for nodeid in ids)  # outside the install root
    run = pytester.runpytest_subprocess(
        "--memsafe", "--memsafe-dist", "mypkg", "--memsafe-json=r.json"
    )
    assert run.ret == pytest.ExitCode.OK
    run.stdout.no_fnmatch_line("*was imported*")
    report = json.loads((pytester.path / "r.json").read_text())
    assert {a["origin"] for a in report["artifacts"]} == {"dist"}


def test_project_distribution_is_used_when_installed(site: Path, pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml("[project]\nname = 'mypkg'\nversion = '1.0'\n")
    result = pytester.runpytest_subprocess("--memsafe", "--collect-only", "-q")
    assert "mypkg/_speedups.abi3.so::relro" in collected(result)
    pytester.makeini("[pytest]\nmemsafe_dists = none\n")
    off = pytester.runpytest_subprocess("--memsafe", "--collect-only", "-q")
    assert collected(off) == []


def test_a_file_reached_twice_is_checked_once(site: Path, pytester: pytest.Pytester) -> None:
    tree = pytester.path / "mypkg"
    tree.symlink_to(site / "mypkg")  # like an editable install: the tree holds the same file
    result = pytester.runpytest_subprocess(
        "--memsafe", "--memsafe-dist", "mypkg", "--collect-only", "-q"
    )
    speedups = [
        nodeid for nodeid in collected(result) if "_speedups" in nodeid and "::relro" in nodeid
    ]
    assert len(speedups) == 1


def test_unknown_distribution_is_a_usage_error(site: Path, pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--memsafe", "--memsafe-dist", "nosuchdist")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*memsafe_dists: nosuchdist not installed*"])
