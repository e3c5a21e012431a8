"""File-system hostility, end to end: whatever sits in a scanned tree under a library's
name, `pytest --memsafe` reports it with a clear reason, never blocks, never reads more than
a bounded amount, and still checks every other file (README "Which files are checked").
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Final

import pytest

from pytest_memsafe.discovery import discover
from pytest_memsafe.files import MAX_BINARY_BYTES
from pytest_memsafe.model import BinaryFormat
from tests.test_plugin import CHECKS, GOOD

PKG: Final = "src/pkg"
SECONDS: Final = 60.0
"""Generous bound on one whole pytester run (a hang would block forever)."""


def run_memsafe(project: pytest.Pytester, *args: str, store: bool = False) -> pytest.RunResult:
    """Run in process; ``store`` keeps pytest's cache and so the evidence store."""
    started = time.monotonic()
    result = project.runpytest("--memsafe", *(() if store else ("-p", "no:cacheprovider")), *args)
    assert time.monotonic() - started < SECONDS
    result.stdout.no_fnmatch_line("*INTERNALERROR*")
    return result


def expect_one_error(
    project: pytest.Pytester, name: str, reason: str, *, store: bool = False
) -> None:
    """``name`` is one ERROR per check with ``reason``; the two good files still pass/fail."""
    result = run_memsafe(project, store=store)
    outcomes = result.parseoutcomes()
    assert outcomes.get("errors") == len(CHECKS), result.stdout.str()
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) >= 2 * len(CHECKS) - 2
    result.stdout.fnmatch_lines([f"*cannot check {PKG}/{name}: {reason}*"])


# --------------------------------------------------------------------------- special files


class BlockedWriter:
    """A thread blocked in ``open(fifo, O_WRONLY)`` until someone opens the FIFO to read."""

    def __init__(self, fifo: Path) -> None:
        self.fifo = fifo
        self.opened = threading.Event()
        self.thread = threading.Thread(target=self._open, daemon=True)
        self.thread.start()

    def _open(self) -> None:
        fd = os.open(self.fifo, os.O_WRONLY)
        self.opened.set()
        os.close(fd)

    def release(self) -> None:
        fd = os.open(self.fifo, os.O_RDONLY | os.O_NONBLOCK)
        self.opened.wait(5)
        os.close(fd)
        self.thread.join(5)


def test_fifo_is_never_opened(project: pytest.Pytester) -> None:
    """Opening the FIFO to read would release the writer: it must still be waiting."""
    fifo = project.path / PKG / "_pipe.abi3.so"
    os.mkfifo(fifo)
    writer = BlockedWriter(fifo)
    try:
        expect_one_error(project, "_pipe.abi3.so", "cannot read: not a regular file")
        assert not writer.opened.is_set(), "the scan opened the FIFO"
    finally:
        writer.release()
    assert writer.opened.is_set()  # the oracle: opening it for reading does release it


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_dev_zero_linked_as_a_library(project: pytest.Pytester) -> None:
    (project.path / PKG / "_zero.abi3.so").symlink_to("/dev/zero")
    expect_one_error(project, "_zero.abi3.so", "cannot read: not a regular file")


def test_symlink_loop(project: pytest.Pytester) -> None:
    pkg = project.path / PKG
    (pkg / "_a.abi3.so").symlink_to("_b.abi3.so")
    (pkg / "_b.abi3.so").symlink_to("_a.abi3.so")
    result = run_memsafe(project)
    result.assert_outcomes(passed=2 * len(CHECKS) - 2 + 1, failed=2, errors=2 * len(CHECKS))
    result.stdout.fnmatch_lines(
        ["*cannot check src/pkg/_a.abi3.so: cannot read: Too many levels of symbolic links*"]
    )


