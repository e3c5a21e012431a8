"""Every check against real gcc-built binaries (tests/corpus.py, verified with readelf)."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest

from pytest_memsafe.checks import CheckParams, get_spec, specs_for
from pytest_memsafe.evidence.elf import ElfEvidence, load_elf_evidence
from pytest_memsafe.model import BinaryFormat, Status, Verdict
from tests.corpus import SOURCES, require_tool

PASS, FAIL, NA, UNKNOWN = Status.PASS, Status.FAIL, Status.NOT_APPLICABLE, Status.UNKNOWN


def run_check(check_id: str, ev: ElfEvidence, params: CheckParams | None = None) -> Verdict:
    return get_spec(check_id).impls[BinaryFormat.ELF](ev, params or CheckParams())


# variant -> check -> (status, level or None when the level is not asserted)
EXPECTED: dict[str, dict[str, tuple[Status, str | None]]] = {
    "relro-full": {"relro": (PASS, "full")},
    "relro-partial": {"relro": (PASS, "partial")},
    "relro-none": {"relro": (FAIL, "none")},
    "nx-pass": {"nx": (PASS, None)},
    "nx-fail-execstack": {"nx": (FAIL, None)},
    "nx-fail-nonote": {"nx": (FAIL, None)},
    "nx-fail-nognustack": {"nx": (FAIL, None)},
    "canary-pass-strong": {"canary": (PASS, None)},
    "canary-fail-off": {"canary": (FAIL, None)},
    "canary-unknown-nobuffers": {"canary": (UNKNOWN, None), "fortify": (NA, None)},
    "fortify2": {"fortify": (PASS, "full")},
    "fortify3": {"fortify": (PASS, "full")},
    "fortify-off": {"fortify": (FAIL, "none")},
    "fortify-O0": {"fortify": (FAIL, "none")},
    "fortify-unknown-nocalls": {"fortify": (UNKNOWN, None)},
    "rpath-none": {"rpath": (PASS, None)},
    "rpath-origin": {"rpath": (PASS, None)},
    "rpath-origin-old": {"rpath": (PASS, None)},
    "rpath-absolute": {"rpath": (FAIL, None)},
    "rpath-absolute-old": {"rpath": (FAIL, None)},
    "rpath-empty": {"rpath": (FAIL, None)},
    "rpath-relative": {"rpath": (FAIL, None)},
    "wx-fail-rwx": {"wx": (FAIL, None), "nx": (PASS, None)},
    "pic-fail-textrel": {"pic": (FAIL, None)},
    "loadable-fail-nodlopen": {"loadable": (FAIL, None)},
    "loadable-fail-pie": {"loadable": (FAIL, None)},
    "cet-pass": {"cet": (PASS, "IBT+SHSTK")},
    "cet-fail": {"cet": (FAIL, "none")},
    "cet-dropped-by-crt": {"cet": (FAIL, "none")},
    "vendored-lib": {"loadable": (PASS, None), "relro": (PASS, "full")},
}

HARDENED_ROW: dict[str, Status] = {
    "relro": PASS, "nx": PASS, "canary": PASS, "fortify": PASS, "pic": PASS,
    "rpath": PASS, "wx": PASS, "loadable": PASS, "language": PASS, "cet": FAIL,
}  # fmt: skip
"""The hardened build links Debian's crti.o/crtn.o, which drop the CET property."""


@pytest.mark.parametrize(
    ("variant", "check_id"),
    [(variant, check) for variant, checks in EXPECTED.items() for check in checks],
    ids=lambda value: str(value),
)
def test_check_on_corpus_variant(
    evidence: dict[str, ElfEvidence], variant: str, check_id: str
) -> None:
    status, level = EXPECTED[variant][check_id]
    verdict = run_check(check_id, evidence[variant])
    assert verdict.status is status, verdict.summary
    if level is not None:
        assert verdict.level == level


@pytest.mark.parametrize("variant", ["hardened", "stripped", "nosections", "cxx-ext"])
def test_hardened_builds_pass_everything_but_cet(
    evidence: dict[str, ElfEvidence], variant: str
) -> None:
    row = {
        spec.id: run_check(spec.id, evidence[variant]).status
        for spec in specs_for(BinaryFormat.ELF)
    }
    expected = dict(HARDENED_ROW)
    if variant == "cxx-ext":
        # libstdc++'s inline code calls memcpy/memmove with unknown sizes: no __*_chk.
        expected["fortify"] = FAIL
    assert row == expected


