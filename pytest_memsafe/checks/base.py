"""What a check is: its spec (registry row), its parameters and verdict constructors.

Checks layer: imports the model and evidence *types* only; never a parser, pytest or policy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from ..model import BinaryFormat, Fact, Severity, Status, Verdict

__all__ = [
    "RELRO_LEVELS",
    "CheckFunction",
    "CheckParams",
    "CheckSpec",
    "verdict",
]

RELRO_LEVELS: Final = ("none", "partial", "full")


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckParams:
    """The thresholds that checks compare evidence against (from the settings)."""

    relro_min: str = "partial"
    """Lowest RELRO level that passes: one of :data:`RELRO_LEVELS`."""
    fortify_min_ratio: float = 0.0
    """Share of fortifiable imports that must use the ``__*_chk`` variant (above zero)."""
    rpath_allow: tuple[str, ...] = ()
    """Absolute RPATH/RUNPATH entries (fnmatch patterns) that are accepted."""
    language_policy: str = "any"
    """``any`` (report only), ``memory-safe`` or ``rust-only``."""
    safe_languages: frozenset[str] = frozenset({"rust", "go"})
    """Languages that count as memory-safe under the ``memory-safe`` policy."""
    min_safe_share: float = 0.0
    """Share of an artifact's machine code that must be in a safe language."""
    language_unknown: str = "fail"
    """What an unidentified language does under a strict policy: ``fail`` or ``skip``."""
    allowed_languages: frozenset[str] = frozenset()
    """Languages a waiver allows in this artifact (set per artifact from the settings)."""


CheckFunction = Callable[[Any, CheckParams], Verdict]
"""A pure function from one format's evidence record to a verdict."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckSpec:
    """One row of the check catalogue."""

    id: str
    """Stable kebab-case id: the node id suffix, the config key and the report key."""
    title: str
    rationale: str
    """Why the property matters for a Python extension module, one or two sentences."""
    remediation: str
    """The compiler or linker flags that fix a failure (for ELF, or any format without an
    entry in :attr:`remediations`)."""
    default_severity: Severity
    impls: Mapping[BinaryFormat, CheckFunction]
    levels: tuple[str, ...] = ()
    """Ordered levels for a graded check, worst first."""
    recommended_level: str | None = None
    """A level above the default minimum that earns a warning when not reached."""
    references: tuple[str, ...] = ()
    remediations: Mapping[BinaryFormat, str] = field(default_factory=dict)
    """The fix for formats whose toolchains spell it differently."""

    def fix(self, fmt: BinaryFormat | None) -> str:
        """The remediation for binaries of ``fmt``."""
        return self.remediations.get(fmt, self.remediation) if fmt else self.remediation


def verdict(
    check_id: str,
    status: Status,
    summary: str,
    *facts: Fact,
    level: str | None = None,
) -> Verdict:
    """Build a :class:`Verdict` with its facts in the given order."""
    return Verdict(check_id=check_id, status=status, summary=summary, level=level, facts=facts)
