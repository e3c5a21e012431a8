#!/usr/bin/env python3
"""Benchmark pytest-memsafe on a real tree of shared objects (run by hand, not a test).

Usage: ``python benchmarks/scan.py [DIR ...] [--no-pytest] [--no-readelf] [--repeat N]
[--json PATH]``. The default DIR is the running interpreter's site-packages.

For one set of files it measures (a) evidence extraction and the checks in-process,
(b) one ``readelf -W -d`` run per file, (c) ``pytest --memsafe DIR`` end to end, (d) plain
pytest running as many trivial items as (c) ran, and (e) extraction cost by file size.
Scanned binaries are only read by the evidence loader and by readelf: never imported or run.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Final, TypeVar

REPO: Final = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # measure the package of this checkout, not the installed one

from pytest_memsafe.checks import REGISTRY, CheckParams  # noqa: E402
from pytest_memsafe.discovery import discover  # noqa: E402
from pytest_memsafe.errors import MalformedBinaryError  # noqa: E402
from pytest_memsafe.evidence import LOADERS  # noqa: E402
from pytest_memsafe.evidence import elf as elf_module  # noqa: E402
from pytest_memsafe.evidence.elf import ElfEvidence, load_elf_evidence  # noqa: E402
from pytest_memsafe.model import Artifact, BinaryFormat  # noqa: E402

KB: Final = 1000
MB: Final = 1000 * KB
BUCKETS: Final = (
    ("< 100 KB", 0, 100 * KB),
    ("100 KB-1 MB", 100 * KB, MB),
    ("1-10 MB", MB, 10 * MB),
    ("> 10 MB", 10 * MB, math.inf),
)
"""Size buckets for (e): label, lower bound (inclusive), upper bound (exclusive)."""
ITEM_WORDS: Final = ("passed", "failed", "skipped", "xfailed", "xpassed", "error", "errors")
"""Words of pytest's outcome line that count items (``warnings`` does not)."""
GNU_TIME: Final = "/usr/bin/time"
T = TypeVar("T")
FLOOR_TEST: Final = """\
import pytest


@pytest.mark.parametrize("i", range({count}))
def test_x(i):
    pass
"""


# -- figures ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Timing:
    """Summary of per-file wall times, in seconds."""

    count: int
    total: float
    mean: float
    median: float
    p95: float
    slowest: float
    slowest_file: str = ""

    @classmethod
    def of(cls, samples: Sequence[tuple[str, float]]) -> Timing:
        """Summarise ``(label, seconds)`` samples."""
        if not samples:
            return cls(0, 0.0, 0.0, 0.0, 0.0, 0.0)
        times = sorted(seconds for _, seconds in samples)
        label, worst = max(samples, key=lambda sample: sample[1])
        return cls(
            count=len(times),
            total=sum(times),
            mean=statistics.fmean(times),
            median=statistics.median(times),
            p95=times[math.ceil(0.95 * len(times)) - 1],  # nearest rank
            slowest=worst,
            slowest_file=label,
        )


@dataclass(slots=True)
class FileSample:
    """One readable file and its best extraction and checks times."""

    path: str
    size: int
    extract_s: float = math.inf
    base_extract_s: float = math.inf
    """Extraction without the language signals (the provenance cost is the difference)."""
    checks_s: float = math.inf
    readelf_s: float = math.inf
    error: str | None = None
    """The :class:`MalformedBinaryError` detail, when the loader rejected the file."""


@dataclass(frozen=True, slots=True)
class Extraction:
    """Figures of phase (a)."""

    files: int
    total_bytes: int
    discovery_s: float
    extraction: Timing
    base_extraction: Timing
    """The same files read without language signals (``language=False``)."""
    checks: Timing
    slowest_file_bytes: int
    maxrss_before_kib: int
    maxrss_after_kib: int
    tracemalloc_peak_bytes: int
    tracemalloc_retained_bytes: int
    malformed: list[tuple[str, str]]
    unreadable: list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class ChildRun:
    """One timed child process: its wall time, own peak RSS and pytest's outcome line."""

    argv: list[str]
    wall_s: float
    maxrss_kib: int
    rss_source: str
    exit_code: int
    outcome_line: str
    items: int | None


