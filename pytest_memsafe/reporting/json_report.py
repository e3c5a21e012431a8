"""The JSON report (schema_version 1, a contract; see DESIGN.md §4 and the shipped schema)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

from ..files import write_atomic
from .records import ArtifactReport

__all__ = ["SCHEMA_VERSION", "build_report", "summarize", "write_json"]

SCHEMA_VERSION: Final = 1
OUTCOME_COUNTERS: Final = {
    "passed": "passed",
    "warned": "warned",
    "failed": "failed",
    "skipped": "skipped",
    "xfailed": "xfailed",
}


def summarize(artifacts: list[ArtifactReport]) -> dict[str, int]:
    """Counts of artifacts and of result outcomes; an unreadable artifact is one error."""
    counts = {
        "artifacts": len(artifacts),
        "errors": 0,
        **dict.fromkeys(OUTCOME_COUNTERS.values(), 0),
    }
    for artifact in artifacts:
        if artifact.info["error"]:
            counts["errors"] += 1
            continue
        for result in artifact.results:
            counts[OUTCOME_COUNTERS[result["outcome"]]] += 1
    return counts


def build_report(
    artifacts: list[ArtifactReport],
    settings: dict[str, Any],
    version: str,
    project: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The whole report as a JSON-ready dict (``project``: the language figure, if run)."""
    summary: dict[str, Any] = dict(summarize(artifacts))
    summary["language"] = project
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "pytest-memsafe", "version": version},
        "settings": settings,
        "artifacts": [artifact.as_json() for artifact in artifacts],
        "summary": summary,
    }


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` to ``path`` atomically, indented, keys sorted (the JSON and SARIF reports)."""
    write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
