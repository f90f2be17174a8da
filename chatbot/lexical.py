"""BM25 over chunk texts (bm25s), saved beside the vectors in each index version."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

_WORD = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?")
# Common English words that carry no evidence on their own.
_STOPWORD_TEXT = """
    a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers herself him himself his how i if in into is it its
    itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself yourselves
    also may might must shall
"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


@functools.cache
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


def tokenize(text: str) -> list[str]:
    """Lower-cased, stop-word-free, Snowball-stemmed words."""
    words = [w.replace("’", "'") for w in _WORD.findall(text.lower())]
    words = [w.split("'")[0] for w in words if w not in _STOPWORDS]
    return list(_stemmer().stemWords([w for w in words if w and w not in _STOPWORDS]))


class LexicalIndex:
    """BM25 scores for a list of texts; row ``i`` is text ``i``.

    Example:
        >>> bm25 = LexicalIndex.build(["IVIG comes from plasma.", "Lupus affects nerves."])
        >>> bm25.search("plasma donors", k=1)
        [(0, 0.69...)]
    """

    def __init__(self, retriever: Any, size: int) -> None:
        self._retriever = retriever
        self.size = size

    @classmethod
    def build(cls, texts: Sequence[str]) -> LexicalIndex:
        import bm25s

        retriever = bm25s.BM25()
        if texts:
            tokens = [tokenize(t) or ["\x00empty"] for t in texts]
            retriever.index(tokens, show_progress=False)
        return cls(retriever, len(texts))

    def save(self, folder: Path) -> None:
        if self.size:
            self._retriever.save(str(folder))

    @classmethod
    def load(cls, folder: Path, size: int) -> LexicalIndex:
        import bm25s

        if size == 0:
            return cls(bm25s.BM25(), 0)
        return cls(bm25s.BM25.load(str(folder), allow_pickle=False), size)

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """The ``k`` best (row, score) pairs with a positive score, best first."""
        tokens = tokenize(query)
        if not tokens or not self.size or k <= 0:
            return []
        scores = self.scores(tokens)
        k = min(k, self.size)
        # A partial sort of the top k (a full argsort of 100k scores takes ~3 ms); ties keep
        # row order.
        part = np.argpartition(-scores, k - 1)[:k] if k < self.size else np.arange(self.size)
        top = sorted(part.tolist(), key=lambda i: (-scores[i], i))
        return [(int(i), float(scores[i])) for i in top if scores[i] > 0]

    def scores(self, tokens: list[str]) -> np.ndarray:
        """The BM25 score of every row for already tokenized query words."""
        vocab = self._retriever.vocab_dict
        ids = [vocab[t] for t in tokens if t in vocab]
        if not ids:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._retriever.get_scores(ids), dtype=np.float32)
