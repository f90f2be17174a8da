"""What a question asks about: its topic, its aspects and the terms the articles never use.

- **Aspects** come from ``data/concepts.yaml``: the population (pregnancy, children), cost,
  insurance, brands, figures, a named side effect or procedure, and so on. A cited sentence
  speaks to an aspect when it holds one of the aspect's evidence patterns, or, for a *named*
  aspect (a side effect, a procedure), the words the question used for it.
- **Unknown terms** are the question's words that the articles never use, that are not a
  misspelling of one of their words, and that are rare in English (a drug, a brand, a
  disease): "hydroxychloroquine", "Medicare", "sarcoidosis". No sentence can speak to them.
- **The topic** is the subject the articles discuss that the question names (Dupixent,
  lupus, IVIG ...), used to say what is missing: "Dupixent and pregnancy".

Example:
    >>> from chatbot.understanding.vocabulary import Vocabulary
    >>> vocab = Vocabulary.from_texts(["Dupixent can cause nerve pain in rare cases."])
    >>> [c.name for c in find_concepts("Is Dupixent safe while pregnant?", vocab)]
    ['pregnancy']
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal

import yaml

from chatbot.lexical import tokenize
from chatbot.understanding.vocabulary import Vocabulary, english_match, words, zipf

# Words that ask rather than name: never a concept of their own, whatever their frequency.
_ASKING = frozenset(
    [
        "can",
        "could",
        "does",
        "do",
        "did",
        "is",
        "are",
        "was",
        "were",
        "will",
        "would",
        "should",
        "shall",
        "may",
        "might",
        "must",
        "have",
        "has",
        "had",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "why",
        "when",
        "where",
        "how",
        "whether",
        "if",
        "any",
        "anything",
        "something",
        "someone",
        "anyone",
        "everyone",
        "please",
        "tell",
        "know",
        "explain",
        "mean",
        "means",
        "meant",
        "thanks",
        "thank",
        "hello",
        "hi",
        "hey",
        "ok",
        "okay",
        "yes",
        "yeah",
        "yep",
        "nope",
        "lot",
        "lots",
        "really",
        "actually",
        "basically",
        "just",
        "still",
        "even",
        "ever",
        "also",
        "too",
        "very",
        "much",
        "many",
        "more",
        "most",
        "less",
        "least",
        "kind",
        "sort",
        "type",
        "thing",
        "things",
        "stuff",
    ]
)
# A word rarer than this in English (log10 count) that the articles never use names
# something they are silent about; everyday words ("floor", "shot") are more common.
RARE_ZIPF = 6.0


@dataclass(frozen=True)
class Aspect:
    name: str
    says: str
    triggers: tuple[re.Pattern[str], ...]
    evidence: tuple[re.Pattern[str], ...]
    named: bool = False


@dataclass(frozen=True)
class Lexicon:
    """The aspects and topics of ``concepts.yaml`` and the lay terms of ``lay_terms.yaml``."""

    aspects: tuple[Aspect, ...]
    topics: tuple[tuple[str, re.Pattern[str]], ...]
    lay: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def lay_words(self, question: str) -> set[str]:
        """The question's words that belong to a lay phrase of the lexicon."""
        text = " " + " ".join(re.sub(r"'s$", "", w) for w in words(question)) + " "
        found: set[str] = set()
        for phrase in self.lay:
            if f" {phrase} " in text:
                found.update(phrase.split())
        return found

    def expansion(self, question: str) -> list[str]:
        """The articles' terms for the question's lay phrases ("pins and needles" →
        tingling, paresthesia), those the question does not already hold, in order."""
        text = " " + " ".join(re.sub(r"'s$", "", w) for w in words(question)) + " "
        have = set(text.split())
        out: dict[str, None] = {}
        for phrase, terms in self.lay.items():
            if f" {phrase} " in text:
                for term in terms:
                    if not set(words(term)) <= have:
                        out.setdefault(term, None)
        return list(out)


@dataclass(frozen=True)
class Concept:
    """Something a question asks about that a cited sentence must speak to.

    ``name`` is the machine-readable name (``pregnancy``, ``hair loss``, ``rituximab``);
    ``says`` how a reply names it; ``kind`` ``aspect`` or ``term``; ``stems`` the question's
    own words for it (a named aspect or a term is covered by a sentence holding them).
    """

    name: str
    says: str
    kind: Literal["aspect", "term"]
    evidence: tuple[re.Pattern[str], ...] = ()
    stems: tuple[str, ...] = field(default=())

    def covered_by(self, text: str) -> bool:
        """Whether ``text`` (a cited sentence) speaks to this concept."""
        lowered = text.lower()
        if any(p.search(lowered) for p in self.evidence):
            return True
        if self.stems:
            have = set(tokenize(lowered))
            return all(s in have for s in self.stems)
        return False


