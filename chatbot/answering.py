"""Answer a question with sentences quoted from the retrieved passages, each one cited.

The answer stage never writes a claim of its own: every sentence of an answer is a sentence
of a cited article, character for character, followed by its ``[n]`` marker, and
``article.text[start:end] == quote`` for its citation. What the articles do not cover is
refused, emergencies are answered with emergency guidance before anything else, and personal
dosing requests get no dosing instruction.
"""

from __future__ import annotations

import re
import time
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

from chatbot import safety
from chatbot.chunking import embedding_text, split_sentences
from chatbot.config import Settings
from chatbot.lexical import tokenize
from chatbot.reranking import Reranker
from chatbot.retrieval import Hit, Retriever

Status = Literal["answered", "no_answer", "emergency"]
Tier = Literal["emergency", "urgent", "none"]

# Sentences that tell a reader when to get medical help.
_CONTACT = re.compile(
    r"\b(contact (?:your|a)|report(?:ed)? (?:any |them |it )?(?:\w+ )?(?:promptly|immediately|"
    r"right away|to (?:your|a))|seek (?:medical|urgent)|urgent evaluation|prompt medical "
    r"attention|call (?:your|a) (?:doctor|healthcare))",
    re.IGNORECASE,
)
# Sentences that state an amount or schedule of a drug.
_DOSE = re.compile(
    r"\b\d+(?:\.\d+)?\s?(?:mg|g|ml|mcg|µg|units?|iu)\b|\b(?:dose|dosage|doses|dosing)\b",
    re.IGNORECASE,
)
_ANSWER_WORDS = 120


@dataclass(frozen=True)
class Citation:
    """A quoted sentence: ``quote`` is ``article.text[start:end]``."""

    n: int
    article_id: str
    title: str
    publisher: str
    section: str
    quote: str
    start: int
    end: int


@dataclass(frozen=True)
class Answer:
    """A reply: its status, the standalone query, the text, its citations and the disclaimer.

    ``tier`` says how the ways in present it: ``emergency`` (``alert`` holds the emergency
    guidance, drawn first and most prominently; any cited answer to a question in the same
    message follows in ``answer`` after it), ``urgent`` (``alert`` holds "contact your doctor
    today", drawn above the answer) or ``none``. ``answer`` always starts with ``alert``, so
    a client that shows ``answer`` alone still shows the guidance first. ``categories`` names
    the emergency categories found.
    """

    status: Status
    query: str
    answer: str
    citations: tuple[Citation, ...] = ()
    disclaimer: str = safety.DISCLAIMER
    flags: tuple[str, ...] = ()
    latency_ms: float = 0.0
    tier: Tier = "none"
    alert: str = ""
    categories: tuple[str, ...] = ()

    @property
    def body(self) -> str:
        """The answer after its alert: the cited text, or the refusal."""
        return self.answer[len(self.alert) :].strip() if self.alert else self.answer

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["citations"] = [asdict(c) for c in self.citations]
        data["flags"] = list(self.flags)
        data["categories"] = list(self.categories)
        return data


@dataclass(frozen=True)
class Turn:
    """One earlier message of the conversation."""

    role: Literal["user", "assistant"]
    content: str


class Answerer(Protocol):
    """Builds the answer text and citations from the question and the retrieved hits."""

    def answer(
        self, query: str, hits: Sequence[Hit], articles: dict[str, Any], *, dosing: bool
    ) -> tuple[str, tuple[Citation, ...]]: ...


@dataclass
class _Sentence:
    hit: Hit
    start: int  # offsets in the article
    end: int
    text: str
    score: float = 0.0
    order: int = 0
    tags: set[str] = field(default_factory=set)


