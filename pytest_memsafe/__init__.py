"""pytest-memsafe: prove in the test suite that a project's compiled extensions are hardened.

The public API is what this module exports; everything else may change between releases.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from .model import Artifact, BinaryFormat, Outcome, Severity, Status, Verdict

__all__ = ["Artifact", "BinaryFormat", "Outcome", "Severity", "Status", "Verdict", "__version__"]

try:
    __version__ = version("pytest-memsafe")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
