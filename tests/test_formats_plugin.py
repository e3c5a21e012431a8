"""``pytest --memsafe`` on a folder that mixes ELF, PE and Mach-O files, end to end."""

from __future__ import annotations

import json
import shutil
import sys
import zipfile
from pathlib import Path

import pytest

from pytest_memsafe.evidence.elf_records import ElfEvidence
from pytest_memsafe.evidence.macho import load_macho_evidence
from pytest_memsafe.evidence.pe import load_pe_evidence
from pytest_memsafe.evidence.store import EvidenceStore, StoreKey
from tests.reports import report_results

ELF_NAME = "_elf.cpython-311-x86_64-linux-gnu.so"
PE_NAME = "_win.cp311-win_amd64.pyd"
PE32_NAME = "_win32.cp311-win32.pyd"
MACHO_NAME = "_mac.cpython-311-darwin.so"
FAT_NAME = "_uni.cpython-311-darwin.so"


@pytest.fixture
def mixed(
    pytester: pytest.Pytester,
    corpus: dict[str, Path],
    pe_corpus: dict[str, Path],
    macho_corpus: dict[str, Path],
) -> pytest.Pytester:
    """src/pkg with one binary of each format, a 32-bit DLL and a universal2 file."""
    pkg = pytester.mkdir("src") / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("raise SystemExit('pkg/__init__.py was imported')\n")
    shutil.copy(corpus["hardened"], pkg / ELF_NAME)
    shutil.copy(pe_corpus["hardened"], pkg / PE_NAME)
    shutil.copy(pe_corpus["safeseh-fail-x86"], pkg / PE32_NAME)
    shutil.copy(macho_corpus["hardened-arm64"], pkg / MACHO_NAME)
    shutil.copy(macho_corpus["universal2-canary-arm64-only"], pkg / FAT_NAME)
    pytester.makeini("[pytest]\n")
    return pytester


def test_each_format_gets_its_own_checks(mixed: pytest.Pytester) -> None:
    result = mixed.runpytest("--memsafe", "--memsafe-json=report.json", "-p", "no:cacheprovider")

    found = report_results(mixed.path / "report.json")
    pe, pe32 = found[f"src/pkg/{PE_NAME}"], found[f"src/pkg/{PE32_NAME}"]
    assert (pe["@format"], pe["@machine"], pe32["@machine"]) == ("pe", "x86_64", "i386")
    assert {"aslr", "nx", "cfg", "canary", "safeseh", "cet", "wx", "loadable"} <= pe.keys()
    assert "relro" not in pe and "rpath" not in pe
    assert pe["aslr"] == "passed" and pe32["safeseh"] == "failed"
    assert pe["safeseh"] == "skipped"  # not applicable on x64
    mac = found[f"src/pkg/{MACHO_NAME}"]
    assert (mac["@format"], mac["@machine"]) == ("macho", "arm64")
    assert mac["code-signature"] == "passed" and mac["rpath"] == "passed"
    assert mac["pie"] == "skipped" and "relro" not in mac
    arm, intel = found[f"src/pkg/{FAT_NAME}[arm64]"], found[f"src/pkg/{FAT_NAME}[x86_64]"]
    assert (arm["@machine"], intel["@machine"]) == ("arm64", "x86_64")
    assert arm["canary"] == "passed" and intel["canary"] == "warned"
    assert found[f"src/pkg/{ELF_NAME}"]["@format"] == "elf"
    result.stdout.fnmatch_lines(
        [
            "ELF (x86_64):",
            "artifact * relro *",
            "PE (i386, x86_64):",
            "artifact * nx * aslr *",
            "Mach-O (arm64, x86_64):",
            f"src/pkg/{FAT_NAME}[[]x86_64[]] *",
        ]
    )
    assert result.ret == 1  # the 32-bit DLL fails SafeSEH


