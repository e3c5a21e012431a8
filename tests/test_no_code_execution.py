"""No scanned file is ever loaded or executed (issue 7, "No code execution, ever").

The target is a real shared object whose constructor creates a marker file when the dynamic
loader maps it. It is first shown to work (``ctypes`` in a child process creates the
marker), then scanned in a tree, in a wheel and as an installed distribution, without
execute permission; the marker must not appear, and a Python audit hook in the scanning
process records every ``dlopen``, ``exec``, ``spawn`` and subprocess that names the target:
none may happen.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Final

import pytest

from tests.corpus import SOURCES, require_tool, run_tool
from tests.test_plugin import CHECKS
from tests.test_wheels import WHEEL, make_wheel

FORBIDDEN_EVENTS: Final = (
    "ctypes.dlopen", "subprocess.Popen", "os.exec", "os.posix_spawn", "os.spawn",
    "os.system", "os.fork", "os.forkpty", "os.startfile",
)  # fmt: skip
"""Audit events (PEP 578) that load a library or start a program."""
AUDIT_CONFTEST: Final = f"""
import json, sys

EVENTS = []
FORBIDDEN = {FORBIDDEN_EVENTS!r}

def _hook(event, args):
    if event in FORBIDDEN and "_trap" in repr(args):  # other plugins may run `file`...
        EVENTS.append([event, repr(args)[:300]])

sys.addaudithook(_hook)

def pytest_unconfigure(config):
    with open("audit-events.json", "w") as handle:
        json.dump(EVENTS, handle)
"""
"""Installed before collection: the conftest at the rootdir is imported before the scan."""


@pytest.fixture(scope="module")
def trap(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the booby-trapped extension, the marker its constructor creates), proven to fire."""
    out = tmp_path_factory.mktemp("trap")
    marker = out / "MARKER-constructor-ran"
    library = out / "_trap.abi3.so"
    run_tool([require_tool("gcc"), "-shared", "-fPIC", "-O2", "-DMODULE=_trap",
              f'-DMARKER="{marker}"', f"-I{SOURCES}", str(SOURCES / "trap.c"), "-o",
              str(library)])  # fmt: skip
    loader = [sys.executable, "-c", "import ctypes, sys; ctypes.CDLL(sys.argv[1])", str(library)]
    subprocess.run(loader, check=True, timeout=60)
    assert marker.read_text() == "loaded\n", "the oracle: loading the library fires the trap"
    marker.unlink()
    return library, marker


def _read_only(path: Path) -> None:
    path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)


def test_scanning_never_loads_or_runs_the_target(
    pytester: pytest.Pytester, trap: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    library, marker = trap
    data = library.read_bytes()
    tree = pytester.mkdir("src") / "pkg"
    tree.mkdir()
    (tree / "_trap.abi3.so").write_bytes(data)
    _read_only(tree / "_trap.abi3.so")
    make_wheel(pytester.path / WHEEL, {"mypkg/_trap.abi3.so": data})
    site = pytester.path.parent / f"{pytester.path.name}-site"
    (site / "trapdist").mkdir(parents=True)
    (site / "trapdist/_trap.abi3.so").write_bytes(data)
    _read_only(site / "trapdist/_trap.abi3.so")
    info = site / "trapdist-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: trapdist\nVersion: 1.0\n")
    (info / "RECORD").write_text("trapdist/_trap.abi3.so,,\ntrapdist-1.0.dist-info/RECORD,,\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    pytester.makeini("[pytest]\nmemsafe_severity = cet=off\n    language=off\n")
    pytester.makeconftest(AUDIT_CONFTEST)

    result = pytester.runpytest_subprocess(
        "--memsafe", "src", "--memsafe-wheel", WHEEL, "--memsafe-dist", "trapdist",
        "-p", "no:cacheprovider",
    )  # fmt: skip

    outcomes = result.parseoutcomes()
    assert outcomes.get("errors", 0) == 0, result.stdout.str()
    checked = sum(outcomes.get(outcome, 0) for outcome in ("passed", "failed", "skipped"))
    assert checked == 3 * (len(CHECKS) - 2), result.stdout.str()  # 3 copies, cet/language off
    result.stdout.fnmatch_lines_random(
        ["src/pkg/_trap.abi3.so *", f"{WHEEL}!mypkg/_trap.abi3.so *", "trapdist/_trap.abi3.so *"]
    )
    assert not marker.exists(), "scanning ran the library's constructor"
    assert json.loads((pytester.path / "audit-events.json").read_text()) == []
    assert "_trap" not in " ".join(sys.modules)
