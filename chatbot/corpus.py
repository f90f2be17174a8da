"""Load articles from files: Markdown (front matter optional), plain text, HTML, PDF and Word.

PDF and Word (.docx) files are read by :mod:`chatbot.documents` into the same Markdown-like
text (a PDF page is a section ``Page N``). Every article's metadata may be completed by a
``NAME.meta.yaml`` sidecar next to its file, whose keys win over the file's own
(:mod:`chatbot.provenance`); a sidecar is not an article itself.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from chatbot import provenance
from chatbot.documents import DOCX_SUFFIXES, PDF_SUFFIXES, DocumentError, read_docx, read_pdf

MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})
TEXT_SUFFIXES = frozenset({".txt"})
HTML_SUFFIXES = frozenset({".html", ".htm"})
DOCUMENT_SUFFIXES = PDF_SUFFIXES | DOCX_SUFFIXES
SUPPORTED_SUFFIXES = MARKDOWN_SUFFIXES | TEXT_SUFFIXES | HTML_SUFFIXES | DOCUMENT_SUFFIXES

# HTML elements whose content is never article text.
_HTML_DROP = (
    "script",
    "style",
    "noscript",
    "nav",
    "header",
    "footer",
    "aside",
    "form",
    "template",
    "iframe",
    "svg",
    "button",
    "select",
)
_HTML_BLOCKS = (
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "p",
    "li",
    "pre",
    "blockquote",
    "tr",
    "dt",
    "dd",
    "figcaption",
    "caption",
)
_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class ArticleError(ValueError):
    """A file cannot be used as an article; the message names the file and the reason."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


@dataclass(frozen=True)
class Article:
    """One source article.

    ``text`` is the body that chunks and citations slice into (front matter removed; for a
    PDF or Word file, the text read from it); ``meta`` holds the front matter or document
    properties with the sidecar's keys over them (title, publisher, source_url, published,
    reviewed, references, ...); ``sha256`` is the hash of the file's bytes, followed by the
    sidecar's when there is one, used to notice changes.
    """

    id: str
    title: str
    text: str
    meta: Mapping[str, Any]
    sha256: str
    source: str = ""


@dataclass(frozen=True)
class LoadFailure:
    path: str
    error: str


@dataclass(frozen=True)
class CorpusLoad:
    """The articles that loaded, and a failure for each file that did not."""

    articles: tuple[Article, ...] = ()
    failures: tuple[LoadFailure, ...] = field(default_factory=tuple)