def test_node_ids_name_the_slice(mixed: pytest.Pytester) -> None:
    result = mixed.runpytest(
        "--memsafe", "-k", "_uni and canary", "-rA", "-p", "no:cacheprovider", "-W", "default"
    )

    result.assert_outcomes(passed=2, warnings=1)
    result.stdout.fnmatch_lines(
        [
            f"PASSED src/pkg/{FAT_NAME}[[]arm64[]]::canary",
            f"PASSED src/pkg/{FAT_NAME}[[]x86_64[]]::canary",
        ],
        consecutive=False,
    )


def test_a_universal_file_named_on_the_command_line_is_checked_per_slice(
    mixed: pytest.Pytester,
) -> None:
    result = mixed.runpytest(
        "--memsafe", f"src/pkg/{FAT_NAME}", "--collect-only", "-q", "-p", "no:cacheprovider"
    )

    ids = [line for line in result.stdout.lines if "::" in line]
    assert f"src/pkg/{FAT_NAME}[arm64]::code-signature" in ids
    assert f"src/pkg/{FAT_NAME}[x86_64]::code-signature" in ids
    assert not any(ELF_NAME in line or PE_NAME in line for line in ids)


def test_windows_and_macos_wheel_members_are_checked(
    pytester: pytest.Pytester, pe_corpus: dict[str, Path], macho_corpus: dict[str, Path]
) -> None:
    pytester.makeini("[pytest]\n")
    windows = pytester.path / "demo-1.0-cp311-cp311-win_amd64.whl"
    with zipfile.ZipFile(windows, "w") as archive:
        archive.write(pe_corpus["nx-fail-nonxcompat"], f"demo/{PE_NAME}")
    macos = pytester.path / "demo-1.0-cp311-cp311-macosx_11_0_universal2.whl"
    with zipfile.ZipFile(macos, "w") as archive:
        archive.write(macho_corpus["universal2-canary-arm64-only"], f"demo/{FAT_NAME}")

    result = pytester.runpytest(
        "--memsafe", f"--memsafe-wheel={windows}", f"--memsafe-wheel={macos}", "-rf",
        "-p", "no:cacheprovider",
    )  # fmt: skip

    result.stdout.fnmatch_lines([f"FAILED *win_amd64.whl!demo/{PE_NAME}::nx*"])
    result.stdout.fnmatch_lines([f"*universal2.whl!demo/{FAT_NAME}[[]x86_64[]]*"])
    assert result.ret == 1


