"""Cross-validate the choice of a retrieval setting on the gold set.

:func:`cross_validate` chooses a value on some folds of the in-scope questions and judges it
on the others; :func:`fusion_weight_runner` runs the pipeline at each candidate value of
``rerank_fusion_weight``, cross-encoding each batch of passages once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from chatbot.evaluation.metrics import GoldQuestion, Retrieved, _ranking_figures, first_relevant
from chatbot.reranking import Reranker
from chatbot.retrieval import Retriever


@dataclass
class CrossValidation:
    """How a setting fitted on the gold set fares on questions it was not fitted on.

    The in-scope questions are split into ``folds`` folds; for each fold the value with the
    best hit@1 + MRR@5 on the other folds is chosen (the middle one of equally good values)
    and judged on the fold. ``held_out`` pools those judgements: every question is scored
    by a value chosen without it. ``in_sample`` has each value's figures on all questions.
    """

    setting: str
    folds: int
    seed: int
    chosen: list[float] = field(default_factory=list)
    held_out: dict[str, float] = field(default_factory=dict)
    in_sample: dict[float, dict[str, float]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["in_sample"] = {str(k): v for k, v in self.in_sample.items()}
        return data


def cross_validate(
    setting: str,
    values: Sequence[float],
    questions: Sequence[GoldQuestion],
    run: Callable[[float, str], Retrieved],
    *,
    folds: int = 5,
    seed: int = 0,
) -> CrossValidation:
    """Cross-validate the choice of ``setting`` among ``values`` (see :class:`CrossValidation`).

    Args:
        setting: the setting's name, for the report.
        values: the candidate values, in increasing order.
        questions: the gold set (out-of-scope questions are left out).
        run: retrieves the top 10 passages for a question with the setting at a value.
        folds: how many folds (at least 2).
        seed: the seed of the random split of questions into folds.
    """
    if folds < 2 or not values:
        raise ValueError("cross-validation needs at least 2 folds and one value")
    in_scope = [q for q in questions if q.in_scope]
    firsts = {v: [first_relevant(q, run(v, q.question).passages) for q in in_scope] for v in values}

    def merit(v: float, rows: Sequence[int]) -> float:
        return sum(
            (f == 0) + (1 / (f + 1) if f < 5 else 0.0)
            for f in (firsts[v][i] for i in rows)
            if f is not None
        )

    order = np.random.default_rng(seed).permutation(len(in_scope))
    parts = [list(map(int, part)) for part in np.array_split(order, folds)]
    report = CrossValidation(setting, folds, seed)
    held_out: list[int | None] = []
    for k, test in enumerate(parts):
        train = [i for j, part in enumerate(parts) if j != k for i in part]
        best = max(merit(v, train) for v in values)
        tied = [v for v in values if merit(v, train) >= best - 1e-9]
        value = tied[len(tied) // 2]
        report.chosen.append(value)
        held_out += [firsts[value][i] for i in test]
    report.held_out = _ranking_figures(held_out)
    report.in_sample = {v: _ranking_figures(firsts[v]) for v in values}
    return report


class _CachingReranker:
    """Remembers the scores of each (query, batch of passages): a batch rescored for another
    value of a later setting costs nothing and scores exactly as the first time."""

    def __init__(self, inner: Reranker) -> None:
        self.inner = inner
        self._cache: dict[tuple[str, tuple[str, ...]], np.ndarray] = {}

    @property
    def name(self) -> str:
        return self.inner.name

    def score(self, query: str, passages: Sequence[str]) -> np.ndarray:
        key = (query, tuple(passages))
        if key not in self._cache:
            self._cache[key] = self.inner.score(query, passages)
        return self._cache[key]


def fusion_weight_runner(retriever: Retriever) -> Callable[[float, str], Retrieved]:
    """``run(weight, question)`` for :func:`cross_validate`: the pipeline in ``rerank`` mode
    with ``rerank_fusion_weight`` set to ``weight`` (each batch is cross-encoded once)."""
    if retriever.reranker is None:
        raise ValueError("cross-validating the rerank fusion weight needs a reranker")
    reranker = _CachingReranker(retriever.reranker)
    variants: dict[float, Retriever] = {}

    def run(weight: float, question: str) -> Retrieved:
        if weight not in variants:
            settings = retriever.settings.with_overrides(rerank_fusion_weight=weight)
            variants[weight] = Retriever(retriever.index, retriever.embedder, reranker, settings)
        start = time.perf_counter()
        hits = variants[weight].search(question, k=10, mode="rerank")
        return Retrieved(
            passages=tuple((h.article_id, h.text) for h in hits),
            evidence=hits[0].evidence if hits else 0.0,
            seconds=time.perf_counter() - start,
        )

    return run
