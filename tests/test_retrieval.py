"""The retrieval pipeline's stages on fakes: BM25, fusion, reranking, diversity, evidence."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from chatbot.chunking import ChunkingConfig
from chatbot.config import Settings, SettingsError
from chatbot.index import load_index
from chatbot.lexical import LexicalIndex, tokenize
from chatbot.retrieval import Retriever
from tests.conftest import FakeEmbedder, FakeIndex, KeywordReranker, write_corpus


@pytest.fixture
def small_index(
    tmp_path: Path, fake_embedder: FakeEmbedder, make_fake_index: Callable[..., FakeIndex]
) -> Path:
    corpus = write_corpus(
        tmp_path / "corpus",
        {
            "ivig": "# IVIG\n\n## Source\n\nIVIG is made from pooled plasma of donors.\n\n"
            "## Side effects\n\nIVIG can cause headache and fever after infusion.",
            "lupus": "# Lupus\n\n## Nerves\n\nLupus can damage nerves and cause burning pain.\n\n"
            "## Treatment\n\nLupus nerve pain is treated with steroids and gabapentin.",
            "dupixent": "# Dupixent\n\nDupixent rarely causes numbness; report numbness at once.",
        },
    )
    built = make_fake_index(corpus, config=ChunkingConfig(max_tokens=200), embedder=fake_embedder)
    return built.index_dir


def test_tokenize_stems_and_drops_stop_words() -> None:
    assert tokenize("The patients’ neuropathies were burning, and IVIG infusions helped!") == [
        "patient",
        "neuropathi",
        "burn",
        "ivig",
        "infus",
        "help",
    ]
    assert tokenize("the and of") == []


def test_bm25_ranks_by_term_weight_and_ignores_unknown_words() -> None:
    bm25 = LexicalIndex.build(["plasma from donors", "lupus nerve pain", "nerve pain relief"])
    rows = [row for row, _ in bm25.search("lupus pain", k=3)]
    assert rows[:1] == [1]
    assert set(rows) == {1, 2}
    assert bm25.search("zebra", k=3) == []
    assert bm25.search("", k=3) == []


def test_bm25_survives_save_and_load(tmp_path: Path) -> None:
    bm25 = LexicalIndex.build(["plasma from donors", "lupus nerve pain"])
    bm25.save(tmp_path)
    loaded = LexicalIndex.load(tmp_path, 2)
    assert loaded.search("plasma", k=2) == bm25.search("plasma", k=2)


def test_every_mode_finds_the_lexical_match(small_index: Path, fake_embedder: FakeEmbedder) -> None:
    retriever = Retriever(load_index(small_index), fake_embedder, KeywordReranker("plasma"))
    for mode in ("dense", "bm25", "hybrid", "rerank"):
        hits = retriever.search("pooled plasma donors", k=2, mode=mode)  # type: ignore[arg-type]
        assert hits[0].article_id == "ivig", mode
        assert hits[0].section == "Source", mode


def test_hits_carry_each_stage_score(small_index: Path, fake_embedder: FakeEmbedder) -> None:
    retriever = Retriever(load_index(small_index), fake_embedder, KeywordReranker("plasma"))
    hit = retriever.search("pooled plasma donors", k=1, mode="rerank")[0]
    assert hit.dense_score is not None and hit.dense_score > 0.3
    assert hit.bm25_score is not None and hit.bm25_score > 0
    # Ranked first in both lists: 1/(60+1) twice.
    assert hit.fused_score == pytest.approx(2 / 61, abs=1e-6)
    assert hit.rerank_score == -1.0  # "plasma" once, minus 2
    # The final score adds the weighted fused score to the cross-encoder's logit.
    weight = Settings().rerank_fusion_weight
    assert hit.score == pytest.approx(-1.0 + weight * 60 * 2 / 61, abs=1e-5)
    s = Settings()
    logit = s.evidence_rerank_scale * -1.0 + s.evidence_rerank_shift
    assert hit.evidence == pytest.approx(1 / (1 + np.exp(-logit)), abs=1e-4)

    dense_only = retriever.search("pooled plasma donors", k=1, mode="dense")[0]
    assert (dense_only.bm25_score, dense_only.fused_score, dense_only.rerank_score) == (
        None,
        None,
        None,
    )
    assert dense_only.score == dense_only.dense_score


def test_the_reranker_reorders_the_fused_candidates(
    small_index: Path, fake_embedder: FakeEmbedder
) -> None:
    reranker = KeywordReranker("steroids")
    retriever = Retriever(load_index(small_index), fake_embedder, reranker, Settings(rerank_top=4))
    hybrid = retriever.search("lupus nerve pain", k=3, mode="hybrid")
    reranked = retriever.search("lupus nerve pain", k=3, mode="rerank")
    assert reranked[0].section == "Treatment"
    assert [h.rank for h in reranked] == [1, 2, 3]
    assert reranker.calls == [4]
    assert {h.chunk_id for h in hybrid} != set() and reranked[0].rerank_score == -1.0


def test_the_fusion_weight_trades_the_cross_encoder_against_the_fused_lists(
    small_index: Path, fake_embedder: FakeEmbedder
) -> None:
    index = load_index(small_index)
    query = "lupus nerve pain"

    def ranked(weight: float) -> list[str]:
        reranker = KeywordReranker("steroids")
        settings = Settings(rerank_top=4, rerank_fusion_weight=weight)
        hits = Retriever(index, fake_embedder, reranker, settings).search(query, k=4)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        return [h.chunk_id for h in hits]

    hybrid = Retriever(index, fake_embedder).search(query, k=4, mode="hybrid")
    # Weight 0: the cross-encoder alone; it prefers the chunk that says "steroids".
    sections = {c.id: c.section for c in index.chunks}
    assert sections[ranked(0.0)[0]] == "Treatment"
    assert hybrid[0].section != "Treatment"
    # A weight that dwarfs the logits: the fused order of the rescored candidates.
    assert ranked(1000.0) == [h.chunk_id for h in hybrid]
    with pytest.raises(SettingsError, match="RERANK_FUSION_WEIGHT"):
        Settings(rerank_fusion_weight=-1.0).validate()


def test_near_duplicates_do_not_crowd_the_top(
    tmp_path: Path, fake_embedder: FakeEmbedder, make_fake_index: Callable[..., FakeIndex]
) -> None:
    same = "Lupus nerve pain burns in the feet and hands at night."
    corpus = write_corpus(
        tmp_path / "corpus",
        {
            "a": f"# A\n\n## One\n\n{same}\n\n## Two\n\n{same} Really.\n\n## Three\n\n{same} Yes.",
            "b": "# B\n\nLupus nerve pain is treated with gabapentin.",
        },
    )
    index = make_fake_index(
        corpus, config=ChunkingConfig(max_tokens=200), embedder=fake_embedder
    ).index
    plain = Retriever(index, fake_embedder, None, Settings(duplicate_threshold=1.0))
    diverse = Retriever(index, fake_embedder, None, Settings(duplicate_threshold=0.8))
    query = "lupus nerve pain burns feet hands night"
    assert [h.article_id for h in plain.search(query, k=2, mode="dense")] == ["a", "a"]
    assert [h.article_id for h in diverse.search(query, k=2, mode="dense")] == ["a", "b"]
    # Skipped duplicates still fill the list when nothing else is left.
    assert len(diverse.search(query, k=4, mode="dense")) == 4


def test_bad_requests(small_index: Path, fake_embedder: FakeEmbedder) -> None:
    retriever = Retriever(load_index(small_index), fake_embedder)
    assert retriever.search("", k=3) == []
    assert retriever.search("lupus", k=0) == []
    with pytest.raises(ValueError, match="unknown search mode 'fast'"):
        retriever.search("lupus", mode="fast")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="rerank mode needs a reranker"):
        retriever.search("lupus", mode="rerank")
    # Without a reranker the default mode is hybrid.
    assert retriever.search("lupus", k=1)[0].rerank_score is None
