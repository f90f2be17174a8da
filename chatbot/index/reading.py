"""Reading an index: the live version's manifest, chunks, vectors and BM25 index.

A loaded version is an :class:`Index`; :func:`load_index` refuses one built with another
schema, model or vector backend, or whose files do not match their checksums, with an error
that names the command that repairs it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from chatbot.chunking import Chunk
from chatbot.index import files
from chatbot.lexical import LexicalIndex
from chatbot.vectorstore import (
    FAISS_FILE,
    FaissVectors,
    Vectors,
    VectorsRecord,
    VectorStore,
    VectorStoreError,
    store_for,
)

if TYPE_CHECKING:
    from chatbot.config import Settings

SCHEMA_VERSION = 2
CURRENT = "CURRENT"
VERSIONS = "versions"
MANIFEST = "manifest.json"
CHUNKS = "chunks.jsonl"
VECTORS = FAISS_FILE
BM25 = "bm25"


class IndexUnusableError(RuntimeError):
    """The index is missing, unreadable, or cannot be used with the current settings."""


class IndexNotFoundError(IndexUnusableError):
    pass


class EmptyCorpusError(IndexUnusableError):
    """The corpus is empty but the index holds articles: a re-index would remove them all."""


class IndexMismatchError(IndexUnusableError):
    """The index was built with another schema, model, dimension or vector backend: it must
    be rebuilt."""


@dataclass(frozen=True)
class ArticleRecord:
    """What the manifest keeps of each indexed article."""

    id: str
    title: str
    sha256: str
    source: str
    meta: Mapping[str, Any]
    chunk_ids: tuple[str, ...]
    indexed_at: str


@dataclass
class Index:
    """A loaded index version: chunks in vector order, their articles, their vectors (in
    FAISS or Milvus, see :mod:`chatbot.vectorstore`) and the BM25 index."""

    path: Path
    manifest: dict[str, Any]
    chunks: list[Chunk]
    articles: dict[str, ArticleRecord]
    vector_index: Vectors
    lexical: LexicalIndex

    @property
    def backend(self) -> str:
        """Where the vectors are: ``"faiss"`` or ``"milvus"``."""
        return self.vectors_record.backend

    @property
    def vectors_record(self) -> VectorsRecord:
        """Where this version's vectors are (its manifest's ``"vectors"`` entry)."""
        return VectorsRecord.from_manifest(self.manifest)

    @property
    def faiss_index(self) -> Any:
        """The FAISS index of a FAISS-backed version (``None`` with another backend)."""
        return getattr(self.vector_index, "index", None)

    @faiss_index.setter
    def faiss_index(self, value: Any) -> None:
        if not isinstance(self.vector_index, FaissVectors):
            raise TypeError(f"the index in {self.path} does not keep its vectors in FAISS")
        self.vector_index.index = value

    @property
    def model(self) -> str:
        return str(self.manifest["model"]["name"])

    @property
    def dimension(self) -> int:
        return int(self.manifest["model"]["dimension"])

    @property
    def built_at(self) -> str:
        return str(self.manifest["built_at"])

    @property
    def version(self) -> str:
        return self.path.name

    def __len__(self) -> int:
        return len(self.chunks)

    def search_rows(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The rows of the ``k`` chunks nearest to a normalised query vector, best first."""
        if not self.chunks or k <= 0:
            return []
        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(1, -1)
        if query.shape[1] != self.dimension:
            raise IndexMismatchError(
                f"query vector has {query.shape[1]} dimensions, the index {self.dimension}"
            )
        return self.vector_index.search(query, min(k, len(self.chunks)))

    def vectors_of(self, rows: Sequence[int]) -> np.ndarray:
        """The stored vectors of the given rows."""
        if not rows:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self.vector_index.vectors_of(rows)

    def vectors(self) -> np.ndarray:
        """All stored vectors, row ``i`` belonging to ``chunks[i]``."""
        if not self.chunks:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self.vector_index.all()


