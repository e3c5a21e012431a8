"""`pytest --memsafe` end to end with pytester: outcomes, node ids, selection, config, errors."""

from __future__ import annotations

import gc
import hashlib
import json
import linecache
import os
import shutil
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

GOOD = "src/pkg/_good.cpython-311-x86_64-linux-gnu.so"
WEAK = "src/pkg/_weak.cpython-311-x86_64-linux-gnu.so"
CHECKS = ("relro", "nx", "canary", "fortify", "pic", "rpath", "wx", "loadable", "language", "cet")
PROJECT_ITEM = "memsafe::language-share"
REPORT_SCHEMA = json.loads(
    resources.files("pytest_memsafe").joinpath("data/report-v1.schema.json").read_text()
)


def load_report(path: Path) -> dict[str, object]:
    """Read a JSON report and validate it against the shipped schema."""
    report = json.loads(path.read_text())
    jsonschema.validate(report, REPORT_SCHEMA)
    return report  # type: ignore[no-any-return]


@pytest.fixture(params=[[], ["-n", "2"], ["-p", "no:xdist"]], ids=["xdist-idle", "n2", "no-xdist"])
def xdist_args(request: pytest.FixtureRequest) -> list[str]:
    return list(request.param)


def test_inert_without_the_flag(project: pytest.Pytester) -> None:
    result = project.runpytest("--collect-only", "-q")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    result.stdout.no_fnmatch_line("*.so*")
    result.stdout.no_fnmatch_line("*memsafe*")


def test_without_the_flag_nothing_but_the_entry_point_is_imported(
    project: pytest.Pytester,
) -> None:
    """Installed, the plugin costs a run without ``--memsafe`` only its options module (and
    the package's public model): no discovery, evidence layer, parser library or checks. A
    warm run (all evidence from the store) imports no parser either."""
    project.makeconftest(
        """
        import sys

        def pytest_unconfigure(config):
            heavy = sorted(name for name in sys.modules if name == "elftools"
                           or name.startswith(("pytest_memsafe.", "pefile", "macholib")))
            print("imported:", heavy)
        """
    )
    plain = project.runpytest_subprocess("-s", "-p", "no:randomly")
    plain.stdout.fnmatch_lines(["imported: ['pytest_memsafe.model', 'pytest_memsafe.plugin']"])
    enabled = project.runpytest_subprocess("-s", "-p", "no:randomly", "--memsafe")
    enabled.stdout.fnmatch_lines(["imported: [[]*'elftools'*'pytest_memsafe.active'*"])
    # every binary's evidence in the store: the parsers are never imported
    warm = project.runpytest_subprocess("-s", "-p", "no:randomly", "--memsafe")
    warm.stdout.fnmatch_lines(["evidence: 0 files parsed, * from the evidence cache"])
    imported = next(line for line in warm.outlines if line.startswith("imported:"))
    assert "'pytest_memsafe.active'" in imported
    assert "elftools" not in imported and "pytest_memsafe.evidence.elf'" not in imported


def test_all_checks_of_a_binary_judge_one_snapshot(project: pytest.Pytester) -> None:
    """A binary replaced while its items run (here by a weak build, right after the first
    check) is judged as its first item read it: no mix of two builds in one binary's row."""
    project.makeconftest(
        f"""
        import shutil

        def pytest_runtest_teardown(item):
            if item.nodeid == "{GOOD}::relro":
                shutil.copy("{WEAK}", "{GOOD}")
        """
    )
    result = project.runpytest("--memsafe", "-p", "no:randomly", f"{GOOD}")
    result.assert_outcomes(passed=len(CHECKS))  # the weak build fails relro and nx
    again = project.runpytest("--memsafe", "-p", "no:randomly", f"{GOOD}::nx")
    again.assert_outcomes(failed=1)  # the next run sees the new build


def test_node_ids_are_one_item_per_extension_per_check(project: pytest.Pytester) -> None:
    result = project.runpytest("--memsafe", "--collect-only", "-q")
    expected = [f"{path}::{check}" for path in (GOOD, WEAK) for check in CHECKS]
    assert [line for line in result.outlines if "::" in line] == [*expected, PROJECT_ITEM]


