"""The hooks of a ``--memsafe`` run: configuration, collection of binaries, the end of the
run. Imported and registered by :mod:`.plugin` only when the flag is given.
"""

from __future__ import annotations

import fnmatch
import gc
import os
import sys
from collections.abc import Generator
from dataclasses import replace
from importlib.metadata import version
from pathlib import Path
from typing import Any, Final

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from . import __version__
from .baseline import Baseline, load_baseline
from .collect import ArtifactFile, ContainerFile, ProjectCollector, RunState
from .discovery import discover, display_path, inspect_file, is_candidate_name
from .distributions import dist_artifacts, installed
from .errors import SettingsError
from .evidence import LOADERS, EvidenceCache, EvidenceStore
from .evidence.ahead import MIN_AHEAD_BYTES, ParseAhead, usable_cpus
from .model import Artifact, BinaryFormat
from .plugin import DEFAULT_BASELINE, INI_OPTIONS
from .reporting.controller import MemsafeReporter
from .reporting.gate import MemsafeGate
from .settings import Settings, parse_settings
from .warning import MemsafeWarning
from .wheels import wheel_artifacts

__all__ = ["STATE"]

STATE: Final = pytest.StashKey[RunState]()
TOOL_TABLE_KEYS: Final = frozenset({"waivers"})
"""Keys of ``[tool.memsafe]``: structured data that flat ini options cannot hold."""
LANGUAGE_AWARE: Final = frozenset({"language", "canary", "fortify", "cet"})
"""Checks that consult language provenance (the rest never pay for reading it)."""


def _raw_settings(
    config: pytest.Config, pyproject: dict[str, Any]
) -> tuple[dict[str, object], list[str]]:
    """Option values, command line over ini, and the ini values pytest could not read."""
    problems: list[str] = []
    raw: dict[str, object] = {}
    for name in INI_OPTIONS:
        try:
            raw[name.removeprefix("memsafe_")] = config.getini(name)
        except (TypeError, ValueError) as exc:
            problems.append(f"{name}: {exc}")
    cli = config.option
    for key in ("severity", "exclude", "dists", "wheels"):  # repeatable: CLI adds to ini
        raw[key] = [*(raw.get(key) or ()), *(getattr(cli, f"memsafe_{key}") or ())]  # type: ignore[misc]
    raw["update_baseline"] = cli.memsafe_update_baseline
    table, table_problems = _memsafe_table(pyproject)
    problems += table_problems
    raw["toml_waivers"] = table.get("waivers")
    for key in (
        "json", "relro_min", "unknown", "policy", "sarif", "baseline", "baseline_strict",
        "parse_ahead",
    ):  # fmt: skip
        value = getattr(cli, f"memsafe_{key}")
        if value is not None:
            raw[key] = value
    return raw, problems


def _pyproject(config: pytest.Config) -> tuple[dict[str, Any], list[str]]:
    """The project's pyproject.toml (the ini file's, else the rootdir's), parsed once."""
    inipath = config.inipath
    path = inipath if inipath and inipath.name == "pyproject.toml" else None
    path = path or config.rootpath / "pyproject.toml"
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle), []
    except FileNotFoundError:
        return {}, []
    except (OSError, tomllib.TOMLDecodeError) as exc:
        return {}, [f"[tool.memsafe]: cannot read {path}: {exc}"]


