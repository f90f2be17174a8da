"""The vector stores behind one protocol: FAISS files and a Milvus collection (Milvus Lite).

Fast tests run the fake embedder on the real corpus with both backends; the integration tests
at the end run the real model and check that the gold set ranks the same on both. One Milvus
Lite database serves the whole module; each test has collections of its own.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from chatbot.chunking import ChunkingConfig
from chatbot.config import Settings
from chatbot.corpus import CorpusLoad, load_corpus
from chatbot.index import (
    IndexMismatchError,
    IndexReport,
    IndexUnusableError,
    configured_store,
    current_version,
    files,
    load_index,
    update_index,
)
from chatbot.retrieval import Retriever
from chatbot.vectorstore import (
    FaissStore,
    MilvusStore,
    MilvusVectors,
    Vectors,
    VectorStore,
    VectorStoreError,
    collection_name,
    store_for,
)
from tests.conftest import FakeEmbedder

CONFIG = ChunkingConfig(max_tokens=200)
LIMIT = 5_000_000
BACKENDS = ("faiss", "milvus")
QUERIES = (
    "What is IVIG? Intravenous Immunoglobulin pooled plasma donors",
    "Can Dupixent cause nerve pain?",
    "lupus burning feet",
    "immunotherapy checkpoint inhibitors neuropathy",
)


@pytest.fixture(scope="module")
def milvus_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One Milvus Lite database (one in-process server) for the whole module."""
    return str(tmp_path_factory.mktemp("milvus") / "vectors.db")


@pytest.fixture
def make_store(milvus_uri: str, request: pytest.FixtureRequest) -> Callable[[str], VectorStore]:
    """``make_store(backend)``; Milvus stores get collection names no other test uses."""
    prefix = "t" + hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:12]

    def make(backend: str) -> VectorStore:
        return FaissStore() if backend == "faiss" else MilvusStore(milvus_uri, prefix=prefix)

    return make


def build(corpus: Path, index_dir: Path, embedder: FakeEmbedder, store: VectorStore) -> IndexReport:
    return update_index(
        load_corpus(corpus, max_bytes=LIMIT), index_dir, embedder, CONFIG, store=store
    )


def live_ids(index_dir: Path, store: VectorStore) -> set[str]:
    return {c.id for c in load_index(index_dir, store=store).chunks}


def canonical(ranked: list[tuple[int, float]]) -> list[tuple[float, int]]:
    return sorted((-round(score, 5), row) for row, score in ranked)


def stored_ids(store: VectorStore, embedder: FakeEmbedder) -> set[str]:
    assert isinstance(store, MilvusStore)
    return set(store.stored_ids(collection_name(embedder.name, embedder.dimension, store.prefix)))


# ---------------------------------------------------------------------------- both backends


def test_both_stores_follow_the_protocols(
    corpus_copy: Path, tmp_path: Path, make_store: Callable[[str], VectorStore]
) -> None:
    for backend in BACKENDS:
        store = make_store(backend)
        assert isinstance(store, VectorStore)
        assert store.backend == backend
        build(corpus_copy, tmp_path / backend, FakeEmbedder(), store)
        index = load_index(tmp_path / backend, store=store)
        assert isinstance(index.vector_index, Vectors)
        assert index.backend == backend
        assert index.manifest["vectors"]["backend"] == backend


