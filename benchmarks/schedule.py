#!/usr/bin/env python3
"""Simulate a cold ``pytest --memsafe`` run with the parse-ahead helper (run by hand).

Usage: ``python benchmarks/schedule.py [--cache DIR] [--item-ms MS]`` after
``python benchmarks/corpus.py``. It measures, in this process, what each corpus file costs the
helper (``EvidenceCache.fill`` into a fresh store: hash, parse, store; CPU time, best of 3)
and what reading it back costs an item (a store hit), then replays the two processes of a
cold run under several helper orders and waiting rules, and prints the predicted wall time
of each next to the lower bound (all the work over two cores). The model: the pytest process
starts its items at 0.40 s and spends ``--item-ms`` per binary on its items; the helper
starts parsing at 0.33 s; a file the helper has not started is parsed by the item that
needs it; a file the helper is on is waited for, unless the rule takes another file
meanwhile. It predicted the measured cold runs within ~5% (item order with far-end steals:
2.81 s predicted, 2.7-2.9 s measured). The corpus files are only read, never imported or run.
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(Path(__file__).resolve().parent)]

from corpus import default_cache  # noqa: E402

from pytest_memsafe.discovery import discover  # noqa: E402
from pytest_memsafe.evidence import LOADERS, EvidenceCache, EvidenceStore, ahead  # noqa: E402

ITEMS_START_S = 0.40
HELPER_START_S = 0.33
FINISH_S = 0.12
"""The pytest process's start (interpreter, imports, collection) and end (summaries)."""
STEAL_MAX_BYTES = ahead.MAX_STEAL_BYTES


@dataclass(frozen=True, slots=True)
class Corpus:
    """Per binary, in item order: size, helper cost and store-hit cost (seconds)."""

    sizes: list[int]
    parse: list[float]
    lookup: list[float]


def measure(corpus_dir: Path) -> Corpus:
    """Each file's cost to the helper (fill, best of 3) and to an item reading it back."""
    found = discover([(corpus_dir, str(corpus_dir))], rootdir=corpus_dir, formats=LOADERS.keys())
    best: dict[str, float] = {}
    lookup: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="memsafe-schedule-") as tmp:
        for _ in range(3):
            shutil.rmtree(Path(tmp, "store"), ignore_errors=True)
            cache = EvidenceCache(digest=False, store=EvidenceStore(Path(tmp, "store")))
            for artifact in found:
                assert artifact.format is not None
                started = time.process_time()
                cache.fill(artifact.path, artifact.format)
                spent = time.process_time() - started
                best[artifact.path] = min(best.get(artifact.path, math.inf), spent)
        reader = EvidenceCache(digest=False, store=EvidenceStore(Path(tmp, "store")))
        for artifact in found:
            started = time.process_time()
            reader.get(artifact)
            lookup[artifact.path] = time.process_time() - started
    return Corpus(
        sizes=[Path(artifact.path).stat().st_size for artifact in found],
        parse=[best[artifact.path] for artifact in found],
        lookup=[lookup[artifact.path] for artifact in found],
    )


Rule = Callable[[list[str], int, int], int | None]
"""(file states, the item's file, the helper's file) -> a file to parse while waiting."""


def simulate(corpus: Corpus, order: Sequence[int], rule: Rule | None, item_s: float) -> float:
    """Predicted wall time of a cold run: the helper takes ``order``; ``rule`` picks what a
    waiting item parses meanwhile (``None``: it just waits)."""
    count = len(corpus.sizes)
    state = ["todo"] * count  # todo, helper (on it), done (stored), memo (this process)
    queue = list(reversed(order))
    helper_at, helper_file, helper_done = HELPER_START_S, -1, math.inf
    clock, index = ITEMS_START_S, 0
    while index < count:
        if helper_at <= clock:  # the helper's next event comes first
            if helper_file >= 0:
                state[helper_file] = "done"
            while queue and state[queue[-1]] != "todo":
                queue.pop()
            if not queue:
                helper_at = helper_done = math.inf
                continue
            helper_file = queue.pop()
            state[helper_file] = "helper"
            helper_at = helper_done = helper_at + corpus.parse[helper_file]
            continue
        if state[index] in ("done", "memo"):
            clock += item_s + (corpus.lookup[index] if state[index] == "done" else 0.0)
            index += 1
        elif state[index] == "todo":
            state[index] = "memo"
            clock += corpus.parse[index]
        elif rule is not None and (other := rule(state, index, helper_file)) is not None:
            state[other] = "memo"
            clock += corpus.parse[other]
        else:
            clock = helper_done + 1e-9
    return clock + FINISH_S


def next_small(sizes: list[int]) -> Rule:
    """What the plugin does: the first small file after the item's that nobody started."""

    def rule(state: list[str], index: int, helper_file: int) -> int | None:
        return _first_free(state, sizes, range(max(index, helper_file) + 1, len(state)))

    return rule


def far_end(sizes: list[int]) -> Rule:
    """The previous rule: the last small file nobody started."""

    def rule(state: list[str], index: int, helper_file: int) -> int | None:
        return _first_free(state, sizes, range(len(state) - 1, max(index, helper_file), -1))

    return rule


def _first_free(state: list[str], sizes: list[int], candidates: range) -> int | None:
    return next(
        (at for at in candidates if state[at] == "todo" and sizes[at] <= STEAL_MAX_BYTES), None
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cache", type=Path, default=default_cache(), help="corpus.py's cache")
    parser.add_argument("--item-ms", type=float, default=4.2, help="items' time per binary")
    args = parser.parse_args(argv)
    corpus_dir = args.cache / "corpus"
    if not corpus_dir.is_dir():
        raise SystemExit(f"no corpus at {corpus_dir}: run benchmarks/corpus.py first")
    corpus = measure(corpus_dir)
    item_s, count = args.item_ms / 1000, len(corpus.sizes)
    items = list(range(count))
    big_first = [i for i in items if corpus.sizes[i] >= 8 << 20]
    big_first += [i for i in items if corpus.sizes[i] < 8 << 20]
    schedules: list[tuple[str, Sequence[int], Rule | None]] = [
        ("item order, far-end steals (before)", items, far_end(corpus.sizes)),
        ("item order, no steals", items, None),
        ("item order, next small file", items, next_small(corpus.sizes)),
        ("files of 8 MiB+ first, next small file", big_first, next_small(corpus.sizes)),
        ("by deadline, next small file (the plugin)", ahead.helper_order(corpus.sizes),
         next_small(corpus.sizes)),
    ]  # fmt: skip
    parse, lookup = sum(corpus.parse), sum(corpus.lookup)
    print(f"{count} files: helper work {parse:.2f} s, store hits {lookup:.2f} s, items "
          f"{count * item_s:.2f} s")  # fmt: skip
    alone = ITEMS_START_S + parse + count * item_s + FINISH_S
    warm = ITEMS_START_S + lookup + count * item_s + FINISH_S
    print(f"  {'no helper':<45} {alone:6.2f} s\n  {'warm (no parsing)':<45} {warm:6.2f} s")
    for label, order, rule in schedules:
        print(f"  {label:<45} {simulate(corpus, order, rule, item_s):6.2f} s")
    work = parse + lookup + count * item_s + ITEMS_START_S - HELPER_START_S + FINISH_S
    print(f"  {'lower bound (the work over two cores)':<45} {HELPER_START_S + work / 2:6.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