def _compile(patterns: Sequence[str]) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(rf"(?<![a-z]){p}") for p in patterns)


def parse_lexicon(data: dict[str, Any], lay: dict[str, Any] | None = None) -> Lexicon:
    """The lexicon of a ``concepts.yaml`` mapping (aspects and topics) and a lay-terms one."""
    aspects = []
    for name, spec in (data.get("aspects") or {}).items():
        aspects.append(
            Aspect(
                name=str(name),
                says=str(spec.get("says") or name),
                triggers=_compile(spec.get("triggers") or ()),
                evidence=_compile(spec.get("evidence") or ()),
                named=bool(spec.get("named", False)),
            )
        )
    topics = []
    for name, names in (data.get("topics") or {}).items():
        alternatives = "|".join(f"(?:{n})" for n in names)
        topics.append((str(name), re.compile(rf"(?<![a-z])(?:{alternatives})(?![a-z])")))
    terms = {
        " ".join(words(str(k))): tuple(str(t) for t in (v or ())) for k, v in (lay or {}).items()
    }
    return Lexicon(tuple(aspects), tuple(topics), terms)


def _data(name: str) -> Any:
    path = resources.files("chatbot.understanding.data").joinpath(name)
    return yaml.safe_load(path.read_text("utf-8"))


@functools.cache
def bundled_lexicon() -> Lexicon:
    """The lexicon shipped in ``chatbot/understanding/data/``."""
    return parse_lexicon(_data("concepts.yaml"), _data("lay_terms.yaml"))


def topic_of(question: str, lexicon: Lexicon | None = None) -> str | None:
    """The first subject of the articles that ``question`` names, or ``None``."""
    lowered = question.lower()
    for name, pattern in (lexicon or bundled_lexicon()).topics:
        if pattern.search(lowered):
            return name
    return None


def unknown_terms(
    question: str, vocabulary: Vocabulary, lexicon: Lexicon | None = None
) -> list[str]:
    """The question's words that the articles never use, do not misspell and the lay lexicon
    does not know, in order, each once."""
    lexicon = lexicon or bundled_lexicon()
    lay = lexicon.lay_words(question)
    out: list[str] = []
    for word in words(question):
        word = re.sub(r"n't$|'(?:s|re|ve|ll|d|m)$", "", word).strip("'-")
        if len(word) < 3 or word in _ASKING or word in out or word in lay:
            continue
        if not tokenize(word) or vocabulary.in_corpus(word) or vocabulary.near_corpus(word):
            continue
        out.append(word)
    return out


def is_rare(word: str) -> bool:
    """Whether ``word`` is rare in English and not a misspelling of a common word."""
    if zipf(word) >= RARE_ZIPF:
        return False
    match = english_match(word)
    return match is None or match[0] == word or zipf(match[0]) < RARE_ZIPF


def find_concepts(
    question: str, vocabulary: Vocabulary, lexicon: Lexicon | None = None
) -> list[Concept]:
    """The aspects the question asks about and its rare unknown terms, in that order."""
    lexicon = lexicon or bundled_lexicon()
    question = vocabulary.correct(question, frozenset(lexicon.lay_words(question)))
    lowered = " ".join(words(question)) + " " + question.lower()
    found: list[Concept] = []
    claimed: set[str] = set()
    for aspect in lexicon.aspects:
        match = next((m for p in aspect.triggers if (m := p.search(lowered))), None)
        if match is None:
            continue
        if aspect.named:
            phrase = _phrase_at(question.lower(), match.group(0))
            stems = tuple(tokenize(phrase))
            if not stems:
                continue
            found.append(Concept(phrase, phrase, "aspect", stems=stems))
            claimed.update(words(phrase))
        else:
            found.append(Concept(aspect.name, aspect.says, "aspect", evidence=aspect.evidence))
            claimed.update(words(match.group(0)))
    for term in unknown_terms(question, vocabulary, lexicon):
        if term in claimed or not is_rare(term):
            continue
        found.append(
            Concept(term, _original_case(question, term), "term", stems=tuple(tokenize(term)))
        )
    return found


def _phrase_at(text: str, matched: str) -> str:
    """The whole words around a trigger's match ("hair loss", "surgery")."""
    start = text.find(matched)
    if start < 0:
        return matched.strip()
    end = start + len(matched)
    while start > 0 and text[start - 1].isalnum():
        start -= 1
    while end < len(text) and (text[end].isalnum() or text[end] == "-"):
        end += 1
    return text[start:end].strip(" -")


def _original_case(question: str, word: str) -> str:
    match = re.search(rf"(?<![A-Za-z]){re.escape(word)}(?![A-Za-z])", question, re.IGNORECASE)
    return match.group(0) if match else word
