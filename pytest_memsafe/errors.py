"""The package's one exception family (imports only pytest, for the warning category)."""

from __future__ import annotations

import pytest

__all__ = [
    "MalformedBinaryError",
    "MemsafeError",
    "MemsafeWarning",
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


class MemsafeWarning(pytest.PytestWarning):
    """An advisory check failed, or a setting needs attention (filter with ``-W``)."""
