"""Read PDF and Word (.docx) files into article text with Markdown headings for sections.

The text these readers make is what chunks and citations slice into, so it follows the
Markdown layout the chunker reads (:mod:`chatbot.chunking`): a heading line ``# Name`` opens
a section, paragraphs are separated by blank lines, list items start with ``- `` and table
rows are ``| a | b |`` lines.

- A PDF page becomes a section named ``Page N`` (its number in the file): the line
  ``# Page N`` then the page's paragraphs, the lines of a paragraph joined into one. Pages
  without text are left out; a PDF none of whose pages has text (a scan) is refused.
- A Word file's ``Title`` paragraph becomes a level-1 heading (and the article's title),
  ``Heading N`` a level-N+1 heading; other paragraphs, list items and table rows follow in
  reading order.

A body line that would read as a Markdown heading (``# of patients``) starts with a space,
so it stays text. Document properties give the title and provenance (:mod:`chatbot.provenance`):
a PDF's ``/Title`` (else its first line, when it reads as a title), ``/Author`` (as
publisher) and ``/CreationDate`` (as published); a Word file's title property (when it has
no Title paragraph), author (as publisher) and created date (as published). Placeholders that
programs write (``anonymous``, ``python-docx``, ``untitled``) are ignored.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import logging
import re
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

PDF_SUFFIXES = frozenset({".pdf"})
DOCX_SUFFIXES = frozenset({".docx"})

# A .docx whose parts expand to more than this many bytes is refused (a zip bomb).
MAX_DOCX_EXPANDED_BYTES = 200_000_000

# Values programs write into document properties when nobody filled them in.
_PLACEHOLDERS = frozenset(
    {
        "",
        "anonymous",
        "(anonymous)",
        "unknown",
        "unspecified",
        "(unspecified)",
        "untitled",
        "author",
        "user",
        "admin",
        "administrator",
        "python-docx",
    }
)
# python-docx's default template carries this creation time; it says nothing of the article.
_DOCX_TEMPLATE_CREATED = dt.datetime(2013, 12, 23, 23, 15, tzinfo=dt.UTC)
_LIGATURES = str.maketrans({"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "st"})
_LIST_MARKER = re.compile(r"^(?:[-*+•▪◦●‣–]|\d{1,3}[.)])\s")
_SENTENCE_END = re.compile(r"[.!?][\"”’')\]]*$")
_MD_HEADING_START = re.compile(r"^#{1,6}[ \t]")
_HEADING_STYLE = re.compile(r"^heading\s*([1-9])$", re.IGNORECASE)
_OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


class DocumentError(ValueError):
    """A file that cannot be read as its type says; the message gives the reason."""


@dataclass(frozen=True)
class Document:
    """What a reader found: the title from the properties (``""`` when none), the article
    text with Markdown headings, and metadata from the properties."""

    title: str
    text: str
    meta: dict[str, Any] = field(default_factory=dict)


def read_pdf(data: bytes) -> Document:
    """The text of a PDF, one ``# Page N`` section per page with text.

    Raises:
        DocumentError: the file is not a readable PDF, needs a password, or has no text
            layer (a scan).
    """
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError

    with _quiet("pypdf"):
        try:
            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted:
                try:  # restrictions only: opens without a password
                    opened = bool(reader.decrypt(""))
                except DependencyError:
                    opened = False
                if not opened:
                    raise DocumentError(
                        "the PDF is encrypted and needs a password to open; "
                        "save a copy without a password"
                    )
            pages = [_page_text(page) for page in reader.pages]
        except DocumentError:
            raise
        except FileNotDecryptedError:
            raise DocumentError(
                "the PDF is encrypted and needs a password to open; save a copy without a password"
            ) from None
        except Exception as exc:  # pypdf raises many kinds on broken files
            raise DocumentError(f"not a readable PDF ({_reason(exc)})") from None
        info = _pdf_info(reader)
    if not pages:
        raise DocumentError("the PDF has no pages")
    if not any(pages):
        raise DocumentError(
            f"no text layer: none of its {len(pages)} page(s) has text to extract (a scanned "
            "document?); run it through OCR or upload the text"
        )
    sections = []
    for number, paragraphs in enumerate(pages, start=1):
        if paragraphs:
            sections.append("\n\n".join([f"# Page {number}", *paragraphs]))
    title = info.pop("title", "") or _title_line(pages)
    return Document(title=title, text="\n\n".join(sections), meta=info)


def read_docx(data: bytes) -> Document:
    """The text of a Word file: headings as Markdown headings, then paragraphs, list items
    and table rows in reading order.

    Raises:
        DocumentError: the file is not a readable .docx (an old .doc, a password-protected
            file, a broken zip) or expands to too much.
    """
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    if data.startswith(_OLE_SIGNATURE):
        raise DocumentError(
            "not a .docx but an OLE container: a password-protected Word file or an old "
            ".doc; save it as a .docx without a password"
        )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            expanded = sum(i.file_size for i in archive.infolist())
    except zipfile.BadZipFile as exc:
        raise DocumentError(f"not a readable Word .docx file ({_reason(exc)})") from None
    if expanded > MAX_DOCX_EXPANDED_BYTES:
        raise DocumentError(
            f"the .docx expands to {expanded:,} bytes, over {MAX_DOCX_EXPANDED_BYTES:,}"
        )
    try:
        document = docx.Document(io.BytesIO(data))
        lines: list[str] = []
        first_title = ""
        for block in document.iter_inner_content():
            if isinstance(block, Paragraph):
                line, is_title = _paragraph_line(block)
                if is_title and not first_title:
                    first_title = _collapse(block.text)
                if line:
                    lines.append(line)
            elif isinstance(block, Table):
                lines.extend(_table_lines(block))
        meta = _docx_properties(document.core_properties)
    except Exception as exc:  # python-docx raises many kinds on broken files
        raise DocumentError(f"not a readable Word .docx file ({_reason(exc)})") from None
    # The Title paragraph is what readers see; the property is often a template's leftover.
    title = first_title or meta.pop("title", "")
    meta.pop("title", None)
    return Document(title=title, text="\n\n".join(lines), meta=meta)


# ---------------------------------------------------------------------------- PDF


def _page_text(page: Any) -> list[str]:
    """The paragraphs of one page: lines joined, blank lines and short lines ending them."""
    raw = page.extract_text() or ""
    lines = [_clean(line) for line in raw.split("\n")]
    width = max((len(line) for line in lines), default=0)
    paragraphs: list[str] = []
    current: list[str] = []
    for line in lines:
        if not line:
            _flush(current, paragraphs)
            continue
        if current and (_LIST_MARKER.match(line) or _ends_paragraph(current[-1], line, width)):
            _flush(current, paragraphs)
        current.append(line)
    _flush(current, paragraphs)
    return paragraphs


def _ends_paragraph(previous: str, line: str, width: int) -> bool:
    """Whether ``previous`` is a paragraph's last line (or a heading) rather than a line a
    sentence wraps from. Joining too much costs little (sentences are split again); cutting
    a sentence in two would quote half of it, so only clear ends count."""
    ends_sentence = _SENTENCE_END.search(previous) is not None
    if ends_sentence and len(previous) < 0.85 * width:
        return True
    if ends_sentence and _looks_like_heading(line, width):
        return True
    # A line far shorter than the page's lines is a heading, a list item or a last line.
    return len(previous) < 0.6 * width and not previous.endswith((",", "-"))


def _looks_like_heading(line: str, width: int) -> bool:
    return (
        len(line) < 0.6 * width
        and not line.endswith((".", ",", ";", ":", "-"))
        and line[:1].isupper()
    )


def _flush(current: list[str], paragraphs: list[str]) -> None:
    if not current:
        return
    text = current[0]
    for line in current[1:]:
        # A word hyphenated across lines keeps its hyphen ("anti-" + "inflammatory").
        text += line if text.endswith("-") and line[:1].islower() else " " + line
    paragraphs.append(_defuse(text))
    current.clear()


def _title_line(pages: list[list[str]]) -> str:
    """The first paragraph of the first page with text, when it reads as a title."""
    first = next((p for p in pages if p), [])
    if not first:
        return ""
    line = first[0].strip()
    if len(line) <= 120 and not line.endswith((".", ",", ";", ":")):
        return line
    return ""


def _pdf_info(reader: Any) -> dict[str, Any]:
    """Title, publisher (``/Author``) and published date (``/CreationDate``) of a PDF.

    ``/Creator`` and ``/Producer`` name the programs that made the file, not a publisher,
    and the modification date says when the file was saved, not when it was reviewed.
    """
    meta: dict[str, Any] = {}
    try:
        info = reader.metadata
    except Exception:  # broken info dictionary: no properties
        return meta
    if info is None:
        return meta
    for key, name in (("title", "/Title"), ("publisher", "/Author")):
        with contextlib.suppress(Exception):
            value = _collapse(str(info.get(name) or ""))
            if value.lower() not in _PLACEHOLDERS:
                meta[key] = value
    with contextlib.suppress(Exception):  # a malformed date is no date
        created = info.creation_date
        if isinstance(created, dt.datetime):
            meta["published"] = created.date().isoformat()
    return meta


# ---------------------------------------------------------------------------- DOCX


def _paragraph_line(paragraph: Any) -> tuple[str, bool]:
    """The paragraph as a line of article text, and whether it is the Title paragraph."""
    text = _clean(paragraph.text)
    if not text:
        return "", False
    style = paragraph.style
    names = {str(getattr(style, "name", "") or ""), str(getattr(style, "style_id", "") or "")}
    if names & {"Title"}:
        return "# " + text, True
    for name in names:
        match = _HEADING_STYLE.match(name)
        if match:
            return "#" * min(int(match.group(1)) + 1, 6) + " " + text, False
    p_pr = paragraph._p.pPr
    numbered = p_pr is not None and p_pr.numPr is not None
    if numbered or any(n.lower().startswith("list") for n in names):
        return "- " + text, False
    return _defuse(text), False


def _table_lines(table: Any) -> Iterator[str]:
    for row in table.rows:
        cells: list[str] = []
        previous = None
        for cell in row.cells:
            if cell._tc is previous:  # a merged cell is listed once per grid column
                continue
            previous = cell._tc
            cells.append(_clean(cell.text))
        if any(cells):
            yield "| " + " | ".join(cells) + " |"


def _docx_properties(properties: Any) -> dict[str, Any]:
    """Title, publisher (the author) and published date (when the file was created).

    The modified and last-printed dates change with any save or print, so neither counts as
    a review; a review date comes from the sidecar.
    """
    meta: dict[str, Any] = {}
    title = _collapse(properties.title or "")
    if title.lower() not in _PLACEHOLDERS:
        meta["title"] = title
    author = _collapse(properties.author or "")
    if author.lower() not in _PLACEHOLDERS:
        meta["publisher"] = author
    created = properties.created
    if isinstance(created, dt.datetime):
        aware = created if created.tzinfo else created.replace(tzinfo=dt.UTC)
        if aware != _DOCX_TEMPLATE_CREATED:
            meta["published"] = created.date().isoformat()
    return meta


# ---------------------------------------------------------------------------- text


def _clean(text: str) -> str:
    """One line of extracted text: ligatures spelt out, control characters dropped,
    whitespace collapsed."""
    text = text.translate(_LIGATURES)
    text = "".join(" " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch for ch in text)
    return _collapse(text)


def _collapse(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _defuse(line: str) -> str:
    """A text line that would read as a Markdown heading, indented so that it does not."""
    return " " + line if _MD_HEADING_START.match(line) else line


def _reason(exc: BaseException) -> str:
    """What a parser's exception says, in one line (its class name when it says nothing)."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return message.strip(" .") or type(exc).__name__


@contextlib.contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    """Keep a library's warnings about a broken file off the console: the failure is
    reported with its reason instead."""
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
