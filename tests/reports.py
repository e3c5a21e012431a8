"""Reading a run's JSON report in tests: per artifact, what it says and each check's result."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema


def report_results(report: Path, *, summaries: bool = False) -> dict[str, dict[str, Any]]:
    """Display path -> ``{"@format", "@machine", "@error", "@languages"}`` plus each check's
    outcome (``(outcome, summary)`` with ``summaries``), after validating the report against
    the shipped schema."""
    data = json.loads(report.read_text())
    schema = resources.files("pytest_memsafe").joinpath("data/report-v1.schema.json")
    jsonschema.validate(data, json.loads(schema.read_text()))
    return {
        artifact["path"]: {
            "@format": artifact["format"], "@machine": artifact["machine"],
            "@error": artifact["error"], "@languages": artifact["languages"],
        } | {
            r["check"]: (r["outcome"], r["summary"]) if summaries else r["outcome"]
            for r in artifact["results"]
        }
        for artifact in data["artifacts"]
    }  # fmt: skip
