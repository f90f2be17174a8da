"""Cleaning, normalising and splitting a message before the rules and the detector read it."""

from __future__ import annotations

import re
import unicodedata
from difflib import SequenceMatcher
from functools import lru_cache

from chatbot.config import MAX_QUESTION_CHARS
from chatbot.safety.data import load

__all__ = [
    "DEFAULT_MAX_CHARS",
    "clean_question",
    "has_words",
    "normalise",
    "segments",
    "sentences",
]

DEFAULT_MAX_CHARS = MAX_QUESTION_CHARS

# Zero-width joiner is kept: emoji sequences need it.
_KEEP_FORMAT = frozenset({"\u200d"})


def clean_question(text: str, *, max_chars: int = DEFAULT_MAX_CHARS) -> tuple[str, tuple[str, ...]]:
    """Remove control characters, collapse whitespace and cap the length of ``text``.

    Tabs and line breaks become spaces; other control and invisible format characters (null
    bytes, escape sequences, bidi overrides, zero-width spaces, lone surrogates) are removed and
    flagged ``"control_chars"``. Text longer than ``max_chars`` is cut there and flagged
    ``"truncated"``. Markup is left as it is: the result is plain text, never interpreted.

    Returns:
        ``(cleaned, flags)``: flags are ``"truncated"`` then ``"control_chars"``, where raised.

    Raises:
        TypeError: ``text`` is not a ``str`` (decode bytes first).
        ValueError: ``max_chars`` is not a positive integer.
    """
    if not isinstance(text, str):
        raise TypeError(
            f"the question must be str, not {type(text).__name__}; "
            "decode bytes first, e.g. data.decode('utf-8', 'replace')"
        )
    if isinstance(max_chars, bool) or not isinstance(max_chars, int) or max_chars <= 0:
        raise ValueError(f"max_chars must be a positive integer, not {max_chars!r}")
    flags: list[str] = []
    if not text.isprintable():
        kept: list[str] = []
        removed = False
        for ch in text:
            if ch.isprintable() or ch.isspace() or ch in _KEEP_FORMAT:
                kept.append(ch)
            elif unicodedata.category(ch) in ("Cc", "Cf", "Cs"):
                removed = True
            else:
                kept.append(ch)
        if removed:
            flags.append("control_chars")
        text = "".join(kept)
    text = unicodedata.normalize("NFC", " ".join(text.split()))
    if len(text) > max_chars:
        text = text[:max_chars].rstrip()
        flags.insert(0, "truncated")
    return text, tuple(flags)


_WORDS = load("normalise.yaml")["normalise"]
_FUZZY_VOCABULARY: tuple[str, ...] = tuple(_WORDS["fuzzy_vocabulary"])
_FUZZY_THRESHOLD = float(_WORDS["fuzzy_threshold"])
_VOCABULARY = frozenset(_FUZZY_VOCABULARY)
_NOT_MISSPELLINGS = frozenset(_WORDS["not_misspellings"])
_EXPANSIONS: dict[str, str] = dict(_WORDS["contractions"])

_APOSTROPHES = str.maketrans({c: "'" for c in "’‘ʼ`´′＇"})
_STRETCHED = re.compile(r"([a-z])\1{2,}")
_CONTRACTION = re.compile(
    r"\b(?:can not|[a-z]+n'?t|i'?m|i'?ve|i'd|i'll|(?:he|she|that|what|there)'?s"
    r"|(?:it|who|where|how|let)'s|youre|(?:you|we|they)'(?:re|ve))\b|'s\b"
)
_NON_WORD = re.compile(r"[^\w\s]|_")


def _expand(match: re.Match[str]) -> str:
    word = match.group()
    return _EXPANSIONS.get(word.replace("'", ""), word)


@lru_cache(maxsize=8192)
def _correct(word: str) -> str:
    """``word``, or the key word it misspells."""
    if len(word) < 5 or word in _VOCABULARY or word in _NOT_MISSPELLINGS or not word.isalpha():
        return word
    best, best_ratio = word, _FUZZY_THRESHOLD
    for key in _FUZZY_VOCABULARY:
        if key[0] != word[0] or abs(len(key) - len(word)) > 2:
            continue
        matcher = SequenceMatcher(None, word, key, autojunk=False)
        if matcher.real_quick_ratio() < best_ratio or matcher.quick_ratio() < best_ratio:
            continue
        ratio = matcher.ratio()
        if ratio >= best_ratio and (ratio > best_ratio or best == word):
            best, best_ratio = key, ratio
    return best


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@lru_cache(maxsize=1024)
def normalise(text: str) -> str:
    """Lower-case words separated by single spaces, with misspelled key words corrected.

    Example:
        >>> normalise("I cant BREATHHH!! My throat’s closing…")
        'i cannot breath my throat closing'
    """
    text = unicodedata.normalize("NFKC", text).lower().translate(_APOSTROPHES)
    if not text.isascii():
        text = _strip_accents(text)
    text = _CONTRACTION.sub(_expand, _STRETCHED.sub(r"\1", text))
    words = _NON_WORD.sub(" ", text).split()
    return " ".join(_correct(w) for w in words)


_SENTENCE = re.compile(r"[^.!?;\n…]+[.!?;\n…]*")


_LETTERS = re.compile(r"[^\W\d_]")


def sentences(text: str) -> list[str]:
    """The sentences of ``text`` (split at . ! ? ; and line breaks), stripped, none empty."""
    return [s.strip() for s in _SENTENCE.findall(text) if s.strip(" .!?;\n…")]


_HELD_KEY = re.compile(r"([^\W\d_])\1{2,}")


def has_words(text: str) -> bool:
    """At least three letters once a key held down is read as one ("hhhhhhhh" is "h"): a
    sentence of emoji, punctuation or one repeated letter says nothing to read."""
    return len(_LETTERS.findall(_HELD_KEY.sub(r"\1", text))) >= 3


# Where a sentence turns to another matter: "my lips are swelling, also does IVIG ...".
_TURN = re.compile(
    r",?\s+(?=(?:and also|also|btw|by the way|anyway|oh and|plus|but also|and another thing)\b)"
    r"|\s+-+\s+",
    re.IGNORECASE,
)


def segments(text: str, *, limit: int = 6) -> list[str]:
    """What the detector reads: the whole message, then each of its sentences, and each part
    of a sentence that turns to another matter ("..., also ..."), when there is more than one
    (at most ``limit`` in all). An emergency told in one part of a long message is read on
    its own as well as in context."""
    parts = [q.strip(" ,") for p in sentences(text) for q in _TURN.split(p) if has_words(q)]
    if len(parts) <= 1:
        return [text]
    return [text, *parts[: limit - 1]]
