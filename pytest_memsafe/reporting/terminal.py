"""Terminal summary: an artifact x check matrix, then the failing findings and their fixes."""

from __future__ import annotations

from typing import Any

from ..checks.language import format_share
from .records import ArtifactReport
from .views import CELL, LEGEND, by_format, findings, matrix, project_figure

__all__ = ["CELL", "render_summary"]


def render_summary(
    artifacts: list[ArtifactReport],
    checks: tuple[str, ...],
    project: dict[str, Any] | None = None,
) -> list[str]:
    """Lines of the ``memsafe`` terminal section."""
    if not artifacts:
        return ["no compiled extensions or shared libraries found"]
    return _matrix(artifacts, checks) + _languages(artifacts, project)


def _languages(artifacts: list[ArtifactReport], project: dict[str, Any] | None) -> list[str]:
    """One line per binary with its languages, then the project figure."""
    lines = ["", "languages:"]
    for artifact in artifacts:
        langs = artifact.info.get("languages")
        if not langs:
            continue
        shares = sorted((langs["shares"] or {}).items(), key=lambda item: -item[1])
        shown = (
            ", ".join(f"{lang} {format_share(share)}" for lang, share in shares)
            or ", ".join(langs["all"])
            or "unknown"
        )
        binder = f" [{langs['binder']}]" if langs["binder"] else ""
        lines.append(f"  {artifact.path}: {langs['primary']}{binder}: {shown}")
    if project is not None and project["artifacts"]:  # language is read from ELF files only
        lines.append(project_figure(project))
    return lines if len(lines) > 2 else []


def _matrix(artifacts: list[ArtifactReport], checks: tuple[str, ...]) -> list[str]:
    groups = by_format(artifacts, checks)
    lines: list[str] = []
    for group in groups:
        if len(groups) > 1:
            lines += ([""] if lines else []) + [f"{group.title}:"]
        rows = [["artifact", *group.checks], *matrix(group.artifacts, group.checks)]
        widths = [max(len(row[0]) for row in rows), *(max(len(c), 4) for c in group.checks)]
        lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.append(f"legend: {LEGEND}")
    lines += _findings(artifacts, "failed", "failing checks")
    lines += _findings(artifacts, "warned", "advisory findings")
    errors = [a for a in artifacts if a.info["error"]]
    if errors:
        lines += ["", "unreadable or malformed binaries:"]
        lines += [f"  {a.path}: {a.info['error']}" for a in errors]
    return lines


def _findings(artifacts: list[ArtifactReport], outcome: str, heading: str) -> list[str]:
    lines: list[str] = []
    for artifact, result in findings(artifacts, outcome):
        lines.append(f"  {artifact.path}::{result['check']}: {result['summary']}")
        if result.get("remediation"):
            lines.append(f"      fix: {result['remediation']}")
    return ["", f"{heading}:", *lines] if lines else []
