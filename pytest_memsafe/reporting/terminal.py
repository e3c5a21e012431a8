"""Terminal summary: an artifact x check matrix, then the failing findings and their fixes."""

from __future__ import annotations

from typing import Any, Final

from ..checks.language import format_share
from .records import ArtifactReport

__all__ = ["CELL", "render_summary"]

CELL: Final = {
    "passed": "ok",
    "warned": "warn",
    "failed": "FAIL",
    "xfailed": "xf",
    "not_applicable": "-",
    "unknown": "?",
}
"""Matrix cell per outcome (skips are split into not applicable and unknown)."""
LEGEND: Final = (
    "ok pass, FAIL failed, warn advisory failure, xf waived, - not applicable, ? unknown, "
    "ERR unreadable"
)


def _cell(result: dict[str, object]) -> str:
    outcome = str(result["outcome"])
    return CELL[str(result["status"])] if outcome == "skipped" else CELL[outcome]


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
    if project is not None:
        safe = project["safe_share"]
        lines.append(
            f"project: {project['safe_artifacts']} of {project['artifacts']} binaries are in"
            f" memory-safe languages; {safe:.1%} of compiled code by bytes"
        )
    return lines if len(lines) > 2 else []


def _matrix(artifacts: list[ArtifactReport], checks: tuple[str, ...]) -> list[str]:
    width = max(len("artifact"), *(len(artifact.path) for artifact in artifacts))
    widths = [max(len(check), 4) for check in checks]
    lines = [
        "  ".join(
            ["artifact".ljust(width), *(c.ljust(w) for c, w in zip(checks, widths, strict=True))]
        )
    ]
    for artifact in artifacts:
        by_check = {str(result["check"]): result for result in artifact.results}
        cells = [
            "ERR" if artifact.info["error"] else _cell(by_check[check]) if check in by_check else ""
            for check in checks
        ]
        lines.append(
            "  ".join(
                [
                    artifact.path.ljust(width),
                    *(c.ljust(w) for c, w in zip(cells, widths, strict=True)),
                ]
            )
        )
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
    for artifact in artifacts:
        for result in artifact.results:
            if result["outcome"] != outcome:
                continue
            lines.append(f"  {artifact.path}::{result['check']}: {result['summary']}")
            if result.get("remediation"):
                lines.append(f"      fix: {result['remediation']}")
    return ["", f"{heading}:", *lines] if lines else []
