#!/usr/bin/env python3
"""Benchmark pytest-memsafe on the pinned wheel corpus, beside its peers (run by hand).

Usage: ``python benchmarks/run.py [--cache DIR] [--repeat N] [--skip PEER ...] [--json PATH]``
after ``python benchmarks/corpus.py``. Every figure is a child process timed from spawn to
exit, its peak RSS taken from GNU time (``%M``: the largest single process of its tree);
the best wall time of ``--repeat`` runs is kept, and figures that a ratio compares run in
turns (one of each per round: (a) and checksec.py; (b)-(d) and the floor). Phases: (a)
evidence extraction and the checks in one process, no pytest; (b) ``pytest --memsafe``
with an empty evidence cache; (c) the same again, warm; (d) ``-n 2`` (xdist), cold; the
pytest floor (as many trivial items, serial and ``-n 2``); per-file cost by size; the peers
``checksec`` (Debian), ``hardening-check`` (devscripts) and ``checksec.py`` (LIEF, from
the corpus venv). The scanned files are only read: never imported or run by this script
or by pytest-memsafe.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Final

REPO: Final = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(Path(__file__).resolve().parent)]

from corpus import DONE_MARKER, default_cache  # noqa: E402

KB: Final = 1000
MB: Final = 1000 * KB
BUCKETS: Final = (
    ("< 100 KB", 0, 100 * KB),
    ("100 KB-1 MB", 100 * KB, MB),
    ("1-10 MB", MB, 10 * MB),
    ("> 10 MB", 10 * MB, math.inf),
)
"""Size buckets: label, lower bound (inclusive), upper bound (exclusive)."""
GNU_TIME: Final = "/usr/bin/time"
ITEM_WORDS: Final = ("passed", "failed", "skipped", "xfailed", "xpassed", "error", "errors")
UNRELATED_PLUGINS: Final = ("hypothesispytest", "benchmark", "randomly")
"""Installed plugins switched off in every pytest run, ours and the floor's alike (their
cost is theirs: hypothesis imports itself in the terminal summary, ~1 s)."""
FLOOR_TEST: Final = """\
import pytest


@pytest.mark.parametrize("i", range({count}))
def test_x(i):
    pass
"""
EVIDENCE_LINE: Final = re.compile(r"evidence: (\d+) files parsed, (\d+) from the evidence cache")


@dataclass(slots=True)
class Run:
    """One timed child process."""

    label: str
    wall_s: float
    maxrss_kib: int
    exit_code: int
    cpu_s: float = 0.0
    """User + system CPU time of the whole process tree (steadier than wall on a busy
    machine; for ``-n 2`` it adds up both workers)."""
    tail: str = ""
    """pytest's outcome line, or the last output line."""
    items: int | None = None
    parses: int | None = None
    store_hits: int | None = None


@dataclass(slots=True)
class Report:
    corpus: str
    files: int = 0
    total_bytes: int = 0
    machine: str = ""
    runs: dict[str, Run] = field(default_factory=dict)
    per_file: list[tuple[str, int, float]] = field(default_factory=list)
    """(path, size, seconds of extraction + checks), from the best (a) run."""
    skipped: list[str] = field(default_factory=list)


# -- child processes -------------------------------------------------------------------------