class ExtractiveAnswerer:
    """Picks the sentences of the best passages that match the question best.

    The first sentence is the one that answers most directly: of the best passage's
    sentences, the one the cross-encoder rates highest for the question (with the passage's
    title and section as context), or without a reranker the one with the most query terms.
    Supporting sentences follow from the passages with strong evidence, from
    several articles when the question spans them; a sentence on when to contact a doctor is
    added when the cited articles have one. About ``max_words`` words in all.
    """

    def __init__(
        self,
        max_words: int = _ANSWER_WORDS,
        min_evidence: float = 0.5,
        reranker: Reranker | None = None,
    ) -> None:
        self.max_words = max_words
        self.min_evidence = min_evidence
        self.reranker = reranker

    def answer(
        self, query: str, hits: Sequence[Hit], articles: dict[str, Any], *, dosing: bool
    ) -> tuple[str, tuple[Citation, ...]]:
        terms = set(tokenize(query))
        strong = [h for h in hits if h.evidence >= self.min_evidence] or list(hits[:1])
        candidates = []
        for rank, hit in enumerate(strong):
            for sentence in _sentences(hit):
                overlap = len(terms & set(tokenize(sentence.text))) / max(1, len(terms))
                sentence.score = 2.0 * overlap + hit.evidence - 0.15 * rank - 0.02 * sentence.order
                if overlap == 0 and rank > 0:
                    sentence.tags.add("off_topic")
                if _CONTACT.search(sentence.text):
                    sentence.tags.add("contact")
                if _DOSE.search(sentence.text):
                    sentence.tags.add("dose")
                candidates.append(sentence)
        if dosing:
            candidates = [s for s in candidates if "dose" not in s.tags]
        if not candidates:
            return "", ()
        # The lead answers most directly: the best sentence of the passage the reranker put
        # first (it judged the whole passage, not single words).
        top = [s for s in candidates if s.hit.chunk_id == strong[0].chunk_id] or candidates
        lead = self._lead(query, top)
        chosen = [lead]
        words = len(lead.text.split())
        for sentence in sorted(candidates, key=lambda s: -s.score):
            if words >= self.max_words * 0.8:
                break
            if "off_topic" in sentence.tags or any(_same(sentence, c) for c in chosen):
                continue
            n = len(sentence.text.split())
            if words + n > self.max_words:
                continue
            chosen.append(sentence)
            words += n
        articles_used = {s.hit.article_id for s in chosen}
        for hit in strong:  # a second article that answers strongly gets its best sentence
            if hit.article_id not in articles_used and hit.evidence >= 0.9:
                best = max(
                    (s for s in candidates if s.hit.article_id == hit.article_id),
                    key=lambda s: s.score,
                    default=None,
                )
                if best is not None:
                    chosen.append(best)
                    articles_used.add(hit.article_id)
        chosen = _drop_dangling(chosen, keep=lead)
        if not any("contact" in s.tags for s in chosen):
            contact = [
                s for s in candidates if "contact" in s.tags and s.hit.article_id in articles_used
            ]
            if contact:
                chosen.append(max(contact, key=lambda s: s.score))
        rest = sorted(chosen[1:], key=lambda s: ("contact" in s.tags, s.hit.rank, s.order))
        return _render([lead, *rest], articles)

    def _lead(self, query: str, top: Sequence[_Sentence]) -> _Sentence:
        """The sentence of the best passage that answers ``query`` most directly.

        Query terms alone favour a sentence that repeats the question's words. On the gold
        set (`chatbot eval`, "key fact in first sentence") the cross-encoder's choice opens
        68% of in-scope answers with a key fact, against 57% by terms, for about 25 ms of
        `ask` p50 (a few short sentences).
        """
        if self.reranker is None or len(top) == 1:
            return max(top, key=lambda s: (s.score, -s.order))
        texts = [embedding_text(s.hit.title, s.hit.section, s.text) for s in top]
        logits = self.reranker.score(query, texts)
        return top[int(np.argmax(logits))]


_DANGLING = re.compile(r"^(?:These|This|It|They|Such|Those|Its|Their|If so|Yes|In these)\b")


def _drop_dangling(chosen: list[_Sentence], keep: _Sentence) -> list[_Sentence]:
    """Drop a sentence that opens with a pronoun ("These include ...") when the sentence it
    refers back to is not in the answer; out of context it would mislead."""
    present = {(s.hit.chunk_id, s.order) for s in chosen}
    return [
        s
        for s in chosen
        if s is keep or not _DANGLING.match(s.text) or (s.hit.chunk_id, s.order - 1) in present
    ]


def _sentences(hit: Hit) -> list[_Sentence]:
    """The prose sentences of a hit with article offsets, line by line (list markers
    stripped; table rows, questions, lead-ins ending in ':' and fragments left out)."""
    out: list[_Sentence] = []
    pos = 0
    for line in hit.text.split("\n"):
        line_start, pos = pos, pos + len(line) + 1
        if line.lstrip().startswith(("|", "#")):
            continue
        for s, e in split_sentences(hit.text, line_start, line_start + len(line)):
            marker = re.match(r"[-*+•]\s+", hit.text[s:e])
            if marker:
                s += marker.end()
            text = hit.text[s:e]
            if len(text.split()) < 4 or text.rstrip().endswith(("?", ":")):
                continue
            out.append(
                _Sentence(
                    hit=hit, start=hit.start + s, end=hit.start + e, text=text, order=len(out)
                )
            )
    return out


