"""pytest nodes: one :class:`ArtifactFile` per binary, one :class:`CheckItem` per check."""

from __future__ import annotations

import functools
import json
import linecache
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pytest

from .baseline import Baseline
from .checks import CheckSpec, specs_for
from .checks.language import LanguageProfile, classify, code_bytes, forget_profiles
from .errors import MalformedBinaryError
from .evidence import Evidence, EvidenceCache
from .evidence.ahead import ParseAhead
from .evidence.elf_records import ElfEvidence
from .model import Artifact, BinaryFormat, Outcome
from .needed import resolve_needed
from .policy import Finding, judge
from .project import project_share
from .settings import Settings
from .warning import MemsafeWarning
from .wheels import wheel_tags

if TYPE_CHECKING:
    from _pytest._code.code import ExceptionInfo, TerminalRepr

__all__ = [
    "PROJECT_PROPERTY",
    "PROPERTY",
    "ArtifactFacts",
    "ArtifactFile",
    "CheckItem",
    "ContainerFile",
    "ProjectCollector",
    "ProjectItem",
    "RunState",
    "artifact_record",
    "failure_text",
]

PROPERTY: Final = "memsafe"
"""``user_properties`` key of the per-item record (travels to the xdist controller)."""
PROJECT_PROPERTY: Final = "memsafe-project"
"""``user_properties`` key of the project-level language figure."""
DEFAULT_FORMAT: Final = BinaryFormat.ELF
"""Checks an unreadable file is reported under (its format is unknown)."""
SORTED_JSON: Final = json.JSONEncoder(sort_keys=True).encode
"""``json.dumps(value, sort_keys=True)`` without building an encoder per call."""


@dataclass(slots=True)
class RunState:
    """Per-process state of an enabled run, kept in ``config.stash``."""

    settings: Settings
    rootdir: Path
    baseline: Baseline | None = None
    """Accepted findings, when a baseline file exists or is being recorded."""
    cache: EvidenceCache = field(default_factory=EvidenceCache)
    ahead: ParseAhead | None = None
    """The parse-ahead helper of this run, if one was started."""
    artifacts: dict[str, Artifact] = field(default_factory=dict)
    """Artifacts collected in this process, by :attr:`Artifact.key` (no double counting)."""
    _needed: dict[str, list[dict[str, str | None]]] = field(default_factory=dict)
    _displays: frozenset[str] | None = None
    """Display paths of every checked artifact (known once the items run)."""
    _described: dict[str, tuple[Evidence, ArtifactFacts]] = field(default_factory=dict)

    def release(self) -> None:
        """Drop every binary's evidence once the run is over (pytest collects garbage
        several times at exit, walking whatever is still held)."""
        self.cache.clear()
        self._described.clear()
        self._needed.clear()
        forget_profiles()

    def needed(self, artifact: Artifact, evidence: Evidence) -> list[dict[str, str | None]]:
        """The artifact's NEEDED libraries and the checked files they resolve to (once each;
        items run after collection, so the set of checked files no longer changes)."""
        if artifact.key not in self._needed:
            if self._displays is None:
                self._displays = frozenset(other.display for other in self.artifacts.values())
            self._needed[artifact.key] = resolve_needed(evidence, artifact.display, self._displays)
        return self._needed[artifact.key]

    def facts(self, artifact: Artifact, evidence: Evidence) -> ArtifactFacts:
        """What every item of ``artifact`` reports about it, worked out by its first item
        (again when the file changed and was parsed anew)."""
        known = self._described.get(artifact.key)
        if known is not None and known[0] is evidence:
            return known[1]
        record = artifact_record(artifact, evidence, None, self.needed(artifact, evidence))
        facts = ArtifactFacts(
            extension=record["kind"] == "extension",
            record_json=SORTED_JSON(record),
            # remembered: classify's own memo holds only the last few
            profile=classify(evidence) if isinstance(evidence, ElfEvidence) else None,
            code_bytes=code_bytes(evidence) if isinstance(evidence, ElfEvidence) else 0,
        )
        self._described[artifact.key] = (evidence, facts)
        return facts


@dataclass(frozen=True, slots=True)
class ArtifactFacts:
    """Per-artifact results shared by its items (no per-item scans of the evidence)."""

    extension: bool
    """It exports ``PyInit_*`` (an extension module, not a vendored library)."""
    record_json: str
    """:func:`artifact_record` of the readable artifact, serialized (sorted keys)."""
    profile: LanguageProfile | None
    """Its languages (``memsafe::language-share`` reads every artifact's at the end);
    ``None`` for formats without language provenance (ELF only so far)."""
    code_bytes: int


