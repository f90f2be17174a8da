"""Answer a question with sentences quoted from the retrieved passages, each one cited.

The answer stage never writes a claim of its own: every sentence of an answer is a sentence
of a cited article, character for character, followed by its ``[n]`` marker, and
``article.text[start:end] == quote`` for its citation. What the articles do not cover is
refused, emergencies are answered with emergency guidance before anything else, and personal
dosing requests get no dosing instruction.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict, dataclass, field, replace
from itertools import zip_longest
from typing import Any, Literal, Protocol

from chatbot import provenance, safety, understanding
from chatbot.cache import LruCache
from chatbot.chunking import embedding_text, split_sentences
from chatbot.config import Settings
from chatbot.lexical import tokenize
from chatbot.reranking import Reranker
from chatbot.retrieval import Hit, Retriever
from chatbot.understanding.message import is_question
from chatbot.understanding.vocabulary import expand_shorthand

Status = Literal["answered", "no_answer", "emergency", "conversation"]
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
    """A quoted sentence: ``quote`` is ``article.text[start:end]``.

    ``n`` numbers the passage: sentences of one passage share it (and one source card).
    ``label`` is the list label or heading the quote leans on, shown before it in the
    answer ("Symmetric polyneuropathy: A more general form ...") but not part of the quote.
    ``source_url``, ``published`` and ``reviewed`` are the article's provenance
    (:mod:`chatbot.provenance`; ``""`` when unknown) and ``stale`` says it may be out of
    date: reviewed (else published) more than ``CHATBOT_STALE_AFTER_DAYS`` days ago.
    """

    n: int
    article_id: str
    title: str
    publisher: str
    section: str
    quote: str
    start: int
    end: int
    label: str = ""
    source_url: str = ""
    published: str = ""
    reviewed: str = ""
    stale: bool = False


@dataclass(frozen=True)
class Answer:
    """A reply: its status, the standalone query, the text, its citations and the disclaimer.

    ``tier`` says how the ways in present it: ``emergency`` (``alert`` holds the emergency
    guidance, drawn first and most prominently; any cited answer to a question in the same
    message follows in ``answer`` after it), ``urgent`` (``alert`` holds "contact your doctor
    today", drawn above the answer) or ``none``. ``answer`` always starts with ``alert``, so
    a client that shows ``answer`` alone still shows the guidance first. ``categories`` names
    the emergency categories found.

    ``status`` is ``conversation`` for a reply to a greeting, thanks, "who are you", "what
    can you do", "help", keyboard mashing and the like (no citations; the flag
    ``intent:<name>`` names the intent). ``uncovered`` names what the question asks about
    that no cited sentence speaks to (``["pregnancy"]``): with ``no_answer`` the reason for
    the refusal, with ``answered`` the part of the question left unanswered.

    ``corrected_query`` is the question with its misspelt words corrected, when any were
    ("dupixent numbness" for "dupixsent numbess"; empty otherwise): the ways in show
    "Showing results for: ...". ``language`` is the question's ISO 639-1 code; a question in
    another language than English gets, in its language, the English question to ask
    (flag ``language:<code>``), then the answer to that question. A message that asks
    several self-standing questions gets one :class:`Section` each in ``sections``; its
    ``answer`` and ``citations`` then hold them all, numbered through.

    ``evidence`` is the evidence strength (0-1) of the best passage the answer was read
    from, or for a refusal of the best passage found (0 when nothing was searched: a
    greeting, an empty message). ``answer_id`` names this one reply (random, given by
    :meth:`chatbot.library.Service.ask`, which logs it; empty from :class:`Chatbot`
    itself): feedback on the answer is sent with it.
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
    uncovered: tuple[str, ...] = ()
    corrected_query: str = ""
    language: str = "en"
    sections: tuple[Section, ...] = ()
    evidence: float = 0.0
    answer_id: str = ""

    @property
    def body(self) -> str:
        """The answer after its alert: the cited text, or the refusal."""
        return self.answer[len(self.alert) :].strip() if self.alert else self.answer

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["citations"] = [asdict(c) for c in self.citations]
        data["flags"] = list(self.flags)
        data["categories"] = list(self.categories)
        data["uncovered"] = list(self.uncovered)
        data["sections"] = [s.as_json() for s in self.sections]
        return data


@dataclass(frozen=True)
class Section:
    """The reply to one of several questions asked in one message; ``evidence`` as in
    :class:`Answer`."""

    question: str
    status: Status
    query: str
    answer: str
    citations: tuple[Citation, ...] = ()
    uncovered: tuple[str, ...] = ()
    corrected_query: str = ""
    evidence: float = 0.0

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["citations"] = [asdict(c) for c in self.citations]
        data["uncovered"] = list(self.uncovered)
        return data


@dataclass(frozen=True)
class Standalone:
    """The query searched for one question: ``corrected`` is the question with its spelling
    corrected ("" when nothing was), ``previous`` the articles of the answer a follow-up
    leans on (searched first)."""

    query: str
    corrected: str = ""
    previous: tuple[str, ...] = ()
    rewritten: bool = False


