"""Language provenance: which languages built a binary, and the ``language`` policy check.

Checks layer: pure functions of :class:`ElfEvidence`. The evidence rules and the decision
procedure follow reference/language.md §3 (measured on 227 real binaries).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from ..evidence.elf_records import PT_LOAD, ElfEvidence, LanguageEvidence
from ..model import Status, Verdict
from .base import CheckParams, verdict

__all__ = [
    "LANGUAGES",
    "LanguageProfile",
    "check_language",
    "classify",
    "code_bytes",
    "format_share",
]

LANGUAGES: Final = (
    "rust", "go", "c", "c++", "cython", "mypyc", "zig", "nim", "fortran", "asm",
)  # fmt: skip
"""Every language the classifier can name (plus ``unknown``)."""
C_IS_RUNTIME: Final = frozenset({"mypyc", "nim"})
"""Front ends whose unmangled C functions are their own runtime, not the project's C."""
LLVM_BUILT: Final = frozenset({"rust", "zig"})
"""Primaries whose compiler never emits ``DW_CFA_remember_state`` on x86-64."""
GCC_CFI_SHARE: Final = 0.87
"""Median share of FDE bytes with ``remember_state`` in GCC-only binaries (language.md §3.3)."""
CXX_RUNTIME: Final = frozenset(
    {"__gxx_personality_v0", "__cxa_throw", "__cxa_begin_catch", "__cxa_guard_acquire",
     "__cxa_rethrow", "__cxa_end_catch"}
)  # fmt: skip
CXX_IMPORT_PREFIXES: Final = ("_ZSt", "_Znw", "_Zna", "_Zdl", "_Zda", "_ZTV", "_ZTI", "_ZNSt")
SOURCE_SUFFIXES: Final = {
    "c++": (".cpp", ".cc", ".cxx", ".C"),
    "c": (".c",),
    "fortran": (".f", ".f90", ".F90", ".f77", ".F"),
}
TOOLCHAIN_SOURCES: Final = frozenset(
    {"crtstuff.c", "crti.S", "crtn.S", "crt1.S", "start.S", "init.c", "initfini.c", "ios_init.cc"}
)
"""``STT_FILE`` names of C start files and runtime pieces linked into every binary."""
C_CRATE_SUFFIXES: Final = ("-sys",)
C_CRATES: Final = frozenset({"ring", "cc", "cmake", "aws-lc-rs", "zstd-safe", "blake3"})
SCHEME_LANGUAGE: Final = {
    "rust": "rust", "c++": "c++", "cython": "cython", "mypyc": "mypyc", "fortran": "fortran",
    "go": "go", "zig": "zig", "nim": "nim", "c": "c", "asm": "asm",
}  # fmt: skip
"""``.symtab`` naming scheme -> language (``toolchain`` code never counts)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LanguageProfile:
    """What the evidence says about the languages of one binary."""

    primary: str
    """The binding layer's language (``unknown`` when nothing says)."""
    languages: tuple[str, ...]
    """Every language with evidence, primary first."""
    runtime: tuple[str, ...]
    """Languages present only as a toolchain's runtime glue (cgo's C), never held against it."""
    binder: str | None
    compilers: tuple[str, ...]
    shares: tuple[tuple[str, float], ...] | None
    """Share of machine code per language, largest first; ``None`` when not measurable."""
    share_method: str | None
    """``symtab`` (function bytes), ``eh_frame`` (GCC CFI estimate) or ``single-language``."""
    evidence: tuple[tuple[str, str], ...]
    """(language, what showed it), in rule order."""
    confidence: str

    def share_of(self, languages: frozenset[str]) -> float | None:
        """Combined share of ``languages``, or None when shares are unknown."""
        if self.shares is None:
            return None
        return round(sum(share for lang, share in self.shares if lang in languages), 4)

    def as_report(self) -> dict[str, object]:
        """The JSON report's ``languages`` object."""
        return {
            "primary": self.primary,
            "all": list(self.languages),
            "runtime": list(self.runtime),
            "shares": dict(self.shares) if self.shares is not None else None,
            "share_method": self.share_method,
            "binder": self.binder,
            "compilers": list(self.compilers),
            "confidence": self.confidence,
            "evidence": [f"{lang}: {what}" for lang, what in self.evidence],
        }


