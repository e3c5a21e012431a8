"""The CI gate end to end: baseline ratchet, expiring waivers, [tool.memsafe] waivers."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

EXT = "pkg/_ext.cpython-311-x86_64-linux-gnu.so"
BASELINE = "memsafe-baseline.txt"


@pytest.fixture
def ratchet(pytester: pytest.Pytester, corpus: dict[str, Path]) -> pytest.Pytester:
    """One extension with partial RELRO, in a project that requires full RELRO."""
    (pytester.path / "pkg").mkdir()
    shutil.copy(corpus["relro-partial"], pytester.path / EXT)
    pytester.makeini("[pytest]\nmemsafe_relro_min = full\nmemsafe_severity = cet=off\n")
    return pytester


def swap(project: pytest.Pytester, corpus: dict[str, Path], variant: str, name: str = EXT) -> None:
    (project.path / EXT).unlink(missing_ok=True)
    shutil.copy(corpus[variant], project.path / name)


def test_baseline_ratchet_flow(ratchet: pytest.Pytester, corpus: dict[str, Path]) -> None:
    recorded = ratchet.runpytest("--memsafe", "--memsafe-update-baseline", "-rx")
    assert recorded.ret == pytest.ExitCode.OK
    recorded.assert_outcomes(passed=9, xfailed=1)
    lines = (ratchet.path / BASELINE).read_text().splitlines()
    assert lines[0].startswith("# pytest-memsafe baseline v1")
    assert [line for line in lines if not line.startswith("#")] == ["pkg/_ext relro partial"]

    green = ratchet.runpytest("--memsafe", "-rx")
    assert green.ret == pytest.ExitCode.OK
    green.stdout.fnmatch_lines(["XFAIL *_ext*::relro - in baseline (partial)"])

    swap(ratchet, corpus, "relro-none")
    worse = ratchet.runpytest("--memsafe")
    assert worse.ret == pytest.ExitCode.TESTS_FAILED
    worse.assert_outcomes(passed=9, failed=1)

    swap(ratchet, corpus, "relro-full")
    fixed = ratchet.runpytest("--memsafe")
    assert fixed.ret == pytest.ExitCode.OK
    fixed.stdout.fnmatch_lines(["*fixed: pkg/_ext relro * remove it from the baseline"])
    strict = ratchet.runpytest("--memsafe", "--memsafe-baseline-strict")
    assert strict.ret == pytest.ExitCode.TESTS_FAILED
    strict.stdout.fnmatch_lines(["ERROR: 1 baseline entries no longer fail*"])

    # the same baseline serves another CPython ABI tag of the same module
    swap(ratchet, corpus, "relro-partial", "pkg/_ext.cpython-312-x86_64-linux-gnu.so")
    other_abi = ratchet.runpytest("--memsafe", "-rx")
    assert other_abi.ret == pytest.ExitCode.OK
    other_abi.stdout.fnmatch_lines(["XFAIL *_ext.cpython-312*::relro - in baseline (partial)"])


def test_update_keeps_entries_of_checks_that_did_not_run(ratchet: pytest.Pytester) -> None:
    (ratchet.path / BASELINE).write_text("pkg/_gone canary fail\n")
    ratchet.runpytest("--memsafe", "--memsafe-update-baseline")
    entries = [x for x in (ratchet.path / BASELINE).read_text().splitlines() if x[:1] != "#"]
    assert entries == ["pkg/_ext relro partial", "pkg/_gone canary fail"]


def test_corrupt_baseline_is_a_usage_error(ratchet: pytest.Pytester) -> None:
    (ratchet.path / BASELINE).write_text("pkg/_ext relro partial\nthis line is broken\n")
    result = ratchet.runpytest("--memsafe")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*memsafe-baseline.txt:2: 'this line is broken' is not*"])
    assert "this line is broken" in (ratchet.path / BASELINE).read_text()  # never overwritten


@pytest.mark.parametrize(
    ("until", "outcome"), [("2020-01-31", "failed"), ("2999-12-31", "xfailed")]
)
def test_waiver_expires(project: pytest.Pytester, until: str, outcome: str) -> None:
    project.makeini(
        "[pytest]\nmemsafe_waivers =\n"
        f"    src/pkg/_weak* | relro,nx | legacy build, see #12 | until {until}\n"
    )
    result = project.runpytest("--memsafe", "-W", "default")
    assert result.parseoutcomes()[outcome] == 2
    if outcome == "failed":
        result.stdout.fnmatch_lines(
            ["*waiver expired on 2020-01-31, no longer applied: src/pkg/_weak* | nx,relro*"]
        )


def test_tool_memsafe_waivers_and_stale_waivers(project: pytest.Pytester) -> None:
    (project.path / "tox.ini").unlink()
    project.makepyprojecttoml(
        "[tool.pytest.ini_options]\n"
        "[[tool.memsafe.waivers]]\n"
        'artifact = "src/pkg/_weak*"\nchecks = ["relro", "nx"]\n'
        'reason = "legacy build"\nuntil = 2999-01-01\n'
        "[[tool.memsafe.waivers]]\n"
        'artifact = "nothing/*"\nchecks = ["wx"]\nreason = "left over"\n'
    )
    result = project.runpytest("--memsafe")
    assert result.ret == pytest.ExitCode.OK
    assert result.parseoutcomes()["xfailed"] == 2
    result.stdout.fnmatch_lines(["*waiver matched no failing check (stale?): nothing/* | wx*"])


def test_bad_tool_memsafe_table_is_a_usage_error(project: pytest.Pytester) -> None:
    (project.path / "tox.ini").unlink()
    project.makepyprojecttoml(
        "[tool.memsafe]\npolicy = 'rust-only'\n[[tool.memsafe.waivers]]\nartifact = 'x'\n"
    )
    result = project.runpytest("--memsafe")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines_random(
        ["*[[]tool.memsafe[]]: unknown key(s) policy*", "*waivers #1: needs 'artifact'*"]
    )


def test_second_run_reads_evidence_from_the_cache(project: pytest.Pytester) -> None:
    first = project.runpytest("--memsafe")
    first.stdout.fnmatch_lines(["evidence: 2 files parsed, 0 from the evidence cache"])
    second = project.runpytest("--memsafe")
    second.stdout.fnmatch_lines(["evidence: 0 files parsed, 2 from the evidence cache"])
    assert second.parseoutcomes() == first.parseoutcomes()
    (project.path / "src/pkg/_weak.cpython-311-x86_64-linux-gnu.so").unlink()
    shutil.copy(project.path / "src/pkg/_good.cpython-311-x86_64-linux-gnu.so",
                project.path / "src/pkg/_weak.cpython-311-x86_64-linux-gnu.so")  # fmt: skip
    third = project.runpytest("--memsafe")  # same content as _good: a hit, judged anew
    third.stdout.fnmatch_lines(["evidence: 0 files parsed, 2 from the evidence cache"])
    assert third.ret == pytest.ExitCode.OK
    cleared = project.runpytest("--memsafe", "--cache-clear")  # two files, one content
    cleared.stdout.fnmatch_lines(["evidence: 1 files parsed, 1 from the evidence cache"])


def test_evidence_counters_add_up_under_xdist(project: pytest.Pytester) -> None:
    project.runpytest_subprocess("--memsafe", "-n", "2")
    warm = project.runpytest_subprocess("--memsafe", "-n", "2")
    warm.stdout.fnmatch_lines(["evidence: 0 files parsed, * from the evidence cache"])


def test_baseline_is_byte_identical_with_and_without_xdist(project: pytest.Pytester) -> None:
    project.runpytest_subprocess("--memsafe", "--memsafe-update-baseline", "-p", "no:xdist")
    single = (project.path / BASELINE).read_bytes()
    (project.path / BASELINE).unlink()
    project.runpytest_subprocess("--memsafe", "--memsafe-update-baseline", "-n", "2")
    assert (project.path / BASELINE).read_bytes() == single
    assert single.decode().splitlines()[2:] == [
        "pkg/_weak nx fail", "pkg/_weak relro none",
    ]  # fmt: skip
