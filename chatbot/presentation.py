"""Text for people: answers as safe Markdown, as copyable plain text, passages with highlights.

Article and user text reaches a Markdown renderer only through :func:`escape_markdown`, which
backslash-escapes every character Markdown (and Streamlit's extensions: ``$`` maths, ``:``
directives and emoji) could read as syntax, so ``<script>``, ``<img onerror=...>`` and
``[x](javascript:...)`` show as the characters they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from urllib.parse import quote, urlsplit

from chatbot.answering import Answer, Citation
from chatbot.chunking import Chunk
from chatbot.provenance import STALE_NOTE

# Every ASCII punctuation character CommonMark lets a backslash escape.
_MARKDOWN_SPECIAL = re.compile(r"""([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~])""")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def escape_markdown(text: str) -> str:
    """``text`` as Markdown that renders to exactly these characters, never to markup.

    Example:
        >>> escape_markdown("<b>[x](javascript:alert(1))</b>")
        '\\\\<b\\\\>\\\\[x\\\\]\\\\(javascript\\\\:alert\\\\(1\\\\)\\\\)\\\\</b\\\\>'
    """
    return _MARKDOWN_SPECIAL.sub(r"\\\1", _CONTROL.sub("", text))


def answer_markdown(answer: Answer) -> str:
    """The answer's text as Markdown: escaped, with its ``- `` list lines kept as a list."""
    return markdown_lines(answer.answer)


def markdown_lines(text: str) -> str:
    """``text`` as Markdown: escaped, with its ``- `` list lines kept as a list."""
    lines = []
    for line in text.split("\n"):
        if line.startswith("- "):
            lines.append("- " + escape_markdown(line[2:]))
        else:
            lines.append(escape_markdown(line))
    return "\n".join(lines)


def showing_results_for(corrected: str) -> str:
    """The line that tells the user which spelling was searched."""
    return f"Showing results for: {corrected}"


def cited_articles(answer: Answer) -> tuple[str, ...]:
    """The article ids an answer cites, in order, once each (a follow-up searches them
    first)."""
    return tuple(dict.fromkeys(c.article_id for c in answer.citations))


def source_label(citation: Citation) -> str:
    """``[n] Title › Section``: how a source is named in a list."""
    where = citation.title + (f" › {citation.section}" if citation.section else "")
    return f"[{citation.n}] {where}"


def freshness(citation: Citation) -> str:
    """The cited article's dates and whether it may be out of date, e.g. ``published
    2019-03-01 · reviewed 2021-05-02 · may be out of date`` (``""`` when it has no dates)."""
    parts = []
    if citation.published:
        parts.append(f"published {citation.published}")
    if citation.reviewed:
        parts.append(f"reviewed {citation.reviewed}")
    if citation.stale:
        parts.append(STALE_NOTE)
    return " · ".join(parts)


def stale_warning(citation: Citation, after_days: int) -> str:
    """Why a cited article may be out of date, in words (plain text: escape it to draw it)."""
    what, day = (
        ("reviewed", citation.reviewed) if citation.reviewed else ("published", citation.published)
    )
    return (
        f"This article {STALE_NOTE}: it was last {what} on {day}, more than {after_days} days "
        "ago. Check a current source or ask a health professional."
    )


def stale_sources(citations: Sequence[Citation]) -> str:
    """One line naming the sources that may be out of date (``""`` when none is), e.g.
    ``Sources [2], [3] may be out of date: check a current source.``"""
    numbers = [f"[{g[0].n}]" for g in source_groups(citations) if g[0].stale]
    if not numbers:
        return ""
    which = f"Source {numbers[0]}" if len(numbers) == 1 else f"Sources {', '.join(numbers)}"
    return f"{which} {STALE_NOTE}: check a current source."


def source_link(citation: Citation) -> str:
    """A Markdown link to the cited article's ``source_url``: its text escaped, its address
    percent-encoded; ``""`` unless the address is http(s)."""
    url = citation.source_url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return ""
    target = quote(url, safe="/:?#@!$&*+,;=%~-._")  # no spaces, brackets, quotes or <>
    return f"[{escape_markdown(url)}]({target})"


def source_groups(citations: Sequence[Citation]) -> list[list[Citation]]:
    """The citations grouped by source number: the sentences of one passage, one card."""
    groups: dict[int, list[Citation]] = {}
    for c in citations:
        groups.setdefault(c.n, []).append(c)
    return list(groups.values())


def plain_text(answer: Answer) -> str:
    """The answer, its sources and the disclaimer as plain text, ready to paste anywhere."""
    parts = [answer.answer.strip()]
    if answer.corrected_query:
        parts.insert(0, showing_results_for(answer.corrected_query))
    if answer.uncovered:
        parts.append("Not covered by the articles: " + ", ".join(answer.uncovered))
    if answer.citations:
        sources = []
        for group in source_groups(answer.citations):
            c = group[0]
            by = f", {c.publisher}" if c.publisher else ""
            spans = ", ".join(f"{g.start}-{g.end}" for g in group)
            line = f"{source_label(c)}{by} ({c.article_id}, characters {spans})"
            about = " · ".join(x for x in (freshness(c), c.source_url) if x)
            sources.append(f"{line}\n    {about}" if about else line)
        parts.append("Sources:\n" + "\n".join(sources))
    parts.append(answer.disclaimer)
    return "\n\n".join(parts)


def passage_of(chunks: Iterable[Chunk], citation: Citation) -> Chunk | None:
    """The indexed chunk that holds the cited sentence (``None`` if no chunk does)."""
    for chunk in chunks:
        if chunk.article_id == citation.article_id and chunk.start <= citation.start < chunk.end:
            return chunk
    return None


def highlighted_passage(passage: Chunk, citation: Citation | Sequence[Citation]) -> str:
    """The passage as escaped Markdown with the quoted sentences in bold.

    A quote that is not inside the passage is left unmarked.
    """
    cited = [citation] if isinstance(citation, Citation) else list(citation)
    text = passage.text
    spans: list[tuple[int, int]] = []
    for c in sorted(cited, key=lambda c: c.start):
        start = c.start - passage.start
        end = min(c.end, passage.end) - passage.start
        if 0 <= start < end <= len(text) and (not spans or start >= spans[-1][1]):
            spans.append((start, end))
    out, pos = [], 0
    for start, end in spans:
        out.append(escape_markdown(text[pos:start]))
        out.append("**" + escape_markdown(" ".join(text[start:end].split())) + "**")
        pos = end
    out.append(escape_markdown(text[pos:]))
    return "".join(out)


def topics(titles: Sequence[str]) -> str:
    """The articles' titles as an escaped Markdown list."""
    return "\n".join(f"- {escape_markdown(t)}" for t in sorted(titles))
