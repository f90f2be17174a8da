"""Do the retrieved passages answer what was asked? A judgement from meaning and from words.

The judge reads four figures about a question and its best passages:

- ``rerank``: the cross-encoder's logit for the best passage (meaning, passage level);
- ``evidence``: the calibrated evidence of the best passage;
- ``aspects``: how many of the question's aspects (pregnancy, cost, a named side effect ...)
  no candidate sentence speaks to (words: stems and the lexicon's evidence patterns);
- ``terms``: how many of its words the articles never use and English rarely does
  (a drug, a brand, a disease the articles do not name).

A logistic regression over them gives the probability that the sources answer; below
``threshold`` the chatbot refuses and names what is missing. The weights and the threshold are
data (``data/understanding.json``), fitted and chosen by leave-one-category-out
cross-validation in :mod:`chatbot.understanding.training`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from chatbot.understanding.concepts import Concept

FEATURES = ("rerank", "evidence", "aspects", "terms")


@dataclass(frozen=True)
class Coverage:
    """What the question asks about, what no candidate sentence speaks to, and the verdict."""

    concepts: tuple[Concept, ...]
    uncovered: tuple[Concept, ...]
    probability: float
    answerable: bool

    @property
    def names(self) -> tuple[str, ...]:
        """The uncovered concepts' machine-readable names (``Answer.uncovered``)."""
        return tuple(c.name for c in self.uncovered)


def features(
    concepts: Sequence[Concept], sentences: Sequence[str], rerank: float | None, evidence: float
) -> tuple[list[float], tuple[Concept, ...]]:
    """The judge's figures (in :data:`FEATURES` order) and the uncovered concepts."""
    uncovered = tuple(c for c in concepts if not any(c.covered_by(s) for s in sentences))
    aspects = sum(1 for c in uncovered if c.kind == "aspect")
    terms = sum(1 for c in uncovered if c.kind == "term")
    return [
        rerank if rerank is not None else -12.0,
        evidence,
        float(min(aspects, 2)),
        float(min(terms, 2)),
    ], uncovered


class CoverageJudge:
    """The fitted logistic regression of :data:`FEATURES`; see the module docstring."""

    def __init__(self, weights: dict[str, Any]) -> None:
        self.mean = [float(x) for x in weights["mean"]]
        self.scale = [float(x) for x in weights["scale"]]
        self.coef = [float(x) for x in weights["coef"]]
        self.intercept = float(weights["intercept"])
        self.threshold = float(weights["threshold"])

    def probability(self, figures: Sequence[float]) -> float:
        z = self.intercept + sum(
            c * (x - m) / s
            for c, x, m, s in zip(self.coef, figures, self.mean, self.scale, strict=True)
        )
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))

    def judge(
        self,
        concepts: Sequence[Concept],
        sentences: Sequence[str],
        rerank: float | None,
        evidence: float,
    ) -> Coverage:
        figures, uncovered = features(concepts, sentences, rerank, evidence)
        p = self.probability(figures)
        return Coverage(tuple(concepts), uncovered, round(p, 4), p >= self.threshold)


class NullJudge:
    """Answers whenever the passage evidence clears the bar (``CHATBOT_UNDERSTANDING=none``);
    still reports the uncovered concepts."""

    def judge(
        self,
        concepts: Sequence[Concept],
        sentences: Sequence[str],
        rerank: float | None,
        evidence: float,
    ) -> Coverage:
        _, uncovered = features(concepts, sentences, rerank, evidence)
        return Coverage(tuple(concepts), uncovered, 1.0, True)
