"""The package's one exception family (no pytest import: the evidence layer and the
parse-ahead helper use it without pytest; :class:`MemsafeWarning`, a pytest warning category,
lives in :mod:`.warning` and is also reachable here, as the README's ``-W`` filters name it)."""

from __future__ import annotations

from typing import Any

__all__ = [
    "MalformedBinaryError",
    "MemsafeError",
    "SettingsError",
]


class MemsafeError(Exception):
    """Base class of every error pytest-memsafe raises on purpose."""


class MalformedBinaryError(MemsafeError):
    """A binary could not be read or parsed; its items are reported as ERROR."""

    def __init__(self, path: str, detail: str) -> None:
        super().__init__(f"{path}: {detail}")
        self.path = path
        self.detail = detail


class SettingsError(MemsafeError):
    """One or more configuration values are invalid; all problems are listed."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def __getattr__(name: str) -> Any:
    if name == "MemsafeWarning":
        from .warning import MemsafeWarning

        return MemsafeWarning
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
