"""The textbook LangChain pipeline, the baseline that the chatbot's retrieval is compared with."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from chatbot.evaluation.metrics import GoldQuestion, Retrieved, is_relevant


class LangChainBaseline:
    """The textbook pipeline: RecursiveCharacterTextSplitter(1000, 200), the same embedding
    model (through LangChain's ``Embeddings`` interface), FAISS.from_documents and similarity
    search."""

    def __init__(self, articles: Sequence[Any], embedder: Any) -> None:
        from langchain_community.vectorstores import FAISS
        from langchain_core.documents import Document
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        from chatbot.langchain import ChatbotEmbeddings

        splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
        docs = splitter.split_documents(
            [Document(page_content=a.text, metadata={"article_id": a.id}) for a in articles]
        )
        self.docs = docs
        self.store = FAISS.from_documents(docs, ChatbotEmbeddings(embedder))

    def run(self, question: str) -> Retrieved:
        start = time.perf_counter()
        results = self.store.similarity_search_with_relevance_scores(question, k=10)
        seconds = time.perf_counter() - start
        return Retrieved(
            passages=tuple((d.metadata["article_id"], d.page_content) for d, _ in results),
            evidence=float(results[0][1]) if results else 0.0,
            seconds=seconds,
        )

    def relevant_total(self, q: GoldQuestion) -> int:
        return sum(is_relevant(q, d.metadata["article_id"], d.page_content) for d in self.docs)
