"""The words the articles use, and how common a word is in English.

A question's word that the articles never use, that is not a slip of the keyboard for one of
theirs, and that is rare in English ("hydroxychloroquine", "Medicare") names something the
articles are silent about. English frequencies come from symspellpy's bundled dictionary
(82,765 words with their counts in a large web corpus); near misses are found with symspellpy
against the articles' own words.

Example:
    >>> vocab = Vocabulary.from_texts(["Dupixent can cause neuropathy."])
    >>> vocab.in_corpus("neuropathy"), vocab.near_corpus("nueropathy")
    (True, 'neuropathy')
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from chatbot.lexical import tokenize

_WORD = re.compile(r"[a-z][a-z0-9]*(?:['’-][a-z]+)*")
_DICTIONARY = "frequency_dictionary_en_82_765.txt"


def words(text: str) -> list[str]:
    """The lower-case words of ``text`` ("IgG-4's" → "igg-4's" stays one word)."""
    return _WORD.findall(text.lower().replace("’", "'"))


@functools.cache
def english_counts() -> dict[str, int]:
    """Word → count in symspellpy's English frequency dictionary (loaded once)."""
    text = resources.files("symspellpy").joinpath(_DICTIONARY).read_text("utf-8")
    counts: dict[str, int] = {}
    for line in text.splitlines():
        word, _, count = line.partition(" ")
        if count:
            counts[word] = int(count)
    return counts


def zipf(word: str) -> float:
    """How common ``word`` is in English, as log10 of its count (0: not in the dictionary).

    The commonest words ("the") score about 10, everyday nouns ("floor", "coffee") 7 to 8,
    medical terms ("neuropathy") about 5.
    """
    return math.log10(1 + english_counts().get(word, 0))


@functools.cache
def shorthand() -> dict[str, str]:
    """Texting shorthand ("shud", "u", "tmrw") and the words meant, from
    ``data/shorthand.yaml``."""
    import yaml

    text = resources.files("chatbot.understanding.data").joinpath("shorthand.yaml")
    data = yaml.safe_load(text.read_text("utf-8")) or {}
    return {str(k).lower(): str(v) for k, v in data.items()}


def expand_shorthand(text: str) -> str:
    """``text`` with its texting shorthand written out ("shud i call u" → "should i call
    you"); whole words only, the first letter's case kept."""
    table = shorthand()

    def fix(match: re.Match[str]) -> str:
        word = match.group(0)
        meant = table.get(word.lower())
        if meant is None:
            return word
        return meant[:1].upper() + meant[1:] if word[:1].isupper() else meant

    return _SHORTHAND.sub(fix, text)


_SHORTHAND = re.compile(r"(?<![\w'/])[A-Za-z0-9]+(?:/[a-z]?)?(?![\w'])")


