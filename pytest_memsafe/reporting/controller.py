"""The controller-side plugin: gathers item records, prints the summary, writes the reports
(JSON, SARIF, the GitHub step summary) and prints GitHub annotations.

Registered only outside xdist workers, so every report is produced exactly once.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ..collect import PROJECT_PROPERTY, PROPERTY
from ..settings import Settings
from .github import annotation_commands, append_step_summary, repo_path
from .json_report import build_report, write_json
from .records import ArtifactReport, group_records
from .sarif import build_sarif
from .terminal import render_summary

__all__ = ["MemsafeReporter"]

Writer = Callable[[Path, list[ArtifactReport]], None]


class MemsafeReporter:
    """Collects ``memsafe`` user properties from every test report (xdist-safe)."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.records: dict[str, str] = {}
        """Latest record per node id (setup errors and call results)."""
        self.written: list[str] = []
        self.write_errors: list[str] = []
        self.project: dict[str, Any] | None = None
        """The project-level language figure, once its item has run."""
        self._grouped: list[ArtifactReport] | None = None
        """:meth:`artifacts` until the next record arrives (the reports each read it)."""

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for name, value in report.user_properties:
            if name == PROPERTY:
                self.records[report.nodeid] = str(value)
                self._grouped = None
            elif name == PROJECT_PROPERTY:
                self.project = json.loads(str(value))

    def artifacts(self) -> list[ArtifactReport]:
        """The records gathered so far, grouped per artifact (parsed once; do not modify)."""
        if self._grouped is None:
            self._grouped = group_records(self.records[nodeid] for nodeid in sorted(self.records))
        return self._grouped

    def _outputs(self) -> list[tuple[str, Path | None, Writer]]:
        """Every file this run may write: (label, path or None when off, writer)."""
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        return [
            ("JSON report", self.settings.json_path, self._write_json),
            ("SARIF report", self.settings.sarif_path, self._write_sarif),
            ("GitHub step summary", Path(summary) if summary else None, self._append_summary),
        ]

    def _write_json(self, path: Path, artifacts: list[ArtifactReport]) -> None:
        from .. import __version__

        report = build_report(artifacts, self.settings.as_report(), __version__, self.project)
        write_json(path, report)

    def _write_sarif(self, path: Path, artifacts: list[ArtifactReport]) -> None:
        from .. import __version__

        rootdir, workspace = self.config.rootpath, os.environ.get("GITHUB_WORKSPACE")
        sarif = build_sarif(
            artifacts,
            __version__,
            severities=self.settings.severities,
            locate=lambda display: repo_path(display, rootdir, workspace),
        )
        write_json(path, sarif)

    def _append_summary(self, path: Path, artifacts: list[ArtifactReport]) -> None:
        append_step_summary(path, artifacts, self.settings.enabled_checks, self.project)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        artifacts = self.artifacts()
        for label, path, write in self._outputs():
            if path is None:
                continue
            try:
                write(path, artifacts)
            except OSError as exc:
                self.write_errors.append(f"cannot write the {label} {path}: {exc.strerror or exc}")
            else:
                self.written.append(f"{label}: {path}")
        if os.environ.get("GITHUB_ACTIONS") == "true":
            workspace = os.environ.get("GITHUB_WORKSPACE")
            for line in annotation_commands(artifacts, workspace, self.config.rootpath):
                sys.stderr.write(line + "\n")
        if self.write_errors:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        terminalreporter.section("memsafe")
        for line in render_summary(self.artifacts(), self.settings.enabled_checks, self.project):
            terminalreporter.write_line(line)
        for line in self.written:
            terminalreporter.write_line(line)
        for error in self.write_errors:
            terminalreporter.write_line(f"ERROR: {error}", red=True)
