"""The language classifier and the language policy over evidence records.

Real binaries are classified in test_language_corpus.py; here each rule of
reference/language.md §3 is pinned with a record derived from a real build (the evidence
of the hardened C fixture with its language signals replaced), so every branch is
exercised without a toolchain for each language.
"""

from __future__ import annotations

import dataclasses

import pytest

from pytest_memsafe.checks.base import CheckParams
from pytest_memsafe.checks.language import check_language, classify
from pytest_memsafe.evidence.elf_records import ElfEvidence, LanguageEvidence
from pytest_memsafe.model import Status
from pytest_memsafe.project import project_share

RUSTC = "rustc version 1.95.0 (59807616e 2026-04-14)"
GCC = "GCC: (Debian 12.2.0-14+deb12u1) 12.2.0"


def signals(**fields: object) -> LanguageEvidence:
    """A LanguageEvidence with nothing in it but ``fields``."""
    base: dict[str, object] = {
        "symtab_bytes": None, "source_files": (), "markers": frozenset(), "marker_text": (),
        "crates": (), "eh_frame_fde_bytes": 0, "eh_frame_gcc_bytes": 0, "dwarf_producers": (),
    }  # fmt: skip
    return LanguageEvidence(**{**base, **fields})  # type: ignore[arg-type]


@pytest.fixture
def c_module(evidence: dict[str, ElfEvidence]) -> ElfEvidence:
    """The stripped C fixture, with only crt idents in .comment."""
    return dataclasses.replace(evidence["stripped"], comments=(GCC,), language=signals())


def with_(ev: ElfEvidence, comments: tuple[str, ...] = (GCC,), **fields: object) -> ElfEvidence:
    return dataclasses.replace(ev, comments=comments, language=signals(**fields))


def test_pure_rust_by_symtab(c_module: ElfEvidence) -> None:
    ev = with_(c_module, (RUSTC, GCC), symtab_bytes=(("rust", 9000), ("toolchain", 300)),
               markers=frozenset({"rust-std"}))  # fmt: skip
    profile = classify(ev)
    assert (profile.primary, profile.languages, profile.shares) == (
        "rust",
        ("rust",),
        (("rust", 1.0),),
    )
    assert profile.share_method == "symtab" and profile.confidence == "high"


def test_gcc_ident_alone_does_not_make_rust_mixed(c_module: ElfEvidence) -> None:
    """crti.o/crtbeginS.o put a GCC line in every binary, pure Rust included."""
    profile = classify(with_(c_module, (RUSTC, GCC), markers=frozenset({"rust-std"})))
    assert profile.languages == ("rust",)
    assert profile.shares == (("rust", 1.0),) and profile.share_method == "single-language"


def test_rust_with_gcc_c_stripped_is_estimated_from_eh_frame(c_module: ElfEvidence) -> None:
    ev = with_(c_module, (RUSTC, GCC), markers=frozenset({"rust-std", "pyo3"}),
               eh_frame_fde_bytes=100_000, eh_frame_gcc_bytes=36_000)  # fmt: skip
    profile = classify(ev)
    assert profile.primary == "rust" and profile.binder == "PyO3"
    assert profile.languages == ("rust", "c")
    assert profile.share_method == "eh_frame"
    assert dict(profile.shares or ())["c"] == pytest.approx(0.36 / 0.87, abs=1e-3)


def test_pyo3_makes_rust_primary_even_when_c_is_bigger(c_module: ElfEvidence) -> None:
    ev = with_(c_module, (RUSTC, GCC), markers=frozenset({"pyo3", "c-library"}),
               symtab_bytes=(("c", 5700), ("rust", 4300)))  # fmt: skip
    profile = classify(ev)
    assert profile.primary == "rust" and profile.shares == (("c", 0.57), ("rust", 0.43))


@pytest.mark.parametrize(
    ("fields", "comments", "primary", "languages"),
    [
        ({"markers": frozenset({"cython"}), "symtab_bytes": (("cython", 900), ("c", 100))},
         (GCC,), "cython", ("cython", "c")),
        ({"markers": frozenset({"cython"}), "source_files": ("mod.c",)}, (GCC,), "cython",
         ("cython",)),
        ({"markers": frozenset({"mypyc"}), "symtab_bytes": (("mypyc", 10), ("c", 90))},
         (GCC,), "mypyc", ("mypyc",)),
        ({"markers": frozenset({"go-buildinfo"}), "source_files": ("gcc_linux_amd64.c",)},
         (GCC,), "go", ("go",)),
        ({"markers": frozenset({"pybind11"})}, (GCC,), "c++", ("c++",)),
        ({}, ("Linker: LLD 21.1.0",), "zig", ("zig",)),
        ({"symtab_bytes": (("c", 700), ("c++", 300))}, (GCC,), "c", ("c", "c++")),
        ({}, (GCC, "clang version 14.0.6", "Linker: LLD 14.0.6"), "unknown", ()),
        ({}, (), "unknown", ()),
    ],
    ids=["cython+c", "cython-own-c", "mypyc-runtime", "go-cgo", "pybind11", "zig-lld-only",
         "c-over-cxx", "idents-only-never-c", "nothing"],
)  # fmt: skip
def test_primary_and_languages(
    c_module: ElfEvidence,
    fields: dict[str, object],
    comments: tuple[str, ...],
    primary: str,
    languages: tuple[str, ...],
) -> None:
    profile = classify(with_(c_module, comments, **fields))
    assert (profile.primary, profile.languages) == (primary, languages)


