"""Find the chunks that answer a query."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from chatbot.embedding import Embedder
from chatbot.index import Index


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with its rank (1 = best) and score."""

    rank: int
    score: float
    chunk_id: str
    article_id: str
    title: str
    section: str
    text: str
    start: int
    end: int

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class Retriever:
    """Dense retrieval: the query's embedding against the index's vectors.

    Example:
        >>> retriever = Retriever(load_index(Path("index")), get_embedder(model))
        >>> retriever.search("Can Dupixent cause nerve pain?", k=3)[0].article_id
        'dupixent-nerve-pain'
    """

    def __init__(self, index: Index, embedder: Embedder) -> None:
        self.index = index
        self.embedder = embedder

    def search(self, query: str, k: int = 5) -> list[Hit]:
        """The ``k`` best chunks for ``query``; an empty query finds nothing."""
        query = " ".join(query.split())
        if not query or k <= 0:
            return []
        vector = self.embedder.embed_query(query)
        hits = []
        for rank, (chunk, score) in enumerate(self.index.search(vector, k), start=1):
            record = self.index.articles[chunk.article_id]
            hits.append(
                Hit(
                    rank=rank,
                    score=round(score, 6),
                    chunk_id=chunk.id,
                    article_id=chunk.article_id,
                    title=record.title,
                    section=chunk.section,
                    text=chunk.text,
                    start=chunk.start,
                    end=chunk.end,
                )
            )
        return hits
