"""PDF and Word files made by the tests themselves (reportlab, python-docx): no binary fixtures.

Each page of a PDF is a list of lines drawn top down; a Word file is a list of
``(style, text)`` blocks, or ``("table", rows)``.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from typing import Any

# The carpal tunnel article as a three-page PDF: the second page is blank, so its pages with
# text are 1 and 3.
CARPAL_PAGES: list[list[str]] = [
    [
        "Carpal Tunnel Syndrome",
        "Carpal tunnel syndrome squeezes the median nerve where it passes through",
        "the wrist and causes numbness in the thumb and first fingers.",
        "Symptoms",
        "Tingling in the fingers is often worse at night and wakes people from sleep.",
    ],
    [],
    [
        "Treatment",
        "A wrist splint worn at night keeps the wrist straight and eases the tingling.",
        "Surgery to release the ligament is offered when splints do not help.",
    ],
]
CARPAL_TEXT = (
    "# Page 1\n\n"
    "Carpal Tunnel Syndrome\n\n"
    "Carpal tunnel syndrome squeezes the median nerve where it passes through the wrist and "
    "causes numbness in the thumb and first fingers.\n\n"
    "Symptoms\n\n"
    "Tingling in the fingers is often worse at night and wakes people from sleep.\n\n"
    "# Page 3\n\n"
    "Treatment\n\n"
    # Two lines of about the page's width are read as one paragraph (sentences are split
    # again when chunking); only a clearly short line or a blank line ends a paragraph.
    "A wrist splint worn at night keeps the wrist straight and eases the tingling. "
    "Surgery to release the ligament is offered when splints do not help."
)


def pdf_bytes(
    pages: Sequence[Sequence[str]],
    *,
    title: str | None = None,
    author: str | None = None,
    encrypt: Any = None,
) -> bytes:
    """A PDF whose pages hold these lines. ``invariant`` output: its creation date is
    2000-01-01, and the same arguments give the same bytes."""
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=(595, 842), encrypt=encrypt, invariant=1)
    if title is not None:
        pdf.setTitle(title)
    if author is not None:
        pdf.setAuthor(author)
    for lines in pages:
        for i, line in enumerate(lines):
            pdf.drawString(72, 780 - 18 * i, line)
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def scan_pdf_bytes(pages: int = 2) -> bytes:
    """A PDF like a scan: every page is an image, no page has text."""
    from PIL import Image
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    image = Image.new("L", (60, 80), color=255)
    for x in range(5, 55):
        for y in range(10, 70, 6):
            image.putpixel((x, y), 0)  # lines of "print"
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=(595, 842), invariant=1)
    for _ in range(pages):
        pdf.drawImage(ImageReader(image), 72, 300, width=450, height=500)
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def encrypted_pdf_bytes(user_password: str, owner_password: str = "owner") -> bytes:
    """The carpal tunnel PDF encrypted (RC4); with an empty user password it opens without
    one, as a PDF with only permission restrictions does."""
    from reportlab.lib import pdfencrypt

    encryption = pdfencrypt.StandardEncryption(user_password, ownerPassword=owner_password)
    return pdf_bytes(CARPAL_PAGES, title="Carpal Tunnel Syndrome", encrypt=encryption)


def docx_bytes(
    blocks: Sequence[tuple[str, Any]],
    *,
    title: str | None = None,
    author: str | None = None,
    created: dt.datetime | None = None,
) -> bytes:
    """A Word file of these blocks: ``("Title", text)``, ``("Heading 1", text)``,
    ``("Normal", text)``, ``("List Bullet", text)``, ``("table", [[cell, ...], ...])``."""
    import docx

    document = docx.Document()
    properties = document.core_properties
    if title is not None:
        properties.title = title
    if author is not None:
        properties.author = author
    if created is not None:
        properties.created = created
    for style, content in blocks:
        if style == "table":
            table = document.add_table(rows=len(content), cols=len(content[0]))
            for r, row in enumerate(content):
                for c, cell in enumerate(row):
                    table.cell(r, c).text = cell
        else:
            document.add_paragraph(content, style=style)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


GOUT_BLOCKS: list[tuple[str, Any]] = [
    ("Title", "Gout and the Nerves"),
    ("Normal", "Gout is a form of arthritis caused by uric acid crystals in the joints."),
    ("Heading 1", "Symptoms"),
    ("Normal", "Gout crystals can press on the tarsal tunnel nerves of the ankle."),
    ("List Bullet", "Burning pain in the sole of the foot"),
    ("List Bullet", "Numbness in the toes"),
    ("Heading 2", "At night"),
    ("Normal", "The pain of a gout flare is often worst in the early hours of the morning."),
    ("Heading 1", "Treatment"),
    ("table", [["Medicine", "Use"], ["Colchicine", "Eases a gout flare"]]),
    ("Normal", "# of flares falls when uric acid is lowered."),
]
GOUT_TEXT = (
    "# Gout and the Nerves\n\n"
    "Gout is a form of arthritis caused by uric acid crystals in the joints.\n\n"
    "## Symptoms\n\n"
    "Gout crystals can press on the tarsal tunnel nerves of the ankle.\n\n"
    "- Burning pain in the sole of the foot\n\n"
    "- Numbness in the toes\n\n"
    "### At night\n\n"
    "The pain of a gout flare is often worst in the early hours of the morning.\n\n"
    "## Treatment\n\n"
    "| Medicine | Use |\n\n"
    "| Colchicine | Eases a gout flare |\n\n"
    " # of flares falls when uric acid is lowered."
)