@dataclass(frozen=True, slots=True)
class Bucket:
    """Phase (e): extraction cost of the files in one size range."""

    label: str
    files: int
    total_mb: float
    extract_total_s: float
    extract_mean_s: float


@dataclass(slots=True)
class Report:
    """Everything the script measured (written by ``--json``)."""

    dirs: list[str]
    python: str
    versions: str
    """pytest-memsafe and pyelftools versions, and a hash of the loader's source."""
    repeat: int
    extraction: Extraction
    readelf: Timing | None = None
    memsafe_run: ChildRun | None = None
    floor_run: ChildRun | None = None
    buckets: list[Bucket] = field(default_factory=list)


# -- (a) evidence extraction --------------------------------------------------------------


def versions() -> str:
    """What the figures were measured with (the loader hash tells work-tree edits apart)."""
    loader = hashlib.sha256(Path(elf_module.__file__).read_bytes()).hexdigest()[:12]
    return (
        f"pytest-memsafe {version('pytest-memsafe')}, pyelftools {version('pyelftools')}, "
        f"evidence/elf.py sha256 {loader}"
    )


def default_dirs() -> list[str]:
    """The interpreter's purelib and platlib, without duplicates."""
    paths = sysconfig.get_paths()
    return list(dict.fromkeys([paths["purelib"], paths["platlib"]]))


def find_artifacts(dirs: Sequence[str]) -> list[Artifact]:
    """Every ELF file under ``dirs``, as ``pytest --memsafe DIR ...`` would find them."""
    targets = [(Path(os.path.abspath(d)), d) for d in dirs]
    return discover(targets, rootdir=Path.cwd(), formats=LOADERS.keys())


def run_checks(evidence: ElfEvidence) -> None:
    """Every registry check with an ELF implementation, default parameters."""
    params = CheckParams()
    for spec in REGISTRY:
        impl = spec.impls.get(BinaryFormat.ELF)
        if impl is not None:
            impl(evidence, params)


def time_pass(samples: Sequence[FileSample], digest: bool) -> None:
    """Extract and check every file once, keeping each file's best time so far."""
    loaded: list[tuple[FileSample, ElfEvidence]] = []
    for sample in samples:
        start = time.perf_counter()
        with contextlib.suppress(MalformedBinaryError):
            load_elf_evidence(sample.path, digest=digest, language=False)
        sample.base_extract_s = min(sample.base_extract_s, time.perf_counter() - start)
        start = time.perf_counter()
        try:
            evidence = load_elf_evidence(sample.path, digest=digest)
        except MalformedBinaryError as exc:
            sample.error = exc.detail
        else:
            loaded.append((sample, evidence))
        sample.extract_s = min(sample.extract_s, time.perf_counter() - start)
    for sample, evidence in loaded:  # all evidence is held at once, as pytest's cache does
        start = time.perf_counter()
        run_checks(evidence)
        sample.checks_s = min(sample.checks_s, time.perf_counter() - start)


def traced_memory(samples: Sequence[FileSample], digest: bool) -> tuple[int, int]:
    """Peak and retained Python allocations of one untimed extract-and-check pass."""
    tracemalloc.start()
    try:
        kept = []
        for sample in samples:
            try:
                kept.append(load_elf_evidence(sample.path, digest=digest))
            except MalformedBinaryError:
                continue
            run_checks(kept[-1])
        retained, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, retained


