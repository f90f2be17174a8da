"""LangChain interop: the retriever and the embeddings pass LangChain's standard suites.

The suites run twice: on the fake embedder and a keyword reranker (fast), and on the real
models and corpus (integration). The LCEL example of docs/langchain.md is run as written.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever
from langchain_tests.integration_tests import (
    EmbeddingsIntegrationTests,
    RetrieversIntegrationTests,
)
from langchain_tests.unit_tests import EmbeddingsUnitTests

from chatbot.chunking import ChunkingConfig
from chatbot.config import Settings
from chatbot.corpus import CorpusLoad
from chatbot.index import update_index
from chatbot.langchain import ChatbotEmbeddings, ChatbotRetriever, hit_to_document
from chatbot.library import Service
from chatbot.retrieval import Retriever
from tests.conftest import CORPUS, FakeEmbedder, FakeIndex, KeywordReranker

DOCS = Path(__file__).resolve().parents[1] / "docs" / "langchain.md"
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
# The suites' async tests need pytest-asyncio's mark; on their sync tests the mark only
# draws a warning, silenced here.
ASYNC_SUITE = [
    pytest.mark.asyncio,
    pytest.mark.filterwarnings("ignore:The test .* is marked with '@pytest.mark.asyncio'"),
]


@pytest.fixture(scope="module")
def fake_pipeline(make_fake_index: Callable[..., FakeIndex]) -> Retriever:
    """The full pipeline (hybrid + rerank) on the real corpus with the fake embedder."""
    built = make_fake_index(config=ChunkingConfig(max_tokens=200))
    return Retriever(built.index, built.embedder, KeywordReranker("nerve"), Settings())


@pytest.fixture(scope="module")
def real_settings(
    tmp_path_factory: pytest.TempPathFactory, real_embedder: Any, corpus: CorpusLoad
) -> Settings:
    """Settings over an index of the real corpus built with the real (configured) model."""
    settings = Settings(corpus_dir=CORPUS, index_dir=tmp_path_factory.mktemp("real") / "index")
    update_index(
        corpus,
        settings.index_dir,
        real_embedder,
        ChunkingConfig(max_tokens=settings.chunk_max_tokens),
    )
    return settings


# ---------------------------------------------------------------------------- the suites


class TestEmbeddingsUnit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self) -> type[Embeddings]:
        return ChatbotEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"embedder": FakeEmbedder()}

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        # The configured model is only loaded when first used.
        return {"CHATBOT_EMBEDDING_MODEL": MINILM}, {}, {"model": MINILM}


class TestEmbeddingsOnFake(EmbeddingsIntegrationTests):
    pytestmark = ASYNC_SUITE

    @property
    def embeddings_class(self) -> type[Embeddings]:
        return ChatbotEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"embedder": FakeEmbedder()}


@pytest.mark.integration
class TestEmbeddingsOnRealModel(EmbeddingsIntegrationTests):
    """The configured model (``CHATBOT_EMBEDDING_MODEL``, here the default bge-small)."""

    pytestmark = ASYNC_SUITE

    @property
    def embeddings_class(self) -> type[Embeddings]:
        return ChatbotEmbeddings


class TestRetrieverOnFakes(RetrieversIntegrationTests):
    pytestmark = ASYNC_SUITE

    @pytest.fixture(autouse=True)
    def _pipeline(self, fake_pipeline: Retriever) -> None:
        self.pipeline = fake_pipeline

    @property
    def retriever_constructor(self) -> type[BaseRetriever]:
        return ChatbotRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"pipeline": self.pipeline}

    @property
    def retriever_query_example(self) -> str:
        return "Can Dupixent cause nerve pain?"


@pytest.mark.integration
class TestRetrieverOnRealModels(RetrieversIntegrationTests):
    """The whole pipeline as configured: bge-small, BM25, fusion, the cross-encoder."""

    pytestmark = ASYNC_SUITE

    @pytest.fixture(autouse=True)
    def _settings(self, real_settings: Settings) -> None:
        self.settings = real_settings

    @property
    def retriever_constructor(self) -> type[BaseRetriever]:
        return ChatbotRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"settings": self.settings}

    @property
    def retriever_query_example(self) -> str:
        return "Can Dupixent cause nerve pain?"


# ---------------------------------------------------------------------------- behaviour


def test_documents_carry_the_hits_text_and_scores(
    fake_pipeline: Retriever, corpus: CorpusLoad
) -> None:
    query = "Can Dupixent cause nerve pain?"
    docs = ChatbotRetriever(pipeline=fake_pipeline, k=4).invoke(query)
    hits = fake_pipeline.search(query, k=4)
    assert [h.rerank_score is not None for h in hits] == [True] * 4  # the full pipeline ran
    assert len(docs) == 4
    for doc, hit in zip(docs, hits, strict=True):
        assert doc.id == hit.chunk_id
        assert doc.page_content == hit.text
        assert doc.metadata == {
            "rank": hit.rank,
            "score": hit.score,
            "chunk_id": hit.chunk_id,
            "article_id": hit.article_id,
            "title": hit.title,
            "section": hit.section,
            "start": hit.start,
            "end": hit.end,
            "dense_score": hit.dense_score,
            "bm25_score": hit.bm25_score,
            "fused_score": hit.fused_score,
            "rerank_score": hit.rerank_score,
            "evidence": hit.evidence,
        }
    # The text is the article's own, at the offsets given.
    article = next(a for a in corpus.articles if a.id == "ivig-for-neuropathy")
    ivig = ChatbotRetriever(pipeline=fake_pipeline, articles=["ivig-for-neuropathy"]).invoke(
        "IVIG plasma donors"
    )
    assert {d.metadata["article_id"] for d in ivig} == {"ivig-for-neuropathy"}
    for doc in ivig:
        assert article.text[doc.metadata["start"] : doc.metadata["end"]] == doc.page_content


def test_k_mode_and_async_calls(fake_pipeline: Retriever) -> None:
    query = "lupus nerve pain treatment"
    retriever = ChatbotRetriever(pipeline=fake_pipeline, k=5, mode="hybrid")
    want = [hit_to_document(h) for h in fake_pipeline.search(query, k=2, mode="hybrid")]
    assert retriever.invoke(query, k=2) == want
    assert asyncio.run(retriever.ainvoke(query, k=2)) == want
    assert [d.metadata["rerank_score"] for d in retriever.invoke(query)] == [None] * 5
    assert retriever.batch([query, "   "]) == [retriever.invoke(query), []]


def test_the_default_pipeline_is_a_service_over_the_settings(tmp_path: Path) -> None:
    settings = Settings(index_dir=tmp_path / "none")
    retriever = ChatbotRetriever(settings=settings)
    from chatbot.index import IndexNotFoundError

    with pytest.raises(IndexNotFoundError, match=f"no index in {tmp_path / 'none'}"):
        retriever.invoke("anything")
    assert isinstance(retriever._service, Service)
    assert retriever._service.settings is settings


def test_embeddings_wrap_the_configured_model(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeEmbedder()
    embeddings = ChatbotEmbeddings(fake)
    assert (
        embeddings.embed_documents(["IVIG", "lupus"])
        == fake.embed_documents(["IVIG", "lupus"]).tolist()
    )
    assert embeddings.embed_query("IVIG") == fake.embed_query("IVIG").tolist()
    assert embeddings.embed_documents([]) == []
    assert ChatbotEmbeddings().model == Settings().embedding_model
    assert ChatbotEmbeddings(model=MINILM).model == MINILM
    assert ChatbotEmbeddings.from_settings(Settings(embedding_model=MINILM)).model == MINILM
    monkeypatch.setenv("CHATBOT_EMBEDDING_MODEL", MINILM)
    assert ChatbotEmbeddings().model == MINILM
    with pytest.raises(ValueError, match="not both"):
        ChatbotEmbeddings(fake, model=MINILM)


# ---------------------------------------------------------------------------- the docs


def docs_example() -> str:
    """The Python block of docs/langchain.md marked as the tested example."""
    text = DOCS.read_text(encoding="utf-8")
    blocks = re.findall(r"<!-- tested -->\n```python\n(.*?)```", text, flags=re.DOTALL)
    assert len(blocks) == 1, "docs/langchain.md must hold one tested example"
    return str(blocks[0])


@pytest.mark.integration
def test_the_lcel_example_in_the_docs_runs(
    real_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CHATBOT_INDEX_DIR", str(real_settings.index_dir))
    namespace: dict[str, Any] = {}
    exec(compile(docs_example(), str(DOCS), "exec"), namespace)
    printed = capsys.readouterr().out
    result = namespace["result"]
    docs: list[Document] = result["docs"]
    assert [type(d) for d in docs] == [Document] * 3
    assert docs[0].metadata["article_id"] == "dupixent-nerve-pain"
    assert docs[0].metadata["rerank_score"] is not None  # the full pipeline ran
    assert result["question"] == "Can Dupixent cause nerve pain?"
    first = docs[0]
    assert result["context"].startswith(
        f"[1] {first.metadata['title']} › {first.metadata['section']}\n{first.page_content}\n\n[2] "
    )
    assert result["answer"] == first.page_content.splitlines()[0] + " [1]"
    sources = [
        f"[{n}] {d.metadata['title']} ({d.metadata['article_id']}, characters "
        f"{d.metadata['start']}-{d.metadata['end']})"
        for n, d in enumerate(docs, start=1)
    ]
    assert printed.splitlines() == [result["answer"], *sources]