def test_milvus_index_equals_the_faiss_index(
    corpus_copy: Path, tmp_path: Path, make_store: Callable[[str], VectorStore]
) -> None:
    faiss_store, milvus_store = make_store("faiss"), make_store("milvus")
    build(corpus_copy, tmp_path / "faiss", FakeEmbedder(), faiss_store)
    build(corpus_copy, tmp_path / "milvus", FakeEmbedder(), milvus_store)
    flat = load_index(tmp_path / "faiss", store=faiss_store)
    milvus = load_index(tmp_path / "milvus", store=milvus_store)

    assert milvus.chunks == flat.chunks
    # The two builds ran a moment apart: everything but the build time is the same.
    assert {k: replace(r, indexed_at="") for k, r in milvus.articles.items()} == {
        k: replace(r, indexed_at="") for k, r in flat.articles.items()
    }
    assert all(r.indexed_at for r in milvus.articles.values())
    np.testing.assert_array_equal(milvus.vectors(), flat.vectors())
    rows = [7, 0, 3, 3, len(flat) - 1]
    np.testing.assert_array_equal(milvus.vectors_of(rows), flat.vectors_of(rows))
    # The version folder holds no vector file; the manifest names the collection.
    assert not (milvus.path / "vectors.faiss").exists()
    assert milvus.manifest["vectors"] == {
        "backend": "milvus",
        "collection": collection_name("fake-embedder", 64, milvus_store.prefix),  # type: ignore[attr-defined]
        "dimension": 64,
        "metric": "IP",
        "index": "FLAT",
    }
    assert "faiss_index" not in milvus.manifest
    assert milvus.faiss_index is None
    assert flat.manifest["vectors"] == {
        "backend": "faiss",
        "file": "vectors.faiss",
        "dimension": 64,
        "index": "IndexFlatIP",
    }
    assert flat.manifest["faiss_index"] == "IndexFlatIP"

    embedder = FakeEmbedder()
    for query in QUERIES:
        vector = embedder.embed_query(query)
        for k in (1, 5, len(flat)):
            got, want = milvus.search_rows(vector, k), flat.search_rows(vector, k)
            # Equal scores (many chunks share no word with a query) may come in any order.
            assert canonical(got) == canonical(want)
            np.testing.assert_allclose([s for _, s in got], [s for _, s in want], atol=1e-5)
        for mode in ("dense", "hybrid"):
            on_milvus = Retriever(milvus, embedder).search(query, k=5, mode=mode)
            on_faiss = Retriever(flat, embedder).search(query, k=5, mode=mode)
            assert [h.chunk_id for h in on_milvus] == [h.chunk_id for h in on_faiss]


@pytest.mark.parametrize("backend", BACKENDS)
def test_incremental_update_embeds_only_new_chunks(
    backend: str, corpus_copy: Path, tmp_path: Path, make_store: Callable[[str], VectorStore]
) -> None:
    store = make_store(backend)
    index_dir = tmp_path / "idx"
    first = build(corpus_copy, index_dir, FakeEmbedder(), store)
    assert first.embedded_chunks == first.chunks
    before = load_index(index_dir, store=store)

    unchanged = FakeEmbedder()
    again = build(corpus_copy, index_dir, unchanged, store)
    assert unchanged.embedded == []
    assert (again.version, again.reused_chunks) == (first.version, first.chunks)

    path = corpus_copy / "lupus-nerve-pain.md"
    path.write_text(path.read_text() + "\nLupus fatigue is also common in flares.\n")
    embedder = FakeEmbedder()
    report = build(corpus_copy, index_dir, embedder, store)
    after = load_index(index_dir, store=store)

    assert report.updated == ["lupus-nerve-pain"]
    assert (report.added, report.removed) == ([], [])
    new_ids = {c.id for c in after.chunks} - {c.id for c in before.chunks}
    titles = {a.id: a.title for a in after.articles.values()}
    assert sorted(embedder.embedded) == sorted(
        c.embedding_text(titles[c.article_id]) for c in after.chunks if c.id in new_ids
    )
    assert report.embedded_chunks == len(new_ids) >= 1
    assert report.reused_chunks == report.chunks - len(new_ids)
    old = dict(zip([c.id for c in before.chunks], before.vectors(), strict=True))
    for chunk, vector in zip(after.chunks, after.vectors(), strict=True):
        if chunk.id in old:
            np.testing.assert_array_equal(vector, old[chunk.id])
    if backend == "milvus":
        # The collection holds the live and the previous version's vectors, nothing else.
        assert stored_ids(store, embedder) == {c.id for c in before.chunks} | new_ids


