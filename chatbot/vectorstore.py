"""Where an index keeps its vectors: a FAISS file in each version, or one Milvus collection.

A backend as configured (``CHATBOT_VECTOR_BACKEND``) is a :class:`VectorStore`, which is
two small protocols:

- :class:`VectorWriter`, what the index writer needs: :meth:`~VectorWriter.plan` says where a
  new version's vectors go (a typed :class:`VectorsRecord`) and which chunk vectors are
  already stored; :meth:`~VectorWriter.commit` stores the fresh ones and writes the
  backend's part of the version; :meth:`~VectorWriter.collect_garbage` drops vectors that no
  version names any more.
- :class:`VectorReader`, what the loader needs: :meth:`~VectorReader.open` a version's
  :class:`Vectors` (row ``i`` belonging to chunk ``i``: nearest rows to a query, and the
  stored vector of any row).

Chunk ids are content hashes (article, title, section, text), so a chunk id's vector never
changes for a given embedding model. FAISS writes every version's vectors into the version
folder. Milvus keeps one collection per embedding model, keyed by chunk id: a re-index
upserts only the ids the collection lacks, the version's manifest still says which ids are
live, a search over-fetches and keeps live ids only, and rows that neither the live nor the
previous version names are deleted after the switch. The version folder (manifest, chunks,
BM25) stays the unit that is switched atomically; a crash before the switch leaves at most
unused rows in the collection, which the next successful update deletes.
"""

from __future__ import annotations

import functools
import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import faiss
import numpy as np

if TYPE_CHECKING:
    from chatbot.config import Settings

FAISS_FILE = "vectors.faiss"
# Below this many chunks an exhaustive scan is exact and fast enough; above it, HNSW.
# Measured by benchmarks/bench_scale.py on 2 cores, one FAISS thread: an exact scan takes
# 9.7 ms at 100k chunks (hybrid search p50 18.9 ms, at the edge of its 20 ms budget). HNSW
# (M=32, efConstruction=200, efSearch=256) searches 100k in 0.45 ms (hybrid p50 10.4 ms) and
# finds 96.5% of the real articles' chunks among distractors (recall@30; 89% at efSearch=96),
# for gold hit@5 81/90 against 82/90 exact, at ~38 s of build per 100k chunks.
HNSW_THRESHOLD = 50_000

MILVUS_LITE_FILE = "milvus.db"
# Milvus refuses a search limit above this.
_MILVUS_MAX_LIMIT = 16_384
# Ids per get/delete request, rows per upsert request.
_MILVUS_BATCH = 1_000
# Stored vectors a loaded Milvus version keeps in memory (content-addressed: never stale).
_CACHE_SIZE = 20_000


class VectorStoreError(RuntimeError):
    """The vector store cannot be reached, or lacks vectors an index version names."""


@runtime_checkable
class Vectors(Protocol):
    """The vectors of one index version; row ``i`` belongs to the chunk with id ``ids[i]``."""

    @property
    def ids(self) -> Sequence[str]: ...

    @property
    def dimension(self) -> int: ...

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The ``k`` rows nearest to a normalised query vector (inner product), best first."""
        ...

    def vectors_of(self, rows: Sequence[int]) -> np.ndarray:
        """The stored vectors of ``rows``, one row each, in the order given."""
        ...

    def all(self) -> np.ndarray:
        """Every stored vector, in row order."""
        ...


@dataclass(frozen=True)
class VectorsRecord:
    """Where one index version's vectors are; saved under ``"vectors"`` in its manifest.

    ``index`` is the FAISS index type (``IndexFlatIP``, ``IndexHNSWFlat``) or Milvus's index
    (``FLAT``); ``file`` is set for FAISS, ``collection`` and ``metric`` for Milvus.
    """

    backend: str
    dimension: int
    index: str
    file: str = ""
    collection: str = ""
    metric: str = ""

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any]) -> VectorsRecord:
        """The record of a manifest (manifests from before the record meant FAISS)."""
        saved = manifest.get("vectors")
        if not isinstance(saved, Mapping):
            return cls(
                backend="faiss",
                dimension=int(manifest["model"]["dimension"]),
                index=str(manifest.get("faiss_index", "IndexFlatIP")),
                file=FAISS_FILE,
            )
        return cls(
            backend=str(saved["backend"]),
            dimension=int(saved["dimension"]),
            index=str(saved.get("index", "")),
            file=str(saved.get("file", "")),
            collection=str(saved.get("collection", "")),
            metric=str(saved.get("metric", "")),
        )

    def as_json(self) -> dict[str, Any]:
        """The manifest's ``"vectors"`` entry (fields the backend does not use left out)."""
        data: dict[str, Any] = {"backend": self.backend, "dimension": self.dimension}
        for key in ("file", "collection", "metric"):
            if value := getattr(self, key):
                data[key] = value
        data["index"] = self.index
        return data


