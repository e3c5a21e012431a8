"""The language corpus builds with real toolchains and is what it claims (tests/lang_corpus.py).

Each language has its own module-scoped fixture, so a missing toolchain skips (CI: fails) only
the tests of that language.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.lang_corpus import (
    LANG_NAMES,
    LANGS,
    STRIPPED,
    build_lang,
    build_lang_all,
    expected,
    fixture_name,
    lang_dir,
    lang_fixture,
    module_name,
    require_module,
    verify_lang,
)

lang_rust = lang_fixture("rust")
lang_rust_stripped = lang_fixture("rust-stripped")
lang_rust_c = lang_fixture("rust-c")
lang_rust_c_stripped = lang_fixture("rust-c-stripped")
lang_c = lang_fixture("c")
lang_c_stripped = lang_fixture("c-stripped")
lang_cpp = lang_fixture("cpp")
lang_cpp_stripped = lang_fixture("cpp-stripped")
lang_cython_c = lang_fixture("cython-c")
lang_cython_c_stripped = lang_fixture("cython-c-stripped")
lang_cython_cpp = lang_fixture("cython-cpp")
lang_cython_cpp_stripped = lang_fixture("cython-cpp-stripped")
lang_mypyc = lang_fixture("mypyc")
lang_mypyc_stripped = lang_fixture("mypyc-stripped")
lang_mypyc_lib = lang_fixture("mypyc-lib")
lang_mypyc_lib_stripped = lang_fixture("mypyc-lib-stripped")
lang_mypyc_shim = lang_fixture("mypyc-shim")
lang_mypyc_shim_stripped = lang_fixture("mypyc-shim-stripped")
lang_go = lang_fixture("go")
lang_go_stripped = lang_fixture("go-stripped")
lang_zig = lang_fixture("zig")
lang_zig_stripped = lang_fixture("zig-stripped")

KNOWN_LANGUAGES = {"rust", "go", "c", "c++", "cython", "mypyc", "zig"}


def _module(request: pytest.FixtureRequest, name: str) -> Path:
    path = request.getfixturevalue(fixture_name(name))
    assert isinstance(path, Path)
    return path


def test_every_corpus_name_has_a_fixture_here() -> None:
    missing = [n for n in LANG_NAMES if not hasattr(sys.modules[__name__], fixture_name(n))]
    assert missing == []


def test_table_records_the_expected_classification() -> None:
    for name in LANG_NAMES:
        primary, others = expected(name)
        assert primary in KNOWN_LANGUAGES
        assert others <= KNOWN_LANGUAGES - {primary}
    assert expected("rust") == ("rust", frozenset())
    assert expected("rust-c-stripped") == ("rust", frozenset({"c"}))
    assert expected("cpp") == ("c++", frozenset())
    assert expected("cython-cpp") == ("cython", frozenset({"c++"}))
    assert expected("go") == ("go", frozenset({"c"}))


@pytest.mark.parametrize("name", LANG_NAMES)
def test_module_is_what_it_claims(request: pytest.FixtureRequest, name: str) -> None:
    path = _module(request, name)
    evidence = verify_lang(name, path)  # raises FixtureBuildError on a mismatch
    assert evidence
    if name.endswith(STRIPPED):
        unstripped = _module(request, name.removesuffix(STRIPPED))
        assert path.parent.name == "stripped"
        assert path.name == unstripped.name  # PyInit_<name> still matches the file name
        assert path.stat().st_size < unstripped.stat().st_size


@pytest.mark.parametrize("name", LANG_NAMES)
def test_module_imports_and_runs(request: pytest.FixtureRequest, name: str) -> None:
    """Imported in a fresh interpreter (Go's runtime must not start inside pytest)."""
    path = _module(request, name)
    smoke = LANGS[name.removesuffix(STRIPPED)].smoke
    code = (
        "import importlib, sys\n"
        f"sys.path.insert(0, {str(path.parent)!r})\n"
        f"m = importlib.import_module({module_name(path)!r})\n"
        f"assert m.__file__ == {str(path)!r}, m.__file__\n"
        f"assert {smoke}, {smoke!r}\n"
    )
    proc = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr


def test_builds_are_cached(lang_c: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    mtime = lang_c.stat().st_mtime_ns
    assert build_lang("c", lang_dir(tmp_path_factory)) == lang_c
    assert lang_c.stat().st_mtime_ns == mtime


@pytest.mark.parametrize(
    ("ci", "outcome"), [(None, pytest.skip.Exception), ("true", pytest.fail.Exception)]
)
def test_missing_toolchain_skips_only_its_language(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    ci: str | None,
    outcome: type[BaseException],
) -> None:
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda t: None if t == "go" else real_which(t))
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="'go'"):
        build_lang("go", tmp_path)
    with pytest.raises(outcome, match="no_such_toolchain"):
        require_module("no_such_toolchain")
    monkeypatch.delenv("CI", raising=False)
    if real_which("gcc") is None:
        pytest.skip("gcc not found on PATH")
    assert build_lang("c", tmp_path).is_file()  # other languages still build


def test_build_lang_all(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Everything at once, from the session cache the fixtures above filled."""
    built = build_lang_all(lang_dir(tmp_path_factory))
    assert set(built) == set(LANG_NAMES)
