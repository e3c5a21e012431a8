"""The PE corpus (tests/pe_corpus.py): every variant builds and objdump confirms it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.pe_corpus import CHECK_IDS, PE_VARIANTS, verify_pe_variant


def test_table_is_consistent() -> None:
    for name, variant in PE_VARIANTS.items():
        assert set(variant.expect) == set(CHECK_IDS), name
        assert variant.file_name.startswith(variant.stem + ".cp311-win")
        assert variant.file_name.endswith(
            "-win_amd64.pyd" if variant.arch == "x64" else "-win32.pyd"
        )


def test_every_variant_built(pe_corpus: dict[str, Path]) -> None:
    assert pe_corpus.keys() == PE_VARIANTS.keys()
    for name, path in pe_corpus.items():
        assert path.name == PE_VARIANTS[name].file_name
        assert path.read_bytes()[:2] == b"MZ"


@pytest.mark.parametrize("name", sorted(PE_VARIANTS))
def test_variant_verified(pe_corpus: dict[str, Path], name: str) -> None:
    evidence = verify_pe_variant(name, pe_corpus[name])
    for check_id in CHECK_IDS:
        assert f"objdump: {check_id} {PE_VARIANTS[name].expect[check_id]}" in evidence


@pytest.mark.parametrize("check_id", CHECK_IDS)
def test_each_check_has_a_passing_and_a_failing_variant(check_id: str) -> None:
    statuses = {v.expect[check_id] for v in PE_VARIANTS.values()}
    assert {"pass", "fail"} <= statuses
