"""Per-item records gathered on the controller, grouped per artifact for the reports."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ArtifactReport", "group_records"]


@dataclass(slots=True)
class ArtifactReport:
    """One artifact's description and the results of its checks."""

    info: dict[str, Any]
    results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def path(self) -> str:
        """The artifact's display path."""
        return str(self.info["path"])

    def as_json(self) -> dict[str, Any]:
        """The JSON report's artifact object (results only when the file could be read)."""
        results = sorted(self.results, key=lambda result: str(result["check"]))
        return {**self.info, "results": [] if self.info["error"] else results}


def group_records(records: Iterable[str]) -> list[ArtifactReport]:
    """Group serialized item records by artifact path, sorted by path."""
    grouped: dict[str, ArtifactReport] = {}
    for text in records:
        record = json.loads(text)
        info = record["artifact"]
        entry = grouped.get(info["path"])
        if entry is None:
            entry = grouped[info["path"]] = ArtifactReport(info=info)
        elif info["machine"] and not entry.info["machine"]:
            entry.info = info
        if record["result"] is not None:
            entry.results.append(record["result"])
    return [grouped[path] for path in sorted(grouped)]
