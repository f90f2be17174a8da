"""The saved index: build, incremental updates, failures that keep what was indexed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from chatbot.chunking import ChunkingConfig
from chatbot.corpus import load_corpus
from chatbot.index import (
    SCHEMA_VERSION,
    IndexMismatchError,
    IndexNotFoundError,
    IndexUnusableError,
    current_version,
    load_index,
    update_index,
)
from chatbot.retrieval import Retriever
from tests.conftest import FakeEmbedder, FakeIndex

CONFIG = ChunkingConfig(max_tokens=200)
LIMIT = 5_000_000


def build(corpus: Path, index_dir: Path, embedder: FakeEmbedder, **kwargs):  # type: ignore[no-untyped-def]
    return update_index(load_corpus(corpus, max_bytes=LIMIT), index_dir, embedder, CONFIG, **kwargs)


def test_full_build_writes_manifest_docstore_and_vectors(
    corpus_copy: Path, tmp_path: Path, fake_embedder: FakeEmbedder
) -> None:
    report = build(corpus_copy, tmp_path / "idx", fake_embedder)
    ids = sorted(p.stem for p in corpus_copy.glob("*.md"))
    assert (report.added, report.updated, report.removed, report.unchanged) == (ids, [], [], [])
    assert report.failed == []
    assert report.articles == 5
    assert report.embedded_chunks == report.chunks == len(fake_embedder.embedded)
    assert report.reused_chunks == 0

    index = load_index(tmp_path / "idx", model="fake-embedder")
    assert len(index) == report.chunks == index.faiss_index.ntotal
    manifest = index.manifest
    assert manifest["schema_version"] == SCHEMA_VERSION
    assert manifest["model"] == {"name": "fake-embedder", "dimension": 64, "max_tokens": 254}
    assert manifest["chunking"] == {"max_tokens": 200, "version": 1}
    assert set(manifest["library_versions"]) >= {"faiss-cpu", "numpy"}
    assert sorted(index.articles) == ids
    texts = {a.id: a.text for a in load_corpus(corpus_copy, max_bytes=LIMIT).articles}
    for chunk in index.chunks:
        assert texts[chunk.article_id][chunk.start : chunk.end] == chunk.text
    for record in index.articles.values():
        assert list(record.chunk_ids) == [c.id for c in index.chunks if c.article_id == record.id]
    assert (tmp_path / "idx" / "README.md").read_text().startswith("# Index folder")
    # The docstore is JSON lines, not pickle.
    lines = (index.path / "chunks.jsonl").read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == [c.id for c in index.chunks]


def test_nothing_changed_embeds_nothing_and_keeps_the_version(
    corpus_copy: Path, tmp_path: Path
) -> None:
    first = build(corpus_copy, tmp_path / "idx", FakeEmbedder())
    embedder = FakeEmbedder()
    second = build(corpus_copy, tmp_path / "idx", embedder)
    assert embedder.embedded == []
    assert second.unchanged == sorted(p.stem for p in corpus_copy.glob("*.md"))
    assert (second.added, second.updated, second.removed) == ([], [], [])
    assert second.version == first.version
    assert second.reused_chunks == first.chunks


def test_changing_one_article_embeds_only_that_articles_new_chunks(
    corpus_copy: Path, tmp_path: Path
) -> None:
    build(corpus_copy, tmp_path / "idx", FakeEmbedder())
    before = load_index(tmp_path / "idx")
    path = corpus_copy / "lupus-nerve-pain.md"
    path.write_text(path.read_text() + "\nLupus fatigue is also common in flares.\n")

    embedder = FakeEmbedder()
    report = build(corpus_copy, tmp_path / "idx", embedder)
    after = load_index(tmp_path / "idx")

    assert report.updated == ["lupus-nerve-pain"]
    assert (report.added, report.removed) == ([], [])
    assert len(report.unchanged) == 4
    new_ids = {c.id for c in after.chunks} - {c.id for c in before.chunks}
    assert new_ids, "the change must produce at least one new chunk"
    assert len(embedder.calls) == 1
    assert len(embedder.embedded) == len(new_ids) == report.embedded_chunks
    assert all(text.startswith("Does Lupus Cause Nerve Pain?") for text in embedder.embedded)
    assert any("Lupus fatigue is also common in flares." in t for t in embedder.embedded)
    # Stored vectors of every other chunk are carried over bit for bit.
    old = dict(zip([c.id for c in before.chunks], before.vectors(), strict=True))
    for chunk, vector in zip(after.chunks, after.vectors(), strict=True):
        if chunk.id in old:
            np.testing.assert_array_equal(vector, old[chunk.id])
    assert after.articles["dupixent-nerve-pain"].indexed_at == (
        before.articles["dupixent-nerve-pain"].indexed_at
    )


def test_adding_and_removing_articles(corpus_copy: Path, tmp_path: Path) -> None:
    build(corpus_copy, tmp_path / "idx", FakeEmbedder())
    (corpus_copy / "ivig-for-neuropathy.md").unlink()
    (corpus_copy / "gout.txt").write_text("Gout and Nerves\n\nGout can press on nerves.\n")
    embedder = FakeEmbedder()
    report = build(corpus_copy, tmp_path / "idx", embedder)
    assert report.added == ["gout"]
    assert report.removed == ["ivig-for-neuropathy"]
    assert embedder.embedded == ["Gout and Nerves\nGout can press on nerves."]
    index = load_index(tmp_path / "idx")
    assert "ivig-for-neuropathy" not in index.articles
    assert {c.article_id for c in index.chunks} == set(index.articles)


def test_a_broken_file_keeps_its_previously_indexed_version(
    corpus_copy: Path, tmp_path: Path
) -> None:
    build(corpus_copy, tmp_path / "idx", FakeEmbedder())
    before = load_index(tmp_path / "idx").articles["lupus-nerve-pain"]
    (corpus_copy / "lupus-nerve-pain.md").write_bytes(b"\xff\xfe\x00garbage")
    report = build(corpus_copy, tmp_path / "idx", FakeEmbedder())
    assert report.failed == [
        {
            "path": str(corpus_copy / "lupus-nerve-pain.md"),
            "error": "binary file (contains NUL bytes); articles must be text",
        }
    ]
    assert report.kept_previous == ["lupus-nerve-pain"]
    assert report.removed == []
    assert load_index(tmp_path / "idx").articles["lupus-nerve-pain"] == before


def test_an_empty_corpus_does_not_wipe_the_index(corpus_copy: Path, tmp_path: Path) -> None:
    build(corpus_copy, tmp_path / "idx", FakeEmbedder())
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(IndexUnusableError, match="refusing to remove all 5 indexed articles"):
        build(empty, tmp_path / "idx", FakeEmbedder())
    assert len(load_index(tmp_path / "idx").articles) == 5
    report = build(empty, tmp_path / "idx", FakeEmbedder(), rebuild=True)
    assert (report.articles, len(report.removed)) == (0, 5)


def test_rebuild_embeds_everything_again(corpus_copy: Path, tmp_path: Path) -> None:
    first = build(corpus_copy, tmp_path / "idx", FakeEmbedder())
    embedder = FakeEmbedder()
    report = build(corpus_copy, tmp_path / "idx", embedder, rebuild=True)
    assert report.embedded_chunks == first.chunks == len(embedder.embedded)
    assert report.version != first.version


def test_another_model_is_refused_on_load_and_re_embeds_on_update(
    corpus_copy: Path, tmp_path: Path
) -> None:
    build(corpus_copy, tmp_path / "idx", FakeEmbedder())
    with pytest.raises(
        IndexMismatchError,
        match=r"built with the embedding model 'fake-embedder'.*chatbot index --rebuild",
    ):
        load_index(tmp_path / "idx", model="sentence-transformers/all-MiniLM-L6-v2")
    other = FakeEmbedder(dimension=32, name="other-model")
    report = build(corpus_copy, tmp_path / "idx", other)
    assert report.embedded_chunks == report.chunks
    assert load_index(tmp_path / "idx", model="other-model").dimension == 32


def test_another_schema_is_refused(corpus_copy: Path, tmp_path: Path) -> None:
    build(corpus_copy, tmp_path / "idx", FakeEmbedder())
    manifest_path = current_version(tmp_path / "idx") / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["schema_version"] = SCHEMA_VERSION + 1
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(
        IndexMismatchError, match=rf"schema version {SCHEMA_VERSION + 1}.*chatbot index --rebuild"
    ):
        load_index(tmp_path / "idx")


def test_damaged_files_are_detected(corpus_copy: Path, tmp_path: Path) -> None:
    build(corpus_copy, tmp_path / "idx", FakeEmbedder())
    vectors = current_version(tmp_path / "idx") / "vectors.faiss"
    data = bytearray(vectors.read_bytes())
    data[-1] ^= 0xFF
    vectors.write_bytes(bytes(data))
    with pytest.raises(IndexUnusableError, match="does not match its checksum"):
        load_index(tmp_path / "idx")
    # An update over a damaged index builds a good one from the corpus.
    report = build(corpus_copy, tmp_path / "idx", FakeEmbedder())
    assert report.embedded_chunks == report.chunks
    assert len(load_index(tmp_path / "idx")) == report.chunks


def test_missing_index_says_how_to_build_one(tmp_path: Path) -> None:
    with pytest.raises(IndexNotFoundError, match="build one with `chatbot index"):
        load_index(tmp_path / "nothing")


def test_chunk_budget_over_the_model_limit_is_refused(corpus_copy: Path, tmp_path: Path) -> None:
    corpus = load_corpus(corpus_copy, max_bytes=LIMIT)
    with pytest.raises(ValueError, match="CHATBOT_CHUNK_MAX_TOKENS=300 exceeds the 254"):
        update_index(corpus, tmp_path / "idx", FakeEmbedder(), ChunkingConfig(max_tokens=300))


def test_old_versions_are_collected(corpus_copy: Path, tmp_path: Path) -> None:
    path = corpus_copy / "lupus-nerve-pain.md"
    for n in range(4):
        path.write_text(path.read_text() + f"\nExtra sentence number {n}.\n")
        build(corpus_copy, tmp_path / "idx", FakeEmbedder())
    versions = sorted(p.name for p in (tmp_path / "idx" / "versions").iterdir())
    assert len(versions) == 2
    assert current_version(tmp_path / "idx").name == versions[-1]


def test_dense_search_ranks_the_matching_article_first(fake_index: FakeIndex) -> None:
    retriever = Retriever(fake_index.index, fake_index.embedder)
    hits = retriever.search("What is IVIG? Intravenous Immunoglobulin pooled plasma donors", k=3)
    assert [h.rank for h in hits] == [1, 2, 3]
    assert hits[0].article_id == "ivig-for-neuropathy"
    assert hits[0].title == "IVIG for Neuropathy"
    assert hits[0].score >= hits[1].score >= hits[2].score
    assert retriever.search("   ", k=3) == []