def _scheme_bytes(le: LanguageEvidence | None) -> dict[str, int]:
    return dict(le.symtab_bytes) if le is not None and le.symtab_bytes else {}


def _byte_share(le: LanguageEvidence | None, scheme: str) -> float:
    counts = _scheme_bytes(le)
    total = sum(n for name, n in counts.items() if name != "toolchain")
    return counts.get(scheme, 0) / total if total else 0.0


def _needed(ev: ElfEvidence) -> tuple[str, ...]:
    return ev.dynamic.needed if ev.dynamic is not None else ()


def _sources(le: LanguageEvidence | None, language: str) -> bool:
    """A project source file of ``language`` (toolchain start-up files never count)."""
    return le is not None and any(
        name.endswith(SOURCE_SUFFIXES[language]) and name not in TOOLCHAIN_SOURCES
        for name in le.source_files
    )


def _only_cxx_sources(le: LanguageEvidence | None) -> bool:
    """Every project translation unit is C++, so unmangled functions are ``extern "C"`` C++."""
    names = [n for n in (le.source_files if le is not None else ()) if n not in TOOLCHAIN_SOURCES]
    return bool(names) and all(n.endswith(SOURCE_SUFFIXES["c++"]) for n in names)


def _marker(le: LanguageEvidence | None, *names: str) -> bool:
    return le is not None and bool(le.markers.intersection(names))


def _idents(ev: ElfEvidence, prefix: str) -> bool:
    return any(text.startswith(prefix) for text in ev.comments)


def _only_lld(ev: ElfEvidence) -> bool:
    return bool(ev.comments) and all(text.startswith("Linker: LLD") for text in ev.comments)


def _c_crate(le: LanguageEvidence | None) -> bool:
    """A crate that compiles bundled C (``openssl-sys``, ``ring``...)."""
    names = (crate.rsplit("-", 1)[0] for crate in (le.crates if le is not None else ()))
    return any(name.endswith(C_CRATE_SUFFIXES) or name in C_CRATES for name in names)


Rule = Callable[[ElfEvidence, "LanguageEvidence | None"], bool]

SIGNALS: Final[tuple[tuple[str, str, Rule], ...]] = (
    ("rust", "rustc in .comment", lambda ev, le: _idents(ev, "rustc version")),
    ("rust", "Rust std source paths", lambda ev, le: _marker(le, "rust-std")),
    ("rust", "Rust panic messages", lambda ev, le: _marker(le, "rust-panic")),
    ("rust", "Rust-mangled functions", lambda ev, le: _byte_share(le, "rust") > 0.01),
    ("go", "Go build info", lambda ev, le: _marker(le, "go-buildinfo")),
    ("go", "Go functions", lambda ev, le: _byte_share(le, "go") > 0.01),
    ("mypyc", "mypyc module markers", lambda ev, le: _marker(le, "mypyc")),
    ("mypyc", "mypyc CPy functions", lambda ev, le: _byte_share(le, "mypyc") > 0),
    ("cython", "Cython runtime strings", lambda ev, le: _marker(le, "cython")),
    ("cython", "__pyx functions", lambda ev, le: _byte_share(le, "cython") > 0),
    ("nim", "Nim runtime", lambda ev, le: _marker(le, "nim") or _byte_share(le, "nim") > 0.01),
    ("zig", "zig DWARF producer",
     lambda ev, le: le is not None and any(p.startswith("zig") for p in le.dwarf_producers)),
    ("zig", "only an LLD ident in .comment", lambda ev, le: _only_lld(ev)),
    ("zig", "Zig-style function names", lambda ev, le: _byte_share(le, "zig") > 0.5),
    ("c++", "pybind11, nanobind or Boost.Python",
     lambda ev, le: _marker(le, "pybind11", "nanobind", "boost-python")),
    ("c++", "links the C++ standard library",
     lambda ev, le: any(n.startswith(("libstdc++", "libc++")) for n in _needed(ev))),
    ("c++", "imports the C++ runtime",
     lambda ev, le: bool(ev.imports & CXX_RUNTIME)
     or any(name.startswith(CXX_IMPORT_PREFIXES) for name in ev.imports)),
    ("c++", "C++-mangled functions", lambda ev, le: _byte_share(le, "c++") > 0.01),
    ("c++", "C++ source files", lambda ev, le: _sources(le, "c++")),
    ("fortran", "gfortran runtime",
     lambda ev, le: any(n.startswith("libgfortran") for n in _needed(ev))
     or any(name.startswith("_gfortran_") for name in ev.imports)),
    ("fortran", "Fortran functions or sources",
     lambda ev, le: _byte_share(le, "fortran") > 0.01 or _sources(le, "fortran")),
    ("asm", "assembly labels", lambda ev, le: _byte_share(le, "asm") > 0.001),
    ("c", "unmangled C functions",
     lambda ev, le: _byte_share(le, "c") > 0.01 and not _only_cxx_sources(le)),
    ("c", "C source files", lambda ev, le: _sources(le, "c")),
    ("c", "a bundled C library", lambda ev, le: _marker(le, "c-library")),
    ("c", "cffi", lambda ev, le: _marker(le, "cffi")),
    ("c", "f2py wrapper", lambda ev, le: _marker(le, "f2py")),
    ("c", "a C-bundling crate", lambda ev, le: _c_crate(le)),
    ("c", "GCC-style CFI in .eh_frame", lambda ev, le: bool(le and le.eh_frame_gcc_bytes)),
    ("c", "a clang ident", lambda ev, le: _idents(ev, "clang version")),
    ("c", "C DWARF producer",
     lambda ev, le: le is not None
     and any(p.startswith(("GNU C1", "GNU C8", "GNU C9", "clang")) and "rustc" not in p
             for p in le.dwarf_producers)),
)  # fmt: skip
"""(language, what the evidence is, does it hold). Order is the report's evidence order."""