def artifact_record(
    artifact: Artifact,
    evidence: Evidence | None,
    error: str | None,
    needed: list[dict[str, str | None]] | None = None,
) -> dict[str, Any]:
    """The JSON report's description of one artifact (without results)."""
    kind = None
    if evidence is not None:
        kind = "extension" if evidence.is_python_extension else "library"
    return {
        "kind": kind,
        "needed": needed,
        "path": artifact.display,
        "origin": artifact.origin,
        "format": artifact.format.value if artifact.format else None,
        "machine": evidence.machine if evidence is not None else None,
        "sha256": evidence.sha256 if evidence is not None else None,
        "error": error,
        "languages": (
            classify(evidence).as_report() if isinstance(evidence, ElfEvidence) else None
        ),
        "wheel": wheel_tags(Path(artifact.path)) if artifact.origin == "wheel" else None,
    }


class CheckFailed(Exception):
    """A required check failed; :meth:`CheckItem.repr_failure` prints it without traceback."""


class ArtifactFile(pytest.File):
    """One binary; yields a :class:`CheckItem` for each enabled check of its format."""

    def __init__(self, *, artifact: Artifact, state: RunState, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.artifact = artifact
        self.state = state
        self._evidence: Evidence | MalformedBinaryError | None = None

    def evidence(self) -> Evidence:
        """The binary's evidence as its first item read it (raises
        :class:`MalformedBinaryError`): every check of one binary judges the same snapshot,
        and the later ones skip the lookup."""
        if self._evidence is None:
            try:
                self._evidence = self.state.cache.get(self.artifact)
            except MalformedBinaryError as exc:
                self._evidence = exc
        if isinstance(self._evidence, MalformedBinaryError):
            raise self._evidence
        return self._evidence

    def teardown(self) -> None:
        self._evidence = None  # after its last item; the run's cache still holds it

    def collect(self) -> list[CheckItem]:
        fmt = self.artifact.format or DEFAULT_FORMAT
        enabled = self.state.settings.enabled_checks
        return [
            CheckItem.from_parent(self, name=spec.id, spec=spec)
            for spec in specs_for(fmt)
            if spec.id in enabled
        ]


class MemsafeItem(pytest.Item):
    """What every memsafe item shares: failures without traceback, a memsafe headline."""

    def repr_failure(
        self, excinfo: ExceptionInfo[BaseException], style: Any = None
    ) -> str | TerminalRepr:
        if isinstance(excinfo.value, CheckFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int, str]:
        # A line number is required by Node.warn(); binaries have none, so use 0.
        return self.path, 0, f"[memsafe] {self.nodeid}"


class ContainerFile(pytest.File):
    """A file named on the command line that holds several binaries (a wheel's members, a
    universal Mach-O file's slices): one :class:`ArtifactFile` per binary."""

    def __init__(
        self, *, members: Callable[[], list[Artifact]], state: RunState, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.members = members
        self.state = state

    def collect(self) -> list[ArtifactFile]:
        fresh = [
            artifact for artifact in self.members() if artifact.key not in self.state.artifacts
        ]
        self.state.artifacts.update((artifact.key, artifact) for artifact in fresh)
        return [
            ArtifactFile.from_parent(
                self, path=self.path, nodeid=artifact.display, artifact=artifact, state=self.state
            )
            for artifact in fresh
        ]


@functools.cache
def _memsafe_mark(check: str, fmt: str) -> pytest.MarkDecorator:
    """``pytest.mark.memsafe(check=..., format=...)``, built once per pair: marks are
    immutable, and building one per item goes through pytest's marker lookup each time."""
    return pytest.mark.memsafe(check=check, format=fmt)


class CheckItem(MemsafeItem):
    """One check of one binary: ``<artifact>::<check id>``."""

    def __init__(self, *, spec: CheckSpec, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = spec
        self.evidence: Evidence | None = None
        assert isinstance(self.parent, ArtifactFile)
        self.artifact_file = self.parent
        artifact = self.parent.artifact
        self.add_marker(_memsafe_mark(spec.id, (artifact.format or DEFAULT_FORMAT).value))

    def _record(self, result: dict[str, Any] | None, error: str | None) -> None:
        """Attach the item's JSON record: ``{"artifact": ..., "result": ...}``, sorted keys.

        The artifact part is serialized once per artifact and spliced in (what
        ``json.dumps(record, sort_keys=True)`` would write), so a passing item costs one
        small encoding of its result.
        """
        artifact, state = self.artifact_file.artifact, self.artifact_file.state
        if self.evidence is None:
            described = SORTED_JSON(artifact_record(artifact, None, error))
        else:
            described = state.facts(artifact, self.evidence).record_json
        text = f'{{"artifact": {described}, "result": {SORTED_JSON(result)}}}'
        self.user_properties.append((PROPERTY, text))

    def dependents(self) -> list[str]:
        """Display paths of the checked binaries whose NEEDED resolve to this one."""
        state, me = self.artifact_file.state, self.artifact_file.artifact.display
        users = []
        for artifact in state.artifacts.values():
            try:
                evidence = state.cache.get(artifact)
            except MalformedBinaryError:
                continue
            if any(entry["vendored"] == me for entry in state.needed(artifact, evidence)):
                users.append(artifact.display)
        return sorted(users)

    def setup(self) -> None:
        try:
            self.evidence = self.artifact_file.evidence()
            return
        except MalformedBinaryError as exc:
            problem = exc
        # Outside the except block, so the report shows one line and no exception chain.
        self._record(None, problem.detail)
        pytest.fail(f"[memsafe] cannot check {problem}", pytrace=False)

    def teardown(self) -> None:
        self.evidence = None  # the run's cache holds it while other items may need it

    def runtest(self) -> None:
        assert self.evidence is not None
        state = self.artifact_file.state
        artifact = self.artifact_file.artifact
        impl = self.spec.impls[artifact.format or DEFAULT_FORMAT]
        verdict = impl(self.evidence, state.settings.params_for(artifact.display))
        library = not state.facts(artifact, self.evidence).extension
        finding = judge(
            verdict,
            self.spec,
            artifact.display,
            state.settings,
            state.baseline,
            library=library,
            fmt=artifact.format,
        )
        self._record(finding.as_report(self.spec), None)
        _RAISE[finding.outcome](self, finding)


def failure_text(spec: CheckSpec, finding: Finding) -> str:
    """The few lines shown for a failed check: evidence, why it matters, the fix."""
    verdict = finding.verdict
    facts = ", ".join(f"{name}={_fact_text(value)}" for name, value in verdict.facts)
    return "\n".join(
        [
            f"{spec.title}: {verdict.summary}",
            f"  evidence: {facts}" if facts else "  evidence: (none)",
            f"  why it matters: {spec.rationale}",
            f"  fix: {finding.remediation or spec.remediation}",
        ]
    )


def _fact_text(value: object) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)


def _fail(item: CheckItem, finding: Finding) -> None:
    text = failure_text(item.spec, finding)
    assert item.evidence is not None
    if not item.artifact_file.state.facts(item.artifact_file.artifact, item.evidence).extension:
        users = item.dependents()
        text += f"\n  a vendored library, needed by: {', '.join(users) or '(no checked extension)'}"
    raise CheckFailed(text)


def _warn(item: CheckItem, finding: Finding) -> None:
    # Node.warn names the warning after the item's location (the binary, relative to the
    # rootdir); pytest's summary would look its line up as source (linecache stats the name
    # along sys.path, opens the file and reads it as text, per warning). No source lines.
    filename = item.location[0]
    linecache.cache.setdefault(filename, (0, None, [], filename))
    item.warn(MemsafeWarning(f"{item.artifact_file.artifact.display}: {finding.note}"))


def _xfail(item: CheckItem, finding: Finding) -> None:
    pytest.xfail(finding.note or "waived")


def _skip(item: CheckItem, finding: Finding) -> None:
    pytest.skip(finding.note or finding.verdict.summary)


def _pass(item: CheckItem, finding: Finding) -> None:
    return None


_RAISE: Final = {
    Outcome.FAILED: _fail,
    Outcome.WARNED: _warn,
    Outcome.XFAILED: _xfail,
    Outcome.SKIPPED: _skip,
    Outcome.PASSED: _pass,
}
"""How each outcome is shown to pytest."""


class ProjectCollector(pytest.Collector):
    """The project-level node ``memsafe``, holding the ``language-share`` item."""

    def __init__(self, *, state: RunState, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.state = state

    def collect(self) -> list[ProjectItem]:
        return [ProjectItem.from_parent(self, name="language-share")]


class ProjectItem(MemsafeItem):
    """``memsafe::language-share``: N of M binaries memory-safe, X% of code by bytes.

    Like pytest-mypy's status item, it sees every binary of the run (each parsed once per
    process), so its answer does not depend on which items ran before it.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_marker(pytest.mark.memsafe(check="language-share", format="project"))

    def runtest(self) -> None:
        assert isinstance(self.parent, ProjectCollector)
        state = self.parent.state
        profiles = []
        for artifact in state.artifacts.values():
            try:
                evidence = state.cache.get(artifact)
            except MalformedBinaryError:
                continue  # reported as an error by the binary's own items
            facts = state.facts(artifact, evidence)
            if facts.profile is None:
                continue  # language provenance is read from ELF files only
            profiles.append((facts.profile, facts.code_bytes))
        figure = project_share(profiles, state.settings.params.safe_languages)
        self.user_properties.append((PROJECT_PROPERTY, json.dumps(figure.as_report())))
        minimum = state.settings.min_project_safe_share
        if figure.share < minimum:
            raise CheckFailed(
                f"Project memory-safe share: {figure.sentence()}\n"
                f"  required: at least {minimum:.1%} (memsafe_min_project_safe_share)\n"
                "  fix: move code to a memory-safe language (memsafe_safe_languages)"
            )