def child_env() -> dict[str, str]:
    """This repository first on PYTHONPATH; bytecode written (as on a developer's or CI
    machine: otherwise pytest rewrites every plugin module on every run)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def timed(label: str, argv: Sequence[str], cwd: Path) -> Run:
    """Run ``argv``: wall time, peak RSS (GNU time ``%M``, else wait4's), exit code, output."""
    gnu_time = os.access(GNU_TIME, os.X_OK)
    with tempfile.TemporaryDirectory(prefix="memsafe-run-") as tmp:
        out, rss = Path(tmp, "out"), Path(tmp, "rss")
        command = [GNU_TIME, "-f", "%M", "-o", str(rss), *argv] if gnu_time else list(argv)
        with out.open("wb") as handle:
            start = time.perf_counter()
            proc = subprocess.Popen(
                command, cwd=cwd, stdout=handle, stderr=subprocess.STDOUT, env=child_env()
            )
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - start
        text = out.read_text("utf-8", "replace")
        maxrss = int(rss.read_text().split()[-1]) if gnu_time else usage.ru_maxrss
    cpu = usage.ru_utime + usage.ru_stime  # GNU time waits for its child: the whole tree
    run = Run(label, wall, maxrss, os.waitstatus_to_exitcode(status), cpu, _tail(text))
    run.items = _items(run.tail)
    if found := EVIDENCE_LINE.search(text):
        run.parses, run.store_hits = int(found[1]), int(found[2])
    return run


def in_turns(repeat: int, contenders: dict[str, Callable[[], Run]]) -> dict[str, Run]:
    """The fastest of ``repeat`` runs of each contender (its least CPU time too, the highest
    peak RSS seen), run in turns (one of each per round), so that two figures a ratio
    compares saw the same moments of a shared machine."""
    runs: dict[str, list[Run]] = {key: [] for key in contenders}
    for _ in range(repeat):
        for key, once in contenders.items():
            runs[key].append(once())
    return {key: _best(done) for key, done in runs.items()}


def _best(runs: Sequence[Run]) -> Run:
    best = min(runs, key=lambda run: run.wall_s)
    best.cpu_s = min(run.cpu_s for run in runs)
    best.maxrss_kib = max(run.maxrss_kib for run in runs)
    return best


def _tail(output: str) -> str:
    lines = [line.strip("= ") for line in output.splitlines() if line.strip()]
    outcome = [line for line in lines if re.search(r"\d+ \w+.* in [\d.]+s", line)]
    return (outcome or lines or [""])[-1][:160]


def _items(line: str) -> int | None:
    found = [int(n) for n, word in re.findall(r"(\d+) (\w+)", line) if word in ITEM_WORDS]
    return sum(found) if found else None


# -- (a) extraction alone ----------------------------------------------------------------------


def extract_only(corpus: str, out: str, language: bool = True) -> int:
    """Child mode of (a): discover, load every file's evidence, run every check; per-file
    times to ``out`` (JSON). Imports from this repository, not the installed package.
    ``language=False`` leaves out the language signals (as ``language``, ``canary``,
    ``fortify`` and ``cet`` all set to ``off`` would)."""
    from pytest_memsafe.checks import REGISTRY, CheckParams
    from pytest_memsafe.discovery import discover
    from pytest_memsafe.errors import MalformedBinaryError
    from pytest_memsafe.evidence import LOADERS
    from pytest_memsafe.evidence.elf import load_elf_evidence
    from pytest_memsafe.model import BinaryFormat

    params = CheckParams()
    impls = [spec.impls[BinaryFormat.ELF] for spec in REGISTRY if BinaryFormat.ELF in spec.impls]
    artifacts = discover([(Path(corpus), corpus)], rootdir=Path(corpus), formats=LOADERS.keys())
    times, errors = [], []
    for artifact in artifacts:
        start = time.perf_counter()
        try:
            evidence = load_elf_evidence(artifact.path, digest=False, language=language)
        except MalformedBinaryError as exc:
            errors.append(f"{artifact.display}: {exc.detail}")
        else:
            for impl in impls:
                impl(evidence, params)
        size = os.path.getsize(artifact.path)
        times.append((artifact.display, size, time.perf_counter() - start))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    Path(out).write_text(json.dumps({"files": times, "errors": errors, "maxrss_kib": rss}))
    return 0


def measure_extraction(
    report: Report, corpus: Path, repeat: int, work: Path, peers: dict[str, Callable[[], Run]]
) -> None:
    """(a): the child above, best of ``repeat`` in turns with ``peers`` (checksec.py, which
    the targets compare with it) and with the same without language signals (for scale);
    keeps the per-file times of the best (a) run."""
    per_file: dict[float, list[tuple[str, int, float]]] = {}

    def once() -> Run:
        out = work / "extract.json"
        argv = [sys.executable, __file__, "--extract-only", str(corpus), "--out", str(out)]
        run = timed("(a) extraction + checks, no pytest", argv, work)
        data = json.loads(out.read_text())
        per_file[run.wall_s] = [(path, size, seconds) for path, size, seconds in data["files"]]
        run.items = len(data["files"])
        run.tail = f"{len(data['errors'])} malformed"
        return run

    argv = [sys.executable, __file__, "--extract-only", str(corpus), "--out", str(work / "x")]
    label = "(a) the same without language signals"
    no_language = functools.partial(timed, label, [*argv, "--no-language"], work)
    report.runs.update(in_turns(repeat, {"a": once, "a-nolang": no_language, **peers}))
    for key in ("a-nolang", *peers):
        report.runs[key].tail = ""  # a peer's output is not shown, nor the child's
    report.per_file = per_file[min(per_file)]
    report.files = len(report.per_file)
    report.total_bytes = sum(size for _, size, _ in report.per_file)


# -- (b, c, d) pytest --------------------------------------------------------------------------


def pytest_argv(root: Path, *args: str) -> list[str]:
    """pytest in ``root`` (its own ini, rootdir and cache dir), unrelated plugins off."""
    plugins = [arg for name in UNRELATED_PLUGINS for arg in ("-p", f"no:{name}")]
    return [
        sys.executable, "-m", "pytest", "-q", *plugins, "-c", str(root / "pytest.ini"),
        "--rootdir", str(root), "-o", f"cache_dir={root / '.cache'}", *args,
    ]  # fmt: skip


def fresh_root(work: Path, name: str) -> Path:
    """An empty rootdir (no evidence cache yet) with an empty ``pytest.ini``."""
    root = work / name
    if root.exists():
        shutil.rmtree(root)
    root.mkdir()
    (root / "pytest.ini").write_text("[pytest]\n")
    return root


def measure_pytest(report: Report, corpus: Path, repeat: int, work: Path) -> None:
    """(b) cold, (c) warm, (d) ``-n 2`` cold, and the floor (serial and ``-n 2``), in turns."""
    target = str(corpus)
    warm_up = timed("", pytest_argv(fresh_root(work, "warmup"), "--memsafe", target), work)
    count = warm_up.items or 0  # bytecode written; the floor runs as many items

    def cold(*extra: str) -> Callable[[], Run]:
        def once() -> Run:
            root = fresh_root(work, "cold")
            return timed("", pytest_argv(root, "--memsafe", *extra, target), root)

        return once

    warm_root = fresh_root(work, "warm")
    timed("", pytest_argv(warm_root, "--memsafe", target), warm_root)  # fills the cache
    floor_root = fresh_root(work, "floor")
    floor_file = floor_root / "test_floor.py"
    floor_file.write_text(FLOOR_TEST.format(count=count))

    def floor(*extra: str) -> Callable[[], Run]:
        return functools.partial(
            timed, "", pytest_argv(floor_root, *extra, str(floor_file)), floor_root
        )

    contenders = {
        "b": cold(),
        "b-alone": cold("--memsafe-parse-ahead=off"),
        "c": lambda: timed("", pytest_argv(warm_root, "--memsafe", target), warm_root),
        "d": cold("-n", "2"),
        "d-loadfile": cold("-n", "2", "--dist", "loadfile"),
        "floor": floor(),
        "floor-n2": floor("-n", "2"),
    }
    labels = {
        "b": "(b) pytest --memsafe, cold (empty evidence cache)",
        "b-alone": "(b) the same, --memsafe-parse-ahead=off",
        "c": "(c) pytest --memsafe, warm (evidence cache filled)",
        "d": "(d) pytest --memsafe -n 2, cold",
        "d-loadfile": "(d) pytest --memsafe -n 2 --dist loadfile, cold",
        "floor": f"floor: plain pytest, {count} trivial items",
        "floor-n2": f"floor: plain pytest -n 2, {count} trivial items",
    }
    for key, run in in_turns(repeat, contenders).items():
        run.label = labels[key]
        report.runs[key] = run


# -- peers -------------------------------------------------------------------------------------


def corpus_files(corpus: Path) -> list[str]:
    return sorted(str(p) for p in corpus.rglob("*") if p.is_file() and p.name != DONE_MARKER)


def run_each(label: str, command: Sequence[str], files: Sequence[str], work: Path) -> Run:
    """One peer process per file, run back to back; wall is the sum, RSS the largest.
    ``{}`` in ``command`` stands for the file (else it is the last argument)."""
    words = [word.replace("{}", '"$f"') for word in command]
    if not any("{}" in word for word in command):
        words.append('"$f"')
    script = work / "each.sh"
    script.write_text('for f in "$@"; do ' + " ".join(words) + " >/dev/null 2>&1; done\n")
    return timed(label, ["sh", str(script), *files], work)


def measure_peers(report: Report, corpus: Path, cache: Path, skip: set[str], work: Path) -> None:
    """Debian checksec (--dir and --file per file) and hardening-check, once each (they take
    half a minute and three). Their output is not shown (``hardening-check`` exits 1 when
    a file lacks a feature)."""
    before = set(report.runs)
    _run_peers(report, corpus, cache, skip, work)
    for key in set(report.runs) - before:
        report.runs[key].tail = ""


def _run_peers(report: Report, corpus: Path, cache: Path, skip: set[str], work: Path) -> None:
    files = corpus_files(corpus)
    checksec = shutil.which("checksec")
    if "checksec" in skip or checksec is None:
        report.skipped.append("checksec: " + ("skipped" if checksec else "not installed"))
    else:
        argv = [checksec, f"--dir={corpus}"]
        report.runs["checksec-dir"] = timed("checksec --dir (Debian)", argv, work)
        report.runs["checksec-file"] = run_each(
            "checksec --file per file (Debian)", [checksec, "--file={}"], files, work
        )
    hardening = shutil.which("hardening-check")
    if "hardening-check" in skip or hardening is None:
        report.skipped.append("hardening-check: " + ("skipped" if hardening else "not installed"))
    else:
        report.runs["hardening-check"] = run_each(
            "hardening-check per file (devscripts)", [hardening], files, work
        )


def lief_peers(
    report: Report, corpus: Path, cache: Path, skip: set[str], work: Path
) -> dict[str, Callable[[], Run]]:
    """checksec.py (LIEF) with 1 and 2 workers, to run in turns with (a)."""
    lief = cache / "venv" / "bin" / "checksec"
    if {"checksec.py", "peers"} & skip or not lief.exists():
        report.skipped.append(
            "checksec.py: " + ("skipped" if lief.exists() else f"not installed in {lief.parent}")
        )
        return {}
    peers: dict[str, Callable[[], Run]] = {}
    for workers in (1, 2):
        label = f"checksec.py -w {workers} -r -j (LIEF)"
        argv = [str(lief), "-w", str(workers), "-r", "-j", str(corpus)]
        peers[f"checksec.py-w{workers}"] = functools.partial(timed, label, argv, work)
    return peers


# -- output ------------------------------------------------------------------------------------


def machine() -> str:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")), "?",
    )  # fmt: skip
    python = sys.version.split()[0]
    return f"{os.cpu_count()} CPUs ({cpu}), Linux {os.uname().release}, Python {python}"


