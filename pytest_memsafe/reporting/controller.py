"""The controller-side plugin: gathers item records, prints the summary, writes reports.

Registered only outside xdist workers, so every report is produced exactly once.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from ..collect import PROJECT_PROPERTY, PROPERTY
from ..settings import Settings
from .json_report import build_report, write_json
from .records import group_records
from .terminal import render_summary

__all__ = ["MemsafeReporter"]


class MemsafeReporter:
    """Collects ``memsafe`` user properties from every test report (xdist-safe)."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.records: dict[str, str] = {}
        """Latest record per node id (setup errors and call results)."""
        self.write_error: str | None = None
        self.project: dict[str, Any] | None = None
        """The project-level language figure, once its item has run."""

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for name, value in report.user_properties:
            if name == PROPERTY:
                self.records[report.nodeid] = str(value)
            elif name == PROJECT_PROPERTY:
                self.project = json.loads(str(value))

    def report_data(self) -> dict[str, Any]:
        """The JSON report of this run."""
        from .. import __version__

        artifacts = group_records(self.records[nodeid] for nodeid in sorted(self.records))
        return build_report(artifacts, self.settings.as_report(), __version__, self.project)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        path = self.settings.json_path
        if path is None:
            return
        try:
            write_json(path, self.report_data())
        except OSError as exc:
            self.write_error = f"cannot write the JSON report {path}: {exc.strerror or exc}"
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        artifacts = group_records(self.records[nodeid] for nodeid in sorted(self.records))
        terminalreporter.section("memsafe")
        for line in render_summary(artifacts, self.settings.enabled_checks, self.project):
            terminalreporter.write_line(line)
        if self.settings.json_path is not None and self.write_error is None:
            terminalreporter.write_line(f"JSON report: {self.settings.json_path}")
        if self.write_error is not None:
            terminalreporter.write_line(f"ERROR: {self.write_error}", red=True)