@dataclass(frozen=True)
class VectorPlan:
    """Where a new version's vectors go, and which of its chunks already have one stored
    (those need no embedding)."""

    record: VectorsRecord
    chunk_ids: tuple[str, ...]
    known: frozenset[str] = field(default_factory=frozenset)


@runtime_checkable
class VectorWriter(Protocol):
    """What the index writer asks of a vector backend, in this order, under its lock."""

    def plan(
        self, model: str, dimension: int, chunk_ids: Sequence[str], previous: Vectors | None
    ) -> VectorPlan:
        """Where the vectors of a version of ``chunk_ids`` go, and which are stored already.

        Args:
            model: the embedding model (Milvus keeps one collection per model).
            dimension: its vector size.
            chunk_ids: the new version's chunk ids, in row order.
            previous: the live version's vectors when they may be reused (same model and
                backend); ``None`` to reuse nothing a version holds.
        """
        ...

    def commit(
        self,
        plan: VectorPlan,
        fresh: Mapping[str, np.ndarray],
        previous: Vectors | None,
        staging: Path | None,
    ) -> list[str]:
        """Store the freshly embedded vectors and write this backend's part of a version.

        Every id of ``plan.chunk_ids`` is in ``fresh`` or in ``plan.known``. Called before
        any version names the vectors. With ``staging=None`` (no new version: the content is
        unchanged) only the fresh vectors are stored.

        Returns:
            the files written, relative to ``staging`` (the manifest checksums them).
        """
        ...

    def collect_garbage(self, record: VectorsRecord, keep: Callable[[], set[str]]) -> None:
        """Drop stored vectors whose id is not in ``keep()`` (may do nothing, and then need
        not call it)."""
        ...


@runtime_checkable
class VectorReader(Protocol):
    """What the index loader asks of a vector backend."""

    @property
    def backend(self) -> str:
        """``"faiss"`` or ``"milvus"``; the manifest records it."""
        ...

    def open(
        self,
        path: Path,
        record: VectorsRecord,
        chunk_ids: Sequence[str],
        *,
        verify: bool = True,
    ) -> Vectors:
        """The vectors of the version in ``path``.

        Raises:
            VectorStoreError: the store lacks the version's vectors or cannot be reached.
        """
        ...


@runtime_checkable
class VectorStore(VectorWriter, VectorReader, Protocol):
    """A configured vector backend: the writer's and the loader's side."""


def store_for(settings: Settings, index_dir: Path | None = None) -> VectorStore:
    """The vector store that ``settings`` name, for the index in ``index_dir``.

    With ``vector_backend="milvus"`` and no ``milvus_uri``, Milvus Lite keeps its data in
    ``milvus.db`` inside the index folder.

    Raises:
        VectorStoreError: the Milvus URI cannot be used.
    """
    if settings.vector_backend == "faiss":
        return FaissStore()
    uri = settings.milvus_uri or str(Path(index_dir or settings.index_dir) / MILVUS_LITE_FILE)
    return MilvusStore(uri)


# ---------------------------------------------------------------------------- FAISS


def _hnsw(n_chunks: int) -> bool:
    return n_chunks >= HNSW_THRESHOLD


