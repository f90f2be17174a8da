"""Fidelity of corpus/*.md to the raw seed articles in shared/seed-articles/.

Every sentence of a source article (after dropping page chrome) must appear verbatim in the
Markdown body of its corpus file, and the corpus body must add no prose of its own.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "corpus"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "seed-articles"

PAIRS = {
    "000_53b8a8f1a727758b.txt": "dupixent-nerve-pain.md",
    "001_1530c27e7a43a371.txt": "immunotherapy-nerve-pain.md",
    "002_0bb4a114694381ef.txt": "immune-mediated-neuropathy.md",
    "003_e785e4ff9a8e397b.txt": "lupus-nerve-pain.md",
    "004_18a94b8df7092dd8.txt": "ivig-for-neuropathy.md",
}

# Whole source lines that are page chrome (dropped, or moved into front matter).
CHROME_LINES = {
    "Start Free",
    "Persly Medical TeamPersly Medical Team",
    "January 26, 20265 min read",
    "Key Takeaway:",
    "Related Questions",
    "Related Articles",
    "Sources",
}
CHROME_LINE_PATTERNS = [
    re.compile(r"^Medical illustration for "),
    # Entries of the "Sources" list, e.g. "1. 1.^abcManaging ...(mskcc.org)".
    re.compile(r"^\d+\.\s+\d+\.\^"),
]
# Strings that must not survive anywhere in a corpus file.
CHROME_STRINGS = [
    "Start Free",
    "Medical illustration",
    "Related Questions",
    "Related Articles",
    "5 min read",
    "Persly Medical TeamPersly Medical Team",
]

BULLET_RE = re.compile(r"^(?:\u2022|-)\s+")
HEADING_RE = re.compile(r"^#{1,6}\s+")
TABLE_SEPARATOR_RE = re.compile(r"^\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)*\|?$")
SENTENCE_SPLIT_RE = re.compile(r"(?<=[.!?])\s+")
MIN_WORDS = 5


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def is_chrome(line: str) -> bool:
    return line in CHROME_LINES or any(p.search(line) for p in CHROME_LINE_PATTERNS)


def plain_lines(lines: list[str]) -> list[str]:
    """Strip bullet, heading and table syntax; drop blank lines and table separators."""
    out = []
    for raw in lines:
        line = raw.strip()
        if not line or TABLE_SEPARATOR_RE.match(line):
            continue
        line = HEADING_RE.sub("", line)
        line = BULLET_RE.sub("", line)
        line = line.replace("|", " ")
        out.append(normalise(line))
    return out


def source_text(name: str) -> str:
    lines = (SHARED / name).read_text(encoding="utf-8").splitlines()
    kept = [line for line in lines if not is_chrome(line.strip())]
    return normalise(" ".join(plain_lines(kept)))


def split_front_matter(text: str) -> tuple[dict[str, object], str]:
    assert text.startswith("---\n"), "corpus file must start with YAML front matter"
    end = text.index("\n---\n", 4)
    meta = yaml.safe_load(text[4:end])
    assert isinstance(meta, dict), "front matter must be a mapping"
    return meta, text[end + len("\n---\n") :]


def corpus_file(name: str) -> tuple[str, dict[str, object], str]:
    raw = (CORPUS / name).read_bytes().decode("utf-8")
    meta, body = split_front_matter(raw)
    return raw, meta, body


def body_text(body: str, *, drop_h1: bool = False) -> str:
    lines = body.splitlines()
    if drop_h1:
        lines = [line for line in lines if not line.startswith("# ")]
    return normalise(" ".join(plain_lines(lines)))


def sentences(text: str) -> list[str]:
    return [s for s in SENTENCE_SPLIT_RE.split(text) if len(s.split()) >= MIN_WORDS]


needs_shared = pytest.mark.skipif(
    not SHARED.is_dir(), reason=f"seed articles not found at {SHARED}"
)


@pytest.mark.parametrize("corpus_name", sorted(PAIRS.values()))
def test_front_matter_and_format(corpus_name: str) -> None:
    raw, meta, body = corpus_file(corpus_name)
    title = meta.get("title")
    assert isinstance(title, str) and title.strip(), "front matter needs a non-empty title"
    assert meta.get("title_source") in {"article", "derived"}
    assert meta.get("language") == "en"
    for key in ("author", "publisher", "date"):
        if key in meta:
            assert isinstance(meta[key], str) and meta[key].strip()
    # Body starts with the title as its only H1.
    body_lines = body.lstrip("\n").splitlines()
    assert body_lines[0] == f"# {title}"
    assert sum(1 for line in body_lines if line.startswith("# ")) == 1
    # UTF-8, LF line endings, exactly one trailing newline, one blank line between blocks.
    assert "\r" not in raw
    assert raw.endswith("\n") and not raw.endswith("\n\n")
    assert "\n\n\n" not in raw


@pytest.mark.parametrize("corpus_name", sorted(PAIRS.values()))
def test_no_chrome_in_corpus(corpus_name: str) -> None:
    raw, _, _ = corpus_file(corpus_name)
    for chrome in CHROME_STRINGS:
        assert chrome not in raw, f"{corpus_name} still contains page chrome {chrome!r}"


@needs_shared
@pytest.mark.parametrize(("source_name", "corpus_name"), sorted(PAIRS.items()))
def test_every_source_sentence_is_in_corpus(source_name: str, corpus_name: str) -> None:
    src = source_text(source_name)
    _, _, body = corpus_file(corpus_name)
    text = body_text(body)
    src_sentences = sentences(src)
    assert len(src_sentences) >= 10, "source split produced suspiciously few sentences"
    missing = [s for s in src_sentences if s not in text]
    assert not missing, f"{corpus_name} lacks source sentences:\n" + "\n".join(missing)


@needs_shared
@pytest.mark.parametrize(("source_name", "corpus_name"), sorted(PAIRS.items()))
def test_corpus_adds_no_prose(source_name: str, corpus_name: str) -> None:
    src = source_text(source_name)
    _, _, body = corpus_file(corpus_name)
    extra = [s for s in sentences(body_text(body, drop_h1=True)) if s not in src]
    assert not extra, f"{corpus_name} has text not in the source:\n" + "\n".join(extra)


@needs_shared
@pytest.mark.parametrize(("source_name", "corpus_name"), sorted(PAIRS.items()))
def test_front_matter_facts_come_from_source(source_name: str, corpus_name: str) -> None:
    raw_source = (SHARED / source_name).read_text(encoding="utf-8")
    source_lines = {line.strip() for line in raw_source.splitlines()}
    _, meta, _ = corpus_file(corpus_name)
    if meta["title_source"] == "article":
        assert meta["title"] in source_lines, "an article title must be a line of the source"
    else:
        assert meta["title"] not in source_lines
    for key in ("author", "publisher"):
        if key in meta:
            assert str(meta[key]) in raw_source
    assert "url" not in meta and "source_url" not in meta, "the sources give no URLs"
    for ref in meta.get("references", []):
        assert set(ref) == {"n", "title", "site"}
        entry = f"{ref['n']}. {ref['n']}.^"
        assert entry in raw_source
        assert f"{ref['title']}({ref['site']})" in raw_source
        assert not re.match(r"^\^|^[a-z]+[A-Z]", ref["title"]), "backlink letters left in"


def test_immunotherapy_front_matter() -> None:
    _, meta, _ = corpus_file("immunotherapy-nerve-pain.md")
    assert meta["date"] == "2026-01-26"
    assert meta["author"] == "Persly Medical Team"
    assert meta["publisher"] == "Persly Medical Team"
    refs = meta["references"]
    assert [r["n"] for r in refs] == [1, 2, 3, 4, 5, 6, 7]
    assert refs[0] == {
        "n": 1,
        "title": "Managing Your Immunotherapy Side Effects",
        "site": "mskcc.org",
    }
