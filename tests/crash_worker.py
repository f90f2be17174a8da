"""Re-index forever, alternating the corpus between two states, until killed.

Run by ``tests/test_crash.py``, which kills it with SIGKILL at random moments::

    python tests/crash_worker.py CORPUS_DIR INDEX_DIR STATE

``STATE`` (``A`` or ``B``) is the corpus state the first update indexes; each following
update indexes the other one. Before each update the files of the state are written into
``CORPUS_DIR`` (missing ones created, extra ones removed). State ``A`` is the real corpus;
state ``B`` is the same with one article changed, one added and one removed.

The worker first imports and warms up (on a scratch index of its own), prints ``ready``,
then waits for one line on stdin before it touches ``CORPUS_DIR`` or ``INDEX_DIR``: an
empty line starts it with ``STATE``, ``A`` or ``B`` starts it with that state, and end of
input makes it exit. (The test starts workers ahead of time and says go when it is their
turn; by hand, press Enter.)

Lines on stdout (flushed at once)::

    ready                                  warmed up, waiting for the go line
    begin N STATE                          update N (to STATE) is starting
    end N STATE VERSION SECONDS            update N finished; VERSION is live

To make kills land inside the write path often, the embedder sleeps a little on each
call and every fsync of ``chatbot.index`` waits a little first (the real function still
runs); nothing else of the package is changed. The worker exits on its own when its
parent goes away or after ``MAX_LIFETIME_S``, so a lost worker cannot run forever.

The module imports only the standard library at import time, so the test can import
:func:`state_files` and :func:`write_state` from it cheaply.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "corpus"
STATES = ("A", "B")
MAX_BYTES = 5_000_000
EMBED_DELAY_S = 0.003
SYNC_DELAY_S = 0.002
MAX_LIFETIME_S = 120.0

CHANGED = "ivig-for-neuropathy.md"
REMOVED = "lupus-nerve-pain.md"
ADDED = "crash-test-added.md"
# Inserted at the end of the changed article's introduction: the introduction's chunk
# changes, and every later chunk keeps its text (and id) but moves to other offsets.
INSERTED = (
    "This paragraph was added by the crash test. It changes the introduction of the "
    "article and moves every later section to new character offsets.\n\n"
)
ADDED_TEXT = """\
---
title: "Crash Test Article"
---

# Crash Test Article

This article exists only in state B of the crash test. It is short on purpose.

## Why it exists

An article that one state has and the other lacks shows whether an index mixes the two
states. Its chunks must vanish when the corpus goes back to state A.

## What it says

Nothing of medical value. Sentences are kept whole, and sections are kept apart.
"""


def other(state: str) -> str:
    return "B" if state == "A" else "A"


def state_files(state: str) -> dict[str, bytes]:
    """The corpus files (name to bytes) of ``state``."""
    if state not in STATES:
        raise ValueError(f"unknown state {state!r}; use one of {STATES}")
    files = {
        p.name: p.read_bytes()
        for p in sorted(CORPUS.iterdir())
        if p.is_file() and not p.name.startswith(".")
    }
    if state == "A":
        return files
    del files[REMOVED]
    files[ADDED] = ADDED_TEXT.encode()
    text = files[CHANGED].decode("utf-8")
    at = text.index("\n## ") + 1
    files[CHANGED] = (text[:at] + INSERTED + text[at:]).encode("utf-8")
    return files


def write_state(directory: Path, state: str) -> None:
    """Make ``directory`` hold exactly the files of ``state``."""
    files = state_files(state)
    directory.mkdir(parents=True, exist_ok=True)
    for path in directory.iterdir():
        if path.name not in files:
            path.unlink()
    for name, data in files.items():
        (directory / name).write_bytes(data)


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[2] not in STATES:
        print(__doc__, file=sys.stderr)
        return 2
    corpus_dir, index_dir, state = Path(argv[0]), Path(argv[1]), argv[2]
    parent = os.getppid()
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))

    import numpy as np

    from chatbot import index as index_module
    from chatbot.chunking import ChunkingConfig
    from chatbot.corpus import load_corpus
    from chatbot.index import files as index_files
    from tests.conftest import FakeEmbedder

    class SlowFakeEmbedder(FakeEmbedder):
        """The test's FakeEmbedder (same vectors), a little slower, keeping no history."""

        def embed_documents(self, texts: list[str]) -> np.ndarray:  # type: ignore[override]
            time.sleep(EMBED_DELAY_S)
            vectors = super().embed_documents(texts)
            self.calls.clear()
            return vectors

    def slowed(function):  # type: ignore[no-untyped-def]
        def wrapper(*args):  # type: ignore[no-untyped-def]
            time.sleep(SYNC_DELAY_S)
            return function(*args)

        return wrapper

    index_files.sync = slowed(index_files.sync)
    index_files.fsync_path = slowed(index_files.fsync_path)

    embedder = SlowFakeEmbedder()
    config = ChunkingConfig()
    # Warm up on a scratch index of our own, so that lazy imports and first-use setup
    # (tokenizers, BM25) happen before "ready" and the kills land in real work.
    with tempfile.TemporaryDirectory(prefix="crash-worker-") as scratch:
        write_state(Path(scratch) / "corpus", state)
        warm = load_corpus(Path(scratch) / "corpus", max_bytes=MAX_BYTES)
        index_module.update_index(warm, Path(scratch) / "index", embedder, config)
        index_module.load_index(Path(scratch) / "index")
    deadline = time.monotonic() + MAX_LIFETIME_S
    print("ready", flush=True)
    go = sys.stdin.readline()
    if not go:
        return 0  # end of input: the test no longer wants this worker
    if go.strip():
        state = go.strip()
        if state not in STATES:
            print(f"unknown state {state!r} on stdin", file=sys.stderr)
            return 2
    n = 0
    while os.getppid() == parent and time.monotonic() < deadline:
        write_state(corpus_dir, state)
        corpus = load_corpus(corpus_dir, max_bytes=MAX_BYTES)
        print(f"begin {n} {state}", flush=True)
        started = time.perf_counter()
        report = index_module.update_index(corpus, index_dir, embedder, config)
        elapsed = time.perf_counter() - started
        print(f"end {n} {state} {report.version} {elapsed:.6f}", flush=True)
        state = other(state)
        n += 1
    return 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
