"""Shared fakes and fixtures: an isolated environment, fake embedders, rerankers and triage
detector, the real model."""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from chatbot.chunking import ChunkingConfig
from chatbot.config import Settings

if TYPE_CHECKING:
    from chatbot.corpus import CorpusLoad
    from chatbot.index import Index, IndexReport

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "corpus"
# The size limit the tests load corpora with: far above any article of theirs.
CORPUS_MAX_BYTES = 5_000_000
# The chunking the fake index is built with unless a test asks for another.
FAKE_INDEX_CONFIG = ChunkingConfig(max_tokens=200)
_WORD = re.compile(r"\w+|[^\w\s]")


class FakeEmbedder:
    """Deterministic bag-of-words hashing embedder that records what it embeds.

    Texts sharing content words (stemmed, stop words out) get similar vectors, so search on
    it behaves sensibly; tokens are words and punctuation marks, which is how BERT-style
    tokenizers count at the least.
    """

    def __init__(self, dimension: int = 64, max_tokens: int = 254, name: str = "fake-embedder"):
        self._dimension = dimension
        self._max_tokens = max_tokens
        self._name = name
        self.calls: list[list[str]] = []

    @property
    def name(self) -> str:
        return self._name

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    @property
    def embedded(self) -> list[str]:
        return [text for call in self.calls for text in call]

    def count_tokens(self, text: str) -> int:
        return len(_WORD.findall(text))

    def _vector(self, text: str) -> np.ndarray:
        from chatbot.lexical import tokenize

        vector = np.zeros(self._dimension, dtype=np.float32)
        for word in tokenize(text):
            bucket = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "big")
            vector[bucket % self._dimension] += 1.0
        norm = np.linalg.norm(vector)
        return vector / norm if norm else vector

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        if not texts:
            return np.zeros((0, self._dimension), dtype=np.float32)
        return np.stack([self._vector(t) for t in texts])

    def embed_query(self, text: str) -> np.ndarray:
        return self._vector(text)


class KeywordReranker:
    """Scores a passage by how often it mentions a chosen word; records its calls."""

    name = "keyword-reranker"

    def __init__(self, word: str) -> None:
        self.word = word
        self.calls: list[int] = []

    def score(self, query: str, passages: Sequence[str]) -> np.ndarray:
        self.calls.append(len(passages))
        return np.array([p.lower().count(self.word) - 2.0 for p in passages], dtype=np.float32)


class RecordingReranker:
    """Prefers the shortest passage; records every passage it scores."""

    name = "recording-reranker"

    def __init__(self) -> None:
        self.passages: list[str] = []

    def score(self, query: str, passages: Sequence[str]) -> np.ndarray:
        self.passages.extend(passages)
        return np.array([-float(len(p)) for p in passages], dtype=np.float32)


class StubEmbedder:
    """Maps each text to a fixed vector: "alarm" texts to e0, everything else to e1."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return np.array([[1.0, 0.0] if "alarm" in t else [0.0, 1.0] for t in texts])


class CountingEmbedder:
    """Wraps another embedder (the real one) and records each text it embeds."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.embedded: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    @property
    def name(self) -> str:
        return str(self.inner.name)

    @property
    def dimension(self) -> int:
        return int(self.inner.dimension)

    @property
    def max_tokens(self) -> int:
        return int(self.inner.max_tokens)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        self.embedded.extend(texts)
        return self.inner.embed_documents(texts)  # type: ignore[no-any-return]


class FakeDetector:
    """Reads a message by its words, not its meaning: a message holding a key of
    ``emergencies`` is that category's emergency, one holding a word of ``urgent`` is urgent.
    It records what it read."""

    def __init__(
        self, emergencies: dict[str, str] | None = None, urgent: Sequence[str] = ()
    ) -> None:
        self.emergencies = emergencies or {"mayday": "heart_attack"}
        self.urgent = tuple(urgent) or ("creeping",)
        self.read_texts: list[str] = []

    def read(self, text: str):  # type: ignore[no-untyped-def]
        from chatbot.safety import Reading

        self.read_texts.append(text)
        lowered = text.lower()
        for word, category in self.emergencies.items():
            if word in lowered:
                return Reading(0.99, 0.0, category, True, False)
        if any(word in lowered for word in self.urgent):
            return Reading(0.1, 0.9, "rapid_weakness", False, True)
        return Reading(0.01, 0.01, "heart_attack", False, False)


# ---------------------------------------------------------------------------- helpers


@functools.cache
def real_corpus() -> CorpusLoad:
    """The real corpus, loaded once per session and shared (its articles are frozen; no test
    may change their ``meta``). For module-level constants; tests take the ``corpus``
    fixture."""
    from chatbot.corpus import load_corpus

    return load_corpus(CORPUS, max_bytes=CORPUS_MAX_BYTES)


def write_corpus(folder: Path, articles: dict[str, str]) -> Path:
    """A corpus folder of Markdown articles, one ``<name>.md`` per entry."""
    folder.mkdir()
    for name, text in articles.items():
        (folder / f"{name}.md").write_text(text)
    return folder


