"""The saved index: vectors, a JSON-lines docstore and a JSON manifest, versioned.

Layout of an index folder::

    index/
      CURRENT                 name of the live version (switched with an atomic rename)
      versions/v-<time>-<id>/
        manifest.json         schema, model, chunking, vector backend, articles (sha256,
                              chunk ids), checksums
        chunks.jsonl          one chunk per line, in vector order
        vectors.faiss         the FAISS index (inner product on normalised vectors); with the
                              Milvus backend the vectors live in a Milvus collection instead
        bm25/                 the BM25 index of the same chunks (bm25s, numpy arrays + JSON)
      milvus.db/              Milvus Lite's data, when it is the backend and no URI is set

A new version is written to a temporary folder, synced, renamed into ``versions/``, and
only then named in ``CURRENT``; a reader therefore sees the old version or the new one,
never a half-written one, and a process killed at any moment leaves the last good version.
Where the vectors go is :mod:`chatbot.vectorstore`'s business. Nothing here uses pickle.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from chatbot.chunking import Chunk, ChunkingConfig, chunk_article
from chatbot.corpus import Article, CorpusLoad
from chatbot.embedding import Embedder
from chatbot.lexical import LexicalIndex
from chatbot.vectorstore import (
    FAISS_FILE,
    FaissVectors,
    Vectors,
    VectorStore,
    VectorStoreError,
    store_for,
)
from chatbot.vectorstore import HNSW_THRESHOLD as HNSW_THRESHOLD

if TYPE_CHECKING:
    from chatbot.config import Settings

SCHEMA_VERSION = 2
CURRENT = "CURRENT"
VERSIONS = "versions"
MANIFEST = "manifest.json"
CHUNKS = "chunks.jsonl"
VECTORS = FAISS_FILE
BM25 = "bm25"
# Chunks embedded between two progress reports when a caller watches progress.
_EMBED_STEP = 64

Progress = Callable[[str, int, int], None]

_README = """\
# Index folder

Built by `chatbot index`; not tracked by git. Do not edit by hand.

- `CURRENT` names the live version under `versions/`. A new version is written aside and
  switched in by renaming `CURRENT`, so readers never see a half-written index.
- `versions/v-*/manifest.json`: schema version, embedding model and dimension, chunking
  settings, each article's sha256 and chunk ids, build time, library versions, checksums.
- `versions/v-*/chunks.jsonl`: the chunks (text, section, character offsets), in vector order.
- `versions/v-*/vectors.faiss`: the FAISS inner-product index of the normalised vectors
  (with `CHATBOT_VECTOR_BACKEND=milvus` the vectors are in a Milvus collection instead).
- `versions/v-*/bm25/`: the BM25 index of the same chunks (numpy arrays and JSON, no pickle).

Delete the folder and run `chatbot index` to build it again.
"""


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
        return str(_vectors_record(self.manifest)["backend"])

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


@dataclass
class IndexReport:
    """What one ``update_index`` call did."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    articles: int = 0
    chunks: int = 0
    embedded_chunks: int = 0
    reused_chunks: int = 0
    version: str = ""
    kept_previous: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------- reading


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
    record = _vectors_record(manifest)
    if record["backend"] != store.backend:
        raise IndexMismatchError(
            f"the index in {index_dir} keeps its vectors in {record['backend']}, but the "
            f"settings name {store.backend!r} (CHATBOT_VECTOR_BACKEND); re-index with "
            f"`chatbot index --rebuild` (or set CHATBOT_VECTOR_BACKEND={record['backend']})"
        )
    if verify:
        for name, expected in manifest["checksums"].items():
            if ".." in name or name.startswith(("/", ".")):
                raise IndexUnusableError(f"{path / MANIFEST} names an unexpected file {name!r}")
            if _sha256_file(path / name) != expected:
                raise IndexUnusableError(
                    f"{path / name} does not match its checksum; run `chatbot index --rebuild`"
                )
    chunks = [Chunk(**json.loads(line)) for line in _read_lines(path / CHUNKS)]
    dimension = int(manifest["model"]["dimension"])
    try:
        vectors = store.open(path, record, [c.id for c in chunks], dimension, verify=verify)
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


