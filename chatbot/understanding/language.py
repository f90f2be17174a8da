"""Which language a message is in, and a rough English question for one that is not English.

The articles are in English and no translation model runs offline, so a question in another
language gets a reply in that language saying so, with an English question glossed word by
word from ``data/glossary.yaml`` ("¿El lupus puede causar dolor de nervios?" → "the lupus can
cause nerve pain?") that the chatbot also answers. Detection is lingua's, over the languages
the glossary has and English (models bundled in the wheel, about 1 s to load, once).

Example:
    >>> detect("¿El lupus puede causar dolor de nervios en los pies?")
    'es'
    >>> detect("can dupixent cause nerve pain")
    'en'
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

ENGLISH = "en"
# Shorter messages ("ivig?", "lupus") are too short to tell a language by.
_MIN_WORDS = 3
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?", re.UNICODE)


@dataclass(frozen=True)
class Glossary:
    """One language's reply ("the articles are in English; you could ask:") and its phrases,
    longest first."""

    code: str
    reply: str
    phrases: dict[str, str]

    @functools.cached_property
    def _pattern(self) -> re.Pattern[str]:
        keys = sorted(self.phrases, key=len, reverse=True)
        return re.compile(
            r"(?<![\w'])(" + "|".join(re.escape(k) for k in keys) + r")(?![\w'])", re.UNICODE
        )

    def gloss(self, text: str) -> str:
        """``text`` with each known phrase replaced by its English, longest phrase first;
        other words (drug names, numbers) are kept."""
        lowered = text.lower().replace("’", "'")
        glossed = self._pattern.sub(lambda m: self.phrases[m.group(1)], lowered)
        glossed = re.sub(r"[¿¡«»]", "", glossed)
        glossed = re.sub(r"\s+([?.!,])", r"\1", glossed)
        return " ".join(glossed.split())


@functools.cache
def glossaries() -> dict[str, Glossary]:
    """The bundled glossaries by ISO 639-1 code."""
    text = (
        resources.files("chatbot.understanding.data").joinpath("glossary.yaml").read_text("utf-8")
    )
    data: dict[str, Any] = yaml.safe_load(text)
    return {
        code: Glossary(
            code,
            str(entry["reply"]),
            {str(k).lower(): str(v or "") for k, v in entry["phrases"].items()},
        )
        for code, entry in data.items()
    }


@functools.cache
def _detector(codes: tuple[str, ...]) -> Any:
    from lingua import IsoCode639_1, LanguageDetectorBuilder

    languages = [IsoCode639_1.from_str(c) for c in codes]
    return (
        LanguageDetectorBuilder.from_iso_codes_639_1(*languages)
        .with_preloaded_language_models()
        .build()
    )


def detect(text: str, min_confidence: float = 0.5) -> str:
    """The ISO 639-1 code of ``text``'s language, ``en`` unless another language is clear.

    Medical words ("Dupixent", "lupus", "IVIG") are the same in every language and are left
    out before lingua reads the rest. What is left counts as English when it has fewer than
    three words, when its likeliest language has a confidence under ``min_confidence``, or
    when fewer than two of its words are in that language's glossary (keyboard mashing
    reads as any language); a confidence under it still counts when the glossary knows
    three quarters of the words. On the project's sets (docs/patient-language.md) no English
    message of 1,488 is taken for another language, and 118 of 120 others are detected.
    """
    from chatbot.understanding.vocabulary import medical_words

    medical = medical_words()
    words = [w for w in _WORD.findall(text) if w.lower() not in medical]
    if len(words) < _MIN_WORDS:
        return ENGLISH
    codes = tuple(sorted({ENGLISH, *glossaries()}))
    values = _detector(codes).compute_language_confidence_values(" ".join(words))
    if not values:
        return ENGLISH
    best = values[0]
    code = str(best.language.iso_code_639_1.name).lower()
    if code == ENGLISH:
        return ENGLISH
    phrases = glossaries()[code].phrases
    known = sum(w.lower() in phrases for w in words)
    if best.value >= min_confidence and known >= 2:
        return code
    # Lingua is unsure between neighbours, but the glossary knows nearly every word.
    return code if known >= _MIN_WORDS and known >= 0.75 * len(words) else ENGLISH


def english_question(text: str, code: str) -> str:
    """A rough English question for ``text`` in language ``code`` (``text`` itself when the
    glossary has no such language)."""
    glossary = glossaries().get(code)
    return glossary.gloss(text) if glossary else text


def reply(code: str, english: str) -> str:
    """In language ``code``: the articles are in English, and ``english`` is the question to
    ask in English."""
    glossary = glossaries().get(code)
    lead = (
        glossary.reply
        if glossary
        else "The articles I can draw on are in English, so I can only answer in English. "
        "In English, you could ask:"
    )
    return f"{lead} “{english}”"
