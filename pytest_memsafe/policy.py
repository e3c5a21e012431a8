"""Policy: what a verdict means for this project (severity, waivers, levels) -> Finding.

Policy layer: imports the model, the registry and settings; never a parser or pytest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, NamedTuple

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
    ruling = _judge(verdict, spec, display, settings, baseline, library, fix)
    return Finding(
        verdict=verdict,
        outcome=ruling.outcome,
        note=ruling.note,
        baseline=ruling.baseline,
        waiver=ruling.waiver,
        remediation=fix,
    )


class _Ruling(NamedTuple):
    """What :func:`judge` decided, before it becomes the :class:`Finding` (built once)."""

    outcome: Outcome
    note: str | None = None
    baseline: str | None = None
    waiver: str | None = None


def _judge(
    verdict: Verdict,
    spec: CheckSpec,
    display: str,
    settings: Settings,
    baseline: Baseline | None,
    library: bool,
    fix: str,
) -> _Ruling:
    severity = settings.severities[spec.id]
    failing = verdict.status is Status.FAIL or (
        verdict.status is Status.UNKNOWN and settings.unknown == "fail"
    )
    if failing:
        waiver = settings.waiver_for(display, spec.id)
        if waiver is not None:
            return _Ruling(Outcome.XFAILED, f"waived: {waiver.reason}", waiver=waiver.label)
        if severity is Severity.ERROR and not (library and settings.vendored == "warn"):
            return _against_baseline(verdict, spec, display, settings, baseline)
        return _Ruling(Outcome.WARNED, f"{spec.id}: {verdict.summary}")
    if verdict.status in (Status.NOT_APPLICABLE, Status.UNKNOWN):
        return _Ruling(Outcome.SKIPPED, f"{verdict.status.value}: {verdict.summary}")
    if spec.recommended_level and verdict.level not in (None, spec.recommended_level):
        recommended = spec.recommended_level
        note = f"{spec.id}: {verdict.summary}; {recommended} is recommended ({fix})"
        return _Ruling(Outcome.WARNED, note)
    return _PASSED


_PASSED: Final = _Ruling(Outcome.PASSED)


def _against_baseline(
    verdict: Verdict, spec: CheckSpec, display: str, settings: Settings, baseline: Baseline | None
) -> _Ruling:
    """A required check failed: failed, unless the baseline accepts it (or is being written)."""
    if baseline is None:
        return _Ruling(Outcome.FAILED)
    level = baseline_level(verdict.level, spec.levels)
    state, recorded = baseline.compare((module_identity(display), spec.id), level, spec.levels)
    if settings.update_baseline:
        note = "recorded in the baseline (--memsafe-update-baseline)"
        return _Ruling(Outcome.XFAILED, note, baseline=state)
    if state == "unchanged":
        return _Ruling(Outcome.XFAILED, f"in baseline ({level})", baseline=state)
    if recorded is not None:
        note = f"worse than the baseline: {recorded} -> {level}"
        return _Ruling(Outcome.FAILED, note, baseline=state)
    return _Ruling(Outcome.FAILED, baseline=state)
