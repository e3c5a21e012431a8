"""The pytest entry point ``memsafe``: options, the marker, and nothing else until
``--memsafe`` is given. Then :mod:`.active` (discovery, the evidence layer, parsers, checks,
reports) is imported and registered, so a run without the flag imports none of it.
"""

from __future__ import annotations

from typing import Final

import pytest

__all__ = ["DEFAULT_BASELINE", "INI_OPTIONS"]

DEFAULT_BASELINE: Final = "memsafe-baseline.txt"
"""Baseline file name in the rootdir, used when it exists or when the baseline is updated."""

INI_OPTIONS: Final[dict[str, tuple[str, str]]] = {
    "memsafe_severity": ("linelist", "CHECK=error|warning|off lines (defaults in the README)"),
    "memsafe_relro_min": ("string", "lowest RELRO level that passes: partial, full or none"),
    "memsafe_fortify_min_ratio": ("float", "share (0-1) of fortifiable calls to be fortified"),
    "memsafe_rpath_allow": ("linelist", "absolute RPATH/RUNPATH entries (globs) to accept"),
    "memsafe_paths": ("paths", "where to look for binaries (default: the rootdir)"),
    "memsafe_exclude": ("linelist", "globs of binaries to leave out (path or file name)"),
    "memsafe_waivers": ("linelist", "accepted failures: 'GLOB | CHECK[,CHECK] | REASON' lines"),
    "memsafe_unknown": ("string", "what an unknown verdict does: skip (default) or fail"),
    "memsafe_json": ("string", "write the JSON report to this path"),
    "memsafe_sarif": ("string", "write a SARIF 2.1.0 report to this path"),
    "memsafe_dists": ("args", "installed distributions to check ('none': not even the project's)"),
    "memsafe_wheels": ("args", "wheel files whose binaries are checked without installing them"),
    "memsafe_vendored": ("string", "vendored libraries' failures: fail (default) or warn"),
    "memsafe_baseline": ("string", f"accepted findings file (default: {DEFAULT_BASELINE})"),
    "memsafe_baseline_strict": ("string", "fail when baseline entries are fixed: true|false"),
    "memsafe_policy": ("string", "language policy: any (default), memory-safe or rust-only"),
    "memsafe_safe_languages": ("args", "languages that count as memory-safe (default: rust go)"),
    "memsafe_min_safe_share": ("float", "per binary: share (0-1) of code in safe languages"),
    "memsafe_min_project_safe_share": ("float", "all binaries: share (0-1) of code, by bytes"),
    "memsafe_language_unknown": ("string", "unknown language under a strict policy: fail|skip"),
    "memsafe_language_waivers": ("linelist", "'GLOB | LANGUAGE[,LANGUAGE] | REASON' lines"),
    "memsafe_parse_ahead": ("string", "parse binaries in a helper process: auto, on or off"),
}
"""ini options: name -> (pytest ini type, help)."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("memsafe", "binary hardening checks (pytest-memsafe)")
    group.addoption(
        "--memsafe",
        action="store_true",
        default=False,
        help="check every compiled extension under the rootdir (or the given paths)",
    )
    group.addoption("--memsafe-json", metavar="PATH", default=None, help="write the JSON report")
    group.addoption(
        "--memsafe-sarif", metavar="PATH", default=None, help="write a SARIF 2.1.0 report"
    )
    group.addoption(
        "--memsafe-wheel", action="append", dest="memsafe_wheels", metavar="WHEEL",
        default=None, help="check the binaries inside a wheel file, in memory; repeatable",
    )  # fmt: skip
    group.addoption(
        "--memsafe-dist", action="append", dest="memsafe_dists", metavar="NAME", default=None,
        help="check the compiled files of an installed distribution; repeatable",
    )  # fmt: skip
    group.addoption(
        "--memsafe-baseline", metavar="PATH", default=None,
        help=f"accepted findings file (default: {DEFAULT_BASELINE} in the rootdir, if present)",
    )  # fmt: skip
    group.addoption(
        "--memsafe-update-baseline", action="store_true", default=False,
        help="write this run's failing findings to the baseline file",
    )  # fmt: skip
    group.addoption(
        "--memsafe-baseline-strict", action="store_true", default=None,
        help="fail the run when baseline entries no longer fail",
    )  # fmt: skip
    group.addoption(
        "--memsafe-severity",
        action="append",
        metavar="CHECK=LEVEL",
        default=None,
        help="override a check's severity (error, warning, off); repeatable",
    )
    group.addoption(
        "--memsafe-relro-min", metavar="LEVEL", default=None, help="partial, full or none"
    )
    group.addoption(
        "--memsafe-exclude",
        action="append",
        metavar="GLOB",
        default=None,
        help="leave out binaries matching GLOB; repeatable",
    )
    group.addoption("--memsafe-unknown", metavar="skip|fail", default=None, help="treat unknown as")
    group.addoption(
        "--memsafe-policy", metavar="POLICY", default=None,
        help="language policy: any, memory-safe or rust-only",
    )  # fmt: skip
    group.addoption(
        "--memsafe-parse-ahead", metavar="auto|on|off", default=None,
        help="parse binaries in a helper process while the items run (default: auto)",
    )  # fmt: skip
    for name, (kind, help_text) in INI_OPTIONS.items():
        parser.addini(name, help_text, type=kind, default=None)  # type: ignore[arg-type]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "memsafe(check, format): a binary hardening check item (pytest-memsafe)"
    )
    if not config.getoption("memsafe"):
        return
    from . import active

    active.configure(config)  # before registering: its hooks need the run's state
    config.pluginmanager.register(active, "memsafe-active")
