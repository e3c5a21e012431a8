"""The anchored marker scan (``elf_language._marker_matches``) must yield exactly what the
combined pattern's ``finditer`` yields: same spans, same marker, leftmost and
non-overlapping, across window boundaries and in crowded windows."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_memsafe.evidence import elf_language

PIECES = (
    *elf_language.MARKER_ANCHORS,
    *(anchor[: len(anchor) // 2] for anchor in elf_language.MARKER_ANCHORS),
    b"/rustc/" + b"0123456789abcdef" * 2 + b"01234567/library/core",
    b".cargo/registry/src/index.crates.io-6f17d22bba15001f/pyo3-0.22.0/src",
    b"_cython_3_0_11", b"__mypyc\0", b"__mypyc.", b"_cffi_backend\0", b"deflate 1.3.1 Copyright",
    b"OpenSSL 3.0.15", b"\0", b".", b"_", b"x",
)  # fmt: skip


def _spans(matches: object) -> list[tuple[tuple[int, int], int | None]]:
    return [(m.span(), m.lastindex) for m in matches]  # type: ignore[attr-defined]


@settings(max_examples=300, deadline=None)
@given(
    parts=st.lists(st.sampled_from(PIECES) | st.binary(max_size=12), max_size=60),
    window=st.sampled_from([16, 64, 4096, 1 << 20]),
    crowd=st.sampled_from([1, 3, 8192]),
    cut=st.integers(0, 40),
)
def test_anchored_scan_yields_what_finditer_yields(
    parts: list[bytes], window: int, crowd: int, cut: int
) -> None:
    data = b"".join(parts)
    start, end = min(cut, len(data)), max(len(data) - cut // 2, min(cut, len(data)))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(elf_language, "MARKER_WINDOW", window)
        patch.setattr(elf_language, "MAX_WINDOW_ANCHORS", crowd)
        anchored = _spans(elf_language._marker_matches(data, start, end))
    assert anchored == _spans(elf_language.MARKER_SCAN.finditer(data, start, end))


def test_every_marker_pattern_starts_with_an_anchor() -> None:
    for _, pattern in elf_language.MARKER_PATTERNS:
        prefix = elf_language._literal_prefix(pattern)
        assert prefix and any(prefix.startswith(a) for a in elf_language.MARKER_ANCHORS)
    assert elf_language._literal_prefix(rb"/pyo3(?:-ffi)?-\d+") == b"/pyo3"
    assert elf_language._literal_prefix(rb"ab?c") == b"a"
    assert elf_language._literal_prefix(rb"ab+c") == b"ab"
    assert elf_language._literal_prefix(rb"SQLite format 3\x00") == b"SQLite format 3\0"
