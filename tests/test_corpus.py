"""Loading articles: formats, front matter, and every kind of bad file."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatbot.corpus import ArticleError, CorpusLoad, load_article, load_corpus

LIMIT = 5_000_000


def write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def test_markdown_with_front_matter(tmp_path: Path) -> None:
    path = write(
        tmp_path / "gout.md",
        '---\ntitle: "Gout and nerves"\npublisher: Example Press\ndate: 2026-01-26\n---\n'
        "# Gout and nerves\n\nGout is a form of arthritis.\n",
    )
    article = load_article(path, max_bytes=LIMIT)
    assert article.id == "gout"
    assert article.title == "Gout and nerves"
    assert article.meta == {
        "title": "Gout and nerves",
        "publisher": "Example Press",
        "date": "2026-01-26",
    }
    assert article.text == "# Gout and nerves\n\nGout is a form of arthritis."
    assert article.source == "gout.md"
    assert len(article.sha256) == 64


def test_markdown_without_front_matter_takes_title_from_heading(tmp_path: Path) -> None:
    path = write(tmp_path / "a.md", "# Heading Title\n\nBody text here.\n")
    article = load_article(path, max_bytes=LIMIT)
    assert (article.title, article.meta) == ("Heading Title", {})


def test_plain_text_title_is_first_line(tmp_path: Path) -> None:
    path = write(tmp_path / "note.txt", "A Short Title\r\nThe body sentence is here.\r\n")
    article = load_article(path, max_bytes=LIMIT)
    assert article.title == "A Short Title"
    assert article.text == "A Short Title\nThe body sentence is here."


def test_html_drops_scripts_styles_and_navigation(tmp_path: Path) -> None:
    html = """<!doctype html><html><head><title>IVIG page</title>
    <style>body {color: red}</style><script>alert("x")</script></head>
    <body><nav><a href="/">Home</a> <a href="/about">About</a></nav>
    <header>Site header</header>
    <h1>What is IVIG?</h1><p>IVIG is   made from
    donated plasma.</p><ul><li>Fever</li><li>Chills</li></ul>
    <table><tr><th>Effect</th><th>Rate</th></tr><tr><td>Headache</td><td>Common</td></tr></table>
    <footer>Copyright</footer><script>document.write("bad")</script></body></html>"""
    article = load_article(write(tmp_path / "ivig.html", html), max_bytes=LIMIT)
    assert article.title == "IVIG page"
    assert article.text == (
        "# What is IVIG?\n\nIVIG is made from donated plasma.\n\n- Fever\n\n- Chills\n\n"
        "| Effect | Rate |\n\n| Headache | Common |"
    )
    for chrome in ("alert", "Home", "Site header", "Copyright", "color: red", "document.write"):
        assert chrome not in article.text


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.md", "", "empty: the file has no article text"),
        ("blank.txt", "  \n\n\t\n", "empty: the file has no article text"),
        ("only-meta.md", "---\ntitle: x\n---\n\n", "empty: the file has no article text"),
        ("binary.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file (contains NUL bytes)"),
        (
            "latin1.txt",
            "Caf\xe9 au lait".encode("latin-1"),
            "not valid UTF-8 (byte 0xe9 at offset 3)",
        ),
        ("open.md", "---\ntitle: never closed\nbody\n", "front matter opened with '---'"),
        ("bad-yaml.md", "---\ntitle: [unclosed\n---\nBody.\n", "front matter is not valid YAML"),
        ("list.md", "---\n- a\n- b\n---\nBody.\n", "front matter must be a mapping"),
        ("num-title.md", "---\ntitle: 42\n---\nBody.\n", "'title' must be a string"),
        ("bad id!.md", "Body.\n", "the article id 'bad id!'"),
        ("notes.rtf", "Body.\n", "unsupported file type .rtf"),
        ("notes.pdf", "Body.\n", "not a readable PDF (Stream has ended unexpectedly)"),
        ("notes.docx", "Body.\n", "not a readable Word .docx file (File is not a zip file)"),
    ],
)
def test_bad_files_are_refused_with_the_reason(
    tmp_path: Path, name: str, content: str | bytes, reason: str
) -> None:
    path = write(tmp_path / name, content)
    with pytest.raises(ArticleError) as excinfo:
        load_article(path, max_bytes=LIMIT)
    assert reason in excinfo.value.reason
    assert str(path) in str(excinfo.value)


def test_control_characters_look_binary(tmp_path: Path) -> None:
    path = write(tmp_path / "junk.txt", "".join(chr(c) for c in range(1, 9)) * 50 + "text")
    with pytest.raises(ArticleError, match="looks binary"):
        load_article(path, max_bytes=LIMIT)


def test_oversized_file_is_refused_before_reading(tmp_path: Path) -> None:
    path = write(tmp_path / "huge.md", "word " * 300)
    with pytest.raises(ArticleError, match="1,500 bytes, over the 1,000-byte limit"):
        load_article(path, max_bytes=1000)


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = write(tmp_path / "bom.md", "\ufeff# Title\n\nBody.\n".encode())
    assert load_article(path, max_bytes=LIMIT).text == "# Title\n\nBody."


def test_corpus_reports_failures_and_loads_the_rest(tmp_path: Path) -> None:
    write(tmp_path / "good.md", "# Good\n\nFine text.\n")
    write(tmp_path / "bad.md", b"\x00\x01\x02")
    write(tmp_path / "good.txt", "Another file with the same id.\n")
    write(tmp_path / ".hidden.md", "ignored\n")
    write(tmp_path / "data.json", "{}")
    load = load_corpus(tmp_path, max_bytes=LIMIT)
    assert [a.id for a in load.articles] == ["good"]
    assert [(Path(f.path).name, f.error.split(" (")[0]) for f in load.failures] == [
        ("bad.md", "binary file"),
        ("good.txt", "another file"),
    ]


def test_missing_corpus_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_corpus(tmp_path / "nope", max_bytes=LIMIT)


def test_real_corpus_loads_with_its_front_matter(corpus: CorpusLoad) -> None:
    assert corpus.failures == ()
    articles = {a.id: a for a in corpus.articles}
    assert sorted(articles) == [
        "dupixent-nerve-pain",
        "immune-mediated-neuropathy",
        "immunotherapy-nerve-pain",
        "ivig-for-neuropathy",
        "lupus-nerve-pain",
    ]
    assert articles["dupixent-nerve-pain"].title == "Is Dupixent Linked to Nerve Pain?"
    assert articles["lupus-nerve-pain"].title == "Does Lupus Cause Nerve Pain?"
    immunotherapy = articles["immunotherapy-nerve-pain"].meta
    assert immunotherapy["date"] == "2026-01-26"
    assert "Persly" in immunotherapy["publisher"]
    assert len(immunotherapy["references"]) == 7
    assert "Saventic Care" in articles["immune-mediated-neuropathy"].meta["publisher"]
    for article in articles.values():
        assert "Start Free" not in article.text
