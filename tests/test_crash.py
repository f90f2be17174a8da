"""Crash safety of ``update_index``: a re-index that dies at any moment leaves the old or
the new index, never a mix, and its leftovers are cleaned by the next update.

Two corpus states are used (see ``tests/crash_worker.py``): ``A``, the real corpus, and
``B``, the same with one article changed, one added and one removed. Every index found
on disk is checked against both states, as loaded by ``load_corpus`` from two fixed
folders, and against a reference index built in-process for the matching state.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import select
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pytest

import chatbot.index.updating as index_updating
import chatbot.vectorstore as vectorstore_module
from chatbot.chunking import Chunk, ChunkingConfig
from chatbot.corpus import Article, load_corpus
from chatbot.index import CURRENT, VERSIONS, Index, load_index, update_index
from chatbot.index import files as index_files
from chatbot.lexical import LexicalIndex
from tests.conftest import FakeEmbedder
from tests.crash_worker import MAX_BYTES, STATES, other, write_state

WORKER = Path(__file__).with_name("crash_worker.py")
ROUNDS = 40
SEED = 20240611
START_TIMEOUT_S = 30.0
EVENT_TIMEOUT_S = 15.0
EXIT_TIMEOUT_S = 10.0
PREFETCH = 2
CONFIG = ChunkingConfig()


# ---------------------------------------------------------------------------- the two states


@dataclass
class Expected:
    """One corpus state: its articles and the index a clean build of it gives."""

    name: str
    articles: dict[str, Article]
    chunks: list[Chunk]
    vectors: np.ndarray
    records: dict[str, tuple[str, str, str, tuple[str, ...]]]
    lexical: list[tuple[int, float]] | None


# Words from both states, the added article included.
LEXICAL_QUERY = "IVIG plasma lupus nerve pain crash test article sections"


def _lexical_probe(index: Index) -> list[tuple[int, float]] | None:
    """The BM25 ranking of LEXICAL_QUERY, where the index has a BM25 part."""
    lexical = getattr(index, "lexical", None)
    if lexical is None or not hasattr(lexical, "search"):
        return None
    hits = lexical.search(LEXICAL_QUERY, k=len(index.chunks))
    return [(int(row), round(float(score), 5)) for row, score in hits]


def _expected(tmp_path: Path) -> dict[str, Expected]:
    expected = {}
    for state in STATES:
        corpus_dir = tmp_path / f"state-{state}"
        write_state(corpus_dir, state)
        corpus = load_corpus(corpus_dir, max_bytes=MAX_BYTES)
        assert not corpus.failures
        reference_dir = tmp_path / f"reference-{state}"
        update_index(corpus, reference_dir, FakeEmbedder(), CONFIG)
        reference = load_index(reference_dir)
        expected[state] = Expected(
            name=state,
            articles={a.id: a for a in corpus.articles},
            chunks=list(reference.chunks),
            vectors=reference.vectors(),
            records={
                r.id: (r.title, r.sha256, r.source, r.chunk_ids)
                for r in reference.articles.values()
            },
            lexical=_lexical_probe(reference),
        )
    a, b = expected["A"], expected["B"]
    assert {k: v.sha256 for k, v in a.articles.items()} != {
        k: v.sha256 for k, v in b.articles.items()
    }
    assert set(a.articles) != set(b.articles), "the states must differ in their article ids"
    return expected


def check_index(index: Index, expected: dict[str, Expected]) -> str:
    """Check ``index`` is exactly one of the states; return the state's name."""
    observed = {aid: record.sha256 for aid, record in index.articles.items()}
    matches = [
        name
        for name, state in expected.items()
        if observed == {aid: a.sha256 for aid, a in state.articles.items()}
    ]
    assert len(matches) == 1, f"the index's articles match no single state: {observed}"
    state = expected[matches[0]]

    assert len(index.chunks) == index.faiss_index.ntotal
    chunk_articles = {chunk.article_id for chunk in index.chunks}
    assert chunk_articles <= set(index.articles), chunk_articles - set(index.articles)
    for aid, record in index.articles.items():
        present = tuple(chunk.id for chunk in index.chunks if chunk.article_id == aid)
        assert record.chunk_ids == present, f"chunk ids of {aid} differ from the chunks"
    for chunk in index.chunks:
        text = state.articles[chunk.article_id].text
        assert text[chunk.start : chunk.end] == chunk.text, f"chunk {chunk.id} offsets"

    # The same as a clean build of that state: chunks, vectors, records, BM25 ranking.
    assert index.chunks == state.chunks
    np.testing.assert_allclose(index.vectors(), state.vectors, rtol=0, atol=1e-6)
    records = {r.id: (r.title, r.sha256, r.source, r.chunk_ids) for r in index.articles.values()}
    assert records == state.records
    assert _lexical_probe(index) == state.lexical
    return state.name


