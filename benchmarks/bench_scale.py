#!/usr/bin/env python
"""Grow the index with distractor chunks to 10k and 100k chunks and measure what changes.

For the five real articles alone and for each ``--sizes`` target, the index is built with the
project's own ``update_index`` (real chunking, FAISS type selection, BM25, atomic write) from
a corpus folder holding the real articles plus synthetic distractor articles, and the
benchmark reports:

* build: total time, chunks/s excluding embedding, each stage, the FAISS index type chosen;
* size: bytes on disk per chunk, and the RSS a fresh process gains per chunk on ``load_index``;
* search: latency p50/p99 over the gold set's questions in modes dense, bm25, hybrid (before
  rerank) and rerank (after rerank, on ``--rerank-queries`` questions), with the stages of
  hybrid search timed one by one, and hybrid again with FAISS's OpenMP pool at one thread;
* quality: hit@5 of the gold set's in-scope questions, against the five-article index, and
  with the other FAISS index type swapped in (exact flat for HNSW, HNSW for flat);
* the FAISS threshold: exact ``IndexFlatIP`` against ``IndexHNSWFlat`` (M=32, efSearch=96,
  256 and 1024) on the same vectors: search p50, build time and recall of HNSW.

Embedding 100k chunks with the real model on 2 cores takes most of an hour, so only a pool of
distractor chunks (``--pool``, default 1,500) is embedded with the real model (its rate is
the reported embedding throughput). Every other distractor chunk gets a vector derived from
the pool: a random mix of two pool vectors of the same topic plus gaussian noise,
renormalised. The real articles' chunks and all queries get real embeddings.

Usage::

    python benchmarks/bench_scale.py [--sizes 10000,100000] [--rerank-queries 30]
                                     [--pool 1500] [--json PATH] [--seed 7]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from common import (  # benchmarks/ is on sys.path when run as a script
    CpuMonitor,
    percentile,
    quiet_libraries,
    quiet_model_libraries,
)

# The Hugging Face stack is imported lazily, in the functions below.
quiet_model_libraries()

REPO_ROOT = Path(__file__).resolve().parents[1]
CORPUS_DIR = REPO_ROOT / "corpus"
QUESTIONS = REPO_ROOT / "eval" / "questions.jsonl"
MODES = ("dense", "bm25", "hybrid", "rerank")
HYBRID_TARGET_MS = 20.0  # the target: hybrid search p50 at 100k chunks
HNSW_M = 32  # the parameters chatbot.vectorstore._make_faiss_index uses
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 96
DISTRACTOR_PREFIX = "distractor-"  # article ids of the synthetic articles
NOISE_NORM = 0.3  # expected norm of the noise added to a (unit) mixed pool vector

# ---------------------------------------------------------------------------- distractors

# The topics, word lists and sentence templates the distractor articles are written from.
DISTRACTOR_DATA = Path(__file__).resolve().parent / "data" / "distractors.yaml"

Topic = tuple[list[str], list[tuple[str, ...]]]  # (head fields, three word lists)


def load_distractor_data(path: Path = DISTRACTOR_DATA) -> dict[str, Any]:
    """The distractor vocabulary: topics, slot words and templates, by their YAML keys."""
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data


def _topics(topics: list[dict[str, Any]], head: Sequence[str], lists: Sequence[str]) -> list[Topic]:
    """(head fields, lists) per topic, the fields and lists in the order named."""
    return [([t[k] for k in head], [tuple(t[k]) for k in lists]) for t in topics]


_DATA = load_distractor_data()
MEDICAL_TOPICS = _topics(
    _DATA["medical_topics"], ("name", "part", "doctor"), ("symptoms", "treatments", "tests")
)
GENERAL_TOPICS = _topics(_DATA["general_topics"], ("name",), ("things", "tools", "problems"))
GROUPS: tuple[str, ...] = tuple(_DATA["groups"])
WHEN: tuple[str, ...] = tuple(_DATA["when"])
FREQ: tuple[str, ...] = tuple(_DATA["freq"])
DURATION: tuple[str, ...] = tuple(_DATA["duration"])
ADVICE: tuple[str, ...] = tuple(_DATA["advice"])
ADJECTIVE: tuple[str, ...] = tuple(_DATA["adjective"])
MEDICAL_SENTENCES: tuple[str, ...] = tuple(_DATA["medical_sentences"])
GENERAL_SENTENCES: tuple[str, ...] = tuple(_DATA["general_sentences"])
MEDICAL_HEADINGS: tuple[str, ...] = tuple(_DATA["medical_headings"])
GENERAL_HEADINGS: tuple[str, ...] = tuple(_DATA["general_headings"])
MEDICAL_TITLES: tuple[str, ...] = tuple(_DATA["medical_titles"])
GENERAL_TITLES: tuple[str, ...] = tuple(_DATA["general_titles"])
N_TOPICS = len(MEDICAL_TOPICS) + len(GENERAL_TOPICS)


@dataclass(frozen=True)
class Distractor:
    id: str
    title: str
    topic: int
    markdown: str


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _title(text: str) -> str:
    return " ".join(_cap(word) for word in text.split())


def make_distractor(number: int, seed: int) -> Distractor:
    """Distractor article ``number``: the same for a given seed whatever else is generated.

    Topics go round-robin so every prefix of the sequence covers all of them; an article has
    an introduction and 4-5 sections of 8-12 sentences (about 45-60 sentences in all).
    """
    rng = random.Random(seed * 1_000_003 + number)
    topic = number % N_TOPICS
    medical = topic < len(MEDICAL_TOPICS)
    if medical:
        (name, part, doctor), (symptoms, treatments, tests) = MEDICAL_TOPICS[topic]
        sentences, headings, titles = MEDICAL_SENTENCES, MEDICAL_HEADINGS, MEDICAL_TITLES
    else:
        (name,), (things, tools, problems) = GENERAL_TOPICS[topic - len(MEDICAL_TOPICS)]
        sentences, headings, titles = GENERAL_SENTENCES, GENERAL_HEADINGS, GENERAL_TITLES
    title = rng.choice(titles).format(C=_title(name))

    def sentence() -> str:
        slots: dict[str, Any]
        if medical:
            s, s2 = rng.sample(symptoms, 2)
            t, t2 = rng.sample(treatments, 2)
            slots = {
                "p": part,
                "s": s,
                "s2": s2,
                "t": t,
                "t2": t2,
                "T": _cap(t),
                "x": rng.choice(tests),
                "d": doctor,
            }
            slots["X"] = _cap(slots["x"])
        else:
            i, i2 = rng.sample(things, 2)
            slots = {"i": i, "i2": i2, "tool": rng.choice(tools), "prob": rng.choice(problems)}
        g = rng.choice(GROUPS)
        a = rng.choice(ADVICE)
        slots |= {
            "c": name,
            "C": _cap(name),
            "g": g,
            "G": _cap(g),
            "w": rng.choice(WHEN),
            "f": rng.choice(FREQ),
            "dur": rng.choice(DURATION),
            "a": a,
            "A": _cap(a),
            "adj": rng.choice(ADJECTIVE),
            "n": rng.randint(3, 85),
        }
        return rng.choice(sentences).format(**slots)

    def paragraphs(n_sentences: int) -> str:
        out, left = [], n_sentences
        while left > 0:
            take = min(left, rng.randint(3, 5))
            out.append(" ".join(sentence() for _ in range(take)))
            left -= take
        return "\n\n".join(out)

    parts = [f"---\ntitle: {json.dumps(title)}\n---\n", f"# {title}\n", paragraphs(6)]
    for heading in rng.sample(headings, rng.randint(4, 5)):
        parts.append(f"\n## {heading.format(C=_title(name))}\n")
        parts.append(paragraphs(rng.randint(8, 12)))
    return Distractor(f"{DISTRACTOR_PREFIX}{number:06d}", title, topic, "\n".join(parts) + "\n")


# ---------------------------------------------------------------------------- embedder


class Stopwatch:
    """Adds up the seconds spent in named stages."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    @contextlib.contextmanager
    def time(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start
            self.calls[name] = self.calls.get(name, 0) + 1

    def wrap(self, name: str, func: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.time(name):
                return func(*args, **kwargs)

        return timed

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()


class ScaleEmbedder:
    """The real embedder's interface, with derived vectors for distractor chunks.

    * chunks of the real articles (recognised by their title, the first line of the embedded
      text) and queries get the real model's embeddings;
    * distractor chunks embedded into the pool get their real embedding back;
    * every other distractor chunk gets ``normalise(mix of two pool vectors of its topic +
      noise)``, the noise drawn so that its expected norm is ``NOISE_NORM``.

    ``count_tokens`` is the real tokenizer's (chunking is exact); its calls are timed.
    """

    def __init__(self, real: Any, real_titles: set[str], seed: int, clock: Stopwatch) -> None:
        self.real = real
        self.real_titles = real_titles
        self.clock = clock
        self.topic_of_title: dict[str, int] = {}
        self.pool: dict[str, np.ndarray] = {}
        self.pool_by_topic: dict[int, np.ndarray] = {}
        self.all_pool = np.zeros((0, 0), dtype=np.float32)
        self.rng = np.random.default_rng(seed)
        self.real_embedded = 0
        self.derived = 0

    @property
    def name(self) -> str:
        return str(self.real.name)

    @property
    def dimension(self) -> int:
        return int(self.real.dimension)

    @property
    def max_tokens(self) -> int:
        return int(self.real.max_tokens)

    def count_tokens(self, text: str) -> int:
        with self.clock.time("count_tokens"):
            return int(self.real.count_tokens(text))

    def set_pool(self, texts: Sequence[str], topics: Sequence[int], vectors: np.ndarray) -> None:
        self.pool = {t: v for t, v in zip(texts, vectors, strict=True)}
        by_topic: dict[int, list[np.ndarray]] = {}
        for topic, vector in zip(topics, vectors, strict=True):
            by_topic.setdefault(topic, []).append(vector)
        self.pool_by_topic = {k: np.stack(v) for k, v in by_topic.items()}
        self.all_pool = np.asarray(vectors, dtype=np.float32)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        with self.clock.time("embed_documents"):
            out = np.zeros((len(texts), self.dimension), dtype=np.float32)
            real_rows: list[int] = []
            derived: dict[int, list[int]] = {}
            for row, text in enumerate(texts):
                title = text.split("\n", 1)[0].split(" > ", 1)[0]
                if title in self.real_titles:
                    real_rows.append(row)
                elif text in self.pool:
                    out[row] = self.pool[text]
                else:
                    derived.setdefault(self.topic_of_title[title], []).append(row)
            if real_rows:
                with self.clock.time("embed_real"):
                    out[real_rows] = self.real.embed_documents([texts[r] for r in real_rows])
                self.real_embedded += len(real_rows)
            for topic, rows in derived.items():
                pool = self.pool_by_topic.get(topic, self.all_pool)
                out[rows] = self._derive(pool, len(rows))
                self.derived += len(rows)
            return out

    def _derive(self, pool: np.ndarray, n: int) -> np.ndarray:
        first = self.rng.integers(0, len(pool), n)
        second = self.rng.integers(0, len(pool), n)
        share = self.rng.uniform(0.0, 1.0, (n, 1)).astype(np.float32)
        mixed = share * pool[first] + (1.0 - share) * pool[second]
        mixed /= np.linalg.norm(mixed, axis=1, keepdims=True)
        noise = self.rng.standard_normal(mixed.shape).astype(np.float32)
        mixed += noise * (NOISE_NORM / math.sqrt(mixed.shape[1]))
        mixed /= np.linalg.norm(mixed, axis=1, keepdims=True)
        return mixed.astype(np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return np.asarray(self.real.embed_query(text), dtype=np.float32)


# ---------------------------------------------------------------------------- measuring


def progress(message: str, started: float) -> None:
    print(f"[{time.perf_counter() - started:7.1f}s] {message}", file=sys.stderr, flush=True)


_MEMORY_PROBE = """
import gc, json, resource, sys, time
from pathlib import Path
import bm25s, faiss, numpy
from chatbot.index import load_index
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()
def maxrss():  # VmHWM: this process's peak RSS (ru_maxrss would include the parent's)
    with open("/proc/self/status") as f:
        line = next(x for x in f if x.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024
gc.collect()
before, peak_before = rss(), maxrss()
start = time.perf_counter()
index = load_index(Path(sys.argv[1]))
seconds = time.perf_counter() - start
gc.collect()
after, peak = rss(), maxrss()
print(json.dumps({"rss_before": before, "rss_after": after, "peak_before": peak_before,
                  "peak": peak, "load_s": seconds, "chunks": len(index)}))
"""


def measure_memory(index_dir: Path) -> dict[str, Any]:
    """RSS a fresh process gains by ``load_index`` (libraries imported before measuring)."""
    result = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, str(index_dir)],
        capture_output=True,
        text=True,
        check=True,
    )
    data: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    n = max(1, int(data["chunks"]))
    data["rss_per_chunk"] = (data["rss_after"] - data["rss_before"]) / n
    # The peak is only known when loading set a new one (imports might have peaked higher).
    data["peak_known"] = data["peak"] > data["peak_before"]
    data["peak_per_chunk"] = (
        (data["peak"] - data["rss_before"]) / n if data["peak_known"] else math.nan
    )
    return data


def disk_usage(version_dir: Path) -> dict[str, int]:
    sizes = {"chunks.jsonl": 0, "vectors.faiss": 0, "bm25/": 0, "manifest.json": 0}
    for path in version_dir.rglob("*"):
        if path.is_file():
            key = "bm25/" if path.parent.name == "bm25" else path.name
            sizes[key] = sizes.get(key, 0) + path.stat().st_size
    return sizes


def is_relevant(hit: Any, question: dict[str, Any]) -> bool:
    """From a gold article and containing one of the key phrases (case and spaces ignored)."""
    if hit.article_id not in question["gold"]:
        return False
    text = " ".join(hit.text.split()).casefold()
    return any(" ".join(p.split()).casefold() in text for p in question["key_phrases"])


@dataclass
class ModeResult:
    latencies_ms: list[float] = field(default_factory=list)
    hits: int = 0
    in_scope: int = 0
    question_ids: list[str] = field(default_factory=list)
    hit_ids: list[str] = field(default_factory=list)
    top5: dict[str, list[str]] = field(default_factory=dict)  # question id: article ids
    distractors: int = 0  # distractor chunks among the in-scope questions' top 5
    with_distractor: int = 0  # in-scope questions with a distractor in their top 5
    out_of_scope_distractors: int = 0

    def summary(self) -> dict[str, Any]:
        return {
            "queries": len(self.latencies_ms),
            "p50_ms": percentile(self.latencies_ms, 50),
            "p99_ms": percentile(self.latencies_ms, 99),
            "mean_ms": float(np.mean(self.latencies_ms)) if self.latencies_ms else math.nan,
            "hit5": self.hits,
            "in_scope": self.in_scope,
            "hit5_rate": self.hits / self.in_scope if self.in_scope else math.nan,
            "hit_ids": self.hit_ids,
            "top5": self.top5,
            "distractors_in_top5": self.distractors,
            "questions_with_distractor": self.with_distractor,
            "out_of_scope_distractors_in_top5": self.out_of_scope_distractors,
        }


def run_mode(
    retriever: Any, questions: Sequence[dict[str, Any]], mode: str, warmup: int
) -> ModeResult:
    """One untimed pass over ``warmup`` questions, then a timed pass over all of them."""
    for q in questions[:warmup]:
        retriever.search(q["question"], k=5, mode=mode)
    result = ModeResult()
    for q in questions:
        start = time.perf_counter()
        hits = retriever.search(q["question"], k=5, mode=mode)
        result.latencies_ms.append((time.perf_counter() - start) * 1000.0)
        result.question_ids.append(q["id"])
        result.top5[q["id"]] = [h.article_id for h in hits]
        foreign = sum(1 for h in hits if h.article_id.startswith(DISTRACTOR_PREFIX))
        if not q["in_scope"]:
            result.out_of_scope_distractors += foreign
        else:
            result.in_scope += 1
            result.distractors += foreign
            result.with_distractor += foreign > 0
            if any(is_relevant(h, q) for h in hits):
                result.hits += 1
                result.hit_ids.append(q["id"])
    return result


def hybrid_stages(retriever: Any, questions: Sequence[dict[str, Any]]) -> dict[str, float]:
    """p50 (ms) of each stage of hybrid search, timed inside ``Retriever.search``.

    A separate pass over the questions with the stages wrapped on the instances:
    ``embed_query``, FAISS ``search_rows``, BM25 ``search`` (and the ``scores`` call inside
    it); "rest" is the query's total minus those (fusion, ``vectors_of``, diversify, hits).
    ``bm25_argsort`` times the full ``np.argsort`` that ``LexicalIndex.search`` does, alone.
    """
    from chatbot.lexical import tokenize

    clock = Stopwatch()
    index, lexical, embedder = retriever.index, retriever.index.lexical, retriever.embedder
    wrapped = [
        (embedder, "embed_query", "embed_query"),
        (index, "search_rows", "faiss"),
        (lexical, "search", "bm25"),
        (lexical, "scores", "bm25_scores"),
    ]
    times: dict[str, list[float]] = {
        k: [] for k in ("total", "embed_query", "faiss", "bm25", "bm25_scores", "rest")
    }
    times["bm25_argsort"] = []
    n = max(retriever.settings.candidates, 5)
    try:
        for obj, attr, name in wrapped:
            setattr(obj, attr, clock.wrap(name, getattr(obj, attr)))
        for q in questions:
            clock.reset()
            start = time.perf_counter()
            retriever.search(q["question"], k=5, mode="hybrid")
            total = time.perf_counter() - start
            sec = clock.seconds
            times["total"].append(total * 1000.0)
            for name in ("embed_query", "faiss", "bm25", "bm25_scores"):
                times[name].append(sec.get(name, 0.0) * 1000.0)
            staged = sec.get("embed_query", 0.0) + sec.get("faiss", 0.0) + sec.get("bm25", 0.0)
            times["rest"].append((total - staged) * 1000.0)
    finally:
        for obj, attr, _ in wrapped:
            with contextlib.suppress(AttributeError):
                delattr(obj, attr)
    for q in questions:
        scores = lexical.scores(tokenize(" ".join(q["question"].split())))
        start = time.perf_counter()
        np.argsort(-scores, kind="stable")[:n]
        times["bm25_argsort"].append((time.perf_counter() - start) * 1000.0)
    return {k: percentile(v, 50) for k, v in times.items()}


def hybrid_one_faiss_thread(retriever: Any, questions: Sequence[dict[str, Any]]) -> float:
    """Hybrid p50 (ms) with FAISS's OpenMP pool at one thread (then set back).

    FAISS's OpenMP threads and onnxruntime's (or torch's) threads both spin after their
    work; on 2 cores each steals the other's time, which this pass shows.
    """
    import faiss

    threads = faiss.omp_get_max_threads()
    try:
        faiss.omp_set_num_threads(1)
        for q in questions[:10]:
            retriever.search(q["question"], k=5, mode="hybrid")
        times = []
        for q in questions:
            start = time.perf_counter()
            retriever.search(q["question"], k=5, mode="hybrid")
            times.append((time.perf_counter() - start) * 1000.0)
    finally:
        faiss.omp_set_num_threads(threads)
    return percentile(times, 50)


def nn_cosine(vectors: np.ndarray) -> float:
    """Mean cosine of each row to its nearest other row (how tightly the rows cluster)."""
    import faiss

    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    scores, _ = index.search(np.ascontiguousarray(vectors, dtype=np.float32), 2)
    return float(np.mean(scores[:, 1]))


def make_hnsw(vectors: np.ndarray) -> Any:
    """``IndexHNSWFlat`` with the parameters of ``chatbot.vectorstore._make_faiss_index``."""
    import faiss

    index = faiss.IndexHNSWFlat(vectors.shape[1], HNSW_M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    index.hnsw.efSearch = HNSW_EF_SEARCH
    index.add(vectors)
    return index


def _search_each(index: Any, queries: np.ndarray, k: int) -> tuple[list[float], np.ndarray]:
    """Per-query latencies (ms, after 10 untimed queries) and the rows found."""
    for q in queries[:10]:
        index.search(q.reshape(1, -1), k)
    times, rows = [], []
    for q in queries:
        start = time.perf_counter()
        _, found = index.search(q.reshape(1, -1), k)
        times.append((time.perf_counter() - start) * 1000.0)
        rows.append(found[0])
    return times, np.stack(rows)


def _recall(found: np.ndarray, exact: np.ndarray, depth: int, only: set[int] | None) -> float:
    """Share of the exact top ``depth`` (restricted to ``only`` when given) that was found."""
    hit = total = 0
    for f, e in zip(found, exact, strict=True):
        wanted = set(e[:depth].tolist())
        if only is not None:
            wanted &= only
        hit += len(wanted & set(f[:depth].tolist()))
        total += len(wanted)
    return hit / total if total else math.nan


def threshold_evidence(
    flat: Any, hnsw: Any, queries: np.ndarray, real_rows: np.ndarray, seed: int
) -> dict[str, Any]:
    """Exact flat inner product against HNSW on the same vectors, one query at a time (k=30).

    Queries: the gold questions' real embeddings. Recall@k: the share of the exact top k that
    HNSW finds; "real": the same for the rows of the five real articles only (what the gold
    set's hit@5 depends on); "in-distribution": 116 stored rows as queries, their own row
    left out, for comparison. HNSW is also run at larger efSearch values.
    """
    k = 30  # the retriever's candidates
    real = set(real_rows.tolist())
    flat_times, exact = _search_each(flat, queries, k)
    out: dict[str, Any] = {
        "n": flat.ntotal,
        "flat_p50_ms": percentile(flat_times, 50),
        "flat_p99_ms": percentile(flat_times, 99),
        "ef": [],
    }
    for ef in (HNSW_EF_SEARCH, 256, 1024):
        hnsw.hnsw.efSearch = ef
        times, found = _search_each(hnsw, queries, k)
        out["ef"].append(
            {
                "efSearch": ef,
                "p50_ms": percentile(times, 50),
                "p99_ms": percentile(times, 99),
                "recall@10": _recall(found, exact, 10, None),
                "recall@30": _recall(found, exact, 30, None),
                "real_recall@30": _recall(found, exact, 30, real),
            }
        )
    hnsw.hnsw.efSearch = HNSW_EF_SEARCH
    rng = np.random.default_rng(seed)
    picks = rng.choice(flat.ntotal, size=min(len(queries), flat.ntotal), replace=False)
    stored = np.stack([flat.reconstruct(int(r)) for r in picks])
    _, exact_in = _search_each(flat, stored, 11)
    _, found_in = _search_each(hnsw, stored, 11)
    drop_self = [
        (f[f != r][:10], e[e != r][:10]) for f, e, r in zip(found_in, exact_in, picks, strict=True)
    ]
    out["in_distribution_recall@10"] = _recall(
        np.stack([f for f, _ in drop_self]), np.stack([e for _, e in drop_self]), 10, None
    )
    return out


def time_query_embedding(embedder: Any, texts: Sequence[str]) -> dict[str, Any]:
    """p50 of ``embed_query`` alone; for a torch model also with one thread."""
    from chatbot.embedding import SentenceTransformerEmbedder

    def p50() -> float:
        for text in texts[:10]:
            embedder.embed_query(text)
        times = []
        for text in texts:
            start = time.perf_counter()
            embedder.embed_query(text)
            times.append((time.perf_counter() - start) * 1000.0)
        return percentile(times, 50)

    out: dict[str, Any] = {"threads": embedder_threads(embedder), "p50_ms": p50()}
    if isinstance(embedder, SentenceTransformerEmbedder):
        import torch

        default = torch.get_num_threads()
        try:
            torch.set_num_threads(1)
            out["one_thread_p50_ms"] = p50()
        finally:
            torch.set_num_threads(default)
    return out


def embedder_threads(embedder: Any) -> str:
    """The thread count the embedding model runs with, in words."""
    session = getattr(embedder, "_session", None)
    if session is not None:
        threads = session.get_session_options().intra_op_num_threads
        return f"onnxruntime, {threads} intra-op threads"
    if "torch" in sys.modules:
        return f"torch, {sys.modules['torch'].get_num_threads()} threads"
    return "unknown"


# ---------------------------------------------------------------------------- building


@contextlib.contextmanager
def instrumented(clock: Stopwatch) -> Iterator[None]:
    """Time the stages inside ``update_index`` by wrapping the module's own functions."""
    import chatbot.index.updating as ix
    import chatbot.vectorstore as vs
    from chatbot.lexical import LexicalIndex

    saved = {
        (module, name): getattr(module, name)
        for module, name in (
            (ix, "chunk_article"),
            (vs, "_make_faiss_index"),
            (ix, "_write_version"),
            (ix, "_load_previous"),
        )
    }
    build, save = LexicalIndex.build, LexicalIndex.save
    try:
        for (module, name), func in saved.items():
            setattr(module, name, clock.wrap(name, func))
        timed_build = clock.wrap("bm25_build", build)
        LexicalIndex.build = classmethod(lambda cls, texts: timed_build(texts))
        LexicalIndex.save = clock.wrap("bm25_save", save)
        yield
    finally:
        for (module, name), func in saved.items():
            setattr(module, name, func)
        LexicalIndex.build = build
        LexicalIndex.save = save


@dataclass
class Context:
    settings: Any
    embedder: ScaleEmbedder
    clock: Stopwatch
    questions: list[dict[str, Any]]
    rerank_questions: list[dict[str, Any]]
    query_vectors: np.ndarray
    seed: int
    started: float
    pool_articles: int = 0
    pool_chunks: int = 0


def build_and_measure(
    ctx: Context, label: str, n_distractors: int, workdir: Path, target: int | None
) -> dict[str, Any]:
    from chatbot.chunking import ChunkingConfig
    from chatbot.corpus import load_corpus
    from chatbot.index import HNSW_THRESHOLD, update_index
    from chatbot.retrieval import Retriever

    corpus_dir, index_dir = workdir / "corpus", workdir / "index"
    corpus_dir.mkdir(parents=True)
    for path in sorted(CORPUS_DIR.glob("*.md")):
        shutil.copy2(path, corpus_dir / path.name)
    start = time.perf_counter()
    for number in range(n_distractors):
        article = make_distractor(number, ctx.seed)
        ctx.embedder.topic_of_title[article.title] = article.topic
        (corpus_dir / f"{article.id}.md").write_text(article.markdown, encoding="utf-8")
    generate_s = time.perf_counter() - start
    progress(
        f"{label}: wrote {n_distractors:,} distractor articles ({generate_s:.1f}s)", ctx.started
    )

    clock = ctx.clock
    clock.reset()
    derived_before = ctx.embedder.derived
    start = time.perf_counter()
    corpus = load_corpus(corpus_dir, max_bytes=ctx.settings.max_file_bytes)
    load_corpus_s = time.perf_counter() - start
    if corpus.failures:
        raise RuntimeError(f"distractor files failed to load: {corpus.failures[:3]}")
    config = ChunkingConfig(max_tokens=ctx.settings.chunk_max_tokens)
    start = time.perf_counter()
    with instrumented(clock):
        report = update_index(corpus, index_dir, ctx.embedder, config, rebuild=True)
    update_s = time.perf_counter() - start
    del corpus
    gc.collect()
    sec = dict(clock.seconds)
    n = report.chunks
    embed_s = sec.get("embed_documents", 0.0)
    write_s = sec.get("_write_version", 0.0)
    faiss_s = sec.get("_make_faiss_index", 0.0)
    bm25_s = sec.get("bm25_build", 0.0) + sec.get("bm25_save", 0.0)
    build = {
        "articles": report.articles,
        "chunks": n,
        "distractor_articles": n_distractors,
        "generate_s": generate_s,
        "load_corpus_s": load_corpus_s,
        "update_index_s": update_s,
        "total_s": load_corpus_s + update_s,
        "chunking_s": sec.get("chunk_article", 0.0),
        "count_tokens_s": sec.get("count_tokens", 0.0),
        "count_tokens_calls": clock.calls.get("count_tokens", 0),
        "embedding_s": embed_s,
        "embedding_real_s": sec.get("embed_real", 0.0),
        "derived_vectors": ctx.embedder.derived - derived_before,
        "faiss_build_s": faiss_s,
        "bm25_s": bm25_s,
        "write_other_s": write_s - faiss_s - bm25_s,
        "write_version_s": write_s,
        "excl_embedding_s": update_s - embed_s,
        "chunks_per_s_excl_embedding": n / (update_s - embed_s),
        "chunks_per_s_index_write": n / write_s if write_s else math.nan,
    }
    progress(f"{label}: update_index {n:,} chunks in {update_s:.1f}s", ctx.started)

    version = index_dir / "versions" / (index_dir / "CURRENT").read_text().strip()
    manifest = json.loads((version / "manifest.json").read_text(encoding="utf-8"))
    disk = disk_usage(version)
    memory = measure_memory(index_dir)
    progress(f"{label}: load_index in a fresh process {memory['load_s']:.1f}s", ctx.started)

    settings = ctx.settings.with_overrides(index_dir=index_dir)
    retriever = Retriever.from_settings(settings)
    cpu = CpuMonitor(count_children=True)
    loaded_type = type(retriever.index.faiss_index).__name__
    modes: dict[str, Any] = {}
    for mode in MODES:
        questions = ctx.rerank_questions if mode == "rerank" else ctx.questions
        warmup = min(5, len(questions)) if mode == "rerank" else len(questions)
        modes[mode] = run_mode(retriever, questions, mode, warmup).summary()
        progress(f"{label}: {mode} p50 {modes[mode]['p50_ms']:.1f} ms", ctx.started)
    rerank_ids = {q["id"] for q in ctx.rerank_questions}
    modes["hybrid"]["hit5_on_rerank_subset"] = sum(
        1 for qid in modes["hybrid"]["hit_ids"] if qid in rerank_ids
    )
    stages = hybrid_stages(retriever, ctx.questions)
    stages["total_faiss_1_thread"] = hybrid_one_faiss_thread(retriever, ctx.questions)
    search_cpu = cpu.other_share()
    threshold = alternate = None
    if target is not None:
        import faiss

        current = retriever.index.faiss_index
        vectors = retriever.index.vectors()
        start = time.perf_counter()
        if isinstance(current, faiss.IndexHNSWFlat):
            hnsw, hnsw_build_s, hnsw_source = current, faiss_s, "update_index"
            flat = faiss.IndexFlatIP(vectors.shape[1])
            flat.add(vectors)
            alt = flat
        else:
            flat, hnsw = current, make_hnsw(vectors)
            hnsw_build_s, hnsw_source = time.perf_counter() - start, "built here"
            alt = hnsw
        del vectors
        retriever.index.faiss_index = alt
        try:
            alternate = {
                "faiss_index": type(alt).__name__,
                "modes": {
                    "dense": run_mode(retriever, ctx.questions, "dense", 10).summary(),
                    "hybrid": run_mode(retriever, ctx.questions, "hybrid", 10).summary(),
                    "rerank": run_mode(retriever, ctx.rerank_questions, "rerank", 2).summary(),
                },
            }
        finally:
            retriever.index.faiss_index = current
        real_rows = np.array(
            [
                row
                for row, chunk in enumerate(retriever.index.chunks)
                if not chunk.article_id.startswith(DISTRACTOR_PREFIX)
            ]
        )
        # Derived rows of as many articles as the pool came from, just after them, thinned to
        # the pool's size: the same density and topic mix, to compare how tightly they cluster.
        first, last = ctx.pool_articles, 2 * ctx.pool_articles
        derived_rows = [
            row
            for row, chunk in enumerate(retriever.index.chunks)
            if chunk.article_id.startswith(DISTRACTOR_PREFIX)
            and first <= int(chunk.article_id[len(DISTRACTOR_PREFIX) :]) < last
        ]
        if len(derived_rows) > ctx.pool_chunks > 0:
            picks = np.linspace(0, len(derived_rows) - 1, ctx.pool_chunks).round().astype(int)
            derived_rows = [derived_rows[i] for i in np.unique(picks)]
        derived_nn = nn_cosine(retriever.index.vectors_of(derived_rows)) if derived_rows else None
        threshold = threshold_evidence(flat, hnsw, ctx.query_vectors, real_rows, ctx.seed)
        threshold |= {
            "hnsw_build_s": hnsw_build_s,
            "hnsw_build_source": hnsw_source,
            "derived_nn_cosine": derived_nn,
            "derived_nn_rows": len(derived_rows),
        }
        del flat, hnsw, alt
        progress(f"{label}: threshold evidence done", ctx.started)
    del retriever
    gc.collect()
    return {
        "label": label,
        "target": target,
        "build": build,
        "faiss_index_manifest": manifest.get("faiss_index"),
        "faiss_index_loaded": loaded_type,
        "hnsw_threshold": HNSW_THRESHOLD,
        "disk_bytes": disk,
        "disk_bytes_per_chunk": sum(disk.values()) / max(1, n),
        "memory": memory,
        "modes": modes,
        "hybrid_stages_p50_ms": stages,
        "alternate": alternate,
        "threshold": threshold,
        "other_cpu_share_during_search": search_cpu,
    }


def make_pool(ctx: Context, size: int) -> dict[str, Any]:
    """Chunk the first distractor articles and embed ``size`` chunks with the real model."""
    from chatbot.chunking import ChunkingConfig, chunk_article
    from chatbot.corpus import load_article

    config = ChunkingConfig(max_tokens=ctx.settings.chunk_max_tokens)
    texts: list[str] = []
    topics: list[int] = []
    chunks_per_article: list[int] = []
    number = 0
    with tempfile.TemporaryDirectory(prefix="bench-scale-pool-") as tmp:
        while len(texts) < size or number < 2 * N_TOPICS:
            article = make_distractor(number, ctx.seed)
            ctx.embedder.topic_of_title[article.title] = article.topic
            path = Path(tmp) / f"{article.id}.md"
            path.write_text(article.markdown, encoding="utf-8")
            loaded = load_article(path, max_bytes=ctx.settings.max_file_bytes)
            chunks = chunk_article(loaded, ctx.embedder.count_tokens, config)
            chunks_per_article.append(len(chunks))
            for chunk in chunks:
                texts.append(chunk.embedding_text(loaded.title))
                topics.append(article.topic)
            number += 1
    keep = np.unique(np.linspace(0, len(texts) - 1, size).round().astype(int))
    texts, topics = [texts[i] for i in keep], [topics[i] for i in keep]
    start = time.perf_counter()
    vectors = ctx.embedder.real.embed_documents(texts)
    seconds = time.perf_counter() - start
    ctx.embedder.set_pool(texts, topics, vectors)
    return {
        "pool_chunks": len(texts),
        "pool_articles": number,
        "chunks_per_article": float(np.mean(chunks_per_article)),
        "embed_s": seconds,
        "chunks_per_s": len(texts) / seconds,
        "mean_chars": float(np.mean([len(t) for t in texts])),
        "nn_cosine": nn_cosine(vectors),
    }


# ---------------------------------------------------------------------------- report


def fmt_ms(value: float) -> str:
    return f"{value:8.1f}" if value >= 10 else f"{value:8.2f}"


def print_report(results: dict[str, Any]) -> None:
    m = results["machine"]
    print("\n# Retrieval at scale (benchmarks/bench_scale.py)\n")
    print(
        f"Python {m['python']}, {m['cpus']} CPUs, embedder {m['embedder']}, "
        f"faiss {m['versions'].get('faiss-cpu', '?')}, bm25s {m['versions'].get('bm25s', '?')}, "
        f"numpy {m['versions'].get('numpy', '?')}"
    )
    s = results["setup"]
    print(
        f"Embedding model {s['embedding_model']} (dim {s['dimension']}), reranker "
        f"{s['reranker_model']}; chunk_max_tokens {s['chunk_max_tokens']}, candidates "
        f"{s['candidates']}, HNSW_THRESHOLD {s['hnsw_threshold']:,}"
    )
    p = results["pool"]
    print(
        f"Distractors: {N_TOPICS} topics ({len(MEDICAL_TOPICS)} medical, "
        f"{len(GENERAL_TOPICS)} general), {p['chunks_per_article']:.1f} chunks per article; "
        f"{p['pool_chunks']:,} chunks embedded for real, the rest derived (noise norm "
        f"{NOISE_NORM})."
    )
    print(
        f"Build throughput (embedding, real model, batch {s['batch_size']}): "
        f"{p['chunks_per_s']:.1f} chunks/s ({p['pool_chunks']:,} chunks of "
        f"{p['mean_chars']:.0f} chars in {p['embed_s']:.1f}s)"
    )
    print(
        f"Gold set: {s['questions']} questions ({s['in_scope']} in scope); rerank on "
        f"{s['rerank_questions']} of them ({s['rerank_in_scope']} in scope).\n"
    )

    sizes = results["sizes"]
    rate = p["chunks_per_s"]
    print("## Build\n")
    print(
        "| index | articles | chunks | FAISS type | load+update s | chunking s | "
        "FAISS s | BM25 s | write s | chunks/s excl. embed | chunks/s index write | "
        "real embedding would add |"
    )
    print("|---|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|")
    for r in sizes:
        b = r["build"]
        print(
            f"| {r['label']} | {b['articles']:,} | {b['chunks']:,} | {r['faiss_index_loaded']} "
            f"| {b['load_corpus_s'] + b['excl_embedding_s']:.1f} | {b['chunking_s']:.1f} | "
            f"{b['faiss_build_s']:.2f} | {b['bm25_s']:.1f} | {b['write_other_s']:.1f} | "
            f"{b['chunks_per_s_excl_embedding']:,.0f} | {b['chunks_per_s_index_write']:,.0f} | "
            f"{b['chunks'] / rate / 60:,.1f} min |"
        )
    for r in sizes[1:]:
        b = r["build"]
        print(
            f"\n{r['label']}: count_tokens {b['count_tokens_calls']:,} calls, "
            f"{b['count_tokens_s']:.1f}s of the {b['chunking_s']:.1f}s chunking; load_corpus "
            f"{b['load_corpus_s']:.1f}s; synthetic embedding {b['embedding_s']:.1f}s; "
            f"HNSW/flat add {b['faiss_build_s']:.1f}s; BM25 build+save {b['bm25_s']:.1f}s.",
            end="",
        )
    print(
        "\n\nload+update s: load_corpus + update_index minus the (synthetic) embedding; "
        "chunking includes the real tokenizer's count_tokens; write s: chunks.jsonl, "
        "faiss.write_index, checksums and fsyncs.\n"
    )

    print("## Size and memory\n")
    print(
        "| index | disk B/chunk | chunks.jsonl | vectors.faiss | bm25/ | "
        "RSS gained by load_index | B/chunk | peak B/chunk | load_index s |"
    )
    print("|---|--:|--:|--:|--:|--:|--:|--:|--:|")
    for r in sizes:
        n, d, mem = max(1, r["build"]["chunks"]), r["disk_bytes"], r["memory"]
        gained = (mem["rss_after"] - mem["rss_before"]) / 2**20
        peak = f"{mem['peak_per_chunk']:,.0f}" if mem["peak_known"] else "n/a"
        print(
            f"| {r['label']} | {r['disk_bytes_per_chunk']:,.0f} | "
            f"{d['chunks.jsonl'] / n:,.0f} | {d['vectors.faiss'] / n:,.0f} | "
            f"{d['bm25/'] / n:,.0f} | {gained:,.1f} MiB | {mem['rss_per_chunk']:,.0f} | "
            f"{peak} | {mem['load_s']:.2f} |"
        )
    print(
        "\nRSS: a fresh process, libraries imported first (/proc/self/statm); peak: VmHWM "
        "when loading set a new one. Per-chunk figures of the 5-article index are mostly "
        "fixed overhead."
    )
    print("\n## Search latency (ms, warm) and gold hit@5\n")
    print(
        "| index | mode | queries | p50 | p99 | hit@5 (in scope) | distractor chunks in "
        "top 5: in scope (questions) | out of scope |"
    )
    print("|---|---|--:|--:|--:|--:|--:|--:|")
    for r in sizes:
        for mode in MODES:
            x = r["modes"][mode]
            print(
                f"| {r['label']} | {mode} | {x['queries']} | {fmt_ms(x['p50_ms'])} | "
                f"{fmt_ms(x['p99_ms'])} | {x['hit5']}/{x['in_scope']} "
                f"({x['hit5_rate']:.1%}) | {x['distractors_in_top5']} "
                f"({x['questions_with_distractor']}) | {x['out_of_scope_distractors_in_top5']} |"
            )
        alt = r.get("alternate")
        for mode, x in (alt["modes"] if alt else {}).items():
            name = "flat" if alt["faiss_index"] == "IndexFlatIP" else "HNSW"
            print(
                f"| {r['label']}, {name} swapped in | {mode} | {x['queries']} | "
                f"{fmt_ms(x['p50_ms'])} | {fmt_ms(x['p99_ms'])} | {x['hit5']}/{x['in_scope']} "
                f"({x['hit5_rate']:.1%}) | {x['distractors_in_top5']} "
                f"({x['questions_with_distractor']}) | {x['out_of_scope_distractors_in_top5']} |"
            )
    print(
        "\nhybrid = before rerank (query embedding + FAISS + BM25 + fusion); rerank = after "
        'rerank. "swapped in": the same index with the other FAISS type (exact flat for an '
        "HNSW index, HNSW for a flat one) put in its place."
    )
    shares = [
        f"{r['label']} {r['other_cpu_share_during_search']:.0%}"
        for r in sizes
        if r.get("other_cpu_share_during_search") is not None
    ]
    if shares:
        print(f"Other processes' share of the CPU while searching: {', '.join(shares)}.\n")

    print("## Hybrid search by stage (p50 ms, timed inside Retriever.search, separate pass)\n")
    print(
        "| index | hybrid total | embed_query | FAISS | BM25 search | BM25 scores | "
        "full argsort alone | fusion + rest | hybrid total, FAISS at 1 thread |"
    )
    print("|---|--:|--:|--:|--:|--:|--:|--:|--:|")
    for r in sizes:
        st = r["hybrid_stages_p50_ms"]
        cells = [st[k] for k in ("total", "embed_query", "faiss", "bm25", "bm25_scores")]
        cells += [st["bm25_argsort"], st["rest"], st["total_faiss_1_thread"]]
        print(f"| {r['label']} | " + " | ".join(fmt_ms(c) for c in cells) + " |")
    q = results["query_embedding"]
    one = q.get("one_thread_p50_ms")
    print(
        f"\nQuery embedding alone (p50 over the gold set): {q['p50_ms']:.1f} ms ({q['threads']})"
        + (f", {one:.1f} ms with 1 torch thread." if one is not None else ".")
    )
    print("\n## FAISS threshold: exact IndexFlatIP vs IndexHNSWFlat(M=32, efConstruction=80)\n")
    print(
        "| vectors | index | search p50 ms | p99 ms | recall@10 | recall@30 | "
        "real-article recall@30 | build s |"
    )
    print("|--:|---|--:|--:|--:|--:|--:|--:|")
    for r in sizes:
        t = r["threshold"]
        if t is None:
            continue
        print(
            f"| {t['n']:,} | IndexFlatIP (exact) | {t['flat_p50_ms']:.2f} | "
            f"{t['flat_p99_ms']:.2f} | 1 | 1 | 1 | - |"
        )
        for e in t["ef"]:
            build = (
                f"{t['hnsw_build_s']:.1f} ({t['hnsw_build_source']})"
                if e["efSearch"] == HNSW_EF_SEARCH
                else ""
            )
            print(
                f"| {t['n']:,} | HNSW efSearch={e['efSearch']} | {e['p50_ms']:.3f} | "
                f"{e['p99_ms']:.3f} | {e['recall@10']:.3f} | {e['recall@30']:.3f} | "
                f"{e['real_recall@30']:.3f} | {build} |"
            )
    scans = [r["threshold"] for r in sizes if r["threshold"]]
    if scans:
        big = max(scans, key=lambda t: t["n"])
        per_100k = big["flat_p50_ms"] / big["n"] * 100_000
        at = per_100k * results["setup"]["hnsw_threshold"] / 100_000
        in_dist = ", ".join(f"{t['n']:,}: {t['in_distribution_recall@10']:.3f}" for t in scans)
        print(
            f"\nQueries: the gold questions' real embeddings, one at a time, k=30. Flat scan: "
            f"~{per_100k:.1f} ms per 100k vectors (from the {big['n']:,} run), so ~{at:.1f} ms "
            f"at HNSW_THRESHOLD ({results['setup']['hnsw_threshold']:,}). HNSW "
            f"(efSearch={HNSW_EF_SEARCH}) recall@10 for stored rows as queries "
            f"(in-distribution): {in_dist}."
        )
        derived = [t for t in scans if t.get("derived_nn_cosine") is not None]
        if derived:
            t = derived[-1]
            print(
                "Distractor vectors are derived from a pool, so recall is indicative. How "
                "tightly they cluster (mean cosine to the nearest other row): real embeddings "
                f"of the {results['pool']['pool_chunks']:,} pool chunks "
                f"{results['pool']['nn_cosine']:.3f}, {t['derived_nn_rows']:,} derived rows of "
                f"as many later articles {t['derived_nn_cosine']:.3f}."
            )
    print("\n## Checks\n")
    base = sizes[0]
    for r in sizes[1:]:
        for mode in ("hybrid", "rerank"):
            a, b = base["modes"][mode], r["modes"][mode]
            verdict = "holds" if b["hit5"] >= a["hit5"] else "DROPS"
            lost = sorted(set(a["hit_ids"]) - set(b["hit_ids"]))
            gained = sorted(set(b["hit_ids"]) - set(a["hit_ids"]))
            lost_with = [
                q
                for q in lost
                if any(x.startswith(DISTRACTOR_PREFIX) for x in b["top5"].get(q, []))
            ]
            if lost:
                lost.append(f"{len(lost_with)} of them with a distractor in the top 5")
            print(
                f"- {r['label']}: {mode} hit@5 {b['hit5']}/{b['in_scope']} vs "
                f"{a['hit5']}/{a['in_scope']} with 5 articles: {verdict}"
                + (f" (lost {', '.join(lost)})" if lost else "")
                + (f" (gained {', '.join(gained)})" if gained else "")
            )
        alt = r.get("alternate")
        if alt:
            for mode in ("dense", "hybrid", "rerank"):
                own, other = r["modes"][mode], alt["modes"][mode]
                print(
                    f"- {r['label']}: {mode} hit@5 with {r['faiss_index_loaded']} (chosen) "
                    f"{own['hit5']}/{own['in_scope']}, with {alt['faiss_index']} "
                    f"{other['hit5']}/{other['in_scope']}"
                )
        p50 = r["modes"]["hybrid"]["p50_ms"]
        verdict = "meets" if p50 <= HYBRID_TARGET_MS else "MISSES"
        print(
            f"- {r['label']}: hybrid p50 {p50:.1f} ms {verdict} the {HYBRID_TARGET_MS:.0f} ms "
            "target"
        )
    other = results.get("other_cpu_share")
    if other is not None:
        warn = " (over 10%: timings are inflated; rerun on an idle machine)" if other > 0.1 else ""
        print(f"- Other processes used {other:.0%} of the machine's CPU during the run{warn}.")
    print(f"- Total benchmark time {results['elapsed_s'] / 60:.1f} min.")


# ---------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        default="10000,100000",
        help="target chunk counts, comma-separated (default 10000,100000)",
    )
    parser.add_argument(
        "--rerank-queries",
        type=int,
        default=30,
        help="questions timed in rerank mode, spread over the gold set (0 = all; default 30)",
    )
    parser.add_argument(
        "--pool",
        type=int,
        default=1500,
        help="distractor chunks embedded with the real model (default 1500)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = sorted({int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()})
    quiet_libraries("bm25s")
    started = time.perf_counter()
    monitor = CpuMonitor(count_children=True)

    from chatbot.config import Settings
    from chatbot.corpus import load_corpus
    from chatbot.embedding import get_embedder
    from chatbot.index import HNSW_THRESHOLD

    settings = Settings()
    real = get_embedder(settings.embedding_model, settings.embedding_batch_size)
    real.embed_query("warm up")
    corpus = load_corpus(CORPUS_DIR, max_bytes=settings.max_file_bytes)
    clock = Stopwatch()
    embedder = ScaleEmbedder(real, {a.title for a in corpus.articles}, args.seed, clock)
    questions = [
        json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line
    ]
    n_rerank = (
        len(questions) if args.rerank_queries <= 0 else min(args.rerank_queries, len(questions))
    )
    rerank_questions = [questions[i * len(questions) // n_rerank] for i in range(n_rerank)]
    query_vectors = np.stack(
        [embedder.embed_query(" ".join(q["question"].split())) for q in questions]
    )
    ctx = Context(
        settings, embedder, clock, questions, rerank_questions, query_vectors, args.seed, started
    )
    query_embedding = time_query_embedding(real, [q["question"] for q in questions])
    progress("model loaded; embedding the distractor pool", started)
    pool = make_pool(ctx, args.pool)
    ctx.pool_articles, ctx.pool_chunks = pool["pool_articles"], pool["pool_chunks"]
    progress(f"pool: {pool['pool_chunks']} chunks at {pool['chunks_per_s']:.1f}/s", started)

    root = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    results: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "embedder": f"{type(real).__name__} ({embedder_threads(real)})",
            "versions": {
                name: metadata.version(name)
                for name in ("faiss-cpu", "bm25s", "numpy", "onnxruntime", "torch")
            },
        },
        "setup": {
            "embedding_model": settings.embedding_model,
            "dimension": embedder.dimension,
            "reranker_model": settings.reranker_model,
            "chunk_max_tokens": settings.chunk_max_tokens,
            "candidates": settings.candidates,
            "batch_size": settings.embedding_batch_size,
            "hnsw_threshold": HNSW_THRESHOLD,
            "questions": len(questions),
            "in_scope": sum(q["in_scope"] for q in questions),
            "rerank_questions": len(rerank_questions),
            "rerank_in_scope": sum(q["in_scope"] for q in rerank_questions),
            "seed": args.seed,
        },
        "pool": pool,
        "query_embedding": query_embedding,
        "sizes": [],
    }
    try:
        base = build_and_measure(ctx, "5 articles", 0, root / "base", None)
        results["sizes"].append(base)
        real_chunks = base["build"]["chunks"]
        for target in sizes:
            n_articles = max(0, math.ceil((target - real_chunks) / pool["chunks_per_article"]))
            label = f"{target // 1000}k" if target % 1000 == 0 else f"{target:,}"
            work = root / f"size-{target}"
            results["sizes"].append(build_and_measure(ctx, label, n_articles, work, target))
            if not args.keep:
                shutil.rmtree(work, ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            progress(f"kept {root}", started)
    results["elapsed_s"] = time.perf_counter() - started
    results["other_cpu_share"] = monitor.other_share()
    print_report(results)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
