"""Core value types shared by every layer (stdlib only; imports nothing from the package)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "Artifact",
    "BinaryFormat",
    "Fact",
    "FactValue",
    "Origin",
    "Outcome",
    "Severity",
    "Status",
    "Verdict",
]

FactValue = str | int | float | bool | None | tuple[str, ...]
Fact = tuple[str, FactValue]


class BinaryFormat(str, enum.Enum):
    """Container format of a binary, from its magic bytes."""

    ELF = "elf"
    PE = "pe"
    MACHO = "macho"

    @property
    def label(self) -> str:
        """How people write the format's name: ``ELF``, ``PE``, ``Mach-O``."""
        return "Mach-O" if self is BinaryFormat.MACHO else self.name


class Status(str, enum.Enum):
    """What the evidence shows for one check."""

    PASS = "pass"
    FAIL = "fail"
    NOT_APPLICABLE = "not_applicable"
    UNKNOWN = "unknown"


class Severity(str, enum.Enum):
    """What policy makes of a ``fail``: fail the suite, warn, or not run the check."""

    ERROR = "error"
    WARNING = "warning"
    OFF = "off"


class Outcome(str, enum.Enum):
    """What pytest shows for one item (the JSON ``outcome`` field)."""

    PASSED = "passed"
    WARNED = "warned"
    FAILED = "failed"
    SKIPPED = "skipped"
    XFAILED = "xfailed"
    ERROR = "error"


Origin = Literal["tree", "arg", "dist", "wheel"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """The pure result of one check on one binary's evidence."""

    check_id: str
    status: Status
    summary: str
    """One line: what was found, e.g. ``partial RELRO: PT_GNU_RELRO present, no BIND_NOW``."""
    level: str | None = None
    """Graded result (``none``/``partial``/``full`` for relro), pure evidence."""
    facts: tuple[Fact, ...] = ()
    """The evidence values that justify the verdict, in a stable order."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Artifact:
    """One binary to check: where it is and how reports name it."""

    path: str
    """Absolute filesystem path of the file (symlinks resolved)."""
    display: str
    """Stable name for node ids and reports: rootdir-relative posix path where possible."""
    origin: Origin
    format: BinaryFormat | None = field(default=None)
    """Format from the magic bytes; ``None`` when the file could not be read at all."""
    problem: str | None = None
    """Why the file cannot be checked (unreadable, broken symlink), found at discovery."""
    member: str | None = None
    """For a wheel member: its name inside the wheel at ``path``."""
    slice: str | None = None
    """For one image of a universal Mach-O file: its slice name (``arm64``, ``x86_64``)."""

    @property
    def key(self) -> str:
        """Identifies the file (or the wheel member, or the slice) however it was reached."""
        key = f"{self.path}!{self.member}" if self.member is not None else self.path
        return f"{key}[{self.slice}]" if self.slice is not None else key
