"""Fuzz the evidence loaders with mutated real binaries (run by hand; never collected).

Each case is a seed binary with one to five structure-aware edits (``tests/elf_mutations.py``:
lies in headers, tables, notes, symbols, ``.eh_frame``, DWARF and string tables, overlapping
and self-pointing structures, truncation at every boundary). The loader of the seed's format
must return evidence or raise ``MalformedBinaryError``; anything else is a crash, and a case
that runs past ``--timeout`` is a hang. Cases run in a worker process under a watchdog
(``signal.setitimer`` inside, a kill from outside when even that does not return), with an
address-space limit so a runaway allocation fails instead of swapping.

Every case is reproducible from ``--seed`` and its number. Each crash or hang is minimised
(edits dropped while the failure stays) and written to ``--out`` as the mutated file plus a
JSON note with the seed, the edits and the traceback.

    python benchmarks/fuzz.py --cases 100000 [--seeds DIR_OR_FILE ...] [--seed N]

Without ``--seeds`` the seeds are built with gcc (``tests/corpus.py``: hardened, weak,
stripped of section headers, and one with DWARF) and, when rustc and g++ are there, the Rust
and C++ modules of ``tests/lang_corpus.py``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import random
import resource
import signal
import sys
import tempfile
import time
import traceback
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from types import FrameType
from typing import Final

ROOT: Final = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pytest_memsafe.discovery import is_candidate_name  # noqa: E402
from pytest_memsafe.errors import MalformedBinaryError  # noqa: E402
from pytest_memsafe.evidence.elf import load_elf_bytes  # noqa: E402
from pytest_memsafe.evidence.macho import load_macho_bytes  # noqa: E402
from pytest_memsafe.evidence.pe import load_pe_bytes  # noqa: E402
from pytest_memsafe.model import BinaryFormat  # noqa: E402
from pytest_memsafe.sniff import sniff_format  # noqa: E402
from tests.elf_mutations import (  # noqa: E402
    Edit,
    Layout,
    apply_edits,
    byte_layout,
    elf_layout,
    random_edits,
)

__all__ = ["FORMATS", "Format", "byte_layout", "main"]

Loader = Callable[[bytes, str], object]
"""Reads one file's evidence from memory; raises ``MalformedBinaryError`` when it cannot."""


@dataclass(frozen=True)
class Format:
    """What the fuzzer needs of one binary format."""

    name: str
    sniff: Callable[[bytes], bool]
    load: Loader
    layout: Callable[[bytes], Layout | None]
    """The structures to mutate (``None``: the bytes are not of this format)."""


def _sniffs(fmt: BinaryFormat) -> Callable[[bytes], bool]:
    return lambda head: sniff_format(head) is fmt


FORMATS: Final[dict[str, Format]] = {
    "elf": Format("elf", _sniffs(BinaryFormat.ELF), load_elf_bytes, elf_layout),
    "pe": Format("pe", _sniffs(BinaryFormat.PE), load_pe_bytes, byte_layout),
    "macho": Format("macho", _sniffs(BinaryFormat.MACHO), load_macho_bytes, byte_layout),
}
"""Format name -> sniff, loader ``(bytes, label) -> evidence`` raising
``MalformedBinaryError``, and layout. PE and Mach-O use ``byte_layout`` (format-blind word
and region edits; their headers sit in the first pages, where most edits land)."""

SOFT_TIMEOUT: Final = 2.0
"""CPU seconds a case may use before the worker interrupts it (a hang)."""
HARD_TIMEOUT_FACTOR: Final = 10
"""The watchdog kills a worker stuck on one case this many soft timeouts of wall time."""
ADDRESS_SPACE_LIMIT: Final = 2 << 30
"""Worker address space: a crafted size that makes the loader allocate fails here."""
TRACE_EVERY: Final = 50
"""One case in this many (per seed) runs under tracemalloc, for the per-case allocation peak."""
MAX_SEED_BYTES: Final = 8 << 20
"""Larger seeds are skipped by default (each case copies its seed: big seeds make few cases)."""
BATCH: Final = 500
"""Cases per worker process."""
REPORT_EVERY: Final = 100
"""A worker sends its figures this often (a killed worker loses at most these outcomes)."""


@dataclass
class Seed:
    name: str
    fmt: str
    data: bytes
    layout: Layout


@dataclass
class Failure:
    kind: str
    """``crash`` or ``hang``."""
    case: int
    seed: str
    edits: list[Edit]
    detail: str
    seconds: float = 0.0
    reproduced: bool = True
    """Whether it failed the same way when run again in the parent."""


