"""Installed distributions: their compiled files, found through ``importlib.metadata``.

Discovery layer: reads RECORD (``Distribution.files``) and sniffs each candidate's magic
bytes; nothing is imported from the distribution and nothing is parsed.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Collection, Iterable
from pathlib import Path

from .discovery import inspect_file, is_candidate_name
from .model import Artifact, BinaryFormat

__all__ = ["dist_artifacts", "installed"]


def installed(name: str) -> bool:
    """Whether a distribution of this name is installed in the running environment."""
    try:
        importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def dist_artifacts(names: Iterable[str], *, formats: Collection[BinaryFormat]) -> list[Artifact]:
    """Every binary a distribution installed, shown by its RECORD path (``pkg/_x.abi3.so``).

    Files RECORD places outside the install root (``../../bin/...``) and files that are not
    binaries of ``formats`` are left out. Raises ``PackageNotFoundError`` for a name that is
    not installed.
    """
    found: list[Artifact] = []
    for name in names:
        for record in importlib.metadata.distribution(name).files or ():
            posix = record.as_posix()
            if posix.startswith("../") or not is_candidate_name(record.name):
                continue
            found.extend(
                artifact
                for artifact in inspect_file(Path(str(record.locate())), posix, "dist")
                if artifact.format is None or artifact.format in formats
            )
    return sorted(found, key=lambda artifact: artifact.display)