def test_milvus_drops_vectors_that_no_kept_version_names(
    corpus_copy: Path, tmp_path: Path, make_store: Callable[[str], VectorStore]
) -> None:
    store = make_store("milvus")
    index_dir = tmp_path / "idx"
    build(corpus_copy, index_dir, FakeEmbedder(), store)
    first = live_ids(index_dir, store)
    removed = {
        c.id
        for c in load_index(index_dir, store=store).chunks
        if c.article_id == "ivig-for-neuropathy"
    }
    (corpus_copy / "ivig-for-neuropathy.md").unlink()
    report = build(corpus_copy, index_dir, FakeEmbedder(), store)
    second = live_ids(index_dir, store)
    assert report.removed == ["ivig-for-neuropathy"]
    assert second == first - removed
    # The previous version (which a reader may still be loading) keeps its vectors.
    assert stored_ids(store, FakeEmbedder()) == first

    (corpus_copy / "gout.txt").write_text("Gout and Nerves\n\nGout can press on nerves.\n")
    build(corpus_copy, index_dir, FakeEmbedder(), store)
    third = live_ids(index_dir, store)
    assert len(third - second) == 1
    assert stored_ids(store, FakeEmbedder()) == second | third
    assert not removed & stored_ids(store, FakeEmbedder())