@dataclass
class Stats:
    cases: int = 0
    evidence: int = 0
    malformed: int = 0
    seconds: float = 0.0
    slowest: tuple[float, int, str] = (0.0, -1, "")
    traced_peak: tuple[int, int, str] = (0, -1, "")
    failures: list[Failure] = field(default_factory=list)
    maxrss_kb: int = 0


# --------------------------------------------------------------------------- cases


def case_edits(run_seed: int, case: int, seeds: list[Seed]) -> tuple[Seed, list[Edit]]:
    """The seed file and the edits of case number ``case`` (deterministic)."""
    rng = random.Random(run_seed * 1_000_003 + case)
    return seeds[case % len(seeds)], random_edits(rng, max_edits=5)


class Hang(BaseException):
    """The case ran past the soft timeout (BaseException: the loader must not catch it)."""


def run_case(seed: Seed, edits: list[Edit], timeout: float) -> tuple[str, float, str]:
    """(``evidence``/``malformed``/``crash``/``hang``, CPU seconds, detail) of one case.

    CPU time, for the figure and the timeout alike: on a shared machine a case descheduled
    for a second is not slow. A case blocked off the CPU is caught by the wall-clock
    watchdog of :func:`run_cases` instead."""
    data = apply_edits(seed.data, seed.layout, edits)
    load = FORMATS[seed.fmt].load

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        raise Hang

    previous = signal.signal(signal.SIGPROF, on_alarm)
    started = time.process_time()
    signal.setitimer(signal.ITIMER_PROF, timeout, timeout)
    try:
        load(data, seed.name)
        outcome, detail = "evidence", ""
    except MalformedBinaryError:
        outcome, detail = "malformed", ""
    except Hang:
        outcome, detail = "hang", f"over {timeout} s"
    except Exception:  # the point of the fuzzer: any other exception is a finding
        outcome, detail = "crash", traceback.format_exc(limit=-8)
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)
    return outcome, time.process_time() - started, detail


def _worker(
    seeds: list[Seed], run_seed: int, start: int, stop: int, timeout: float,
    current: Synchronized[int], out: Connection,
) -> None:  # fmt: skip
    """Run cases ``start..stop``; report failures as they happen, stats every
    :data:`REPORT_EVERY` cases, then ``"done"``."""
    limit = ADDRESS_SPACE_LIMIT
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    stats = Stats()
    for case in range(start, stop):
        current.value = case
        seed, edits = case_edits(run_seed, case, seeds)
        traced = case // len(seeds) % TRACE_EVERY == 0
        if traced:
            tracemalloc.start()
        outcome, seconds, detail = run_case(seed, edits, timeout)
        if traced:
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            stats.traced_peak = max(stats.traced_peak, (peak, case, seed.name))
        stats.cases += 1
        stats.seconds += seconds
        stats.slowest = max(stats.slowest, (seconds, case, seed.name))
        if outcome == "evidence":
            stats.evidence += 1
        elif outcome == "malformed":
            stats.malformed += 1
        else:
            out.send(Failure(outcome, case, seed.name, edits, detail, seconds))
        if stats.cases == REPORT_EVERY or case == stop - 1:
            stats.maxrss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            out.send(stats)
            stats = Stats()
    out.send("done")


def run_cases(seeds: list[Seed], run_seed: int, cases: int, timeout: float) -> Stats:
    """Every case, in worker processes restarted after a watchdog kill; merged stats."""
    total = Stats()
    context = mp.get_context("fork")
    next_case, reported = 0, time.monotonic()
    while next_case < cases:
        stop = min(cases, next_case + BATCH)
        current = context.Value("q", next_case)
        receive, send = context.Pipe(duplex=False)
        worker = context.Process(
            target=_worker, args=(seeds, run_seed, next_case, stop, timeout, current, send)
        )
        worker.start()
        send.close()
        next_case = _watch(worker, receive, current, timeout, total, next_case, stop)
        if time.monotonic() - reported > 30:
            reported = time.monotonic()
            _progress(total, next_case, cases)
    return total


