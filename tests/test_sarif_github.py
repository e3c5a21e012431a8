"""SARIF 2.1.0 and GitHub Actions outputs: schema, content, fingerprints, summary, annotations."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from pytest_memsafe.checks import CHECK_IDS
from pytest_memsafe.reporting.github import (
    SUMMARY_LIMIT,
    annotation_commands,
    append_step_summary,
    escape_data,
    escape_markdown,
    escape_property,
    repo_path,
    step_summary,
)
from pytest_memsafe.reporting.records import ArtifactReport
from pytest_memsafe.reporting.sarif import build_sarif, fingerprint

GOOD = "src/pkg/_good.cpython-311-x86_64-linux-gnu.so"
WEAK = "src/pkg/_weak.cpython-311-x86_64-linux-gnu.so"
WEAK_312 = "src/pkg/_weak.cpython-312-x86_64-linux-gnu.so"
CHECKS = ("relro", "nx", "canary", "fortify", "pic", "rpath", "wx", "loadable", "language", "cet")
SARIF_SCHEMA = Path(__file__).resolve().parents[2] / "shared" / "data" / "sarif-schema-2.1.0.json"


@pytest.fixture(scope="module")
def sarif_schema() -> dict[str, Any]:
    """The official SARIF 2.1.0 schema, read from the shared data folder (never copied)."""
    if not SARIF_SCHEMA.is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"the SARIF schema is missing: {SARIF_SCHEMA}")
        pytest.skip(f"the SARIF schema is not here: {SARIF_SCHEMA}")
    return json.loads(SARIF_SCHEMA.read_text())  # type: ignore[no-any-return]


def run_sarif(project: pytest.Pytester, *args: str) -> dict[str, Any]:
    project.runpytest("--memsafe", "--memsafe-sarif", "out.sarif", *args)
    return json.loads((project.path / "out.sarif").read_text())  # type: ignore[no-any-return]


def by_location(sarif: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """Results keyed by (uri, rule id)."""
    return {
        (r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], r["ruleId"]): r
        for r in sarif["runs"][0]["results"]
    }


def report(path: str, *results: dict[str, Any], error: str | None = None) -> ArtifactReport:
    """An artifact record as the controller groups it."""
    return ArtifactReport(info={"path": path, "error": error}, results=list(results))


def finding(check: str, outcome: str = "failed", **extra: Any) -> dict[str, Any]:
    return {
        "check": check, "status": "fail", "level": None, "outcome": outcome,
        "summary": f"{check} is weak", "remediation": f"fix {check}", "note": None,
        "baseline": None, **extra,
    }  # fmt: skip


def test_sarif_is_valid_with_rules_and_a_result_per_finding(
    project: pytest.Pytester, sarif_schema: dict[str, Any]
) -> None:
    sarif = run_sarif(project)
    jsonschema.validate(sarif, sarif_schema)
    assert sarif["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    assert sarif["version"] == "2.1.0"
    (run,) = sarif["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "pytest-memsafe"
    assert driver["semanticVersion"] == driver["version"]
    rules = driver["rules"]
    assert [rule["id"] for rule in rules] == list(CHECK_IDS)
    nx = rules[[rule["id"] for rule in rules].index("nx")]
    assert nx["shortDescription"]["text"] == "Non-executable stack"
    assert "-Wl,-z,noexecstack" in nx["help"]["text"]
    assert "-Wl,-z,noexecstack" in nx["help"]["markdown"]
    assert nx["defaultConfiguration"]["level"] == "error"
    assert nx["properties"] == {"tags": ["security"], "precision": "high"}
    results = by_location(sarif)
    assert {key: r["level"] for key, r in results.items()} == {
        (GOOD, "cet"): "warning",
        (WEAK, "canary"): "warning",
        (WEAK, "cet"): "warning",
        (WEAK, "fortify"): "warning",
        (WEAK, "nx"): "error",
        (WEAK, "relro"): "error",
    }
    result = results[(WEAK, "nx")]
    assert rules[result["ruleIndex"]]["id"] == "nx"
    assert result["message"]["text"].startswith(f"{WEAK}: executable stack")
    assert "Fix: link with -Wl,-z,noexecstack" in result["message"]["text"]
    assert result["locations"][0]["physicalLocation"]["region"] == {"startLine": 1}
    assert {"name": "nx", "fullyQualifiedName": f"{WEAK}::nx"} in result["locations"][0][
        "logicalLocations"
    ]
    assert re.fullmatch(r"[0-9a-f]{16}:1", result["partialFingerprints"]["primaryLocationLineHash"])
    assert "suppressions" not in result and "baselineState" not in result
    assert run["invocations"] == [{"executionSuccessful": True}]


def test_waived_findings_are_suppressed_results_with_the_reason(project: pytest.Pytester) -> None:
    project.makeini("[pytest]\nmemsafe_waivers =\n    src/pkg/_weak* | relro,nx | legacy build\n")
    relro = by_location(run_sarif(project))[(WEAK, "relro")]
    assert relro["level"] == "error"
    assert relro["suppressions"] == [
        {"kind": "external", "status": "accepted", "justification": "waived: legacy build"}
    ]


def test_baseline_state_is_set_when_a_baseline_is_in_use(project: pytest.Pytester) -> None:
    project.runpytest("--memsafe", "--memsafe-update-baseline")
    shutil.copy(project.path / WEAK, project.path / "src/pkg/_new.abi3.so")
    results = by_location(run_sarif(project))
    assert results[(WEAK, "relro")]["baselineState"] == "unchanged"
    assert results[(WEAK, "relro")]["suppressions"][0]["kind"] == "external"
    assert results[("src/pkg/_new.abi3.so", "relro")]["baselineState"] == "new"
    assert "suppressions" not in results[("src/pkg/_new.abi3.so", "relro")]


def test_fingerprints_survive_a_new_abi_tag(project: pytest.Pytester) -> None:
    before = by_location(run_sarif(project))
    shutil.copy(project.path / WEAK, project.path / WEAK_312)
    after = by_location(run_sarif(project))
    for check in ("relro", "nx", "cet"):
        old = before[(WEAK, check)]["partialFingerprints"]
        assert after[(WEAK_312, check)]["partialFingerprints"] == old
        assert after[(WEAK, check)]["partialFingerprints"] == old
    assert (
        before[(WEAK, "cet")]["partialFingerprints"] != before[(GOOD, "cet")]["partialFingerprints"]
    )


def test_unreadable_binary_is_an_error_notification_not_a_result(
    project: pytest.Pytester, sarif_schema: dict[str, Any]
) -> None:
    (project.path / "src/pkg/_bad.so").write_bytes(b"\x7fELF\x02\x01\x01" + b"\0" * 9)
    sarif = run_sarif(project)
    jsonschema.validate(sarif, sarif_schema)
    (invocation,) = sarif["runs"][0]["invocations"]
    (note,) = invocation["toolExecutionNotifications"]
    assert note["level"] == "error"
    assert note["message"]["text"].startswith("src/pkg/_bad.so: not checked: ")
    assert not any(uri == "src/pkg/_bad.so" for uri, _ in by_location(sarif))


def test_sarif_is_byte_identical_with_and_without_xdist(project: pytest.Pytester) -> None:
    project.runpytest_subprocess("--memsafe", "--memsafe-sarif", "plain.sarif", "-p", "no:xdist")
    project.runpytest_subprocess("--memsafe", "--memsafe-sarif", "n2.sarif", "-n", "2")
    plain = (project.path / "plain.sarif").read_bytes()
    assert plain == (project.path / "n2.sarif").read_bytes()
    assert b'"results"' in plain


@pytest.mark.parametrize(
    ("summary", "actions"),
    [(False, False), (True, False), (False, True), (True, True)],
    ids=["neither", "summary-only", "actions-only", "both"],
)
def test_summary_and_annotations_appear_exactly_when_their_variables_are_set(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, summary: bool, actions: bool
) -> None:
    summary_file = project.path / "step-summary.md"
    summary_file.write_text("earlier step\n")
    if summary:
        monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary_file))
    monkeypatch.setenv("GITHUB_ACTIONS", "true" if actions else "false")
    monkeypatch.setenv("GITHUB_WORKSPACE", str(project.path))
    result = project.runpytest("--memsafe")
    written = summary_file.read_text()
    errors = [line for line in result.errlines if line.startswith("::")]
    if summary:
        assert written.startswith("earlier step\n\n## pytest-memsafe\n")
        assert f"| binary | {' | '.join(CHECKS)} |" in written
        weak = escape_markdown(WEAK)
        assert f"| {weak} | **FAIL** | **FAIL** | warn | warn | ok |" in written
        assert (
            "### Failing checks" in written and "  - fix: link with -Wl,-z,noexecstack" in written
        )
    else:
        assert written == "earlier step\n"
    if actions:
        assert f"::error file={WEAK},line=1,title=memsafe nx%3A Non-executable stack::{WEAK}: " \
            "executable stack" in "\n".join(errors)  # fmt: skip
        assert sorted(line.split(" ", 1)[0] for line in errors) == [
            *["::error"] * 2,
            *["::warning"] * 4,
        ]
    else:
        assert errors == []


def test_workflow_command_escaping() -> None:
    assert escape_data("100%\r\ndone: a,b") == "100%25%0D%0Adone: a,b"
    assert escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    artifact = report("odd,name:50%.so", finding("nx", summary="line one\nline two"))
    assert annotation_commands([artifact], None, Path("/repo")) == [
        "::error file=odd%2Cname%3A50%25.so,line=1,title=memsafe nx%3A Non-executable stack"
        "::odd,name:50%25.so: line one%0Aline two. Fix: fix nx"
    ]


def test_annotations_point_at_the_wheel_and_relative_to_the_workspace() -> None:
    artifacts = [
        report("dist/x.whl!pkg/_x.abi3.so", finding("relro", "warned")),
        report("sub/_bad.so", error="truncated"),
    ]
    assert annotation_commands(artifacts, "/ws", Path("/ws/repo")) == [
        "::warning file=repo/dist/x.whl,line=1,title=memsafe relro%3A RELRO (read-only "
        "relocations)::dist/x.whl!pkg/_x.abi3.so: relro is weak. Fix: fix relro",
        "::error file=repo/sub/_bad.so,line=1,title=memsafe%3A unreadable binary"
        "::sub/_bad.so: not checked: truncated",
    ]


def test_repo_path_is_relative_to_the_workspace_when_inside_it() -> None:
    assert repo_path("src/x.so", Path("/w/repo/sub"), "/w/repo") == "sub/src/x.so"
    assert repo_path("/w/repo/venv/x.so", Path("/w/repo"), "/w/repo") == "venv/x.so"
    assert repo_path("/opt/x.so", Path("/w/repo"), "/w/repo") == "/opt/x.so"
    assert repo_path("src/x.so", Path("/elsewhere"), "/w/repo") == "src/x.so"
    assert repo_path("src/x.so", Path("/w/repo"), None) == "src/x.so"


def test_wheel_member_uses_the_wheel_as_uri(sarif_schema: dict[str, Any]) -> None:
    member = "dist/my pkg.whl!pkg/_x.abi3.so"
    sarif = build_sarif([report(member, finding("nx", "xfailed", note="in baseline",
                                                baseline="unchanged"))], "1.0")  # fmt: skip
    jsonschema.validate(sarif, sarif_schema)
    (result,) = sarif["runs"][0]["results"]
    location = result["locations"][0]
    assert location["physicalLocation"]["artifactLocation"]["uri"] == "dist/my%20pkg.whl"
    assert location["logicalLocations"][0] == {
        "name": "_x", "kind": "module", "fullyQualifiedName": member
    }  # fmt: skip
    assert result["message"]["text"].startswith(f"{member}: ")
    assert result["level"] == "error"  # the check's severity, though accepted
    assert result["baselineState"] == "unchanged"
    assert result["partialFingerprints"]["primaryLocationLineHash"] == fingerprint(
        "nx", "src/pkg/_x.cpython-312-x86_64-linux-gnu.so"
    )


def test_universal_slices_point_at_their_file_and_stay_apart(
    sarif_schema: dict[str, Any],
) -> None:
    arm, intel = (f"src/pkg/_x.cpython-311-darwin.so[{arch}]" for arch in ("arm64", "x86_64"))
    sarif = build_sarif([report(arm, finding("canary")), report(intel, finding("canary"))], "1.0")
    jsonschema.validate(sarif, sarif_schema)
    results = sarif["runs"][0]["results"]
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results}
    assert uris == {"src/pkg/_x.cpython-311-darwin.so"}  # the file on disk, not the slice
    assert [r["message"]["text"].split(": ")[0] for r in results] == [arm, intel]
    prints = {r["partialFingerprints"]["primaryLocationLineHash"] for r in results}
    assert prints == {fingerprint("canary", arm), fingerprint("canary", intel)} and len(prints) == 2


def test_step_summary_is_cut_at_a_line_within_the_limit() -> None:
    artifacts = [report(f"src/pkg/_é{n:04}|x.so", finding("relro")) for n in range(400)]
    full = step_summary(artifacts, ("relro",))
    assert "Truncated" not in full and "\\|x.so" in full
    cut = step_summary(artifacts, ("relro",), limit=4000)
    assert len(cut.encode()) <= 4000
    *lines, last = cut.rstrip("\n").split("\n")
    assert last.startswith("**Truncated:** ") and last.endswith("have every finding.")
    assert all(line.endswith("|") for line in lines if line.startswith("|"))
    assert full.startswith("\n".join(lines[:-1]))


def test_appending_keeps_earlier_steps_and_the_whole_file_under_the_limit(
    tmp_path: Path,
) -> None:
    path = tmp_path / "summary.md"
    path.write_text("x" * (SUMMARY_LIMIT - 600) + "\n")
    artifacts = [report(f"src/pkg/_m{n}.so", finding("nx")) for n in range(50)]
    append_step_summary(path, artifacts, ("nx",))
    text = path.read_text()
    assert text.startswith("x" * (SUMMARY_LIMIT - 600) + "\n\n## pytest-memsafe")
    assert len(text.encode()) <= SUMMARY_LIMIT
    assert "**Truncated:**" in text
