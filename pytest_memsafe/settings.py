"""Settings: raw option values -> one validated, frozen :class:`Settings` (policy layer).

Every problem is collected and reported at once in a :class:`SettingsError`; pytest is not
imported here (the plugin gathers the raw values and turns the error into a UsageError).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Final, Literal

from .checks import CHECK_IDS, REGISTRY, CheckParams
from .checks.language import LANGUAGES
from .errors import SettingsError
from .model import Severity

__all__ = ["UNKNOWN_CHOICES", "Settings", "Waiver", "parse_settings"]

UNKNOWN_CHOICES: Final = ("skip", "fail")
POLICY_CHOICES: Final = ("any", "memory-safe", "rust-only")
ParseAhead = Literal["auto", "on", "off"]
PARSE_AHEAD_CHOICES: Final[dict[str, ParseAhead]] = {"auto": "auto", "on": "on", "off": "off"}
"""``memsafe_parse_ahead`` values (the first is the default)."""
SEVERITY_CHOICES: Final = tuple(severity.value for severity in Severity)


@dataclass(frozen=True, slots=True, kw_only=True)
class Waiver:
    """An accepted exception: artifacts matching ``pattern`` may fail ``checks`` (a check
    waiver) or contain ``checks`` as languages (a language waiver)."""

    pattern: str
    checks: frozenset[str]
    """Check ids or language names, or ``*`` for all."""
    reason: str
    until: date | None = None
    """Last day the waiver applies; after it, the waiver is reported as expired."""

    @property
    def label(self) -> str:
        """How reports name the waiver: ``GLOB | CHECK,CHECK``."""
        return f"{self.pattern} | {','.join(sorted(self.checks))}"

    def matches(self, display: str) -> bool:
        """Whether the artifact's display path or file name matches the glob."""
        name = display.rsplit("/", 1)[-1]
        return fnmatch.fnmatchcase(display, self.pattern) or fnmatch.fnmatchcase(name, self.pattern)

    def covers(self, display: str, check_id: str) -> bool:
        """Whether this waiver applies to one artifact's check (or language)."""
        return self.matches(display) and ("*" in self.checks or check_id in self.checks)


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Effective configuration of one run (command line > ini > defaults)."""

    severities: Mapping[str, Severity]
    """Severity of every check id (``off`` checks produce no items)."""
    params: CheckParams = field(default_factory=CheckParams)
    paths: tuple[Path, ...] = ()
    """Where to look for binaries when no path is given on the command line."""
    exclude: tuple[str, ...] = ()
    waivers: tuple[Waiver, ...] = ()
    """Waivers in force today."""
    expired_waivers: tuple[Waiver, ...] = ()
    """Waivers past their ``until`` date: no longer applied, reported by name."""
    unknown: Literal["skip", "fail"] = "skip"
    json_path: Path | None = None
    sarif_path: Path | None = None
    vendored: Literal["fail", "warn"] = "fail"
    """Whether failures of vendored libraries (no ``PyInit_*``) fail the run or only warn."""
    wheels: tuple[Path, ...] = ()
    """Wheel files whose binary members are checked in memory."""
    dists: tuple[str, ...] = ()
    """Installed distributions to check; empty means the project's own when installed, and
    ``("none",)`` turns that off."""
    baseline_path: Path | None = None
    """The baseline file; ``None`` until the plugin resolves the default name."""
    update_baseline: bool = False
    baseline_strict: bool = False
    """Fail the run when baseline entries no longer fail (so the baseline only shrinks)."""
    language_waivers: tuple[Waiver, ...] = ()
    min_project_safe_share: float = 0.0
    """Share of all compiled code (by bytes) that must be in a memory-safe language."""
    parse_ahead: ParseAhead = "auto"
    """Whether a helper process parses binaries ahead of the items: ``auto`` with two or
    more CPUs and enough to parse, ``on`` whenever the evidence cache is on."""

    @property
    def enabled_checks(self) -> tuple[str, ...]:
        """Check ids that run, in catalogue order."""
        return tuple(cid for cid in CHECK_IDS if self.severities[cid] is not Severity.OFF)

    def waiver_for(self, display: str, check_id: str) -> Waiver | None:
        """The first waiver covering this artifact's check, if any."""
        return next((w for w in self.waivers if w.covers(display, check_id)), None)

    def params_for(self, display: str) -> CheckParams:
        """Check parameters for one artifact: the languages its waivers allow added."""
        allowed = frozenset(
            language
            for waiver in self.language_waivers
            if waiver.matches(display)
            for language in (LANGUAGES if "*" in waiver.checks else waiver.checks)
        )
        return replace(self.params, allowed_languages=allowed) if allowed else self.params

    def as_report(self) -> dict[str, object]:
        """The effective settings as the JSON report's ``settings`` object."""
        return {
            "severity": {cid: self.severities[cid].value for cid in CHECK_IDS},
            "relro_min": self.params.relro_min,
            "fortify_min_ratio": self.params.fortify_min_ratio,
            "rpath_allow": list(self.params.rpath_allow),
            "exclude": list(self.exclude),
            "unknown": self.unknown,
            "vendored": self.vendored,
            "policy": self.params.language_policy,
            "safe_languages": sorted(self.params.safe_languages),
            "min_safe_share": self.params.min_safe_share,
            "min_project_safe_share": self.min_project_safe_share,
            "language_unknown": self.params.language_unknown,
            "language_waivers": [
                {"pattern": w.pattern, "languages": sorted(w.checks), "reason": w.reason}
                for w in self.language_waivers
            ],
            "waivers": [
                {
                    "pattern": w.pattern,
                    "checks": sorted(w.checks),
                    "reason": w.reason,
                    "until": w.until.isoformat() if w.until else None,
                }
                for w in self.waivers
            ],
        }


