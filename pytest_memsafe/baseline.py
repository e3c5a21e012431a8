"""The baseline: accepted findings, so CI fails on regressions only (policy layer).

The file is text, one finding per line, sorted, for clean diffs::

    # pytest-memsafe baseline v1: accepted findings, one per line: MODULE CHECK LEVEL
    pkg/_speedups canary fail
    pkg/_speedups relro partial

``MODULE`` is :func:`~pytest_memsafe.identity.module_identity` (no ABI tag, no layout
prefix), so one baseline serves a whole CPython matrix and both in-tree and installed
layouts. ``LEVEL`` is the graded level of a graded check (``relro``, ``fortify``) and
``fail`` otherwise; a level worse than the recorded one is a new finding.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from .checks import get_spec
from .errors import SettingsError
from .identity import module_identity

__all__ = [
    "HEADER",
    "Baseline",
    "BaselineKey",
    "baseline_level",
    "fixed",
    "load_baseline",
    "observed",
    "render",
    "updated",
]

HEADER: Final = (
    "# pytest-memsafe baseline v1: accepted findings, one per line: MODULE CHECK LEVEL\n"
    "# Update with: pytest --memsafe --memsafe-update-baseline\n"
)
_LINE: Final = re.compile(r"^(\S+) ([a-z][a-z0-9-]*) ([a-z0-9+_.-]+)$")

BaselineKey = tuple[str, str]
"""(module identity, check id)."""


def baseline_level(level: str | None, levels: tuple[str, ...]) -> str:
    """What a failing finding records: its graded level when the check is graded, else fail."""
    return level if level is not None and level in levels else "fail"


@dataclass(frozen=True, slots=True)
class Baseline:
    """Accepted findings: (module, check) -> recorded level."""

    entries: Mapping[BaselineKey, str]
    path: Path | None = None

    def compare(
        self, key: BaselineKey, level: str, levels: tuple[str, ...]
    ) -> tuple[str, str | None]:
        """``("unchanged", recorded)`` when the finding is accepted, else ``("new", recorded)``.

        A graded finding is accepted at its recorded level or better; worse is new.
        """
        recorded = self.entries.get(key)
        if recorded is None:
            return "new", None
        if recorded == level or level not in levels or recorded not in levels:
            return ("unchanged" if recorded == level else "new"), recorded
        worse = levels.index(level) < levels.index(recorded)
        return ("new" if worse else "unchanged"), recorded


def load_baseline(path: Path) -> Baseline:
    """Read a baseline file; a missing file is an empty baseline.

    Raises :class:`SettingsError` (a usage error) for a corrupt or hand-broken file, naming
    each bad line: it is never silently ignored or overwritten.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Baseline(entries={}, path=path)
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError([f"memsafe_baseline: cannot read {path}: {exc}"]) from exc
    entries: dict[BaselineKey, str] = {}
    problems = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        match = _LINE.match(line.strip())
        if match is None:
            problems.append(
                f"memsafe_baseline: {path}:{number}: {line!r} is not 'MODULE CHECK LEVEL'"
            )
            continue
        module, check, level = match.groups()
        if (module, check) in entries:
            problems.append(f"memsafe_baseline: {path}:{number}: {module} {check} appears twice")
        entries[module, check] = level
    if problems:
        problems.append(
            "memsafe_baseline: fix or delete the file, then rerun with --memsafe-update-baseline"
        )
        raise SettingsError(problems)
    return Baseline(entries=entries, path=path)


def render(entries: Iterable[tuple[BaselineKey, str]]) -> str:
    """The file text: the header, then one sorted line per entry."""
    lines = sorted(f"{module} {check} {level}" for (module, check), level in entries)
    return HEADER + "".join(f"{line}\n" for line in lines)


def observed(findings: Iterable[tuple[str, Mapping[str, object]]]) -> dict[BaselineKey, str | None]:
    """(module, check) -> the level a baseline would record, or None when it did not fail.

    ``findings`` pairs an artifact's display path with one JSON result of this run.
    """
    seen: dict[BaselineKey, str | None] = {}
    for display, result in findings:
        key = (module_identity(display), str(result["check"]))
        failing = result.get("baseline") is not None
        level = result.get("level")
        recorded = (
            baseline_level(str(level) if level is not None else None, get_spec(key[1]).levels)
            if failing
            else None
        )
        if seen.get(key) is None:  # several layouts of one module: any failure counts
            seen[key] = recorded
    return seen


def fixed(baseline: Baseline, seen: Mapping[BaselineKey, str | None]) -> list[BaselineKey]:
    """Baseline entries whose check ran in this run and no longer fails."""
    return sorted(key for key in baseline.entries if key in seen and seen[key] is None)


def updated(baseline: Baseline, seen: Mapping[BaselineKey, str | None]) -> dict[BaselineKey, str]:
    """The new baseline: this run's failures, plus old entries this run did not check."""
    kept = {key: level for key, level in baseline.entries.items() if key not in seen}
    return {**kept, **{key: level for key, level in seen.items() if level is not None}}
