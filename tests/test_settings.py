"""Settings validation: defaults, precedence inputs, and every problem reported at once."""

from __future__ import annotations

import pytest

from pytest_memsafe.checks import CHECK_IDS
from pytest_memsafe.errors import SettingsError
from pytest_memsafe.model import Severity
from pytest_memsafe.settings import parse_settings


def test_defaults_fail_only_on_what_is_unambiguously_wrong() -> None:
    settings = parse_settings({})
    errors = {cid for cid, sev in settings.severities.items() if sev is Severity.ERROR}
    warnings = {cid for cid, sev in settings.severities.items() if sev is Severity.WARNING}
    assert errors == {
        "relro", "nx", "pic", "rpath", "wx", "loadable", "language", "aslr", "safeseh",
        "code-signature",
    }  # fmt: skip
    assert warnings == {
        "canary", "fortify", "cet", "cfg", "pie", "hardened-runtime", "pagezero", "restrict"
    }  # fmt: skip
    assert settings.params.relro_min == "partial"
    assert settings.unknown == "skip"
    assert settings.enabled_checks == CHECK_IDS
    assert settings.params.language_policy == "any"  # reports languages, never fails


def test_severity_lines_override_defaults_and_off_disables() -> None:
    settings = parse_settings({"severity": ["canary = error", "cet=off", "*=warning", "nx=error"]})
    assert settings.severities["canary"] is Severity.WARNING  # "*" came later
    assert settings.severities["nx"] is Severity.ERROR
    assert "cet" in settings.enabled_checks  # "*=warning" re-enabled it


def test_every_problem_is_reported_together() -> None:
    with pytest.raises(SettingsError) as caught:
        parse_settings(
            {
                "severity": ["relro", "nosuch=error", "nx="],
                "relro_min": "most",
                "fortify_min_ratio": "lots",
                "waivers": ["*.so | relro", "*.so | relro | "],
                "unknown": "maybe",
            }
        )
    problems = "\n".join(caught.value.problems)
    assert len(caught.value.problems) == 8, problems
    for needle in (
        "'relro' is not CHECK=LEVEL",
        "unknown check id(s) nosuch",
        "'nx=' is not CHECK=LEVEL",
        "memsafe_relro_min: invalid value 'most'; choose from partial, full, none",
        "memsafe_fortify_min_ratio: invalid value 'lots'",
        "must be 'GLOB | CHECK[,CHECK] | REASON [| until YYYY-MM-DD]' (the reason is required)",
        "memsafe_unknown: invalid value 'maybe'; choose from skip, fail",
    ):
        assert needle in problems


def test_waiver_matches_display_path_or_file_name_and_named_checks() -> None:
    settings = parse_settings({"waivers": ["_legacy*.so | canary, fortify | vendored C, #7"]})
    waiver = settings.waiver_for("src/pkg/_legacy.abi3.so", "canary")
    assert waiver is not None and waiver.reason == "vendored C, #7"
    assert settings.waiver_for("src/pkg/_legacy.abi3.so", "relro") is None
    assert settings.waiver_for("src/pkg/_other.abi3.so", "canary") is None


def test_numeric_ratio_from_toml_is_accepted() -> None:
    assert parse_settings({"fortify_min_ratio": 0.5}).params.fortify_min_ratio == 0.5
