"""The detector that reads meaning: a sentence embedding and small linear classifiers.

Each message is read whole and sentence by sentence (:func:`chatbot.safety.text.segments`).
Every segment is embedded (bge-small by default, the retriever's model, without its query
prefix) and three logistic regressions read it: emergency or not, urgent or not, and which
emergency category. The message's emergency probability is the highest over its segments,
its category that segment's likeliest. A fourth regression, over the message's words and word
pairs (TF-IDF), reads the phrasing the embedding blurs ("years ago", "lol", "in the film") and
shares the emergency verdict with the first. A message none of whose segments comes as near
any category's centroid as the bank's emergencies do is out of the detector's reach (off-topic
text, greetings) and no emergency, unless it is a sentence or more of words mostly unknown to
the word model (another language), for which that English yardstick says nothing. A message
without words (emoji, punctuation) is left to the rules.

The weights are data (``data/detector.json``, written by :mod:`chatbot.safety.training` from
the scenario bank in ``eval/emergency/``), never pickle. The thresholds in that file were
chosen by cross-validation.

Example:
    >>> detector = load_detector()
    >>> detector.read("my toddler swallowed some of my pills").category
    'overdose_poisoning'
"""

from __future__ import annotations

import itertools
import json
import math
import re
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from chatbot.safety.text import has_words, normalise, segments

__all__ = [
    "BUNDLED",
    "Detector",
    "DetectorError",
    "LinearDetector",
    "NullDetector",
    "Reading",
    "load_detector",
]

BUNDLED = "bundled"


class DetectorError(RuntimeError):
    """The detector's weights cannot be used."""


@dataclass(frozen=True)
class Reading:
    """What the detector reads in one message.

    Attributes:
        emergency: probability that the message reports a present emergency.
        urgent: probability that it reports a "call your doctor today" situation.
        category: the likeliest emergency category (of the segment that scored highest).
        is_emergency: ``emergency`` reached the detector's emergency threshold.
        is_urgent: ``urgent`` reached the urgent threshold (and the message is no emergency).
    """

    emergency: float
    urgent: float
    category: str
    is_emergency: bool
    is_urgent: bool


class Detector(Protocol):
    """Reads a message for emergencies; the real one embeds, test doubles need not."""

    def read(self, text: str) -> Reading: ...


class NullDetector:
    """Reads nothing: triage by the rules alone (``CHATBOT_TRIAGE_DETECTOR=none``)."""

    def read(self, text: str) -> Reading:
        return Reading(0.0, 0.0, "", False, False)


class LinearDetector:
    """Logistic regressions over sentence embeddings, with thresholds chosen by cross-validation.

    Args:
        weights: the parsed weights file: ``model``, ``segment_limit``, and ``emergency`` and
            ``urgent`` (each ``coef``, ``intercept``, ``threshold``: a binary classifier) and
            ``categories`` (``classes``, ``coef``, ``intercept``: which emergency it is),
            ``centroids`` (``vectors``: each category's mean, ``floor``: the similarity to
            the nearest centroid that all but 0.5% of the bank's emergencies reach; a message
            with no segment that close is no emergency) and optionally ``lexical``.
        embedder: anything with ``embed_documents(texts) -> (n, d) array``; by default the
            embedder of ``weights["model"]``, loaded on first use.
    """

    def __init__(self, weights: dict[str, Any], embedder: Any = None) -> None:
        try:
            self.model = str(weights["model"])
            self.segment_limit = int(weights["segment_limit"])
            emergency, urgent, categories = (
                weights["emergency"],
                weights["urgent"],
                weights["categories"],
            )
            self._w_e = np.asarray(emergency["coef"], dtype=np.float32)
            self._b_e = float(emergency["intercept"])
            self.emergency_threshold = float(emergency["threshold"])
            self._w_u = np.asarray(urgent["coef"], dtype=np.float32)
            self._b_u = float(urgent["intercept"])
            self.urgent_threshold = float(urgent["threshold"])
            self.categories: tuple[str, ...] = tuple(categories["classes"])
            self._w_c = np.asarray(categories["coef"], dtype=np.float32)
            self._b_c = np.asarray(categories["intercept"], dtype=np.float32)
            centroids = weights["centroids"]
            self._centroids = np.asarray(centroids["vectors"], dtype=np.float32)
            self.floor = float(centroids["floor"])
            lexical = weights.get("lexical")
            self.lexical = None if lexical is None else LexicalModel(**lexical)
        except (KeyError, TypeError, ValueError) as exc:
            raise DetectorError(f"the detector's weights lack or misstate {exc}") from exc
        if self._w_c.shape[0] != len(self.categories) or self._b_c.shape[0] != len(self.categories):
            raise DetectorError(
                f"the detector's weights have {self._w_c.shape[0]} category rows for "
                f"{len(self.categories)} categories"
            )
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

    def read_vectors(self, vectors: np.ndarray, text: str = "") -> Reading:
        """The reading of one message from the vectors of its segments (one row each) and,
        when the weights have a lexical model, its text."""
        if text and not has_words(text):  # emoji or punctuation only: nothing to read
            return Reading(0.0, 0.0, "", False, False)
        p_e = _sigmoid(vectors @ self._w_e + self._b_e)
        p_u = _sigmoid(vectors @ self._w_u + self._b_u)
        best = int(p_e.argmax())
        category = self.categories[int((vectors[best] @ self._w_c.T + self._b_c).argmax())]
        emergency, urgent = float(p_e[best]), float(p_u.max())
        known, words = 1.0, len(text.split())
        if self.lexical is not None:
            p_lexical, known = self.lexical.read(text)
            share = self.lexical.share * known
            emergency = (1.0 - share) * emergency + share * p_lexical
        # Out of the bank's reach: nothing in the message is as close to any category's
        # centroid as nearly all of the bank's emergencies are (off-topic text, greetings).
        # The floor is an English one: a sentence or more mostly of words the word model never
        # saw, such as one in another language, is not held to it.
        foreign = known < 0.5 and words >= 4
        near = foreign or float((vectors @ self._centroids.T).max()) >= self.floor
        is_emergency = near and emergency >= self.emergency_threshold
        return Reading(
            emergency=round(emergency, 4),
            urgent=round(urgent, 4),
            category=category,
            is_emergency=is_emergency,
            is_urgent=not is_emergency and urgent >= self.urgent_threshold,
        )

    def read(self, text: str) -> Reading:
        if not has_words(text):  # emoji or punctuation only: nothing to read
            return Reading(0.0, 0.0, "", False, False)
        parts = segments(text, limit=self.segment_limit)
        return self.read_vectors(np.asarray(self.embedder.embed_documents(parts)), text)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