def _choice(problems: list[str], option: str, value: object, choices: Iterable[str]) -> str:
    """``value`` when it is one of ``choices`` (the first is the default for an unset value)."""
    valid = tuple(choices)
    text = str(value).strip() if value not in (None, "") else valid[0]
    if text not in valid:
        problems.append(f"{option}: invalid value {text!r}; choose from {', '.join(valid)}")
        return valid[0]
    return text


def _check_ids(
    problems: list[str],
    option: str,
    text: str,
    *,
    star: bool,
    valid: tuple[str, ...] = CHECK_IDS,
    noun: str = "check id",
) -> frozenset[str]:
    ids = frozenset(part.strip() for part in text.split(",") if part.strip())
    unknown = sorted(ids - set(valid) - ({"*"} if star else set()))
    if unknown or not ids:
        problems.append(
            f"{option}: unknown {noun}(s) {', '.join(unknown) or '(none given)'}; "
            f"valid {noun}s: {', '.join(valid)}"
        )
    return ids


def _severities(problems: list[str], entries: Iterable[str]) -> dict[str, Severity]:
    severities = {spec.id: spec.default_severity for spec in REGISTRY}
    for entry in entries:
        check_text, sep, level = (part.strip() for part in entry.partition("="))
        if not sep or not level:
            problems.append(
                f"memsafe_severity: {entry!r} is not CHECK=LEVEL "
                f"(LEVEL one of {', '.join(SEVERITY_CHOICES)})"
            )
            continue
        level = _choice(problems, f"memsafe_severity[{check_text}]", level, SEVERITY_CHOICES)
        for check_id in _check_ids(problems, "memsafe_severity", check_text, star=True):
            for target in CHECK_IDS if check_id == "*" else (check_id,):
                severities[target] = Severity(level)
    return severities