def _same(a: _Sentence, b: _Sentence) -> bool:
    return (a.hit.article_id, a.start) == (b.hit.article_id, b.start) or a.text == b.text


def _render(
    sentences: Sequence[_Sentence], articles: dict[str, Any]
) -> tuple[str, tuple[Citation, ...]]:
    citations = []
    parts = []
    for n, s in enumerate(sentences, start=1):
        record = articles[s.hit.article_id]
        meta = record.meta or {}
        citations.append(
            Citation(
                n=n,
                article_id=s.hit.article_id,
                title=s.hit.title,
                publisher=str(meta.get("publisher") or meta.get("author") or ""),
                section=s.hit.section,
                quote=s.text,
                start=s.start,
                end=s.end,
            )
        )
        parts.append(f"{s.text} [{n}]")
    return " ".join(parts), tuple(citations)


class Chatbot:
    """Questions in, cited answers out.

    Example:
        >>> bot = Chatbot.from_settings(Settings.from_env())
        >>> answer = bot.ask("Can Dupixent cause nerve pain?")
        >>> answer.status, answer.citations[0].article_id
        ('answered', 'dupixent-nerve-pain')
    """

    def __init__(
        self,
        retriever: Retriever,
        answerer: Answerer | None = None,
        settings: Settings | None = None,
        detector: safety.Detector | None = None,
    ) -> None:
        self.retriever = retriever
        self.answerer = answerer or ExtractiveAnswerer(reranker=retriever.reranker)
        self.settings = settings or retriever.settings
        self.detector = detector or safety.load_detector(self.settings.triage_detector)

    @classmethod
    def from_settings(cls, settings: Settings) -> Chatbot:
        return cls(Retriever.from_settings(settings), settings=settings)

    def ask(
        self,
        question: str,
        history: Sequence[Turn | dict[str, str]] = (),
        articles: Collection[str] | None = None,
    ) -> Answer:
        """Answer ``question``, reading earlier turns to resolve a follow-up.

        Args:
            question: what the user asked.
            history: earlier turns, oldest first.
            articles: answer from these article ids only (``None``: all of them).
        """
        started = time.perf_counter()
        triage = safety.triage(question, detector=self.detector)
        flags = list(triage.flags)
        # An emergency shows every triage message first; otherwise the dosing note goes with
        # the answer it qualifies, and the alert is the urgent note, if any.
        shown = [m for m in triage.messages if triage.is_emergency or m != safety.DOSING_MESSAGE]
        alert = "\n\n".join(shown)

        def done(status: Status, query: str, text: str, cites: tuple[Citation, ...] = ()) -> Answer:
            return Answer(
                status=status,
                query=query,
                answer=f"{alert}\n\n{text}".strip() if alert else text,
                citations=cites,
                flags=tuple(dict.fromkeys(flags)),
                latency_ms=round((time.perf_counter() - started) * 1000, 1),
                tier=triage.tier,
                alert=alert,
                categories=triage.categories,
            )

        if triage.status == "empty":
            return done("no_answer", "", "Please type a question about the articles.")
        dosing = "dosing" in triage.flags
        if triage.is_emergency:
            # Guidance first; a question asked in the same message is answered below it.
            asked = article_question(triage.question)
            if asked is None:
                return done("emergency", triage.question, "")
            cited = self._cited(asked, articles, dosing)
            if cited is None:
                return done("emergency", asked, "")
            return done("emergency", asked, f"You also asked: {asked}\n\n{cited[0]}", cited[1])
        query = rewrite_followup(triage.question, _user_turns(history))
        if query != triage.question:
            flags.append("rewritten")
        cited = self._cited(query, articles, dosing)
        if cited is None:
            flags.append("low_evidence")
            return done("no_answer", query, self._no_answer())
        text, citations = cited
        if dosing:
            text = f"{safety.DOSING_MESSAGE}\n\nWhat the articles say in general: {text}"
        return done("answered", query, text, citations)

    def _cited(
        self, query: str, articles: Collection[str] | None, dosing: bool
    ) -> tuple[str, tuple[Citation, ...]] | None:
        """The cited text answering ``query``, or ``None`` when the evidence is too weak."""
        hits = self.retriever.search(query, k=self.settings.answer_passages, articles=articles)
        if not hits or hits[0].evidence < self.settings.answer_min_evidence:
            return None
        text, citations = self.answerer.answer(
            query, hits, self.retriever.index.articles, dosing=dosing
        )
        return (text, citations) if citations else None

    def _no_answer(self) -> str:
        titles = sorted(r.title for r in self.retriever.index.articles.values())
        topics = "\n".join(f"- {t}" for t in titles)
        return (
            "I'm sorry, the articles I can draw on don't cover this, so I can't answer it "
            "reliably. They cover:\n\n"
            f"{topics}\n\nFor anything else, please ask a doctor, nurse or pharmacist."
        )