def _vectors_record(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """Where a version's vectors are (manifests from before the record meant FAISS)."""
    record = manifest.get("vectors")
    if isinstance(record, dict):
        return record
    return {
        "backend": "faiss",
        "file": VECTORS,
        "dimension": manifest["model"]["dimension"],
        "index": manifest.get("faiss_index", "IndexFlatIP"),
    }


def _read_lines(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield line


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------------------- writing


def update_index(
    corpus: CorpusLoad,
    index_dir: Path,
    embedder: Embedder,
    config: ChunkingConfig,
    *,
    rebuild: bool = False,
    progress: Progress | None = None,
    store: VectorStore | None = None,
) -> IndexReport:
    """Bring the index in ``index_dir`` up to date with ``corpus``, embedding only what changed.

    Articles whose sha256 matches the manifest keep their chunks and vectors; added and
    changed articles are chunked, and only chunks whose id (a hash of article and content)
    is not already stored are embedded. Articles no longer in the corpus are dropped. An
    article whose file failed to load keeps its previously indexed version.

    Args:
        corpus: the loaded corpus (articles and the files that failed).
        index_dir: the index folder (created when missing).
        embedder: the embedding model.
        config: chunking settings.
        rebuild: embed everything again, reusing no stored vector.
        progress: called as ``progress(stage, done, total)`` while the work advances;
            stages are ``"chunking"`` (articles), ``"embedding"`` (chunks) and ``"writing"``.
        store: where the vectors go; by default the store ``CHATBOT_VECTOR_BACKEND`` and
            ``CHATBOT_MILVUS_URI`` name. A live version kept in another backend is not
            reused: everything is embedded again.

    Raises:
        IndexUnusableError: the corpus is empty while the index is not (pass ``rebuild`` to allow).
        ValueError: ``config.max_tokens`` exceeds what the embedding model reads.
    """
    if config.max_tokens > embedder.max_tokens:
        raise ValueError(
            f"CHATBOT_CHUNK_MAX_TOKENS={config.max_tokens} exceeds the {embedder.max_tokens} "
            f"word pieces that {embedder.name} reads; lower it"
        )
    index_dir = Path(index_dir)
    if store is None:
        store = configured_store(index_dir=index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    with _writer_lock(index_dir):
        previous = _load_previous(index_dir, store)
        report = IndexReport(failed=[{"path": f.path, "error": f.error} for f in corpus.failures])
        if (
            previous is not None
            and previous.articles
            and not (corpus.articles or corpus.failures or rebuild)
        ):
            raise EmptyCorpusError(
                f"the corpus has no articles; refusing to remove all {len(previous.articles)} "
                "indexed articles (run with --rebuild to do so)"
            )
        compatible = previous is not None and _compatible(previous, embedder, config)
        reusable = previous.vector_index if previous is not None and compatible else None
        old_records = previous.articles if previous is not None else {}
        old_chunks = _chunks_by_article(previous) if previous is not None else {}

        failed_ids = {Path(f.path).stem for f in corpus.failures}
        records: list[ArticleRecord] = []
        chunk_lists: list[list[Chunk]] = []
        now = _now()
        report_progress = progress or _no_progress
        ordered = sorted(corpus.articles, key=lambda a: a.id)
        for done, article in enumerate(ordered):
            report_progress("chunking", done, len(ordered))
            old = old_records.get(article.id)
            same = old is not None and old.sha256 == article.sha256 and compatible
            if old is None:
                report.added.append(article.id)
            elif old.sha256 != article.sha256:
                report.updated.append(article.id)
            else:
                report.unchanged.append(article.id)
            if same and old is not None:
                chunks = old_chunks.get(article.id, [])
                indexed_at = old.indexed_at
            else:
                chunks = _dedupe(chunk_article(article, embedder.count_tokens, config))
                indexed_at = now
            records.append(_record(article, chunks, indexed_at))
            chunk_lists.append(chunks)
        for article_id in sorted(failed_ids & set(old_records) - {a.id for a in corpus.articles}):
            # A file that failed to load keeps what was indexed of it.
            records.append(old_records[article_id])
            chunk_lists.append(old_chunks.get(article_id, []))
            report.kept_previous.append(article_id)
        present = {r.id for r in records}
        report.removed = sorted(set(old_records) - present)

        chunks = [c for group in chunk_lists for c in group]
        chunk_ids = [c.id for c in chunks]
        titles = {r.id: r.title for r in records}
        report_progress("chunking", len(ordered), len(ordered))
        dimension = embedder.dimension
        vectors = store.describe(embedder.name, dimension, len(chunks))
        try:
            known = set() if rebuild else store.known(vectors, chunk_ids, reusable)
        except VectorStoreError as exc:
            raise IndexUnusableError(str(exc)) from exc
        todo = [i for i, c in enumerate(chunks) if c.id not in known]
        fresh: dict[str, np.ndarray] = {}
        step = _EMBED_STEP if progress is not None else max(len(todo), 1)
        for start in range(0, len(todo), step):
            report_progress("embedding", start, len(todo))
            rows = todo[start : start + step]
            embedded = embedder.embed_documents(
                [chunks[i].embedding_text(titles[chunks[i].article_id]) for i in rows]
            )
            fresh.update(zip((chunk_ids[i] for i in rows), embedded, strict=True))
        report_progress("embedding", len(todo), len(todo))
        report.embedded_chunks = len(todo)
        report.reused_chunks = len(chunks) - len(todo)
        report.articles = len(records)
        report.chunks = len(chunks)

        unchanged_content = (
            previous is not None
            and compatible
            and not rebuild
            and not (report.added or report.updated or report.removed)
        )
        try:
            store.add(vectors, fresh)  # Milvus: before any version names them
        except VectorStoreError as exc:
            raise IndexUnusableError(str(exc)) from exc
        if unchanged_content and previous is not None:
            report.version = previous.version
            _collect_garbage(index_dir, keep=None)
            _collect_vector_garbage(index_dir, store, _vectors_record(previous.manifest))
            return report
        report_progress("writing", 0, 1)
        manifest = _manifest(embedder, config, records, dimension, vectors)
        report.version = _write_version(
            index_dir, manifest, chunks, titles, store, fresh, reusable if not rebuild else None
        )
        report_progress("writing", 1, 1)
        return report


def _no_progress(stage: str, done: int, total: int) -> None:
    pass


def _compatible(previous: Index, embedder: Embedder, config: ChunkingConfig) -> bool:
    return (
        previous.manifest["model"]["name"] == embedder.name
        and previous.dimension == embedder.dimension
        and previous.manifest["chunking"] == asdict(config)
    )


def _load_previous(index_dir: Path, store: VectorStore) -> Index | None:
    try:
        return load_index(index_dir, store=store)
    except IndexNotFoundError:
        return None
    except IndexUnusableError:
        return None  # unreadable, another schema or backend: nothing to reuse, build afresh


def _chunks_by_article(index: Index) -> dict[str, list[Chunk]]:
    grouped: dict[str, list[Chunk]] = {}
    for chunk in index.chunks:
        grouped.setdefault(chunk.article_id, []).append(chunk)
    return grouped


def _dedupe(chunks: Sequence[Chunk]) -> list[Chunk]:
    """Drop a chunk identical (same section and text) to an earlier one of its article."""
    seen: set[str] = set()
    unique = []
    for chunk in chunks:
        if chunk.id not in seen:
            seen.add(chunk.id)
            unique.append(chunk)
    return unique


def _record(article: Article, chunks: Sequence[Chunk], indexed_at: str) -> ArticleRecord:
    return ArticleRecord(
        id=article.id,
        title=article.title,
        sha256=article.sha256,
        source=article.source,
        meta=dict(article.meta),
        chunk_ids=tuple(c.id for c in chunks),
        indexed_at=indexed_at,
    )


def _manifest(
    embedder: Embedder,
    config: ChunkingConfig,
    records: Sequence[ArticleRecord],
    dimension: int,
    vectors: Mapping[str, Any],
) -> dict[str, Any]:
    backend = {"vectors": dict(vectors)}
    if vectors["backend"] == "faiss":
        backend["faiss_index"] = vectors["index"]  # where readers of older manifests look
    return {
        "schema_version": SCHEMA_VERSION,
        "built_at": _now(),
        "model": {"name": embedder.name, "dimension": dimension, "max_tokens": embedder.max_tokens},
        "chunking": asdict(config),
        **backend,
        "bm25": {
            "library": "bm25s",
            "tokenizer": "snowball-english",
            "fields": "title, section, text",
        },
        "articles": [{**asdict(r), "chunk_ids": list(r.chunk_ids)} for r in records],
        "library_versions": _library_versions(),
    }


def _library_versions() -> dict[str, str]:
    versions = {}
    for name in ("chatbot", "faiss-cpu", "pymilvus", "sentence-transformers", "torch", "numpy"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    return versions


def _write_version(
    index_dir: Path,
    manifest: dict[str, Any],
    chunks: Sequence[Chunk],
    titles: Mapping[str, str],
    store: VectorStore,
    fresh: Mapping[str, np.ndarray],
    reusable: Vectors | None,
) -> str:
    versions = index_dir / VERSIONS
    versions.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    name = f"v-{stamp}-{secrets.token_hex(3)}"
    staging = versions / f".tmp-{name}"
    staging.mkdir()
    with (staging / CHUNKS).open("w", encoding="utf-8") as handle:
        for chunk in chunks:
            handle.write(json.dumps(asdict(chunk), ensure_ascii=False) + "\n")
        _sync(handle)
    try:
        vector_files = store.write(
            staging, manifest["vectors"], [c.id for c in chunks], fresh, reusable
        )
    except VectorStoreError as exc:
        raise IndexUnusableError(str(exc)) from exc
    for file in vector_files:
        _fsync_path(staging / file)
    (staging / BM25).mkdir()
    LexicalIndex.build([c.embedding_text(titles[c.article_id]) for c in chunks]).save(
        staging / BM25
    )
    files = [
        CHUNKS,
        *vector_files,
        *sorted(f"{BM25}/{p.name}" for p in (staging / BM25).iterdir()),
    ]
    for file in files:
        _fsync_path(staging / file)
    _fsync_path(staging / BM25)
    manifest = {**manifest, "checksums": {f: _sha256_file(staging / f) for f in files}}
    with (staging / MANIFEST).open("w", encoding="utf-8") as handle:
        json.dump(manifest, handle, ensure_ascii=False, indent=1)
        _sync(handle)
    _fsync_path(staging)
    os.rename(staging, versions / name)
    _fsync_path(versions)
    previous = _live_name(index_dir)
    _atomic_write_text(index_dir / CURRENT, name + "\n")
    # The new version is live: what follows is housekeeping and must not report failure.
    with contextlib.suppress(OSError):
        readme = index_dir / "README.md"
        if not readme.exists():
            _atomic_write_text(readme, _README)
    _collect_garbage(index_dir, keep={name, previous} - {None})
    _collect_vector_garbage(index_dir, store, manifest["vectors"])
    return name


def _live_name(index_dir: Path) -> str | None:
    try:
        return (index_dir / CURRENT).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        handle.write(text)
        _sync(handle)
    os.replace(tmp, path)
    _fsync_path(path.parent)


def _collect_garbage(index_dir: Path, keep: set[str | None] | None) -> None:
    """Remove staging leftovers of crashed writers and, when ``keep`` is given, every version
    not in it (the live one and the one live before it, which a reader may still be loading).

    Called by the writer holding the lock, so no other writer's staging folder exists."""
    versions = index_dir / VERSIONS
    with contextlib.suppress(OSError):
        for path in list(versions.iterdir()) if versions.is_dir() else []:
            if path.name.startswith(".tmp-") or (keep is not None and path.name not in keep):
                shutil.rmtree(path, ignore_errors=True)
        for path in index_dir.glob(".*.tmp"):
            path.unlink(missing_ok=True)


def _collect_vector_garbage(index_dir: Path, store: VectorStore, record: Mapping[str, Any]) -> None:
    """Drop stored vectors that no version left on disk names (Milvus rows of removed or
    changed chunks, and of writers that died before their switch). Best effort: the update
    has succeeded, and anything left is collected by the next one."""
    with contextlib.suppress(Exception):
        store.collect_garbage(record, lambda: _chunk_ids_on_disk(index_dir, record))


def _chunk_ids_on_disk(index_dir: Path, record: Mapping[str, Any]) -> set[str]:
    """The chunk ids of every version on disk that keeps its vectors where ``record`` says.

    Raises:
        OSError, ValueError: a manifest cannot be read (then nothing may be collected).
    """
    ids: set[str] = set()
    for path in (index_dir / VERSIONS).iterdir():
        if path.name.startswith(".tmp-"):
            continue
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        other = _vectors_record(manifest)
        if (other["backend"], other.get("collection")) == (
            record["backend"],
            record.get("collection"),
        ):
            ids.update(c for a in manifest["articles"] for c in a["chunk_ids"])
    return ids


def _sync(handle: Any) -> None:
    handle.flush()
    os.fsync(handle.fileno())


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _writer_lock(index_dir: Path) -> Iterator[None]:
    """One writer at a time per index folder (the lock dies with its process)."""
    with (index_dir / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