SELF_IDENTIFYING: Final = frozenset({"cython", "mypyc", "go"})
ALONGSIDE_ONLY: Final = frozenset({"a clang ident"})
"""Evidence that names a second language but never the primary (a clang ident is C inside
Rust, Go or Zig; on its own it may be a crt file or an LLVM-built front end)."""


def _primary(found: dict[str, list[str]], ev: ElfEvidence, le: LanguageEvidence | None) -> str:
    """language.md §3.2: the binding layer wins, not the biggest share."""
    counts = _scheme_bytes(le)
    has_symtab = le is not None and le.symtab_bytes is not None
    rules: tuple[tuple[str, bool], ...] = (
        ("mypyc", "mypyc" in found),
        ("cython", "cython" in found),
        ("go", "go" in found),
        ("rust", "rust" in found and _marker(le, "pyo3")),
        ("c++", "c++" in found and _marker(le, "pybind11", "nanobind", "boost-python")),
        ("nim", "nim" in found),
        ("zig", "zig" in found and "rust" not in found),
        ("rust", "rust" in found),
        ("c++", "c++" in found and (not has_symtab or counts.get("c++", 0) >= counts.get("c", 0))),
        # A GCC or clang ident alone is no evidence of C: the C start files put one in
        # every binary, Rust included (orjson: clang + LLD + GCC idents, no Rust string).
        ("c", "c" in found),
    )
    return next((lang for lang, holds in rules if holds), "unknown")


def _keep(language: str, what: str, primary: str) -> bool:
    """Whether one piece of evidence still counts once the primary is known."""
    if language == "zig":
        return primary == "zig"
    if language != "c":
        return True
    if primary in C_IS_RUNTIME:
        return what in ("a bundled C library", "cffi")
    if primary == "cython":
        return what in ("unmangled C functions", "a bundled C library", "cffi")
    if what == "GCC-style CFI in .eh_frame":
        return primary in LLVM_BUILT or primary == "c"
    if what == "C source files":
        return primary in ("rust", "go", "zig", "c++")
    if what == "a clang ident":
        return primary in ("rust", "go", "zig")
    return True


