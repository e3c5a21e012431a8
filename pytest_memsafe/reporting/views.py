"""What every report shows, whatever its format: matrix cells, findings and their wording."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from ..checks import specs_for
from ..identity import split_slice
from ..model import BinaryFormat
from .records import ArtifactReport

__all__ = [
    "CELL",
    "ERROR_CELL",
    "LEGEND",
    "FormatGroup",
    "by_format",
    "cell",
    "escape_markdown",
    "findings",
    "matrix",
    "message",
    "project_figure",
    "split_member",
]

CELL: Final = {
    "passed": "ok",
    "warned": "warn",
    "failed": "FAIL",
    "xfailed": "xf",
    "not_applicable": "-",
    "unknown": "?",
}
"""Matrix cell per outcome (skips are split into not applicable and unknown)."""
ERROR_CELL: Final = "ERR"
LEGEND: Final = (
    "ok pass, FAIL failed, warn advisory failure, xf waived or in baseline, "
    f"- not applicable, ? unknown, {ERROR_CELL} unreadable"
)
_MARKDOWN: Final = re.compile(r"([\\`*_\[\]<>|~&#])")


def cell(result: dict[str, Any]) -> str:
    """The matrix cell of one result."""
    outcome = str(result["outcome"])
    return CELL[str(result["status"])] if outcome == "skipped" else CELL[outcome]


def matrix(artifacts: list[ArtifactReport], checks: tuple[str, ...]) -> list[list[str]]:
    """One row per artifact: its path, then a cell per check (empty when it did not run)."""
    rows = []
    for artifact in artifacts:
        by_check = {str(result["check"]): result for result in artifact.results}
        cells = [
            ERROR_CELL if artifact.info["error"] else cell(by_check[c]) if c in by_check else ""
            for c in checks
        ]
        rows.append([artifact.path, *cells])
    return rows


@dataclass(frozen=True, slots=True)
class FormatGroup:
    """The artifacts of one binary format and the checks that apply to that format."""

    title: str
    """``ELF``, ``PE (x86_64)``... : the format and the machines in the group."""
    checks: tuple[str, ...]
    artifacts: list[ArtifactReport]


def by_format(artifacts: list[ArtifactReport], checks: tuple[str, ...]) -> list[FormatGroup]:
    """The matrix split per format (ELF, PE, Mach-O), each with only its own checks; a file
    whose format could not be read goes with ELF, whose checks it was collected under."""
    groups = []
    for fmt in BinaryFormat:
        members = [a for a in artifacts if (a.info.get("format") or BinaryFormat.ELF.value) == fmt]
        if not members:
            continue
        applicable = {spec.id for spec in specs_for(fmt)}
        machines = sorted({str(a.info["machine"]) for a in members if a.info.get("machine")})
        title = f"{fmt.label} ({', '.join(machines)})" if machines else fmt.label
        groups.append(FormatGroup(title, tuple(c for c in checks if c in applicable), members))
    return groups


def findings(
    artifacts: list[ArtifactReport], *outcomes: str
) -> Iterator[tuple[ArtifactReport, dict[str, Any]]]:
    """``(artifact, result)`` for every result with one of ``outcomes``, by path and check."""
    for artifact in artifacts:
        if artifact.info["error"]:
            continue
        for result in sorted(artifact.results, key=lambda r: str(r["check"])):
            if result["outcome"] in outcomes:
                yield artifact, result


def message(path: str, result: dict[str, Any]) -> str:
    """``<path>: <summary>. Fix: <remediation>`` (one line, as SARIF and annotations show it)."""
    text = f"{path}: {str(result['summary']).rstrip('.')}"
    remediation = result.get("remediation")
    return f"{text}. Fix: {remediation}" if remediation else text


def project_figure(project: dict[str, Any]) -> str:
    """The project-level language figure as one sentence."""
    return (
        f"project: {project['safe_artifacts']} of {project['artifacts']} binaries are in"
        f" memory-safe languages; {project['safe_share']:.1%} of compiled code by bytes"
    )


def split_member(path: str) -> tuple[str, str | None]:
    """The file on disk and the member inside it: ``dist/x.whl!pkg/_x.so`` -> (``dist/x.whl``,
    ``pkg/_x.so``); a slice of a universal file, ``pkg/_x.so[arm64]`` -> (``pkg/_x.so``,
    None); a plain path has no member."""
    container, bang, member = path.partition("!")
    if bang:
        return container, member
    return split_slice(path)[0], None


def escape_markdown(text: object) -> str:
    """Plain text for Markdown (a table cell, a list item): one line, markup escaped."""
    return _MARKDOWN.sub(r"\\\1", " ".join(str(text).split()))
