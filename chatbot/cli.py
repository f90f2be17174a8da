"""The ``chatbot`` command: ``index``, ``search``, ``status``."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from chatbot.chunking import ChunkingConfig
from chatbot.config import Settings, SettingsError
from chatbot.corpus import load_corpus
from chatbot.embedding import EmbeddingError, get_embedder
from chatbot.index import IndexError, load_index, update_index
from chatbot.retrieval import Retriever

MAX_QUERY_CHARS = 2000


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chatbot", description="Cited health answers from a corpus of articles."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("index", help="index new and changed articles (incremental)")
    p.add_argument("--corpus", type=Path, help="article folder (CHATBOT_CORPUS_DIR)")
    p.add_argument("--index", type=Path, help="index folder (CHATBOT_INDEX_DIR)")
    p.add_argument("--rebuild", action="store_true", help="re-embed everything")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = sub.add_parser("search", help="find passages; without QUERY, one query per stdin line")
    p.add_argument("query", nargs="?", metavar="QUERY")
    p.add_argument("-k", type=int, help="number of passages (CHATBOT_SEARCH_K)")
    p.add_argument("--index", type=Path, help="index folder (CHATBOT_INDEX_DIR)")
    p.add_argument("--json", action="store_true", help="print a JSON list of hits")

    p = sub.add_parser("status", help="what the index holds")
    p.add_argument("--index", type=Path, help="index folder (CHATBOT_INDEX_DIR)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env().with_overrides(
            corpus_dir=getattr(args, "corpus", None), index_dir=getattr(args, "index", None)
        )
        command = {"index": cmd_index, "search": cmd_search, "status": cmd_status}[args.command]
        return command(args, settings)
    except (SettingsError, IndexError, EmbeddingError, FileNotFoundError, ValueError) as exc:
        print(f"chatbot {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def cmd_index(args: argparse.Namespace, settings: Settings) -> int:
    corpus = load_corpus(settings.corpus_dir, max_bytes=settings.max_file_bytes)
    embedder = get_embedder(settings.embedding_model, settings.embedding_batch_size)
    embedder.show_progress = sys.stderr.isatty()
    report = update_index(
        corpus,
        settings.index_dir,
        embedder,
        ChunkingConfig(max_tokens=settings.chunk_max_tokens),
        rebuild=args.rebuild,
    )
    if args.json:
        print(json.dumps(report.as_json(), ensure_ascii=False))
    else:
        for label in ("added", "updated", "removed", "unchanged", "kept_previous"):
            ids = getattr(report, label)
            if ids:
                print(f"{label.replace('_', ' ')}: {', '.join(ids)}")
        print(
            f"{report.articles} articles, {report.chunks} chunks "
            f"({report.embedded_chunks} embedded, {report.reused_chunks} reused) "
            f"in {settings.index_dir} [{report.version}]"
        )
    for failure in report.failed:
        print(f"failed: {failure['path']}: {failure['error']}", file=sys.stderr)
    return 1 if report.failed else 0


def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    k = args.k if args.k is not None else settings.search_k
    if k <= 0:
        raise ValueError("-k must be a positive number")
    index = load_index(settings.index_dir, model=settings.embedding_model)
    retriever = Retriever(index, get_embedder(settings.embedding_model))

    if args.query is not None:
        hits = _search_json(retriever, args.query, k)
        if args.json or isinstance(hits, dict):
            print(json.dumps(hits, ensure_ascii=False))
        else:
            _print_hits(hits, sys.stdout)
        return 1 if isinstance(hits, dict) else 0
    if sys.stdin.isatty() and not args.json:
        return _interactive(retriever, k)
    status = 0
    for line in sys.stdin:
        result = _search_json(retriever, line.rstrip("\n"), k)
        status = 1 if isinstance(result, dict) else status
        print(json.dumps(result, ensure_ascii=False), flush=True)
    return status


def _search_json(retriever: Retriever, query: str, k: int) -> Any:
    if len(query) > MAX_QUERY_CHARS:
        return {"error": f"query is {len(query)} characters; the limit is {MAX_QUERY_CHARS}"}
    return [hit.as_json() for hit in retriever.search(query, k)]


def _interactive(retriever: Retriever, k: int) -> int:
    print(
        f"Search {len(retriever.index.articles)} articles ({len(retriever.index)} passages). "
        "Type a question, or an empty line to quit."
    )
    while True:
        try:
            query = input("\nquestion> ").strip()
        except EOFError:
            return 0
        if not query:
            return 0
        result = _search_json(retriever, query, k)
        if isinstance(result, dict):
            print(result["error"])
        else:
            _print_hits(result, sys.stdout)


def _print_hits(hits: list[dict[str, Any]], out: TextIO) -> None:
    if not hits:
        print("no passages found", file=out)
    for hit in hits:
        where = f"{hit['title']}" + (f" › {hit['section']}" if hit["section"] else "")
        print(
            f"\n{hit['rank']}. {where}  [{hit['article_id']}, score {hit['score']:.3f}]", file=out
        )
        for line in textwrap.wrap(hit["text"], width=96):
            print(f"   {line}", file=out)


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    index = load_index(settings.index_dir, verify=False)
    info = {
        "index": str(settings.index_dir),
        "version": index.version,
        "articles": len(index.articles),
        "chunks": len(index),
        "model": index.model,
        "dimension": index.dimension,
        "built_at": index.built_at,
        "article_ids": sorted(index.articles),
    }
    if args.json:
        print(json.dumps(info, ensure_ascii=False))
    else:
        for key, value in info.items():
            if key != "article_ids":
                print(f"{key}: {value}")
        for record in sorted(index.articles.values(), key=lambda r: r.id):
            print(f"  {record.id}: {len(record.chunk_ids)} chunks, sha256 {record.sha256[:12]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