def _watch(
    worker: mp.process.BaseProcess, receive: Connection, current: object, timeout: float,
    total: Stats, start: int, stop: int,
) -> int:  # fmt: skip
    """Collect one worker's reports; kill it when one case outlasts the hard timeout, and
    record a worker that dies (a segfault, the kernel's OOM killer) as a crash. Returns the
    next case to run."""
    last_case, since, counted = -1, time.monotonic(), start
    while True:
        if receive.poll(0.2):
            try:
                message = receive.recv()
            except EOFError:
                message = None
            if message == "done":
                worker.join()
                return stop
            if isinstance(message, Stats):
                _merge(total, message)
                counted += message.cases
                continue
            if isinstance(message, Failure):
                total.failures.append(message)
                continue
        case = int(current.value)  # type: ignore[attr-defined]
        if case != last_case:
            last_case, since = case, time.monotonic()
        elif time.monotonic() - since > HARD_TIMEOUT_FACTOR * timeout or not worker.is_alive():
            alive = worker.is_alive()
            worker.kill()
            worker.join()
            kind, detail = ("hang", "killed by the watchdog") if alive else (
                "crash", f"the worker died (exit status {worker.exitcode})")  # fmt: skip
            total.failures.append(Failure(kind, case, "", [], detail, time.monotonic() - since))
            total.cases += case + 1 - counted  # outcomes of the unreported cases are lost
            return case + 1


def _merge(total: Stats, part: Stats) -> None:
    total.cases += part.cases
    total.evidence += part.evidence
    total.malformed += part.malformed
    total.seconds += part.seconds
    total.slowest = max(total.slowest, part.slowest)
    total.traced_peak = max(total.traced_peak, part.traced_peak)
    total.failures.extend(part.failures)
    total.maxrss_kb = max(total.maxrss_kb, part.maxrss_kb)


def _progress(total: Stats, done: int, cases: int) -> None:
    print(
        f"  {done}/{cases} cases, {len(total.failures)} failures, "
        f"slowest {total.slowest[0] * 1000:.0f} ms",
        file=sys.stderr,
        flush=True,
    )


# --------------------------------------------------------------------------- minimising


def minimise(seed: Seed, edits: list[Edit], kind: str, timeout: float) -> list[Edit]:
    """Drop edits, one at a time, while the case still fails the same way."""
    kept = list(edits)
    changed = True
    while changed and len(kept) > 1:
        changed = False
        for index in range(len(kept)):
            trial = kept[:index] + kept[index + 1 :]
            if run_case(seed, trial, timeout)[0] == kind:
                kept, changed = trial, True
                break
    return kept


def write_failure(out: Path, failure: Failure, seeds: dict[str, Seed], timeout: float) -> Path:
    """Minimise ``failure`` and write the input and a JSON note; returns the input's path."""
    seed = seeds[failure.seed]
    outcome, seconds, detail = run_case(seed, failure.edits, timeout)
    failure.reproduced = outcome == failure.kind
    if not failure.reproduced:  # e.g. a worker starved of CPU: keep the input, say so
        failure.detail += f"; not reproduced: {outcome} in {seconds * 1000:.0f} ms CPU"
    edits = minimise(seed, failure.edits, failure.kind, timeout) if failure.reproduced else []
    edits = edits or failure.edits
    data = apply_edits(seed.data, seed.layout, edits)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{failure.kind}-{failure.case}-{seed.name}"
    (out / f"{stem}.bin").write_bytes(data)
    note = {
        "kind": failure.kind,
        "case": failure.case,
        "seed": seed.name,
        "edits": [asdict(edit) for edit in edits],
        "reproduced": failure.reproduced,
        "detail": (run_case(seed, edits, timeout)[2] if failure.reproduced else "")
        or detail
        or failure.detail,
    }
    (out / f"{stem}.json").write_text(json.dumps(note, indent=2) + "\n")
    return out / f"{stem}.bin"


# --------------------------------------------------------------------------- seeds


def built_seeds(work: Path) -> Iterator[Path]:
    """Seeds compiled from the test corpus (what the toolchain here can build)."""
    from tests.corpus import SOURCES, build_variant, require_tool, run_tool

    for name in ("hardened", "weak", "nosections", "rpath-origin"):
        yield build_variant(name, work)
    debug = work / "debug.cpython-311-x86_64-linux-gnu.so"
    run_tool([require_tool("gcc"), "-shared", "-fPIC", "-O2", "-g", "-DMODULE=debug",
              f"-I{SOURCES}", str(SOURCES / "ext.c"), "-o", str(debug)])  # fmt: skip
    yield debug
    from tests.lang_corpus import build_lang

    for name in ("rust", "cpp", "cython-c"):
        try:
            yield build_lang(name, work / "lang")
        except BaseException as exc:  # pytest.skip when a toolchain is missing
            print(f"  seed {name} not built: {exc}", file=sys.stderr)