def test_a_missing_parser_is_an_error_item_naming_the_install_command(
    mixed: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pefile", None)  # import pefile now raises ImportError

    result = mixed.runpytest_inprocess(
        "--memsafe", "-k", "_win and not _win32 and aslr", "-p", "no:cacheprovider"
    )

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*pefile is not installed (pip install 'pefile>=*')*"])
    result.stdout.no_fnmatch_line("*INTERNALERROR*")


def test_vendored_dlls_and_dylibs_resolve_to_the_checked_files(
    pytester: pytest.Pytester, pe_corpus: dict[str, Path], macho_corpus: dict[str, Path]
) -> None:
    pytester.makeini("[pytest]\n")
    pkg = pytester.mkdir("pkg")
    shutil.copy(pe_corpus["hardened"], pkg / PE_NAME)  # imports libssp-0.dll
    shutil.copy(pe_corpus["nx-fail-nonxcompat"], pkg / "LIBSSP-0.DLL")  # Windows: any case
    shutil.copy(macho_corpus["rpath-pass-vendored-loader-path"], pkg / MACHO_NAME)
    (pkg / ".dylibs").mkdir()
    shutil.copy(macho_corpus["loadable-pass-dylib"], pkg / ".dylibs/libfoo.dylib")

    result = pytester.runpytest("--memsafe", "--memsafe-json=r.json", "-p", "no:cacheprovider")

    report = json.loads((pytester.path / "r.json").read_text())
    needed = {
        a["path"]: {n["name"]: n["vendored"] for n in a["needed"]} for a in report["artifacts"]
    }
    assert needed[f"pkg/{PE_NAME}"]["libssp-0.dll"] == "pkg/LIBSSP-0.DLL"
    assert needed[f"pkg/{PE_NAME}"]["KERNEL32.dll"] is None
    assert needed[f"pkg/{MACHO_NAME}"]["@loader_path/.dylibs/libfoo.dylib"] == (
        "pkg/.dylibs/libfoo.dylib"
    )
    result.stdout.fnmatch_lines(["FAILED pkg/LIBSSP-0.DLL::nx*"])


def test_an_elf_only_run_never_imports_pefile_or_macholib(
    pytester: pytest.Pytester, corpus: dict[str, Path]
) -> None:
    pytester.makeini("[pytest]\n")
    shutil.copy(corpus["hardened"], pytester.path / ELF_NAME)
    pytester.makeconftest(
        "import sys\n"
        "def pytest_sessionfinish(session):\n"
        "    loaded = sorted(m for m in ('pefile', 'macholib') if m in sys.modules)\n"
        "    print('parsers loaded:', loaded or 'none')\n"
    )

    result = pytester.runpytest_subprocess("--memsafe", "-s", "-p", "no:cacheprovider")

    result.stdout.fnmatch_lines(["*parsers loaded: none*"])
    assert result.ret == 0


def test_parse_ahead_helper_reads_pe_and_macho_files_too(mixed: pytest.Pytester) -> None:
    """The helper stores every format's evidence (a universal file once, for all its
    slices); the results are those of a run without it."""
    off = mixed.runpytest("--memsafe", "--memsafe-parse-ahead=off", "--memsafe-json=off.json")
    on = mixed.runpytest(
        "--memsafe", "--memsafe-parse-ahead=on", "--cache-clear", "--memsafe-json=on.json"
    )
    assert report_results(mixed.path / "on.json") == report_results(mixed.path / "off.json")
    assert on.parseoutcomes() == off.parseoutcomes()
    line = next(text for text in on.outlines if text.startswith("evidence: "))
    parsed, hits, *_ = (int(word) for word in line.split() if word.isdigit())
    assert parsed + hits == 5
    warm = mixed.runpytest("--memsafe", "--memsafe-parse-ahead=on")
    # (the copies are too fresh for the stat index, so a helper may start and find them all)
    warm.stdout.fnmatch_lines(["evidence: 0 files parsed, 5 from the evidence cache*"])


def test_a_warm_run_parses_no_pe_or_macho_file_again(mixed: pytest.Pytester) -> None:
    """PE and Mach-O evidence is kept across runs like ELF's (a universal file once)."""
    cold = mixed.runpytest("--memsafe", "--memsafe-json=cold.json")
    warm = mixed.runpytest("--memsafe", "--memsafe-json=warm.json")

    cold.stdout.fnmatch_lines(["evidence: 5 files parsed, 0 from the evidence cache"])
    warm.stdout.fnmatch_lines(["evidence: 0 files parsed, 5 from the evidence cache"])
    assert report_results(mixed.path / "warm.json") == report_results(mixed.path / "cold.json")
    slices = json.loads((mixed.path / "warm.json").read_text())["artifacts"]
    digests = {a["path"]: a["sha256"] for a in slices if FAT_NAME in a["path"]}
    assert len(set(digests.values())) == 1 and None not in digests.values()  # the file's


def test_store_round_trips_pe_and_macho_evidence(
    tmp_path: Path, pe_corpus: dict[str, Path], macho_corpus: dict[str, Path]
) -> None:
    store = EvidenceStore(tmp_path)
    for evidence in (
        load_pe_evidence(str(pe_corpus["lld-hardened"])),
        load_macho_evidence(str(macho_corpus["universal2-canary-arm64-only"])),
    ):
        key = StoreKey.of_evidence(evidence)
        assert not key.language  # no language signals outside ELF
        assert store.put(key, evidence)
        assert store.get(key, type(evidence)) == evidence
        assert store.get(key, ElfEvidence) is None  # read as ELF it is no entry (dropped)
