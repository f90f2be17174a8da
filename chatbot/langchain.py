"""LangChain interoperability: the pipeline as a ``BaseRetriever``, the model as ``Embeddings``.

- :class:`ChatbotRetriever` runs the whole retrieval pipeline (dense + BM25, fused, reranked
  by the cross-encoder) and returns LangChain ``Document``s: the chunk's text, with its
  article, section, character offsets, every stage's score and the evidence strength in
  ``metadata``. It drops into any LCEL chain (see ``docs/langchain.md``).
- :class:`ChatbotEmbeddings` is the configured embedding model (``CHATBOT_EMBEDDING_MODEL``)
  behind LangChain's ``Embeddings`` interface.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables.config import run_in_executor
from pydantic import ConfigDict, Field, InstanceOf, PrivateAttr

from chatbot.config import Settings
from chatbot.embedding import Embedder, get_embedder
from chatbot.library import Service
from chatbot.retrieval import Hit, Mode, Retriever


class ChatbotEmbeddings(Embeddings):
    """A project :class:`~chatbot.embedding.Embedder` behind LangChain's interface.

    Without an embedder, the model the settings name (``CHATBOT_EMBEDDING_MODEL``), loaded
    once per process and only when first used. Vectors are L2-normalised, so inner product
    is cosine similarity; queries get the model's query prefix (bge-small's instruction).

    Example:
        >>> from langchain_core.vectorstores import InMemoryVectorStore
        >>> store = InMemoryVectorStore.from_texts(["IVIG comes from plasma."], ChatbotEmbeddings())
    """

    def __init__(self, embedder: Embedder | None = None, *, model: str | None = None) -> None:
        """
        Args:
            embedder: the embedder to wrap.
            model: a model name or folder, when no ``embedder`` is given (default: the
                configured ``CHATBOT_EMBEDDING_MODEL``).

        Raises:
            ValueError: both ``embedder`` and ``model`` are given.
        """
        if embedder is not None and model is not None:
            raise ValueError("give an embedder or a model name, not both")
        if embedder is None:
            settings = Settings.from_env()
            embedder = get_embedder(
                model or settings.embedding_model, settings.embedding_batch_size
            )
        self.embedder = embedder

    @classmethod
    def from_settings(cls, settings: Settings) -> ChatbotEmbeddings:
        """The embedding model ``settings`` name (loaded once per process)."""
        return cls(get_embedder(settings.embedding_model, settings.embedding_batch_size))

    @property
    def model(self) -> str:
        """The embedding model's name."""
        return self.embedder.name

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [row.tolist() for row in self.embedder.embed_documents(texts)]

    def embed_query(self, text: str) -> list[float]:
        return [float(x) for x in self.embedder.embed_query(text)]


class ChatbotRetriever(BaseRetriever):
    """The project's retrieval pipeline as a LangChain retriever.

    Each ``Document`` is one chunk: ``page_content`` is the chunk's text, quoted verbatim
    from the article, and ``metadata`` holds ``article_id``, ``title``, ``section``,
    ``chunk_id``, ``start``/``end`` (character offsets in the article), ``rank``,
    ``score``, ``dense_score``, ``bm25_score``, ``fused_score``, ``rerank_score`` and
    ``evidence`` (0 to 1; under ``CHATBOT_ANSWER_MIN_EVIDENCE`` the articles likely do not
    cover the question). ``Document.id`` is the chunk id.

    By default the pipeline is a :class:`~chatbot.library.Service` over ``settings`` (read
    from the ``CHATBOT_*`` variables when not given): models load once per process, and a
    re-index by any process is picked up on the next query.

    Example:
        >>> retriever = ChatbotRetriever(k=3)
        >>> retriever.invoke("Can Dupixent cause nerve pain?")[0].metadata["article_id"]
        'dupixent-nerve-pain'
        >>> retriever.invoke("What is IVIG?", k=1)  # k per call
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    k: int = Field(default=5, gt=0)
    """How many chunks to return (``k=`` on ``invoke`` overrides it for one call)."""
    mode: Mode | None = None
    """The last stage to run: ``rerank`` (default, or ``hybrid`` without a reranker),
    ``hybrid``, ``dense`` or ``bm25``."""
    articles: list[str] | None = None
    """Search only these article ids (``None``: all)."""
    settings: InstanceOf[Settings] | None = None
    """The settings of the default pipeline (``None``: from ``CHATBOT_*`` variables)."""
    pipeline: InstanceOf[Service] | InstanceOf[Retriever] | None = None
    """A ready pipeline to search with instead: a shared ``Service`` or a ``Retriever``."""

    _service: Service | None = PrivateAttr(default=None)

    def _searcher(self) -> Service | Retriever:
        if self.pipeline is not None:
            return self.pipeline
        if self._service is None:
            self._service = Service(self.settings or Settings.from_env())
        return self._service

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        k = int(kwargs.get("k", self.k))
        hits = self._searcher().search(query, k=k, mode=self.mode, articles=self.articles)
        return [hit_to_document(hit) for hit in hits]

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        return await run_in_executor(
            None,
            self._get_relevant_documents,
            query,
            run_manager=run_manager.get_sync(),
            **kwargs,
        )


def hit_to_document(hit: Hit) -> Document:
    """A retrieved chunk as a LangChain ``Document`` (text, and everything else as metadata)."""
    metadata = hit.as_json()
    del metadata["text"]
    return Document(id=hit.chunk_id, page_content=hit.text, metadata=metadata)