def ratio(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:.2f}x" if denominator else "n/a"


RUN_ORDER: Final = (
    "a", "a-nolang", "b", "b-alone", "c", "d", "d-loadfile", "floor", "floor-n2",
    "checksec-dir", "checksec-file", "hardening-check", "checksec.py-w1", "checksec.py-w2",
)  # fmt: skip
"""The order of the figures in the table (measuring runs some of them side by side)."""


def print_runs(report: Report) -> None:
    print(f"{'figure':<52} {'wall':>8} {'CPU':>8} {'peak RSS':>11}  outcome")
    for key in sorted(report.runs, key=_rank):
        run = report.runs[key]
        counter = ""
        if run.parses is not None:
            counter = f"  [evidence: {run.parses} parsed, {run.store_hits} from the cache]"
        print(
            f"{run.label:<52} {run.wall_s:7.2f}s {run.cpu_s:7.2f}s {run.maxrss_kib / 1024:7.1f} MiB"
            f"  exit {run.exit_code}: {run.tail}{counter}"
        )


def _rank(key: str) -> int:
    return RUN_ORDER.index(key) if key in RUN_ORDER else len(RUN_ORDER)


def print_ratios(report: Report) -> None:
    runs = report.runs
    pairs = [
        ("(b) cold / floor", "b", "floor"),
        ("(b) cold, parse-ahead off / floor", "b-alone", "floor"),
        ("(c) warm / floor", "c", "floor"),
        ("(d) -n 2 cold / floor -n 2", "d", "floor-n2"),
        ("(d) -n 2 --dist loadfile / floor -n 2", "d-loadfile", "floor-n2"),
        ("(b) cold / (a) extraction alone", "b", "a"),
        ("checksec --dir / (b) cold", "checksec-dir", "b"),
        ("checksec --dir / (b) cold, parse-ahead off", "checksec-dir", "b-alone"),
        ("checksec --file per file / (b) cold", "checksec-file", "b"),
        ("hardening-check per file / (b) cold", "hardening-check", "b"),
        ("checksec.py -w 1 / (a)", "checksec.py-w1", "a"),
        ("checksec.py -w 2 / (a)", "checksec.py-w2", "a"),
        ("checksec.py -w 1 / (a) without language", "checksec.py-w1", "a-nolang"),
    ]
    print(f"\nratios (above 1x: the second is faster)  {'wall':>8} {'CPU':>8}")
    for label, top, bottom in pairs:
        if top in runs and bottom in runs:
            high, low = runs[top], runs[bottom]
            print(
                f"  {label:<40} {ratio(high.wall_s, low.wall_s):>8} "
                f"{ratio(high.cpu_s, low.cpu_s):>8}"
            )
    for line in report.skipped:
        print(f"  peer not run: {line}")


