"""Updating an index: chunk and embed what changed, and switch a new version in atomically.

:func:`update_index` reads the live version, keeps the chunks and vectors of articles whose
sha256 is unchanged, chunks the others, asks the vector store (a
:class:`~chatbot.vectorstore.VectorWriter`) which chunk vectors it already holds, embeds
only the rest, and writes a new version aside before naming it in ``CURRENT``. The durable
file operations are :mod:`chatbot.index.files`'.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from chatbot.chunking import Chunk, ChunkingConfig, chunk_article
from chatbot.corpus import Article, CorpusLoad
from chatbot.embedding import Embedder
from chatbot.index import files
from chatbot.index.reading import (
    BM25,
    CHUNKS,
    CURRENT,
    MANIFEST,
    SCHEMA_VERSION,
    VERSIONS,
    ArticleRecord,
    EmptyCorpusError,
    Index,
    IndexNotFoundError,
    IndexUnusableError,
    configured_store,
    load_index,
)
from chatbot.lexical import LexicalIndex
from chatbot.vectorstore import (
    VectorPlan,
    Vectors,
    VectorsRecord,
    VectorStore,
    VectorStoreError,
)

# The writer's lock file in the index folder: one writer at a time per folder.
LOCK = ".lock"
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

    def summary(self, where: str | Path | None = None) -> str:
        """What changed, a line per kind, then the size of the new version (``where``: the
        index folder, named in the last line when given)."""
        lines = []
        for label in ("added", "updated", "removed", "unchanged", "kept_previous"):
            ids = getattr(self, label)
            if ids:
                lines.append(f"{label.replace('_', ' ')}: {', '.join(ids)}")
        place = f" in {where}" if where is not None else ""
        lines.append(
            f"{self.articles} articles, {self.chunks} chunks ({self.embedded_chunks} embedded, "
            f"{self.reused_chunks} reused){place} [{self.version}]"
        )
        return "\n".join(lines)


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
    with files.exclusive_lock(index_dir / LOCK):
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
        try:
            plan = store.plan(embedder.name, dimension, chunk_ids, reusable)
        except VectorStoreError as exc:
            raise IndexUnusableError(str(exc)) from exc
        if rebuild:
            plan = replace(plan, known=frozenset())
        todo = [i for i, c in enumerate(chunks) if c.id not in plan.known]
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
        if unchanged_content and previous is not None:
            _commit_vectors(store, plan, fresh, reusable, None)  # Milvus: rows it lacked
            report.version = previous.version
            _collect_garbage(index_dir, keep=None)
            _collect_vector_garbage(index_dir, store, previous.vectors_record)
            return report
        report_progress("writing", 0, 1)
        manifest = _manifest(embedder, config, records, dimension, plan.record)
        report.version = _write_version(
            index_dir, manifest, chunks, titles, store, plan, fresh, None if rebuild else reusable
        )
        report_progress("writing", 1, 1)
        return report


def _commit_vectors(
    store: VectorStore,
    plan: VectorPlan,
    fresh: Mapping[str, np.ndarray],
    previous: Vectors | None,
    staging: Path | None,
) -> list[str]:
    try:
        return store.commit(plan, fresh, previous, staging)
    except VectorStoreError as exc:
        raise IndexUnusableError(str(exc)) from exc


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
    vectors: VectorsRecord,
) -> dict[str, Any]:
    backend: dict[str, Any] = {"vectors": vectors.as_json()}
    if vectors.backend == "faiss":
        backend["faiss_index"] = vectors.index  # where readers of older manifests look
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
    plan: VectorPlan,
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
        files.sync(handle)
    vector_files = _commit_vectors(store, plan, fresh, reusable, staging)
    for file in vector_files:
        files.fsync_path(staging / file)
    (staging / BM25).mkdir()
    LexicalIndex.build([c.embedding_text(titles[c.article_id]) for c in chunks]).save(
        staging / BM25
    )
    written = [
        CHUNKS,
        *vector_files,
        *sorted(f"{BM25}/{p.name}" for p in (staging / BM25).iterdir()),
    ]
    for file in written:
        files.fsync_path(staging / file)
    files.fsync_path(staging / BM25)
    manifest = {**manifest, "checksums": {f: files.sha256_file(staging / f) for f in written}}
    with (staging / MANIFEST).open("w", encoding="utf-8") as handle:
        json.dump(manifest, handle, ensure_ascii=False, indent=1)
        files.sync(handle)
    files.fsync_path(staging)
    os.rename(staging, versions / name)
    files.fsync_path(versions)
    previous = _live_name(index_dir)
    files.atomic_write_text(index_dir / CURRENT, name + "\n")
    # The new version is live: what follows is housekeeping and must not report failure.
    with contextlib.suppress(OSError):
        readme = index_dir / "README.md"
        if not readme.exists():
            files.atomic_write_text(readme, _README)
    _collect_garbage(index_dir, keep={name, previous} - {None})
    _collect_vector_garbage(index_dir, store, plan.record)
    return name


def _live_name(index_dir: Path) -> str | None:
    try:
        return (index_dir / CURRENT).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


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


def _collect_vector_garbage(index_dir: Path, store: VectorStore, record: VectorsRecord) -> None:
    """Drop stored vectors that no version left on disk names (Milvus rows of removed or
    changed chunks, and of writers that died before their switch). Best effort: the update
    has succeeded, and anything left is collected by the next one."""
    with contextlib.suppress(Exception):
        store.collect_garbage(record, lambda: _chunk_ids_on_disk(index_dir, record))


def _chunk_ids_on_disk(index_dir: Path, record: VectorsRecord) -> set[str]:
    """The chunk ids of every version on disk that keeps its vectors where ``record`` says.

    Raises:
        OSError, ValueError: a manifest cannot be read (then nothing may be collected).
    """
    ids: set[str] = set()
    for path in (index_dir / VERSIONS).iterdir():
        if path.name.startswith(".tmp-"):
            continue
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        other = VectorsRecord.from_manifest(manifest)
        if (other.backend, other.collection) == (record.backend, record.collection):
            ids.update(c for a in manifest["articles"] for c in a["chunk_ids"])
    return ids


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