@functools.cache
def medical_words() -> frozenset[str]:
    """Correct medical words that the English dictionary lacks ("gabapentin", "neuropathic",
    "paresthesia"), from ``data/medical_words.txt``: never corrected, and targets for
    corrections."""
    text = resources.files("chatbot.understanding.data").joinpath("medical_words.txt")
    return frozenset(
        line.strip().lower()
        for line in text.read_text("utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    )


# How much more a correction towards one of the articles' own subject words weighs than one
# towards an everyday word of the articles (a tie at the same edit distance goes to it).
_SUBJECT_WEIGHT = 100
# Words rarer in English than this (zipf) are the articles' subject words: names of drugs,
# conditions, tests ("dupixent", "neuropathy", "eosinophils").
_SUBJECT_ZIPF = 6.0


@functools.cache
def medical_speller() -> Any:
    """symspellpy over :func:`medical_words`."""
    from symspellpy import SymSpell

    speller = SymSpell(max_dictionary_edit_distance=2, prefix_length=7)
    for word in medical_words():
        speller.create_dictionary_entry(word, 1)
    return speller


def _lookup(speller: Any, word: str) -> tuple[str, int] | None:
    from symspellpy import Verbosity

    if not max_edits(word):
        return None
    found = speller.lookup(word, Verbosity.TOP, max_edit_distance=max_edits(word))
    return (found[0].term, found[0].distance) if found else None


@functools.cache
def english_speller() -> Any:
    """symspellpy over its bundled English dictionary (about 3 s and 150 MB, once)."""
    from symspellpy import SymSpell

    speller = SymSpell(max_dictionary_edit_distance=2, prefix_length=7)
    path = resources.files("symspellpy").joinpath(_DICTIONARY)
    with resources.as_file(path) as file:
        speller.load_dictionary(str(file), term_index=0, count_index=1)
    return speller


def max_edits(word: str) -> int:
    """How many edits a misspelling of ``word`` may be: none under four letters, one up to
    eight, two from nine ("nueropathy" is one transposition from "neuropathy")."""
    return 0 if len(word) < 4 else 1 if len(word) <= 8 else 2


def english_match(word: str) -> tuple[str, int] | None:
    """The commonest English word within :func:`max_edits` of ``word``, with the distance."""
    return _lookup(english_speller(), word.lower())


@dataclass(frozen=True)
class Vocabulary:
    """The articles' word forms and their stems, with a speller over them."""

    forms: frozenset[str]
    stems: frozenset[str]
    counts: Mapping[str, int] = field(default_factory=dict, compare=False)

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> Vocabulary:
        counts: Counter[str] = Counter()
        for text in texts:
            for word in words(text):
                counts[word] += 1
                counts.update(p for p in re.split(r"['-]", word) if p and p != word)
        forms = frozenset(counts)
        return cls(forms, frozenset(tokenize(" ".join(sorted(forms)))), dict(counts))

    def in_corpus(self, word: str) -> bool:
        """Whether the articles use ``word`` or a word of the same stem."""
        word = word.lower()
        if word in self.forms:
            return True
        stems = tokenize(word)
        return bool(stems) and all(s in self.stems for s in stems)

    def near_corpus(self, word: str) -> str | None:
        """The articles' word that ``word`` misspells (within :func:`max_edits`), or ``None``."""
        found = self._corpus_match(word.lower())
        return found[0] if found else None

    def _corpus_match(self, word: str) -> tuple[str, int] | None:
        return _lookup(self._speller, word)

    def suggest(self, word: str) -> str | None:
        """The word ``word`` misspells: the nearest of the articles' words, the medical words
        and the English dictionary's, in that order on a tie; ``None`` when ``word`` is a
        word already or nothing is near."""
        word = word.lower()
        # The articles' exact forms only: a stem match would keep "controll" as "control".
        if word in self.forms or word in english_counts() or word in medical_words():
            return None
        found = [
            m
            for m in (
                self._corpus_match(word),
                _lookup(medical_speller(), word),
                english_match(word),
            )
            if m is not None
        ]
        return min(found, key=lambda m: m[1])[0] if found else None

    def correct(self, text: str, known: frozenset[str] = frozenset()) -> str:
        """``text`` with its misspelt words corrected: to the articles' word where one is
        near (their subject words first), else to a medical or common English word. Words
        the articles use, words of the English dictionary, medical words and ``known``
        words (lay terms) are never changed, so a correct medical term never turns into
        another one; words under four letters (IgG, IgA) are never changed either."""

        def fix(match: re.Match[str]) -> str:
            word = match.group(0)
            lower = word.lower()
            if lower in known:
                return word
            better = self.suggest(lower)
            return word if better is None else _same_case(word, better)

        return re.sub(r"[A-Za-z]+", fix, text)

    @functools.cached_property
    def _speller(self) -> Any:
        from symspellpy import SymSpell

        speller = SymSpell(max_dictionary_edit_distance=2, prefix_length=7)
        for form in self.forms:
            if len(form) >= 3 and form.isalpha():
                count = 1 + self.counts.get(form, 1)
                weight = _SUBJECT_WEIGHT if zipf(form) < _SUBJECT_ZIPF else 1
                speller.create_dictionary_entry(form, count * weight)
        return speller


def _same_case(original: str, word: str) -> str:
    if original.isupper() and len(original) > 1:
        return word.upper()
    if original[:1].isupper():
        return word[:1].upper() + word[1:]
    return word