def print_buckets(report: Report) -> None:
    print("\n(a) per file, by size (extraction + all checks; 1 MB = 10^6 bytes)")
    print(f"  {'size':<12} {'files':>5} {'MB':>7} {'ms total':>9} {'ms/file':>8} {'us/MB':>8}")
    for label, low, high in BUCKETS:
        inside = [(size, s) for _, size, s in report.per_file if low <= size < high]
        megabytes = sum(size for size, _ in inside) / MB
        total_ms = sum(s for _, s in inside) * 1000
        per_file = total_ms / len(inside) if inside else 0.0
        per_mb = f"{total_ms * 1000 / megabytes:8.0f}" if megabytes else f"{'-':>8}"
        print(
            f"  {label:<12} {len(inside):>5} {megabytes:>7.1f} {total_ms:>9.1f} "
            f"{per_file:>8.2f} {per_mb}"
        )
    worst = sorted(report.per_file, key=lambda row: -row[2])[:3]
    for path, size, seconds in worst:
        print(f"  slow: {seconds * 1000:7.1f} ms  {size / MB:6.1f} MB  {path}")


def print_report(report: Report) -> None:
    print(f"corpus: {report.corpus}: {report.files} files, {report.total_bytes / MB:.1f} MB")
    print(f"machine: {report.machine}")
    print(f"repository: {REPO}\n")
    print_runs(report)
    print_ratios(report)
    if report.per_file:
        print_buckets(report)