def seed_files(paths: list[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(
                p for p in path.rglob("*") if p.is_file() and is_candidate_name(p.name)
            )
        elif path.is_file():
            yield path


def load_seeds(
    paths: Iterator[Path], limit: int, max_bytes: int = MAX_SEED_BYTES, *, blind: bool = False
) -> list[Seed]:
    """Readable seeds of a known format that parse cleanly (mutations start from sound files);
    ``blind`` lays every seed out with :func:`byte_layout`."""
    seeds: list[Seed] = []
    for path in paths:
        if path.stat().st_size > max_bytes:
            continue
        data = path.read_bytes()
        for fmt in FORMATS.values():
            if not fmt.sniff(data[:64]):
                continue
            layout = byte_layout(data) if blind else fmt.layout(data)
            try:
                fmt.load(data, path.name)
            except MalformedBinaryError:
                layout = None
            if layout is not None:
                seeds.append(Seed(f"{len(seeds)}-{path.name}", fmt.name, data, layout))
        if len(seeds) >= limit:
            break
    return seeds


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seeds", type=Path, nargs="*", default=None,
                        help="seed files or folders (default: build them with gcc)")  # fmt: skip
    parser.add_argument("--max-seeds", type=int, default=40)
    parser.add_argument("--max-seed-bytes", type=int, default=MAX_SEED_BYTES)
    parser.add_argument("--seed", type=int, default=0, help="random seed of the run")
    parser.add_argument("--timeout", type=float, default=SOFT_TIMEOUT)
    parser.add_argument("--out", type=Path, default=Path("fuzz-findings"))
    parser.add_argument("--blind", action="store_true",
                        help="format-blind word and region edits")  # fmt: skip
    parser.add_argument("--replay", type=int, nargs="*", default=None,
                        help="run only these case numbers, in this process")  # fmt: skip
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="memsafe-fuzz-") as work:
        paths = seed_files(args.seeds) if args.seeds else built_seeds(Path(work))
        seeds = load_seeds(paths, args.max_seeds, args.max_seed_bytes, blind=args.blind)
    if not seeds:
        print("no usable seeds", file=sys.stderr)
        return 2
    print(f"seeds: {len(seeds)} ({sum(len(s.data) for s in seeds)} bytes): "
          + ", ".join(s.name for s in seeds))  # fmt: skip
    if args.replay is not None:
        for case in args.replay:
            seed, edits = case_edits(args.seed, case, seeds)
            print(case, seed.name, edits, run_case(seed, edits, args.timeout))
        return 0

    started = time.perf_counter()
    stats = run_cases(seeds, args.seed, args.cases, args.timeout)
    wall = time.perf_counter() - started
    by_name = {seed.name: seed for seed in seeds}
    for failure in stats.failures:
        if not failure.seed:  # the worker was killed or died: rebuild the case from its number
            seed, edits = case_edits(args.seed, failure.case, seeds)
            failure.seed, failure.edits = seed.name, edits
        written = write_failure(args.out, failure, by_name, args.timeout)
        print(f"{failure.kind}: case {failure.case} ({failure.seed}) -> {written}")
        print("   " + failure.detail.strip().replace("\n", "\n   "))
    report(stats, wall, args)
    return 1 if stats.failures else 0


def report(stats: Stats, wall: float, args: argparse.Namespace) -> None:
    crashes = sum(f.kind == "crash" for f in stats.failures)
    hangs = sum(f.kind == "hang" for f in stats.failures)
    unconfirmed = sum(not f.reproduced for f in stats.failures)
    slow, slow_case, slow_seed = stats.slowest
    peak, peak_case, peak_seed = stats.traced_peak
    print(f"cases:        {stats.cases} (run seed {args.seed}, timeout {args.timeout} s)")
    print(f"outcomes:     {stats.evidence} evidence, {stats.malformed} MalformedBinaryError")
    print(f"crashes:      {crashes}")
    print(f"hangs:        {hangs}")
    print(f"not reproduced on a second run: {unconfirmed}")
    print(f"slowest case: {slow * 1000:.1f} ms CPU (case {slow_case}, {slow_seed})")
    print(f"mean case:    {stats.seconds / max(1, stats.cases) * 1000:.2f} ms CPU")
    print(f"peak traced:  {peak / 1e6:.1f} MB in one case (1 in {TRACE_EVERY} traced; "
          f"case {peak_case}, {peak_seed})")  # fmt: skip
    print(f"peak RSS:     {stats.maxrss_kb / 1024:.0f} MB (largest worker)")
    print(f"wall time:    {wall:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