_TOKEN = re.compile(r"(?u)\b\w\w+\b")


def ngrams(text: str) -> list[str]:
    """The words and word pairs of the normalised ``text`` (scikit-learn's word analyser)."""
    words = _TOKEN.findall(normalise(text))
    return words + [f"{a} {b}" for a, b in itertools.pairwise(words)]


@dataclass(frozen=True)
class LexicalModel:
    """A logistic regression over TF-IDF word and word-pair features of the whole message.

    ``vocabulary`` maps each n-gram to ``[idf, coef]``; term frequencies are sublinear and the
    vector is L2-normalised, as scikit-learn's ``TfidfVectorizer(sublinear_tf=True)``. Its
    probability is averaged with the embedding model's; its part is ``share`` times the share
    of the message's words it knows.
    """

    vocabulary: dict[str, list[float]]
    intercept: float
    share: float

    def read(self, text: str) -> tuple[float, float]:
        """The probability of an emergency, and the share of the message's words that the
        model knows: a message in another language, or of words it never saw, is left to the
        embedding model in that proportion."""
        grams = ngrams(text)
        words = [g for g in grams if " " not in g]
        known = sum(w in self.vocabulary for w in words) / len(words) if words else 0.0
        return self.probability(grams), known

    def probability(self, grams: list[str]) -> float:
        counts = Counter(g for g in grams if g in self.vocabulary)
        if not counts:
            return float(_sigmoid(np.array(self.intercept)))
        weights = [(1.0 + math.log(n)) * self.vocabulary[g][0] for g, n in counts.items()]
        norm = math.sqrt(sum(x * x for x in weights)) or 1.0
        score = sum(x / norm * self.vocabulary[g][1] for x, g in zip(weights, counts, strict=True))
        return float(_sigmoid(np.array(score + self.intercept)))


def bundled_weights() -> dict[str, Any]:
    """The weights shipped in ``chatbot/safety/data/detector.json``."""
    text = resources.files("chatbot.safety.data").joinpath("detector.json").read_text("utf-8")
    return dict(json.loads(text))


@lru_cache(maxsize=4)
def load_detector(source: str = BUNDLED) -> Detector:
    """The detector named by ``CHATBOT_TRIAGE_DETECTOR``: ``bundled`` (the shipped weights),
    ``none`` (rules only) or the path of a weights file written by
    ``python -m chatbot.safety.training --out PATH``. Loaded once per process."""
    if source == "none":
        return NullDetector()
    if source == BUNDLED:
        return LinearDetector(bundled_weights())
    path = Path(source)
    try:
        weights = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DetectorError(
            f"cannot read the detector's weights from {path} ({exc}); set "
            "CHATBOT_TRIAGE_DETECTOR to bundled, none or a file written by "
            "python -m chatbot.safety.training --out PATH"
        ) from exc
    return LinearDetector(weights)


def embed_segments(embedder: Any, texts: Sequence[str], limit: int) -> list[np.ndarray]:
    """The segment vectors of each message, embedded in one batch (for training and eval)."""
    parts = [segments(t, limit=limit) for t in texts]
    flat = [p for ps in parts for p in ps]
    vectors = np.asarray(embedder.embed_documents(flat), dtype=np.float32)
    out, start = [], 0
    for ps in parts:
        out.append(vectors[start : start + len(ps)])
        start += len(ps)
    return out