def test_a_milvus_writer_dying_before_the_switch_leaves_the_old_index(
    corpus_copy: Path,
    tmp_path: Path,
    make_store: Callable[[str], VectorStore],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = make_store("milvus")
    index_dir = tmp_path / "idx"
    build(corpus_copy, index_dir, FakeEmbedder(), store)
    state_a = load_index(index_dir, store=store)
    query = FakeEmbedder().embed_query("lupus nerve pain fatigue flares")
    hits_a = state_a.search_rows(query, 5)

    path = corpus_copy / "lupus-nerve-pain.md"
    path.write_text(path.read_text() + "\nLupus fatigue is also common in flares.\n")
    real_write = files.atomic_write_text

    def fail_on_current(target: Path, text: str) -> None:
        if target.name == "CURRENT":
            raise OSError("killed before the switch")
        real_write(target, text)

    with monkeypatch.context() as patch:
        patch.setattr(files, "atomic_write_text", fail_on_current)
        with pytest.raises(OSError, match="killed before the switch"):
            build(corpus_copy, index_dir, FakeEmbedder(), store)

    # The old version is live and whole; the new vectors are in the collection, unused.
    still_a = load_index(index_dir, store=store)
    assert still_a.path == state_a.path
    assert still_a.chunks == state_a.chunks
    assert still_a.search_rows(query, 5) == hits_a
    ids_a = {c.id for c in state_a.chunks}
    orphans = stored_ids(store, FakeEmbedder()) - ids_a
    assert orphans

    # The next update reuses them (content-addressed), switches, and collects the rest.
    embedder = FakeEmbedder()
    report = build(corpus_copy, index_dir, embedder, store)
    assert embedder.embedded == []
    assert report.embedded_chunks == 0
    ids_b = live_ids(index_dir, store)
    assert orphans <= ids_b
    assert stored_ids(store, embedder) == ids_a | ids_b
    path.write_text(path.read_text() + "\nA second added sentence about lupus.\n")
    build(corpus_copy, index_dir, FakeEmbedder(), store)
    assert stored_ids(store, embedder) == ids_b | live_ids(index_dir, store)


def test_lost_milvus_rows_are_refused_on_load_and_restored_by_an_update(
    corpus_copy: Path, tmp_path: Path, make_store: Callable[[str], VectorStore]
) -> None:
    store = make_store("milvus")
    assert isinstance(store, MilvusStore)
    index_dir = tmp_path / "idx"
    build(corpus_copy, index_dir, FakeEmbedder(), store)
    index = load_index(index_dir, store=store)
    lost = index.chunks[4]
    collection = index.manifest["vectors"]["collection"]
    store.client.delete(collection, ids=[lost.id])

    with pytest.raises(
        IndexUnusableError, match=rf"lacks 1 of the {len(index)} vectors.*chatbot index"
    ):
        load_index(index_dir, store=store)
    # Without checks the version loads, and reading the lost vector fails clearly.
    unchecked = load_index(index_dir, store=store, verify=False)
    with pytest.raises(VectorStoreError, match="lacks 1 vectors of the live index version"):
        unchecked.vectors_of([4])

    embedder = FakeEmbedder()
    build(corpus_copy, index_dir, embedder, store)
    assert embedder.embedded == [lost.embedding_text(index.articles[lost.article_id].title)]
    repaired = load_index(index_dir, store=store)
    assert repaired.chunks == index.chunks
    np.testing.assert_array_equal(repaired.vectors(), index.vectors())


@pytest.mark.parametrize(("built", "loaded"), [("faiss", "milvus"), ("milvus", "faiss")])
def test_another_backend_is_refused_on_load_and_re_embeds_on_update(
    built: str,
    loaded: str,
    corpus_copy: Path,
    tmp_path: Path,
    make_store: Callable[[str], VectorStore],
) -> None:
    index_dir = tmp_path / "idx"
    first = build(corpus_copy, index_dir, FakeEmbedder(), make_store(built))
    with pytest.raises(
        IndexMismatchError,
        match=rf"keeps its vectors in {built}, but the settings name '{loaded}'.*"
        r"chatbot index --rebuild",
    ):
        load_index(index_dir, store=make_store(loaded))

    embedder = FakeEmbedder()
    report = build(corpus_copy, index_dir, embedder, make_store(loaded))
    assert report.embedded_chunks == report.chunks == first.chunks == len(embedder.embedded)
    assert load_index(index_dir, store=make_store(loaded)).backend == loaded
    with pytest.raises(IndexMismatchError, match=f"keeps its vectors in {loaded}"):
        load_index(index_dir, store=make_store(built))


def test_the_environment_picks_the_backend(
    corpus_copy: Path, tmp_path: Path, milvus_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    index_dir = tmp_path / "idx"
    build(corpus_copy, index_dir, FakeEmbedder(), store=configured_store(index_dir=index_dir))
    assert load_index(index_dir).backend == "faiss"  # nothing set: FAISS

    monkeypatch.setenv("CHATBOT_VECTOR_BACKEND", "milvus")
    monkeypatch.setenv("CHATBOT_MILVUS_URI", milvus_uri)
    with pytest.raises(IndexMismatchError, match="CHATBOT_VECTOR_BACKEND=faiss"):
        load_index(index_dir)
    update_index(load_corpus(corpus_copy, max_bytes=LIMIT), index_dir, FakeEmbedder(), CONFIG)
    index = load_index(index_dir)
    assert index.backend == "milvus"
    assert index.manifest["vectors"]["collection"] == collection_name("fake-embedder", 64)


def test_settings_alone_pick_the_backend_for_writing_and_reading(
    corpus_copy: Path, tmp_path: Path, milvus_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Settings given in code (no CHATBOT_* variables) name the store for both the re-index
    and the retriever that serves the result."""
    from chatbot.library import reindex

    embedder = FakeEmbedder()
    monkeypatch.setattr("chatbot.embedding.get_embedder", lambda model, batch_size=32: embedder)
    for name in ("CHATBOT_VECTOR_BACKEND", "CHATBOT_MILVUS_URI"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(
        corpus_dir=corpus_copy,
        index_dir=tmp_path / "idx",
        embedding_model="fake-embedder",
        reranker_model="none",
        vector_backend="milvus",
        milvus_uri=milvus_uri,
        chunk_max_tokens=200,
    )
    report = reindex(settings)
    retriever = Retriever.from_settings(settings)
    assert retriever.index.backend == "milvus"
    assert len(retriever.index) == report.chunks
    hits = retriever.search("Intravenous Immunoglobulin pooled plasma donors", k=1)
    assert hits[0].article_id == "ivig-for-neuropathy"


def test_store_settings() -> None:
    assert isinstance(store_for(Settings()), FaissStore)
    lite = store_for(Settings(vector_backend="milvus", index_dir=Path("/srv/idx")))
    assert isinstance(lite, MilvusStore)
    assert lite.uri == "/srv/idx/milvus.db"  # Milvus Lite inside the index folder
    server = store_for(Settings(vector_backend="milvus", milvus_uri="http://milvus:19530"))
    assert isinstance(server, MilvusStore)
    assert server.uri == "http://milvus:19530"
    with pytest.raises(VectorStoreError, match=r"must end in \.db"):
        MilvusStore("/srv/idx/vectors")
    with pytest.raises(
        IndexUnusableError, match=r"CHATBOT_MILVUS_URI='/srv/x': .* must end in \.db"
    ):
        configured_store(Settings(vector_backend="milvus", milvus_uri="/srv/x"))
    assert collection_name("BAAI/bge-small-en-v1.5", 384) == (
        "chatbot_baai_bge_small_en_v1_5_384_"
        + hashlib.sha256(b"BAAI/bge-small-en-v1.5\n384").hexdigest()[:8]
    )
    assert collection_name("a/b", 8, "p") != collection_name("a_b", 8, "p")


def test_milvus_search_skips_rows_of_other_versions(
    tmp_path: Path, make_store: Callable[[str], VectorStore]
) -> None:
    """Most of the collection is not live: the search asks again until k live rows come."""
    store = make_store("milvus")
    rng = np.random.default_rng(7)
    matrix = rng.normal(size=(400, 16)).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    ids = [f"id{i:04d}" for i in range(400)]
    plan = store.plan("synthetic", 16, ids, None)
    store.commit(plan, dict(zip(ids, matrix, strict=True)), None, None)
    live = ids[::50]  # 8 live rows among 400
    vectors = store.open(tmp_path, plan.record, live)
    assert isinstance(vectors, MilvusVectors)
    live_matrix = matrix[::50]
    for query in matrix[[1, 2, 3]]:
        scores = live_matrix @ query
        want = list(np.argsort(-scores, kind="stable")[:5])
        got = vectors.search(query, 5)
        assert [row for row, _ in got] == want
        np.testing.assert_allclose([s for _, s in got], scores[want], atol=1e-5)
    assert len(vectors.search(matrix[0], 50)) == 8
    np.testing.assert_array_equal(vectors.all(), live_matrix)


# ---------------------------------------------------------------------------- real model


@pytest.fixture(scope="module")
def real_indexes(
    tmp_path_factory: pytest.TempPathFactory,
    real_embedder: Any,
    milvus_uri: str,
    corpus: CorpusLoad,
) -> dict[str, Any]:
    """The real corpus indexed with the real model, once per backend."""
    config = ChunkingConfig(max_tokens=Settings().chunk_max_tokens)
    root = tmp_path_factory.mktemp("real")
    indexes = {}
    for backend in BACKENDS:
        store: VectorStore = (
            FaissStore() if backend == "faiss" else MilvusStore(milvus_uri, prefix="real")
        )
        update_index(corpus, root / backend, real_embedder, config, store=store)
        indexes[backend] = load_index(root / backend, model=real_embedder.name, store=store)
    return indexes


@pytest.mark.integration
def test_gold_set_ranks_the_same_on_both_backends(
    real_indexes: dict[str, Any], real_embedder: Any
) -> None:
    from chatbot.evaluation import load_gold

    settings = Settings()
    questions = load_gold(settings.gold_path)
    assert len(questions) == 116
    ranked: dict[str, list[list[str]]] = {}
    hits_at_5: dict[str, int] = {}
    for backend, index in real_indexes.items():
        retriever = Retriever(index, real_embedder, None, settings)
        ranked[backend] = []
        hits_at_5[backend] = 0
        for q in questions:
            hits = retriever.search(q.question, k=5, mode="hybrid")
            ranked[backend].append([h.chunk_id for h in hits])
            hits_at_5[backend] += q.in_scope and any(h.article_id in q.gold for h in hits)
    assert ranked["milvus"] == ranked["faiss"]
    assert hits_at_5["milvus"] == hits_at_5["faiss"] > 80


@pytest.mark.integration
def test_real_vectors_are_stored_bit_for_bit_in_milvus(real_indexes: dict[str, Any]) -> None:
    flat, milvus = real_indexes["faiss"], real_indexes["milvus"]
    assert milvus.chunks == flat.chunks
    np.testing.assert_array_equal(milvus.vectors(), flat.vectors())
    manifest = json.loads((current_version(milvus.path.parents[1]) / "manifest.json").read_text())
    assert manifest["vectors"]["collection"].startswith("real_baai_bge_small_en_v1_5_384_")