def current_version(index_dir: Path) -> Path:
    """The folder of the live version.

    Raises:
        IndexNotFoundError: no index has been built in ``index_dir``.
    """
    index_dir = Path(index_dir)
    try:
        name = (index_dir / CURRENT).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise IndexNotFoundError(
            f"no index in {index_dir}; build one with `chatbot index --index {index_dir}`"
        ) from None
    if not name or "/" in name or name.startswith("."):
        raise IndexUnusableError(f"{index_dir / CURRENT} is damaged; run `chatbot index --rebuild`")
    return index_dir / VERSIONS / name


def load_index(
    index_dir: Path,
    *,
    model: str | None = None,
    verify: bool = True,
    store: VectorStore | None = None,
) -> Index:
    """Load the live version of the index in ``index_dir``.

    Args:
        index_dir: the index folder.
        model: when given, the embedding model the caller will query with; an index built
            with another model is refused.
        verify: check the files against the checksums in the manifest (and, with Milvus,
            that the collection holds every vector the version names).
        store: the configured vector store; an index whose vectors are in another backend
            is refused. By default the one ``CHATBOT_VECTOR_BACKEND`` and
            ``CHATBOT_MILVUS_URI`` name.

    Raises:
        IndexNotFoundError: there is no index.
        IndexMismatchError: built with another schema, model or vector backend; re-index.
        IndexUnusableError: the files are damaged, or the vector store lacks the version's vectors.
    """
    index_dir = Path(index_dir)
    if store is None:
        store = configured_store(index_dir=index_dir)
    path = current_version(index_dir)
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexUnusableError(
            f"cannot read {path / MANIFEST} ({exc}); run `chatbot index --rebuild`"
        ) from exc
    schema = manifest.get("schema_version")
    if schema != SCHEMA_VERSION:
        raise IndexMismatchError(
            f"the index in {index_dir} has schema version {schema}, this program reads "
            f"version {SCHEMA_VERSION}; re-index with `chatbot index --rebuild`"
        )
    built_with = manifest["model"]["name"]
    if model is not None and built_with != model:
        raise IndexMismatchError(
            f"the index in {index_dir} was built with the embedding model {built_with!r}, "
            f"but the settings name {model!r}; re-index with `chatbot index --rebuild` "
            "(or set CHATBOT_EMBEDDING_MODEL back)"
        )
    record = VectorsRecord.from_manifest(manifest)
    if record.backend != store.backend:
        raise IndexMismatchError(
            f"the index in {index_dir} keeps its vectors in {record.backend}, but the "
            f"settings name {store.backend!r} (CHATBOT_VECTOR_BACKEND); re-index with "
            f"`chatbot index --rebuild` (or set CHATBOT_VECTOR_BACKEND={record.backend})"
        )
    if verify:
        for name, expected in manifest["checksums"].items():
            if ".." in name or name.startswith(("/", ".")):
                raise IndexUnusableError(f"{path / MANIFEST} names an unexpected file {name!r}")
            if files.sha256_file(path / name) != expected:
                raise IndexUnusableError(
                    f"{path / name} does not match its checksum; run `chatbot index --rebuild`"
                )
    chunks = [Chunk(**json.loads(line)) for line in _read_lines(path / CHUNKS)]
    try:
        vectors = store.open(path, record, [c.id for c in chunks], verify=verify)
    except VectorStoreError as exc:
        raise IndexUnusableError(str(exc)) from exc
    articles = {
        a["id"]: ArticleRecord(**{**a, "chunk_ids": tuple(a["chunk_ids"])})
        for a in manifest["articles"]
    }
    lexical = LexicalIndex.load(path / BM25, len(chunks))
    return Index(
        path=path,
        manifest=manifest,
        chunks=chunks,
        articles=articles,
        vector_index=vectors,
        lexical=lexical,
    )


def configured_store(
    settings: Settings | None = None, index_dir: Path | None = None
) -> VectorStore:
    """The vector store ``settings`` name (by default the ``CHATBOT_*`` variables), for the
    index in ``index_dir`` (by default ``settings.index_dir``).

    Raises:
        IndexUnusableError: the Milvus URI cannot be used.
    """
    from chatbot.config import Settings

    try:
        return store_for(settings or Settings.from_env(), index_dir)
    except VectorStoreError as exc:
        raise IndexUnusableError(str(exc)) from exc


def _read_lines(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield line