def load_corpus(directory: Path, *, max_bytes: int) -> CorpusLoad:
    """Load every supported file directly inside ``directory``.

    A file that cannot be used is reported in ``failures``; the others still load.
    Hidden files, ``*.meta.yaml`` sidecars (read with their article) and files with other
    suffixes (a README.txt is an article, a .json is not) are ignored.

    Raises:
        FileNotFoundError: the directory does not exist.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"corpus directory {directory} does not exist")
    articles: dict[str, Article] = {}
    failures: list[LoadFailure] = []
    for path in sorted(directory.iterdir()):
        if (
            path.name.startswith(".")
            or provenance.is_sidecar(path)
            or path.suffix.lower() not in SUPPORTED_SUFFIXES
        ):
            continue
        try:
            article = load_article(path, max_bytes=max_bytes)
            if article.id in articles:
                raise ArticleError(
                    path,
                    f"another file ({articles[article.id].source}) already has the article id "
                    f"{article.id!r}; rename one of them",
                )
        except ArticleError as exc:
            failures.append(LoadFailure(path=str(path), error=exc.reason))
            continue
        articles[article.id] = article
    return CorpusLoad(articles=tuple(articles.values()), failures=tuple(failures))


def load_article(path: Path, *, max_bytes: int, article_id: str | None = None) -> Article:
    """Read one file into an :class:`Article`.

    Args:
        path: a ``.md``, ``.markdown``, ``.txt``, ``.html``, ``.htm``, ``.pdf`` or ``.docx``
            file; a ``NAME.meta.yaml`` next to it adds to its metadata.
        max_bytes: files (and sidecars) larger than this are refused.
        article_id: the id to give the article; the file stem by default.

    Raises:
        ArticleError: the file is missing, too large, binary (for a text type), not UTF-8,
            empty, of an unsupported type, has broken front matter or metadata, or is a PDF
            or Word file that is encrypted, corrupt or without text.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
        raise ArticleError(path, f"unsupported file type {suffix or '(none)'}; use {supported}")
    article_id = path.stem if article_id is None else article_id
    if not _ID_PATTERN.match(article_id):
        raise ArticleError(
            path,
            f"the article id {article_id!r} (the file name without suffix) must be 1-128 "
            "letters, digits, '.', '_' or '-', starting with a letter or digit; rename the file",
        )
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise ArticleError(
                path,
                f"file is {size:,} bytes, over the {max_bytes:,}-byte limit "
                "(CHATBOT_MAX_FILE_BYTES); split the article or raise the limit",
            )
        data = path.read_bytes()
    except OSError as exc:
        raise ArticleError(path, f"cannot be read ({exc.strerror or exc})") from exc
    if suffix in DOCUMENT_SUFFIXES:
        if not data.strip():
            raise ArticleError(path, "empty: the file has no article text")
        try:
            document = read_pdf(data) if suffix in PDF_SUFFIXES else read_docx(data)
        except DocumentError as exc:
            raise ArticleError(path, str(exc)) from None
        title, body, meta = document.title, document.text, document.meta
        where = "document properties"
    else:
        text = decode_text(data, path)
        if suffix in HTML_SUFFIXES:
            title, body, meta = _parse_html(text)
        else:
            meta, body = split_front_matter(text, path)
            title = ""
        where = "front matter"
    body = body.strip("\n")
    if not body.strip():
        raise ArticleError(path, "empty: the file has no article text")
    meta = _checked(meta, path, where)
    sidecar = _read_sidecar(path, max_bytes)
    digest = hashlib.sha256(data)
    if sidecar is not None:
        extra, raw = sidecar
        meta = {**meta, **_checked(extra, path, f"sidecar {provenance.sidecar_of(path).name}")}
        digest.update(b"\x00" + raw)
    meta_title = meta.get("title")
    if not title and suffix not in PDF_SUFFIXES:  # a PDF's first heading is "Page 1"
        title = _first_heading(body)
    title = meta_title or title or _humanise(article_id)
    return Article(
        id=article_id,
        title=title.strip(),
        text=body,
        meta=meta,
        sha256=digest.hexdigest(),
        source=path.name,
    )


def _checked(meta: dict[str, Any], path: Path, where: str) -> dict[str, Any]:
    """``meta`` with its title and provenance fields checked (``where`` names its source)."""
    title = meta.get("title")
    if title is not None and not isinstance(title, str):
        raise ArticleError(path, f"{where} field 'title' must be a string")
    try:
        return provenance.check(meta)
    except provenance.MetadataError as exc:
        raise ArticleError(path, f"{where}: {exc}") from None


def _read_sidecar(path: Path, max_bytes: int) -> tuple[dict[str, Any], bytes] | None:
    """The metadata of ``path``'s ``NAME.meta.yaml`` and its bytes (``None`` without one).

    Raises:
        ArticleError: (naming the article's file) the sidecar is too large, unreadable, not
            a YAML mapping or not valid Unicode.
    """
    sidecar = provenance.sidecar_of(path)
    try:
        if not sidecar.is_file():
            return None
        size = sidecar.stat().st_size
        if size > max_bytes:
            raise ArticleError(
                path,
                f"its sidecar {sidecar.name} is {size:,} bytes, over the {max_bytes:,}-byte "
                "limit (CHATBOT_MAX_FILE_BYTES)",
            )
        raw = sidecar.read_bytes()
    except OSError as exc:
        raise ArticleError(
            path, f"its sidecar {sidecar.name} cannot be read ({exc.strerror or exc})"
        ) from exc
    try:
        meta = provenance.parse_sidecar(raw)
        json.dumps(meta, ensure_ascii=False).encode("utf-8")
    except provenance.MetadataError as exc:
        raise ArticleError(path, f"its sidecar {sidecar.name} {exc}") from None
    except UnicodeEncodeError:
        raise ArticleError(
            path,
            f"its sidecar {sidecar.name} is not valid Unicode (an escape such as \\ud800 "
            "gives a lone surrogate)",
        ) from None
    return meta, raw


