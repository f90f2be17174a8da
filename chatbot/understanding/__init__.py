"""Reading what a message asks before answering it: conversation, concepts and coverage.

- ``vocabulary``: the articles' words, English word frequencies and a speller (symspellpy);
- ``concepts``: a question's topic, aspects (``data/concepts.yaml``) and rare unknown terms,
  with the lay terms of ``data/lay_terms.yaml``;
- ``coverage``: whether the candidate sentences answer the question, and what they leave out;
- ``conversation``: greetings, thanks, "who are you", "tell me more" and keyboard mashing;
- ``message``: the question or questions inside a message wrapped in HTML, e-mail or
  template junk, or buried in a long story;
- ``language``: which language a message is in, and a glossed English question for it;
- ``training``: fits the two classifiers and measures them by leave-one-group-out
  cross-validation (``python -m chatbot.understanding.training``).

The weights are data (``data/understanding.json``), never pickle.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from chatbot.understanding.concepts import Concept, bundled_lexicon, find_concepts, topic_of
from chatbot.understanding.conversation import UNCLEAR, IntentReader, NullReader, reply
from chatbot.understanding.coverage import Coverage, CoverageJudge, NullJudge
from chatbot.understanding.language import ENGLISH, detect, english_question
from chatbot.understanding.language import reply as language_reply
from chatbot.understanding.message import questions
from chatbot.understanding.vocabulary import Vocabulary

BUNDLED = "bundled"

__all__ = [
    "BUNDLED",
    "ENGLISH",
    "UNCLEAR",
    "Concept",
    "Coverage",
    "CoverageJudge",
    "IntentReader",
    "NullJudge",
    "NullReader",
    "Understanding",
    "UnderstandingError",
    "Vocabulary",
    "bundled_lexicon",
    "detect",
    "english_question",
    "find_concepts",
    "language_reply",
    "load_understanding",
    "questions",
    "reply",
    "topic_of",
]


class UnderstandingError(RuntimeError):
    """The understanding weights cannot be used."""


@dataclass(frozen=True)
class Understanding:
    """The intent reader and the coverage judge, loaded together."""

    reader: IntentReader | NullReader
    judge: CoverageJudge | NullJudge


def bundled_weights() -> dict[str, Any]:
    text = resources.files("chatbot.understanding.data").joinpath("understanding.json")
    return dict(json.loads(text.read_text("utf-8")))


def from_weights(weights: dict[str, Any], embedder: Any = None) -> Understanding:
    return Understanding(
        IntentReader(weights["conversation"], embedder), CoverageJudge(weights["coverage"])
    )


@functools.lru_cache(maxsize=4)
def load_understanding(source: str = BUNDLED) -> Understanding:
    """The classifiers named by ``CHATBOT_UNDERSTANDING``: ``bundled`` (the shipped weights),
    ``none`` (no intent reader beyond the rules; refuse on passage evidence alone) or the path
    of a file written by ``python -m chatbot.understanding.training --out PATH``."""
    if source == "none":
        return Understanding(NullReader(), NullJudge())
    if source == BUNDLED:
        return from_weights(bundled_weights())
    path = Path(source)
    try:
        weights = json.loads(path.read_text(encoding="utf-8"))
        return from_weights(weights)
    except (OSError, ValueError, KeyError) as exc:
        raise UnderstandingError(
            f"cannot read the understanding weights from {path} ({exc}); set "
            "CHATBOT_UNDERSTANDING to bundled, none or a file written by "
            "python -m chatbot.understanding.training --out PATH"
        ) from exc
