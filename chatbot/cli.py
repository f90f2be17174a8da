"""The ``chatbot`` command: ``index``, ``search``, ``ask``, ``gaps``, ``status``, ``eval``,
``serve``."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO, cast

from chatbot.config import MAX_QUESTION_CHARS, Settings, SettingsError
from chatbot.embedding import EmbeddingError, get_embedder
from chatbot.index import IndexUnusableError, configured_store, load_index
from chatbot.library import ensure_index, reindex, status_of
from chatbot.reranking import RerankerError
from chatbot.retrieval import MODES, Retriever

MAX_QUERY_CHARS = MAX_QUESTION_CHARS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chatbot", description="Cited health answers from a corpus of articles."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("index", help="index new and changed articles (incremental)")
    p.add_argument("--corpus", type=Path, help="article folder (CHATBOT_CORPUS_DIR)")
    p.add_argument("--index", type=Path, help="index folder (CHATBOT_INDEX_DIR)")
    p.add_argument("--rebuild", action="store_true", help="re-embed everything")
    p.add_argument(
        "--if-missing", action="store_true", help="only build one when the folder has none"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = sub.add_parser("search", help="find passages; without QUERY, one query per stdin line")
    p.add_argument("query", nargs="?", metavar="QUERY")
    p.add_argument("-k", type=int, help="number of passages (CHATBOT_SEARCH_K)")
    p.add_argument("--index", type=Path, help="index folder (CHATBOT_INDEX_DIR)")
    p.add_argument("--json", action="store_true", help="print a JSON list of hits")
    p.add_argument(
        "--mode",
        choices=MODES,
        help="last retrieval stage: dense, bm25, hybrid (fused) or rerank (default)",
    )

    p = sub.add_parser("ask", help="a cited answer; without QUESTION, one question per stdin line")
    p.add_argument("question", nargs="?", metavar="QUESTION")
    p.add_argument("--index", type=Path, help="index folder (CHATBOT_INDEX_DIR)")
    p.add_argument("--json", action="store_true", help="print the answer as JSON")
    p.add_argument(
        "--no-log", action="store_true", help="leave the questions out of the question log"
    )

    p = sub.add_parser("gaps", help="refused questions grouped by meaning; answers rated down")
    p.add_argument("--index", type=Path, help="index folder (CHATBOT_INDEX_DIR)")
    p.add_argument("--since", type=int, metavar="DAYS", help="only the last DAYS days")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--csv", type=Path, metavar="PATH", help="also write the report as CSV")

    p = sub.add_parser("eval", help="measure retrieval on the gold set; write a report")
    p.add_argument("--gold", type=Path, help="gold questions (CHATBOT_GOLD_PATH)")
    p.add_argument("--index", type=Path, help="index folder (CHATBOT_INDEX_DIR)")
    p.add_argument("--corpus", type=Path, help="article folder, to build a missing index")
    p.add_argument("--out", type=Path, help="results folder (CHATBOT_RESULTS_DIR)")
    p.add_argument("--modes", default=",".join(MODES), help="pipeline variants to run")
    p.add_argument("--no-baseline", action="store_true", help="skip the LangChain baseline")
    p.add_argument("--no-answers", action="store_true", help="skip the answer metrics")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = sub.add_parser("serve", help="run the HTTP API (docs/api.md)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    p.add_argument("--index", type=Path, help="index folder (CHATBOT_INDEX_DIR)")
    p.add_argument("--corpus", type=Path, help="article folder (CHATBOT_CORPUS_DIR)")

    p = sub.add_parser("status", help="what the index holds")
    p.add_argument("--index", type=Path, help="index folder (CHATBOT_INDEX_DIR)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env().with_overrides(
            corpus_dir=getattr(args, "corpus", None),
            index_dir=getattr(args, "index", None),
            gold_path=getattr(args, "gold", None),
            results_dir=getattr(args, "out", None),
        )
        commands = {
            "ask": cmd_ask,
            "gaps": cmd_gaps,
            "index": cmd_index,
            "search": cmd_search,
            "status": cmd_status,
            "eval": cmd_eval,
            "serve": cmd_serve,
        }
        command = commands[args.command]
        return command(args, settings)
    except (
        SettingsError,
        IndexUnusableError,
        EmbeddingError,
        RerankerError,
        FileNotFoundError,
        ValueError,
    ) as exc:
        print(f"chatbot {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def cmd_index(args: argparse.Namespace, settings: Settings) -> int:
    # The same (cached) embedder that the re-index uses: its progress bar on a terminal.
    embedder = get_embedder(settings.embedding_model, settings.embedding_batch_size)
    if hasattr(embedder, "show_progress"):
        cast(Any, embedder).show_progress = sys.stderr.isatty()
    if args.if_missing:
        if args.rebuild:
            raise ValueError("--if-missing and --rebuild do not go together")
        built = ensure_index(settings)
        if built is None:
            print(f"an index is there already: {settings.index_dir}", file=sys.stderr)
            return 0
        report = built
    else:
        report = reindex(settings, rebuild=args.rebuild)
    if args.json:
        print(json.dumps(report.as_json(), ensure_ascii=False))
    else:
        print(report.summary(settings.index_dir))
    for failure in report.failed:
        print(f"failed: {failure['path']}: {failure['error']}", file=sys.stderr)
    return 1 if report.failed else 0


def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    k = args.k if args.k is not None else settings.search_k
    if k <= 0:
        raise ValueError("-k must be a positive number")
    retriever = Retriever.from_settings(settings)
    mode = args.mode

    if args.query is not None:
        hits = _search_json(retriever, args.query, k, mode)
        if args.json or isinstance(hits, dict):
            print(json.dumps(hits, ensure_ascii=False))
        else:
            _print_hits(hits, sys.stdout)
        return 1 if isinstance(hits, dict) else 0
    if sys.stdin.isatty() and not args.json:
        return _interactive(retriever, k, mode)
    status = 0
    for line in sys.stdin:
        result = _search_json(retriever, line.rstrip("\n"), k, mode)
        status = 1 if isinstance(result, dict) else status
        print(json.dumps(result, ensure_ascii=False), flush=True)
    return status


def _search_json(retriever: Retriever, query: str, k: int, mode: Any = None) -> Any:
    if len(query) > MAX_QUERY_CHARS:
        return {"error": f"query is {len(query)} characters; the limit is {MAX_QUERY_CHARS}"}
    return [hit.as_json() for hit in retriever.search(query, k, mode)]


def _interactive(retriever: Retriever, k: int, mode: Any = None) -> int:
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
        result = _search_json(retriever, query, k, mode)
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


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    from chatbot import presentation
    from chatbot.answering import Answer, Turn
    from chatbot.library import Service
    from chatbot.presentation import plain_text

    # Asked through the service, as the app and the API ask: each answer gets an answer_id
    # and a row in the question log (unless --no-log or CHATBOT_QUESTION_LOG=off).
    service = Service(settings)
    log = not args.no_log

    def show(answer: Answer) -> None:
        if args.json or (args.question is None and not sys.stdin.isatty()):
            print(json.dumps(answer.as_json(), ensure_ascii=False), flush=True)
            return
        print(f"\n{plain_text(answer)}")

    if args.question is not None:
        show(service.ask(args.question, log=log))
        return 0
    history: list[Turn] = []
    interactive = sys.stdin.isatty() and not args.json
    if interactive:
        print("Ask about the articles (an empty line quits). Follow-up questions use the context.")
    while True:
        try:
            line = input("\nyou> ") if interactive else sys.stdin.readline()
        except EOFError:
            return 0
        if not line or (interactive and not line.strip()):
            return 0
        answer = service.ask(line.rstrip("\n"), history if interactive else (), log=log)
        show(answer)
        history += [
            Turn("user", line.strip()),
            Turn("assistant", answer.answer, presentation.cited_articles(answer)),
        ]


def cmd_gaps(args: argparse.Namespace, settings: Settings) -> int:
    from chatbot import gaps
    from chatbot.library import Service

    if args.since is not None and args.since <= 0:
        raise ValueError("--since must be a positive number of days")
    if settings.question_log != "on":
        print("the question log is off (CHATBOT_QUESTION_LOG=off): nothing to report",
              file=sys.stderr)  # fmt: skip
    report = Service(settings).gaps(args.since)
    if args.csv is not None:
        args.csv.write_text(gaps.to_csv(report), encoding="utf-8", newline="")
    if args.json:
        print(json.dumps(report.as_json(), ensure_ascii=False))
    else:
        print(gaps.to_text(report))
    return 0


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    from tqdm import tqdm

    from chatbot.evaluation.run import EvalOptions, run_evaluation

    def progress(total: int) -> Any:
        return tqdm(
            total=total,
            unit="q",
            disable=args.json and not sys.stderr.isatty(),
            file=sys.stderr,
        )

    options = EvalOptions(
        modes=[m.strip() for m in args.modes.split(",") if m.strip()],
        baseline=not args.no_baseline,
        answers=not args.no_answers,
    )
    run = run_evaluation(settings, options, progress)
    if args.json:
        print(json.dumps(run.as_json(), ensure_ascii=False))
    else:
        print(run.markdown)
        print(f"report: {run.report_path}\nchart: {run.chart_path}")
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from chatbot.api import create_app

    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port {args.port} is not a port number (0-65535)")
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="info")
    return 0


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    index = load_index(settings.index_dir, verify=False, store=configured_store(settings))
    status = status_of(settings, index)
    if args.json:
        print(json.dumps(status.as_json(), ensure_ascii=False))
    else:
        for key, value in status.as_json().items():
            if key != "article_ids":
                print(f"{key}: {value}")
        for record in sorted(index.articles.values(), key=lambda r: r.id):
            print(f"  {record.id}: {len(record.chunk_ids)} chunks, sha256 {record.sha256[:12]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
