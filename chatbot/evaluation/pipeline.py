"""The project's retrieval pipeline as a system under test, for :func:`evaluate`.

:func:`pipeline_runner` stops the pipeline after a stage (``dense``, ``bm25``, ``hybrid`` or
``rerank``); :func:`pipeline_relevant_total` counts the relevant chunks of the index (the
ideal for nDCG); :func:`raw_scores` reads the top hit's raw scores, for the evidence
calibration.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from chatbot.evaluation.metrics import GoldQuestion, Retrieved, is_relevant
from chatbot.retrieval import Retriever


def pipeline_runner(retriever: Retriever, mode: str) -> Callable[[str], Retrieved]:
    """A runner over the project's pipeline stopped after ``mode``."""

    def run(question: str) -> Retrieved:
        start = time.perf_counter()
        hits = retriever.search(question, k=10, mode=mode)  # type: ignore[arg-type]
        seconds = time.perf_counter() - start
        return Retrieved(
            passages=tuple((h.article_id, h.text) for h in hits),
            evidence=hits[0].evidence if hits else 0.0,
            seconds=seconds,
        )

    return run


def pipeline_relevant_total(retriever: Retriever) -> Callable[[GoldQuestion], int]:
    chunks = retriever.index.chunks

    def total(q: GoldQuestion) -> int:
        return sum(is_relevant(q, c.article_id, c.text) for c in chunks)

    return total


def raw_scores(retriever: Retriever, questions: Sequence[GoldQuestion]) -> dict[str, list[float]]:
    """Top rerank logit and top dense cosine per question, for calibration."""
    rerank, dense = [], []
    for q in questions:
        hits = retriever.search(q.question, k=1)
        top = hits[0] if hits else None
        rerank.append(top.rerank_score if top and top.rerank_score is not None else -20.0)
        dense.append(top.dense_score if top and top.dense_score is not None else 0.0)
    return {"rerank": rerank, "dense": dense}