def decode_text(data: bytes, path: Path | str = "<bytes>") -> str:
    """Decode UTF-8 bytes (a BOM is allowed) into text with ``\\n`` line ends.

    Raises:
        ArticleError: the bytes are binary or not valid UTF-8.
    """
    if b"\x00" in data:
        raise ArticleError(path, "binary file (contains NUL bytes); articles must be text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ArticleError(
            path,
            f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "save the file as UTF-8",
        ) from exc
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    controls = sum(1 for ch in text if unicodedata.category(ch) == "Cc" and ch not in "\n\t")
    if controls > max(8, len(text) // 100):
        raise ArticleError(path, f"looks binary ({controls} control characters); not text")
    return text


def split_front_matter(text: str, path: Path | str = "<text>") -> tuple[dict[str, Any], str]:
    """Split YAML front matter (between ``---`` lines at the top) from the body.

    Raises:
        ArticleError: the front matter is not closed, not valid YAML, or not a mapping.
    """
    if not text.startswith("---\n"):
        return {}, text
    end = re.search(r"^(?:---|\.\.\.)[ \t]*$", text[4:], flags=re.MULTILINE)
    if end is None:
        raise ArticleError(path, "front matter opened with '---' on line 1 is never closed")
    raw = text[4 : 4 + end.start()]
    body = text[4 + end.end() :]
    try:
        meta = yaml.safe_load(raw) if raw.strip() else {}
    except yaml.YAMLError as exc:  # the front matter starts on line 2
        problem = provenance.yaml_problem(exc, first_line=2)
        raise ArticleError(path, f"front matter is not valid YAML{problem}") from exc
    if not isinstance(meta, dict):
        raise ArticleError(path, "front matter must be a mapping of 'key: value' lines")
    meta = _jsonable(meta)
    try:  # YAML escapes such as "\ud800" make lone surrogates, which no file or JSON can hold
        json.dumps(meta, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ArticleError(
            path,
            "front matter is not valid Unicode (an escape such as \\ud800 gives a lone surrogate)",
        ) from None
    return meta, body


def _jsonable(value: Any) -> Any:
    """Front matter as JSON-compatible values (YAML dates become ISO strings)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _parse_html(text: str) -> tuple[str, str, dict[str, Any]]:
    """Extract title and readable text from HTML; headings become Markdown headings."""
    from bs4 import BeautifulSoup, Tag

    soup = BeautifulSoup(text, "html.parser")
    for tag in soup.find_all(_HTML_DROP):
        tag.decompose()
    title_tag = soup.find("title")
    h1 = soup.find("h1")
    title = _collapse(title_tag.get_text(" ")) if isinstance(title_tag, Tag) else ""
    if not title and isinstance(h1, Tag):
        title = _collapse(h1.get_text(" "))
    if isinstance(title_tag, Tag):
        title_tag.decompose()
    root = soup.body or soup
    lines: list[str] = []
    for el in root.find_all(_HTML_BLOCKS):
        if el.find(_HTML_BLOCKS) is not None:
            continue  # emitted through its inner blocks
        if el.name == "tr":
            cells = [_collapse(c.get_text(" ")) for c in el.find_all(["td", "th"])]
            content = "| " + " | ".join(cells) + " |" if cells else ""
        else:
            content = _collapse(el.get_text(" "))
        if not content:
            continue
        if el.name and re.fullmatch(r"h[1-6]", el.name):
            lines.append("#" * int(el.name[1]) + " " + content)
        elif el.name == "li":
            lines.append("- " + content)
        else:
            lines.append(content)
    body = "\n\n".join(lines) if lines else _collapse_lines(root.get_text("\n"))
    return title, body, {}


def _collapse(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _collapse_lines(text: str) -> str:
    return "\n".join(line for line in (_collapse(x) for x in text.splitlines()) if line)


def _first_heading(body: str) -> str:
    match = re.search(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", body, flags=re.MULTILINE)
    if match:
        return match.group(1)
    first = body.strip().splitlines()[0].strip()
    return first if len(first) <= 120 and not first.endswith((".", ",", ";", ":")) else ""


def _humanise(article_id: str) -> str:
    return re.sub(r"[-_.]+", " ", article_id).strip().capitalize()
