"""Measure retrieval on the gold set: ranking metrics, evidence separation, latency.

A retrieved chunk is relevant to a question when its article is one of the question's gold
articles and its text contains at least one of the question's key phrases.
"""

from __future__ import annotations

import itertools
import json
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from chatbot.reranking import Reranker
from chatbot.retrieval import MODES, Retriever

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


# ------------------------------------------------------------------ systems under test


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


class LangChainBaseline:
    """The textbook pipeline: RecursiveCharacterTextSplitter(1000, 200), the same embedding
    model (through LangChain's ``Embeddings`` interface), FAISS.from_documents and similarity
    search."""

    def __init__(self, articles: Sequence[Any], embedder: Any) -> None:
        from langchain_community.vectorstores import FAISS
        from langchain_core.documents import Document
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        from chatbot.langchain import ChatbotEmbeddings

        splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
        docs = splitter.split_documents(
            [Document(page_content=a.text, metadata={"article_id": a.id}) for a in articles]
        )
        self.docs = docs
        self.store = FAISS.from_documents(docs, ChatbotEmbeddings(embedder))

    def run(self, question: str) -> Retrieved:
        start = time.perf_counter()
        results = self.store.similarity_search_with_relevance_scores(question, k=10)
        seconds = time.perf_counter() - start
        return Retrieved(
            passages=tuple((d.metadata["article_id"], d.page_content) for d, _ in results),
            evidence=float(results[0][1]) if results else 0.0,
            seconds=seconds,
        )

    def relevant_total(self, q: GoldQuestion) -> int:
        return sum(is_relevant(q, d.metadata["article_id"], d.page_content) for d in self.docs)


# ----------------------------------------------------------------- cross-validation


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


def first_relevant(question: GoldQuestion, passages: Sequence[tuple[str, str]]) -> int | None:
    """The 0-based rank of the first relevant passage among the top 10, or ``None``."""
    return next((i for i, (a, t) in enumerate(passages[:10]) if is_relevant(question, a, t)), None)


def _ranking_figures(firsts: Sequence[int | None]) -> dict[str, float]:
    n = max(1, len(firsts))
    return {
        "hit@1": round(sum(f is not None and f < 1 for f in firsts) / n, 4),
        "hit@5": round(sum(f is not None and f < 5 for f in firsts) / n, 4),
        "mrr@5": round(sum(1 / (f + 1) for f in firsts if f is not None and f < 5) / n, 4),
    }


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


def cross_validation_markdown(report: CrossValidation) -> str:
    held = report.held_out
    lines = [
        f"## Cross-validated `{report.setting}`",
        "",
        f"{report.folds}-fold cross-validation over the in-scope questions (split seed "
        f"{report.seed}); values chosen on the training folds: "
        + ", ".join(f"{v:g}" for v in report.chosen)
        + ".",
        "",
        f"Held out: hit@1 {held['hit@1']:.3f}, hit@5 {held['hit@5']:.3f}, "
        f"MRR@5 {held['mrr@5']:.3f}.",
        "",
        "| value | hit@1 | hit@5 | MRR@5 |",
        "|---|---|---|---|",
    ]
    for value, figures in report.in_sample.items():
        lines.append(
            f"| {value:g} | {figures['hit@1']:.3f} | {figures['hit@5']:.3f} | "
            f"{figures['mrr@5']:.3f} |"
        )
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------- reporting


