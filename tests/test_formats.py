"""PDF and Word (.docx) articles: real files made by the tests, read, chunked by page and
heading, refused with their reason when unusable, indexed and cited (fake embedder)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from chatbot.answering import Chatbot
from chatbot.chunking import ChunkingConfig, chunk_article
from chatbot.config import Settings
from chatbot.corpus import SUPPORTED_SUFFIXES, ArticleError, load_article, load_corpus
from chatbot.documents import read_docx, read_pdf
from chatbot.index import load_index, update_index
from chatbot.retrieval import Retriever
from tests.conftest import FakeEmbedder
from tests.documents import (
    CARPAL_PAGES,
    CARPAL_TEXT,
    GOUT_BLOCKS,
    GOUT_TEXT,
    docx_bytes,
    encrypted_pdf_bytes,
    pdf_bytes,
    scan_pdf_bytes,
)

LIMIT = 5_000_000
CONFIG = ChunkingConfig(max_tokens=128)
ENCRYPTED = "the PDF is encrypted and needs a password to open; save a copy without a password"
SCAN = (
    "no text layer: none of its 2 page(s) has text to extract (a scanned document?); run it "
    "through OCR or upload the text"
)
CARPAL_SECTIONS = {
    "Carpal tunnel syndrome squeezes the median nerve": "Page 1",
    "Tingling in the fingers is often worse at night": "Page 1",
    "A wrist splint worn at night": "Page 3",
    "Surgery to release the ligament": "Page 3",
}


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def carpal_pdf(**kw: object) -> bytes:
    kw = {"title": "Carpal Tunnel Syndrome", "author": "Hand Clinic", **kw}
    return pdf_bytes(CARPAL_PAGES, **kw)  # type: ignore[arg-type]


def chunks_of(path: Path) -> list[tuple[str, str]]:
    article = load_article(path, max_bytes=LIMIT)
    chunks = chunk_article(article, FakeEmbedder().count_tokens, CONFIG)
    for chunk in chunks:
        assert article.text[chunk.start : chunk.end] == chunk.text
    return [(c.section, c.text) for c in chunks]


def test_pdf_and_docx_are_supported() -> None:
    assert {".pdf", ".docx"} <= SUPPORTED_SUFFIXES


# ---------------------------------------------------------------------------- PDF


def test_a_pdf_page_is_a_section_named_page_n(tmp_path: Path) -> None:
    path = write(tmp_path / "carpal-tunnel.pdf", carpal_pdf())
    article = load_article(path, max_bytes=LIMIT)
    assert article.id == "carpal-tunnel"
    assert article.source == "carpal-tunnel.pdf"
    assert article.title == "Carpal Tunnel Syndrome"
    assert article.text == CARPAL_TEXT
    assert article.meta == {"publisher": "Hand Clinic", "published": "2000-01-01"}
    # The blank second page has no section; the third keeps its number.
    assert chunks_of(path) == [
        (
            "Page 1",
            "Carpal Tunnel Syndrome\n\nCarpal tunnel syndrome squeezes the median nerve where it "
            "passes through the wrist and causes numbness in the thumb and first fingers.\n\n"
            "Symptoms\n\nTingling in the fingers is often worse at night and wakes people from "
            "sleep.",
        ),
        (
            "Page 3",
            "Treatment\n\nA wrist splint worn at night keeps the wrist straight and eases the "
            "tingling. Surgery to release the ligament is offered when splints do not help.",
        ),
    ]


def test_pages_never_share_a_chunk(tmp_path: Path) -> None:
    pages = [[f"Page {n} says the wrist splint helps case number {n}."] for n in range(1, 8)]
    path = write(tmp_path / "many.pdf", pdf_bytes(pages))
    assert chunks_of(path) == [
        (f"Page {n}", f"Page {n} says the wrist splint helps case number {n}.") for n in range(1, 8)
    ]


def test_a_long_page_is_cut_into_chunks_of_whole_sentences_all_named_by_the_page(
    tmp_path: Path,
) -> None:
    sentence = "The median nerve carries feeling from the thumb and the first two fingers."
    path = write(tmp_path / "long.pdf", pdf_bytes([["Intro line."], [sentence] * 30]))
    found = chunks_of(path)
    assert found[0] == ("Page 1", "Intro line.")
    assert len(found) > 2
    assert {section for section, _ in found[1:]} == {"Page 2"}
    for _, text in found[1:]:
        assert text.startswith("The median nerve") and text.endswith("fingers.")


def test_pdf_lines_of_a_sentence_are_joined_and_headings_and_items_stay_apart(
    tmp_path: Path,
) -> None:
    page = [
        "Numbness in the hand is one of the first signs of carpal tunnel syndrome and",
        "it often starts in the thumb, index and middle fingers before it spreads to the",
        "whole hand. Shaking the hand can bring relief.",
        "Causes",
        "Repetitive wrist movements and pregnancy raise the risk of anti-",
        "inflammatory treatment being needed.",
        "- Typing for many hours a day",
        "- Vibrating tools",
        "# of cases rises with age.",
    ]
    article = load_article(write(tmp_path / "causes.pdf", pdf_bytes([page])), max_bytes=LIMIT)
    assert article.text == (
        "# Page 1\n\n"
        "Numbness in the hand is one of the first signs of carpal tunnel syndrome and it often "
        "starts in the thumb, index and middle fingers before it spreads to the whole hand. "
        "Shaking the hand can bring relief.\n\n"
        "Causes\n\n"
        "Repetitive wrist movements and pregnancy raise the risk of anti-inflammatory "
        "treatment being needed.\n\n"
        "- Typing for many hours a day\n\n"
        "- Vibrating tools\n\n"
        " # of cases rises with age."
    )
    # "# of cases" is text of page 1, not a heading that would open a section of its own.
    assert {section for section, _ in chunks_of(tmp_path / "causes.pdf")} == {"Page 1"}


def test_pdf_title_falls_back_to_the_first_line_then_the_file_name(tmp_path: Path) -> None:
    untitled = load_article(write(tmp_path / "a.pdf", pdf_bytes(CARPAL_PAGES)), max_bytes=LIMIT)
    assert untitled.title == "Carpal Tunnel Syndrome"  # reportlab's "untitled" is ignored
    assert untitled.meta == {"published": "2000-01-01"}  # and its "anonymous" author
    prose = [["This page opens with a sentence, not a title."]]
    plain = load_article(write(tmp_path / "wrist-pain.pdf", pdf_bytes(prose)), max_bytes=LIMIT)
    assert plain.title == "Wrist pain"


def test_an_encrypted_pdf_is_refused_with_the_reason(tmp_path: Path) -> None:
    path = write(tmp_path / "locked.pdf", encrypted_pdf_bytes("secret"))
    with pytest.raises(ArticleError) as caught:
        load_article(path, max_bytes=LIMIT)
    assert caught.value.reason == ENCRYPTED
    assert str(caught.value) == f"{path}: {ENCRYPTED}"


def test_a_pdf_with_only_permission_restrictions_is_read(tmp_path: Path) -> None:
    path = write(tmp_path / "restricted.pdf", encrypted_pdf_bytes(""))
    assert load_article(path, max_bytes=LIMIT).text == CARPAL_TEXT


def test_a_scanned_pdf_without_text_is_refused_with_the_reason(tmp_path: Path) -> None:
    path = write(tmp_path / "scan.pdf", scan_pdf_bytes(pages=2))
    with pytest.raises(ArticleError) as caught:
        load_article(path, max_bytes=LIMIT)
    assert caught.value.reason == SCAN


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x8f\x00garbage" * 64, "not a readable PDF (Stream has ended unexpectedly)"),
        (b"", "empty: the file has no article text"),
    ],
)
def test_a_corrupt_or_empty_pdf_is_refused_with_the_reason(
    tmp_path: Path, data: bytes, reason: str
) -> None:
    path = write(tmp_path / "broken.pdf", data)
    with pytest.raises(ArticleError) as caught:
        load_article(path, max_bytes=LIMIT)
    assert caught.value.reason == reason


def test_a_truncated_pdf_is_refused_as_unreadable(tmp_path: Path) -> None:
    data = carpal_pdf()
    path = write(tmp_path / "cut.pdf", data[: len(data) // 3])
    with pytest.raises(ArticleError) as caught:
        load_article(path, max_bytes=LIMIT)
    assert caught.value.reason.startswith("not a readable PDF (")


def test_a_pdf_over_the_size_limit_is_refused_before_reading(tmp_path: Path) -> None:
    data = carpal_pdf()
    path = write(tmp_path / "big.pdf", data)
    with pytest.raises(ArticleError) as caught:
        load_article(path, max_bytes=len(data) - 1)
    assert caught.value.reason == (
        f"file is {len(data):,} bytes, over the {len(data) - 1:,}-byte limit "
        "(CHATBOT_MAX_FILE_BYTES); split the article or raise the limit"
    )


# ---------------------------------------------------------------------------- DOCX


def test_docx_headings_are_sections_and_paragraphs_lists_tables_text(tmp_path: Path) -> None:
    created = dt.datetime(2024, 3, 5, 9, 30, tzinfo=dt.UTC)
    data = docx_bytes(GOUT_BLOCKS, author="Foot Clinic", created=created)
    path = write(tmp_path / "gout.docx", data)
    article = load_article(path, max_bytes=LIMIT)
    assert (article.id, article.title, article.source) == (
        "gout",
        "Gout and the Nerves",
        "gout.docx",
    )
    assert article.text == GOUT_TEXT
    assert article.meta == {"publisher": "Foot Clinic", "published": "2024-03-05"}
    assert chunks_of(path) == [
        ("", "Gout is a form of arthritis caused by uric acid crystals in the joints."),
        (
            "Symptoms",
            "Gout crystals can press on the tarsal tunnel nerves of the ankle.\n\n"
            "- Burning pain in the sole of the foot\n\n- Numbness in the toes",
        ),
        (
            "Symptoms > At night",
            "The pain of a gout flare is often worst in the early hours of the morning.",
        ),
        (
            "Treatment",
            "| Medicine | Use |\n\n| Colchicine | Eases a gout flare |\n\n"
            " # of flares falls when uric acid is lowered.",
        ),
    ]


def test_docx_without_a_title_paragraph_takes_the_title_property_then_the_first_heading(
    tmp_path: Path,
) -> None:
    blocks = GOUT_BLOCKS[1:]
    titled = write(tmp_path / "a.docx", docx_bytes(blocks, title="Gout: a guide"))
    assert load_article(titled, max_bytes=LIMIT).title == "Gout: a guide"
    untitled = write(tmp_path / "b.docx", docx_bytes(blocks))
    article = load_article(untitled, max_bytes=LIMIT)
    assert article.title == "Symptoms"
    # python-docx's template author and creation time say nothing about the article.
    assert article.meta == {}


def test_docx_merged_table_cells_are_read_once() -> None:
    import io

    import docx

    document = docx.Document()
    table = document.add_table(rows=2, cols=3)
    for c, text in enumerate(["Medicine", "Dose", "Note"]):
        table.cell(0, c).text = text
    table.cell(1, 0).text = "Colchicine"
    merged = table.cell(1, 1).merge(table.cell(1, 2))
    merged.text = "Ask the prescriber"
    buffer = io.BytesIO()
    document.save(buffer)
    assert read_docx(buffer.getvalue()).text == (
        "| Medicine | Dose | Note |\n\n| Colchicine | Ask the prescriber |"
    )


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x8f\x00garbage" * 64, "not a readable Word .docx file (File is not a zip file)"),
        (
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504,
            "not a .docx but an OLE container: a password-protected Word file or an old .doc; "
            "save it as a .docx without a password",
        ),
        (b"", "empty: the file has no article text"),
    ],
)
def test_a_corrupt_or_protected_docx_is_refused_with_the_reason(
    tmp_path: Path, data: bytes, reason: str
) -> None:
    path = write(tmp_path / "broken.docx", data)
    with pytest.raises(ArticleError) as caught:
        load_article(path, max_bytes=LIMIT)
    assert caught.value.reason == reason


def test_a_zip_that_is_not_a_word_file_is_refused(tmp_path: Path) -> None:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", "not a document")
    path = write(tmp_path / "notes.docx", buffer.getvalue())
    with pytest.raises(ArticleError) as caught:
        load_article(path, max_bytes=LIMIT)
    assert caught.value.reason.startswith("not a readable Word .docx file (")


def test_a_docx_without_text_is_empty(tmp_path: Path) -> None:
    path = write(tmp_path / "blank.docx", docx_bytes([("Normal", "   ")]))
    with pytest.raises(ArticleError) as caught:
        load_article(path, max_bytes=LIMIT)
    assert caught.value.reason == "empty: the file has no article text"


def test_readers_work_on_bytes() -> None:
    assert read_pdf(carpal_pdf()).text == CARPAL_TEXT
    assert read_docx(docx_bytes(GOUT_BLOCKS)).text == GOUT_TEXT


# ---------------------------------------------------------------------------- corpus


def test_the_corpus_loads_pdf_and_docx_and_reports_each_bad_file(corpus_copy: Path) -> None:
    write(corpus_copy / "carpal-tunnel.pdf", carpal_pdf())
    write(corpus_copy / "gout.docx", docx_bytes(GOUT_BLOCKS))
    write(corpus_copy / "locked.pdf", encrypted_pdf_bytes("secret"))
    write(corpus_copy / "scan.pdf", scan_pdf_bytes(pages=2))
    write(corpus_copy / "garbage.docx", b"\x8f\x00garbage" * 64)
    write(corpus_copy / "garbage.pdf", b"\x8f\x00garbage" * 64)
    load = load_corpus(corpus_copy, max_bytes=LIMIT)
    assert sorted(a.id for a in load.articles) == [
        "carpal-tunnel",
        "dupixent-nerve-pain",
        "gout",
        "immune-mediated-neuropathy",
        "immunotherapy-nerve-pain",
        "ivig-for-neuropathy",
        "lupus-nerve-pain",
    ]
    assert [(Path(f.path).name, f.error) for f in load.failures] == [
        ("garbage.docx", "not a readable Word .docx file (File is not a zip file)"),
        ("garbage.pdf", "not a readable PDF (Stream has ended unexpectedly)"),
        ("locked.pdf", ENCRYPTED),
        ("scan.pdf", SCAN),
    ]
    assert all(Path(f.path).parent == corpus_copy for f in load.failures)


def test_a_pdf_and_a_markdown_file_with_one_id_are_refused(corpus_copy: Path) -> None:
    write(corpus_copy / "lupus-nerve-pain.pdf", carpal_pdf())
    load = load_corpus(corpus_copy, max_bytes=LIMIT)
    assert [(Path(f.path).name, f.error) for f in load.failures] == [
        (
            "lupus-nerve-pain.pdf",
            "another file (lupus-nerve-pain.md) already has the article id 'lupus-nerve-pain'; "
            "rename one of them",
        )
    ]


def test_a_pdf_that_breaks_keeps_its_indexed_version(corpus_copy: Path, tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    path = write(corpus_copy / "carpal-tunnel.pdf", carpal_pdf())
    update_index(load_corpus(corpus_copy, max_bytes=LIMIT), tmp_path / "i", embedder, CONFIG)
    before = load_index(tmp_path / "i")
    kept = [c for c in before.chunks if c.article_id == "carpal-tunnel"]
    path.write_bytes(encrypted_pdf_bytes("secret"))
    report = update_index(
        load_corpus(corpus_copy, max_bytes=LIMIT), tmp_path / "i", embedder, CONFIG
    )
    assert report.failed == [{"path": str(path), "error": ENCRYPTED}]
    assert report.kept_previous == ["carpal-tunnel"]
    after = load_index(tmp_path / "i")
    assert [c for c in after.chunks if c.article_id == "carpal-tunnel"] == kept
    assert after.articles["carpal-tunnel"] == before.articles["carpal-tunnel"]
    assert len(after.articles) == 6


# ---------------------------------------------------------------------------- end to end


def test_a_question_about_a_pdf_cites_its_page(corpus_copy: Path, tmp_path: Path) -> None:
    write(corpus_copy / "carpal-tunnel.pdf", carpal_pdf())
    write(corpus_copy / "gout.docx", docx_bytes(GOUT_BLOCKS))
    embedder = FakeEmbedder(dimension=512)
    report = update_index(
        load_corpus(corpus_copy, max_bytes=LIMIT), tmp_path / "i", embedder, CONFIG
    )
    assert report.failed == [] and "carpal-tunnel" in report.added and "gout" in report.added
    settings = Settings(evidence_dense_scale=20.0, evidence_dense_shift=-6.0)
    bot = Chatbot(
        Retriever(load_index(tmp_path / "i"), embedder, None, settings),
        today=lambda: dt.date(2001, 6, 1),
    )
    answer = bot.ask("Does a wrist splint at night ease carpal tunnel tingling?")
    assert answer.status == "answered"
    article = load_article(corpus_copy / "carpal-tunnel.pdf", max_bytes=LIMIT)
    cited = [c for c in answer.citations if c.article_id == "carpal-tunnel"]
    assert cited and cited[0] == answer.citations[0]
    assert cited[0].quote == (
        "A wrist splint worn at night keeps the wrist straight and eases the tingling."
    )
    for c in cited:
        assert article.text[c.start : c.end] == c.quote
        prefix = next(p for p in CARPAL_SECTIONS if c.quote.startswith(p))
        assert c.section == CARPAL_SECTIONS[prefix]
        assert (c.title, c.publisher, c.published, c.reviewed, c.source_url, c.stale) == (
            "Carpal Tunnel Syndrome", "Hand Clinic", "2000-01-01", "", "", False,
        )  # fmt: skip
    docx_answer = bot.ask("Can gout crystals press on the tarsal tunnel nerves of the ankle?")
    first = docx_answer.citations[0]
    assert (first.article_id, first.section) == ("gout", "Symptoms")
    assert first.quote == "Gout crystals can press on the tarsal tunnel nerves of the ankle."
