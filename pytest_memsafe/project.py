"""The project-wide language figure: how much of all compiled code is memory-safe.

Policy layer: pure arithmetic over per-artifact language profiles; no I/O, no pytest.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .checks.language import LanguageProfile

__all__ = ["ProjectShare", "project_share"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ProjectShare:
    """Memory-safe languages across every binary of the run."""

    artifacts: int
    safe_artifacts: int
    """Binaries whose every language (cgo-style runtime glue aside) is memory-safe."""
    code_bytes: int
    """Bytes of executable segments over all binaries."""
    safe_bytes: int
    """Their memory-safe part, by each binary's measured shares."""
    unmeasured: int
    """Mixed binaries whose shares could not be measured (counted as not safe)."""

    @property
    def share(self) -> float:
        """Memory-safe share of all compiled code (0 when there is none)."""
        return round(self.safe_bytes / self.code_bytes, 4) if self.code_bytes else 0.0

    def sentence(self) -> str:
        """The one line shown in the terminal and in the item's result."""
        tail = f" ({self.unmeasured} mixed binaries not measurable)" if self.unmeasured else ""
        return (
            f"{self.safe_artifacts} of {self.artifacts} binaries are in memory-safe languages; "
            f"{self.share:.1%} of compiled code by bytes{tail}"
        )

    def as_report(self) -> dict[str, object]:
        """The JSON summary's ``language`` object."""
        return {
            "artifacts": self.artifacts,
            "safe_artifacts": self.safe_artifacts,
            "code_bytes": self.code_bytes,
            "safe_bytes": self.safe_bytes,
            "safe_share": self.share,
            "unmeasured": self.unmeasured,
        }


def project_share(
    profiles: Iterable[tuple[LanguageProfile, int]], safe_languages: frozenset[str]
) -> ProjectShare:
    """Combine ``(profile, code bytes)`` of every binary into the project figure."""
    artifacts = safe_artifacts = code = safe = unmeasured = 0
    for profile, size in profiles:
        artifacts += 1
        code += size
        all_safe = bool(profile.languages) and set(profile.languages) <= safe_languages
        safe_artifacts += all_safe
        share = profile.share_of(safe_languages)
        if share is None:
            share = 1.0 if all_safe else 0.0
            unmeasured += not all_safe and len(profile.languages) > 1
        safe += round(size * share)
    return ProjectShare(
        artifacts=artifacts,
        safe_artifacts=safe_artifacts,
        code_bytes=code,
        safe_bytes=safe,
        unmeasured=unmeasured,
    )
