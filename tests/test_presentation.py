"""Answers and passages as text for people: safe Markdown, plain text, highlights."""

from __future__ import annotations

import html
import re
from dataclasses import replace

import pytest
from markdown_it import MarkdownIt

from chatbot.answering import Answer, Citation
from chatbot.chunking import Chunk
from chatbot.presentation import (
    answer_markdown,
    cited_articles,
    escape_markdown,
    highlighted_passage,
    passage_of,
    plain_text,
    source_label,
    topics,
)

RENDER = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"]).render
HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[click me](javascript:alert(1))",
    "![x](javascript:alert(1))",
    "<a href='javascript:alert(1)'>x</a>",
    "*bold* _it_ `code` ~~gone~~ # heading",
    "> quote\n- item\n1. one",
    "| a | b |\n|---|---|\n| 1 | 2 |",
    "$x^2$ :red[styled] :smile: www.example.com http://example.com",
    "back\\slash &amp; &lt;b&gt; \\<b\\>",
    "line\x00with\x07controls",
]


def rendered_text(markdown: str) -> tuple[str, set[str]]:
    """What a CommonMark renderer that allows raw HTML shows, and which tags it made."""
    out = RENDER(markdown)
    tags = set(re.findall(r"<\s*([a-zA-Z0-9]+)", out))
    text = html.unescape(re.sub(r"<[^>]+>", "", out)).strip()
    return text, tags


@pytest.mark.parametrize("text", HOSTILE)
def test_escaped_text_renders_as_exactly_its_characters(text: str) -> None:
    shown, tags = rendered_text(escape_markdown(text))
    expected = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "", text)
    assert tags <= {"p", "br"}
    assert shown.split() == expected.split()


def test_escape_keeps_plain_words_readable() -> None:
    assert escape_markdown("Nerve pain can occur") == "Nerve pain can occur"
    assert escape_markdown("IVIG (immunoglobulin).") == r"IVIG \(immunoglobulin\)\."


def answer(text: str, citations: tuple[Citation, ...] = (), **kw: object) -> Answer:
    return Answer(status="answered", query="q", answer=text, citations=citations, **kw)  # type: ignore[arg-type]


CITE = Citation(
    n=1,
    article_id="lupus-nerve-pain",
    title="Does Lupus Cause Nerve Pain?",
    publisher="Clinic <b>",
    section="Symptoms",
    quote="Lupus can damage nerves.",
    start=110,
    end=134,
)


def test_answer_markdown_keeps_list_lines_as_a_list_and_escapes_the_rest() -> None:
    md = answer_markdown(answer("Topics:\n- Lupus <b>\n- IVIG [1]\n-not a list"))
    assert md == "Topics\\:\n- Lupus \\<b\\>\n- IVIG \\[1\\]\n\\-not a list"
    shown, tags = rendered_text(md)
    assert tags <= {"p", "ul", "li"}
    assert "Lupus <b>" in shown and "IVIG [1]" in shown


def test_plain_text_lists_sources_and_ends_with_the_disclaimer() -> None:
    text = plain_text(answer("Lupus can damage nerves. [1]", (CITE,)))
    assert text == (
        "Lupus can damage nerves. [1]\n\n"
        "Sources:\n[1] Does Lupus Cause Nerve Pain? › Symptoms, Clinic <b> "
        "(lupus-nerve-pain, characters 110-134)\n\n" + Answer.disclaimer
    )


def test_plain_text_opens_with_the_corrected_question() -> None:
    corrected = replace(answer("Lupus can damage nerves. [1]", (CITE,)), corrected_query="lupus")
    assert plain_text(corrected).startswith("Showing results for: lupus\n\nLupus can damage")
    assert cited_articles(corrected) == ("lupus-nerve-pain",)


def test_plain_text_without_citations_has_no_source_list() -> None:
    text = plain_text(answer("Call your local emergency number."))
    assert text == "Call your local emergency number.\n\n" + Answer.disclaimer


def test_source_label_without_section() -> None:
    no_section = Citation(**{**CITE.__dict__, "section": ""})
    assert source_label(no_section) == "[1] Does Lupus Cause Nerve Pain?"
    assert source_label(CITE) == "[1] Does Lupus Cause Nerve Pain? › Symptoms"


def chunk(text: str, start: int, article_id: str = "lupus-nerve-pain") -> Chunk:
    return Chunk(
        id=f"c{start}",
        article_id=article_id,
        section="Symptoms",
        text=text,
        start=start,
        end=start + len(text),
        n_tokens=len(text.split()),
    )


def test_passage_of_finds_the_chunk_holding_the_quote() -> None:
    chunks = [
        chunk("x" * 50, 0),
        chunk("Intro. Lupus can damage nerves. More.", 103),
        chunk("Lupus can damage nerves.", 110, "other"),
    ]
    assert passage_of(chunks, CITE) is chunks[1]
    assert passage_of(chunks[:1], CITE) is None


def test_highlighted_passage_bolds_exactly_the_quote() -> None:
    passage = chunk("Intro. Lupus can damage nerves. <i>More</i>.", 103)
    md = highlighted_passage(passage, CITE)
    assert md == r"Intro\. **Lupus can damage nerves\.** \<i\>More\<\/i\>\."
    out = RENDER(md)
    assert "<strong>Lupus can damage nerves.</strong>" in out
    assert "&lt;i&gt;More&lt;/i&gt;" in out


def test_highlight_outside_the_passage_leaves_it_unmarked() -> None:
    passage = chunk("Something else entirely.", 500)
    assert highlighted_passage(passage, CITE) == r"Something else entirely\."


def test_topics_is_a_sorted_escaped_list() -> None:
    assert topics(["b <x>", "a_b"]) == "- a\\_b\n- b \\<x\\>"