# -- main --------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cache", type=Path, default=default_cache(), help="corpus.py's cache")
    parser.add_argument("--repeat", type=int, default=3, metavar="N", help="best of N runs")
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=("checksec", "hardening-check", "checksec.py", "pytest", "peers"),
        help="leave out a peer or phase; repeatable",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    parser.add_argument("--extract-only", metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--no-language", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.extract_only:
        return extract_only(args.extract_only, args.out, language=not args.no_language)
    corpus = args.cache / "corpus"
    if not corpus.is_dir():
        raise SystemExit(f"no corpus at {corpus}: run benchmarks/corpus.py first")
    report = Report(corpus=str(corpus), machine=machine())
    skip = set(args.skip)
    with tempfile.TemporaryDirectory(prefix="memsafe-bench-") as tmp:
        work = Path(tmp)
        print("... (a) extraction, checksec.py", file=sys.stderr, flush=True)
        lief = lief_peers(report, corpus, args.cache, skip, work)
        measure_extraction(report, corpus, args.repeat, work, lief)
        if "pytest" not in skip:
            print("... (b)-(d) pytest and the floor", file=sys.stderr, flush=True)
            measure_pytest(report, corpus, args.repeat, work)
        if "peers" not in skip:
            print("... peers", file=sys.stderr, flush=True)
            measure_peers(report, corpus, args.cache, skip, work)
    print_report(report)
    if args.json:
        Path(args.json).write_text(json.dumps(asdict(report), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
