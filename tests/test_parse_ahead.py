"""The parse-ahead helper (pytest_memsafe/evidence/ahead.py): a second process filling the
evidence store while the items run.

It may only ever save time: the same results with and without it, the store holding exactly
what a direct parse gives, items going on when the helper stalls, dies or talks nonsense,
and no helper process left behind.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_memsafe.errors import MalformedBinaryError
from pytest_memsafe.evidence import EvidenceCache, EvidenceStore, ahead
from pytest_memsafe.evidence.ahead import ParseAhead, helper_order
from pytest_memsafe.evidence.elf import load_elf_evidence
from pytest_memsafe.evidence.store import RACY_SECONDS
from pytest_memsafe.model import Artifact, BinaryFormat
from tests.reports import report_results

VARIANTS = (
    "hardened", "weak", "relro-partial", "nx-fail-execstack", "canary-fail-off", "fortify3",
    "rpath-absolute", "pic-fail-textrel", "cet-fail", "stripped", "nosections", "cxx-ext",
)  # fmt: skip
EXT = ".cpython-311-x86_64-linux-gnu.so"


@pytest.fixture(scope="module")
def binaries(tmp_path_factory: pytest.TempPathFactory, corpus: dict[str, Path]) -> list[Path]:
    """Copies of a dozen corpus variants, in the order the items would need them, settled
    (older than RACY_SECONDS, so the store's stat index vouches for them)."""
    folder = tmp_path_factory.mktemp("bin")
    copies = [Path(shutil.copy2(corpus[name], folder / f"m{i:02d}{EXT}")) for i, name in
              enumerate(VARIANTS)]  # fmt: skip
    time.sleep(RACY_SECONDS + 0.2)
    return copies


def _files(paths: list[Path]) -> list[tuple[str, BinaryFormat, int]]:
    return [(str(path), BinaryFormat.ELF, path.stat().st_size) for path in paths]


def _helpers_of_this_process() -> list[int]:
    """Live parse-ahead helpers whose parent is this test process."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if b"pytest_memsafe.evidence.ahead" in cmdline and ppid == os.getpid():
            found.append(int(entry.name))
    return found


def test_helper_stores_what_a_direct_parse_gives(binaries: list[Path], tmp_path: Path) -> None:
    cache = EvidenceCache(store=EvidenceStore(tmp_path / "store"))
    helper = ParseAhead.start(cache, _files(binaries))
    assert helper is not None
    helper.process.wait(timeout=60)
    assert helper.finish() == len(binaries)
    assert cache.parses == 0  # the helper did all of it
    fresh = EvidenceCache(store=EvidenceStore(tmp_path / "store"))
    for path in binaries:
        assert fresh.unstored(str(path), BinaryFormat.ELF) is None
        artifact = Artifact(path=str(path), display=path.name, origin="tree",
                            format=BinaryFormat.ELF)  # fmt: skip
        assert fresh.get(artifact) == load_elf_evidence(str(path))
    assert (fresh.parses, fresh.store_hits) == (0, len(binaries))
    again = ParseAhead.start(fresh, _files(binaries))  # everything known: nothing parsed
    assert again is not None and again.process.wait(timeout=60) == 0
    assert again.finish() == 0


def _hung_on_the_first_file(
    cache: EvidenceCache, binaries: list[Path], job: list[int] | None = None
) -> ParseAhead:
    """A stand-in helper that announces the first file of its ``job`` order and then hangs
    (followed until it has)."""
    hung = subprocess.Popen(
        [sys.executable, "-c", "import time; print(0, flush=True); time.sleep(120)"],
        stdout=subprocess.PIPE,
    )
    helper = ParseAhead(hung, cache, _files(binaries), job)
    deadline = time.monotonic() + 30
    while helper._position != (job or [0])[0] and time.monotonic() < deadline:
        time.sleep(0.01)
    return helper


def test_stalled_helper_holds_an_item_up_only_briefly(
    binaries: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A helper that announces the first file and then hangs: the waiting item parses the
    small files after it meanwhile, gives up after WAIT_SECONDS, and the helper is stopped
    at the end."""
    monkeypatch.setattr(ahead, "WAIT_SECONDS", 1.0)
    cache = EvidenceCache(store=EvidenceStore(tmp_path / "store"))
    helper = _hung_on_the_first_file(cache, binaries)
    cache.waiter = helper.wait_for
    started = time.monotonic()
    helper.wait_for(str(binaries[0]))
    assert 0.9 < time.monotonic() - started < 10
    # the wait was used: every later file was parsed and stored
    assert [cache.unstored(str(path), BinaryFormat.ELF) for path in binaries[1:]] == [None] * 11
    assert cache.parses == len(binaries) - 1
    artifact = Artifact(path=str(binaries[0]), display="m00", origin="tree",
                        format=BinaryFormat.ELF)  # fmt: skip
    assert cache.get(artifact) == load_elf_evidence(str(binaries[0]))
    begun = time.monotonic()
    assert helper.finish() is None  # stopped before it could say what it did
    assert time.monotonic() - begun < ahead.STOP_SECONDS + 1
    assert helper.process.poll() is not None


def test_a_stolen_file_that_breaks_the_parser_does_not_fail_the_waiting_item(
    binaries: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever goes wrong while the waiting process parses another file belongs to that
    file, whose own items parse it again and report it."""
    monkeypatch.setattr(ahead, "WAIT_SECONDS", 0.5)
    cache = EvidenceCache(store=EvidenceStore(tmp_path / "store"))
    helper = _hung_on_the_first_file(cache, binaries)
    tried: list[str] = []

    def broken_fill(path: str, fmt: BinaryFormat, *, keep: bool = False) -> str:
        tried.append(path)
        raise RuntimeError("a parser bug")

    monkeypatch.setattr(cache, "fill", broken_fill)
    helper.wait_for(str(binaries[0]))  # no exception
    assert tried == [str(path) for path in binaries[1:]]
    helper.finish()


def test_big_files_move_ahead_by_their_parse_time() -> None:
    small, huge = 10_000, 200_000_000  # huge: longer to parse than all the items below
    order = helper_order([small] * 20 + [huge] + [small] * 5)
    assert order == [20, *range(20), *range(21, 26)]
    medium = int(ahead.PARSE_BYTES_PER_SECOND * ahead.ITEM_SECONDS_PER_FILE * 10.5)
    order = helper_order([small] * 20 + [medium] + [small] * 5)  # about ten items ahead
    assert order == [*range(10), 20, *range(10, 20), *range(21, 26)]
    assert helper_order([small] * 5) == list(range(5))


def test_the_helper_announces_files_in_its_own_order(
    binaries: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The helper numbers files in the order it was sent them: its first file may be the
    third item's; an item waits only for the file the helper is on."""
    monkeypatch.setattr(ahead, "WAIT_SECONDS", 0.5)
    monkeypatch.setattr(ahead, "MAX_STEAL_BYTES", 0)  # nothing to do while waiting
    cache = EvidenceCache(store=EvidenceStore(tmp_path / "store"))
    helper = _hung_on_the_first_file(cache, binaries[:3], job=[2, 0, 1])
    started = time.monotonic()
    helper.wait_for(str(binaries[0]))  # not the helper's: no wait
    assert time.monotonic() - started < 0.4
    helper.wait_for(str(binaries[2]))  # the helper's: waited for, up to WAIT_SECONDS
    assert time.monotonic() - started >= 0.5
    helper.finish()


def test_a_malformed_file_taken_while_waiting_is_parsed_once(
    binaries: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its items report the error the waiting process found, under their own name, without
    parsing it again (each file counts once in the run's summary)."""
    monkeypatch.setattr(ahead, "WAIT_SECONDS", 0.5)
    broken = tmp_path / f"broken{EXT}"
    broken.write_bytes(binaries[1].read_bytes()[:3000])
    cache = EvidenceCache(store=EvidenceStore(tmp_path / "store"))
    helper = _hung_on_the_first_file(cache, [binaries[0], broken])
    helper.wait_for(str(binaries[0]))
    assert cache.parses == 1  # the broken file, taken while waiting
    artifact = Artifact(path=str(broken), display="pkg/broken.so", origin="tree",
                        format=BinaryFormat.ELF)  # fmt: skip
    with pytest.raises(MalformedBinaryError, match=r"^pkg/broken\.so: truncated"):
        cache.get(artifact)
    assert cache.parses == 1
    helper.finish()


def test_helper_talking_nonsense_is_ignored(binaries: list[Path], tmp_path: Path) -> None:
    cache = EvidenceCache(store=EvidenceStore(tmp_path / "store"))
    odd = subprocess.Popen([sys.executable, "-c", "print('hello'); print(0)"],
                           stdout=subprocess.PIPE)  # fmt: skip
    helper = ParseAhead(odd, cache, _files(binaries))
    odd.wait(timeout=30)
    started = time.monotonic()
    helper.wait_for(str(binaries[0]))  # it never got to file 0 as far as anyone knows
    assert time.monotonic() - started < 1
    assert helper.finish() is None


# -- end to end ---------------------------------------------------------------------------


@pytest.fixture
def many(project: pytest.Pytester, binaries: list[Path]) -> pytest.Pytester:
    """The project plus the dozen binaries and a truncated one (an ERROR item)."""
    pkg = project.path / "src/pkg"
    for path in binaries:
        shutil.copy2(path, pkg / path.name)
    (pkg / f"truncated{EXT}").write_bytes(binaries[0].read_bytes()[:3000])
    return project


def test_same_results_with_and_without_the_helper(many: pytest.Pytester) -> None:
    off = many.runpytest("--memsafe", "--memsafe-parse-ahead=off", "--memsafe-json=off.json")
    on = many.runpytest(
        "--memsafe", "--memsafe-parse-ahead=on", "--cache-clear", "--memsafe-json=on.json"
    )
    assert on.ret == off.ret == pytest.ExitCode.TESTS_FAILED
    assert on.parseoutcomes() == off.parseoutcomes()
    assert on.parseoutcomes()["errors"] > 0  # the truncated file's items
    assert report_results(many.path / "on.json", summaries=True) == report_results(
        many.path / "off.json", summaries=True
    )
    # 15 files: 12 contents among the 14 readable ones (the project's two originals have
    # copies among the dozen) and the broken one, which is never stored
    off.stdout.fnmatch_lines(["evidence: 13 files parsed, 2 from the evidence cache"])
    line = next(text for text in on.outlines if text.startswith("evidence: "))
    parsed, hits, *helped = (int(word) for word in line.split() if word.isdigit())
    assert parsed + hits == 15
    # a helper still starting up when the items are done is stopped before it reports
    assert line.endswith((" parsed ahead by a helper process)", "stopped before it reported)"))
    # (the helper and the pytest process may both parse a file they reach at once)
    assert helped == [] or helped[0] <= parsed + hits
    assert _helpers_of_this_process() == []
    warm = many.runpytest("--memsafe", "--memsafe-parse-ahead=on")  # nothing left to parse
    warm.stdout.fnmatch_lines(["evidence: 1 files parsed, 14 from the evidence cache (*"])


def test_no_helper_without_a_store_under_off_or_for_collect_only(
    many: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[int] = []
    real_start = ParseAhead.start

    def counting_start(cache: EvidenceCache, files: list[tuple[str, BinaryFormat, int]]) -> object:
        started.append(len(files))
        return real_start(cache, files)

    monkeypatch.setattr(ParseAhead, "start", counting_start)
    time.sleep(RACY_SECONDS + 0.2)  # settled copies: the store's stat index vouches for them
    for args in (
        ("-p", "no:cacheprovider", "--memsafe-parse-ahead=on"),
        ("--memsafe-parse-ahead=off",),
        ("--memsafe-parse-ahead=on", "--collect-only"),
        (),  # auto: a few small files are not worth a helper
    ):
        many.runpytest("--memsafe", *args)
        assert started == [], args
    many.runpytest("--memsafe", "--memsafe-parse-ahead=on")
    assert started == [1]  # the store knows all but the broken file (never stored)
    many.runpytest("--memsafe", "--memsafe-parse-ahead=on", "--cache-clear")
    assert started == [1, 15]


def test_bad_parse_ahead_value_is_a_usage_error(project: pytest.Pytester) -> None:
    result = project.runpytest("--memsafe", "--memsafe-parse-ahead=sometimes")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*memsafe_parse_ahead: invalid value 'sometimes'; choose from auto, on, off*"]
    )
