"""LangChain interoperability: the configured embedding model as a LangChain ``Embeddings``."""

from __future__ import annotations

from langchain_core.embeddings import Embeddings

from chatbot.embedding import Embedder


class ChatbotEmbeddings(Embeddings):
    """Any project :class:`~chatbot.embedding.Embedder` behind LangChain's interface.

    Example:
        >>> from langchain_community.vectorstores import FAISS
        >>> store = FAISS.from_texts(["IVIG comes from plasma."], ChatbotEmbeddings(embedder))
    """

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [row.tolist() for row in self.embedder.embed_documents(texts)]

    def embed_query(self, text: str) -> list[float]:
        return [float(x) for x in self.embedder.embed_query(text)]