def test_weak_build_fails_every_flag_it_left_out(evidence: dict[str, ElfEvidence]) -> None:
    row = {
        spec.id: run_check(spec.id, evidence["weak"]).status for spec in specs_for(BinaryFormat.ELF)
    }
    assert row == {
        "relro": FAIL, "nx": FAIL, "canary": FAIL, "fortify": FAIL, "pic": PASS,
        "rpath": PASS, "wx": PASS, "loadable": PASS, "language": PASS, "cet": FAIL,
    }  # fmt: skip


def test_relro_partial_fails_when_full_is_required(evidence: dict[str, ElfEvidence]) -> None:
    verdict = run_check("relro", evidence["relro-partial"], CheckParams(relro_min="full"))
    assert (verdict.status, verdict.level) == (FAIL, "partial")
    assert "no BIND_NOW" in verdict.summary
    assert dict(verdict.facts)["got_slots_writable"] > 0


def test_relro_full_keeps_every_got_slot_read_only(evidence: dict[str, ElfEvidence]) -> None:
    facts = dict(run_check("relro", evidence["relro-full"]).facts)
    assert facts["got_slots"] > 0
    assert facts["got_slots_writable"] == 0


def test_rpath_allowlist_accepts_named_absolute_path(evidence: dict[str, ElfEvidence]) -> None:
    params = CheckParams(rpath_allow=("/home/builder/*",))
    assert run_check("rpath", evidence["rpath-absolute"], params).status is PASS
    assert run_check("rpath", evidence["rpath-relative"], params).status is FAIL


def test_rpath_failure_names_the_entry_and_the_tag(evidence: dict[str, ElfEvidence]) -> None:
    old = run_check("rpath", evidence["rpath-absolute-old"])
    assert "DT_RPATH '/home/builder/.pyenv/versions/3.11.7/lib'" in old.summary
    empty = run_check("rpath", evidence["rpath-empty"])
    assert "empty element" in empty.summary
    origin_old = run_check("rpath", evidence["rpath-origin-old"])
    assert "prefer DT_RUNPATH" in origin_old.summary


def test_fortify_reports_both_sets_and_the_ratio(evidence: dict[str, ElfEvidence]) -> None:
    facts = dict(run_check("fortify", evidence["fortify2"]).facts)
    assert {"memcpy", "strcpy", "sprintf", "read"} <= set(facts["fortified"])  # type: ignore[arg-type]
    assert facts["ratio"] == 1.0
    off = dict(run_check("fortify", evidence["fortify-off"]).facts)
    assert off["fortified"] == () and "memcpy" in off["unchecked"]  # type: ignore[operator]


def test_fortify_min_ratio_turns_partial_into_fail(evidence: dict[str, ElfEvidence]) -> None:
    fortified = evidence["fortify2"]
    with_plain_strcat = dataclasses.replace(fortified, imports=fortified.imports | {"strcat"})
    partial = run_check("fortify", with_plain_strcat)
    assert (partial.status, partial.level) == (PASS, "partial")
    assert 0 < dict(partial.facts)["ratio"] < 1  # type: ignore[operator]
    strict = run_check("fortify", with_plain_strcat, CheckParams(fortify_min_ratio=1.0))
    assert strict.status is FAIL and "below the minimum share" in strict.summary


def test_name_imported_both_ways_counts_as_fortified(evidence: dict[str, ElfEvidence]) -> None:
    vendored = run_check("fortify", evidence["vendored-lib"])
    assert (vendored.status, vendored.level) == (PASS, "full")


def test_nx_failure_mentions_glibc_2_41(evidence: dict[str, ElfEvidence]) -> None:
    for variant in ("nx-fail-execstack", "nx-fail-nognustack"):
        assert "glibc >= 2.41" in run_check("nx", evidence[variant]).summary


def test_missing_gnu_stack_passes_where_the_default_stack_is_not_executable(
    evidence: dict[str, ElfEvidence],
) -> None:
    aarch64 = dataclasses.replace(evidence["nx-fail-nognustack"], machine="aarch64")
    assert run_check("nx", aarch64).status is PASS


def test_fortify_is_not_applicable_for_musl(evidence: dict[str, ElfEvidence]) -> None:
    hardened = evidence["hardened"]
    assert hardened.dynamic is not None
    musl_dynamic = dataclasses.replace(hardened.dynamic, needed=("libc.musl-x86_64.so.1",))
    verdict = run_check("fortify", dataclasses.replace(hardened, dynamic=musl_dynamic))
    assert verdict.status is NA and "libc.musl" in verdict.summary


