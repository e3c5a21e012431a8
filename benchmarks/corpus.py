#!/usr/bin/env python3
"""Build the benchmark corpus: ELF members of pinned wheels, unpacked (run by hand).

Usage: ``python benchmarks/corpus.py [--cache DIR] [--no-peers]``. Wheels are fetched with
``pip download`` (binary wheels only, no dependencies, manylinux x86_64, CPython 3.11) into
``CACHE/wheels``; the ELF members of each are written to ``CACHE/corpus/<dist>-<version>/``
(nothing else: no Python code, so pytest has nothing to import there). ``CACHE/venv`` gets
the peer ``checksec.py`` (LIEF), kept out of the project's environment. The default CACHE is
``$MEMSAFE_BENCH_CACHE`` or ``~/.cache/pytest-memsafe-bench``. Everything is reused when
already there. Files are only copied out of the archives: never imported or run.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import venv
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Final

ELF_MAGIC: Final = b"\x7fELF"
PLATFORMS: Final = ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64")
PYTHON_VERSION: Final = "3.11"
PEERS: Final = ("checksec.py==0.7.4",)
"""PyPI peers installed in the benchmark's own venv (checksec.py brings LIEF)."""
DONE_MARKER: Final = ".unpacked"


@dataclass(frozen=True, slots=True)
class PinnedWheel:
    """One distribution of the corpus, at an exact version."""

    name: str
    version: str
    language: str
    """What its binaries are mostly written in (for the reader; nothing depends on it)."""

    @property
    def requirement(self) -> str:
        return f"{self.name}=={self.version}"

    @property
    def stem(self) -> str:
        """The wheel file name's ``<dist>-<version>`` prefix (PEP 427 normalisation)."""
        return f"{re.sub(r'[-_.]+', '_', self.name).lower()}-{self.version}"


WHEELS: Final = (
    PinnedWheel("cryptography", "43.0.3", "Rust + C (OpenSSL)"),
    PinnedWheel("orjson", "3.10.11", "Rust"),
    PinnedWheel("pydantic-core", "2.23.4", "Rust"),
    PinnedWheel("rpds-py", "0.21.0", "Rust"),
    PinnedWheel("tokenizers", "0.20.3", "Rust"),
    PinnedWheel("polars", "1.14.0", "Rust (one ~100 MB library)"),
    PinnedWheel("markupsafe", "3.0.2", "C"),
    PinnedWheel("pyyaml", "6.0.2", "C (Cython) + libyaml"),
    PinnedWheel("psutil", "6.1.0", "C"),
    PinnedWheel("lxml", "5.3.0", "Cython + libxml2/libxslt"),
    PinnedWheel("pillow", "11.0.0", "C + vendored image libraries"),
    PinnedWheel("numpy", "2.1.3", "C + vendored OpenBLAS, gfortran"),
    PinnedWheel("scipy", "1.14.1", "C, C++, Fortran, Cython + vendored OpenBLAS"),
    PinnedWheel("pandas", "2.2.3", "Cython"),
    PinnedWheel("scikit-learn", "1.5.2", "Cython + vendored libgomp"),
    PinnedWheel("grpcio", "1.67.1", "C++ (Cython binding)"),
    PinnedWheel("kiwisolver", "1.4.7", "C++"),
    PinnedWheel("contourpy", "1.3.1", "C++ (pybind11)"),
    PinnedWheel("pyarrow", "18.0.0", "C++ (Arrow, large libraries)"),
)
"""The pinned corpus: Rust, C, C++, Cython and vendored BLAS, from popular wheels."""


