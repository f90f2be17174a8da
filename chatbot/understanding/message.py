"""What a message asks, once the wrapping around it is taken away.

Patients paste questions inside HTML, e-mail replies, chat-template markup, JSON from another
tool or ticket headers, and tell a long story before the question. :func:`clean` removes the
wrapping (HTML is parsed with the standard library's parser, never rendered; the other junk
patterns are in ``data/message_noise.yaml``). :func:`questions` then finds the question or
questions in what is left: several self-standing questions are answered one by one, and a
long story is cut down to its question and the sentences that mean most to the articles
(ranked by a ``relevance`` function, the embedder's similarity to the indexed passages).

Example:
    >>> clean("<p>I&#39;d like to know: <b>what is CIDP?</b></p><p>Regards</p>")
    "I'd like to know: what is CIDP?\\nRegards"
    >>> questions("what is IVIG made from? and separately, can immunotherapy make my hands numb")
    ['what is IVIG made from?', 'can immunotherapy make my hands numb']
"""

from __future__ import annotations

import functools
import html
import json
import re
from collections.abc import Callable, Sequence
from html.parser import HTMLParser
from importlib import resources

import yaml

from chatbot.safety import sentences
from chatbot.understanding.concepts import topic_of

# A message longer than this (in words) is cut down to its question and context.
LONG_MESSAGE_WORDS = 45
# At most this many questions of one message get an answer of their own.
MAX_QUESTIONS = 3
# Sentences kept from a long message besides its questions.
CONTEXT_SENTENCES = 2

