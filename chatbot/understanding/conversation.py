"""Conversation that is not a question: greetings, thanks, "who are you", "tell me more".

A message of up to :data:`MAX_WORDS` words is embedded (the retriever's model) and read by a
logistic regression over the intents of ``data/conversation.yaml`` and a "question" class,
its weights in ``data/understanding.json`` (written by :mod:`chatbot.understanding.training`).
It is conversation when the intents together outweigh the question class by the fitted
floor, and then the likeliest intent.
Two rules come first: a message without letters or digits ("???") and one whose words are all
unknown to English and to the articles ("asdfgh") are ``unclear``. Replies carry no
citations; ``more`` after an answer continues its topic (the chatbot's job, not this one's).

Example:
    >>> reader = load_reader()
    >>> reader.intent("hello there"), reader.intent("Can Dupixent cause nerve pain?")
    ('greeting', None)
"""

from __future__ import annotations

import functools
import re
import threading
from importlib import resources
from typing import Any

import numpy as np
import yaml

from chatbot.understanding.vocabulary import english_counts, english_match, words

MAX_WORDS = 12
UNCLEAR = "unclear"
UNCLEAR_REPLY = (
    "Sorry, I didn't catch a question there. Ask me about nerve pain or neuropathy in your "
    'own words, for example "Can lupus cause nerve pain?"'
)


@functools.cache
def conversation_data() -> dict[str, Any]:
    """The intents, their examples and replies, and the question examples."""
    path = resources.files("chatbot.understanding.data").joinpath("conversation.yaml")
    return dict(yaml.safe_load(path.read_text("utf-8")))


def reply(intent: str, topics: str) -> str:
    """The reply to ``intent``, naming the articles' ``topics`` (a Markdown list) if it
    mentions them."""
    if intent == UNCLEAR:
        return UNCLEAR_REPLY
    return str(conversation_data()["intents"][intent]["reply"]).replace("{topics}", topics)


def is_unclear(text: str, known: Any = None) -> bool:
    """No letters or digits, or only words that neither English nor the articles know."""
    found = words(text)
    if not found:
        return not re.search(r"[^\W_]", text)  # symbols only; another script has letters
    if len(found) > 4:
        return False
    english, chat = english_counts(), chat_words()
    return not any(
        w in english
        or w in chat
        or w.isdigit()
        or (known is not None and known(w))
        or english_match(w) is not None
        for w in found
    )


@functools.cache
def chat_words() -> frozenset[str]:
    """The words of the conversation examples ("ok", "lol", "thx"), which English
    dictionaries may lack."""
    data = conversation_data()
    texts = [str(e) for spec in data["intents"].values() for e in spec["examples"]]
    return frozenset(w for t in texts for w in words(t))


class IntentReader:
    """The intent of a short conversational message, or ``None`` for a question."""

    def __init__(self, weights: dict[str, Any], embedder: Any = None) -> None:
        self.model = str(weights["model"])
        self.classes = list(weights["classes"])
        self.coef = np.asarray(weights["coef"], dtype=np.float32)
        self.intercept = np.asarray(weights["intercept"], dtype=np.float32)
        self.min_probability = float(weights["min_probability"])
        self._embedder = embedder
        self._lock = threading.Lock()

    @property
    def embedder(self) -> Any:
        if self._embedder is None:
            with self._lock:
                if self._embedder is None:
                    from chatbot.embedding import get_embedder

                    self._embedder = get_embedder(self.model)
        return self._embedder

    def probabilities(self, text: str) -> dict[str, float]:
        vector = np.asarray(self.embedder.embed_documents([text]), dtype=np.float32)[0]
        logits = self.coef @ vector + self.intercept
        p = np.exp(logits - logits.max())
        p /= p.sum()
        return {c: float(x) for c, x in zip(self.classes, p, strict=True)}

    def intent(self, text: str, known: Any = None) -> str | None:
        """The message's intent, or ``None`` when it asks about the articles.

        Args:
            text: the message.
            known: a predicate for words the articles use (misspelt or not), so that a
                message of medical words is never taken for keyboard mashing.
        """
        text = text.strip()
        if is_unclear(text, known):
            return UNCLEAR
        if len(words(text)) > MAX_WORDS:
            return None
        p = self.probabilities(text)
        if 1.0 - p.get("question", 0.0) < self.min_probability:
            return None
        return max((c for c in p if c != "question"), key=lambda c: p[c])

    def second_reading(self, text: str) -> str | None:
        """The intent of a message that :meth:`intent` took for a question but that asks
        nothing the articles answer (no question form, no passage near it): a longer
        greeting or complaint ("hey there, my nurse said I should try this chat thing").
        Its intent when conversation is likelier than a question, else ``None``."""
        p = self.probabilities(text.strip())
        if p.get("question", 0.0) >= 0.5:
            return None
        return max((c for c in p if c != "question"), key=lambda c: p[c])


class NullReader:
    """Reads every message as a question (``CHATBOT_UNDERSTANDING=none``), except the
    unambiguous: symbols only, or keyboard mashing."""

    def intent(self, text: str, known: Any = None) -> str | None:
        return UNCLEAR if is_unclear(text.strip(), known) else None

    def second_reading(self, text: str) -> str | None:
        return None