def _waivers(
    problems: list[str],
    entries: Iterable[str],
    option: str = "memsafe_waivers",
    valid: tuple[str, ...] = CHECK_IDS,
    noun: str = "check id",
) -> tuple[Waiver, ...]:
    """``GLOB | NAME[,NAME] | REASON`` lines, NAME being a check id (or a language)."""
    waivers = []
    label = "CHECK" if noun == "check id" else noun.upper()
    for entry in entries:
        parts = [part.strip() for part in entry.split("|", 3)]
        until = _until(problems, option, parts.pop()) if len(parts) == 4 else None
        if len(parts) != 3 or not all(parts):
            problems.append(
                f"{option}: {entry!r} must be 'GLOB | {label}[,{label}] | REASON"
                " [| until YYYY-MM-DD]' (the reason is required)"
            )
            continue
        pattern, names, reason = parts
        ids = _check_ids(problems, option, names, star=True, valid=valid, noun=noun)
        waivers.append(Waiver(pattern=pattern, checks=ids, reason=reason, until=until))
    return tuple(waivers)


def _until(problems: list[str], option: str, text: object) -> date | None:
    """An expiry date: a TOML date, or ``until YYYY-MM-DD`` / ``YYYY-MM-DD`` text."""
    if isinstance(text, date):
        return text
    value = str(text).strip().removeprefix("until").strip()
    try:
        return date.fromisoformat(value)
    except ValueError:
        problems.append(f"{option}: invalid expiry {text!r}; write 'until YYYY-MM-DD'")
        return None


def _table_waivers(problems: list[str], tables: object) -> tuple[Waiver, ...]:
    """``[[tool.memsafe.waivers]]`` tables: artifact, checks, reason, optional until."""
    option = "[tool.memsafe] waivers"
    if not isinstance(tables, list):
        problems.append(f"{option}: must be an array of tables ([[tool.memsafe.waivers]])")
        return ()
    waivers = []
    for number, table in enumerate(tables, start=1):
        known = {"artifact", "checks", "reason", "until"}
        if not isinstance(table, dict) or set(table) - known or not table.get("reason"):
            problems.append(
                f"{option} #{number}: needs 'artifact', 'checks' and a 'reason' "
                f"(optional 'until'); got {table!r}"
            )
            continue
        checks = table.get("checks", "*")
        names = ",".join(checks) if isinstance(checks, list) else str(checks)
        until = _until(problems, option, table["until"]) if "until" in table else None
        waivers.append(
            Waiver(
                pattern=str(table.get("artifact", "*")),
                checks=_check_ids(problems, option, names, star=True),
                reason=str(table["reason"]),
                until=until,
            )
        )
    return tuple(waivers)


def _ratio(problems: list[str], option: str, value: object) -> float:
    """A share from 0 to 1 (unset is 0)."""
    if value in (None, ""):
        return 0.0
    try:
        ratio = float(str(value))
    except ValueError:
        ratio = -1.0
    if not 0.0 <= ratio <= 1.0:
        problems.append(f"{option}: invalid value {value!r}; give a number from 0 to 1")
        return 0.0
    return ratio


def _flag(problems: list[str], option: str, value: object) -> bool:
    """A boolean from ini text, TOML or the command line."""
    if isinstance(value, bool) or value is None:
        return bool(value)
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("", "0", "false", "no", "off"):
        return False
    problems.append(f"{option}: invalid value {value!r}; choose from true, false")
    return False


def _safe_languages(problems: list[str], value: object) -> frozenset[str]:
    entries = _lines(value)
    if not entries:
        return CheckParams().safe_languages
    names = [name for entry in entries for name in entry.replace(",", " ").split()]
    return _check_ids(
        problems, "memsafe_safe_languages", ",".join(names), star=False, valid=LANGUAGES,
        noun="language",
    )  # fmt: skip


