"""Find the chunks that answer a query: dense + BM25, fused, reranked, diversified.

Stages, each selectable with ``mode`` for evaluation:

- ``dense``: the query's embedding against the FAISS index;
- ``bm25``: lexical BM25 over title, section and text;
- ``hybrid``: both candidate lists fused by reciprocal rank fusion;
- ``rerank`` (the default): the fused top candidates rescored by a cross-encoder, and ranked
  by its logit plus a weighted share of their fused score (the cross-encoder alone favours
  passages that repeat the question's words; agreement of the dense and BM25 lists corrects
  it, see ``docs/retrieval.md``).

Near-duplicate chunks are pushed below distinct ones, and each hit carries an evidence
strength in [0, 1] (a logistic calibration of its rerank or dense score, fitted on the gold
set by ``chatbot eval``) that the answer stage uses to decide when to refuse.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from chatbot.chunking import embedding_text, split_sentences
from chatbot.config import Settings
from chatbot.embedding import Embedder
from chatbot.index import Index
from chatbot.reranking import Reranker

Mode = Literal["dense", "bm25", "hybrid", "rerank"]
MODES: tuple[Mode, ...] = ("dense", "bm25", "hybrid", "rerank")


def default_mode(settings: Settings) -> Mode:
    """The last stage a search runs unless told: ``rerank``, or ``hybrid`` without a
    reranker (``CHATBOT_RERANKER_MODEL=none``)."""
    return "hybrid" if settings.reranker_model.lower() == "none" else "rerank"


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with its rank (1 = best), final score and the score of each stage.

    ``score`` is the final ranking score of the mode: in ``rerank`` mode the cross-encoder
    logit plus ``rerank_fusion_weight`` x ``rrf_k`` x the fused score (``rerank_score`` keeps
    the bare logit), the fused score in ``hybrid`` mode, and the stage's own score otherwise.
    Scores of stages that did not see the chunk are ``None``.
    """

    rank: int
    score: float
    chunk_id: str
    article_id: str
    title: str
    section: str
    text: str
    start: int
    end: int
    dense_score: float | None = None
    bm25_score: float | None = None
    fused_score: float | None = None
    rerank_score: float | None = None
    evidence: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Candidate:
    row: int
    dense: float | None = None
    bm25: float | None = None
    fused: float | None = None
    rerank: float | None = None