def maxrss_kib() -> int:
    """This process's peak resident set so far (KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def measure_extraction(
    dirs: Sequence[str], repeat: int, digest: bool
) -> tuple[Extraction, list[FileSample]]:
    """Phase (a), plus the per-file samples the other phases reuse.

    ``digest`` adds the sha256 of each file, as a run that writes a JSON report does.
    """
    start = time.perf_counter()
    artifacts = find_artifacts(dirs)
    discovery_s = time.perf_counter() - start
    readable = [a for a in artifacts if a.problem is None]
    samples = [FileSample(path=a.path, size=os.path.getsize(a.path)) for a in readable]
    before = maxrss_kib()
    for _ in range(repeat):
        time_pass(samples, digest)
    after = maxrss_kib()
    peak, retained = traced_memory(samples, digest)
    ok = [s for s in samples if s.error is None]
    extraction = Timing.of([(s.path, s.extract_s) for s in samples])
    return (
        Extraction(
            files=len(samples),
            total_bytes=sum(s.size for s in samples),
            discovery_s=discovery_s,
            extraction=extraction,
            base_extraction=Timing.of([(s.path, s.base_extract_s) for s in samples]),
            checks=Timing.of([(s.path, s.checks_s) for s in ok]),
            slowest_file_bytes=next(
                (s.size for s in samples if s.path == extraction.slowest_file), 0
            ),
            maxrss_before_kib=before,
            maxrss_after_kib=after,
            tracemalloc_peak_bytes=peak,
            tracemalloc_retained_bytes=retained,
            malformed=[(s.path, s.error) for s in samples if s.error is not None],
            unreadable=[(a.display, a.problem) for a in artifacts if a.problem is not None],
        ),
        samples,
    )


# -- (b) readelf baseline -----------------------------------------------------------------


def measure_readelf(samples: Sequence[FileSample], readelf: str, repeat: int) -> Timing:
    """One ``readelf -W -d`` per file; the best of ``repeat`` runs, like the extraction."""
    for _ in range(repeat):
        for sample in samples:
            start = time.perf_counter()
            subprocess.run(
                [readelf, "-W", "-d", sample.path],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )
            elapsed = time.perf_counter() - start
            sample.readelf_s = min(sample.readelf_s, elapsed)
    return Timing.of([(s.path, s.readelf_s) for s in samples])


# -- (c, d) pytest runs -------------------------------------------------------------------


def run_child(argv: list[str], cwd: Path) -> ChildRun:
    """Run ``argv`` in ``cwd``: wall time, the child's own peak RSS, pytest's outcome line.

    The RSS is GNU time's ``%M`` when ``/usr/bin/time`` exists. Otherwise it is wait4's
    ``ru_maxrss``, which Linux seeds at exec with the RSS high-water mark of the forking
    parent (this script), so it is only an upper bound.
    """
    gnu_time = os.access(GNU_TIME, os.X_OK)
    with tempfile.TemporaryDirectory(prefix="memsafe-bench-out-") as tmp:
        output_path, rss_path = Path(tmp, "output"), Path(tmp, "rss")
        command = [GNU_TIME, "-f", "%M", "-o", str(rss_path), *argv] if gnu_time else argv
        with output_path.open("wb") as output:
            start = time.perf_counter()
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(
                filter(None, [str(REPO), os.environ.get("PYTHONPATH")])
            )}  # fmt: skip
            proc = subprocess.Popen(
                command, cwd=cwd, stdout=output, stderr=subprocess.STDOUT, env=env
            )
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        text = output_path.read_text("utf-8", "replace")
        # GNU time may write "Command exited with non-zero status N" before the figure.
        maxrss = int(rss_path.read_text().split()[-1]) if gnu_time else usage.ru_maxrss
    line = outcome_line(text)
    return ChildRun(
        argv=argv,
        wall_s=wall,
        maxrss_kib=maxrss,
        rss_source="GNU time %M" if gnu_time else "wait4 ru_maxrss (upper bound)",
        exit_code=proc.returncode,
        outcome_line=line,
        items=count_items(line),
    )


def outcome_line(output: str) -> str:
    """pytest's last ``N passed, M failed ... in Xs`` line, without the ``=`` rule."""
    for line in reversed(output.splitlines()):
        text = line.strip("= ")
        if re.search(r"\d+ \w+.* in [\d.]+s", text):
            return text
    return "(no outcome line; last output: " + " | ".join(output.splitlines()[-3:]) + ")"


def count_items(line: str) -> int | None:
    """Items that ran, from an outcome line (warnings are not items)."""
    counts = re.findall(r"(\d+) (\w+)", line)
    found = [int(n) for n, word in counts if word in ITEM_WORDS]
    return sum(found) if found else None


