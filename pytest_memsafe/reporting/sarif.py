"""The SARIF 2.1.0 report, shaped for GitHub code scanning (one run, rules from the registry).

Deterministic: results sorted by path and check, no timestamps, no absolute paths of our own.
Since GitHub cannot fingerprint a binary, every result carries its own
``primaryLocationLineHash``: sha256 over the check id and the module identity, so an alert
survives a new CPython ABI tag, a rebuild or a move between ``src/`` and ``site-packages``.
A binary that could not be read is not a finding of any rule: it is an error-level
``toolExecutionNotification`` (SARIF's "the results may be incomplete").
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from pathlib import PurePosixPath
from typing import Any, Final
from urllib.parse import quote

from ..checks import REGISTRY, CheckSpec
from ..identity import module_identity
from ..model import BinaryFormat, Severity
from .records import ArtifactReport
from .views import escape_markdown, findings, message, split_member

__all__ = ["INFORMATION_URI", "SCHEMA_URI", "build_sarif", "fingerprint"]

SCHEMA_URI: Final = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI: Final = "https://pypi.org/project/pytest-memsafe/"
LEVEL: Final = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.OFF: "none"}
REPORTED: Final = {"failed": Severity.ERROR, "warned": Severity.WARNING, "xfailed": None}
"""Outcomes that become results, with their level (xfailed: the check's severity)."""
RULE_INDEX: Final = {spec.id: index for index, spec in enumerate(REGISTRY)}


def fingerprint(check: str, path: str) -> str:
    """``primaryLocationLineHash``: 16 hex digits of sha256(check, module identity), ``:1``."""
    key = f"{check}\0{module_identity(path)}".encode()
    return f"{hashlib.sha256(key).hexdigest()[:16]}:1"


def build_sarif(
    artifacts: list[ArtifactReport],
    version: str,
    *,
    severities: Mapping[str, Severity] | None = None,
    locate: Callable[[str], str] = str,
) -> dict[str, Any]:
    """The SARIF log of one run.

    ``severities`` gives the level of accepted (xfailed) findings (default: each check's
    default severity); ``locate`` maps a report path to the repository path used as URI.
    """
    severity = {spec.id: spec.default_severity for spec in REGISTRY} | dict(severities or {})
    results = [
        _result(artifact.path, result, severity, locate)
        for artifact, result in findings(artifacts, *REPORTED)
    ]
    notifications = [
        {
            "level": "error",
            "message": {"text": f"{artifact.path}: not checked: {artifact.info['error']}"},
            "locations": [_location(artifact.path, locate)],
        }
        for artifact in artifacts
        if artifact.info["error"]
    ]
    invocation: dict[str, Any] = {"executionSuccessful": True}
    if notifications:
        invocation["toolExecutionNotifications"] = notifications
    driver = {
        "name": "pytest-memsafe",
        "version": version,
        "semanticVersion": version,
        "informationUri": INFORMATION_URI,
        "rules": [_rule(spec) for spec in REGISTRY],
    }
    run = {"tool": {"driver": driver}, "invocations": [invocation], "results": results}
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def _fixes(spec: CheckSpec) -> str:
    """The remediation, per format when the formats' toolchains spell it differently."""
    if not spec.remediations:
        return spec.remediation
    formats = [fmt for fmt in BinaryFormat if fmt in spec.impls]
    return "; ".join(f"{fmt.label}: {spec.fix(fmt)}" for fmt in formats)


def _rule(spec: CheckSpec) -> dict[str, Any]:
    references = "".join(f"\n- <{url}>" for url in spec.references)
    fixes = _fixes(spec)
    rule: dict[str, Any] = {
        "id": spec.id,
        "name": spec.title,
        "shortDescription": {"text": spec.title},
        "fullDescription": {"text": spec.rationale},
        "help": {
            "text": f"Fix: {fixes}.",
            "markdown": f"**Fix:** {escape_markdown(fixes)}.\n\n"
            f"{escape_markdown(spec.rationale)}\n"
            + (f"\nReferences:\n{references}\n" if references else ""),
        },
        "defaultConfiguration": {"level": LEVEL[spec.default_severity]},
        "properties": {"tags": ["security"], "precision": "high"},
    }
    if spec.references:
        rule["helpUri"] = spec.references[0]
    return rule


def _result(
    path: str,
    result: dict[str, Any],
    severity: Mapping[str, Severity],
    locate: Callable[[str], str],
) -> dict[str, Any]:
    check = str(result["check"])
    level = REPORTED[result["outcome"]] or severity.get(check, Severity.WARNING)
    location = _location(path, locate)
    location["logicalLocations"].append({"name": check, "fullyQualifiedName": f"{path}::{check}"})
    entry: dict[str, Any] = {
        "ruleId": check,
        "level": LEVEL[level],
        "message": {"text": message(path, result)},
        "locations": [location],
        "partialFingerprints": {"primaryLocationLineHash": fingerprint(check, path)},
    }
    if check in RULE_INDEX:
        entry["ruleIndex"] = RULE_INDEX[check]
    if result.get("baseline") in ("new", "unchanged"):
        entry["baselineState"] = result["baseline"]
    if result["outcome"] == "xfailed":
        suppression = {"kind": "external", "status": "accepted"}
        entry["suppressions"] = [
            {**suppression, "justification": result["note"]} if result.get("note") else suppression
        ]
    return entry


def _location(path: str, locate: Callable[[str], str]) -> dict[str, Any]:
    """The binary (a wheel member: the wheel) at line 1, and its module as logical location."""
    file, _ = split_member(locate(path))
    posix = PurePosixPath(file)
    uri = posix.as_uri() if posix.is_absolute() else quote(file, safe="/")
    module = {"name": module_identity(path).rsplit("/", 1)[-1], "kind": "module"}
    return {
        "physicalLocation": {"artifactLocation": {"uri": uri}, "region": {"startLine": 1}},
        "logicalLocations": [{**module, "fullyQualifiedName": path}],
    }