def _shares(
    primary: str, languages: tuple[str, ...], le: LanguageEvidence | None
) -> tuple[tuple[tuple[str, float], ...] | None, str | None]:
    counts = _scheme_bytes(le)
    if counts:
        owner = {**SCHEME_LANGUAGE}
        if primary in C_IS_RUNTIME:
            owner["c"] = primary  # their generated C and runtime
        elif _only_cxx_sources(le):
            owner["c"] = "c++"  # extern "C" functions of .cpp files
        if primary != "zig":
            owner["zig"] = "c"
        totals: dict[str, int] = {}
        for scheme, size in counts.items():
            if scheme in owner:
                totals[owner[scheme]] = totals.get(owner[scheme], 0) + size
        total = sum(totals.values())
        if total:
            ranked = sorted(totals.items(), key=lambda item: (-item[1], item[0]))
            return tuple((lang, round(n / total, 4)) for lang, n in ranked if n), "symtab"
    if le is not None and primary in LLVM_BUILT and le.eh_frame_fde_bytes:
        gcc = min(1.0, le.eh_frame_gcc_bytes / le.eh_frame_fde_bytes / GCC_CFI_SHARE)
        if gcc == 0.0 and len(languages) > 1:
            return None, None
        estimate = sorted(((primary, 1 - gcc), ("c", gcc)), key=lambda item: -item[1])
        return tuple((lang, round(s, 4)) for lang, s in estimate if s), "eh_frame"
    if len(languages) == 1 and primary != "unknown":
        return ((primary, 1.0),), "single-language"
    return None, None


COMPILER_IDENTS: Final = (
    (re.compile(r"rustc version (\S+)"), "rustc"),
    (re.compile(r"clang version (\S+)"), "clang"),
    (re.compile(r"Linker: LLD (\S+)"), "LLD"),
    (re.compile(r"GCC: \(.*?\) (\S+)"), "GCC"),
)
"""``.comment`` idents -> compiler name (the version is the first group)."""


def _compilers(ev: ElfEvidence) -> tuple[str, ...]:
    found = (
        f"{name} {match.group(1)}"
        for text in ev.comments
        for pattern, name in COMPILER_IDENTS
        if (match := pattern.match(text))
    )
    return tuple(dict.fromkeys(found))


BINDERS: Final = (
    ("pyo3", "PyO3"), ("cffi", "cffi"), ("pybind11", "pybind11"), ("nanobind", "nanobind"),
    ("boost-python", "Boost.Python"), ("cython", "Cython"), ("mypyc", "mypyc"),
    ("go-buildinfo", "cgo"), ("f2py", "f2py"),
)  # fmt: skip


_MEMO: dict[int, tuple[ElfEvidence, LanguageProfile]] = {}
MEMO_SIZE: Final = 256


def classify(ev: ElfEvidence) -> LanguageProfile:
    """The language profile of one binary (never guesses C: ``unknown`` when nothing says).

    Several checks and every report record of a binary ask for it, so the last few answers
    are remembered by evidence identity (the memo holds the evidence, so ids are not reused).
    """
    hit = _MEMO.get(id(ev))
    if hit is not None and hit[0] is ev:
        return hit[1]
    profile = _classify(ev)
    if len(_MEMO) >= MEMO_SIZE:
        del _MEMO[next(iter(_MEMO))]
    _MEMO[id(ev)] = (ev, profile)
    return profile


def forget_profiles() -> None:
    """Empty :func:`classify`'s memo (it holds the evidence of the last binaries)."""
    _MEMO.clear()


def _classify(ev: ElfEvidence) -> LanguageProfile:
    le = ev.language
    fired = [(lang, what) for lang, what, holds in SIGNALS if holds(ev, le)]
    found: dict[str, list[str]] = {}
    for lang, what in fired:
        if what not in ALONGSIDE_ONLY:
            found.setdefault(lang, []).append(what)
    primary = _primary(found, ev, le)
    kept = [(lang, what) for lang, what in fired if _keep(lang, what, primary)]
    runtime: tuple[str, ...] = ()
    if primary == "go":
        runtime = ("c",)  # a c-shared Go library always links cgo's C runtime glue
        kept = [(lang, what) for lang, what in kept if lang != "c"]
    others = tuple(dict.fromkeys(lang for lang, _ in kept if lang != primary))
    languages = ((primary,) if primary != "unknown" else ()) + others
    shares, method = _shares(primary, languages, le)
    rich = le is not None and (le.symtab_bytes is not None or bool(le.dwarf_producers))
    strong = len(found.get(primary, ())) >= 2 or primary in SELF_IDENTIFYING
    binder = next((name for marker, name in BINDERS if _marker(le, marker)), None)
    return LanguageProfile(
        primary=primary,
        languages=languages,
        runtime=runtime,
        binder=binder,
        compilers=_compilers(ev),
        shares=shares,
        share_method=method,
        evidence=tuple(kept),
        confidence="high" if rich else "medium" if strong else "low",
    )