def test_cgo_glue_is_runtime_not_project_c(c_module: ElfEvidence) -> None:
    ev = with_(c_module, markers=frozenset({"go-buildinfo"}),
               symtab_bytes=(("go", 9000), ("c", 1000)))  # fmt: skip
    profile = classify(ev)
    assert profile.languages == ("go",) and profile.runtime == ("c",)


def policy(name: str, **more: object) -> CheckParams:
    return CheckParams(language_policy=name, **more)  # type: ignore[arg-type]


def test_policies(c_module: ElfEvidence) -> None:
    rust = with_(c_module, (RUSTC, GCC), markers=frozenset({"rust-std"}))
    mixed = with_(c_module, (RUSTC, GCC), markers=frozenset({"rust-std", "pyo3"}),
                  symtab_bytes=(("c", 5700), ("rust", 4300)))  # fmt: skip
    go = with_(c_module, markers=frozenset({"go-buildinfo"}))
    assert check_language(c_module, policy("any")).status is Status.PASS
    assert check_language(rust, policy("rust-only")).status is Status.PASS
    assert check_language(with_(c_module), policy("rust-only")).status is Status.FAIL
    failed = check_language(mixed, policy("rust-only"))
    assert failed.status is Status.FAIL and "contains c (57%)" in failed.summary
    waived = check_language(mixed, policy("rust-only", allowed_languages=frozenset({"c"})))
    assert waived.status is Status.PASS and "c allowed by waiver" in waived.summary
    assert check_language(go, policy("memory-safe")).status is Status.PASS
    assert check_language(go, policy("rust-only")).status is Status.FAIL
    share = check_language(mixed, policy("memory-safe", allowed_languages=frozenset({"c"}),
                                         min_safe_share=0.9))  # fmt: skip
    assert share.status is Status.FAIL and "43% is below the minimum 90%" in share.summary


def test_unknown_fails_under_strict_policies_and_says_what_is_missing(
    c_module: ElfEvidence,
) -> None:
    nothing = with_(c_module, ())
    failed = check_language(nothing, policy("rust-only"))
    assert failed.status is Status.FAIL and "nothing shows which language" in failed.summary
    assert check_language(nothing, policy("rust-only", language_unknown="skip")).status is (
        Status.UNKNOWN
    )


def test_project_share_weights_binaries_by_code_bytes(c_module: ElfEvidence) -> None:
    rust = classify(with_(c_module, (RUSTC, GCC), markers=frozenset({"rust-std"})))
    c = classify(with_(c_module))
    mixed = classify(with_(c_module, (RUSTC, GCC), markers=frozenset({"pyo3"}),
                           symtab_bytes=(("c", 500), ("rust", 500))))  # fmt: skip
    figure = project_share([(rust, 3000), (c, 1000), (mixed, 2000)], frozenset({"rust", "go"}))
    assert (figure.artifacts, figure.safe_artifacts) == (3, 1)
    assert figure.safe_bytes == 3000 + 1000 and figure.share == pytest.approx(4000 / 6000, 1e-3)
    assert figure.sentence().startswith("1 of 3 binaries are in memory-safe languages; 66.7%")


_RUST_HASH = "17h0123456789abcdefE"


@pytest.mark.parametrize(
    "name",
    [
        f"_ZN4core3fmt5write{_RUST_HASH}", f"_ZN3std2rt10lang_start{_RUST_HASH}.llvm.42",
        "_ZN5arrow6Status2OKEv", f"_ZN{_RUST_HASH}", f"_ZN3foo{_RUST_HASH[:-1]}X",
        "_ZN3foo17h0123456789ABCDEFE", "_ZN3foo17h0123456789abcdeE", f"_Z3foo{_RUST_HASH}",
        f"_ZN3foo{_RUST_HASH}E", "_ZNK3foo3barEv.cold", "_Z", "_ZN", f"_ZN\n{_RUST_HASH}",
    ],
)  # fmt: skip
def test_legacy_rust_fast_path_agrees_with_the_rule(name: str) -> None:
    """``_name_scheme`` settles ``_Z`` names without NAME_PATTERN: same answer as the rule."""
    from pytest_memsafe.evidence.elf_language import (
        GROUP_SCHEME,
        NAME_PATTERN,
        _name_scheme,
        _unclone,
    )

    raw = name.encode()
    found = NAME_PATTERN.match(_unclone(raw) if b"." in raw else raw)
    assert found is not None
    assert _name_scheme(raw, "zig") == GROUP_SCHEME[found.lastindex or 0]
