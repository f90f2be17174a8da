"""The real model on the real corpus, through the library and the installed command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from chatbot.chunking import ChunkingConfig
from chatbot.corpus import CorpusLoad, load_corpus
from chatbot.index import load_index, update_index
from chatbot.retrieval import Retriever
from tests.conftest import CountingEmbedder

pytestmark = pytest.mark.integration

CONFIG = ChunkingConfig(max_tokens=128)


@pytest.fixture(scope="module")
def real_index(  # type: ignore[no-untyped-def]
    tmp_path_factory: pytest.TempPathFactory, real_embedder, corpus: CorpusLoad
) -> Path:
    index_dir = tmp_path_factory.mktemp("real") / "index"
    update_index(corpus, index_dir, real_embedder, CONFIG)
    return index_dir


@pytest.mark.parametrize(
    ("query", "article_id"),
    [
        ("Can Dupixent cause nerve pain?", "dupixent-nerve-pain"),
        ("dupilumab numbness pins and needles", "dupixent-nerve-pain"),
        ("Does lupus cause nerve pain?", "lupus-nerve-pain"),
        ("What is IVIG made from?", "ivig-for-neuropathy"),
        ("side effects of IVIG infusions", "ivig-for-neuropathy"),
        ("how do I cope with numb feet during immunotherapy at home", "immunotherapy-nerve-pain"),
        ("which autoimmune diseases cause neuropathy", "immune-mediated-neuropathy"),
    ],
)
def test_questions_find_their_article_first(
    real_index: Path,
    real_embedder,
    query: str,
    article_id: str,  # type: ignore[no-untyped-def]
) -> None:
    retriever = Retriever(load_index(real_index, model=real_embedder.name), real_embedder)
    hits = retriever.search(query, k=5)
    assert hits[0].article_id == article_id


def test_dupixent_question_finds_the_neuropathy_passages(real_index: Path) -> None:
    from chatbot.config import Settings

    retriever = Retriever.from_settings(Settings(index_dir=real_index))
    hits = retriever.search("Can Dupixent cause nerve pain?", k=3)
    assert {h.article_id for h in hits} == {"dupixent-nerve-pain"}
    assert hits[0].title == "Is Dupixent Linked to Nerve Pain?"
    assert "nerve pain" in hits[0].text
    assert any("peripheral neuropathy" in h.text for h in hits)


def test_changing_one_article_embeds_only_its_chunks_with_the_real_model(
    corpus_copy: Path,
    tmp_path: Path,
    real_embedder,  # type: ignore[no-untyped-def]
) -> None:
    update_index(
        load_corpus(corpus_copy, max_bytes=5_000_000), tmp_path / "i", real_embedder, CONFIG
    )
    path = corpus_copy / "ivig-for-neuropathy.md"
    path.write_text(path.read_text().replace("thousands of healthy", "many thousands of healthy"))
    counting = CountingEmbedder(real_embedder)
    report = update_index(
        load_corpus(corpus_copy, max_bytes=5_000_000), tmp_path / "i", counting, CONFIG
    )
    assert report.updated == ["ivig-for-neuropathy"]
    assert report.embedded_chunks == len(counting.embedded) == 1
    assert "many thousands of healthy" in counting.embedded[0]


def _cli(
    *args: str, stdin: str | None = None, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chatbot.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def test_command_line_end_to_end(corpus_copy: Path, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "CHATBOT_CORPUS_DIR": str(corpus_copy),
        "CHATBOT_INDEX_DIR": str(tmp_path / "index"),
    }
    built = _cli("index", "--json", env=env)
    assert built.returncode == 0, built.stderr
    report = json.loads(built.stdout)
    assert report["articles"] == 5 and report["failed"] == []

    found = _cli("search", "Can Dupixent cause nerve pain?", "-k", "3", "--json", env=env)
    assert found.returncode == 0, found.stderr
    hits = json.loads(found.stdout)
    assert [h["rank"] for h in hits] == [1, 2, 3]
    assert hits[0]["article_id"] == "dupixent-nerve-pain"

    batch = _cli(
        "search", "-k", "1", stdin="Does lupus cause nerve pain?\nWhat is IVIG?\n", env=env
    )
    assert batch.returncode == 0, batch.stderr
    assert [json.loads(line)[0]["article_id"] for line in batch.stdout.splitlines()] == [
        "lupus-nerve-pain",
        "ivig-for-neuropathy",
    ]

    status = json.loads(_cli("status", "--json", env=env).stdout)
    assert status["model"] == "BAAI/bge-small-en-v1.5"
    assert (status["articles"], status["chunks"], status["dimension"]) == (5, report["chunks"], 384)

    again = json.loads(_cli("index", "--json", env=env).stdout)
    assert (again["unchanged"], again["embedded_chunks"]) == (report["added"], 0)


def test_bundled_reranker_prefers_the_answering_passage() -> None:
    from chatbot.reranking import OnnxCrossEncoder, get_reranker

    reranker = get_reranker("cross-encoder/ms-marco-MiniLM-L-12-v2")
    assert isinstance(reranker, OnnxCrossEncoder)
    scores = reranker.score(
        "Can Dupixent cause nerve pain?",
        [
            "IVIG is made from the pooled plasma of thousands of donors.",
            "There is evidence suggesting a link between Dupixent and peripheral neuropathy.",
        ],
    )
    assert scores.shape == (2,)
    assert scores[1] > 0.0 > -5.0 > scores[0]


def test_bundled_bge_embedder_through_the_protocol() -> None:
    from chatbot.embedding import BGE_QUERY_PREFIX, Embedder, OnnxEmbedder, get_embedder

    embedder = get_embedder("BAAI/bge-small-en-v1.5")
    assert isinstance(embedder, OnnxEmbedder) and isinstance(embedder, Embedder)
    assert embedder.query_prefix == BGE_QUERY_PREFIX
    docs = embedder.embed_documents(
        ["Lupus can damage nerves.", "IVIG comes from donated plasma.", "Paris is in France."]
    )
    assert docs.shape == (3, 384) and embedder.dimension == 384
    np.testing.assert_allclose(np.linalg.norm(docs, axis=1), 1.0, rtol=1e-5)
    query = embedder.embed_query("What is IVIG made from?")
    assert int(np.argmax(docs @ query)) == 1
    assert embedder.count_tokens("IVIG comes from donated plasma.") == 7  # iv ##ig comes ... .


def test_full_pipeline_search_from_settings(real_index: Path) -> None:
    from chatbot.config import Settings

    retriever = Retriever.from_settings(Settings(index_dir=real_index))
    hits = retriever.search("my feet burn at night, is it my lupus?", k=3)
    assert hits[0].article_id == "lupus-nerve-pain"
    assert hits[0].rerank_score is not None and hits[0].evidence > 0.5
    off_topic = retriever.search("What is the capital of France?", k=3)
    assert off_topic[0].evidence < 0.05


@pytest.fixture(scope="module")
def real_bot(real_index: Path):  # type: ignore[no-untyped-def]
    from chatbot.answering import Chatbot
    from chatbot.config import Settings

    return Chatbot.from_settings(Settings(index_dir=real_index))


def test_dupixent_answer_is_cited_and_says_rare_but_reported(real_bot) -> None:  # type: ignore[no-untyped-def]
    from chatbot import safety

    answer = real_bot.ask("Can Dupixent cause nerve pain?")
    assert answer.status == "answered"
    assert answer.citations[0].article_id == "dupixent-nerve-pain"
    assert {c.article_id for c in answer.citations} == {"dupixent-nerve-pain"}
    text = answer.answer.lower()
    assert "rare" in text and "peripheral neuropathy" in text
    assert "healthcare provider" in text or "doctor" in text  # what to do about symptoms
    assert answer.disclaimer == safety.DISCLAIMER


def test_every_answer_on_the_gold_set_quotes_its_sources(  # type: ignore[no-untyped-def]
    real_bot, corpus: CorpusLoad
) -> None:
    """Verbatim quotes for every answer; gold articles cited; out-of-scope refused."""
    from chatbot.evaluation import evaluate_answers, load_gold
    from tests.conftest import REPO

    texts = {a.id: a.text for a in corpus.articles}
    questions = load_gold(REPO / "eval" / "questions.jsonl")
    report = evaluate_answers(real_bot.ask, questions, texts)
    assert report.verbatim == 1.0
    assert report.gold_cited >= 0.95, report.failures
    # Measured 0.678 with the cross-encoder choosing the first sentence (0.567 by terms).
    assert report.key_fact_in_lead >= 0.65
    assert report.refusal_recall >= 0.95, report.failures
    assert report.wrongly_refused <= 0.05, report.failures