def default_cache() -> Path:
    """``$MEMSAFE_BENCH_CACHE``, else ``~/.cache/pytest-memsafe-bench`` (outside the repo)."""
    configured = os.environ.get("MEMSAFE_BENCH_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "pytest-memsafe-bench"


def wheel_file(wheels_dir: Path, wheel: PinnedWheel) -> Path | None:
    """The downloaded wheel of ``wheel``, if it is there."""
    found = sorted(wheels_dir.glob(f"{wheel.stem}-*.whl"), key=lambda p: p.name.lower())
    if not found:  # some projects keep capitals in their wheel names (MarkupSafe, PyYAML)
        found = [p for p in wheels_dir.glob("*.whl") if p.name.lower().startswith(wheel.stem)]
    return found[0] if found else None


def download(wheels_dir: Path, wheels: Sequence[PinnedWheel]) -> None:
    """``pip download`` the wheels not yet in ``wheels_dir``, in one pip run."""
    missing = [w.requirement for w in wheels if wheel_file(wheels_dir, w) is None]
    if not missing:
        return
    wheels_dir.mkdir(parents=True, exist_ok=True)
    platforms = [arg for platform in PLATFORMS for arg in ("--platform", platform)]
    subprocess.run(
        [
            sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:",
            "--no-deps", *platforms, "--python-version", PYTHON_VERSION,
            "--implementation", "cp", "--dest", str(wheels_dir), *missing,
        ],
        check=True,
    )  # fmt: skip


def safe_member_path(name: str) -> PurePosixPath | None:
    """A member name as a relative path, or None when it would leave the target folder."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        return None
    return path


def unpack(wheel_path: Path, target: Path) -> int:
    """Write the ELF members of ``wheel_path`` below ``target`` (mode 0644); their count."""
    count = 0
    with zipfile.ZipFile(wheel_path) as archive:
        for info in archive.infolist():
            relative = safe_member_path(info.filename)
            if info.is_dir() or relative is None:
                continue
            with archive.open(info) as member:
                if member.read(len(ELF_MAGIC)) != ELF_MAGIC:
                    continue
            out = target.joinpath(*relative.parts)
            out.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as member, out.open("wb") as handle:
                while chunk := member.read(1 << 20):
                    handle.write(chunk)
            out.chmod(0o644)
            count += 1
    return count


def build_corpus(cache: Path, wheels: Sequence[PinnedWheel] = WHEELS) -> Path:
    """Download and unpack every pinned wheel; the corpus folder."""
    wheels_dir, corpus = cache / "wheels", cache / "corpus"
    download(wheels_dir, wheels)
    for wheel in wheels:
        target = corpus / wheel.stem
        if (target / DONE_MARKER).exists():
            continue
        path = wheel_file(wheels_dir, wheel)
        if path is None:
            raise SystemExit(f"pip did not fetch {wheel.requirement}")
        count = unpack(path, target)
        (target / DONE_MARKER).write_text(f"{path.name}\n{count} ELF files\n")
        print(f"{wheel.requirement:<24} {count:>4} ELF files  ({wheel.language})")
    return corpus


def peer_venv(cache: Path) -> Path:
    """A venv under ``cache`` with the PyPI peers installed; its directory."""
    env_dir = cache / "venv"
    python = env_dir / "bin" / "python"
    if not python.exists():
        venv.create(env_dir, with_pip=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", *PEERS],
        check=True,
    )
    return env_dir


def corpus_summary(corpus: Path) -> str:
    """Files and bytes of the corpus, and its largest file."""
    files = [p for p in corpus.rglob("*") if p.is_file() and p.name != DONE_MARKER]
    total = sum(p.stat().st_size for p in files)
    largest = max(files, key=lambda p: p.stat().st_size)
    return (
        f"{len(files)} ELF files, {total / 1e6:.1f} MB; largest "
        f"{largest.relative_to(corpus)} ({largest.stat().st_size / 1e6:.1f} MB)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cache", type=Path, default=default_cache(), help="cache folder")
    parser.add_argument("--no-peers", action="store_true", help="skip the checksec.py venv")
    args = parser.parse_args(argv)
    corpus = build_corpus(args.cache)
    print(f"corpus: {corpus}: {corpus_summary(corpus)}")
    if not args.no_peers:
        print(f"peers: {peer_venv(args.cache)} ({', '.join(PEERS)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