def _make_faiss_index(matrix: np.ndarray) -> Any:
    """Exact inner product (cosine on normalised vectors) for small indexes, HNSW for large."""
    index: Any
    if _hnsw(len(matrix)):
        index = faiss.IndexHNSWFlat(matrix.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 200
        index.hnsw.efSearch = 256
    else:
        index = faiss.IndexFlatIP(matrix.shape[1])
    if len(matrix):
        index.add(matrix)
    return index


class FaissVectors:
    """A version's vectors in a FAISS index read from its ``vectors.faiss``."""

    def __init__(self, index: Any, ids: Sequence[str]) -> None:
        self.index = index
        self._ids = list(ids)

    @property
    def ids(self) -> Sequence[str]:
        return self._ids

    @property
    def dimension(self) -> int:
        return int(self.index.d)

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        n = min(k, len(self._ids))
        if n <= 0:
            return []
        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(1, -1)
        scores, rows = self.index.search(query, n)
        return [(int(r), float(s)) for r, s in zip(rows[0], scores[0], strict=True) if r >= 0]

    def vectors_of(self, rows: Sequence[int]) -> np.ndarray:
        if not rows:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack([self.index.reconstruct(int(r)) for r in rows])

    def all(self) -> np.ndarray:
        n = len(self._ids)
        if n == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.asarray(self.index.reconstruct_n(0, n), dtype=np.float32)


class FaissStore:
    """Vectors in a FAISS file inside each index version (the default)."""

    backend = "faiss"

    def plan(
        self, model: str, dimension: int, chunk_ids: Sequence[str], previous: Vectors | None
    ) -> VectorPlan:
        kind = "IndexHNSWFlat" if _hnsw(len(chunk_ids)) else "IndexFlatIP"
        record = VectorsRecord(self.backend, dimension, kind, file=FAISS_FILE)
        known = frozenset(previous.ids) & frozenset(chunk_ids) if previous else frozenset()
        return VectorPlan(record, tuple(chunk_ids), known)

    def commit(
        self,
        plan: VectorPlan,
        fresh: Mapping[str, np.ndarray],
        previous: Vectors | None,
        staging: Path | None,
    ) -> list[str]:
        """Write every vector of the version into its ``vectors.faiss``."""
        if staging is None:
            return []
        chunk_ids = plan.chunk_ids
        old: dict[str, np.ndarray] = {}
        if previous is not None and set(chunk_ids) - set(fresh):
            old = dict(zip(previous.ids, previous.all(), strict=True))
        matrix = np.zeros((len(chunk_ids), plan.record.dimension), dtype=np.float32)
        for row, chunk_id in enumerate(chunk_ids):
            matrix[row] = fresh[chunk_id] if chunk_id in fresh else old[chunk_id]
        faiss.write_index(_make_faiss_index(matrix), str(staging / FAISS_FILE))
        return [FAISS_FILE]

    def open(
        self,
        path: Path,
        record: VectorsRecord,
        chunk_ids: Sequence[str],
        *,
        verify: bool = True,
    ) -> Vectors:
        index = faiss.read_index(str(path / (record.file or FAISS_FILE)))
        if index.ntotal != len(chunk_ids) or index.d != record.dimension:
            raise VectorStoreError(f"{path} is inconsistent; run `chatbot index --rebuild`")
        return FaissVectors(index, chunk_ids)

    def collect_garbage(self, record: VectorsRecord, keep: Callable[[], set[str]]) -> None:
        """Nothing to do: old versions' files go with their folders."""


# ---------------------------------------------------------------------------- Milvus


def collection_name(model: str, dimension: int, prefix: str = "chatbot") -> str:
    """The Milvus collection for one embedding model: its vectors only ever come from it.

    Example:
        >>> collection_name("BAAI/bge-small-en-v1.5", 384)
        'chatbot_baai_bge_small_en_v1_5_384_bcf831b7'
    """
    slug = re.sub(r"[^a-z0-9]+", "_", model.lower()).strip("_")[:120]
    digest = hashlib.sha256(f"{model}\n{dimension}".encode()).hexdigest()[:8]
    return f"{prefix}_{slug}_{dimension}_{digest}"


@functools.lru_cache(maxsize=8)
def _client(uri: str) -> Any:
    """One client per URI and process (Milvus Lite serves each ``.db`` once per process)."""
    try:
        from pymilvus import MilvusClient
    except ImportError as exc:
        raise VectorStoreError(
            "CHATBOT_VECTOR_BACKEND=milvus needs pymilvus and milvus-lite; install the "
            "project's `milvus` extra"
        ) from exc
    try:
        return MilvusClient(uri)
    except Exception as exc:  # pymilvus raises many kinds; all mean "cannot connect"
        hint = ""
        if uri.endswith(".db"):
            hint = "; Milvus Lite serves a .db file to one process at a time"
        raise VectorStoreError(f"cannot open Milvus at {uri!r} ({exc}){hint}") from exc


class MilvusVectors:
    """A version's vectors in a Milvus collection shared by all versions (and replicas).

    The collection may hold rows of other versions, so a search asks for more than ``k``
    rows and keeps the live ones, asking again for more when too few were live. Vectors
    read from Milvus are kept in a bounded in-memory cache: an id's vector never changes.
    """

    def __init__(self, client: Any, collection: str, ids: Sequence[str], dimension: int):
        self.client = client
        self.collection = collection
        self._ids = list(ids)
        self._rows = {chunk_id: row for row, chunk_id in enumerate(self._ids)}
        self._dimension = dimension
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def ids(self) -> Sequence[str]:
        return self._ids

    @property
    def dimension(self) -> int:
        return self._dimension

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        k = min(k, len(self._ids))
        if k <= 0:
            return []
        query = np.asarray(vector, dtype=np.float32).reshape(-1).tolist()
        limit = min(2 * k + 16, _MILVUS_MAX_LIMIT)
        while True:
            results = self.client.search(
                self.collection,
                data=[query],
                limit=limit,
                output_fields=["vector"],
                search_params={"metric_type": "IP"},
            )[0]
            found = []
            for hit in results:
                row = self._rows.get(hit["id"])
                if row is not None:
                    found.append((row, float(hit["distance"])))
                    self._remember(hit["id"], hit["entity"]["vector"])
            if len(found) >= k or len(results) < limit or limit >= _MILVUS_MAX_LIMIT:
                break
            limit = min(limit * 4, _MILVUS_MAX_LIMIT)
        found.sort(key=lambda item: (-item[1], item[0]))  # ties by row, as FAISS does
        return found[:k]

    def vectors_of(self, rows: Sequence[int]) -> np.ndarray:
        if not rows:
            return np.zeros((0, self._dimension), dtype=np.float32)
        wanted = [self._ids[int(r)] for r in rows]
        with self._lock:
            known = {i: self._cache[i] for i in wanted if i in self._cache}
        missing = [i for i in dict.fromkeys(wanted) if i not in known]
        known.update(self._fetch(missing))
        return np.stack([known[i] for i in wanted])

    def all(self) -> np.ndarray:
        if not self._ids:
            return np.zeros((0, self._dimension), dtype=np.float32)
        return self.vectors_of(range(len(self._ids)))

    def _fetch(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        fetched: dict[str, np.ndarray] = {}
        for start in range(0, len(ids), _MILVUS_BATCH):
            batch = list(ids[start : start + _MILVUS_BATCH])
            for row in self.client.get(self.collection, ids=batch, output_fields=["vector"]):
                fetched[row["id"]] = self._remember(row["id"], row["vector"])
        lost = [i for i in ids if i not in fetched]
        if lost:
            raise VectorStoreError(
                f"the Milvus collection {self.collection!r} lacks {len(lost)} vectors of the "
                "live index version; run `chatbot index` to store them again"
            )
        return fetched

    def _remember(self, chunk_id: str, values: Sequence[float]) -> np.ndarray:
        vector = np.asarray(values, dtype=np.float32)
        with self._lock:
            self._cache[chunk_id] = vector
            self._cache.move_to_end(chunk_id)
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return vector


class MilvusStore:
    """Vectors in a Milvus collection keyed by chunk id, one collection per embedding model.

    Args:
        uri: a path ending in ``.db`` runs Milvus Lite in this process (one process at a
            time per file); ``http://host:19530`` (optionally ``/database``) a Milvus
            server or cluster.
        prefix: the start of collection names; index folders that must not share rows
            (tests, separate deployments on one Milvus) use different prefixes.
    """

    backend = "milvus"

    def __init__(self, uri: str, *, prefix: str = "chatbot") -> None:
        if "://" not in uri and not uri.startswith("unix:") and not uri.endswith(".db"):
            raise VectorStoreError(
                f"CHATBOT_MILVUS_URI={uri!r}: a Milvus Lite file must end in .db; a server "
                "is named as http://host:19530"
            )
        self.uri = uri
        self.prefix = prefix

    @property
    def client(self) -> Any:
        if "://" not in self.uri and not self.uri.startswith("unix:"):
            Path(self.uri).parent.mkdir(parents=True, exist_ok=True)
        return _client(self.uri)

    def plan(
        self, model: str, dimension: int, chunk_ids: Sequence[str], previous: Vectors | None
    ) -> VectorPlan:
        """Every id the collection already holds is known, whichever version stored it."""
        collection = collection_name(model, dimension, self.prefix)
        record = VectorsRecord(self.backend, dimension, "FLAT", collection=collection, metric="IP")
        known: frozenset[str] = frozenset()
        if self._open_collection(collection, dimension):
            known = frozenset(self._present(collection, chunk_ids))
        return VectorPlan(record, tuple(chunk_ids), known)

    def commit(
        self,
        plan: VectorPlan,
        fresh: Mapping[str, np.ndarray],
        previous: Vectors | None,
        staging: Path | None,
    ) -> list[str]:
        """Upsert the fresh vectors; nothing goes into the version folder."""
        record = plan.record
        collection = self._ensure(record.collection, record.dimension)
        if fresh:
            rows = [
                {"id": i, "vector": np.asarray(v, np.float32).tolist()} for i, v in fresh.items()
            ]
            for start in range(0, len(rows), _MILVUS_BATCH):
                self.client.upsert(collection, rows[start : start + _MILVUS_BATCH])
            # Sealed segments: durable, and Milvus Lite searches them far faster than fresh rows.
            self.client.flush(collection)
        return []

    def open(
        self,
        path: Path,
        record: VectorsRecord,
        chunk_ids: Sequence[str],
        *,
        verify: bool = True,
    ) -> Vectors:
        collection, dimension = record.collection, record.dimension
        try:
            exists = self._open_collection(collection, dimension)
        except VectorStoreError:
            raise
        except Exception as exc:
            raise VectorStoreError(f"cannot reach Milvus at {self.uri!r} ({exc})") from exc
        if not exists:
            raise VectorStoreError(
                f"Milvus at {self.uri!r} has no collection {collection!r}, which the index "
                f"in {path.parent.parent} uses; run `chatbot index --rebuild`"
            )
        if verify:
            lost = len(chunk_ids) - len(self._present(collection, chunk_ids))
            if lost:
                raise VectorStoreError(
                    f"the Milvus collection {collection!r} lacks {lost} of the "
                    f"{len(chunk_ids)} vectors of {path}; run `chatbot index` to store them"
                )
        return MilvusVectors(self.client, collection, chunk_ids, dimension)

    def collect_garbage(self, record: VectorsRecord, keep: Callable[[], set[str]]) -> None:
        collection = record.collection
        if not self._open_collection(collection, record.dimension):
            return
        live = keep()
        drop = [i for i in self.stored_ids(collection) if i not in live]
        for start in range(0, len(drop), _MILVUS_BATCH):
            self.client.delete(collection, ids=drop[start : start + _MILVUS_BATCH])
        if drop:
            self.client.flush(collection)

    def stored_ids(self, collection: str) -> list[str]:
        """Every chunk id the collection holds (for garbage collection and tests)."""
        if self._lite:
            # Milvus Lite answers an unlimited query in full; its iterator logs errors.
            rows = self.client.query(collection, filter='id != ""', output_fields=["id"])
            return [str(row["id"]) for row in rows]
        iterator = self.client.query_iterator(
            collection, batch_size=_MILVUS_BATCH, filter="", output_fields=["id"]
        )
        ids: list[str] = []
        try:
            while batch := iterator.next():
                ids.extend(str(row["id"]) for row in batch)
        finally:
            iterator.close()
        return ids

    def _present(self, collection: str, chunk_ids: Iterable[str]) -> set[str]:
        ids = list(dict.fromkeys(chunk_ids))
        present: set[str] = set()
        for start in range(0, len(ids), _MILVUS_BATCH):
            rows = self.client.get(
                collection, ids=ids[start : start + _MILVUS_BATCH], output_fields=["id"]
            )
            present.update(str(row["id"]) for row in rows)
        return present

    @property
    def _lite(self) -> bool:
        return self.uri.endswith(".db")

    def _open_collection(self, collection: str, dimension: int) -> bool:
        """Whether ``collection`` exists; if so, check its dimension and load it (a
        collection is released when the server, or Milvus Lite's process, restarts)."""
        if not self.client.has_collection(collection):
            return False
        self._check_dimension(collection, dimension)
        self.client.load_collection(collection)
        return True

    def _ensure(self, collection: str, dimension: int) -> str:
        client = self.client
        if self._open_collection(collection, dimension):
            return collection
        from pymilvus import DataType

        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=64)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
        params = client.prepare_index_params()
        # Exact search, like FAISS's IndexFlatIP: the same neighbours on both backends.
        params.add_index(field_name="vector", index_type="FLAT", metric_type="IP")
        client.create_collection(
            collection, schema=schema, index_params=params, consistency_level="Strong"
        )
        return collection

    def _check_dimension(self, collection: str, dimension: int) -> None:
        fields = self.client.describe_collection(collection)["fields"]
        dims = [int(f["params"]["dim"]) for f in fields if f["name"] == "vector"]
        if dims != [dimension]:
            raise VectorStoreError(
                f"the Milvus collection {collection!r} holds vectors of dimension {dims}, "
                f"not {dimension}; run `chatbot index --rebuild`"
            )
