"""Cited health answers from a library of articles.

The entry points::

    from chatbot import Chatbot, Settings
    answer = Chatbot.from_settings(Settings.from_env()).ask("Can Dupixent cause nerve pain?")
    answer.citations[0].article_id, answer.disclaimer

- :class:`Chatbot` (questions in, cited :class:`Answer` out) and :func:`triage` (the safety
  reading of a message: emergency, urgent, dosing);
- :class:`Service`, what a long-running process holds: the models once, the index kept
  current, the article library (what the CLI, the app and the API share);
- :class:`Settings`, every tunable, from ``CHATBOT_*`` variables;
- the pipeline's stages: :func:`load_corpus`, :func:`chunk_article`, :func:`get_embedder`,
  :func:`update_index` / :func:`load_index`, :class:`Retriever`.

Names are imported when first used, so ``import chatbot.config`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chatbot.answering import Answer, Chatbot, Citation, Turn
    from chatbot.chunking import Chunk, ChunkingConfig, chunk_article
    from chatbot.config import Settings
    from chatbot.corpus import Article, ArticleError, CorpusLoad, load_article, load_corpus
    from chatbot.embedding import Embedder, SentenceTransformerEmbedder, get_embedder
    from chatbot.index import Index, IndexReport, load_index, update_index
    from chatbot.library import Service
    from chatbot.retrieval import Hit, Retriever
    from chatbot.safety import triage

_WHERE = {
    "Answer": "chatbot.answering",
    "Chatbot": "chatbot.answering",
    "Citation": "chatbot.answering",
    "Turn": "chatbot.answering",
    "Chunk": "chatbot.chunking",
    "ChunkingConfig": "chatbot.chunking",
    "chunk_article": "chatbot.chunking",
    "Settings": "chatbot.config",
    "Article": "chatbot.corpus",
    "ArticleError": "chatbot.corpus",
    "CorpusLoad": "chatbot.corpus",
    "load_article": "chatbot.corpus",
    "load_corpus": "chatbot.corpus",
    "Embedder": "chatbot.embedding",
    "SentenceTransformerEmbedder": "chatbot.embedding",
    "get_embedder": "chatbot.embedding",
    "Index": "chatbot.index",
    "IndexReport": "chatbot.index",
    "load_index": "chatbot.index",
    "update_index": "chatbot.index",
    "Service": "chatbot.library",
    "Hit": "chatbot.retrieval",
    "Retriever": "chatbot.retrieval",
    "triage": "chatbot.safety",
}

__all__ = [
    "Answer",
    "Article",
    "ArticleError",
    "Chatbot",
    "Chunk",
    "ChunkingConfig",
    "Citation",
    "CorpusLoad",
    "Embedder",
    "Hit",
    "Index",
    "IndexReport",
    "Retriever",
    "SentenceTransformerEmbedder",
    "Service",
    "Settings",
    "Turn",
    "chunk_article",
    "get_embedder",
    "load_article",
    "load_corpus",
    "load_index",
    "triage",
    "update_index",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'chatbot' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