# ---------------------------------------------------------------------- emergencies

_QUESTION_START = re.compile(
    r"^(?:(?:and|also|but|btw|anyway|oh|ok|so|plus)\W+)*((?:can|could|does|do|did|is|are|was|"
    r"will|would|should|how|what|which|why|when|where|who)\b.*)$",
    re.IGNORECASE,
)


def article_question(message: str) -> str | None:
    """The question about the articles asked in a message that also reports an emergency:
    the last clause of a sentence ending in "?" that starts as a question, or ``None``.

    Example:
        >>> article_question("my lips are swelling after ivig, also does ivig help cidp?")
        'does ivig help cidp?'
    """
    for sentence in reversed(safety.sentences(message)):
        if not sentence.rstrip().endswith("?"):
            continue
        for clause in reversed(re.split(r"[,:;]|\s-\s|\.\.\.", sentence)):
            match = _QUESTION_START.match(clause.strip())
            if match and len(match.group(1).split()) >= 3:
                return match.group(1).strip()
    return None


# ---------------------------------------------------------------------- follow-ups

# Topics the articles discuss, with the words that name them.
_TOPICS = {
    "Dupixent": ("dupixent", "dupilumab"),
    "immunotherapy": ("immunotherapy", "checkpoint inhibitor", "checkpoint inhibitors"),
    "lupus": ("lupus", "sle"),
    "IVIG": ("ivig", "immunoglobulin", "ivig therapy"),
    "immune-mediated neuropathy": ("immune-mediated neuropathy", "autoimmune neuropathy"),
    "EGPA": ("egpa",),
    "CIDP": ("cidp",),
    "Guillain-Barré syndrome": ("guillain-barré", "guillain-barre", "gbs"),
}
_SUBJECTS = ("nerve pain", "neuropathy", "nerve damage", "numbness", "tingling")
_PRONOUN = re.compile(r"\b(it|that|this|they|them|these|those)\b", re.IGNORECASE)
_WHAT_ABOUT = re.compile(r"^\s*(?:and\s+)?(?:what|how)\s+about\s+(.+?)\s*\??\s*$", re.IGNORECASE)


def _user_turns(history: Sequence[Turn | dict[str, str]]) -> list[str]:
    turns = []
    for turn in history:
        role = turn.role if isinstance(turn, Turn) else turn.get("role", "user")
        content = turn.content if isinstance(turn, Turn) else turn.get("content", "")
        if role == "user" and content.strip():
            turns.append(content.strip())
    return turns


def _topic(text: str) -> str | None:
    lowered = text.lower()
    for name, words in _TOPICS.items():
        if any(re.search(rf"\b{re.escape(w)}\b", lowered) for w in words):
            return name
    return None


def _topic_span(text: str) -> tuple[int, int] | None:
    lowered = text.lower()
    for words in _TOPICS.values():
        for w in sorted(words, key=len, reverse=True):
            m = re.search(rf"\b{re.escape(w)}\b", lowered)
            if m:
                return m.start(), m.end()
    return None


def rewrite_followup(question: str, previous_questions: Sequence[str]) -> str:
    """A standalone query for a follow-up question, using the earlier user questions.

    - "what about lupus?" after "Can Dupixent cause nerve pain?" → "Can lupus cause nerve pain?"
    - "how is it treated?" after "Can lupus cause nerve pain?" → "how is lupus nerve pain treated?"
    - a question that names its own topic is returned unchanged.
    """
    question = question.strip()
    previous = next((q for q in reversed(previous_questions) if _topic(q)), None)
    if previous is None:
        return question
    earlier_topic = _topic(previous)
    subject = next((s for s in _SUBJECTS if s in previous.lower()), "")
    about = _WHAT_ABOUT.match(question)
    if about:
        new_topic = about.group(1).strip(" ?")
        span = _topic_span(previous)
        if span is not None:
            return previous[: span[0]] + new_topic + previous[span[1] :]
        return f"{previous.rstrip(' ?')} {new_topic}?"
    if _topic(question) is not None:
        return question
    if _PRONOUN.search(question) or len(question.split()) <= 4:
        topic = earlier_topic or ""
        phrase = f"{topic} {subject}".strip() if subject not in question.lower() else topic
        if _PRONOUN.search(question):
            return _PRONOUN.sub(phrase, question, count=1)
        return f"{question.rstrip(' ?')} ({phrase})?"
    return question
