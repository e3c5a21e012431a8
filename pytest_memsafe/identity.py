"""Stable module identities: the key baselines and fingerprints use (stdlib only).

An identity survives what changes between builds of the same module: the CPython or PyPy
ABI tag and platform in the file name, the layout (``src/`` tree, ``build/lib.*``, an
installed ``site-packages``, a wheel member), never depending on a pytest node id or an
absolute path.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["module_identity", "slice_display", "split_slice"]

_ABI_TAG: Final = re.compile(
    r"""\.(?:
        cpython-\d+[a-z]*(?:-[A-Za-z0-9_]+)*     # .cpython-311-x86_64-linux-gnu, -313t-darwin
      | pypy\d*-pp\d+(?:-[A-Za-z0-9_]+)*         # .pypy39-pp73-x86_64-linux-gnu
      | cp\d+[a-z]*(?:-[A-Za-z0-9_]+)*           # .cp311-win_amd64
      | abi3
    )$""",
    re.VERBOSE,
)
_SUFFIX: Final = re.compile(r"\.(?:so(?:\.\d+)*|pyd|dll|dylib)$", re.IGNORECASE)
_SLICE: Final = re.compile(r"\[[^\[\]/]+\]$")
"""A universal Mach-O slice's ``[arm64]`` (binary file names never end in ``]``)."""


def slice_display(display: str, arch: str) -> str:
    """How one slice of a universal file is named: ``pkg/_x.so[arm64]``."""
    return f"{display}[{arch}]"


def split_slice(display: str) -> tuple[str, str]:
    """``pkg/_x.so[arm64]`` -> (``pkg/_x.so``, ``[arm64]``); any other path -> (path, "")."""
    found = _SLICE.search(display)
    return (display[: found.start()], found.group()) if found else (display, "")


_LAYOUT_PREFIX: Final = re.compile(
    r"^(?:.*?(?:^|/)(?:site-packages|dist-packages)/|.*?\.whl!|src/|lib/|build/lib[^/]*/)"
)


def module_identity(path: str) -> str:
    """``src/pkg/_x.cpython-311-x86_64-linux-gnu.so`` -> ``pkg/_x``.

    Removes the file suffix (``.so``, ``.so.1.2``, ``.pyd``, ``.dylib``), then an ABI tag
    (``cpython-*``, ``pypy*-pp*``, ``cp*-win_*``, ``abi3``), then a leading layout prefix: a
    wheel name up to ``!``, anything up to ``site-packages/`` or ``dist-packages/``, or a
    leading ``src/``, ``lib/`` or ``build/lib*/``. Vendored libraries keep their own name. A
    universal file's slice keeps its ``[arch]``: ``pkg/_x[arm64]``.
    """
    posix, arch = split_slice(path.replace("\\", "/"))
    stem = _SUFFIX.sub("", posix)
    stem = _ABI_TAG.sub("", stem)
    return _LAYOUT_PREFIX.sub("", stem, count=1) + arch