_TAG = re.compile(r"<\s*/?\s*[a-zA-Z!][^<>]*>")
_SKIPPED_TAGS = frozenset({"head", "title", "script", "style", "nav", "button", "footer", "select"})
_BLOCK_TAGS = frozenset(
    {"p", "div", "br", "li", "ul", "ol", "tr", "table", "section", "article", "textarea",
     "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "form", "body", "pre"}
)  # fmt: skip
_QUESTION_WORD = re.compile(
    r"^(?:(?:and|also|but|btw|anyway|oh|ok|okay|so|plus|then|separately|q|question)\W+)*"
    r"(?:can|could|does|do|did|is|are|was|will|would|should|shall|may|might|has|have|how|"
    r"what|what's|whats|which|why|when|where|who|any|anything|i'd like to know|i want to know|"
    r"i wonder|wondering)\b",
    re.IGNORECASE,
)
_POINTS_BACK = re.compile(r"\b(?:it|that|this|these|those|they|them|there)\b", re.IGNORECASE)
_ENUMERATED = re.compile(r"(?:^|\s)\(?\d\)\s+|(?:^|\s)\d\.\s+(?=[a-zA-Z])")
_CLAUSE = re.compile(
    r",?\s+(?:and\s+(?:separately|also)|and|also|plus)\s*,?\s+(?=(?:can|could|does|do|is|are|"
    r"what|how|which|why|when|will|should)\b)|;\s*",
    re.IGNORECASE,
)
_LEADING = re.compile(r"^(?:(?:and|also|plus|separately|then)\b[\s,]*)+", re.IGNORECASE)
_LABEL = re.compile(r"^[A-Za-z][\w' ]{0,30}:\s+")
_JSON_KEYS = ("question", "text", "content", "message", "body", "query", "prompt")


@functools.cache
def _noise() -> tuple[tuple[re.Pattern[str], ...], tuple[re.Pattern[str], ...]]:
    """The junk patterns: spans removed anywhere, and whole lines removed."""
    text = resources.files("chatbot.understanding.data").joinpath("message_noise.yaml")
    data = yaml.safe_load(text.read_text("utf-8"))
    flags = re.IGNORECASE | re.MULTILINE
    return (
        tuple(re.compile(p, flags | re.DOTALL) for p in data["spans"]),
        tuple(re.compile(p, flags) for p in data["lines"]),
    )


class _Text(HTMLParser):
    """The text of an HTML fragment, a line per block, without head, navigation or buttons."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipping += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def _html_text(text: str) -> str:
    parser = _Text()
    parser.feed(text)
    parser.close()
    return "".join(parser.parts)


def _json_text(text: str) -> str | None:
    """The message inside a JSON object pasted from another tool, or ``None``."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    for key in _JSON_KEYS:
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            return value
    strings = [v for v in data.values() if isinstance(v, str)]
    return max(strings, key=len) if strings else None


def clean(message: str) -> str:
    """``message`` without HTML, template markup, e-mail and ticket headers, quote marks and
    list bullets; lines kept, blank ones dropped, repeated labels ("Question: Question:")
    once."""
    text = message.strip()
    if text.startswith("{") and (inner := _json_text(text)) is not None:
        text = inner
    spans, lines = _noise()
    for pattern in spans:
        text = pattern.sub(" ", text)
    if _TAG.search(text):
        text = _html_text(text)
    text = html.unescape(text)
    kept = []
    for raw in text.splitlines():
        line = re.sub(r"^[\s>#*•\-–]+", "", raw).strip()
        if not line or any(p.fullmatch(raw.strip()) or p.fullmatch(line) for p in lines):
            continue
        line = re.sub(r"\b(\w+:)(\s*\1)+", r"\1", line)
        kept.append(" ".join(line.split()))
    return "\n".join(kept)


def is_question(sentence: str) -> bool:
    """Whether a sentence asks something: it ends in "?" or starts as a question does."""
    return sentence.rstrip().endswith("?") or bool(_QUESTION_WORD.match(sentence.strip()))


def _parts(text: str) -> list[str]:
    """Sentences, with numbered items ("1) ... 2) ...") and joined questions ("..., and is
    IVIG ...") apart."""
    out = []
    for sentence in sentences(text):
        for item in _ENUMERATED.split(sentence):
            for clause in _CLAUSE.split(item):
                clause = _LEADING.sub("", clause.strip(" ,:"))
                # "Two things: does lupus ...", "Question for provider: could this ..."
                label = _LABEL.match(clause)
                if label and is_question(clause[label.end() :]):
                    clause = clause[label.end() :]
                if clause:
                    out.append(clause)
    return out


def _self_standing(question: str) -> bool:
    """A question that can be answered without its neighbours: it names the articles'
    subject and does not point back to something said before it."""
    return topic_of(question) is not None and not _POINTS_BACK.search(
        re.sub(r"\b(?:is|does|can|will)\s+(?:it|this|that)\b", "", question, flags=re.I)
    )


def questions(
    message: str, relevance: Callable[[Sequence[str]], Sequence[float]] | None = None
) -> list[str]:
    """The question or questions ``message`` asks, each to be answered on its own.

    Two or more self-standing questions (each naming its subject) are returned apart, at
    most :data:`MAX_QUESTIONS`. A long message (over :data:`LONG_MESSAGE_WORDS` words) is cut
    down to its questions and the :data:`CONTEXT_SENTENCES` other sentences that
    ``relevance`` scores highest, if at least half the best score (without ``relevance``:
    those just before the question), in their order. Anything else is returned whole.
    """
    text = clean(message)
    if not text:
        return []
    parts = _parts(text)
    asked = [p for p in parts if is_question(p) and len(p.split()) >= 3]
    standing = [q for q in asked if _self_standing(q)]
    if len(standing) >= 2 and len(standing) == len(asked):
        return standing[:MAX_QUESTIONS]
    if len(text.split()) <= LONG_MESSAGE_WORDS or len(parts) < 2:
        return [" ".join(text.split())]
    others = [i for i, p in enumerate(parts) if p not in asked]
    if relevance is not None and others:
        scores = relevance([parts[i] for i in others])
        ranked = sorted(zip(scores, others, strict=True), key=lambda p: (-p[0], p[1]))
        floor = ranked[0][0] / 2
        context = {i for s, i in ranked[:CONTEXT_SENTENCES] if s > 0 and s >= floor}
    else:
        first = next((i for i, p in enumerate(parts) if p in asked), len(parts))
        context = {i for i in others if first - CONTEXT_SENTENCES <= i < first}
    keep = [p for i, p in enumerate(parts) if p in asked or i in context]
    return [" ".join(keep)]
