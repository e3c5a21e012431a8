"""The Mach-O fixture corpus builds, and every variant shows what it promises."""

from __future__ import annotations

from pathlib import Path

from tests.macho_corpus import (
    CHECK_IDS,
    MACHO_VARIANTS,
    describe_signature,
    verify_macho,
)


def test_every_variant_built_and_verified(macho_corpus: dict[str, Path]) -> None:
    assert set(macho_corpus) == set(MACHO_VARIANTS)
    for name, path in macho_corpus.items():
        variant = MACHO_VARIANTS[name]
        assert path.name == variant.file_name
        # Fat files: the fat header here; each slice was verified after llvm-lipo -thin.
        assert verify_macho(variant, path)


def test_expectations_cover_every_check_and_slice() -> None:
    for variant in MACHO_VARIANTS.values():
        for arch, expect in variant.expect_slices.items():
            assert tuple(expect) == CHECK_IDS, (variant.name, arch)


def test_universal2_slices_differ(macho_corpus: dict[str, Path]) -> None:
    slices = MACHO_VARIANTS["universal2-canary-arm64-only"].expect_slices
    assert slices["arm64"]["canary"] == "pass"
    assert slices["x86_64"]["canary"] == "fail"
    assert macho_corpus["universal2-canary-arm64-only"].read_bytes()[:4] == b"\xca\xfe\xba\xbe"


def test_header_patches_keep_the_signature_valid(macho_corpus: dict[str, Path]) -> None:
    for name in ("nx-fail-allow-stack-execute", "canary-pass-chained-fixups-only"):
        text = describe_signature(macho_corpus[name])
        assert "flags=0x20002 (adhoc,linker-signed)" in text
        matched, _, total = text.split("page hashes: ")[1].split()[:3]
        assert matched == total, text
