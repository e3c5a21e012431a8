"""module_identity over real-world extension and library names (the baseline and SARIF key)."""

from __future__ import annotations

import pytest

from pytest_memsafe.identity import module_identity


def gap(path: str, expected: str, why: str) -> object:
    """A known gap: strict, so a fix turns it into a failure that asks to drop the mark."""
    return pytest.param(path, expected, marks=pytest.mark.xfail(strict=True, reason=why))


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        # CPython, every platform tag and ABI flag
        ("src/pkg/_x.cpython-311-x86_64-linux-gnu.so", "pkg/_x"),
        ("src/pkg/_x.cpython-312-x86_64-linux-gnu.so", "pkg/_x"),
        ("src/pkg/_x.cpython-313-aarch64-linux-musl.so", "pkg/_x"),
        ("pkg/_x.cpython-311d-x86_64-linux-gnu.so", "pkg/_x"),
        ("pkg/_x.cpython-313t-x86_64-linux-gnu.so", "pkg/_x"),
        ("pkg/_x.cpython-36m-x86_64-linux-gnu.so", "pkg/_x"),
        ("pkg/_x.cpython-312-darwin.so", "pkg/_x"),
        ("pkg/_x.cpython-311-powerpc64le-linux-gnu.so", "pkg/_x"),
        ("pkg/_x.abi3.so", "pkg/_x"),
        ("pkg/_x.so", "pkg/_x"),
        # PyPy
        ("pkg/_x.pypy39-pp73-x86_64-linux-gnu.so", "pkg/_x"),
        ("pkg/_x.pypy310-pp73-darwin.so", "pkg/_x"),
        # Windows
        ("pkg/_x.pyd", "pkg/_x"),
        ("pkg/_x.cp311-win_amd64.pyd", "pkg/_x"),
        ("pkg\\_x.cp313t-win_arm64.pyd", "pkg/_x"),
        # shared libraries and macOS
        ("lib/foo.so.1.2", "foo"),
        ("vendor/libfoo.so.1", "vendor/libfoo"),
        ("pkg/libfoo.dylib", "pkg/libfoo"),
        # layouts: build tree, installed, wheel member
        ("build/lib.linux-x86_64-cpython-311/pkg/_x.cpython-311-x86_64-linux-gnu.so", "pkg/_x"),
        (".venv/lib/python3.12/site-packages/pkg/_x.cpython-312-x86_64-linux-gnu.so", "pkg/_x"),
        ("/usr/lib/python3/dist-packages/pkg/_x.cpython-311-x86_64-linux-gnu.so", "pkg/_x"),
        ("dist/x.whl!pkg/_x.abi3.so", "pkg/_x"),
        # PE and Mach-O: Windows names in any case; a universal file's slice keeps its arch
        ("src/pkg/_x.cp311-win_amd64.pyd", "pkg/_x"),
        ("src/pkg.libs/LIBFOO.DLL", "pkg.libs/LIBFOO"),
        ("src/pkg/_x.cpython-311-darwin.so[arm64]", "pkg/_x[arm64]"),
        ("dist/x.whl!pkg/_x.abi3.so[x86_64]", "pkg/_x[x86_64]"),
        (
            "dist/x-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"
            "!pkg/_x.cpython-311-x86_64-linux-gnu.so",
            "pkg/_x",
        ),
        # gaps: a name part that changes between builds survives
        gap(
            "pkg/.dylibs/libgfortran.5.dylib",
            "pkg/.dylibs/libgfortran",
            "macOS puts the version before .dylib",
        ),
        gap(
            "numpy.libs/libscipy_openblas64_-ff651d7f.so",
            "numpy.libs/libscipy_openblas64_",
            "auditwheel's content hash in a vendored library name",
        ),
        gap("pkg/_x.graalpy311-310-native-x86_64-linux.so", "pkg/_x", "GraalPy ABI tag"),
        gap(
            "dist/x.whl!x-1.0.data/platlib/pkg/_x.so",
            "pkg/_x",
            "the version in a wheel's .data/platlib/ member path",
        ),
    ],
)
def test_module_identity(path: str, expected: str) -> None:
    assert module_identity(path) == expected


def test_identity_is_the_same_for_every_python_of_one_module() -> None:
    names = [
        "src/pkg/_x.cpython-310-x86_64-linux-gnu.so",
        "src/pkg/_x.cpython-314t-x86_64-linux-gnu.so",
        "src/pkg/_x.pypy311-pp73-x86_64-linux-gnu.so",
        "src/pkg/_x.abi3.so",
        ".tox/py/lib/python3.13/site-packages/pkg/_x.cpython-313-x86_64-linux-gnu.so",
    ]
    assert {module_identity(name) for name in names} == {"pkg/_x"}
    assert module_identity("src/pkg/_y.abi3.so") != module_identity("src/other/_x.abi3.so")
