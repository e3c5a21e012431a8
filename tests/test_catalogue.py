"""Invariants of the check catalogue, the shipped data and the README's tables."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from pytest_memsafe.checks import REGISTRY
from pytest_memsafe.discovery import display_path, is_candidate_name
from pytest_memsafe.model import BinaryFormat, Severity
from pytest_memsafe.sniff import sniff_format

README = Path(__file__).resolve().parents[1] / "README.md"


def test_check_ids_are_unique_kebab_case_and_fully_described() -> None:
    ids = [spec.id for spec in REGISTRY]
    assert len(ids) == len(set(ids))
    for spec in REGISTRY:
        assert re.fullmatch(r"[a-z][a-z0-9-]*", spec.id)
        assert spec.title and spec.rationale and spec.remediation and spec.impls
        assert spec.recommended_level is None or spec.recommended_level in spec.levels
        for impl in spec.impls.values():
            assert impl.__doc__ and "Reference" in impl.__doc__, spec.id


def test_fortify_list_is_sorted_and_unique() -> None:
    text = resources.files("pytest_memsafe").joinpath("data/glibc-fortify.txt").read_text()
    names = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert names == sorted(set(names))
    assert {"memcpy", "strcpy", "sprintf", "read", "strlcpy"} <= set(names)
    assert not any(name.startswith("stack") for name in names)  # BinSkim's bogus entry


FORMAT_COLUMNS = (BinaryFormat.ELF, BinaryFormat.PE, BinaryFormat.MACHO)
NOT_CHECKED = "—"


def test_readme_check_table_matches_the_catalogue() -> None:
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        for line in README.read_text().splitlines()
        if re.match(r"^\| `[a-z-]+` \| (error|warning) \|", line)
    ]
    assert [(row[0], row[1]) for row in rows] == [
        (f"`{spec.id}`", spec.default_severity.value) for spec in REGISTRY
    ]
    for spec, row in zip(REGISTRY, rows, strict=True):
        assert len(row) == 2 + len(FORMAT_COLUMNS), spec.id
        for fmt, cell in zip(FORMAT_COLUMNS, row[2:], strict=True):
            assert (cell != NOT_CHECKED) == (fmt in spec.impls), (spec.id, fmt.label)
    assert all(spec.default_severity is not Severity.OFF for spec in REGISTRY)


def test_candidate_names() -> None:
    for name in ("_x.cpython-311-x86_64-linux-gnu.so", "_x.abi3.so", "libfoo.so.1.2", "x.pyd",
                 "libx.dylib", "_x.cp311-win_amd64.pyd", "LIBBLAS.DLL"):  # fmt: skip
        assert is_candidate_name(name), name
    for name in ("x.py", "x.so.txt", "libfoo.so.x", "notes.sources"):
        assert not is_candidate_name(name), name


def test_sniff_rejects_text_and_accepts_binaries() -> None:
    assert sniff_format(b"/* GNU ld script */\nINPUT(-lc)\n") is None
    assert sniff_format(b"\x7fELF\x02\x01\x01" + b"\0" * 9) is not None
    assert sniff_format(b"\x7fELF\x07\x01\x01" + b"\0" * 9) is None  # bad EI_CLASS
    assert sniff_format(b"\xca\xfe\xba\xbe\x00\x00\x00\x34") is None  # a Java class file


def test_display_path_is_rootdir_relative_or_as_named(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    inside = root / "src/pkg/_x.so"
    assert display_path(inside, root) == "src/pkg/_x.so"
    site = tmp_path / "venv/site-packages"
    outside = site / "pkg/_y.so"
    assert display_path(outside, root, (site, "../venv/site-packages/")) == (
        "../venv/site-packages/pkg/_y.so"
    )
