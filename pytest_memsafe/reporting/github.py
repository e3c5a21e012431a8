"""GitHub Actions: the job's step summary (Markdown) and workflow-command annotations.

The controller writes the summary only when ``GITHUB_STEP_SUMMARY`` is set and prints the
annotations only when ``GITHUB_ACTIONS == "true"``. Annotations go to stderr: the runner
reads workflow commands from stdout and stderr alike, and stderr keeps them out of pytest's
terminal report.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path, PurePath
from typing import Any, Final

from ..checks import REGISTRY
from .json_report import summarize
from .records import ArtifactReport
from .views import (
    CELL,
    ERROR_CELL,
    LEGEND,
    by_format,
    escape_markdown,
    findings,
    matrix,
    message,
    project_figure,
    split_member,
)

__all__ = [
    "SUMMARY_LIMIT",
    "annotation_commands",
    "append_step_summary",
    "escape_data",
    "escape_markdown",
    "escape_property",
    "repo_path",
    "step_summary",
]

SUMMARY_LIMIT: Final = 1024 * 1024
"""GitHub's limit on the step summary, in bytes (per step, shared with other writers)."""
COMMAND: Final = {"failed": "error", "warned": "warning"}
TITLES: Final = {spec.id: spec.title for spec in REGISTRY}
LOUD: Final = frozenset({CELL["failed"], ERROR_CELL})
"""Matrix cells shown in bold."""


def escape_data(text: str) -> str:
    """A workflow command's message (actions/toolkit ``escapeData``)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value (actions/toolkit ``escapeProperty``)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def repo_path(path: str, rootdir: Path, workspace: str | None) -> str:
    """A report path (relative to ``rootdir``, or absolute) made relative to the GitHub
    workspace when it lies inside it; unchanged otherwise."""
    if not workspace:
        return path
    relative = os.path.relpath(os.path.normpath(os.path.join(rootdir, path)), workspace)
    return path if relative == ".." or relative.startswith("../") else PurePath(relative).as_posix()


def annotation_commands(
    artifacts: list[ArtifactReport], workspace: str | None, rootdir: Path | None = None
) -> list[str]:
    """``::error``/``::warning`` commands for failed and advisory findings and unreadable
    binaries, on line 1 of the binary (of the wheel, for a member)."""
    root = rootdir or Path.cwd()
    lines = []
    for artifact, result in findings(artifacts, *COMMAND):
        check = str(result["check"])
        title = f"memsafe {check}: {TITLES.get(check, check)}"
        text = message(artifact.path, result)
        lines.append(
            _command(COMMAND[result["outcome"]], artifact.path, title, text, root, workspace)
        )
    for artifact in artifacts:
        if artifact.info["error"]:
            text = f"{artifact.path}: not checked: {artifact.info['error']}"
            lines.append(
                _command(
                    "error", artifact.path, "memsafe: unreadable binary", text, root, workspace
                )
            )
    return lines


def _command(kind: str, path: str, title: str, text: str, root: Path, workspace: str | None) -> str:
    file, _ = split_member(repo_path(path, root, workspace))
    return (
        f"::{kind} file={escape_property(file)},line=1,title={escape_property(title)}"
        f"::{escape_data(text)}"
    )


def step_summary(
    artifacts: list[ArtifactReport],
    checks: tuple[str, ...],
    project: dict[str, Any] | None = None,
    *,
    limit: int = SUMMARY_LIMIT,
) -> str:
    """The run as GitHub-flavoured Markdown, cut at a line boundary to fit ``limit`` bytes
    (and then saying so)."""
    lines = ["## pytest-memsafe", ""]
    if artifacts:
        lines += _table(artifacts, checks)
    else:
        lines.append("No compiled extensions or shared libraries found.")
    if project is not None:
        lines += ["", "### Languages", "", escape_markdown(project_figure(project))]
    return _fit(lines, limit)


def append_step_summary(
    path: Path,
    artifacts: list[ArtifactReport],
    checks: tuple[str, ...],
    project: dict[str, Any] | None = None,
) -> None:
    """Append the summary to ``path``, keeping what other steps wrote, within what is left of
    GitHub's limit."""
    used = path.stat().st_size if path.exists() else 0
    separator = "\n" if used else ""
    text = step_summary(artifacts, checks, project, limit=SUMMARY_LIMIT - used - len(separator))
    with path.open("a", encoding="utf-8") as handle:
        handle.write(separator + text)


def _table(artifacts: list[ArtifactReport], checks: tuple[str, ...]) -> list[str]:
    counts = summarize(artifacts)
    lines = [
        f"{counts['artifacts']} binaries: {counts['failed']} failed checks, {counts['warned']} "
        f"advisory, {counts['xfailed']} accepted, {counts['passed']} passed; "
        f"{counts['errors']} unreadable binaries.",
    ]
    groups = by_format(artifacts, checks)
    for group in groups:
        heading = [f"### {escape_markdown(group.title)}", ""] if len(groups) > 1 else []
        lines += ["", *heading]
        lines += [_row(["binary", *group.checks]), _row(["---"] * (len(group.checks) + 1))]
        for path, *cells in matrix(group.artifacts, group.checks):
            bold = [f"**{cell}**" if cell in LOUD else escape_markdown(cell) for cell in cells]
            lines.append(_row([escape_markdown(path), *bold]))
    lines += ["", f"Legend: {escape_markdown(LEGEND)}"]
    lines += _findings("Failing checks", findings(artifacts, "failed"))
    lines += _findings("Advisory findings", findings(artifacts, "warned"))
    errors = [a for a in artifacts if a.info["error"]]
    if errors:
        lines += ["", "### Unreadable binaries", ""]
        lines += [
            f"- {escape_markdown(a.path)}: {escape_markdown(a.info['error'])}" for a in errors
        ]
    return lines


def _findings(heading: str, found: Iterable[tuple[ArtifactReport, dict[str, Any]]]) -> list[str]:
    lines = []
    for artifact, result in found:
        lines.append(
            f"- {escape_markdown(artifact.path)} **{result['check']}**: "
            f"{escape_markdown(result['summary'])}"
        )
        if result.get("remediation"):
            lines.append(f"  - fix: {escape_markdown(result['remediation'])}")
    return ["", f"### {heading}", "", *lines] if lines else []


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _fit(lines: list[str], limit: int) -> str:
    """``lines`` as text of at most ``limit`` UTF-8 bytes, cut at a line with a note."""
    text = "\n".join(lines) + "\n"
    if len(text.encode()) <= limit:
        return text
    note = (
        "**Truncated:** {} of {} lines fit in GitHub's 1 MiB step summary; the terminal "
        "output and the JSON and SARIF reports have every finding."
    )
    budget = limit - len(note.format(len(lines), len(lines)).encode()) - 2
    kept: list[str] = []
    size = 0
    for line in lines:
        size += len(line.encode()) + 1
        if size > budget:
            break
        kept.append(line)
    return "\n".join([*kept, "", note.format(len(kept), len(lines))]) + "\n"