def _memsafe_table(data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``[tool.memsafe]``: structured data that flat ini options cannot hold."""
    table = data.get("tool", {}).get("memsafe", {})
    unknown = sorted(set(table) - TOOL_TABLE_KEYS)
    if unknown:
        return table, [
            f"[tool.memsafe]: unknown key(s) {', '.join(unknown)}; valid keys: "
            f"{', '.join(sorted(TOOL_TABLE_KEYS))} (other options go in [tool.pytest.ini_options])"
        ]
    return table, []


def _dists(config: pytest.Config, settings: Settings, project: dict[str, Any]) -> list[str]:
    """Installed distributions to check: the configured ones, else the project's own when
    it is installed here (as in a cibuildwheel test step) and no path was named."""
    if settings.dists == ("none",):
        return []
    if settings.dists:
        missing = [name for name in settings.dists if not installed(name)]
        if missing:
            raise pytest.UsageError(
                f"pytest-memsafe: memsafe_dists: {', '.join(missing)} not installed in "
                f"{sys.prefix} (give installed distribution names, or 'none')"
            )
        return list(settings.dists)
    name = project.get("project", {}).get("name")
    explicit = config.args_source is pytest.Config.ArgsSource.ARGS
    return [name] if isinstance(name, str) and not explicit and installed(name) else []


def _evidence_store(config: pytest.Config, worthwhile: bool) -> EvidenceStore | None:
    """Evidence kept across runs in pytest's cache dir (``--cache-clear`` empties it).

    Only when parsing costs more than hashing the file for the lookup: with language
    signals or a report hash to compute. None under ``-p no:cacheprovider``.
    """
    pytest_cache = getattr(config, "cache", None)
    if pytest_cache is None or not worthwhile:
        return None
    try:
        return EvidenceStore(pytest_cache.mkdir("memsafe-evidence"))
    except OSError:  # an unwritable cache dir: parse on every run
        return None


def _start_parse_ahead(config: pytest.Config, state: RunState) -> None:
    """Start the parse-ahead helper (:mod:`.evidence.ahead`) as soon as discovery has named
    the binaries, so it works while pytest builds the items, when it can save time: not on
    an xdist worker (the workers already parse side by side), not for ``--collect-only``."""
    if hasattr(config, "workerinput") or config.option.collectonly or state.ahead is not None:
        return
    mode = state.settings.parse_ahead
    if mode == "off" or state.cache.store is None or (mode == "auto" and usable_cpus() < 2):
        return
    files: dict[str, tuple[BinaryFormat, int]] = {}
    for artifact in state.artifacts.values():  # in discovery order, which the items keep
        fmt = artifact.format
        if artifact.member or artifact.problem or fmt is None or artifact.path in files:
            continue
        stat = state.cache.unstored(artifact.path, fmt)
        files[artifact.path] = (fmt, -1 if stat is None else stat.st_size)
    pending = [(path, fmt, size) for path, (fmt, size) in files.items() if size >= 0]
    if mode == "auto" and sum(size for _, _, size in pending) < MIN_AHEAD_BYTES:
        return
    state.ahead = ParseAhead.start(state.cache, pending)
    if state.ahead is not None:
        state.cache.waiter = state.ahead.wait_for
        config.add_cleanup(state.ahead.close)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """On an xdist worker, hand the evidence counters to the controller."""
    config = session.config
    if STATE in config.stash and hasattr(config, "workeroutput"):
        cache = config.stash[STATE].cache
        config.workeroutput["memsafe_evidence"] = [cache.parses, cache.store_hits]


def _load_baseline(settings: Settings) -> Baseline | None:
    """The baseline in force: the file if it exists, or an empty one being recorded."""
    path = settings.baseline_path
    if path is None or not (path.exists() or settings.update_baseline):
        return None
    try:
        return load_baseline(path)
    except SettingsError as exc:
        lines = "\n  ".join(exc.problems)
        raise pytest.UsageError(f"pytest-memsafe: invalid baseline:\n  {lines}") from None


def configure(config: pytest.Config) -> None:
    """Validate the configuration and set up the run's state (called from
    :func:`.plugin.pytest_configure` when ``--memsafe`` is given)."""
    # Cleanups run last-registered first: the entry point is registered after pytest's own
    # plugins, so its configure (a plain hookimpl, like the unraisable-exception plugin's)
    # runs first and this cleanup after pytest's exit collections (see pytest_unconfigure).
    config.add_cleanup(gc.unfreeze)
    pyproject, problems = _pyproject(config)
    raw, more_problems = _raw_settings(config, pyproject)
    problems += more_problems
    try:
        settings = parse_settings(raw)
    except SettingsError as exc:
        problems += exc.problems
    if problems:
        lines = "\n  ".join(problems)
        raise pytest.UsageError(f"pytest-memsafe: invalid configuration:\n  {lines}")
    here = config.invocation_params.dir
    settings = replace(
        settings,
        json_path=here / settings.json_path if settings.json_path else None,
        sarif_path=here / settings.sarif_path if settings.sarif_path else None,
        baseline_path=here / settings.baseline_path
        if settings.baseline_path
        else config.rootpath / DEFAULT_BASELINE,
    )
    for waiver in settings.expired_waivers:
        config.issue_config_time_warning(
            MemsafeWarning(
                f"waiver '{waiver.label}' expired on {waiver.until}: no longer applied "
                f"(reason was: {waiver.reason})"
            ),
            stacklevel=2,
        )
    digest = settings.json_path is not None or settings.sarif_path is not None
    language = bool(LANGUAGE_AWARE.intersection(settings.enabled_checks))
    config.stash[_DISTS] = _dists(config, settings, pyproject)
    config.stash[STATE] = RunState(
        settings=settings,
        baseline=_load_baseline(settings),
        rootdir=Path(os.path.abspath(config.rootpath)),
        cache=EvidenceCache(
            digest=digest, language=language, store=_evidence_store(config, digest or language)
        ),
    )
    if not hasattr(config, "workerinput"):
        reporter = MemsafeReporter(config, settings)
        config.pluginmanager.register(reporter, "memsafe-reporter")
        gate = MemsafeGate(reporter, settings, config.stash[STATE])
        config.pluginmanager.register(gate, "memsafe-gate")


def pytest_unconfigure(config: pytest.Config) -> None:
    """Drop the run's evidence, then collect garbage once and freeze what survives: pytest's
    cleanup collects five more times (for unraisable exceptions), and each would walk the
    whole heap again. Nothing is hidden from those collections (whatever is garbage now is
    collected here, under pytest's own unraisable-exception hook), and the last cleanup,
    registered in :func:`configure` before pytest's, unfreezes it all."""
    if STATE in config.stash:
        config.stash[STATE].release()
        gc.collect()
        gc.freeze()


def pytest_report_header(config: pytest.Config) -> str | None:
    if STATE not in config.stash:
        return None
    return f"memsafe: pytest-memsafe {__version__}, pyelftools {version('pyelftools')}"


# -- collection ---------------------------------------------------------------------------


def _explicit_args(config: pytest.Config) -> list[tuple[Path, str]]:
    """Paths named on the command line (without ``::`` parts), with their spelling."""
    if config.args_source is not pytest.Config.ArgsSource.ARGS:
        return []
    base = config.invocation_params.dir
    named = []
    for arg in config.args:
        spelled = arg.split("::", 1)[0]
        named.append((Path(os.path.abspath(base / spelled)), spelled))
    return named


def _targets(config: pytest.Config, state: RunState) -> list[tuple[Path, str]]:
    """Directories to discover binaries in: explicit directory args, else the settings."""
    if config.args_source is pytest.Config.ArgsSource.ARGS:
        return [(path, spelled) for path, spelled in _explicit_args(config) if path.is_dir()]
    roots = state.settings.paths or (state.rootdir,)
    return [
        (Path(os.path.abspath(root)), display_path(Path(os.path.abspath(root)), state.rootdir))
        for root in roots
    ]


def _binary_only_roots(config: pytest.Config) -> list[Path]:
    """Explicit directory args that pytest would never walk for tests on its own.

    Below these (site-packages, build trees, virtualenvs, ``norecursedirs``), pytest's own
    collection is switched off so that no third-party test module or ``__init__.py`` is
    imported; memsafe discovery alone looks there.
    """
    patterns = config.getini("norecursedirs")
    roots = []
    for path, _ in _explicit_args(config):
        if not path.is_dir():
            continue
        chain = [path, *path.parents]
        if any(
            part.name in ("site-packages", "dist-packages")
            or (part / "pyvenv.cfg").is_file()
            or any(fnmatch.fnmatch(part.name, pattern) for pattern in patterns)
            for part in chain
            if part.name
        ):
            roots.append(path)
    return roots


_BINARY_ROOTS: Final = pytest.StashKey[list[Path]]()
_DISTS: Final = pytest.StashKey[list[str]]()


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if STATE not in config.stash:
        return None
    if _BINARY_ROOTS not in config.stash:
        config.stash[_BINARY_ROOTS] = _binary_only_roots(config)
    path = Path(os.path.abspath(collection_path))
    if any(root in path.parents for root in config.stash[_BINARY_ROOTS]):
        return True
    return None


def _artifact_node(session: pytest.Session, state: RunState, artifact: Artifact) -> ArtifactFile:
    """A collector for one binary, parented on the session.

    The session parent keeps pytest ``Package`` nodes (whose setup imports ``__init__.py``)
    out of the item's chain, so checking a binary never imports the package around it.
    """
    state.artifacts[artifact.key] = artifact
    return ArtifactFile.from_parent(
        session, path=Path(artifact.path), nodeid=artifact.display, artifact=artifact, state=state
    )


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    config = parent.config
    if STATE not in config.stash or not parent.session.isinitpath(file_path):
        return None
    wheel = file_path.suffix == ".whl"
    if not (wheel or is_candidate_name(file_path.name)):
        return None
    state = config.stash[STATE]
    absolute = Path(os.path.abspath(file_path))
    spelled = next((s for p, s in _explicit_args(config) if p == absolute), str(file_path))
    display = display_path(absolute, state.rootdir, (absolute, spelled))
    if wheel:  # a wheel named on the command line (``--memsafe-wheel dist/*.whl`` expands so)
        return ContainerFile.from_parent(
            parent.session,
            path=absolute,
            nodeid=display,
            members=lambda: wheel_artifacts(absolute, display, formats=LOADERS.keys()),
            state=state,
        )
    found = inspect_file(absolute, display, "arg")
    if not found:
        warning = MemsafeWarning(f"{display} is not a binary: not checked")
        config.issue_config_time_warning(warning, 2)
        return None
    if len(found) > 1:  # a universal Mach-O file: one node per slice
        return ContainerFile.from_parent(
            parent.session, path=absolute, nodeid=display, members=lambda: found, state=state
        )
    if found[0].key in state.artifacts:
        return None
    return _artifact_node(parent.session, state, found[0])


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, Any, Any]:
    report = yield
    config = collector.config
    if not isinstance(collector, pytest.Session) or STATE not in config.stash or not report.passed:
        return report
    state = config.stash[STATE]
    artifacts = discover(
        _targets(config, state),
        rootdir=state.rootdir,
        formats=LOADERS.keys(),
        exclude=state.settings.exclude,
        origin="arg" if config.args_source is pytest.Config.ArgsSource.ARGS else "tree",
    )
    dists: list[str] = config.stash[_DISTS]
    artifacts += dist_artifacts(dists, formats=LOADERS.keys())
    for wheel in state.settings.wheels:
        absolute = Path(os.path.abspath(config.invocation_params.dir / wheel))
        shown = display_path(absolute, state.rootdir, (absolute, str(wheel)))
        artifacts += wheel_artifacts(absolute, shown, formats=LOADERS.keys())
    named_files = {os.path.realpath(path) for path, _ in _explicit_args(config) if path.is_file()}
    for artifact in artifacts:  # a file reached twice (editable install, tree) is checked once
        if artifact.key not in state.artifacts and artifact.key not in named_files:
            report.result.append(_artifact_node(collector, state, artifact))
    if "language" in state.settings.enabled_checks and artifacts:
        report.result.append(
            ProjectCollector.from_parent(collector, name="memsafe", nodeid="memsafe", state=state)
        )
    _start_parse_ahead(config, state)
    return report