def parse_settings(raw: Mapping[str, object], today: date | None = None) -> Settings:
    """Validate raw option values (strings and lists as pytest returns them).

    Keys: ``severity`` (list of ``CHECK=LEVEL``), ``relro_min``, ``fortify_min_ratio``,
    ``rpath_allow``, ``paths``, ``exclude``, ``waivers``, ``unknown``, ``json``, ``policy``,
    ``safe_languages``, ``min_safe_share``, ``min_project_safe_share``, ``language_unknown``,
    ``language_waivers``, ``sarif``, ``baseline``, ``update_baseline``, ``baseline_strict``,
    ``toml_waivers`` (the ``[tool.memsafe] waivers`` array), ``dists``, ``wheels``, ``vendored``,
    ``parse_ahead``.
    ``today`` decides expiry.
    Raises :class:`SettingsError` naming every bad option, value and the valid choices.
    """
    problems: list[str] = []
    today = today or date.today()
    all_waivers = _waivers(problems, _lines(raw.get("waivers")))
    if raw.get("toml_waivers") is not None:
        all_waivers += _table_waivers(problems, raw["toml_waivers"])
    severities = _severities(problems, _lines(raw.get("severity")))
    relro_choices = ("partial", "full", "none")
    params = CheckParams(
        relro_min=_choice(problems, "memsafe_relro_min", raw.get("relro_min"), relro_choices),
        fortify_min_ratio=_ratio(
            problems, "memsafe_fortify_min_ratio", raw.get("fortify_min_ratio")
        ),
        rpath_allow=_lines(raw.get("rpath_allow")),
        language_policy=_choice(problems, "memsafe_policy", raw.get("policy"), POLICY_CHOICES),
        safe_languages=_safe_languages(problems, raw.get("safe_languages")),
        min_safe_share=_ratio(problems, "memsafe_min_safe_share", raw.get("min_safe_share")),
        language_unknown=_choice(
            problems, "memsafe_language_unknown", raw.get("language_unknown"), ("fail", "skip")
        ),
    )
    unknown = _choice(problems, "memsafe_unknown", raw.get("unknown"), UNKNOWN_CHOICES)
    settings = Settings(
        severities=severities,
        params=params,
        paths=tuple(Path(str(p)) for p in _lines(raw.get("paths"))),
        exclude=_lines(raw.get("exclude")),
        waivers=tuple(w for w in all_waivers if w.until is None or w.until >= today),
        expired_waivers=tuple(w for w in all_waivers if w.until is not None and w.until < today),
        unknown="fail" if unknown == "fail" else "skip",
        json_path=Path(str(raw["json"])) if raw.get("json") else None,
        sarif_path=Path(str(raw["sarif"])) if raw.get("sarif") else None,
        dists=_lines(raw.get("dists")),
        wheels=tuple(Path(p) for p in _lines(raw.get("wheels"))),
        vendored="warn"
        if _choice(problems, "memsafe_vendored", raw.get("vendored"), ("fail", "warn")) == "warn"
        else "fail",
        baseline_path=Path(str(raw["baseline"])) if raw.get("baseline") else None,
        update_baseline=bool(raw.get("update_baseline")),
        baseline_strict=_flag(problems, "memsafe_baseline_strict", raw.get("baseline_strict")),
        language_waivers=_waivers(
            problems,
            _lines(raw.get("language_waivers")),
            "memsafe_language_waivers",
            LANGUAGES,
            "language",
        ),
        min_project_safe_share=_ratio(
            problems, "memsafe_min_project_safe_share", raw.get("min_project_safe_share")
        ),
        parse_ahead=PARSE_AHEAD_CHOICES[
            _choice(problems, "memsafe_parse_ahead", raw.get("parse_ahead"), PARSE_AHEAD_CHOICES)
        ],
    )
    if problems:
        raise SettingsError(problems)
    return settings


def _lines(value: object) -> tuple[str, ...]:
    """A list option as a tuple of non-empty stripped strings (a string is one entry)."""
    if value is None or value == "":
        return ()
    items = [value] if isinstance(value, (str, Path)) else list(value)  # type: ignore[call-overload]
    return tuple(str(item).strip() for item in items if str(item).strip())
