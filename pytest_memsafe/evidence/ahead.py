"""Parse ahead: a helper process fills the evidence store while pytest runs the items.

A cold run needs each binary's evidence in item order, one file at a time, while a second
CPU sits idle. The helper (``python -c`` running :func:`main`, so nothing is forked from
pytest) gets the files the :class:`~.store.EvidenceStore` cannot yet vouch for in item
order, each big one moved ahead by about as many items as it takes to parse
(:func:`helper_order`), and parses and stores them one after the other, announcing each
file as it starts it. When an item needs a file the helper has passed, its evidence is
in the store; when the helper is on that very file, the item waits for it (no longer than
:data:`WAIT_SECONDS`), parsing the next small files the helper has not started meanwhile;
when the helper has not started it, the item's own process parses it. Either way the
helper later finds those files stored and skips them. So the helper only saves time: a
helper that fails, stalls or is stopped changes no result. It writes nowhere but the
store, judges nothing and, like the plugin, never imports or runs a binary. No pytest
import.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, Final

from ..model import BinaryFormat
from . import EvidenceCache, EvidenceStore

__all__ = ["MIN_AHEAD_BYTES", "ParseAhead", "helper_order", "main", "usable_cpus"]

MIN_AHEAD_BYTES: Final = 8 << 20
"""``auto`` starts a helper only for this much to parse: below it, the helper's own start
(~0.1 s: interpreter and imports) costs about what it saves."""
STOP_SECONDS: Final = 5.0
"""How long a helper that is asked to stop gets before it is killed."""
MAX_STEAL_BYTES: Final = 4 << 20
"""Files the waiting process parses itself are no larger (a few ms each), so a steal never
holds up an item for long after the helper is done."""
ITEM_SECONDS_PER_FILE: Final = 0.005
"""About what the items of one binary take (ten checks of ~0.5 ms)."""
PARSE_BYTES_PER_SECOND: Final = 200e6
"""About how fast the helper parses and stores (its whole run on the benchmark corpus)."""
WAIT_SECONDS: Final = 10.0
"""The longest an item waits for the file the helper is on before parsing it itself (the
loaders' limits keep real files under a second)."""


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class ParseAhead:
    """A running helper process, and how far it has got."""

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        cache: EvidenceCache,
        files: Sequence[tuple[str, BinaryFormat, int]],
        job: Sequence[int] | None = None,
    ) -> None:
        self.process = process
        self.parsed: int | None = None
        """How many it parsed and stored (after :meth:`finish`; ``None`` if not known)."""
        self._cache = cache
        self._files = files
        self._job = list(job) if job is not None else list(range(len(files)))
        """The helper's order: the index in ``files`` of each file it was sent."""
        self._claimed = bytearray(len(files))
        """Per file: the helper has started it, or this process took it while waiting."""
        self._next = 0
        """Files before this one are claimed or too big to take."""
        self._stealing = False
        self._order = {path: index for index, (path, _, _) in enumerate(files)}
        self._position = -1
        """Index in ``files`` of the file the helper is on."""
        self._changed = threading.Condition()
        self._summary = b""
        self._finished = False
        threading.Thread(target=self._follow, daemon=True).start()

    @classmethod
    def start(
        cls, cache: EvidenceCache, files: Sequence[tuple[str, BinaryFormat, int]]
    ) -> ParseAhead | None:
        """A helper storing ``files`` (path, format, size; in the order the items need them)
        into the store of ``cache``, or ``None`` when there is no store or it cannot be
        started."""
        if cache.store is None or not files:
            return None
        order = helper_order([size for _, _, size in files])
        job = {
            "store": str(cache.store.root.parent),
            "reading": cache.store.root.name,
            "language": cache.language,
            "files": [(files[index][0], files[index][1].value) for index in order],
        }
        package_parent = str(Path(__file__).resolve().parents[2])
        code = (
            f"import sys; sys.path.insert(0, {package_parent!r}); "
            "from pytest_memsafe.evidence.ahead import main; raise SystemExit(main())"
        )
        try:
            process = subprocess.Popen(
                [sys.executable, "-c", code],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
        except OSError:
            return None
        # Written from a thread: a job larger than the pipe buffer must not hold up pytest.
        feeder = threading.Thread(
            target=_feed, args=(process.stdin, json.dumps(job).encode()), daemon=True
        )
        feeder.start()
        return cls(process, cache, files, order)

    def wait_for(self, path: str) -> None:
        """Return once the helper is not on ``path`` (done with it, not there yet, gone), or
        after :data:`WAIT_SECONDS`. Meanwhile, parse the next small files the helper has not
        started (it will find them stored), so the wait is not idle time."""
        index = self._order.get(path)
        if index is None or self._stealing:
            return
        deadline = time.monotonic() + WAIT_SECONDS
        while self._position == index and time.monotonic() < deadline:
            if not self._steal(after=index):
                with self._changed:
                    self._changed.wait_for(
                        lambda: self._position != index, timeout=deadline - time.monotonic()
                    )

    def _steal(self, after: int) -> bool:
        """Parse the first file after ``after`` that is not claimed and is small; ``False``
        when there is none."""
        self._next = max(self._next, after + 1)
        while self._next < len(self._files):
            index = self._next
            self._next += 1
            path, fmt, size = self._files[index]
            if not self._claimed[index] and size <= MAX_STEAL_BYTES:
                self._claimed[index] = True
                self._stealing = True
                try:
                    self._cache.fill(path, fmt, keep=True)
                except Exception:  # its own items parse it again and report why
                    pass
                finally:
                    self._stealing = False
                return True
        return False

    def _follow(self) -> None:
        """Track the helper's "starting file N" lines; its last line is its JSON summary."""
        assert self.process.stdout is not None
        with self.process.stdout:
            for line in self.process.stdout:
                if line[:1] == b"{":
                    self._summary = line
                    continue
                if not line.strip().isdigit() or int(line) >= len(self._job):
                    break  # not the helper's protocol: stop following it
                with self._changed:
                    self._position = self._job[int(line)]
                    self._claimed[self._position] = True
                    self._changed.notify_all()
        with self._changed:
            self._position = len(self._files)  # gone: nothing left to wait for
            self._changed.notify_all()

    def finish(self) -> int | None:
        """Stop the helper if it still runs (its work is then no longer needed) and return
        how many files it parsed; idempotent."""
        if self._finished:
            return self.parsed
        self._finished = True
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        with self._changed:  # the reader has seen the end of its output
            self._changed.wait_for(lambda: self._position == len(self._files), timeout=STOP_SECONDS)
        try:
            self.parsed = int(json.loads(self._summary)["parsed"])
        except (ValueError, TypeError, KeyError):
            self.parsed = None
        return self.parsed

    def close(self) -> None:
        """:meth:`finish`, for a cleanup callback."""
        self.finish()


def helper_order(sizes: Sequence[int]) -> list[int]:
    """The order the helper gets files of these sizes in (given in item order): by the
    latest time each can start and still be ready when its items come, so a big library
    moves ahead of the small files before it by about as many items as it takes to parse
    (measured on the benchmark corpus: ~0.3 s off a cold run against item order, the pytest
    process no longer waiting on the big ones)."""
    return sorted(
        range(len(sizes)),
        key=lambda index: index * ITEM_SECONDS_PER_FILE - sizes[index] / PARSE_BYTES_PER_SECOND,
    )


def _feed(pipe: IO[bytes] | None, data: bytes) -> None:
    if pipe is None:
        return
    try:
        with pipe:
            pipe.write(data)
    except OSError:  # the helper is gone: nothing to feed
        pass


def _stop(signum: int, frame: Any) -> None:
    raise SystemExit(0)


def main() -> int:
    """The helper: read the job from stdin; for each file, print its index, then see that
    the store holds its evidence; at the end print what it did as one JSON line."""
    signal.signal(signal.SIGTERM, _stop)  # finish the entry being written, then report
    counts = {"parsed": 0, "known": 0, "failed": 0}
    try:
        job = json.load(sys.stdin)
        store = EvidenceStore(Path(job["store"]), reading=str(job["reading"]))
        cache = EvidenceCache(digest=True, language=bool(job["language"]), store=store)
        for index, (path, fmt) in enumerate(job["files"]):
            print(index, flush=True)
            try:
                counts[cache.fill(str(path), BinaryFormat(fmt))] += 1
            except Exception:  # the items parse it again and report why
                counts["failed"] += 1
    finally:
        print(json.dumps(counts), flush=True)
    return 0
