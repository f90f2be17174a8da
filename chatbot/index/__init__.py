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

The package has three parts, one job each:

- :mod:`chatbot.index.reading`: open the live version, verify it, and hand back an :class:`Index`;
- :mod:`chatbot.index.updating`: bring the index up to date with a corpus, embedding only the
  articles whose sha256 changed, and switch the new version in;
- :mod:`chatbot.index.files`: atomic writes, fsync, checksums and cross-process locks, shared
  with the article library.
"""

from chatbot.index import files
from chatbot.index.reading import (
    BM25,
    CHUNKS,
    CURRENT,
    MANIFEST,
    SCHEMA_VERSION,
    VECTORS,
    VERSIONS,
    ArticleRecord,
    EmptyCorpusError,
    Index,
    IndexMismatchError,
    IndexNotFoundError,
    IndexUnusableError,
    configured_store,
    current_version,
    load_index,
)
from chatbot.index.updating import IndexReport, Progress, update_index
from chatbot.vectorstore import HNSW_THRESHOLD

__all__ = [
    "BM25",
    "CHUNKS",
    "CURRENT",
    "HNSW_THRESHOLD",
    "MANIFEST",
    "SCHEMA_VERSION",
    "VECTORS",
    "VERSIONS",
    "ArticleRecord",
    "EmptyCorpusError",
    "Index",
    "IndexMismatchError",
    "IndexNotFoundError",
    "IndexReport",
    "IndexUnusableError",
    "Progress",
    "configured_store",
    "current_version",
    "files",
    "load_index",
    "update_index",
]