def test_cet_is_not_applicable_off_x86_and_aarch64(evidence: dict[str, ElfEvidence]) -> None:
    s390 = dataclasses.replace(evidence["cet-pass"], machine="s390x")
    assert run_check("cet", s390).status is NA


def test_nodlopen_only_matters_for_extension_modules(evidence: dict[str, ElfEvidence]) -> None:
    nodlopen = evidence["loadable-fail-nodlopen"]
    assert nodlopen.is_python_extension
    library = dataclasses.replace(nodlopen, exports=frozenset({"helper"}))
    assert run_check("loadable", library).status is PASS


def test_only_the_module_entry_point_is_kept_of_the_exports(
    evidence: dict[str, ElfEvidence],
) -> None:
    """readelf lists ``ext_copy`` beside ``PyInit_hardened``, and ``vendored_format``, as
    exports; the evidence keeps what the checks read (the ``PyInit_`` entry point), and
    every import."""
    assert evidence["hardened"].exports == {"PyInit_hardened"}
    vendored = evidence["vendored-lib"]
    assert vendored.exports == frozenset() and not vendored.is_python_extension
    assert "__stack_chk_fail" in vendored.imports


def test_bind_now_without_gnu_relro_is_not_full(evidence: dict[str, ElfEvidence]) -> None:
    """The crafted-file case checksec's Go version reports as Full RELRO."""
    full = evidence["relro-full"]
    no_relro = dataclasses.replace(
        full, segments=tuple(seg for seg in full.segments if seg.p_type != 0x6474E552)
    )
    verdict = run_check("relro", no_relro)
    assert (verdict.status, verdict.level) == (FAIL, "none")
    assert "BIND_NOW alone" in verdict.summary


def test_got_slot_outside_relro_range_is_partial(evidence: dict[str, ElfEvidence]) -> None:
    full = evidence["relro-full"]
    beyond = max(seg.vaddr + seg.memsz for seg in full.segments) + 0x1000
    moved = dataclasses.replace(full, got_slots=(*full.got_slots, beyond))
    verdict = run_check("relro", moved)
    assert verdict.level == "partial" and "outside the RELRO range" in verdict.summary


@pytest.fixture(scope="module")
def object_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A relocatable object (gcc -c) misnamed as an extension."""
    out = tmp_path_factory.mktemp("obj") / "_obj.cpython-311-x86_64-linux-gnu.so"
    source = SOURCES / "tiny.c"
    subprocess.run(
        [require_tool("gcc"), "-c", "-fPIC", f"-I{SOURCES}", "-DMODULE=obj", str(source),
         "-o", str(out)],
        check=True,
    )  # fmt: skip
    return out


def test_relocatable_object_is_not_loadable(object_file: Path) -> None:
    ev = load_elf_evidence(str(object_file))
    assert run_check("loadable", ev).status is FAIL
    for check_id in ("relro", "nx", "wx", "pic", "rpath"):
        assert run_check(check_id, ev).status is NA, check_id


@pytest.fixture(scope="module")
def rust_cdylib(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pure-Rust cdylib with a PyInit_ export, built with plain rustc (no crates)."""
    out_dir = tmp_path_factory.mktemp("rust")
    source = out_dir / "lib.rs"
    source.write_text(
        '#[no_mangle]\npub extern "C" fn PyInit_rs() -> *mut u8 {\n'
        "    let v: Vec<u8> = std::env::args().flat_map(|a| a.into_bytes()).collect();\n"
        "    Box::into_raw(v.into_boxed_slice()) as *mut u8\n}\n"
    )
    target = out_dir / "rs.cpython-311-x86_64-linux-gnu.so"
    subprocess.run(
        [require_tool("rustc"), "--crate-type", "cdylib", "-C", "opt-level=2", "--edition",
         "2021", str(source), "-o", str(target)],
        check=True,
    )  # fmt: skip
    return target


def test_rust_cdylib_is_hardened_where_rustc_can_and_exempt_from_c_checks(
    rust_cdylib: Path,
) -> None:
    ev = load_elf_evidence(str(rust_cdylib))
    assert any(text.startswith("rustc version") for text in ev.comments)
    assert run_check("relro", ev).level == "full"
    assert run_check("nx", ev).status is PASS
    canary = run_check("canary", ev)
    assert canary.status is NA and "rustc emits no stack protector" in canary.summary
    assert run_check("fortify", ev).status is NA
    assert "rustc" in run_check("cet", ev).summary
