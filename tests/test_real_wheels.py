"""Real wheels from PyPI (Rust, C with vendored .libs, C++), checked in memory.

Downloads a few MB: runs in CI (CI=true) or with MEMSAFE_NETWORK_TESTS=1. A download that
fails (no network) skips with pip's message rather than failing the suite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.skipif(
    os.environ.get("CI") != "true" and not os.environ.get("MEMSAFE_NETWORK_TESTS"),
    reason="downloads wheels from PyPI: set MEMSAFE_NETWORK_TESTS=1 (CI does)",
)

WHEELS = ("bcrypt==5.0.0", "pyzmq==27.3.0", "kiwisolver==1.5.1")
"""Rust (PyO3); Cython + vendored libzmq/libsodium in pyzmq.libs; C++."""
PLATFORMS = ("manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux_2_28_x86_64")


def download(target: Path, wheels: tuple[str, ...], platforms: tuple[str, ...]) -> None:
    """``pip download`` the wheels for CPython 3.11 on any of ``platforms``; skip when pip
    cannot (no network)."""
    command = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
               "--python-version", "3.11", "--dest", str(target), *wheels]  # fmt: skip
    for platform in platforms:
        command += ["--platform", platform]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        pytest.skip(f"pip download failed: {done.stderr.strip()[-500:]}")


def scan(pytester: pytest.Pytester, wheels: list[Path]) -> dict[str, Any]:
    """``pytest --memsafe`` over the wheels in an empty project: the JSON report, which
    must hold no error item."""
    pytester.makeini("[pytest]\n")  # the rootdir is this empty project: only the wheels count
    # one token per wheel: pytest takes a separate path token as a test path for its rootdir
    options = [f"--memsafe-wheel={wheel}" for wheel in wheels]
    result = pytester.runpytest(
        "--memsafe", *options, "--memsafe-json=r.json", "-p", "no:cacheprovider"
    )
    result.stdout.no_fnmatch_line("*INTERNALERROR*")
    report: dict[str, Any] = json.loads((pytester.path / "r.json").read_text())
    assert report["summary"]["errors"] == 0
    return report


@pytest.fixture(scope="module")
def real_wheels(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    target = tmp_path_factory.mktemp("wheels")
    download(target, WHEELS, PLATFORMS)
    return sorted(target.glob("*.whl"))


def test_real_wheels_have_no_error_item(pytester: pytest.Pytester, real_wheels: list[Path]) -> None:
    assert len(real_wheels) == len(WHEELS)
    report = scan(pytester, real_wheels)
    members = {a["path"].rsplit("!", 1)[-1]: a for a in report["artifacts"]}
    primaries = {path.split("/")[0]: a["languages"]["primary"] for path, a in members.items()}
    assert primaries["bcrypt"] == "rust" and primaries["kiwisolver"] == "c++"
    zmq = next(a for path, a in members.items() if path.startswith("zmq/backend/cython/_zmq"))
    vendored = [n["vendored"] for n in zmq["needed"] if n["vendored"]]
    assert vendored and all("!pyzmq.libs/libzmq-" in path for path in vendored)


FOREIGN_WHEELS = ("markupsafe==3.0.3", "orjson==3.11.4", "bcrypt==5.0.0")
"""C (setuptools), Rust (maturin, abi3 and not): MSVC-built ``.pyd`` and Apple-built
bundles/dylibs, including universal2 files."""
FOREIGN_PLATFORMS = ("win_amd64", "win32", "macosx_11_0_arm64")


@pytest.fixture(scope="module")
def foreign_wheels(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    target = tmp_path_factory.mktemp("foreign-wheels")
    for platform in FOREIGN_PLATFORMS:
        download(target / platform, FOREIGN_WHEELS, (platform,))
    return sorted(target.glob("*/*.whl"))


def test_windows_and_macos_wheels_get_plausible_verdicts(
    pytester: pytest.Pytester, foreign_wheels: list[Path]
) -> None:
    assert len(foreign_wheels) == len(FOREIGN_WHEELS) * len(FOREIGN_PLATFORMS)
    report = scan(pytester, foreign_wheels)
    by_path = {
        a["path"].rsplit("/", 3)[-3] + ":" + a["path"].split("/")[-1]: {
            r["check"]: r["status"] for r in a["results"]
        }
        | {"@format": a["format"], "@machine": a["machine"]}
        for a in report["artifacts"]
    }
    windows = {path: r for path, r in by_path.items() if r["@format"] == "pe"}
    macos = {path: r for path, r in by_path.items() if r["@format"] == "macho"}
    assert len(windows) == 6  # one .pyd per wheel, 3 x 2 platforms
    assert {r["@machine"] for r in windows.values()} == {"x86_64", "i386"}
    for results in windows.values():  # MSVC defaults: relocatable, DEP, /GS cookie
        assert results["aslr"] == results["nx"] == results["canary"] == "pass"
        assert results["loadable"] == results["wx"] == "pass"
        assert results["fortify"] == "not_applicable"  # MSVC has no FORTIFY
        assert results["safeseh"] == ("pass" if results["@machine"] == "i386" else "not_applicable")
    # universal2 files give one artifact per slice; every arm64 slice is signed
    assert {
        "macosx_11_0_arm64:_bcrypt.abi3.so[arm64]",
        "macosx_11_0_arm64:_bcrypt.abi3.so[x86_64]",
    } <= macos.keys()
    # bcrypt is Rust with rustc's source paths in it: no canary is expected, not a failure
    assert macos["macosx_11_0_arm64:_bcrypt.abi3.so[arm64]"]["canary"] == "unknown"
    for results in macos.values():
        assert results["loadable"] == results["rpath"] == results["wx"] == "pass"
        assert results["code-signature"] == "pass"
        assert results["pie"] == "not_applicable"