@dataclass(frozen=True)
class Turn:
    """One earlier message of the conversation; for an answer, ``articles`` names the
    article ids it cited (a follow-up searches them first)."""

    role: Literal["user", "assistant"]
    content: str
    articles: tuple[str, ...] = ()


class Answerer(Protocol):
    """Builds the answer from the retrieved hits: candidate sentences first (a
    :class:`Draft`, which the coverage judge reads), then the chosen ones, cited."""

    def draft(
        self,
        query: str,
        hits: Sequence[Hit],
        *,
        dosing: bool = False,
        exclude: Collection[str] | str = (),
    ) -> Draft: ...

    def compose(
        self, draft: Draft, articles: dict[str, Any], concepts: Sequence[Any] = ()
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
    ce: float | None = None  # the cross-encoder's logit for the question, where scored
    label: str = ""  # the list label or heading the sentence leans on


@dataclass
class Draft:
    """The candidate sentences for a query, before any is chosen.

    ``sentences`` are the prose sentences of the passages with strong evidence, best passage
    first; those of the first ``scored`` passages carry the cross-encoder's logit (``ce``).
    """

    query: str
    hits: list[Hit]
    sentences: list[_Sentence]

    @property
    def scored(self) -> list[_Sentence]:
        return [s for s in self.sentences if s.ce is not None]


class ExtractiveAnswerer:
    """Picks the sentences of the best passages that match the question best.

    The first sentence is the one that answers most directly: of the sentences of the
    ``lead_passages`` best passages (one: on the gold set a second passage's sentences opened
    fewer answers with a lead phrase), the one the cross-encoder rates highest for the question
    (with the passage's title and section as context), or without a reranker the one of the
    best passage with the most query terms. Supporting sentences follow from the passages
    with strong evidence, from several articles when the question spans them; scored
    sentences the cross-encoder rates far below the first are left out as drifting to a
    neighbouring topic. A sentence on when to contact a doctor is added when the cited
    articles have one. About ``max_words`` words in all.
    """

    def __init__(
        self,
        max_words: int = _ANSWER_WORDS,
        min_evidence: float = Settings.answer_min_evidence,
        reranker: Reranker | None = None,
        lead_passages: int = 1,
        drift_margin: float = 8.0,
    ) -> None:
        self.max_words = max_words
        self.min_evidence = min_evidence
        self.reranker = reranker
        self.lead_passages = lead_passages
        self.drift_margin = drift_margin

    def answer(
        self, query: str, hits: Sequence[Hit], articles: dict[str, Any], *, dosing: bool
    ) -> tuple[str, tuple[Citation, ...]]:
        return self.compose(self.draft(query, hits, dosing=dosing), articles)

    def draft(
        self,
        query: str,
        hits: Sequence[Hit],
        *,
        dosing: bool = False,
        exclude: Collection[str] | str = (),
    ) -> Draft:
        """The candidate sentences of ``hits`` for ``query``, scored; sentences in
        ``exclude`` (texts, or the text of an earlier reply) are left out as already shown,
        and dose statements when ``dosing``."""
        terms = set(tokenize(query))
        strong = [h for h in hits if h.evidence >= self.min_evidence] or list(hits[:1])
        candidates = []
        for rank, hit in enumerate(strong):
            for sentence in _sentences(hit):
                if sentence.text in exclude:
                    continue
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
        if self.reranker is not None and candidates:
            lead_ids = {h.chunk_id for h in strong[: self.lead_passages]}
            scored = [s for s in candidates if s.hit.chunk_id in lead_ids] or candidates[:1]
            texts = [embedding_text(s.hit.title, s.hit.section, s.text) for s in scored]
            for sentence, logit in zip(scored, self.reranker.score(query, texts), strict=True):
                sentence.ce = float(logit)
        return Draft(query, strong, candidates)

    def compose(
        self, draft: Draft, articles: dict[str, Any], concepts: Sequence[Any] = ()
    ) -> tuple[str, tuple[Citation, ...]]:
        """The answer's text and citations from ``draft``: the lead, its support, and for
        each of ``concepts`` (anything with ``covered_by(text)``) that a candidate covers
        but the chosen ones do not, the best candidate that covers it."""
        candidates, strong = draft.sentences, draft.hits
        if not candidates:
            return "", ()
        lead = self._lead(draft)
        chosen = [lead]
        words = len(lead.text.split())
        floor = (lead.ce if lead.ce is not None else 0.0) - self.drift_margin
        for sentence in sorted(candidates, key=lambda s: -s.score):
            if words >= self.max_words * 0.8:
                break
            if "off_topic" in sentence.tags or any(_same(sentence, c) for c in chosen):
                continue
            if sentence.ce is not None and lead.ce is not None and sentence.ce < floor:
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
        for concept in concepts:
            if any(concept.covered_by(s.text) for s in chosen):
                continue
            covering = [s for s in candidates if concept.covered_by(s.text)]
            if covering:
                chosen.append(max(covering, key=lambda s: (s.ce or -1e9, s.score)))
                articles_used.add(chosen[-1].hit.article_id)
        chosen = _drop_dangling(chosen, keep=lead)
        if not any("contact" in s.tags for s in chosen):
            contact = [
                s for s in candidates if "contact" in s.tags and s.hit.article_id in articles_used
            ]
            if contact:
                chosen.append(max(contact, key=lambda s: s.score))
        rest = sorted(chosen[1:], key=lambda s: ("contact" in s.tags, s.hit.rank, s.order))
        return _render([lead, *rest], articles)

    def _lead(self, draft: Draft) -> _Sentence:
        """The sentence that answers the query most directly.

        Query terms alone favour a sentence that repeats the question's words; the
        cross-encoder reads the sentence with its passage's title and section. On the gold
        set (`chatbot eval`, "key fact in first sentence") its choice among the best
        passage's sentences opens 68% of in-scope answers with a lead phrase, against 57% by
        terms.
        """
        scored = draft.scored
        if scored:
            return max(scored, key=lambda s: (s.ce, -s.hit.rank, -s.order))
        top = [s for s in draft.sentences if s.hit.chunk_id == draft.hits[0].chunk_id]
        return max(top or draft.sentences, key=lambda s: (s.score, -s.order))


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


# An article's own reference markers after a sentence: "[1]", "[PM13] [PM14]".
_MARKERS = re.compile(r"(?:\s*\[[A-Za-z]{0,3}\d{1,4}\])+\s*$")
_LEADING_MARKERS = re.compile(r"^(?:\[[A-Za-z]{0,3}\d{1,4}\]\s*)+")


def _sentences(hit: Hit) -> list[_Sentence]:
    """The prose sentences of a hit with article offsets, line by line (list markers and the
    article's own reference markers cut off the span; table rows, questions, lead-ins ending
    in ':' and fragments left out).

    The first sentence of a passage that opens a subsection ("Types > Symmetric
    polyneuropathy") is labelled with the subsection's heading, which it may lean on ("A more
    general form where ...").
    """
    out: list[_Sentence] = []
    pos = 0
    heading = hit.section.rsplit(" > ", 1)[-1] if " > " in hit.section else ""
    if heading.endswith("?") or len(heading.split()) > 6:
        heading = ""
    for line in hit.text.split("\n"):
        line_start, pos = pos, pos + len(line) + 1
        if line.lstrip().startswith(("|", "#")):
            continue
        for s, e in split_sentences(hit.text, line_start, line_start + len(line)):
            marker = re.match(r"[-*+•]\s+", hit.text[s:e])
            if marker:
                s += marker.end()
            lead_refs = _LEADING_MARKERS.match(hit.text[s:e])
            if lead_refs:
                s += lead_refs.end()
            refs = _MARKERS.search(hit.text[s:e])
            if refs:
                e = s + refs.start()
            text = hit.text[s:e]
            if len(text.split()) < 4 or text.rstrip().endswith(("?", ":")):
                continue
            label = heading if not out and s == 0 else ""
            out.append(
                _Sentence(
                    hit=hit,
                    start=hit.start + s,
                    end=hit.start + e,
                    text=text,
                    order=len(out),
                    label=label,
                )
            )
    return out


def _same(a: _Sentence, b: _Sentence) -> bool:
    return (a.hit.article_id, a.start) == (b.hit.article_id, b.start) or a.text == b.text


def _render(
    sentences: Sequence[_Sentence], articles: dict[str, Any]
) -> tuple[str, tuple[Citation, ...]]:
    """The answer text and its citations; sentences of one passage share one number."""
    citations = []
    parts = []
    numbers: dict[str, int] = {}
    for s in sentences:
        n = numbers.setdefault(s.hit.chunk_id, len(numbers) + 1)
        found = provenance.provenance_of(articles[s.hit.article_id].meta)
        citations.append(
            Citation(
                n=n,
                article_id=s.hit.article_id,
                title=s.hit.title,
                publisher=found.publisher,
                section=s.hit.section,
                quote=s.text,
                start=s.start,
                end=s.end,
                label=s.label,
                source_url=found.source_url,
                published=found.published,
                reviewed=found.reviewed,
            )
        )
        shown = f"{s.label}: {s.text}" if s.label else s.text
        parts.append(f"{shown} [{n}]")
    return " ".join(parts), tuple(citations)


@dataclass(frozen=True)
class Reading:
    """What the chatbot found for a standalone query: the hits, the candidate sentences, the
    question's concepts and the coverage verdict."""

    query: str
    hits: list[Hit]
    draft: Draft
    concepts: tuple[understanding.Concept, ...]
    coverage: understanding.Coverage


@dataclass(frozen=True)
class Look:
    """A search for a standalone query: its :class:`Reading` (``None`` when no passage
    clears the evidence bar) and the evidence strength of the best passage found."""

    reading: Reading | None
    evidence: float = 0.0


class Chatbot:
    """Questions in, cited answers out.

    Example:
        >>> bot = Chatbot.from_settings(Settings.from_env())
        >>> answer = bot.ask("Can Dupixent cause nerve pain?")
        >>> answer.status, answer.citations[0].article_id
        ('answered', 'dupixent-nerve-pain')
        >>> bot.ask("Is Dupixent safe during pregnancy?").uncovered
        ('pregnancy',)
    """

    def __init__(
        self,
        retriever: Retriever,
        answerer: Answerer | None = None,
        settings: Settings | None = None,
        detector: safety.Detector | None = None,
        reading: understanding.Understanding | None = None,
        today: Callable[[], dt.date] = dt.date.today,
    ) -> None:
        self.retriever = retriever
        # Which cited articles may be out of date is judged on this day (a test fixes it).
        self.today = today
        self.settings = settings or retriever.settings
        self.answerer = answerer or ExtractiveAnswerer(
            min_evidence=self.settings.answer_min_evidence, reranker=retriever.reranker
        )
        self.detector = detector or safety.load_detector(self.settings.triage_detector)
        if reading is None:
            reading = understanding.load_understanding(self.settings.understanding)
            if retriever.reranker is None:
                # The judge reads the cross-encoder's logit; without one, refusal rests on the
                # passage evidence alone.
                reading = understanding.Understanding(reading.reader, understanding.NullJudge())
        self.understanding = reading
        self._vocabulary: tuple[str, understanding.Vocabulary] | None = None
        # Answers to first messages, and the readings (search, rerank, coverage) of
        # standalone queries; both keyed by the index version too, and bounded.
        self.answers: LruCache[Answer] = LruCache(self.settings.answer_cache_size)
        self.readings: LruCache[Look] = LruCache(self.settings.answer_cache_size)

    @classmethod
    def from_settings(cls, settings: Settings) -> Chatbot:
        return cls(Retriever.from_settings(settings), settings=settings)

    @property
    def vocabulary(self) -> understanding.Vocabulary:
        """The words of the indexed articles, rebuilt when the index changes."""
        index = self.retriever.index
        key = f"{index.version}:{len(index)}"
        if self._vocabulary is None or self._vocabulary[0] != key:
            self._vocabulary = (
                key,
                understanding.Vocabulary.from_texts(c.text for c in index.chunks),
            )
        return self._vocabulary[1]

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
        key = None
        if not history:
            # A first message is answered from itself alone: the same text, filter and index
            # version give the same answer, so a repeat is served from the cache.
            key = self._answer_key(question, articles)
            found, cached = self.answers.get(key)
            if found and cached is not None:
                return self._dated(replace(cached, latency_ms=_elapsed_ms(started)))
        answer = self._ask(question, history, articles, started)
        if key is not None:
            self.answers.put(key, answer)
        return self._dated(answer)

    def is_cached(self, question: str, articles: Collection[str] | None = None) -> bool:
        """Whether :meth:`ask` would answer ``question`` (a first message) from the cache."""
        return self._answer_key(question, articles) in self.answers

    def _answer_key(self, question: str, articles: Collection[str] | None) -> tuple[Any, ...]:
        scope = None if articles is None else frozenset(articles)
        return (self.retriever.index.version, question, scope)

    def _dated(self, answer: Answer) -> Answer:
        """``answer`` with each citation marked stale or not as of today (a cached answer
        may have been made on another day)."""
        today = self.today()
        days = self.settings.stale_after_days

        def dated(citations: tuple[Citation, ...]) -> tuple[Citation, ...]:
            return tuple(
                replace(c, stale=provenance.is_stale(c.reviewed or c.published, today, days))
                for c in citations
            )

        if not answer.citations and not answer.sections:
            return answer
        return replace(
            answer,
            citations=dated(answer.citations),
            sections=tuple(replace(s, citations=dated(s.citations)) for s in answer.sections),
        )

    def _ask(
        self,
        question: str,
        history: Sequence[Turn | dict[str, str]],
        articles: Collection[str] | None,
        started: float,
    ) -> Answer:
        triage = safety.triage(question, detector=self.detector)
        flags = list(triage.flags)
        # An emergency shows every triage message first; otherwise the dosing note goes with
        # the answer it qualifies, and the alert is the urgent note, if any.
        shown = [m for m in triage.messages if triage.is_emergency or m != safety.DOSING_MESSAGE]
        alert = "\n\n".join(shown)

        def done(
            status: Status,
            query: str,
            text: str,
            cites: tuple[Citation, ...] = (),
            uncovered: tuple[str, ...] = (),
            *,
            corrected: str = "",
            language: str = understanding.ENGLISH,
            sections: tuple[Section, ...] = (),
            evidence: float = 0.0,
        ) -> Answer:
            return Answer(
                status=status,
                query=query,
                answer=f"{alert}\n\n{text}".strip() if alert else text,
                citations=cites,
                flags=tuple(dict.fromkeys(flags)),
                latency_ms=_elapsed_ms(started),
                tier=triage.tier,
                alert=alert,
                categories=triage.categories,
                uncovered=uncovered,
                corrected_query=corrected,
                language=language,
                sections=sections,
                evidence=evidence,
            )

        if triage.status == "empty":
            return done("no_answer", "", "Please type a question about the articles.")
        dosing = "dosing" in triage.flags
        if triage.is_emergency:
            # Guidance first; a question asked in the same message is answered below it.
            asked = article_question(triage.question)
            if asked is None:
                return done("emergency", triage.question, "")
            look = self.look(asked, articles, dosing)
            cited = self._cited(look.reading)
            if cited is None:
                return done("emergency", asked, "", evidence=look.evidence)
            return done(
                "emergency", asked, f"You also asked: {asked}\n\n{cited[0]}", cited[1],
                evidence=look.evidence,
            )  # fmt: skip
        turns = _turns(history)
        language, wanted = self._questions_of(triage.question)
        if language != understanding.ENGLISH:
            flags.append(f"language:{language}")
            english = wanted[0]
            note = understanding.language_reply(language, english)
            part = self._respond(english, turns, articles, dosing, triage.is_urgent, flags)
            if part.status != "answered":
                return done(
                    "no_answer", part.query, note, language=language, evidence=part.evidence
                )
            return done(
                "answered", part.query, f"{note}\n\n{part.answer}", part.citations,
                part.uncovered, language=language, evidence=part.evidence,
            )  # fmt: skip
        if len(wanted) >= 2:
            flags.append("several_questions")
            sections = _numbered(
                [self._respond(q, turns, articles, dosing, True, flags) for q in wanted]
            )
            answered = [s for s in sections if s.status == "answered"]
            return done(
                "answered" if answered else "no_answer",
                "\n".join(s.query for s in sections),
                "\n\n".join(f"“{s.question}”\n\n{s.answer}" for s in sections),
                tuple(c for s in sections for c in s.citations),
                tuple(dict.fromkeys(u for s in sections for u in s.uncovered)),
                sections=tuple(sections),
                evidence=max(s.evidence for s in sections),
            )
        part = self._respond(wanted[0], turns, articles, dosing, triage.is_urgent, flags)
        return done(
            part.status, part.query, part.answer, part.citations, part.uncovered,
            corrected=part.corrected_query, evidence=part.evidence,
        )  # fmt: skip

    def _respond(
        self,
        question: str,
        turns: Sequence[tuple[str, str, tuple[str, ...]]],
        articles: Collection[str] | None,
        dosing: bool,
        urgent: bool,
        flags: list[str],
    ) -> Section:
        """The reply to one question of a message: conversation, a cited answer or a
        refusal. ``flags`` collects the flags."""

        def part(
            status: Status,
            query: str,
            text: str,
            cites: tuple[Citation, ...] = (),
            uncovered: tuple[str, ...] = (),
        ) -> Section:
            evidence = reading.hits[0].evidence if reading is not None else found
            return Section(question, status, query, text, cites, uncovered, corrected, evidence)

        corrected = ""
        reading: Reading | None = None
        found = 0.0  # the best passage's evidence over the searches made
        intent = None
        if not urgent:
            intent = self.understanding.reader.intent(question, known=self._known)
        if intent == "more" and _WHAT_ABOUT.match(question):
            intent = None  # "what about children?" names what it wants: a follow-up
        shown_before = ""
        previous: tuple[str, ...] = ()
        if intent == "more":
            earlier = _last_answered(turns)
            if earlier is None:
                flags.append("intent:more")
                return part("conversation", "", understanding.reply("more", self._topics()))
            query, shown_before, previous = earlier
            flags.append("more")
        elif intent is not None:
            flags.append(f"intent:{intent}")
            return part("conversation", "", understanding.reply(intent, self._topics()))
        else:
            standalone = self._standalone(question, turns)
            query, corrected, previous = standalone.query, standalone.corrected, standalone.previous
            if corrected:
                flags.append("spelling_corrected")
            if standalone.rewritten:
                flags.append("rewritten")
        if articles is not None:
            previous = tuple(a for a in previous if a in articles)
        if previous:
            # A follow-up reads the articles the last answer cited first.
            look = self.look(query, previous, dosing, exclude=shown_before)
            reading, found = look.reading, look.evidence
        if reading is None or not reading.coverage.answerable:
            look = self.look(query, articles, dosing, exclude=shown_before)
            reading, found = look.reading or reading, max(found, look.evidence)
        if reading is None:
            concepts = self._concepts(query)
            if intent is None and not urgent and not concepts and not is_question(question):
                # Nothing in the articles is near, and it asks nothing: read it again as
                # conversation, without the length limit of the first reading.
                late = self.understanding.reader.second_reading(question)
                if late is not None:
                    flags.append(f"intent:{late}")
                    return part("conversation", "", understanding.reply(late, self._topics()))
            flags.append("low_evidence")
            if concepts:
                flags.append("not_covered")
            names = tuple(c.name for c in concepts)
            return part("no_answer", query, self._no_answer(query, concepts), (), names)
        coverage = reading.coverage
        missing = coverage.uncovered
        if not coverage.answerable:
            answerable = self._answerable_part(question, missing, articles, dosing)
            if answerable is None:
                flags.append("not_covered")
                text, citations = self._refusal(reading)
                return part("no_answer", query, text, citations, coverage.names)
            reading = answerable
        text, citations = self.answerer.compose(
            reading.draft, self.retriever.index.articles, reading.coverage.concepts
        )
        if not citations:
            if intent == "more":
                flags.append("intent:more")
                return part("conversation", query, _NOTHING_MORE)
            flags.append("low_evidence")
            return part("no_answer", query, self._no_answer(query, ()))
        if dosing:
            text = f"{safety.DOSING_MESSAGE}\n\nWhat the articles say in general: {text}"
        if missing:
            flags.append("partly_covered")
            text += "\n\n" + _not_mentioned(missing, None)
        return part("answered", query, text, citations, tuple(c.name for c in missing))

    def _standalone(
        self, question: str, turns: Sequence[tuple[str, str, tuple[str, ...]]]
    ) -> Standalone:
        """The query searched for ``question``: spelling corrected, then a follow-up
        resolved from the conversation's last answered topic."""
        query = question
        corrected = ""
        if self.settings.spelling == "on":
            fixed = self._correct(question)
            if fixed != question:
                corrected = query = fixed
        rewritten = rewrite_followup(query, [t for r, t, _ in turns if r == "user"])
        previous: tuple[str, ...] = ()
        leans = rewritten != query or _follows_up(query)
        earlier = _last_answered(turns) if leans else None
        if earlier is not None:
            previous = earlier[2] or self._articles_of(f"{earlier[0]} {earlier[1][:300]}")
        return Standalone(rewritten, corrected, previous, rewritten != query)

    def _articles_of(self, turn: str) -> tuple[str, ...]:
        """The article an earlier answer came from, when its turn does not say: the one
        whose passage is nearest to its question and the start of its text."""
        hits = self.retriever.search(turn, k=1, mode="dense")
        return (hits[0].article_id,) if hits else ()

    def rank(
        self, question: str, history: Sequence[Turn | dict[str, Any]] = (), k: int = 10
    ) -> list[Hit]:
        """The passages the chatbot reads for a message, best first: for each question it
        asks (in English), after spelling correction and follow-up resolution, interleaved.
        What ``chatbot eval`` ranks for the patient questions."""
        turns = _turns(history)
        _, wanted = self._questions_of(question)
        lists = []
        for asked in wanted:
            standalone = self._standalone(asked, turns)
            hits: list[Hit] = []
            if standalone.previous:
                hits = self._search(standalone.query, k, standalone.previous)
            if not hits or hits[0].evidence < self.settings.answer_min_evidence:
                hits = self._search(standalone.query, k, None)
            lists.append(hits)
        ranked: dict[str, Hit] = {}
        for row in zip_longest(*lists):
            for hit in row:
                if hit is not None:
                    ranked.setdefault(hit.chunk_id, hit)
        return list(ranked.values())[:k]

    def _questions_of(self, message: str) -> tuple[str, list[str]]:
        """The message's language and the questions to answer: the questions it asks, or for
        another language than English, the one English question glossed from it."""
        wanted = understanding.questions(message, self._relevance) or [message]
        language = self._language(message)
        if language != understanding.ENGLISH:
            wanted = [understanding.english_question(" ".join(wanted), language)]
        return language, wanted

    def _search(self, query: str, k: int, articles: Collection[str] | None) -> list[Hit]:
        expansion = understanding.bundled_lexicon().expansion(query)
        return self.retriever.search(query, k=k, articles=articles, expansion=expansion)

    def _language(self, question: str) -> str:
        if self.settings.language_detection != "on":
            return understanding.ENGLISH
        return understanding.detect(question)

    def _correct(self, question: str) -> str:
        """``question`` with misspelt words corrected (lay words are left as they are)."""
        lexicon = understanding.bundled_lexicon()
        question = expand_shorthand(question)
        return self.vocabulary.correct(question, frozenset(lexicon.lay_words(question)))

    def _relevance(self, sentences: Sequence[str]) -> list[float]:
        """How close each sentence comes to an indexed passage (the best cosine)."""
        index = self.retriever.index
        if not sentences or len(index) == 0:
            return [0.0] * len(sentences)
        vectors = self.retriever.embedder.embed_documents(list(sentences))
        return [max((score for _, score in index.search_rows(v, 1)), default=0.0) for v in vectors]

    def read(
        self,
        query: str,
        articles: Collection[str] | None = None,
        dosing: bool = False,
        exclude: Collection[str] | str = (),
    ) -> Reading | None:
        """Retrieve for ``query`` and judge whether the passages answer it; ``None`` when no
        passage clears the evidence bar (:meth:`look`)."""
        return self.look(query, articles, dosing, exclude).reading

    def look(
        self,
        query: str,
        articles: Collection[str] | None = None,
        dosing: bool = False,
        exclude: Collection[str] | str = (),
    ) -> Look:
        """The :class:`Look` of ``query``: its reading and the best passage's evidence. Kept
        in :attr:`readings` by the standalone query, the article filter and the index
        version."""
        scope = None if articles is None else frozenset(articles)
        shown = exclude if isinstance(exclude, str) else tuple(exclude)
        key = (self.retriever.index.version, query, scope, dosing, shown)
        return self.readings.get_or_make(key, lambda: self._read(query, articles, dosing, exclude))

    def _read(
        self,
        query: str,
        articles: Collection[str] | None,
        dosing: bool,
        exclude: Collection[str] | str,
    ) -> Look:
        hits = self._search(query, self.settings.answer_passages, articles)
        if not hits or hits[0].evidence < self.settings.answer_min_evidence:
            return Look(None, hits[0].evidence if hits else 0.0)
        draft = self.answerer.draft(query, hits, dosing=dosing, exclude=exclude)
        concepts = tuple(self._concepts(query))
        coverage = self.understanding.judge.judge(
            concepts, [s.text for s in draft.sentences], hits[0].rerank_score, hits[0].evidence
        )
        return Look(Reading(query, hits, draft, concepts, coverage), hits[0].evidence)

    def _answerable_part(
        self,
        question: str,
        missing: Sequence[understanding.Concept],
        articles: Collection[str] | None,
        dosing: bool,
    ) -> Reading | None:
        """For a question of several parts ("Can Dupixent cause nerve pain and hair
        loss?"), the reading of the first part that stands on its own, does not ask about
        the ``missing`` concepts and that the passages answer fully, or ``None``."""
        parts = question_parts(question)
        if len(parts) < 2 or not missing:
            return None
        for part in parts:
            # A part of its own: asked as a question, naming the articles' topic, not
            # pointing back ("does it work?") and not about what is missing.
            if (
                any(c.covered_by(part) for c in missing)
                or not _QUESTION_START.match(part)
                or understanding.topic_of(part) is None
                or _PRONOUN.search(part)
            ):
                continue
            reading = self.read(part, articles, dosing)
            coverage = reading.coverage if reading is not None else None
            if coverage is not None and coverage.answerable and not coverage.uncovered:
                return reading
        return None

    def _cited(self, reading: Reading | None) -> tuple[str, tuple[Citation, ...]] | None:
        """The cited text of ``reading``, or ``None`` when the evidence is too weak."""
        if reading is None or not reading.coverage.answerable:
            return None
        text, citations = self.answerer.compose(
            reading.draft, self.retriever.index.articles, reading.coverage.concepts
        )
        return (text, citations) if citations else None

    def _concepts(self, query: str) -> list[understanding.Concept]:
        return understanding.find_concepts(query, self.vocabulary)

    def _known(self, word: str) -> bool:
        vocabulary = self.vocabulary
        return vocabulary.in_corpus(word) or vocabulary.near_corpus(word) is not None

    def _topics(self) -> str:
        titles = sorted(r.title for r in self.retriever.index.articles.values())
        return "\n".join(f"- {t}" for t in titles)

    def _refusal(self, reading: Reading) -> tuple[str, tuple[Citation, ...]]:
        """ "The articles do not mention Dupixent and pregnancy.", then what they do say about
        the question's topic (one cited sentence, when it names one), then who to ask."""
        topic = understanding.topic_of(reading.query)
        missing = reading.coverage.uncovered
        parts = [_not_mentioned(missing, topic)]
        citations: tuple[Citation, ...] = ()
        if topic is not None and reading.draft.sentences:
            lead, citations = self.answerer.compose(
                Draft(reading.query, reading.hits, reading.draft.sentences[:1]),
                self.retriever.index.articles,
            )
            if citations:
                parts.append(f"What they do say about {topic}: {lead}")
        subject = _join([topic, *(c.says for c in missing)] if topic else [c.says for c in missing])
        parts.append(
            f"Please ask a doctor, nurse or pharmacist about {subject}."
            if subject
            else "Please ask a doctor, nurse or pharmacist."
        )
        return "\n\n".join(parts), citations

    def _no_answer(self, query: str, concepts: Sequence[understanding.Concept]) -> str:
        lead = (
            _not_mentioned(concepts, understanding.topic_of(query))
            if concepts
            else "I'm sorry, the articles I can draw on don't cover this, so I can't answer it "
            "reliably."
        )
        return (
            f"{lead} They cover:\n\n{self._topics()}\n\n"
            "For anything else, please ask a doctor, nurse or pharmacist."
        )


_CLAUSES = re.compile(
    r",?\s+(?:and|also|plus|as well as)\s+|;\s*"
    r"|,\s+(?=(?:can|does|do|is|are|what|how|will|should)\b)",
    re.IGNORECASE,
)


def question_parts(question: str) -> list[str]:
    """The clauses of a question, cut at "and", "also", "plus", ";" and sentence ends.

    Example:
        >>> question_parts("Can Dupixent cause nerve pain and hair loss?")
        ['Can Dupixent cause nerve pain', 'hair loss?']
    """
    parts = []
    for sentence in safety.sentences(question):
        for clause in _CLAUSES.split(sentence):
            clause = clause.strip(" ,")
            if len(clause.split()) >= 2:
                parts.append(clause)
    return parts


_NOTHING_MORE = (
    "That is all the articles say on this. You could ask about another side of it, or ask "
    "your doctor, nurse or pharmacist."
)


def _join(items: Sequence[str]) -> str:
    items = [i for i in items if i]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _not_mentioned(missing: Sequence[understanding.Concept], topic: str | None) -> str:
    """ "The articles do not mention Dupixent and pregnancy." (or "... do not answer this")."""
    if not missing:
        return "The articles do not answer this question directly."
    says = [c.says for c in missing]
    if topic and topic.lower() not in " ".join(says).lower():
        return f"The articles do not mention {topic} and {_join(says)}."
    return f"The articles do not mention {_join(says)}."


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def _turns(
    history: Sequence[Turn | dict[str, Any]],
) -> list[tuple[str, str, tuple[str, ...]]]:
    """(role, content, cited article ids) of the turns that say something."""
    turns: list[tuple[str, str, tuple[str, ...]]] = []
    for turn in history:
        if isinstance(turn, Turn):
            role, content, cited = turn.role, turn.content, tuple(turn.articles)
        else:
            role, content = turn.get("role", "user"), turn.get("content", "")
            cited = tuple(str(a) for a in turn.get("articles") or ())
        if content.strip():
            turns.append((role, content.strip(), cited))
    return turns


def _last_answered(
    turns: Sequence[tuple[str, str, tuple[str, ...]]],
) -> tuple[str, str, tuple[str, ...]] | None:
    """The standalone query of the last user question that got an answer, that answer's
    text and the article ids it cited, or ``None``."""
    for i in range(len(turns) - 1, 0, -1):
        role, content, cited = turns[i]
        if role != "assistant" or turns[i - 1][0] != "user":
            continue
        earlier = [t for r, t, _ in turns[: i - 1] if r == "user"]
        return rewrite_followup(turns[i - 1][1], earlier), content, cited
    return None


def _follows_up(question: str) -> bool:
    """Whether a question leans on the conversation: it names no subject of the articles
    and points back ("is it common?") or is too short to stand alone ("any side effects?")."""
    if understanding.topic_of(question) is not None:
        return False
    return bool(_PRONOUN.search(question)) or len(question.split()) <= 4


def _numbered(sections: Sequence[Section]) -> list[Section]:
    """The sections with their source numbers running on from one section to the next."""
    out = []
    offset = 0
    for section in sections:
        if offset:
            shift = {c.n: c.n + offset for c in section.citations}

            def renumber(m: re.Match[str], shift: dict[int, int] = shift) -> str:
                return f" [{shift.get(int(m.group(1)), int(m.group(1)))}]"

            text = re.sub(r" \[(\d+)\]", renumber, section.answer)
            cites = tuple(replace(c, n=shift[c.n]) for c in section.citations)
            section = replace(section, answer=text, citations=cites)
        offset = max((c.n for c in section.citations), default=offset)
        out.append(section)
    return out


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
_SINGULAR = re.compile(r"\b(it|that|this)\b", re.IGNORECASE)
_WHAT_ABOUT = re.compile(r"^\s*(?:and\s+)?(?:what|how)\s+about\s+(.+?)\s*\??\s*$", re.IGNORECASE)


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
    - "what about children?" after it → "Can Dupixent cause nerve pain, and what about
      children?"
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
        if span is not None and _topic(new_topic) is not None:
            return previous[: span[0]] + new_topic + previous[span[1] :]
        # Not another subject but a side of this one ("what about children?").
        return f"{previous.rstrip(' ?')}, and what about {new_topic}?"
    if _topic(question) is not None:
        return question
    if _PRONOUN.search(question) or len(question.split()) <= 4:
        topic = earlier_topic or ""
        phrase = f"{topic} {subject}".strip() if subject not in question.lower() else topic
        if _PRONOUN.search(question):
            # The subject the question points back to: "it" or "that" before "they".
            pronoun = _SINGULAR.search(question) or _PRONOUN.search(question)
            assert pronoun is not None
            return question[: pronoun.start()] + phrase + question[pronoun.end() :]
        return f"{question.rstrip(' ?')} ({phrase})?"
    return question
