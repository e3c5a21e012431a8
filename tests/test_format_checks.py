"""PE and Mach-O checks against real binaries (tests/pe_corpus.py, tests/macho_corpus.py),
each variant verified by objdump before its expectations are relied on."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_memsafe.checks import CheckParams, get_spec
from pytest_memsafe.evidence.macho import load_macho_bytes, load_macho_evidence
from pytest_memsafe.evidence.macho_records import MachoSlice
from pytest_memsafe.evidence.pe import load_pe_bytes, load_pe_evidence
from pytest_memsafe.model import BinaryFormat, Status
from tests.corpus import SOURCES, require_tool, run_tool
from tests.macho_corpus import MACHO_VARIANTS
from tests.pe_corpus import PE_VARIANTS


@pytest.mark.parametrize("name", sorted(PE_VARIANTS))
def test_pe_verdicts_match_the_objdump_oracle(pe_corpus: dict[str, Path], name: str) -> None:
    evidence = load_pe_evidence(str(pe_corpus[name]))

    found = {
        check: get_spec(check).impls[BinaryFormat.PE](evidence, CheckParams()).status.value
        for check in PE_VARIANTS[name].expect
    }

    assert found == dict(PE_VARIANTS[name].expect)


@pytest.mark.parametrize("name", sorted(MACHO_VARIANTS))
def test_macho_verdicts_match_the_llvm_oracle(macho_corpus: dict[str, Path], name: str) -> None:
    variant = MACHO_VARIANTS[name]
    evidence = load_macho_evidence(str(macho_corpus[name]))
    assert [piece.arch for piece in evidence.slices] == sorted(
        variant.expect_slices, key=[piece.arch for piece in evidence.slices].index
    )
    for arch, expect in variant.expect_slices.items():
        image = evidence.slice(arch if evidence.fat else None)
        assert image is not None and image.machine == arch
        verdicts = {
            check: get_spec(check).impls[BinaryFormat.MACHO](image, CheckParams())
            for check in expect
        }
        assert {check: v.status.value for check, v in verdicts.items()} == dict(expect), arch
        for check, level in variant.detail_slices[arch].items():
            assert verdicts[check].level == level, (arch, check)


def test_a_lying_aslr_level_is_graded(pe_corpus: dict[str, Path]) -> None:
    aslr = get_spec("aslr").impls[BinaryFormat.PE]
    levels = {
        name: aslr(load_pe_evidence(str(pe_corpus[name])), CheckParams()).level
        for name in ("hardened", "aslr-pass-nohighentropy", "aslr-fail-lowbase", "weak")
    }
    assert levels == {
        "hardened": "full",
        "aslr-pass-nohighentropy": "partial",
        "aslr-fail-lowbase": "partial",
        "weak": "none",
    }


def test_chained_fixups_are_the_only_import_source_when_the_symtab_has_none(
    macho_corpus: dict[str, Path],
) -> None:
    image = load_macho_evidence(str(macho_corpus["canary-pass-chained-fixups-only"])).slices[0]
    assert "chained-fixups" in image.import_sources
    assert {"__stack_chk_fail", "__memcpy_chk"} <= image.imports


def test_bytes_and_path_loaders_agree(
    pe_corpus: dict[str, Path], macho_corpus: dict[str, Path]
) -> None:
    pe = pe_corpus["hardened"]
    assert load_pe_bytes(pe.read_bytes(), "x") == load_pe_evidence(str(pe))
    fat = macho_corpus["universal2-canary-arm64-only"]
    assert load_macho_bytes(fat.read_bytes(), "x") == load_macho_evidence(str(fat))


RUST_TRACES = SOURCES / "rust_traces.c"


def _build_rust_traces(tmp_path: Path, kind: str) -> Path:
    """The C module with rustc's strings planted, as a MinGW DLL or a clang Mach-O bundle."""
    if kind == "pe":
        out = tmp_path / "rust_traces.cp311-win_amd64.pyd"
        run_tool([require_tool("x86_64-w64-mingw32-gcc"), "-shared", "-O2",
                  "-fno-stack-protector", str(RUST_TRACES), "-o", str(out)])  # fmt: skip
        return out
    obj, out = tmp_path / "rust_traces.o", tmp_path / "rust_traces.cpython-311-darwin.so"
    run_tool([require_tool("clang"), "-target", "arm64-apple-macos11", "-O2",
              "-fno-stack-protector", "-c", str(RUST_TRACES), "-o", str(obj)])  # fmt: skip
    run_tool([require_tool("ld64.lld-14"), "-arch", "arm64", "-platform_version", "macos",
              "11.0", "11.0", "-bundle", "-undefined", "dynamic_lookup", str(obj), "-o",
              str(out)])  # fmt: skip
    return out


@pytest.mark.parametrize("kind", ["pe", "macho"])
def test_rust_traces_make_a_missing_canary_unknown_not_failed(
    tmp_path: Path, pe_corpus: dict[str, Path], macho_corpus: dict[str, Path], kind: str
) -> None:
    fmt = BinaryFormat.PE if kind == "pe" else BinaryFormat.MACHO
    load = load_pe_evidence if kind == "pe" else _only_slice
    traced = load(str(_build_rust_traces(tmp_path, kind)))
    plain = load(str((pe_corpus if kind == "pe" else macho_corpus)["canary-fail-off"]))

    canary = get_spec("canary").impls[fmt]

    assert traced.rust_marker is not None and "rustc/1159e78c" in traced.rust_marker
    assert "memcpy" in traced.imports and "__stack_chk_fail" not in traced.imports
    assert canary(traced, CheckParams()).status is Status.UNKNOWN
    assert plain.rust_marker is None
    assert canary(plain, CheckParams()).status is Status.FAIL


def _only_slice(path: str) -> MachoSlice:
    return load_macho_evidence(path).slices[0]