def load_and_check(index_dir: Path, expected: dict[str, Expected]) -> str:
    return check_index(load_index(index_dir, verify=True), expected)


def assert_clean(index_dir: Path) -> None:
    """After a successful update: at most two versions and no staging leftovers."""
    versions = sorted(p.name for p in (index_dir / VERSIONS).iterdir())
    assert not [n for n in versions if n.startswith(".tmp-")], versions
    assert len([n for n in versions if n.startswith("v-")]) <= 2, versions
    assert not list(index_dir.glob(".*.tmp"))
    live = (index_dir / CURRENT).read_text(encoding="utf-8").strip()
    assert live in versions


# ---------------------------------------------------------------------------- SIGKILL rounds


class Worker:
    """A started ``crash_worker.py``; its output lines are read without blocking for long."""

    def __init__(self, corpus_dir: Path, index_dir: Path, stderr: Path) -> None:
        self._stderr = stderr
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
        with stderr.open("wb") as err:
            # STATE is a placeholder: the real one is given on stdin when the worker's turn
            # comes, because it depends on what the worker before it left.
            self.proc = subprocess.Popen(
                [sys.executable, str(WORKER), str(corpus_dir), str(index_dir), "A"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                cwd=WORKER.parents[1],
                env=env,
                bufsize=0,
            )
        assert self.proc.stdout is not None and self.proc.stdin is not None
        self._fd = self.proc.stdout.fileno()
        self._buffer = b""
        self.lines: list[str] = []
        self.eof = False

    def _read(self, timeout: float) -> None:
        ready, _, _ = select.select([self._fd], [], [], max(0.0, timeout))
        if not ready:
            return
        data = os.read(self._fd, 1 << 16)
        if not data:
            self.eof = True
            return
        *complete, self._buffer = (self._buffer + data).split(b"\n")
        self.lines.extend(line.decode() for line in complete)

    def wait_for(self, condition: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            left = deadline - time.monotonic()
            if self.eof or left <= 0:
                raise AssertionError(
                    f"worker: expected output did not come (eof={self.eof}); got "
                    f"{self.lines[-5:]}; stderr:\n{self.stderr()}"
                )
            self._read(left)

    def count(self, word: str) -> int:
        return sum(1 for line in self.lines if line.split()[0] == word)

    def go(self, state: str) -> None:
        self.wait_for(lambda: "ready" in self.lines, START_TIMEOUT_S)
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{state}\n".encode())
        self.proc.stdin.flush()

    def kill(self) -> None:
        """SIGKILL, reap, and read what it printed up to its death."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=EXIT_TIMEOUT_S)
        deadline = time.monotonic() + EXIT_TIMEOUT_S
        while not self.eof and time.monotonic() < deadline:
            self._read(deadline - time.monotonic())
        self.close()

    def close(self) -> None:
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None and not pipe.closed:
                with contextlib.suppress(OSError):
                    pipe.close()

    def stderr(self) -> str:
        return self._stderr.read_text(errors="replace")[-3000:]


@dataclass
class Tally:
    kills: Counter[str] = field(default_factory=Counter)
    modes: Counter[str] = field(default_factory=Counter)
    changes: int = 0
    completed_updates: int = 0


def _listing(index_dir: Path) -> tuple[set[str], set[str]]:
    versions = index_dir / VERSIONS
    names = {p.name for p in versions.iterdir()} if versions.is_dir() else set()
    return names, {p.name for p in index_dir.glob(".*.tmp")}


def _kill_at_random(
    rng: random.Random, worker: Worker, state: str, update_seconds: list[float], tally: Tally
) -> None:
    """Let ``worker`` re-index from ``state`` on, and kill it at a random moment."""
    typical = sorted(update_seconds)[len(update_seconds) // 2] if update_seconds else 0.05
    mode = rng.choices(["timed", "inside", "after"], weights=[4, 4, 2])[0]
    tally.modes[mode] += 1
    k = rng.randint(1, 3)
    worker.go(state)
    if mode == "timed":  # anywhere in the first ~400 ms
        time.sleep(rng.uniform(0.0, 0.4))
    elif mode == "inside":  # somewhere inside the k-th update
        worker.wait_for(lambda: worker.count("begin") >= k, EVENT_TIMEOUT_S)
        time.sleep(rng.uniform(0.0, 1.2 * typical))
    else:  # right after the k-th completed update
        worker.wait_for(lambda: worker.count("end") >= k, EVENT_TIMEOUT_S)
        time.sleep(rng.choice([0.0, rng.uniform(0.0, 0.01)]))
    worker.kill()
    assert worker.proc.returncode == -signal.SIGKILL, (
        f"worker exited with {worker.proc.returncode} before the kill; stderr:\n{worker.stderr()}"
    )


def test_sigkill_at_any_moment_leaves_the_old_or_the_new_index(tmp_path: Path) -> None:
    expected = _expected(tmp_path)
    corpus_dir = tmp_path / "corpus"
    index_dir = tmp_path / "index"
    write_state(corpus_dir, "A")
    update_index(load_corpus(corpus_dir, max_bytes=MAX_BYTES), index_dir, FakeEmbedder(), CONFIG)
    state = load_and_check(index_dir, expected)
    assert state == "A"

    rng = random.Random(SEED)
    tally = Tally()
    update_seconds: list[float] = []
    started = time.monotonic()
    workers: list[Worker] = []

    def start(n: int) -> None:
        if n < ROUNDS:
            workers.append(Worker(corpus_dir, index_dir, tmp_path / f"worker-{n}.stderr"))

    try:
        # Workers start (import, warm up) ahead of their turn, PREFETCH at a time, and wait
        # on stdin; only the one whose turn it is touches the corpus and the index.
        for n in range(PREFETCH):
            start(n)
        for round_no in range(ROUNDS):
            worker = workers[round_no]
            start(round_no + PREFETCH)
            versions_before, tmp_files_before = _listing(index_dir)
            _kill_at_random(rng, worker, other(state), update_seconds, tally)
            lines = worker.lines

            # What the worker had done when it died.
            begun = [line.split() for line in lines if line.startswith("begin ")]
            ended = [line.split() for line in lines if line.startswith("end ")]
            update_seconds.extend(float(words[4]) for words in ended)
            tally.completed_updates += len(ended)
            reported = {words[3] for words in ended}
            committed = ended[-1][2] if ended else state  # the last state known to be live
            in_flight = begun[-1][2] if len(begun) > len(ended) else None

            loaded = load_and_check(index_dir, expected)
            context = f"round {round_no}: lines {lines[-3:]}"
            if in_flight is None:
                assert loaded == committed, context
                tally.kills["between updates"] += 1
            else:
                assert loaded in (committed, in_flight), context
                if loaded == in_flight != committed:
                    tally.kills["inside an update, after the switch"] += 1
                else:
                    tally.kills["inside an update, before the switch"] += 1
                    versions_after, tmp_files_after = _listing(index_dir)
                    live = (index_dir / CURRENT).read_text(encoding="utf-8").strip()
                    new = versions_after - versions_before - reported - {live}
                    if any(n.startswith(".tmp-") for n in new):
                        tally.kills["  of which: while writing the staging folder"] += 1
                    if any(n.startswith("v-") for n in new):
                        tally.kills["  of which: after the rename, before CURRENT"] += 1
                    if tmp_files_after - tmp_files_before:
                        tally.kills["  of which: while writing CURRENT"] += 1
            tally.changes += loaded != state
            state = loaded
    finally:
        for worker in workers:
            if worker.proc.poll() is None:
                worker.proc.kill()
                worker.proc.wait(timeout=EXIT_TIMEOUT_S)
            worker.close()
    assert all(worker.proc.returncode is not None for worker in workers)

    # A clean update afterwards succeeds and removes what the killed writers left.
    target = other(state)
    write_state(corpus_dir, target)
    update_index(load_corpus(corpus_dir, max_bytes=MAX_BYTES), index_dir, FakeEmbedder(), CONFIG)
    assert load_and_check(index_dir, expected) == target
    assert_clean(index_dir)

    elapsed = time.monotonic() - started
    print(
        f"\n{ROUNDS} rounds in {elapsed:.1f} s, {tally.completed_updates} updates completed, "
        f"the index changed in {tally.changes} rounds; kill modes {dict(tally.modes)}"
    )
    for what, count in sorted(tally.kills.items(), key=lambda item: item[0].strip()):
        print(f"  {what}: {count}")
    assert tally.changes >= 1, "the index never changed: the test proved nothing"
    inside = tally.kills["inside an update, before the switch"]
    inside += tally.kills["inside an update, after the switch"]
    assert inside >= 1, "no kill landed inside an update"


# ---------------------------------------------------------------------------- injected faults


class InjectedFault(OSError):
    """The failure injected into one call of the writer."""


# (module or class, attribute) of the functions the writer calls; patched where
# chatbot.index and chatbot.vectorstore look them up at each call.
_CANDIDATES: list[tuple[Any, str]] = [
    (os, "rename"),
    (os, "replace"),
    (os, "fsync"),
    (faiss, "write_index"),
    (faiss, "read_index"),
    (json, "dump"),
    (json, "dumps"),
    (index_files, "sha256_file"),
    (vectorstore_module, "_make_faiss_index"),
    (index_files, "sync"),
    (index_files, "fsync_path"),
    (index_files, "atomic_write_text"),
    (index_updating, "_collect_garbage"),
    (LexicalIndex, "save"),  # the BM25 files
]
TARGETS = list(_CANDIDATES)


def _label(module: Any, name: str) -> str:
    return f"{module.__name__}.{name}"


def _patch_all(
    monkeypatch: pytest.MonkeyPatch, index_dir: Path, fail_at: tuple[str, int] | None
) -> list[tuple[str, int, bool]]:
    """Wrap every target: log each call as (label, n, after the switch), raise at fail_at."""
    calls: list[tuple[str, int, bool]] = []
    counts: Counter[str] = Counter()
    switched = [False]
    current = str(index_dir / CURRENT)

    def wrap(label: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            counts[label] += 1
            calls.append((label, counts[label], switched[0]))
            if fail_at == (label, counts[label]):
                raise InjectedFault(5, f"injected failure of {label} call {counts[label]}")
            result = function(*args, **kwargs)
            if label == "os.replace" and str(args[1]) == current:
                switched[0] = True
            return result

        return wrapper

    for module, name in TARGETS:
        function = getattr(module, name)
        if (module, name) == (os, "fsync"):
            # Counted and failed like the others, but not done: durability against power
            # loss is not what this test checks, and thousands of fsyncs make it slow.
            function = _no_fsync
        monkeypatch.setattr(module, name, wrap(_label(module, name), function))
    return calls


def _no_fsync(fd: int) -> None:
    os.fstat(fd)  # still fails on a bad descriptor


def test_a_writer_failing_at_any_call_leaves_the_old_or_the_new_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = _expected(tmp_path)
    corpus_dir = tmp_path / "corpus"
    pristine = tmp_path / "pristine"
    for state in ("B", "A"):  # two versions on disk, A live: garbage collection has work
        write_state(corpus_dir, state)
        corpus = load_corpus(corpus_dir, max_bytes=MAX_BYTES)
        update_index(corpus, pristine, FakeEmbedder(), CONFIG)
    # Without its README the writer also writes one after the switch: more calls to fail.
    (pristine / "README.md").unlink()
    assert load_and_check(pristine, expected) == "A"
    corpora = {}
    for state in STATES:
        write_state(corpus_dir, state)
        corpora[state] = load_corpus(corpus_dir, max_bytes=MAX_BYTES)

    # A dry run logs every call of every target, and which came after the switch.
    dry = tmp_path / "dry"
    shutil.copytree(pristine, dry)
    with monkeypatch.context() as patch:
        calls = _patch_all(patch, dry, None)
        update_index(corpora["B"], dry, FakeEmbedder(), CONFIG)
    assert load_and_check(dry, expected) == "B"
    assert any(after for _, _, after in calls), "the switch of CURRENT was not seen"
    assert {label for label, _, _ in calls} == {_label(m, n) for m, n in TARGETS}

    outcomes: Counter[str] = Counter()
    for case, (label, n, after_switch) in enumerate(calls):
        index_dir = tmp_path / f"case-{case}"
        shutil.copytree(pristine, index_dir)
        with monkeypatch.context() as patch:
            _patch_all(patch, index_dir, (label, n))
            if after_switch:
                # Housekeeping after the switch is best effort: the update has succeeded,
                # so a failure there is either swallowed or reported, never a rollback.
                with contextlib.suppress(InjectedFault):
                    update_index(corpora["B"], index_dir, FakeEmbedder(), CONFIG)
            else:
                with pytest.raises(InjectedFault):
                    update_index(corpora["B"], index_dir, FakeEmbedder(), CONFIG)
        loaded = load_and_check(index_dir, expected)
        want = "B" if after_switch else "A"
        assert loaded == want, f"{label} call {n} failed: the index is {loaded}, not {want}"
        outcomes[want] += 1

        # Unpatched updates then succeed, and one that writes a version cleans up. Updating
        # to B again writes nothing when the failed update had already switched to B, so
        # then the index goes back to A to have a version written.
        update_index(corpora["B"], index_dir, FakeEmbedder(), CONFIG)
        assert load_and_check(index_dir, expected) == "B"
        if after_switch:
            update_index(corpora["A"], index_dir, FakeEmbedder(), CONFIG)
            assert load_and_check(index_dir, expected) == "A"
        assert_clean(index_dir)

    assert outcomes["A"] > 0
    print(
        f"\n{len(calls)} injected faults: the index stayed A after {outcomes['A']}, "
        f"was already B after {outcomes['B']} (failures after the switch)"
    )
