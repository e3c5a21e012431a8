"""Policy: what a verdict means for this project (severity, waivers, levels) -> Finding.

Policy layer: imports the model, the registry and settings; never a parser or pytest.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from .baseline import Baseline, baseline_level
from .checks import CheckSpec
from .identity import module_identity
from .model import BinaryFormat, Outcome, Severity, Status, Verdict
from .settings import Settings

__all__ = ["Finding", "judge"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """A verdict with what pytest shows for it and why."""

    verdict: Verdict
    outcome: Outcome
    note: str | None = None
    """The waiver reason, skip reason or warning text behind a non-plain outcome."""
    baseline: str | None = None
    """With a baseline in use, for a failing finding: ``new`` or ``unchanged`` (SARIF's
    ``baselineState``); ``None`` without a baseline or for a passing check."""
    waiver: str | None = None
    """The waiver that accepted this finding (its ``GLOB | CHECKS`` label)."""
    remediation: str = ""
    """The fix for this binary's format (:meth:`CheckSpec.fix`)."""

    def as_report(self, spec: CheckSpec) -> dict[str, object]:
        """The JSON report's entry in ``results``."""
        v = self.verdict
        return {
            "check": v.check_id,
            "status": v.status.value,
            "level": v.level,
            "outcome": self.outcome.value,
            "summary": v.summary,
            "facts": {
                name: list(value) if isinstance(value, tuple) else value for name, value in v.facts
            },
            "remediation": self.remediation if self.outcome is not Outcome.PASSED else None,
            "note": self.note,
            "baseline": self.baseline,
            "waiver": self.waiver,
        }


def judge(
    verdict: Verdict,
    spec: CheckSpec,
    display: str,
    settings: Settings,
    baseline: Baseline | None = None,
    *,
    library: bool = False,
    fmt: BinaryFormat | None = None,
) -> Finding:
    """Map one verdict to an outcome under the project's settings and baseline.

    ``library``: a shared library that is not an extension module (a vendored one), whose
    failures only warn when ``memsafe_vendored = warn``. ``fmt`` picks the remediation.
    """
    fix = spec.fix(fmt)
    made = functools.partial(Finding, verdict=verdict, remediation=fix)
    severity = settings.severities[spec.id]
    failing = verdict.status is Status.FAIL or (
        verdict.status is Status.UNKNOWN and settings.unknown == "fail"
    )
    if failing:
        waiver = settings.waiver_for(display, spec.id)
        if waiver is not None:
            note = f"waived: {waiver.reason}"
            return made(outcome=Outcome.XFAILED, note=note, waiver=waiver.label)
        if severity is Severity.ERROR and not (library and settings.vendored == "warn"):
            return _against_baseline(made, verdict, spec, display, settings, baseline)
        return made(outcome=Outcome.WARNED, note=f"{spec.id}: {verdict.summary}")
    if verdict.status in (Status.NOT_APPLICABLE, Status.UNKNOWN):
        return made(outcome=Outcome.SKIPPED, note=f"{verdict.status.value}: {verdict.summary}")
    if spec.recommended_level and verdict.level not in (None, spec.recommended_level):
        recommended = spec.recommended_level
        note = f"{spec.id}: {verdict.summary}; {recommended} is recommended ({fix})"
        return made(outcome=Outcome.WARNED, note=note)
    return made(outcome=Outcome.PASSED)


MakeFinding = Callable[..., Finding]
"""``Finding(...)`` with the verdict and the remediation already given (built once)."""


def _against_baseline(
    made: MakeFinding,
    verdict: Verdict,
    spec: CheckSpec,
    display: str,
    settings: Settings,
    baseline: Baseline | None,
) -> Finding:
    """A required check failed: failed, unless the baseline accepts it (or is being written)."""
    if baseline is None:
        return made(outcome=Outcome.FAILED)
    level = baseline_level(verdict.level, spec.levels)
    state, recorded = baseline.compare((module_identity(display), spec.id), level, spec.levels)
    if settings.update_baseline:
        note = "recorded in the baseline (--memsafe-update-baseline)"
        return made(outcome=Outcome.XFAILED, note=note, baseline=state)
    if state == "unchanged":
        return made(outcome=Outcome.XFAILED, note=f"in baseline ({level})", baseline=state)
    if recorded is not None:
        note = f"worse than the baseline: {recorded} -> {level}"
        return made(outcome=Outcome.FAILED, note=note, baseline=state)
    return made(outcome=Outcome.FAILED, baseline=state)
