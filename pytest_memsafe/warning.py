"""The pytest warning category of pytest-memsafe (``pytest_memsafe.errors.MemsafeWarning``
names the same class)."""

from __future__ import annotations

import pytest

__all__ = ["MemsafeWarning"]


class MemsafeWarning(pytest.PytestWarning):
    """An advisory check failed, or a setting needs attention (filter with ``-W``)."""

    __module__ = "pytest_memsafe.errors"
