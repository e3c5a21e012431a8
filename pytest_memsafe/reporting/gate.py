"""The CI gate on the controller: baseline upkeep and waiver hygiene, after every item ran.

Registered beside :class:`~pytest_memsafe.reporting.controller.MemsafeReporter` (whose
records it reads), only outside xdist workers, so the baseline is written once.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from ..baseline import Baseline, fixed, observed, render, updated
from ..collect import RunState
from ..files import write_atomic
from ..settings import Settings
from .controller import MemsafeReporter

__all__ = ["MemsafeGate"]


class MemsafeGate:
    """Reports fixed baseline entries (failing in strict mode), rewrites the baseline on
    request, and names expired and unused waivers."""

    def __init__(self, reporter: MemsafeReporter, settings: Settings, state: RunState) -> None:
        self.reporter = reporter
        self.settings = settings
        self.baseline: Baseline | None = state.baseline
        self.cache = state.cache
        self.state = state
        self.worker_counts = [0, 0]
        """Files parsed and evidence-cache hits reported by xdist workers."""
        self.lines: list[str] = []
        """What the terminal summary shows."""
        self.failed = False

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        counts = getattr(node, "workeroutput", {}).get("memsafe_evidence", (0, 0))
        self.worker_counts = [a + b for a, b in zip(self.worker_counts, counts, strict=True)]

    def _findings(self) -> Iterator[tuple[str, Mapping[str, object]]]:
        """(artifact display path, one result) for every check that ran."""
        for artifact in self.reporter.artifacts():
            for result in artifact.results:
                yield artifact.path, result

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        findings = list(self._findings())
        self._check_waivers(findings)
        self._check_baseline(findings)
        parses = self.cache.parses + self.worker_counts[0]
        hits = self.cache.store_hits + self.worker_counts[1]
        line = f"evidence: {parses} files parsed, {hits} from the evidence cache"
        ahead = self.state.ahead
        if ahead is not None:
            done = ahead.finish()
            line += (
                " (the parse-ahead helper was stopped before it reported)"
                if done is None
                else f" ({done} parsed ahead by a helper process)"
            )
        self.lines.append(line)
        if self.failed:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def _check_baseline(self, findings: list[tuple[str, Mapping[str, object]]]) -> None:
        if self.baseline is None or self.baseline.path is None:
            return
        seen = observed(findings)
        if self.settings.update_baseline:
            entries = updated(self.baseline, seen)
            try:
                write_atomic(self.baseline.path, render(entries.items()))
            except OSError as exc:
                self._fail(f"cannot write the baseline {self.baseline.path}: {exc}")
            else:
                self.lines.append(
                    f"baseline written: {self.baseline.path} ({len(entries)} accepted findings)"
                )
            return
        accepted = sum(1 for _, result in findings if result.get("baseline") == "unchanged")
        new = sum(1 for _, result in findings if result.get("baseline") == "new")
        self.lines.append(f"baseline {self.baseline.path}: {accepted} accepted, {new} new or worse")
        gone = fixed(self.baseline, seen)
        for module, check in gone:
            self.lines.append(f"  fixed: {module} {check} — remove it from the baseline")
        if gone and self.settings.baseline_strict:
            self._fail(
                f"{len(gone)} baseline entries no longer fail (memsafe_baseline_strict): "
                "remove them, or rerun with --memsafe-update-baseline"
            )

    def _check_waivers(self, findings: list[tuple[str, Mapping[str, object]]]) -> None:
        used = {result.get("waiver") for _, result in findings}
        for waiver in self.settings.expired_waivers:
            self.lines.append(
                f"waiver expired on {waiver.until}, no longer applied: {waiver.label}"
                f" ({waiver.reason})"
            )
        for waiver in self.settings.waivers:
            if waiver.label not in used:
                self.lines.append(f"waiver matched no failing check (stale?): {waiver.label}")

    def _fail(self, message: str) -> None:
        self.failed = True
        self.lines.append(f"ERROR: {message}")

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.lines:
            return
        terminalreporter.section("memsafe gate")  # baseline, waivers, evidence cache
        for line in self.lines:
            terminalreporter.write_line(line, red=line.startswith("ERROR"))
