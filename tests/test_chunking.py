"""Chunking: sections, whole sentences, exact offsets, token budgets."""

from __future__ import annotations

import pytest

from chatbot.chunking import ChunkingConfig, chunk_article, chunk_id, split_sentences
from chatbot.corpus import Article, CorpusLoad
from tests.conftest import FakeEmbedder


def article(text: str, title: str = "Title", article_id: str = "a") -> Article:
    return Article(id=article_id, title=title, text=text, meta={}, sha256="0" * 64)


def sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text)]


def test_sentences_keep_citation_markers_and_abbreviations() -> None:
    text = (
        "These symptoms may be mild. [1] [2] Some drugs, e.g. duloxetine, help. "
        "Dose is 0.5 mg per day! Is it rare? Yes [PM13]. Ends without stop"
    )
    assert sentences(text) == [
        "These symptoms may be mild. [1] [2]",
        "Some drugs, e.g. duloxetine, help.",
        "Dose is 0.5 mg per day!",
        "Is it rare?",
        "Yes [PM13].",
        "Ends without stop",
    ]


def test_sentence_after_closing_quote() -> None:
    text = "They list “pins and needles.” Numbness follows."
    assert sentences(text) == ["They list “pins and needles.”", "Numbness follows."]


def test_sections_follow_markdown_headings() -> None:
    text = (
        "# Title\n\nIntro sentence one. Intro sentence two.\n\n## Causes\n\nCause text.\n\n"
        "### Lupus\n\nLupus text.\n\n## Treatment\n\nTreatment text."
    )
    chunks = chunk_article(article(text), FakeEmbedder().count_tokens, ChunkingConfig(200))
    assert [(c.section, c.text) for c in chunks] == [
        ("", "Intro sentence one. Intro sentence two."),
        ("Causes", "Cause text."),
        ("Causes > Lupus", "Lupus text."),
        ("Treatment", "Treatment text."),
    ]


def test_plain_text_heading_lines_make_sections() -> None:
    text = (
        "Does Lupus Cause Nerve Pain?\n\nLupus is a disease. It affects nerves.\n\n"
        "Managing Neuropathic Pain\n\nTreatment helps. Exercise helps too."
    )
    chunks = chunk_article(
        article(text, title="Does Lupus Cause Nerve Pain?"),
        FakeEmbedder().count_tokens,
        ChunkingConfig(200),
    )
    assert [(c.section, c.text) for c in chunks] == [
        ("", "Lupus is a disease. It affects nerves."),
        ("Managing Neuropathic Pain", "Treatment helps. Exercise helps too."),
    ]


def test_chunks_respect_budget_and_never_split_sentences() -> None:
    body = " ".join(f"Sentence number {i} says something about nerves." for i in range(60))
    doc = article(f"# Title\n\n{body}")
    counter = FakeEmbedder().count_tokens
    chunks = chunk_article(doc, counter, ChunkingConfig(max_tokens=60))
    assert len(chunks) > 5
    starts = {s for s, _ in split_sentences(doc.text, doc.text.index("Sentence"))}
    ends = {e for _, e in split_sentences(doc.text, doc.text.index("Sentence"))}
    for chunk in chunks:
        assert doc.text[chunk.start : chunk.end] == chunk.text
        assert chunk.start in starts and chunk.end in ends
        assert counter(chunk.embedding_text("Title")) <= 60
    # Balanced: no runt last chunk.
    sizes = [counter(c.text) for c in chunks]
    assert min(sizes) >= max(sizes) // 2
    # Everything is covered, in order, without overlap.
    assert " ".join(c.text for c in chunks) == body


def test_a_sentence_longer_than_the_budget_is_cut_at_words() -> None:
    long_sentence = " ".join(["word"] * 500) + "."
    doc = article(f"# Title\n\nShort one. {long_sentence} Short two.")
    counter = FakeEmbedder().count_tokens
    chunks = chunk_article(doc, counter, ChunkingConfig(max_tokens=50))
    assert all(counter(c.embedding_text("Title")) <= 50 for c in chunks)
    assert all(doc.text[c.start : c.end] == c.text for c in chunks)
    assert sum(c.text.count("word") for c in chunks) == 500


def test_tables_and_lists_chunk_by_row_and_item() -> None:
    text = (
        "# T\n\n## Table\n\n| A | B |\n|---|---|\n| one | two |\n| three | four |\n\n"
        "## List\n\n- First item. Still first.\n- Second item."
    )
    chunks = chunk_article(
        article(text, title="T"), FakeEmbedder().count_tokens, ChunkingConfig(12)
    )
    assert [(c.section, c.text) for c in chunks] == [
        ("Table", "| A | B |"),
        ("Table", "| one | two |"),
        ("Table", "| three | four |"),
        ("List", "- First item. Still first."),
        ("List", "- Second item."),
    ]


def test_chunk_ids_hash_article_and_content() -> None:
    assert chunk_id("a", "T", "S", "text") == chunk_id("a", "T", "S", "text")
    assert (
        len(
            {
                chunk_id("a", "T", "S", "text"),
                chunk_id("b", "T", "S", "text"),
                chunk_id("a", "U", "S", "text"),
                chunk_id("a", "T", "R", "text"),
                chunk_id("a", "T", "S", "other"),
            }
        )
        == 5
    )


def test_token_counts_use_tiktoken() -> None:
    chunks = chunk_article(
        article("# T\n\nhello world"), FakeEmbedder().count_tokens, ChunkingConfig(50)
    )
    assert chunks[0].n_tokens == 2


def test_real_corpus_chunks_with_fake_tokenizer_cover_every_sentence(corpus: CorpusLoad) -> None:
    counter = FakeEmbedder().count_tokens
    for doc in corpus.articles:
        chunks = chunk_article(doc, counter, ChunkingConfig(200))
        covered = "\n".join(c.text for c in chunks)
        for line in doc.text.splitlines():
            if not line.strip() or line.lstrip().startswith(("#", "|---")):
                continue
            for s, e in split_sentences(line):
                assert line[s:e].lstrip("- ") in covered, (doc.id, line[s:e])
        for c in chunks:
            assert doc.text[c.start : c.end] == c.text


@pytest.mark.integration
@pytest.mark.parametrize(
    "model", ["BAAI/bge-small-en-v1.5", "sentence-transformers/all-MiniLM-L6-v2"]
)
def test_real_corpus_chunks_fit_the_model(model: str, corpus: CorpusLoad) -> None:
    """No chunk's embedded text exceeds the budget, counted by the model's own tokenizer;
    the budget is below what the model reads (all-MiniLM-L6-v2 silently truncates past 256)."""
    from chatbot.embedding import get_embedder

    embedder = get_embedder(model)
    config = ChunkingConfig(max_tokens=200)
    assert config.max_tokens <= embedder.max_tokens
    total = 0
    for doc in corpus.articles:
        for chunk in chunk_article(doc, embedder.count_tokens, config):
            assert embedder.count_tokens(chunk.embedding_text(doc.title)) <= 200
            total += 1
    assert total >= 25
    if model.startswith("sentence-transformers/"):
        # With [CLS] and [SEP], as the model itself reads it.
        tokenizer = embedder.model.tokenizer  # type: ignore[attr-defined]
        assert embedder.model.max_seq_length == 256  # type: ignore[attr-defined]
        longest = max(
            len(tokenizer(c.embedding_text(d.title))["input_ids"])
            for d in corpus.articles
            for c in chunk_article(d, embedder.count_tokens, config)
        )
        assert 150 < longest <= 202
