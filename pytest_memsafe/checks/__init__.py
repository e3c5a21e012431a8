"""The check catalogue: one explicit table of :class:`CheckSpec` rows.

Adding a check is two edits: its function in a format module and one row here.
"""

from __future__ import annotations

from typing import Final

from ..model import BinaryFormat, Severity
from . import elf_compiler, elf_loader, language, macho, pe
from .base import RELRO_LEVELS, CheckParams, CheckSpec

__all__ = ["CHECK_IDS", "REGISTRY", "CheckParams", "CheckSpec", "get_spec", "specs_for"]

ELF = BinaryFormat.ELF
PE = BinaryFormat.PE
MACHO = BinaryFormat.MACHO
BINSKIM = "https://github.com/microsoft/binskim/blob/main/docs/BinSkimRules.md"
MSVC_FLAGS = "https://learn.microsoft.com/en-us/cpp/build/reference/linker-options"
OPENSSF = "https://best.openssf.org/Compiler-Hardening-Guides/Compiler-Options-Hardening-Guide-for-C-and-C++.html"

REGISTRY: Final[tuple[CheckSpec, ...]] = (
    CheckSpec(
        id="relro",
        title="RELRO (read-only relocations)",
        rationale="Without full RELRO the extension's GOT stays writable for the life of the "
        "interpreter, so a memory-corruption bug can redirect any of its library calls. "
        "CPython already binds every symbol at import (RTLD_NOW), so -z now costs nothing.",
        remediation="link with -Wl,-z,relro,-z,now",
        default_severity=Severity.ERROR,
        impls={ELF: elf_loader.check_relro},
        levels=RELRO_LEVELS,
        recommended_level="full",
        references=(OPENSSF,),
    ),
    CheckSpec(
        id="nx",
        title="Non-executable stack",
        rationale="An extension that asks for an executable stack makes every thread stack of "
        "the whole Python process executable (glibc < 2.41) or fails to import (glibc >= 2.41).",
        remediation="link with -Wl,-z,noexecstack and give every assembly file a "
        '.section .note.GNU-stack,"",@progbits line',
        default_severity=Severity.ERROR,
        impls={ELF: elf_loader.check_nx, PE: pe.check_nx, MACHO: macho.check_nx},
        remediations={
            PE: "link with /NXCOMPAT (MSVC) or -Wl,--nxcompat (MinGW)",
            MACHO: "drop -Wl,-allow_stack_execute",
        },
        references=(OPENSSF, "https://github.com/pypa/auditwheel/issues/634"),
    ),
    CheckSpec(
        id="canary",
        title="Stack protector",
        rationale="Stack canaries stop a stack buffer overflow from silently overwriting a "
        "return address in the interpreter's process.",
        remediation="compile with -fstack-protector-strong",
        default_severity=Severity.WARNING,
        impls={ELF: elf_compiler.check_canary, PE: pe.check_canary, MACHO: macho.check_canary},
        remediations={PE: "compile with /GS (MSVC) or -fstack-protector-strong (MinGW)"},
        references=(OPENSSF,),
    ),
    CheckSpec(
        id="fortify",
        title="FORTIFY_SOURCE",
        rationale="Fortified libc calls abort on buffer overflows the compiler could not rule "
        "out, instead of corrupting the interpreter's memory.",
        remediation="compile with -O2 -D_FORTIFY_SOURCE=3 (or =2 on older toolchains)",
        default_severity=Severity.WARNING,
        impls={ELF: elf_compiler.check_fortify, PE: pe.check_fortify, MACHO: macho.check_fortify},
        levels=("none", "partial", "full"),
        references=(OPENSSF,),
    ),
    CheckSpec(
        id="pic",
        title="No text relocations",
        rationale="Text relocations force the loader to make the extension's code writable "
        "while it patches it, and stop its pages being shared between processes.",
        remediation="compile every object with -fPIC; in assembly use RIP-relative or GOT "
        "addressing; do not link with -z notext",
        default_severity=Severity.ERROR,
        impls={ELF: elf_loader.check_pic},
        references=(OPENSSF,),
    ),
    CheckSpec(
        id="rpath",
        title="Safe RPATH/RUNPATH",
        rationale="An absolute or relative search path lets whoever controls that directory on "
        "the user's machine (or the current directory) plant a library the extension loads.",
        remediation="drop -Wl,-rpath (check LDSHARED/LDFLAGS inherited from the build Python) "
        "or use $ORIGIN-relative paths with -Wl,--enable-new-dtags",
        default_severity=Severity.ERROR,
        impls={ELF: elf_loader.check_rpath, MACHO: macho.check_rpath},
        remediations={
            MACHO: "use -Wl,-rpath,@loader_path/... only, and let delocate rewrite the install "
            "names of vendored dylibs (delocate-wheel)"
        },
        references=(OPENSSF,),
    ),
    CheckSpec(
        id="wx",
        title="No writable and executable segment",
        rationale="A segment that is both writable and executable gives an attacker a ready "
        "place to write and run code in the interpreter's address space.",
        remediation='remove sections flagged both writable and executable ("awx"); link '
        "with -Wl,-z,separate-code and without -N/--omagic",
        default_severity=Severity.ERROR,
        impls={ELF: elf_loader.check_wx, PE: pe.check_wx, MACHO: macho.check_wx},
        remediations={
            PE: "remove sections marked both writable and executable or shared (#pragma "
            "section, /SECTION:...,RWE/S), link without /INCREMENTAL",
            MACHO: "drop -segprot options that make a segment writable and executable",
        },
    ),
    CheckSpec(
        id="loadable",
        title="Loadable as an extension",
        rationale="A shared object marked as a PIE executable or as not dlopen()-able cannot "
        "be imported at all.",
        remediation="link with -shared (not -pie) and without -Wl,-z,nodlopen",
        default_severity=Severity.ERROR,
        impls={ELF: elf_loader.check_loadable, PE: pe.check_loadable, MACHO: macho.check_loadable},
        remediations={
            PE: "link a DLL (/DLL or -shared); do not set /INTEGRITYCHECK on an unsigned image",
            MACHO: "link with -bundle -undefined dynamic_lookup (setuptools) or -dynamiclib",
        },
        references=("https://sourceware.org/bugzilla/show_bug.cgi?id=24323",),
    ),
    CheckSpec(
        id="language",
        title="Source language",
        rationale="Code in a memory-unsafe language (C, C++, generated C, assembly) is where "
        "memory-safety bugs live; a Rust-only or memory-safe policy keeps it out, or makes "
        "every exception visible with a reason.",
        remediation="port the code to a memory-safe language, or add a language waiver "
        "naming the library and the reason (memsafe_language_waivers)",
        default_severity=Severity.ERROR,
        impls={ELF: language.check_language},
        references=("https://www.cisa.gov/resources-tools/resources/case-memory-safe-roadmaps",),
    ),
    CheckSpec(
        id="cet",
        title="Control-flow protection (CET / BTI)",
        rationale="Shadow stacks and indirect-branch tracking are process-wide: one unmarked "
        "extension switches them off for the whole interpreter.",
        remediation="compile every object, assembly included, with -fcf-protection=full "
        "(x86) or -mbranch-protection=standard (AArch64)",
        default_severity=Severity.WARNING,
        impls={ELF: elf_compiler.check_cet, PE: pe.check_cet},
        remediations={PE: "link with /CETCOMPAT (MSVC)"},
        references=(OPENSSF,),
    ),
    CheckSpec(
        id="aslr",
        title="ASLR (relocatable image, high entropy)",
        rationale="A DLL that cannot move always loads at the address an attacker expects; "
        "a 64-bit DLL based below 4 GiB or without HIGH_ENTROPY_VA gets far less randomness.",
        remediation="link with /DYNAMICBASE /HIGHENTROPYVA (MSVC) or -Wl,--dynamicbase,"
        "--high-entropy-va (MinGW), keep the relocations, and a base above 4 GiB on x64",
        default_severity=Severity.ERROR,
        impls={PE: pe.check_aslr},
        levels=RELRO_LEVELS,
        recommended_level="full",
        references=(BINSKIM, MSVC_FLAGS),
    ),
    CheckSpec(
        id="cfg",
        title="Control Flow Guard",
        rationale="Control Flow Guard checks every indirect call against the valid targets, "
        "so a corrupted function pointer cannot jump into the middle of code.",
        remediation="compile and link with /guard:cf (MSVC; clang-cl -guard:cf; rustc "
        "-C control-flow-guard)",
        default_severity=Severity.WARNING,
        impls={PE: pe.check_cfg},
        references=(BINSKIM,),
    ),
    CheckSpec(
        id="safeseh",
        title="SafeSEH (32-bit Windows)",
        rationale="Without a table of registered handlers, an overwritten SEH record on the "
        "stack hands control to the attacker in a 32-bit process.",
        remediation="link with /SAFESEH (MSVC) or -Wl,--no-seh when no handlers are used",
        default_severity=Severity.ERROR,
        impls={PE: pe.check_safeseh},
        references=(BINSKIM,),
    ),
    CheckSpec(
        id="code-signature",
        title="Code signature (Apple silicon)",
        rationale="macOS on Apple silicon refuses to run unsigned arm64 code, so an "
        "unsigned slice cannot be imported there at all.",
        remediation="link with a current ld64/lld (which ad-hoc signs arm64 output) or sign "
        "with codesign -s - after any post-link edit (install_name_tool invalidates it)",
        default_severity=Severity.ERROR,
        impls={MACHO: macho.check_code_signature},
        levels=macho.SIGNATURE_LEVELS,
        references=("https://developer.apple.com/documentation/security/code-signing-services",),
    ),
    *(
        CheckSpec(
            id=check_id,
            title=f"Executable only: {what.split(' (')[0]}",
            rationale="A property of the process's main executable (python), which macOS "
            "reads from it alone; an extension module cannot change it.",
            remediation="nothing to do for an extension; for an executable, see the title",
            default_severity=Severity.WARNING,
            impls={MACHO: macho.executable_only(check_id)},
        )
        for check_id, (what, _) in macho.EXECUTABLE_ONLY.items()
    ),
)

CHECK_IDS: Final = tuple(spec.id for spec in REGISTRY)
_BY_ID: Final = {spec.id: spec for spec in REGISTRY}


def get_spec(check_id: str) -> CheckSpec:
    """The spec with this id (``KeyError`` for an unknown id)."""
    return _BY_ID[check_id]


def specs_for(fmt: BinaryFormat) -> tuple[CheckSpec, ...]:
    """Every spec that has an implementation for ``fmt``, in catalogue order."""
    return tuple(spec for spec in REGISTRY if fmt in spec.impls)
