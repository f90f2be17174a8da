"""Cited health answers: load articles, chunk, embed, index with FAISS, retrieve."""

from chatbot.chunking import Chunk, ChunkingConfig, chunk_article
from chatbot.config import Settings
from chatbot.corpus import Article, ArticleError, CorpusLoad, load_article, load_corpus
from chatbot.embedding import Embedder, SentenceTransformerEmbedder, get_embedder
from chatbot.index import Index, IndexReport, load_index, update_index
from chatbot.retrieval import Hit, Retriever

__all__ = [
    "Article",
    "ArticleError",
    "Chunk",
    "ChunkingConfig",
    "CorpusLoad",
    "Embedder",
    "Hit",
    "Index",
    "IndexReport",
    "Retriever",
    "SentenceTransformerEmbedder",
    "Settings",
    "chunk_article",
    "get_embedder",
    "load_article",
    "load_corpus",
    "load_index",
    "update_index",
]
