"""Measure retrieval on the gold set: ranking metrics, evidence separation, latency.

A retrieved chunk is relevant to a question when its article is one of the question's gold
articles and its text contains at least one of the question's key phrases.

Also the small helpers that the other measurements share: the rank of the first relevant
passage, hit@k and MRR figures over such ranks, percentiles, shares, and reading a JSON-lines
evaluation set.
"""

from __future__ import annotations

import itertools
import json
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

CUTOFFS = (1, 3, 5)


@dataclass(frozen=True)
class GoldQuestion:
    id: str
    question: str
    gold: tuple[str, ...]
    key_phrases: tuple[str, ...]
    kind: str
    in_scope: bool
    # Phrases from the sentences that would be an acceptable first sentence of the answer.
    lead_phrases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Retrieved:
    """What a system returned for one question: (article id, text) pairs, best first."""

    passages: tuple[tuple[str, str], ...]
    evidence: float
    seconds: float


@dataclass
class VariantReport:
    name: str
    hit_at: dict[int, float] = field(default_factory=dict)
    mrr_at_5: float = 0.0
    ndcg_at_10: float = 0.0
    separation_accuracy: float = 0.0
    separation_threshold: float = 0.0
    latency_p50_ms: float = 0.0
    latency_p95_ms: float = 0.0
    by_kind: dict[str, float] = field(default_factory=dict)
    misses: list[str] = field(default_factory=list)
    calibration: dict[str, float] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["hit_at"] = {f"hit@{k}": v for k, v in self.hit_at.items()}
        return data


def load_gold(path: Path) -> list[GoldQuestion]:
    """Read ``eval/questions.jsonl``."""
    questions = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            questions.append(
                GoldQuestion(
                    id=raw["id"],
                    question=raw["question"],
                    gold=tuple(raw["gold"]),
                    key_phrases=tuple(raw["key_phrases"]),
                    kind=raw["kind"],
                    in_scope=bool(raw["in_scope"]),
                    lead_phrases=tuple(raw.get("lead_phrases", ())),
                )
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{n}: not a gold question ({exc})") from exc
    return questions


def is_relevant(question: GoldQuestion, article_id: str, text: str) -> bool:
    return article_id in question.gold and any(p in text for p in question.key_phrases)


def first_relevant(question: GoldQuestion, passages: Sequence[tuple[str, str]]) -> int | None:
    """The 0-based rank of the first relevant passage among the top 10, or ``None``."""
    return next((i for i, (a, t) in enumerate(passages[:10]) if is_relevant(question, a, t)), None)


def evaluate(
    name: str,
    questions: Sequence[GoldQuestion],
    run: Callable[[str], Retrieved],
    *,
    relevant_total: Callable[[GoldQuestion], int],
    progress: Callable[[], None] | None = None,
) -> VariantReport:
    """Run ``run`` on every question and compute the metrics.

    Args:
        name: the variant's label.
        questions: the gold set.
        run: returns the top 10 passages and the evidence strength for a question.
        relevant_total: how many relevant passages the system could return for a question
            (the ideal for nDCG).
        progress: called after each question.
    """
    run(questions[0].question)  # warm-up: models and caches load outside the timings
    hits = {k: 0 for k in CUTOFFS}
    reciprocal = 0.0
    ndcg = 0.0
    seconds: list[float] = []
    evidence: list[tuple[float, bool]] = []
    kinds: dict[str, list[int]] = {}
    misses = []
    in_scope = [q for q in questions if q.in_scope]
    for q in questions:
        result = run(q.question)
        seconds.append(result.seconds)
        evidence.append((result.evidence, q.in_scope))
        if progress:
            progress()
        if not q.in_scope:
            continue
        flags = [is_relevant(q, a, t) for a, t in result.passages[:10]]
        first = next((i for i, f in enumerate(flags) if f), None)
        for k in CUTOFFS:
            hits[k] += first is not None and first < k
        if first is not None and first < 5:
            reciprocal += 1.0 / (first + 1)
        dcg = sum(1.0 / math.log2(i + 2) for i, f in enumerate(flags) if f)
        ideal = sum(1.0 / math.log2(i + 2) for i in range(min(10, relevant_total(q))))
        ndcg += dcg / ideal if ideal else 0.0
        kinds.setdefault(q.kind, []).append(int(first is not None and first < 1))
        if first is None or first >= 5:
            misses.append(q.id)
    n = max(1, len(in_scope))
    accuracy, threshold = best_threshold(evidence)
    return VariantReport(
        name=name,
        hit_at={k: round(hits[k] / n, 4) for k in CUTOFFS},
        mrr_at_5=round(reciprocal / n, 4),
        ndcg_at_10=round(ndcg / n, 4),
        separation_accuracy=round(accuracy, 4),
        separation_threshold=round(threshold, 4),
        latency_p50_ms=round(_percentile(seconds, 50) * 1000, 1),
        latency_p95_ms=round(_percentile(seconds, 95) * 1000, 1),
        by_kind={k: round(sum(v) / len(v), 4) for k, v in sorted(kinds.items())},
        misses=misses,
    )


def best_threshold(evidence: Sequence[tuple[float, bool]]) -> tuple[float, float]:
    """The accuracy of "in scope when evidence >= t" at the best t, and that t (the lowest
    of equally good ones)."""
    if not evidence:
        return 0.0, 0.0
    values = sorted({e for e, _ in evidence})
    middles = [(a + b) / 2 for a, b in itertools.pairwise(values)]
    candidates = [values[0] - 1e-6, *middles, values[-1] + 1e-6]
    best = (0.0, 0.0)
    for t in candidates:
        correct = sum((e >= t) == inside for e, inside in evidence)
        accuracy = correct / len(evidence)
        if accuracy > best[0]:
            best = (accuracy, t)
    return best


def fit_logistic(scores: Sequence[float], labels: Sequence[bool]) -> tuple[float, float]:
    """Platt scaling: (scale, shift) so that sigmoid(scale * score + shift) ~ P(in scope)."""
    x = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    w = np.zeros(2)
    features = np.stack([x, np.ones_like(x)], axis=1)
    for _ in range(100):  # Newton's method with a little ridge for separable data
        p = 1.0 / (1.0 + np.exp(-(features @ w)))
        gradient = features.T @ (p - y) + 0.01 * w
        hessian = features.T @ (features * (p * (1 - p))[:, None]) + 0.01 * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return float(w[0]), float(w[1])


def _percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return float(statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1])


def _ranking_figures(firsts: Sequence[int | None]) -> dict[str, float]:
    n = max(1, len(firsts))
    return {
        "hit@1": round(sum(f is not None and f < 1 for f in firsts) / n, 4),
        "hit@5": round(sum(f is not None and f < 5 for f in firsts) / n, 4),
        "mrr@5": round(sum(1 / (f + 1) for f in firsts if f is not None and f < 5) / n, 4),
    }


def _rows(path: Path) -> list[dict[str, Any]]:
    if not Path(path).exists():
        return []
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _share(values: Sequence[bool]) -> float:
    return round(sum(values) / len(values), 4) if values else 0.0
