"""Language provenance on real modules built with their real toolchains (tests/lang_corpus.py),
as built and after GNU ``strip --strip-all``; and the language policy end to end."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from pytest_memsafe.checks.language import classify
from pytest_memsafe.evidence.elf import load_elf_evidence
from tests.corpus import require_tool
from tests.lang_corpus import LANG_NAMES, LANGS, STRIPPED, expected, fixture_name, lang_fixture

for _name in LANG_NAMES:
    globals()[fixture_name(_name)] = lang_fixture(_name, scope="session")

# Secondary languages the strip removes the evidence of (language.md §2.1, "hard cases").
LOST_WHEN_STRIPPED: dict[str, frozenset[str]] = {}


def module(request: pytest.FixtureRequest, name: str) -> Path:
    path = request.getfixturevalue(fixture_name(name))
    assert isinstance(path, Path)
    return path


@pytest.mark.parametrize("name", LANG_NAMES)
def test_primary_and_languages_of_each_real_module(
    request: pytest.FixtureRequest, name: str
) -> None:
    profile = classify(load_elf_evidence(str(module(request, name))))
    primary, others = expected(name)
    maybe = LANGS[name.removesuffix(STRIPPED)].maybe
    assert profile.primary == primary, profile
    reported = set(profile.languages[1:]) | set(profile.runtime)
    assert others - LOST_WHEN_STRIPPED.get(name, frozenset()) <= reported, profile
    assert reported <= others | maybe, profile


@pytest.mark.parametrize("name", ["rust", "rust-stripped", "c", "cpp", "zig", "go"])
def test_single_language_modules_are_all_that_language(
    request: pytest.FixtureRequest, name: str
) -> None:
    profile = classify(load_elf_evidence(str(module(request, name))))
    assert profile.shares is not None and profile.shares[0][0] == expected(name)[0]
    assert profile.shares[0][1] >= 0.95, profile


@pytest.mark.parametrize("name", ["rust-c", "rust-c-stripped"])
def test_rust_with_c_measures_the_c(request: pytest.FixtureRequest, name: str) -> None:
    profile = classify(load_elf_evidence(str(module(request, name))))
    shares = dict(profile.shares or ())
    assert 0 < shares["c"] < 0.5, profile
    method = "eh_frame" if name.endswith(STRIPPED) else "symtab"
    assert profile.share_method == method
    assert any(lang == "c" for lang, _ in profile.evidence)


# -- the language policy end to end -------------------------------------------------------


@pytest.fixture
def language_project(pytester: pytest.Pytester, request: pytest.FixtureRequest) -> pytest.Pytester:
    """A project with a pure-Rust, a Rust+C and a C extension."""
    pkg = pytester.mkdir("pkg")
    for name in ("rust", "rust-c", "c"):
        shutil.copy(module(request, name), pkg / f"_{name.replace('-', '_')}.abi3.so")
    pytester.makeini("[pytest]\nmemsafe_severity = *=off\n    language=error\n")
    return pytester


def test_rust_only_passes_rust_and_fails_c_and_mixed(language_project: pytest.Pytester) -> None:
    result = language_project.runpytest("--memsafe", "--memsafe-policy=rust-only", "-rA")
    result.assert_outcomes(passed=2, failed=2)  # rust + the project item; c and rust_c fail
    result.stdout.fnmatch_lines_random(
        [
            "PASSED pkg/_rust.abi3.so::language",
            "FAILED pkg/_c.abi3.so::language - *",
            "FAILED pkg/_rust_c.abi3.so::language - *",
            "*Rust-only policy: contains c (*%)*",
        ]
    )


def test_language_waiver_lets_mixed_rust_pass_honestly(language_project: pytest.Pytester) -> None:
    language_project.makeini(
        "[pytest]\nmemsafe_severity = *=off\n    language=error\n"
        "memsafe_language_waivers = _rust_c* | c | vendored checksum code, see #7\n"
    )
    result = language_project.runpytest(
        "--memsafe", "--memsafe-policy=rust-only", "-rA", "--memsafe-json=r.json"
    )
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["FAILED pkg/_c.abi3.so::language - *"])
    report = json.loads((language_project.path / "r.json").read_text())
    mixed = next(a for a in report["artifacts"] if a["path"] == "pkg/_rust_c.abi3.so")
    assert "c allowed by waiver" in mixed["results"][0]["summary"]
    assert mixed["languages"]["shares"]["c"] > 0  # the waiver never hides the measured share


def test_unknown_language_fails_under_rust_only(
    language_project: pytest.Pytester, request: pytest.FixtureRequest
) -> None:
    anonymous = language_project.path / "pkg/_anon.abi3.so"
    subprocess.run(
        [require_tool("objcopy"), "--remove-section=.comment",
         str(module(request, "zig-stripped")), str(anonymous)],
        check=True,
    )  # fmt: skip
    result = language_project.runpytest("--memsafe", "--memsafe-policy=rust-only", "-k", "_anon")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*language unknown: *nothing shows which language built it*"])
    relaxed = language_project.runpytest(
        "--memsafe", "--memsafe-policy=rust-only", "-k", "_anon", "-o",
        "memsafe_language_unknown=skip",
    )  # fmt: skip
    relaxed.assert_outcomes(skipped=1)


def test_project_item_reports_the_safe_share(language_project: pytest.Pytester) -> None:
    first = language_project.runpytest("--memsafe", "--memsafe-json=r.json")
    first.assert_outcomes(passed=4)
    summary = json.loads((language_project.path / "r.json").read_text())["summary"]["language"]
    assert (summary["artifacts"], summary["safe_artifacts"]) == (3, 1)
    # By bytes the Rust modules dominate: each links Rust's std; the C module is tiny.
    assert 0.5 < summary["safe_share"] < 1
    first.stdout.fnmatch_lines(["project: 1 of 3 binaries are in memory-safe languages; *"])
    above = f"memsafe_min_project_safe_share={summary['safe_share'] + 0.0001:.4f}"
    result = language_project.runpytest("--memsafe", "-o", above)
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*Project memory-safe share: 1 of 3 binaries are in memory-safe languages; *",
            "*required: at least *(memsafe_min_project_safe_share)*",
        ]
    )
