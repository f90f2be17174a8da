#!/usr/bin/env python
"""Warm latency of `search` (each stage) and `ask` over the gold set's questions.

Usage::

    python benchmarks/bench_latency.py [--index DIR] [--repeats N]

Builds the index from corpus/ into a temporary folder when --index is not given. Prints
p50/p95 in milliseconds for dense, bm25, hybrid, rerank, ask (each question a first: the
answer cache is emptied before each round, and the warm-up asks a question of its own) and
repeat (each question asked again at once: what the answer cache serves); run it on a quiet
machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.common import percentile  # noqa: E402
from chatbot.answering import Chatbot  # noqa: E402
from chatbot.chunking import ChunkingConfig  # noqa: E402
from chatbot.config import Settings  # noqa: E402
from chatbot.corpus import load_corpus  # noqa: E402
from chatbot.embedding import get_embedder  # noqa: E402
from chatbot.evaluation import load_gold  # noqa: E402
from chatbot.index import update_index  # noqa: E402
from chatbot.retrieval import MODES, Retriever  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    settings = Settings.from_env()
    with tempfile.TemporaryDirectory() as tmp:
        index_dir = args.index or Path(tmp) / "index"
        if args.index is None:
            embedder = get_embedder(settings.embedding_model, settings.embedding_batch_size)
            corpus = load_corpus(REPO / "corpus", max_bytes=settings.max_file_bytes)
            update_index(corpus, index_dir, embedder, ChunkingConfig(settings.chunk_max_tokens))
        settings = settings.with_overrides(index_dir=index_dir)
        retriever = Retriever.from_settings(settings)
        bot = Chatbot(retriever)
        questions = [q.question for q in load_gold(REPO / "eval" / "questions.jsonl")]
        print(
            f"{len(questions)} questions x {args.repeats}, {os.cpu_count()} CPUs, "
            f"load average {os.getloadavg()[0]:.2f}, model {settings.embedding_model}"
        )
        runs = {mode: (lambda q, m=mode: retriever.search(q, k=5, mode=m)) for mode in MODES}
        runs["ask"] = bot.ask
        for name, run in runs.items():
            run("warm-up: what is IVIG?")
            times = []
            for _ in range(args.repeats):
                forget(bot)
                for q in questions:
                    start = time.perf_counter()
                    run(q)
                    times.append((time.perf_counter() - start) * 1000)
            report(name, times)
        forget(bot)
        again = []
        for q in questions:
            bot.ask(q)
            start = time.perf_counter()
            bot.ask(q)
            again.append((time.perf_counter() - start) * 1000)
        report("repeat", again)


def forget(bot: Chatbot) -> None:
    """Empty the chatbot's answer cache, where it has one."""
    for cache in (getattr(bot, "answers", None), getattr(bot, "readings", None)):
        if cache is not None:
            cache.clear()


def report(name: str, times: list[float]) -> None:
    p50, p95 = percentile(times, 50), percentile(times, 95)
    print(f"{name:7s} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms")


if __name__ == "__main__":
    main()