def report_markdown(reports: Sequence[VariantReport], meta: dict[str, Any]) -> str:
    lines = [
        "# Retrieval evaluation",
        "",
        f"Gold set: `{meta['gold']}` ({meta['in_scope']} in-scope, "
        f"{meta['out_of_scope']} out-of-scope questions). Index: {meta['chunks']} chunks, "
        f"embedding model `{meta['embedding_model']}`, reranker `{meta['reranker_model']}`.",
        f"Run at {meta['run_at']} on {meta['cpus']} CPU cores "
        f"(load average {meta.get('load_average', 'unknown')} when it finished).",
        "",
        "| variant | hit@1 | hit@3 | hit@5 | MRR@5 | nDCG@10 | in/out-of-scope accuracy "
        "(threshold) | p50 ms | p95 ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in reports:
        lines.append(
            f"| {r.name} | {r.hit_at[1]:.3f} | {r.hit_at[3]:.3f} | {r.hit_at[5]:.3f} | "
            f"{r.mrr_at_5:.3f} | {r.ndcg_at_10:.3f} | {r.separation_accuracy:.3f} "
            f"({r.separation_threshold:.3f}) | {r.latency_p50_ms:.1f} | {r.latency_p95_ms:.1f} |"
        )
    lines += ["", "## hit@1 by question kind", ""]
    kinds = sorted({k for r in reports for k in r.by_kind})
    lines.append("| variant | " + " | ".join(kinds) + " |")
    lines.append("|---|" + "---|" * len(kinds))
    for r in reports:
        lines.append(
            f"| {r.name} | " + " | ".join(f"{r.by_kind.get(k, 0):.2f}" for k in kinds) + " |"
        )
    lines += ["", "## Questions without a relevant passage in the top 5", ""]
    for r in reports:
        lines.append(f"- {r.name}: {', '.join(r.misses) or 'none'}")
    fits = {tuple(sorted(r.calibration.items())): r.name for r in reports if r.calibration}
    if fits:
        lines += ["", "## Evidence calibration", ""]
        lines += [
            "Logistic fit of in-scope against the top hit's score (settings for "
            "`chatbot/config.py`):",
            "",
        ]
        for fit in fits:
            lines.append("- " + ", ".join(f"`{k}={v:.4f}`" for k, v in fit))
    return "\n".join(lines) + "\n"


def save_chart(reports: Sequence[VariantReport], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics: list[tuple[str, Callable[[VariantReport], float]]] = [
        ("hit@1", lambda r: r.hit_at[1]),
        ("hit@5", lambda r: r.hit_at[5]),
        ("MRR@5", lambda r: r.mrr_at_5),
        ("nDCG@10", lambda r: r.ndcg_at_10),
        ("scope acc.", lambda r: r.separation_accuracy),
    ]
    fig, (ax, lat) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [3, 1]})
    width = 0.8 / len(reports)
    for i, r in enumerate(reports):
        xs = [j + i * width for j in range(len(metrics))]
        ax.bar(xs, [f(r) for _, f in metrics], width, label=r.name)
        lat.bar(i, r.latency_p50_ms, label=r.name)
    ax.set_xticks([j + width * (len(reports) - 1) / 2 for j in range(len(metrics))])
    ax.set_xticklabels([m for m, _ in metrics])
    ax.set_ylim(0, 1.05)
    ax.set_title("Retrieval quality on the gold set")
    ax.legend(fontsize=8, loc="lower right")
    lat.set_xticks(range(len(reports)))
    lat.set_xticklabels([r.name for r in reports], rotation=45, ha="right", fontsize=8)
    lat.set_title("Latency p50 (ms)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


__all__ = [
    "MODES",
    "CrossValidation",
    "GoldQuestion",
    "VariantReport",
    "cross_validate",
    "evaluate",
    "load_gold",
]


# ----------------------------------------------------------------------------- answers


@dataclass
class AnswerReport:
    """How the answers of :class:`chatbot.answering.Chatbot` fare on the gold set."""

    gold_cited: float = 0.0
    key_fact_in_answer: float = 0.0
    # The first sentence alone (holding a lead phrase, or for a question without lead
    # phrases a gold article's key phrase): does the answer open with what was asked?
    key_fact_in_lead: float = 0.0
    refusal_precision: float = 0.0
    refusal_recall: float = 0.0
    wrongly_refused: float = 0.0
    verbatim: float = 0.0
    latency_p50_ms: float = 0.0
    latency_p95_ms: float = 0.0
    failures: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def evaluate_answers(
    ask: Callable[[str], Any],
    questions: Sequence[GoldQuestion],
    article_texts: dict[str, str],
    progress: Callable[[], None] | None = None,
) -> AnswerReport:
    """Ask every gold question and score the answers.

    An in-scope answer cites its gold article when any citation is from a gold article, and
    holds the key fact when its text contains a key phrase; a refusal is status
    ``no_answer``; an answer is verbatim when every citation's quote is the article's text
    at its offsets.
    """
    ask(questions[0].question)  # warm-up
    cited = fact = lead = verbatim = answered = 0
    refused_out = refused_in = 0
    seconds: list[float] = []
    failures = []
    in_scope = [q for q in questions if q.in_scope]
    for q in questions:
        start = time.perf_counter()
        answer = ask(q.question)
        seconds.append(time.perf_counter() - start)
        if progress:
            progress()
        refused = answer.status == "no_answer"
        if not q.in_scope:
            refused_out += refused
            continue
        refused_in += refused
        if refused:
            failures.append(f"{q.id} refused")
            continue
        answered += 1
        ok_gold = any(c.article_id in q.gold for c in answer.citations)
        ok_fact = any(p in answer.answer for p in q.key_phrases)
        cited += ok_gold
        fact += ok_fact
        first = answer.citations[0] if answer.citations else None
        if first is not None and q.lead_phrases:
            lead += any(p in first.quote for p in q.lead_phrases)
        else:
            lead += first is not None and is_relevant(q, first.article_id, first.quote)
        verbatim += all(
            article_texts[c.article_id][c.start : c.end] == c.quote for c in answer.citations
        )
        if not (ok_gold and ok_fact):
            failures.append(f"{q.id} {'no gold citation' if not ok_gold else 'no key fact'}")
    n_in, n_out = max(1, len(in_scope)), max(1, len(questions) - len(in_scope))
    refusals = refused_in + refused_out
    return AnswerReport(
        gold_cited=round(cited / n_in, 4),
        key_fact_in_answer=round(fact / n_in, 4),
        key_fact_in_lead=round(lead / n_in, 4),
        refusal_precision=round(refused_out / refusals, 4) if refusals else 1.0,
        refusal_recall=round(refused_out / n_out, 4),
        wrongly_refused=round(refused_in / n_in, 4),
        verbatim=round(verbatim / max(1, answered), 4),
        latency_p50_ms=round(_percentile(seconds, 50) * 1000, 1),
        latency_p95_ms=round(_percentile(seconds, 95) * 1000, 1),
        failures=failures,
    )


def answer_markdown(report: AnswerReport) -> str:
    return "\n".join(
        [
            "## Answers",
            "",
            "| gold article cited | key fact in answer | key fact in first sentence "
            "| refusal precision | refusal recall "
            "| in-scope wrongly refused | verbatim quotes | ask p50 ms | ask p95 ms |",
            "|---|---|---|---|---|---|---|---|---|",
            f"| {report.gold_cited:.3f} | {report.key_fact_in_answer:.3f} | "
            f"{report.key_fact_in_lead:.3f} | "
            f"{report.refusal_precision:.3f} | {report.refusal_recall:.3f} | "
            f"{report.wrongly_refused:.3f} | {report.verbatim:.3f} | {report.latency_p50_ms:.1f} "
            f"| {report.latency_p95_ms:.1f} |",
            "",
            "Misses: " + (", ".join(report.failures) or "none"),
            "",
        ]
    )


# ------------------------------------------------------------------------ understanding


@dataclass
class UnderstandingReport:
    """Refusals of near-topic unanswerable questions, wrong refusals of answerable ones, and
    conversational messages, per category (``eval/unanswerable.jsonl``,
    ``eval/conversation.jsonl``, and the hold-out ``eval/coverage_holdout.jsonl``)."""

    unanswerable_refused: float = 0.0
    refused_by_category: dict[str, float] = field(default_factory=dict)
    refusals_naming_what_is_missing: float = 0.0
    conversation_handled: float = 0.0
    conversation_by_kind: dict[str, float] = field(default_factory=dict)
    holdout_unanswerable_refused: float = 0.0
    holdout_refused_by_category: dict[str, float] = field(default_factory=dict)
    holdout_wrongly_refused: float = 0.0
    holdout_conversation_handled: float = 0.0
    misses: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _rows(path: Path) -> list[dict[str, Any]]:
    if not Path(path).exists():
        return []
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def conversation_handled(answer: Any, kind: str) -> bool:
    """A conversational message is handled by a reply without citations; "tell me more"
    after an answer by an answer that continues its topic (flag ``more``, cited)."""
    if kind == "more_with_history":
        return answer.status == "answered" and "more" in answer.flags and bool(answer.citations)
    return answer.status == "conversation" and not answer.citations


def _share(values: Sequence[bool]) -> float:
    return round(sum(values) / len(values), 4) if values else 0.0


def _by(pairs: Sequence[tuple[str, bool]]) -> dict[str, float]:
    groups: dict[str, list[bool]] = {}
    for key, ok in pairs:
        groups.setdefault(key, []).append(ok)
    return {k: _share(v) for k, v in sorted(groups.items())}


def evaluate_understanding(
    ask: Callable[..., Any],
    unanswerable: Path,
    conversation: Path,
    holdout: Path,
    progress: Callable[[], None] | None = None,
) -> UnderstandingReport:
    """Ask every row of the three sets (``ask(text, history=...)``) and score the replies."""
    report = UnderstandingReport()
    refused: list[tuple[str, bool]] = []
    named: list[bool] = []
    for row in _rows(unanswerable):
        answer = ask(row["question"])
        ok = answer.status == "no_answer"
        refused.append((row["category"], ok))
        if ok:
            named.append(bool(answer.uncovered))
        else:
            report.misses.append(f"{row['id']} answered")
        if progress:
            progress()
    handled: list[tuple[str, bool]] = []
    for row in _rows(conversation):
        answer = ask(row["text"], history=row.get("history", []))
        ok = conversation_handled(answer, row["kind"])
        handled.append((row["kind"], ok))
        if not ok:
            report.misses.append(f"{row['id']} {answer.status}")
        if progress:
            progress()
    hold_refused: list[tuple[str, bool]] = []
    hold_wrong: list[bool] = []
    hold_talk: list[bool] = []
    for row in _rows(holdout):
        answer = ask(row["question"])
        if row["expect"] == "refuse":
            hold_refused.append((row["category"], answer.status == "no_answer"))
        elif row["expect"] == "answer":
            hold_wrong.append(answer.status == "no_answer")
        else:
            hold_talk.append(conversation_handled(answer, row["category"]))
        if progress:
            progress()
    report.unanswerable_refused = _share([ok for _, ok in refused])
    report.refused_by_category = _by(refused)
    report.refusals_naming_what_is_missing = _share(named)
    report.conversation_handled = _share([ok for _, ok in handled])
    report.conversation_by_kind = _by(handled)
    report.holdout_unanswerable_refused = _share([ok for _, ok in hold_refused])
    report.holdout_refused_by_category = _by(hold_refused)
    report.holdout_wrongly_refused = _share(hold_wrong)
    report.holdout_conversation_handled = _share(hold_talk)
    return report


def understanding_markdown(report: UnderstandingReport) -> str:
    lines = [
        "## Knowing what the articles do not answer, and conversation",
        "",
        "| measure | fitted sets | hold-out (never fit) |",
        "|---|---|---|",
        f"| near-topic unanswerable refused | {report.unanswerable_refused:.3f} "
        f"| {report.holdout_unanswerable_refused:.3f} |",
        f"| refusals naming what is missing | {report.refusals_naming_what_is_missing:.3f} | |",
        f"| answerable wrongly refused | (see Answers) | {report.holdout_wrongly_refused:.3f} |",
        f"| conversational messages handled | {report.conversation_handled:.3f} "
        f"| {report.holdout_conversation_handled:.3f} |",
        "",
        "| unanswerable category | refused |",
        "|---|---|",
        *(f"| {k} | {v:.3f} |" for k, v in report.refused_by_category.items()),
        *(f"| hold-out: {k} | {v:.3f} |" for k, v in report.holdout_refused_by_category.items()),
        "",
        "| conversational kind | handled |",
        "|---|---|",
        *(f"| {k} | {v:.3f} |" for k, v in report.conversation_by_kind.items()),
        "",
        "Misses: " + (", ".join(report.misses) or "none"),
        "",
    ]
    return "\n".join(lines)


# ------------------------------------------------------------------------------ triage


def evaluate_triage(path: Path) -> dict[str, float]:
    """Recall on emergency phrasings and false alarms on ordinary questions, from a JSON-lines
    file of ``{"text", "label"}`` (labels: emergency, self_harm, ordinary, dosing_personal,
    dosing_general, injection, benign)."""
    from chatbot import safety

    rows = [json.loads(x) for x in Path(path).read_text(encoding="utf-8").splitlines() if x]

    def rate(labels: set[str], hit: Callable[[safety.Triage], bool]) -> float:
        picked = [r for r in rows if r["label"] in labels]
        return round(sum(hit(safety.triage(r["text"])) for r in picked) / max(1, len(picked)), 4)

    def alarmed(t: safety.Triage) -> bool:
        return t.status == "emergency"

    return {
        "emergency_recall": rate({"emergency", "self_harm"}, alarmed),
        "crisis_line_on_self_harm": rate({"self_harm"}, lambda t: "self_harm" in t.flags),
        "false_alarm_rate": rate({"ordinary"}, alarmed),
        "dosing_flagged": rate({"dosing_personal"}, lambda t: "dosing" in t.flags),
        "dosing_false_flags": rate({"dosing_general"}, lambda t: "dosing" in t.flags),
        "injection_flagged": rate({"injection"}, lambda t: "prompt_injection" in t.flags),
        "injection_false_flags": rate({"benign"}, lambda t: "prompt_injection" in t.flags),
        "phrasings": len(rows),
    }


def triage_markdown(figures: dict[str, float]) -> str:
    keys = [k for k in figures if k != "phrasings"]
    return "\n".join(
        [
            "## Safety triage",
            "",
            f"{int(figures['phrasings'])} phrasings from `eval/triage.jsonl`.",
            "",
            "| " + " | ".join(k.replace("_", " ") for k in keys) + " |",
            "|" + "---|" * len(keys),
            "| " + " | ".join(f"{figures[k]:.3f}" for k in keys) + " |",
            "",
        ]
    )


def evaluate_triage_bank(settings: Any) -> dict[str, Any]:
    """The detector measured on the scenario bank: leave one family out (fit on every other
    phrasing family, triage the held-out one), in sample, and the shipped weights on the
    held-out sets (:func:`chatbot.safety.training.report`)."""
    from chatbot.embedding import get_embedder
    from chatbot.safety import training

    result = training.report(
        settings.triage_bank_dir, settings.triage_path, get_embedder(training.DEFAULT_MODEL)
    )
    weights = result.pop("weights")
    result["thresholds"] = {
        "emergency": weights["emergency"]["threshold"],
        "urgent": weights["urgent"]["threshold"],
    }
    return result


def _rates_row(name: str, r: dict[str, Any]) -> str:
    def cell(key: str) -> str:
        return f"{r[key]:.3f}" if key in r else "–"

    keys = ("recall", "false_alarms", "urgent_caught", "urgent_as_emergency", "false_urgent")
    return f"| {name} | {r['n']} | " + " | ".join(cell(k) for k in keys) + " |"


def triage_bank_markdown(result: dict[str, Any]) -> str:
    """The bank figures as Markdown: overall, per category and per family."""
    head = [
        "| set | messages | emergency recall | false alarms | urgent caught "
        "| urgent as emergency | false urgent |",
        "|---|---|---|---|---|---|---|",
    ]
    lines = [
        "## Triage on the scenario bank",
        "",
        "Leave one family out: the detector is fit on every phrasing family but one and "
        "triages that one, so each figure is on wording it was not fit on. Thresholds "
        f"(emergency {result['thresholds']['emergency']}, urgent "
        f"{result['thresholds']['urgent']}) are chosen by an inner cross-validation.",
        "",
        *head,
        _rates_row("leave one family out", result["lofo"]["overall"]),
        _rates_row("in sample", result["in_sample"]["overall"]),
        *(_rates_row(f"held out: {k}", v["overall"]) for k, v in result["held_out"].items()),
        "",
        "### Leave one family out, per category",
        "",
        *head,
        *(_rates_row(k, v) for k, v in result["lofo"]["by_category"].items()),
        "",
        "### Leave one family out, per family",
        "",
        *head,
        *(_rates_row(k, v) for k, v in result["lofo"]["by_family"].items()),
        "",
    ]
    return "\n".join(lines)


# ------------------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m chatbot.evaluation``: cross-validate the rerank fusion weight on the gold
    set (the index, gold set and models that the ``CHATBOT_*`` settings name)."""
    import argparse

    from chatbot.config import Settings

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--values", default="0,4,8,12,16,20,24,28,32,40", help="weights to try")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0, help="seed of the split into folds")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    values = sorted(float(v) for v in args.values.split(",") if v.strip())
    settings = Settings.from_env()
    retriever = Retriever.from_settings(settings)
    report = cross_validate(
        "rerank_fusion_weight",
        values,
        load_gold(settings.gold_path),
        fusion_weight_runner(retriever),
        folds=args.folds,
        seed=args.seed,
    )
    print(json.dumps(report.as_json()) if args.json else cross_validation_markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


# --------------------------------------------------------------------- patient language


@dataclass
class PatientReport:
    """Retrieval on the patient questions (lay, misspelled, follow-up, other languages,
    noisy), per kind, for the chatbot and the textbook baseline.

    The chatbot ranks what it reads for the message (:meth:`Chatbot.rank`: noise removed,
    spelling corrected, follow-ups resolved, other languages glossed); the baseline ranks
    the raw message, with the previous user question before it for a follow-up (the
    textbook's condensing step without an LLM). ``languages`` has the share of
    other-language questions detected as such and of English ones taken for another
    language.
    """

    by_kind: dict[str, dict[str, float]] = field(default_factory=dict)
    baseline_by_kind: dict[str, dict[str, float]] = field(default_factory=dict)
    overall: dict[str, float] = field(default_factory=dict)
    baseline_overall: dict[str, float] = field(default_factory=dict)
    languages: dict[str, float] = field(default_factory=dict)
    misses: list[str] = field(default_factory=list)
    # Overall figures with each `lay_expansion` setting, to choose it by.
    expansion: dict[str, dict[str, float]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def load_patient_questions(path: Path) -> list[dict[str, Any]]:
    """Read ``eval/patient_questions.jsonl`` (gold-set rows with ``history``)."""
    return _rows(path)


def _gold_of(row: dict[str, Any]) -> GoldQuestion:
    return GoldQuestion(
        id=row["id"],
        question=row["question"],
        gold=tuple(row["gold"]),
        key_phrases=tuple(row["key_phrases"]),
        kind=row["kind"],
        in_scope=True,
    )


def evaluate_patient(
    rank: Callable[[str, Sequence[dict[str, str]]], Sequence[tuple[str, str]]],
    rows: Sequence[dict[str, Any]],
    baseline: Callable[[str], Retrieved] | None = None,
    detect: Callable[[str], str] | None = None,
    progress: Callable[[], None] | None = None,
) -> PatientReport:
    """Rank every patient question with ``rank`` (and ``baseline``) and score it by kind."""
    ours: dict[str, list[int | None]] = {}
    theirs: dict[str, list[int | None]] = {}
    report = PatientReport()
    detected: list[bool] = []
    flagged: list[bool] = []
    for row in rows:
        q = _gold_of(row)
        history = list(row.get("history") or ())
        first = first_relevant(q, rank(row["question"], history))
        ours.setdefault(q.kind, []).append(first)
        if first is None or first > 0:
            report.misses.append(f"{q.id} {'-' if first is None else first + 1}")
        if baseline is not None:
            earlier = [t["content"] for t in history if t.get("role") == "user"]
            text = " ".join([*earlier[-1:], row["question"]])
            theirs.setdefault(q.kind, []).append(first_relevant(q, baseline(text).passages))
        if detect is not None:
            foreign = detect(row["question"]) != "en"
            (detected if row.get("lang") else flagged).append(foreign)
        if progress:
            progress()

    def figures(firsts: Sequence[int | None]) -> dict[str, float]:
        return {**_ranking_figures(firsts), "n": float(len(firsts))}

    report.by_kind = {k: figures(v) for k, v in sorted(ours.items())}
    report.overall = figures([f for v in ours.values() for f in v])
    if theirs:
        report.baseline_by_kind = {k: figures(v) for k, v in sorted(theirs.items())}
        report.baseline_overall = figures([f for v in theirs.values() for f in v])
    if detect is not None:
        report.languages = {
            "other languages detected": _share(detected),
            "English taken for another language": _share(flagged),
        }
    return report


def patient_markdown(report: PatientReport, expansion: str = "") -> str:
    """The per-kind table, ours beside the baseline, and the lay-expansion variants."""
    lines = [
        "## Patient language: retrieval per kind",
        "",
        "The chatbot ranks what it reads for the message (noise removed, spelling corrected, "
        "follow-ups resolved, other languages glossed); the textbook baseline ranks the raw "
        "message (with the previous question before a follow-up).",
        "",
        "| kind | questions | hit@1 | hit@5 | MRR@5 | baseline hit@1 | baseline hit@5 "
        "| baseline MRR@5 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    kinds = [*report.by_kind.items(), ("all", report.overall)]
    for kind, ours in kinds:
        base = report.baseline_by_kind.get(kind, report.baseline_overall if kind == "all" else {})
        n = ours.get("n", 0)
        cells = [f"{ours[m]:.3f}" for m in ("hit@1", "hit@5", "mrr@5")]
        cells += [f"{base[m]:.3f}" if m in base else "–" for m in ("hit@1", "hit@5", "mrr@5")]
        lines.append(f"| {kind} | {n:.0f} | " + " | ".join(cells) + " |")
    if report.languages:
        lines += ["", *(f"- {k}: {v:.3f}" for k, v in report.languages.items())]
    if report.expansion:
        lines += [
            "",
            f"Lay terms added to the queries (`CHATBOT_LAY_EXPANSION`, now `{expansion}`):",
            "",
            "| lay_expansion | hit@1 | hit@5 | MRR@5 |",
            "|---|---|---|---|",
            *(
                f"| {name} | {f['hit@1']:.3f} | {f['hit@5']:.3f} | {f['mrr@5']:.3f} |"
                for name, f in report.expansion.items()
            ),
        ]
    if report.misses:
        lines += ["", "Not first (rank, or - when not in the top 10): " + ", ".join(report.misses)]
    return "\n".join(lines) + "\n"


def save_patient_chart(report: PatientReport, path: Path) -> None:
    """Bars of hit@1, hit@5 and MRR@5 per kind, the chatbot beside the baseline."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = [*report.by_kind, "all"]
    metrics = ("hit@1", "hit@5", "mrr@5")
    fig, axes = plt.subplots(1, len(metrics), figsize=(14, 4.2), sharey=True)
    for ax, metric in zip(axes, metrics, strict=True):
        ours = [(report.by_kind.get(k) or report.overall)[metric] for k in kinds]
        xs = range(len(kinds))
        ax.bar([x - 0.2 for x in xs], ours, 0.4, label="chatbot")
        if report.baseline_by_kind:
            base = [(report.baseline_by_kind.get(k) or report.baseline_overall)[metric]
                    for k in kinds]  # fmt: skip
            ax.bar([x + 0.2 for x in xs], base, 0.4, label="textbook baseline")
        ax.set_xticks(list(xs))
        ax.set_xticklabels(kinds, rotation=30, ha="right", fontsize=8)
        ax.set_title(metric)
        ax.set_ylim(0, 1.05)
    axes[0].legend(fontsize=8, loc="lower left")
    fig.suptitle("Patient questions: retrieval per kind")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