def test_symlink_out_of_the_tree_is_followed(
    project: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The documented choice: a link is followed wherever it points and the file is
    checked under the link's own path (an editable install or a wheel build links out)."""
    outside = tmp_path_factory.mktemp("elsewhere") / "real.so"
    shutil.copy(project.path / GOOD, outside)
    (project.path / PKG / "_linked.abi3.so").symlink_to(outside)
    result = run_memsafe(project, "-v")
    result.assert_outcomes(passed=3 * len(CHECKS) - 2 + 1, failed=2)
    result.stdout.fnmatch_lines([f"{PKG}/_linked.abi3.so::relro PASSED*"])


def test_empty_library_is_an_error(project: pytest.Pytester) -> None:
    (project.path / PKG / "_empty.abi3.so").write_bytes(b"")
    expect_one_error(project, "_empty.abi3.so", "empty file")


# --------------------------------------------------------------------------- permissions

DROP_FILE_CAPABILITIES: Final = ("--bounding-set=-dac_override,-dac_read_search",)
"""``setpriv`` arguments that make root subject to file modes like any other user."""


def test_unreadable_file_is_an_error(project: pytest.Pytester) -> None:
    """As root, file modes do not apply: the run then drops the two capabilities that let
    root read any file (``setpriv``), so the mode-0 file really cannot be opened."""
    (project.path / GOOD).chmod(0)
    prefix: tuple[str, ...] = ()
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("root reads files whatever their mode, and setpriv is not installed")
        prefix = (setpriv, *DROP_FILE_CAPABILITIES)
    result = project.run(
        *prefix, sys.executable, "-m", "pytest", "--memsafe", "-p", "no:cacheprovider",
        "-k", "_good", timeout=SECONDS,
    )  # fmt: skip
    result.assert_outcomes(errors=len(CHECKS))
    result.stdout.fnmatch_lines([f"*cannot check {GOOD}: cannot read: Permission denied*"])


# --------------------------------------------------------------------------- races

CHANGE_AFTER_COLLECTION: Final = '''
import os

def pytest_collection_finish(session):
    """Between discovery and the first check: one file goes, one shrinks, one becomes a FIFO."""
    os.unlink("src/pkg/_gone.abi3.so")
    with open("src/pkg/_shrunk.abi3.so", "r+b") as handle:
        handle.truncate(100)
    os.unlink("src/pkg/_fifo.abi3.so")
    os.mkfifo("src/pkg/_fifo.abi3.so")
'''


def test_files_changing_after_discovery(project: pytest.Pytester) -> None:
    for name in ("_gone", "_shrunk", "_fifo"):
        shutil.copy(project.path / GOOD, project.path / PKG / f"{name}.abi3.so")
    project.makeconftest(CHANGE_AFTER_COLLECTION)
    result = run_memsafe(project)
    result.assert_outcomes(passed=2 * len(CHECKS) - 2 + 1, failed=2, errors=3 * len(CHECKS))
    result.stdout.fnmatch_lines_random(
        [
            f"*cannot check {PKG}/_gone.abi3.so: cannot read: No such file or directory*",
            f"*cannot check {PKG}/_shrunk.abi3.so: truncated or corrupt ELF*",
            f"*cannot check {PKG}/_fifo.abi3.so: cannot read: not a regular file*",
        ]
    )


# --------------------------------------------------------------------------- size


@pytest.mark.parametrize("store", [False, True], ids=["no-store", "evidence-store"])
def test_sparse_multi_gigabyte_file_is_refused_unread(
    project: pytest.Pytester, store: bool
) -> None:
    """4 GiB that would hash for seconds and map 4 GiB: refused from its size. With the
    evidence store, the store's hash is skipped too."""
    sparse = project.path / PKG / "_huge.abi3.so"
    shutil.copy(project.path / GOOD, sparse)
    os.truncate(sparse, 4 << 30)
    assert sparse.stat().st_blocks * 512 < 1 << 20, "the file must be sparse"
    expect_one_error(
        project,
        "_huge.abi3.so",
        f"file size: {4 << 30} exceeds the limit of {MAX_BINARY_BYTES}",
        store=store,
    )


# --------------------------------------------------------------------------- depth

DEPTH: Final = 1_500
"""Deeper than Python's default recursion limit (1,000)."""


def _nest(folder: Path, depth: int, build: bool) -> None:
    """Make (or remove) ``depth`` folders ``d`` nested in ``folder``, without recursion:
    pytest's own clean-up of old temporary directories (``shutil.rmtree``) recurses."""
    cwd = Path.cwd()
    try:
        os.chdir(folder)
        for _ in range(depth):
            if build:
                os.mkdir("d")
            os.chdir("d")
        for name in () if build else os.listdir("."):
            os.unlink(name)
        for _ in range(0 if build else depth):
            os.chdir("..")
            os.rmdir("d")
    finally:
        os.chdir(cwd)


def test_deep_tree_is_walked_without_recursion(corpus: dict[str, Path], tmp_path: Path) -> None:
    """Discovery walks with a stack; pytest's own collection of such a tree (its
    ``genitems`` recurses per folder) is pytest's business, so this calls discover()."""
    folder = tmp_path / "deep"
    folder.mkdir()
    _nest(folder, DEPTH, build=True)
    try:
        shutil.copy(corpus["hardened"], folder / ("d/" * DEPTH + "_deep.abi3.so"))

        found = discover([(folder, "deep")], rootdir=tmp_path, formats={BinaryFormat.ELF})

        assert [a.display for a in found] == ["deep/" + "d/" * DEPTH + "_deep.abi3.so"]
        assert found[0].problem is None
    finally:
        _nest(folder, DEPTH, build=False)
    assert not any(folder.iterdir())