def pytest_argv(ini: Path, rootdir: Path, *args: str) -> list[str]:
    """pytest pinned to an empty ini in ``rootdir`` (pytest would otherwise pick the
    common ancestor of the arguments as rootdir)."""
    return [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-c",
        str(ini),
        "--rootdir",
        str(rootdir),
        *args,
    ]


def measure_pytest(dirs: Sequence[str], fallback_items: int) -> tuple[ChildRun, ChildRun]:
    """(c) ``pytest --memsafe DIR ...`` and (d) as many trivial items, both from a temp dir."""
    with tempfile.TemporaryDirectory(prefix="memsafe-bench-") as tmp:
        root = Path(tmp)
        ini = root / "pytest.ini"
        ini.write_text("")
        absolute = [os.path.abspath(d) for d in dirs]
        memsafe = run_child(pytest_argv(ini, root, "--memsafe", *absolute), root)
        count = memsafe.items if memsafe.items is not None else fallback_items
        floor_file = root / "test_floor.py"
        floor_file.write_text(FLOOR_TEST.format(count=count))
        floor = run_child(pytest_argv(ini, root, str(floor_file)), root)
    return memsafe, floor


# -- (e) size buckets ---------------------------------------------------------------------


def size_buckets(samples: Sequence[FileSample]) -> list[Bucket]:
    """Phase (e): the extraction times of (a) grouped by file size."""
    rows = []
    for label, low, high in BUCKETS:
        inside = [s for s in samples if low <= s.size < high]
        total = sum(s.extract_s for s in inside)
        rows.append(
            Bucket(
                label=label,
                files=len(inside),
                total_mb=sum(s.size for s in inside) / MB,
                extract_total_s=total,
                extract_mean_s=total / len(inside) if inside else 0.0,
            )
        )
    return rows


# -- output -------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def mib(kib: int) -> str:
    return f"{kib / 1024:.1f} MiB"


def ratio(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:.2f}x" if denominator else "n/a"


def timing_line(name: str, timing: Timing) -> str:
    return (
        f"  {name:<22} total {timing.total:8.3f} s   mean {ms(timing.mean):>10}   "
        f"median {ms(timing.median):>10}   p95 {ms(timing.p95):>10}"
    )


def print_extraction(ext: Extraction) -> None:
    print(
        f"(a) evidence extraction: {ext.files} files, "
        f"{ext.total_bytes:,} bytes ({ext.total_bytes / MB:.1f} MB)"
    )
    print(f"  discovery              {ext.discovery_s:8.3f} s")
    print(timing_line("load_elf_evidence", ext.extraction))
    print(
        f"  slowest file           {ms(ext.extraction.slowest)} "
        f"({ext.slowest_file_bytes / MB:.1f} MB) {ext.extraction.slowest_file}"
    )
    print(timing_line("  without language", ext.base_extraction))
    print(
        f"  language provenance    {ext.extraction.total - ext.base_extraction.total:8.3f} s "
        f"in all, median {ms(ext.extraction.median - ext.base_extraction.median)} per file"
    )
    print(timing_line(f"{len(REGISTRY)} checks per file", ext.checks))
    print(
        f"  peak RSS (ru_maxrss)   {mib(ext.maxrss_after_kib)} "
        f"(before extraction {mib(ext.maxrss_before_kib)})"
    )
    print(
        f"  tracemalloc            peak {ext.tracemalloc_peak_bytes / MB:.1f} MB, "
        f"all evidence retained {ext.tracemalloc_retained_bytes / MB:.1f} MB"
    )
    print(f"  MalformedBinaryError   {len(ext.malformed)}")
    for path, detail in ext.malformed:
        print(f"    {path}: {detail}")
    if ext.unreadable:
        print(f"  unreadable at discovery {len(ext.unreadable)}")
        for display, problem in ext.unreadable:
            print(f"    {display}: {problem}")


def print_readelf(readelf: Timing, ext: Extraction) -> None:
    print(f"(b) readelf -W -d, one run per file: {readelf.count} files")
    print(timing_line("readelf -W -d", readelf))
    print(
        "  extraction per file vs one readelf -d run: "
        f"mean {ratio(ext.extraction.mean, readelf.mean)}, "
        f"median {ratio(ext.extraction.median, readelf.median)}"
    )