def test_outcomes_are_the_same_with_and_without_xdist(
    project: pytest.Pytester, xdist_args: list[str]
) -> None:
    result = project.runpytest_subprocess("--memsafe", "-rA", *xdist_args)
    # weak: relro and nx fail; canary, fortify and cet are advisory (pass with a warning)
    result.assert_outcomes(passed=2 * len(CHECKS) - 2 + 1, failed=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines_random(
        [f"FAILED {WEAK}::relro*", f"FAILED {WEAK}::nx*", f"PASSED {GOOD}::relro*"]
    )
    result.stdout.no_fnmatch_line("*INTERNALERROR*")
    result.stdout.no_fnmatch_line("*was imported*")


def test_failure_explains_evidence_reason_and_fix_without_traceback(
    project: pytest.Pytester,
) -> None:
    result = project.runpytest("--memsafe", f"{WEAK}::nx")
    result.stdout.fnmatch_lines(
        [
            f"*[[]memsafe[]] {WEAK}::nx*",
            "Non-executable stack: executable stack: PT_GNU_STACK has PF_X; glibc >= 2.41*",
            "  evidence: gnu_stack=True, stack_executable=True",
            "  why it matters: *",
            "  fix: link with -Wl,-z,noexecstack*",
        ]
    )
    result.stdout.no_fnmatch_line("*Traceback*")
    result.stdout.no_fnmatch_line("*def runtest*")


@pytest.mark.parametrize(
    ("selection", "selected"),
    [
        (["-k", "relro"], 2),
        (["-k", "_weak and not cet"], 9),
        (["-m", "memsafe(check='nx')"], 2),
        (["-m", "memsafe"], 21),
        (["--deselect", WEAK], 11),
    ],
    ids=["k-check", "k-file-and-not", "m-kwarg", "m-marker", "deselect-file"],
)
def test_selection(project: pytest.Pytester, selection: list[str], selected: int) -> None:
    result = project.runpytest("--memsafe", "--collect-only", "-q", *selection)
    assert len([line for line in result.outlines if "::" in line]) == selected


def test_explicit_node_id_runs_one_check_without_importing_the_package(
    project: pytest.Pytester,
) -> None:
    result = project.runpytest("--memsafe", f"{GOOD}::relro", "-v")
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*was imported*")


def test_exit_code_is_zero_when_only_advisory_checks_fail(project: pytest.Pytester) -> None:
    (project.path / WEAK).unlink()
    result = project.runpytest("--memsafe", "-W", "default")
    result.assert_outcomes(passed=len(CHECKS) + 1)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*MemsafeWarning*cet: no control-flow protection markings*"])


def test_warnings_never_read_the_binary_as_source(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The warnings summary looks up the warning's "source line": the plugin tells linecache
    the binary has none, under the name pytest gives the warning, so no binary is opened as
    text (it was, once per warning: a tenth of a warm run on the benchmark corpus)."""
    looked_up: list[str] = []
    real = linecache.updatecache

    def spy(filename: str, module_globals: object = None) -> list[str]:
        looked_up.append(filename)
        return real(filename, module_globals)  # type: ignore[arg-type]

    monkeypatch.setattr(linecache, "updatecache", spy)
    result = project.runpytest("--memsafe", "-W", "default")
    result.stdout.fnmatch_lines(["*MemsafeWarning*cet: no control-flow protection markings*"])
    assert not [name for name in looked_up if name.endswith(".so")]


def test_warning_filter_by_the_documented_name_makes_advisories_fatal(
    project: pytest.Pytester,
) -> None:
    """README: ``-W error::pytest_memsafe.errors.MemsafeWarning`` makes them strict (the class
    lives in ``pytest_memsafe.warning`` so that ``errors`` imports no pytest)."""
    (project.path / WEAK).unlink()
    result = project.runpytest("--memsafe", "-W", "error::pytest_memsafe.errors.MemsafeWarning")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*MemsafeWarning: *cet: no control-flow protection markings*"])


def test_exit_collections_still_find_a_users_unraisable_exceptions(
    project: pytest.Pytester,
) -> None:
    """The plugin collects garbage once at unconfigure and freezes the survivors for pytest's
    five exit collections: garbage a user's test left (here with automatic collection off,
    so only the exit collections can find it) is still collected and reported, pytest's
    collections do see the heap frozen (the unfreeze cleanup runs after them), and nothing
    stays frozen after a run in this process."""
    project.makepyfile(
        test_user="""
        import gc

        class Cycle:
            def __init__(self):
                self.me = self
            def __del__(self):
                raise RuntimeError("finalizer of a cycle")

        def test_leaves_garbage():
            gc.disable()
            Cycle()
        """
    )
    project.makeconftest(
        """
        import atexit, gc, sys

        frozen = []
        gc.callbacks.append(
            lambda phase, info: frozen.append(gc.get_freeze_count())
            if phase == "start" and info["generation"] == 2 else None
        )
        atexit.register(lambda: print("frozen during the exit collections:", frozen[-5:],
                                      file=sys.stderr))
        """
    )
    result = project.runpytest_subprocess("--memsafe", "-p", "no:randomly", "test_user.py")
    result.stderr.fnmatch_lines(["*PytestUnraisableExceptionWarning*", "*finalizer of a cycle*"])
    exit_counts = next(line for line in result.errlines if line.startswith("frozen during"))
    assert "0" not in exit_counts.split(":", 1)[1].strip("[] ").split(", ")
    for name in ("conftest.py", "test_user.py"):  # neither may run in this process
        (project.path / name).unlink()
    inline = project.runpytest("--memsafe")
    assert inline.ret == pytest.ExitCode.TESTS_FAILED  # _weak.so
    assert gc.get_freeze_count() == 0


def test_severity_can_make_a_failure_advisory_or_an_advisory_failure_fatal(
    project: pytest.Pytester,
) -> None:
    relaxed = project.runpytest("--memsafe", "--memsafe-severity=relro=warning",
                                "--memsafe-severity=nx=warning")  # fmt: skip
    assert relaxed.ret == pytest.ExitCode.OK
    project.makeini("[pytest]\nmemsafe_severity =\n    canary = error\n    cet = off\n")
    strict = project.runpytest("--memsafe")
    strict.assert_outcomes(passed=16, failed=3)  # cet off: 9 + 6 + the project item
    strict.stdout.fnmatch_lines_random(["*_weak*::canary*", "*_weak*::relro*", "*_weak*::nx*"])


def test_malformed_binary_is_an_error_and_the_others_are_still_checked(
    project: pytest.Pytester, xdist_args: list[str]
) -> None:
    good = (project.path / GOOD).read_bytes()
    (project.path / "src/pkg/_broken.cpython-311-x86_64-linux-gnu.so").write_bytes(good[:200])
    (project.path / "src/pkg/libc.so").write_text("/* GNU ld script */\nINPUT(-lc)\n")
    result = project.runpytest_subprocess("--memsafe", *xdist_args)
    result.assert_outcomes(passed=2 * len(CHECKS) - 2 + 1, failed=2, errors=len(CHECKS))
    result.stdout.fnmatch_lines(["*cannot check src/pkg/_broken*: truncated or corrupt ELF*"])
    result.stdout.no_fnmatch_line("*INTERNALERROR*")
    result.stdout.no_fnmatch_line("*libc.so*")


def test_broken_symlink_is_reported_not_skipped(project: pytest.Pytester) -> None:
    (project.path / "src/pkg/_gone.abi3.so").symlink_to("missing-target.so")
    result = project.runpytest("--memsafe", "-k", "_gone")
    result.assert_outcomes(errors=len(CHECKS))
    result.stdout.fnmatch_lines(["*cannot check src/pkg/_gone.abi3.so: broken symlink*"])


def test_symlinked_copy_and_directory_loop_are_counted_once(project: pytest.Pytester) -> None:
    (project.path / "src/alias.so").symlink_to(project.path / GOOD)
    (project.path / "src/pkg/loop").symlink_to(project.path / "src")
    result = project.runpytest("--memsafe", "--collect-only", "-q")
    assert len([line for line in result.outlines if "::" in line]) == 2 * len(CHECKS) + 1


def test_virtualenvs_and_excludes_are_skipped(project: pytest.Pytester) -> None:
    venv = project.path / "env/lib/python3.11/site-packages"
    venv.mkdir(parents=True)
    (project.path / "env/pyvenv.cfg").write_text("home = /usr\n")
    shutil.copy(project.path / WEAK, venv / "_dep.so")
    project.makeini("[pytest]\nmemsafe_exclude = *_weak*\n")
    result = project.runpytest("--memsafe", "--collect-only", "-q")
    assert [line for line in result.outlines if "::" in line] == [
        *(f"{GOOD}::{check}" for check in CHECKS),
        PROJECT_ITEM,
    ]


def test_explicit_path_is_scanned_inside_folders_pytest_skips(project: pytest.Pytester) -> None:
    build = project.path / "build/lib.linux-x86_64-cpython-311/pkg"
    build.mkdir(parents=True)
    shutil.copy(project.path / GOOD, build / "_good.cpython-311-x86_64-linux-gnu.so")
    (build / "test_trap.py").write_text("raise SystemExit('build test module was imported')\n")
    (build / "__init__.py").write_text("raise SystemExit('build package was imported')\n")
    result = project.runpytest("--memsafe", "build/lib.linux-x86_64-cpython-311", "-v")
    result.assert_outcomes(passed=len(CHECKS) + 1)
    result.stdout.fnmatch_lines(
        ["build/lib.linux-x86_64-cpython-311/pkg/_good.cpython-311-x86_64-linux-gnu.so::relro*"]
    )
    result.stdout.no_fnmatch_line("*was imported*")


@pytest.mark.parametrize(
    ("traps", "options"),
    [
        (("thirdparty/__init__.py", "thirdparty/tests/test_thirdparty.py"), []),
        # pytest itself imports conftest.py at the top of a named path: --noconftest stops it
        (("conftest.py", "tests/conftest.py", "thirdparty/__init__.py"), ["--noconftest"]),
    ],
    ids=["packages-and-test-modules", "conftest-with-noconftest"],
)
def test_site_packages_target_imports_nothing(
    project: pytest.Pytester, traps: tuple[str, ...], options: list[str]
) -> None:
    site = project.path / "venv-like/lib/python3.11/site-packages"
    (site / "thirdparty/tests").mkdir(parents=True)
    (site / "tests").mkdir()
    shutil.copy(project.path / GOOD, site / "thirdparty/_speedups.abi3.so")
    for trap in traps:
        (site / trap).write_text("raise SystemExit('site-packages code was imported')\n")
    result = project.runpytest("--memsafe", *options, str(site))
    result.assert_outcomes(passed=len(CHECKS) + 1)
    result.stdout.no_fnmatch_line("*was imported*")


def test_json_report_follows_the_schema(project: pytest.Pytester) -> None:
    result = project.runpytest("--memsafe", "--memsafe-json", "reports/memsafe.json")
    report = load_report(project.path / "reports/memsafe.json")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    artifacts = {a["path"]: a for a in report["artifacts"]}  # type: ignore[attr-defined]
    assert list(artifacts) == [GOOD, WEAK]
    good = artifacts[GOOD]
    assert good["sha256"] == hashlib.sha256((project.path / GOOD).read_bytes()).hexdigest()
    assert (good["format"], good["machine"], good["origin"], good["error"]) == (
        "elf", "x86_64", "tree", None,
    )  # fmt: skip
    relro = next(r for r in artifacts[WEAK]["results"] if r["check"] == "relro")
    assert relro["status"] == "fail" and relro["level"] == "none"
    assert relro["outcome"] == "failed" and relro["remediation"] == "link with -Wl,-z,relro,-z,now"
    assert relro["facts"]["gnu_relro"] is False
    summary = dict(report["summary"])  # type: ignore[call-overload]
    language = summary.pop("language")
    assert summary == {
        "artifacts": 2, "passed": 14, "warned": 4, "failed": 2, "skipped": 0,
        "xfailed": 0, "errors": 0,
    }  # fmt: skip
    # two gcc-built C extensions: no memory-safe code
    assert (language["artifacts"], language["safe_artifacts"], language["safe_share"]) == (2, 0, 0)
    assert good["languages"]["primary"] == "c"


def test_json_report_is_identical_under_xdist(project: pytest.Pytester) -> None:
    project.runpytest_subprocess("--memsafe", "--memsafe-json", "a.json", "-p", "no:xdist")
    project.runpytest_subprocess("--memsafe", "--memsafe-json", "b.json", "-n", "2")
    assert load_report(project.path / "a.json") == load_report(project.path / "b.json")


def test_malformed_binary_in_json_has_error_and_no_results(project: pytest.Pytester) -> None:
    (project.path / "src/pkg/_bad.so").write_bytes(b"\x7fELF\x02\x01\x01" + b"\0" * 9)
    project.runpytest("--memsafe", "--memsafe-json", "r.json")
    bad = next(a for a in load_report(project.path / "r.json")["artifacts"]  # type: ignore[attr-defined]
               if a["path"] == "src/pkg/_bad.so")  # fmt: skip
    assert bad["error"] and bad["results"] == []


def test_terminal_summary_shows_the_matrix_and_the_fixes(project: pytest.Pytester) -> None:
    result = project.runpytest("--memsafe")
    result.stdout.fnmatch_lines(
        [
            "*= memsafe =*",
            "artifact * relro * nx * canary * fortify * pic * rpath * wx * loadable * cet*",
            f"{GOOD} * ok * ok * ok * ok * ok * ok * ok * ok * warn*",
            f"{WEAK} * FAIL * FAIL * warn * warn * ok * ok * ok * ok * warn*",
            "legend: *",
            "failing checks:",
            f"  {WEAK}::nx: executable stack*",
            "      fix: link with -Wl,-z,noexecstack*",
        ]
    )


def test_report_header_names_plugin_and_pyelftools_versions(project: pytest.Pytester) -> None:
    result = project.runpytest("--memsafe", "--collect-only")
    result.stdout.fnmatch_lines(["memsafe: pytest-memsafe *, pyelftools 0.*"])


def test_waiver_xfails_with_its_reason(project: pytest.Pytester) -> None:
    project.makeini(
        "[pytest]\nmemsafe_waivers =\n    src/pkg/_weak* | relro,nx | legacy build, see #12\n"
    )
    result = project.runpytest("--memsafe", "-rx")
    result.assert_outcomes(passed=2 * len(CHECKS) - 2 + 1, xfailed=2)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["XFAIL *_weak*::relro - waived: legacy build, see #12"])


def test_unknown_can_be_made_to_fail(project: pytest.Pytester, corpus: dict[str, Path]) -> None:
    shutil.copy(corpus["canary-unknown-nobuffers"], project.path / "src/pkg/_tiny.abi3.so")
    skip = project.runpytest("--memsafe", "-k", "_tiny and canary", "-rs")
    skip.assert_outcomes(skipped=1)
    skip.stdout.fnmatch_lines(["SKIPPED * unknown: no stack protector import, and no imported*"])
    fail = project.runpytest("--memsafe", "-k", "_tiny and canary", "--memsafe-unknown=fail",
                             "--memsafe-severity=canary=error")  # fmt: skip
    fail.assert_outcomes(failed=1)


def test_partial_relro_passes_with_a_recommendation(
    project: pytest.Pytester, corpus: dict[str, Path]
) -> None:
    shutil.copy(corpus["relro-partial"], project.path / "src/pkg/_lazy.abi3.so")
    result = project.runpytest("--memsafe", "-k", "_lazy and relro", "-W", "default")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*partial RELRO*full is recommended*-z,now*"])
    strict = project.runpytest("--memsafe", "-k", "_lazy and relro", "--memsafe-relro-min=full")
    strict.assert_outcomes(failed=1)


def test_pyproject_configuration(project: pytest.Pytester) -> None:
    (project.path / "tox.ini").unlink()
    project.makepyprojecttoml(
        "[tool.pytest.ini_options]\n"
        'memsafe_severity = ["relro=warning", "nx=warning"]\n'
        'memsafe_paths = ["src"]\n'
    )
    result = project.runpytest("--memsafe")
    result.assert_outcomes(passed=2 * len(CHECKS) + 1)
    assert result.ret == pytest.ExitCode.OK


def test_bad_configuration_is_one_usage_error_naming_everything(project: pytest.Pytester) -> None:
    project.makeini(
        "[pytest]\n"
        "memsafe_severity = relro=fatal\n"
        "memsafe_relro_min = most\n"
        "memsafe_fortify_min_ratio = lots\n"
        "memsafe_waivers = *.so | nosuchcheck | why\n"
        "memsafe_unknown = maybe\n"
    )
    result = project.runpytest("--memsafe")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines_random(
        [
            "*pytest-memsafe: invalid configuration:*",
            "*memsafe_severity[[]relro[]]: invalid value 'fatal'; choose from error, warning, off*",
            "*memsafe_relro_min: invalid value 'most'; choose from partial, full, none*",
            "*memsafe_fortify_min_ratio: *lots*",
            "*memsafe_waivers: unknown check id(s) nosuchcheck; valid check ids: relro, nx, *",
            "*memsafe_unknown: invalid value 'maybe'; choose from skip, fail*",
        ]
    )
    assert "Traceback" not in result.stderr.str()


@pytest.mark.parametrize(("option", "label"), [("json", "JSON"), ("sarif", "SARIF")])
def test_unwritable_report_path_fails_the_run_with_a_message(
    project: pytest.Pytester, option: str, label: str
) -> None:
    (project.path / "blocker").write_text("a file, not a directory")
    (project.path / WEAK).unlink()
    result = project.runpytest("--memsafe", f"--memsafe-{option}", "blocker/report")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([f"ERROR: cannot write the {label} report *blocker/report*"])


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_is_an_error(project: pytest.Pytester) -> None:
    (project.path / GOOD).chmod(0)
    result = project.runpytest("--memsafe", "-k", "_good")
    result.assert_outcomes(errors=len(CHECKS))
    result.stdout.fnmatch_lines(["*cannot read*"])


def test_fifo_named_like_a_library_is_an_error_not_a_hang(project: pytest.Pytester) -> None:
    os.mkfifo(project.path / "src/pkg/_pipe.abi3.so")
    result = project.runpytest("--memsafe", "-k", "_pipe")
    result.assert_outcomes(errors=len(CHECKS))
    result.stdout.fnmatch_lines(["*cannot check src/pkg/_pipe.abi3.so: cannot read: not a reg*"])
