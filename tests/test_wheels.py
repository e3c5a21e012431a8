"""Wheels checked in memory, hostile archives, and the same wheel installed with pip."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import pytest

WHEEL = "dist/mypkg-1.0-cp311-abi3-manylinux_2_17_x86_64.whl"
SPEEDUPS = "mypkg/_speedups.abi3.so"
WEAK = "mypkg/_weak.abi3.so"


def make_wheel(path: Path, members: dict[str, bytes]) -> Path:
    """A wheel with ``members`` plus METADATA, WHEEL and RECORD, as a build backend writes."""
    info = "mypkg-1.0.dist-info"
    meta = {
        f"{info}/METADATA": b"Metadata-Version: 2.1\nName: mypkg\nVersion: 1.0\n",
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\n"
        b"Tag: cp311-abi3-manylinux_2_17_x86_64\n",
    }
    every = {**members, **meta}
    record = "".join(f"{name},,\n" for name in [*every, f"{info}/RECORD"]).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in {**every, f"{info}/RECORD": record}.items():
            archive.writestr(name, data)
    return path


@pytest.fixture
def wheel(pytester: pytest.Pytester, corpus: dict[str, Path]) -> Path:
    pytester.makeini("[pytest]\nmemsafe_severity = cet=off\n    language=off\n")
    return make_wheel(
        pytester.path / WHEEL,
        {SPEEDUPS: corpus["hardened"].read_bytes(), WEAK: corpus["weak"].read_bytes(),
         "mypkg/__init__.py": b"raise SystemExit('imported')\n"},
    )  # fmt: skip


def files_under(root: Path) -> set[Path]:
    own = {".pytest_cache", ".benchmarks"}  # pytest's cache; pytest-benchmark, when installed
    return {p for p in root.rglob("*") if not own.intersection(p.parts)}


def statuses(report_path: Path) -> dict[tuple[str, str], str]:
    report = json.loads(report_path.read_text())
    return {
        (artifact["path"].rsplit("!", 1)[-1], result["check"]): result["status"]
        for artifact in report["artifacts"]
        for result in artifact["results"]
    }


def test_wheel_members_are_checked_in_memory(wheel: Path, pytester: pytest.Pytester) -> None:
    before = files_under(pytester.path)
    result = pytester.runpytest("--memsafe", "--memsafe-wheel", WHEEL, "--memsafe-json=r.json")
    assert files_under(pytester.path) - before == {pytester.path / "r.json"}  # nothing extracted
    result.assert_outcomes(passed=14, failed=2)
    result.stdout.fnmatch_lines([f"FAILED {WHEEL}!{WEAK}::nx*"])
    report = json.loads((pytester.path / "r.json").read_text())
    member = next(a for a in report["artifacts"] if a["path"] == f"{WHEEL}!{SPEEDUPS}")
    assert member["origin"] == "wheel" and member["machine"] == "x86_64"
    assert member["wheel"] == {
        "name": "mypkg", "version": "1.0", "build": None,
        "tags": ["cp311-abi3-manylinux_2_17_x86_64"],
    }  # fmt: skip


def test_installed_wheel_gives_the_same_verdicts(
    wheel: Path, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.runpytest("--memsafe", "--memsafe-wheel", WHEEL, "--memsafe-json=wheel.json")
    site = pytester.path.parent / f"{pytester.path.name}-site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
         "--disable-pip-version-check", "--target", str(site), str(wheel)],
        check=True,
    )  # fmt: skip
    monkeypatch.setenv("PYTHONPATH", str(site))
    elsewhere = pytester.mkdir("elsewhere")
    monkeypatch.chdir(elsewhere)  # found from a different working directory
    pytester.runpytest_subprocess(
        "--memsafe", "--memsafe-dist", "mypkg", f"--memsafe-json={pytester.path}/dist.json",
        f"--rootdir={pytester.path}", "-c", str(pytester.path / "tox.ini"),
    )  # fmt: skip
    installed = statuses(pytester.path / "dist.json")
    assert installed == statuses(pytester.path / "wheel.json")
    assert installed[WEAK, "nx"] == "fail"


@pytest.mark.parametrize(
    ("member", "problem"),
    [
        ("/abs/mypkg/_x.so", "unsafe member name"),
        ("mypkg/../../escape/_x.so", "unsafe member name"),
        ("bomb.so", "compression ratio over"),
    ],
    ids=["absolute", "dotdot", "zip-bomb"],
)
def test_hostile_member_is_an_error_item(
    pytester: pytest.Pytester, corpus: dict[str, Path], member: str, problem: str
) -> None:
    data = b"\0" * (8 << 20) if member == "bomb.so" else corpus["hardened"].read_bytes()
    make_wheel(pytester.path / WHEEL, {member: data, SPEEDUPS: corpus["hardened"].read_bytes()})
    before = files_under(pytester.path)
    result = pytester.runpytest("--memsafe", "--memsafe-wheel", WHEEL, "-p", "no:cacheprovider")
    assert files_under(pytester.path) == before
    assert result.parseoutcomes()["errors"] >= 1
    assert result.parseoutcomes()["passed"] >= 1  # the good member is still checked
    result.stdout.fnmatch_lines([f"*{problem}*"])
    result.stdout.no_fnmatch_line("*INTERNALERROR*")


def test_duplicate_and_oversized_members(
    pytester: pytest.Pytester, corpus: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    good = corpus["hardened"].read_bytes()
    path = make_wheel(pytester.path / WHEEL, {SPEEDUPS: good})
    with warnings.catch_warnings(), zipfile.ZipFile(path, "a") as archive:
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name
        archive.writestr(SPEEDUPS, good)
    monkeypatch.setattr("pytest_memsafe.wheels.MAX_MEMBER_BYTES", len(good) // 2)
    result = pytester.runpytest("--memsafe", "--memsafe-wheel", WHEEL, "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines_random(["*over the * limit*", "*duplicate member*"])
    result.stdout.no_fnmatch_line("*INTERNALERROR*")


def test_corrupt_wheel_is_one_error(pytester: pytest.Pytester) -> None:
    (pytester.path / "dist").mkdir()
    (pytester.path / WHEEL).write_bytes(b"PK\x03\x04 this is not a zip archive")
    result = pytester.runpytest("--memsafe", "--memsafe-wheel", WHEEL, "-p", "no:cacheprovider")
    assert result.parseoutcomes()["errors"] >= 1
    result.stdout.fnmatch_lines(["*not a readable wheel*"])
    result.stdout.no_fnmatch_line("*INTERNALERROR*")


def test_a_shell_glob_of_wheels_checks_every_wheel(
    pytester: pytest.Pytester, corpus: dict[str, Path]
) -> None:
    """``--memsafe-wheel dist/*.whl`` expands to one option value and positional wheels."""
    pytester.makeini("[pytest]\n")
    good = corpus["hardened"].read_bytes()
    first = make_wheel(pytester.path / "dist/a-1.0-py3-none-any.whl", {"a/_x.abi3.so": good})
    second = make_wheel(pytester.path / "dist/b-1.0-py3-none-any.whl", {"b/_y.abi3.so": good})
    result = pytester.runpytest(
        "--memsafe", "--memsafe-wheel", str(first.relative_to(pytester.path)),
        str(second.relative_to(pytester.path)), "--collect-only", "-q",
    )  # fmt: skip
    ids = sorted(line for line in result.outlines if "::relro" in line)
    assert ids == [
        "dist/a-1.0-py3-none-any.whl!a/_x.abi3.so::relro",
        "dist/b-1.0-py3-none-any.whl!b/_y.abi3.so::relro",
    ]