class Retriever:
    """The retrieval pipeline over one loaded index.

    Example:
        >>> retriever = Retriever(load_index(Path("index")), get_embedder(model), reranker)
        >>> retriever.search("Can Dupixent cause nerve pain?", k=3)[0].article_id
        'dupixent-nerve-pain'
    """

    def __init__(
        self,
        index: Index,
        embedder: Embedder,
        reranker: Reranker | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.index = index
        self.embedder = embedder
        self.reranker = reranker
        self.settings = settings or Settings()

    @classmethod
    def from_settings(cls, settings: Settings) -> Retriever:
        """Load the index, embedder and reranker that ``settings`` name (each once per process).

        Raises:
            IndexNotFoundError, IndexMismatchError: no usable index; re-index.
        """
        import faiss

        from chatbot.embedding import get_embedder
        from chatbot.index import configured_store, load_index
        from chatbot.reranking import get_reranker

        # One query searches one vector: FAISS's OpenMP threads only contend with
        # onnxruntime's for the cores (hybrid p50 at 10k chunks: 20.9 ms with 2, 8.4 with 1).
        faiss.omp_set_num_threads(1)

        index = load_index(
            settings.index_dir, model=settings.embedding_model, store=configured_store(settings)
        )
        embedder = get_embedder(settings.embedding_model, settings.embedding_batch_size)
        reranker = None
        if settings.reranker_model.lower() != "none":
            reranker = get_reranker(settings.reranker_model, settings.rerank_max_length)
        return cls(index, embedder, reranker, settings)

    def search(
        self,
        query: str,
        k: int = 5,
        mode: Mode | None = None,
        articles: Collection[str] | None = None,
        expansion: Sequence[str] = (),
    ) -> list[Hit]:
        """The ``k`` best chunks for ``query``; an empty query finds nothing.

        Args:
            query: the question or keywords.
            k: how many hits to return.
            mode: the last stage to run (default ``rerank``, or ``hybrid`` without a reranker).
            articles: search only the chunks of these article ids (``None``: all of them).
            expansion: the articles' terms for the query's lay words ("tingling" for "pins
                and needles"), added to the queries that ``settings.lay_expansion`` names.
        """
        query = " ".join(query.split())
        expanded = " ".join([query, *expansion]) if expansion else query
        lexical_query = query if self.settings.lay_expansion == "none" else expanded
        semantic_query = expanded if self.settings.lay_expansion == "all" else query
        if mode is None:
            mode = "rerank" if self.reranker is not None else "hybrid"  # default_mode's rule
        if mode not in MODES:
            raise ValueError(f"unknown search mode {mode!r}; use one of {', '.join(MODES)}")
        if mode == "rerank" and self.reranker is None:
            raise ValueError("rerank mode needs a reranker (CHATBOT_RERANKER_MODEL is 'none')")
        if not query or k <= 0 or len(self.index) == 0:
            return []
        allowed = None
        if articles is not None:
            wanted = set(articles)
            allowed = [i for i, c in enumerate(self.index.chunks) if c.article_id in wanted]
            if not allowed:
                return []
        s = self.settings
        n = max(s.candidates, k)
        pool: dict[int, _Candidate] = {}
        query_vector = None
        if mode != "bm25":
            query_vector = self.embedder.embed_query(semantic_query)
            for rank, (row, score) in enumerate(self._dense(query_vector, n, allowed)):
                pool.setdefault(row, _Candidate(row)).dense = score
                if mode != "dense":
                    _add_rrf(pool[row], rank, s.rrf_k)
        if mode != "dense":
            for rank, (row, score) in enumerate(self._lexical(lexical_query, n, allowed)):
                pool.setdefault(row, _Candidate(row)).bm25 = score
                if mode != "bm25":
                    _add_rrf(pool[row], rank, s.rrf_k)
        ordered = sorted(pool.values(), key=lambda c: -self._stage_score(c, mode))
        vectors = self.index.vectors_of([c.row for c in ordered])
        if query_vector is not None:
            for cand, vector in zip(ordered, vectors, strict=True):
                if cand.dense is None:
                    cand.dense = float(vector @ query_vector)
        if mode == "rerank" and self.reranker is not None:
            top = ordered[: min(max(s.rerank_top, k), s.rerank_limit)]
            scores = self.reranker.score(semantic_query, [self._passage(c.row) for c in top])
            for cand, score in zip(top, scores, strict=True):
                cand.rerank = float(score)
            ordered = sorted(top, key=lambda c: -self._stage_score(c, mode)) + ordered[len(top) :]
            vectors = self.index.vectors_of([c.row for c in ordered])
        chosen = _diversify(ordered, vectors, k, s.duplicate_threshold)
        return [self._hit(rank, cand, mode) for rank, cand in enumerate(chosen, start=1)]

    def _dense(
        self, vector: np.ndarray, n: int, allowed: list[int] | None
    ) -> list[tuple[int, float]]:
        if allowed is None:
            return self.index.search_rows(vector, n)
        # A filtered search scores the allowed rows exactly: no approximate index can
        # promise n hits inside an arbitrary subset.
        scores = self.index.vectors_of(allowed) @ vector
        order = np.argsort(-scores, kind="stable")[:n]
        return [(allowed[i], float(scores[i])) for i in order]

    def _lexical(self, query: str, n: int, allowed: list[int] | None) -> list[tuple[int, float]]:
        if allowed is None:
            return self.index.lexical.search(query, n)
        keep = set(allowed)
        ranked = self.index.lexical.search(query, len(self.index))
        return [(row, score) for row, score in ranked if row in keep][:n]

    def _passage(self, row: int) -> str:
        """What the cross-encoder reads: heading context and the chunk's statements.

        Questions in an article ("the question remains: can Dupixent cause nerve pain?")
        answer nothing, yet a cross-encoder rates a passage that repeats the query highly;
        measured on the gold set, leaving them out raised hit@1 by about two points.
        """
        chunk = self.index.chunks[row]
        statements = [
            chunk.text[s:e]
            for s, e in split_sentences(chunk.text)
            if not chunk.text[s:e].rstrip("\"”’') ").endswith("?")
        ]
        text = " ".join(statements) if statements else chunk.text
        return embedding_text(self.index.articles[chunk.article_id].title, chunk.section, text)

    def _stage_score(self, cand: _Candidate, mode: Mode) -> float:
        """The score that orders candidates after ``mode``'s stage (higher is better)."""
        if mode == "rerank":
            if cand.rerank is None:  # not rescored: after every rescored candidate
                return -1e9 + (cand.fused or 0.0)
            s = self.settings
            return cand.rerank + s.rerank_fusion_weight * s.rrf_k * (cand.fused or 0.0)
        value = {"dense": cand.dense, "bm25": cand.bm25, "hybrid": cand.fused}[mode]
        return float(value) if value is not None else -math.inf

    def evidence(self, cand: _Candidate) -> float:
        s = self.settings
        if cand.rerank is not None:
            return _sigmoid(s.evidence_rerank_scale * cand.rerank + s.evidence_rerank_shift)
        if cand.dense is not None:
            return _sigmoid(s.evidence_dense_scale * cand.dense + s.evidence_dense_shift)
        return 0.0

    def _hit(self, rank: int, cand: _Candidate, mode: Mode) -> Hit:
        chunk = self.index.chunks[cand.row]
        record = self.index.articles[chunk.article_id]
        return Hit(
            rank=rank,
            score=round(self._stage_score(cand, mode), 6),
            chunk_id=chunk.id,
            article_id=chunk.article_id,
            title=record.title,
            section=chunk.section,
            text=chunk.text,
            start=chunk.start,
            end=chunk.end,
            dense_score=_round(cand.dense),
            bm25_score=_round(cand.bm25),
            fused_score=_round(cand.fused),
            rerank_score=_round(cand.rerank),
            evidence=round(self.evidence(cand), 4),
        )


def _add_rrf(cand: _Candidate, rank: int, k: int) -> None:
    cand.fused = (cand.fused or 0.0) + 1.0 / (k + rank + 1)


def _diversify(
    ordered: Sequence[_Candidate], vectors: np.ndarray, k: int, threshold: float
) -> list[_Candidate]:
    """The first ``k`` candidates in order, skipping any that nearly duplicates one already
    chosen (cosine >= ``threshold``); skipped ones fill up the end if too few remain."""
    chosen: list[int] = []
    skipped: list[int] = []
    for i in range(len(ordered)):
        if len(chosen) == k:
            break
        if any(float(vectors[i] @ vectors[j]) >= threshold for j in chosen):
            skipped.append(i)
        else:
            chosen.append(i)
    chosen += skipped[: k - len(chosen)]
    return [ordered[i] for i in chosen]


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, x))))


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