@dataclass(frozen=True)
class FakeIndex:
    """An index built with a fake embedder: its corpus and index folders, the embedder (to
    query it with), the build's report and the loaded index."""

    corpus_dir: Path
    index_dir: Path
    embedder: FakeEmbedder
    report: IndexReport
    index: Index


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test reads the developer's CHATBOT_* settings or writes the real index/."""
    import os

    for key in list(os.environ):
        if key.startswith("CHATBOT_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("CHATBOT_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("CHATBOT_CORPUS_DIR", str(CORPUS))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    yield


@pytest.fixture(scope="session")
def corpus() -> CorpusLoad:
    """The real corpus as loaded, once for the session: read it, never change it."""
    return real_corpus()


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(corpus_dir=CORPUS, index_dir=tmp_path / "index")


@pytest.fixture(scope="session")
def real_embedder():  # type: ignore[no-untyped-def]
    """The default embedding model (bge-small, the bundled ONNX copy), loaded once for the
    whole session."""
    from chatbot.embedding import get_embedder

    embedder = get_embedder(Settings().embedding_model)
    embedder.warm_up()
    return embedder


@pytest.fixture
def corpus_copy(tmp_path: Path) -> Path:
    """A writable copy of the real corpus."""
    import shutil

    target = tmp_path / "corpus"
    shutil.copytree(CORPUS, target)
    return target


@pytest.fixture
def fake_detector() -> FakeDetector:
    return FakeDetector()


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeEmbedder:
    """The embedder every ``get_embedder("fake-embedder")`` call gets (the library, the
    retriever and the API ask the module for it when called). The triage detector's own
    model loads for real, whichever test asks first, so that a file passes alone as in the
    whole suite."""
    import chatbot.embedding
    from chatbot import safety

    embedder = FakeEmbedder()
    real = chatbot.embedding.get_embedder
    detector_model = safety.load_detector("bundled").model

    def get_embedder(model: str, batch_size: int = 32) -> object:
        if model == detector_model:
            return real(model, batch_size)
        assert model == "fake-embedder"
        return embedder

    monkeypatch.setattr("chatbot.embedding.get_embedder", get_embedder)
    return embedder


@pytest.fixture(scope="session")
def make_fake_index(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., FakeIndex]:
    """``make_fake_index(corpus_dir=CORPUS, *, config=FAKE_INDEX_CONFIG, embedder=None)``:
    a new index of ``corpus_dir`` (the real corpus by default) built with ``embedder`` (a
    fresh ``FakeEmbedder`` by default) in a folder of its own. Session-scoped, so fixtures of
    any scope can build one."""
    from chatbot.corpus import load_corpus
    from chatbot.index import load_index, update_index

    def make(
        corpus_dir: Path = CORPUS,
        *,
        config: ChunkingConfig = FAKE_INDEX_CONFIG,
        embedder: FakeEmbedder | None = None,
    ) -> FakeIndex:
        embedder = FakeEmbedder() if embedder is None else embedder
        index_dir = tmp_path_factory.mktemp("fake-index") / "index"
        corpus = (
            real_corpus()
            if corpus_dir == CORPUS
            else load_corpus(corpus_dir, max_bytes=CORPUS_MAX_BYTES)
        )
        report = update_index(corpus, index_dir, embedder, config)
        return FakeIndex(corpus_dir, index_dir, embedder, report, load_index(index_dir))

    return make


@pytest.fixture
def fake_index(make_fake_index: Callable[..., FakeIndex]) -> FakeIndex:
    """The real corpus indexed with a fresh ``FakeEmbedder`` (chunks of at most 200 tokens)."""
    return make_fake_index()


# ---------------------------------------------------------------- the API on the fake embedder


def fake_settings(tmp_path: Path, **changes: Any) -> Settings:
    """Settings over a copy of the corpus, the fake embedder, no reranker and the test
    admin token (``tests.api_server.TOKEN``)."""
    import dataclasses
    import shutil

    from tests.api_server import TOKEN

    corpus = tmp_path / "corpus"
    if not corpus.exists():
        shutil.copytree(CORPUS, corpus)
    base = Settings(
        corpus_dir=corpus,
        index_dir=tmp_path / "index",
        embedding_model="fake-embedder",
        reranker_model="none",
        evidence_dense_scale=20.0,
        evidence_dense_shift=-6.0,
        admin_token=TOKEN,
    )
    return dataclasses.replace(base, **changes)


@pytest.fixture
def api_settings(tmp_path: Path, fake: FakeEmbedder) -> Settings:
    """:func:`fake_settings`, indexed."""
    from chatbot import library

    settings = fake_settings(tmp_path)
    library.reindex(settings)
    return settings


@pytest.fixture
def api_client(api_settings: Settings) -> Iterator[Any]:
    """A ``TestClient`` of the API over :func:`api_settings` (lifespan run)."""
    from fastapi.testclient import TestClient

    from chatbot import api

    with TestClient(api.create_app(api_settings)) as client:
        yield client


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every entry under ``folder`` (hidden ones too): file bytes, ``None`` for folders."""
    return {
        str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(folder.rglob("*"))
        if p.name != ".lock"
    }