def code_bytes(ev: ElfEvidence) -> int:
    """Size of the executable ``PT_LOAD`` segments: the machine code the shares divide."""
    return sum(seg.filesz for seg in ev.segments if seg.p_type == PT_LOAD and seg.executable)


def format_share(share: float) -> str:
    """A share as a percentage that never rounds a present language down to 0%."""
    return f"{share:.1%}" if 0 < share < 0.1 else f"{share:.0%}"


def _share_text(profile: LanguageProfile) -> str:
    if profile.shares is None:
        return "shares not measurable"
    parts = ", ".join(f"{lang} {format_share(share)}" for lang, share in profile.shares)
    return f"{parts} (by {profile.share_method})"


def check_language(ev: ElfEvidence, params: CheckParams) -> Verdict:
    """Source-language provenance, judged against the language policy.

    Evidence: ``.comment`` idents, ``.symtab`` naming schemes and ``STT_FILE`` names, binder
    and runtime strings, NEEDED libraries and imports, ``.eh_frame`` GCC CFI, DWARF producers
    (language.md §3). Passes when: policy ``any``; or every language outside the waived ones
    is allowed (``rust-only``: Rust; ``memory-safe``: the safe-language table) and the safe
    share meets ``params.min_safe_share``. Fails otherwise, and on ``unknown`` under a strict
    policy unless ``params.language_unknown`` is ``skip``.
    Reference: language.md §3; checks.md §1d ``prov.rust_only``.
    """
    profile = classify(ev)
    safe = frozenset({"rust"}) if params.language_policy == "rust-only" else params.safe_languages
    share = profile.share_of(safe)
    facts = (
        ("primary", profile.primary),
        ("languages", profile.languages),
        ("shares", tuple(f"{lang}={s}" for lang, s in profile.shares or ())),
        ("binder", profile.binder),
        ("confidence", profile.confidence),
    )
    described = f"{profile.primary}" + (f" ({profile.binder})" if profile.binder else "")
    if profile.languages[1:]:
        described += f", also {', '.join(profile.languages[1:])}"
    summary = f"{described}; {_share_text(profile)}"
    level = profile.primary
    if params.language_policy == "any":
        return verdict("language", Status.PASS, summary, *facts, level=level)
    if profile.primary == "unknown":
        status = Status.UNKNOWN if params.language_unknown == "skip" else Status.FAIL
        missing = (
            "no rustc/compiler ident, no .symtab, no runtime strings and no DWARF: nothing shows"
            " which language built it"
        )
        return verdict("language", status, f"language unknown: {missing}", *facts, level=level)
    waived = params.allowed_languages
    offending = [lang for lang in profile.languages if lang not in safe and lang not in waived]
    if offending:
        measured = dict(profile.shares or ())
        detail = ", ".join(
            f"{lang} ({format_share(measured[lang])})" if lang in measured else lang
            for lang in offending
        )
        rule = "Rust-only" if params.language_policy == "rust-only" else "memory-safe only"
        return verdict(
            "language", Status.FAIL, f"{rule} policy: contains {detail}; {summary}", *facts,
            level=level,
        )  # fmt: skip
    if share is not None and share < params.min_safe_share:
        return verdict(
            "language", Status.FAIL,
            f"memory-safe share {share:.0%} is below the minimum {params.min_safe_share:.0%};"
            f" {summary}", *facts, level=level,
        )  # fmt: skip
    allowed = [lang for lang in profile.languages if lang in waived and lang not in safe]
    note = f" ({', '.join(allowed)} allowed by waiver)" if allowed else ""
    return verdict("language", Status.PASS, summary + note, *facts, level=level)