def print_child(name: str, run: ChildRun) -> None:
    print(f"{name}: python {' '.join(run.argv[1:])}")
    print(
        f"  wall {run.wall_s:.3f} s   child peak RSS {mib(run.maxrss_kib)} ({run.rss_source})   "
        f"exit {run.exit_code}   items {run.items}"
    )
    print(f"  {run.outcome_line}")


def print_pytest(memsafe: ChildRun, floor: ChildRun, ext: Extraction) -> None:
    print_child("(c) pytest --memsafe", memsafe)
    print_child("(d) pytest floor", floor)
    parsing = ext.extraction.total + ext.checks.total
    print(f"  (c)/(d) memsafe run vs pytest floor: {ratio(memsafe.wall_s, floor.wall_s)}")
    print(
        f"  extraction + checks (a) {parsing:.3f} s = {100 * parsing / memsafe.wall_s:.1f}% of (c)"
    )
    print(
        f"  (c) - (d) = {memsafe.wall_s - floor.wall_s:.3f} s beyond the floor "
        f"(extraction alone {ext.extraction.total:.3f} s)"
    )


def print_buckets(buckets: Sequence[Bucket]) -> None:
    print("(e) extraction by file size (1 MB = 10^6 bytes)")
    print(f"  {'size':<12} {'files':>6} {'total MB':>9} {'total':>12} {'mean':>12} {'ms/MB':>8}")
    for b in buckets:
        per_mb = f"{b.extract_total_s * 1000 / b.total_mb:.2f}" if b.total_mb else "-"
        print(
            f"  {b.label:<12} {b.files:>6} {b.total_mb:>9.1f} "
            f"{ms(b.extract_total_s):>12} {ms(b.extract_mean_s):>12} {per_mb:>8}"
        )


def print_report(report: Report) -> None:
    print(f"dirs: {' '.join(report.dirs)}")
    print(f"python {report.python}, {report.versions}")
    print(f"per-file times are the best of {report.repeat} pass(es)\n")
    print_extraction(report.extraction)
    if report.readelf is not None:
        print()
        print_readelf(report.readelf, report.extraction)
    if report.memsafe_run is not None and report.floor_run is not None:
        print()
        print_pytest(report.memsafe_run, report.floor_run, report.extraction)
    print()
    print_buckets(report.buckets)


# -- main ---------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("dirs", nargs="*", metavar="DIR", help="default: site-packages")
    parser.add_argument("--no-pytest", action="store_true", help="skip (c) and (d)")
    parser.add_argument("--no-readelf", action="store_true", help="skip (b)")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="best of N passes per file for (a) and (b)",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    parser.add_argument(
        "--digest",
        action="store_true",
        help="hash every file in (a), as a run with --memsafe-json does (default: no hash)",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    args.dirs = args.dirs or default_dirs()
    for directory in args.dirs:
        if not os.path.isdir(directory):
            parser.error(f"not a directory: {directory}")
    return args


def step(message: str, action: Callable[[], T]) -> T:
    """Run one phase, with a progress note on stderr."""
    print(f"... {message}", file=sys.stderr, flush=True)
    return action()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    extraction, samples = step(
        "discovery and extraction", lambda: measure_extraction(args.dirs, args.repeat, args.digest)
    )
    report = Report(
        dirs=args.dirs,
        python=sys.version.split()[0],
        versions=versions(),
        repeat=args.repeat,
        extraction=extraction,
    )
    readelf = shutil.which("readelf")
    if not args.no_readelf:
        if readelf is None:
            print("readelf not found: (b) skipped", file=sys.stderr)
        else:
            report.readelf = step("readelf", lambda: measure_readelf(samples, readelf, args.repeat))
    if not args.no_pytest:
        fallback = extraction.files * len(REGISTRY)
        report.memsafe_run, report.floor_run = step(
            "pytest runs", lambda: measure_pytest(args.dirs, fallback)
        )
    report.buckets = size_buckets(samples)
    print_report(report)
    if args.json:
        Path(args.json).write_text(json.dumps(asdict(report), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
