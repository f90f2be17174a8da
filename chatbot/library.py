"""The article library and the live pipeline, shared by the CLI, the Streamlit app and the API.

Articles live as files in ``settings.corpus_dir``; the index is rebuilt from them
incrementally. An upload is checked in a scratch folder before it reaches the corpus, and
its file name is made on the server from a slug of the client's name, so no client path is
ever used. :class:`Service` holds the models once per process and follows the live index
version, so a re-index done by any process is picked up without a restart.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import os
import re
import sqlite3
import tempfile
import threading
import uuid
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

from chatbot import provenance
from chatbot.answering import Answer, Chatbot, Turn
from chatbot.chunking import ChunkingConfig
from chatbot.config import Settings
from chatbot.corpus import SUPPORTED_SUFFIXES, ArticleError, load_article, load_corpus
from chatbot.gaps import GapsReport
from chatbot.gaps import report as gaps_report
from chatbot.index import (
    CURRENT,
    Index,
    IndexReport,
    IndexUnusableError,
    Progress,
    configured_store,
    current_version,
    files,
    load_index,
    update_index,
)
from chatbot.questionlog import (
    Feedback,
    LoggedQuestion,
    QuestionLog,
    Rating,
    UnknownAnswerError,
    iso,
)
from chatbot.retrieval import Hit, Mode, Retriever, default_mode

log = logging.getLogger(__name__)

UPLOAD_SUFFIXES = (".md", ".txt", ".html", ".pdf", ".docx")
# The most files one upload may hold (the library page and POST /articles).
MAX_UPLOAD_FILES = 10
_SLUG_DROP = re.compile(r"[^a-z0-9._-]+")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

State = Literal["indexed", "new", "changed", "deleted", "failed"]


class LibraryError(ValueError):
    """An upload or a library change that cannot be made; the message names the problem."""


class ArticleNotFoundError(LibraryError):
    """No article with that id is in the corpus."""


class UploadRefusedError(LibraryError):
    """An upload of which at least one file cannot be used; nothing of it was saved.

    ``problems`` holds ``(position of the file in the upload, what is wrong with it)``.
    """

    def __init__(self, problems: Sequence[tuple[int, str]]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(msg for _, msg in self.problems) + "; nothing was saved")


@dataclass(frozen=True)
class ArticleInfo:
    """One article as the library shows it: what is indexed and what waits for a re-index.

    ``state`` is ``indexed`` (file and index agree), ``new`` or ``changed`` (the file is not
    indexed yet), ``deleted`` (indexed, file gone) or ``failed`` (the file does not load;
    ``error`` says why). ``source_url``, ``published`` and ``reviewed`` are the article's
    provenance (:mod:`chatbot.provenance`, ``""`` when unknown); ``stale`` says it may be out
    of date (reviewed, else published, more than ``CHATBOT_STALE_AFTER_DAYS`` days ago).
    """

    id: str
    title: str
    source: str
    publisher: str
    chunks: int
    sha256: str
    indexed_at: str
    state: State
    error: str = ""
    source_url: str = ""
    published: str = ""
    reviewed: str = ""
    stale: bool = False

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def article_id_for(filename: str) -> tuple[str, str]:
    """The article id and suffix a client's file name maps to; only its last part counts.

    Example:
        >>> article_id_for("../../etc/My Lupus Notes.MD")
        ('my-lupus-notes', '.md')

    Raises:
        LibraryError: the suffix is not one of :data:`UPLOAD_SUFFIXES` or no id is left.
    """
    name = re.split(r"[\\/]", filename)[-1].strip()
    stem, dot, suffix = name.rpartition(".")
    suffix = f".{suffix.lower()}" if dot else ""
    if suffix not in UPLOAD_SUFFIXES:
        raise LibraryError(
            f"{name or 'the file'}: unsupported type {suffix or '(none)'}; "
            f"upload {', '.join(UPLOAD_SUFFIXES)} files"
        )
    slug = _SLUG_DROP.sub("-", stem.lower()).strip("-._")[:100]
    if not slug:
        raise LibraryError(f"{name}: the file name gives no usable article id; rename it")
    return slug, suffix


def save_article(settings: Settings, filename: str, data: bytes) -> ArticleInfo:
    """Check an uploaded article and write it into the corpus (replacing one with its id).

    Nothing is indexed here: :func:`reindex` does that. The file is parsed first in a scratch
    folder with the same loader the indexer uses, so a file that would fail to index never
    reaches the corpus, and it is written with a temporary name and renamed into place.

    Raises:
        LibraryError: the name, size, encoding or content is not usable (the message says which).
    """
    article_id, suffix = article_id_for(filename)
    if len(data) > settings.max_file_bytes:
        raise LibraryError(
            f"{filename}: {len(data):,} bytes is over the {settings.max_file_bytes:,}-byte "
            "limit (CHATBOT_MAX_FILE_BYTES)"
        )
    with tempfile.TemporaryDirectory(prefix="chatbot-upload-") as scratch:
        probe = Path(scratch) / f"{article_id}{suffix}"
        probe.write_bytes(data)
        try:
            article = load_article(probe, max_bytes=settings.max_file_bytes)
        except ArticleError as exc:
            raise LibraryError(f"{filename}: {exc.reason}") from None
    corpus = Path(settings.corpus_dir)
    corpus.mkdir(parents=True, exist_ok=True)
    target = corpus / f"{article_id}{suffix}"
    with files.exclusive_lock(corpus):
        files.atomic_write_bytes(
            target, data, tmp_name=f".upload-{article_id}-{os.getpid()}-{threading.get_ident()}"
        )
        for other in _files_of(corpus, article_id):
            if other != target:
                other.unlink(missing_ok=True)
    return ArticleInfo(
        id=article.id,
        title=article.title,
        source=target.name,
        chunks=0,
        sha256=article.sha256,
        indexed_at="",
        state="new",
        **_provenance(article.meta, settings, dt.date.today()),
    )


def save_articles(settings: Settings, uploads: Sequence[tuple[str, bytes]]) -> list[ArticleInfo]:
    """Save an upload of several files into the corpus: every file, or none of them.

    This is the upload policy of every way in (the library page and ``POST /articles``):
    at most :data:`MAX_UPLOAD_FILES` files; each is checked as :func:`save_article` checks
    one (name, size, encoding, content) in a scratch corpus first, and two files may not
    give the same article id. Only when all pass are they written, one atomic write each.

    Raises:
        UploadRefusedError: one or more files cannot be used (each problem names its file).
    """
    if len(uploads) > MAX_UPLOAD_FILES:
        raise UploadRefusedError(
            [(MAX_UPLOAD_FILES, f"{len(uploads)} files: upload at most {MAX_UPLOAD_FILES} at once")]
        )
    problems: list[tuple[int, str]] = []
    seen: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="chatbot-check-") as scratch:
        probe = settings.with_overrides(corpus_dir=Path(scratch))
        for i, (name, data) in enumerate(uploads):
            try:
                article_id, _ = article_id_for(name)
                if article_id in seen:
                    raise LibraryError(
                        f"{name}: gives the article id {article_id!r}, as {seen[article_id]} does"
                    )
                seen[article_id] = name
                save_article(probe, name, data)
            except LibraryError as exc:
                problems.append((i, str(exc)))
    if problems:
        raise UploadRefusedError(problems)
    return [save_article(settings, name, data) for name, data in uploads]


def delete_article(settings: Settings, article_id: str) -> list[str]:
    """Remove an article's file (and its ``NAME.meta.yaml`` sidecar, if any) from the
    corpus; the next :func:`reindex` drops its chunks.

    Returns:
        the names of the files removed.

    Raises:
        ArticleNotFoundError: no file in the corpus has that id.
    """
    if not _ID.match(article_id):
        raise ArticleNotFoundError(f"no article {article_id!r} in the corpus")
    corpus = Path(settings.corpus_dir)
    with files.exclusive_lock(corpus) if corpus.is_dir() else contextlib.nullcontext():
        removed = _files_of(corpus, article_id)
        if not removed:
            raise ArticleNotFoundError(f"no article {article_id!r} in the corpus")
        sidecar = provenance.sidecar_of(removed[0])
        if sidecar.is_file():
            removed.append(sidecar)
        for path in removed:
            path.unlink(missing_ok=True)
    return [p.name for p in removed]


@dataclass(frozen=True)
class IndexStatus:
    """The live index in a few figures (``chatbot status``, ``GET /healthz``)."""

    index: str
    version: str
    articles: int
    chunks: int
    model: str
    dimension: int
    built_at: str
    article_ids: list[str]

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def index_status(settings: Settings) -> IndexStatus:
    """What the live index holds (checksums not verified: this is a quick look).

    Raises:
        IndexNotFoundError, IndexMismatchError: no usable index; re-index.
    """
    index = load_index(settings.index_dir, verify=False, store=configured_store(settings))
    return status_of(settings, index)


def status_of(settings: Settings, index: Index) -> IndexStatus:
    """:class:`IndexStatus` of a loaded index."""
    return IndexStatus(
        index=str(settings.index_dir),
        version=index.version,
        articles=len(index.articles),
        chunks=len(index),
        model=index.model,
        dimension=index.dimension,
        built_at=index.built_at,
        article_ids=sorted(index.articles),
    )


def ensure_index(settings: Settings, progress: Progress | None = None) -> IndexReport | None:
    """Build the index from the corpus when the index folder has none yet (a first start);
    the report of that build, or ``None`` when an index was there (it is not checked)."""
    if (Path(settings.index_dir) / CURRENT).exists():
        return None
    return reindex(settings, progress=progress)


def reindex(
    settings: Settings, *, rebuild: bool = False, progress: Progress | None = None
) -> IndexReport:
    """Bring the index up to date with the corpus (incremental; atomic switch at the end)."""
    from chatbot.embedding import get_embedder

    corpus = load_corpus(settings.corpus_dir, max_bytes=settings.max_file_bytes)
    embedder = get_embedder(settings.embedding_model, settings.embedding_batch_size)
    return update_index(
        corpus,
        settings.index_dir,
        embedder,
        ChunkingConfig(max_tokens=settings.chunk_max_tokens),
        rebuild=rebuild,
        progress=progress,
        store=configured_store(settings),
    )


def list_articles(settings: Settings, today: dt.date | None = None) -> list[ArticleInfo]:
    """Every article in the live index or the corpus, with whether it waits for a re-index
    and whether it may be out of date on ``today`` (by default the date today)."""
    today = dt.date.today() if today is None else today
    indexed: dict[str, ArticleInfo] = {}
    try:
        index = load_index(settings.index_dir, verify=False, store=configured_store(settings))
    except IndexUnusableError:  # none yet, or one that must be rebuilt: list the corpus
        index = None
    if index is not None:
        for record in index.articles.values():
            indexed[record.id] = ArticleInfo(
                id=record.id,
                title=record.title,
                source=record.source,
                chunks=len(record.chunk_ids),
                sha256=record.sha256,
                indexed_at=record.indexed_at,
                state="indexed",
                **_provenance(record.meta, settings, today),
            )
    found: dict[str, ArticleInfo] = {}
    corpus = Path(settings.corpus_dir)
    if corpus.is_dir():
        loaded = load_corpus(corpus, max_bytes=settings.max_file_bytes)
        for article in loaded.articles:
            old = indexed.get(article.id)
            if old is not None and old.sha256 == article.sha256:
                found[article.id] = old
                continue
            found[article.id] = ArticleInfo(
                id=article.id,
                title=article.title,
                source=article.source,
                chunks=old.chunks if old else 0,
                sha256=article.sha256,
                indexed_at=old.indexed_at if old else "",
                state="changed" if old else "new",
                **_provenance(article.meta, settings, today),
            )
        for failure in loaded.failures:
            path = Path(failure.path)
            old = indexed.get(path.stem)
            # A second file with a loaded article's id gets its own row.
            key = path.name if path.stem in found else path.stem
            found[key] = ArticleInfo(
                id=path.stem,
                title=old.title if old else path.stem,
                source=path.name,
                publisher=old.publisher if old else "",
                chunks=old.chunks if old else 0,
                sha256=_sha256(path),
                indexed_at=old.indexed_at if old else "",
                state="failed",
                error=failure.error,
                source_url=old.source_url if old else "",
                published=old.published if old else "",
                reviewed=old.reviewed if old else "",
                stale=old.stale if old else False,
            )
    for article_id, info in indexed.items():
        if article_id not in found:
            found[article_id] = ArticleInfo(**{**asdict(info), "state": "deleted"})
    return sorted(found.values(), key=lambda a: (a.title.lower(), a.id))


def _provenance(meta: Any, settings: Settings, today: dt.date) -> dict[str, Any]:
    """The :class:`ArticleInfo` fields an article's metadata gives (publisher, provenance,
    staleness on ``today``)."""
    found = provenance.provenance_of(meta)
    return {
        "publisher": found.publisher,
        "source_url": found.source_url,
        "published": found.published,
        "reviewed": found.reviewed,
        "stale": provenance.is_stale(found.as_of, today, settings.stale_after_days),
    }


def _files_of(corpus: Path, article_id: str) -> list[Path]:
    if not corpus.is_dir():
        return []
    return sorted(
        p
        for p in corpus.iterdir()
        if p.stem == article_id and p.suffix.lower() in SUPPORTED_SUFFIXES and p.is_file()
    )


def _sha256(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


class Service:
    """The pipeline for a long-running process: models loaded once, the index kept current.

    Each call checks the index's ``CURRENT`` pointer (one small file read) and, when a
    re-index has switched it, loads the new version before answering. Calls from many
    threads share the loaded models; only a reload takes the lock.

    Every answer gets its own ``answer_id`` and, unless ``CHATBOT_QUESTION_LOG=off``, a row
    in the question log (:mod:`chatbot.questionlog`), which :meth:`feedback` rates and
    :meth:`gaps` reads.

    Example:
        >>> service = Service(Settings.from_env())
        >>> service.ask("Can Dupixent cause nerve pain?").citations[0].article_id
        'dupixent-nerve-pain'
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        # The chatbot and the version folder it was loaded from, read and replaced as one
        # value so that a reader never pairs one version's chatbot with another's name.
        self._loaded: tuple[Chatbot, Path] | None = None
        self.questions: QuestionLog | None = (
            QuestionLog(settings.question_log_file, settings.question_log_retention_days)
            if settings.question_log == "on"
            else None
        )

    @property
    def chatbot(self) -> Chatbot:
        """The chatbot over the live index version (reloaded when the version changed).

        Raises:
            IndexNotFoundError, IndexMismatchError: no usable index; re-index.
        """
        live = current_version(self.settings.index_dir)
        loaded = self._loaded
        if loaded is not None and loaded[1] == live:
            return loaded[0]
        with self._lock:
            live = current_version(self.settings.index_dir)
            loaded = self._loaded
            if loaded is None or loaded[1] != live:
                retriever = Retriever.from_settings(self.settings)
                loaded = (Chatbot(retriever, settings=self.settings), retriever.index.path)
                self._loaded = loaded
            return loaded[0]

    @property
    def default_mode(self) -> Mode:
        """The last stage a search runs unless told (:func:`chatbot.retrieval.default_mode`)."""
        return default_mode(self.settings)

    @property
    def version(self) -> str:
        """The name of the index version answering now."""
        return self.chatbot.retriever.index.version

    def ask(
        self,
        question: str,
        history: Sequence[Turn | dict[str, str]] = (),
        articles: Collection[str] | None = None,
        *,
        log: bool = True,
    ) -> Answer:
        """The chatbot's answer with an ``answer_id`` of its own (a repeat served from the
        answer cache too), recorded in the question log unless ``log`` is false (the
        search page's answers to copy) or the log is off."""
        bot = self.chatbot
        answer = replace(bot.ask(question, history, articles), answer_id=uuid.uuid4().hex)
        if log and self.questions is not None:
            self._record(question, answer, bot.retriever.index.version)
        return answer

    def is_cached(self, question: str, articles: Collection[str] | None = None) -> bool:
        """Whether ``question``, asked as a first message, would be answered from the answer
        cache of the live index version (no model runs)."""
        return self.chatbot.is_cached(question, articles)

    def _record(self, question: str, answer: Answer, version: str) -> None:
        assert self.questions is not None
        searched = answer.status != "conversation" and bool(answer.query)
        row = LoggedQuestion(
            answer_id=answer.answer_id,
            asked_at=iso(self.questions.clock()),
            question=question,
            query=answer.query,
            status=answer.status,
            flags=answer.flags,
            evidence=answer.evidence if searched else None,
            articles=tuple(dict.fromkeys(c.article_id for c in answer.citations)),
            index_version=version,
        )
        try:
            self.questions.record(row)
        except (sqlite3.Error, OSError) as exc:  # the answer matters more than its log row
            log.warning("the question log %s cannot be written: %s", self.questions.path, exc)

    def feedback(self, answer_id: str, rating: Rating, comment: str = "") -> Feedback:
        """Rate a logged answer (a second rating replaces the first).

        Raises:
            UnknownAnswerError: no logged answer has that id (or the log is off).
            ValueError: ``rating`` is not ``up`` or ``down``.
        """
        if self.questions is None:
            raise UnknownAnswerError(
                f"no logged answer {answer_id!r}: the question log is off (CHATBOT_QUESTION_LOG)"
            )
        return self.questions.rate(answer_id, rating, comment)

    def gaps(self, since_days: int | None = None) -> GapsReport:
        """The refused questions grouped by meaning and the answers rated down
        (:mod:`chatbot.gaps`), of the last ``since_days`` days (``None``: the whole log)."""
        settings = self.settings

        def embed(texts: Sequence[str]) -> Any:
            from chatbot import embedding

            embedder = embedding.get_embedder(
                settings.embedding_model, settings.embedding_batch_size
            )
            return embedder.embed_documents(list(texts))

        return gaps_report(
            self.questions, embed, threshold=settings.gaps_threshold, since_days=since_days
        )

    def search(
        self,
        query: str,
        k: int | None = None,
        mode: Mode | None = None,
        articles: Collection[str] | None = None,
    ) -> list[Hit]:
        k = self.settings.search_k if k is None else k
        return self.chatbot.retriever.search(query, k=k, mode=mode, articles=articles)

    def status(self) -> IndexStatus:
        """The index answering now, in a few figures (loaded when it is not yet)."""
        return status_of(self.settings, self.chatbot.retriever.index)

    def articles(self) -> list[ArticleInfo]:
        return list_articles(self.settings)

    def save_articles(self, uploads: Sequence[tuple[str, bytes]]) -> list[ArticleInfo]:
        """:func:`save_articles`: every file of the upload saved, or none."""
        return save_articles(self.settings, uploads)

    def delete_article(self, article_id: str) -> list[str]:
        return delete_article(self.settings, article_id)

    def reindex(self, *, rebuild: bool = False, progress: Progress | None = None) -> IndexReport:
        report = reindex(self.settings, rebuild=rebuild, progress=progress)
        _ = self.chatbot  # load the new version now rather than on the next question
        return report
