"""The HTTP API (``chatbot serve``): ask, search and the article library over JSON.

Every endpoint calls the same library functions as the CLI and the Streamlit app
(:mod:`chatbot.library`): answers come from :meth:`Service.ask`, passages from
:meth:`Service.search`, and the library is changed with :func:`save_article`,
:func:`delete_article` and :meth:`Service.reindex`. Requests and responses are Pydantic
models, so ``/openapi.json`` describes each one exactly.

Bad input always gets a 4xx with a ``detail`` message naming the problem: bodies over their
limit get 413 (checked while the body streams in), malformed JSON, parameters or files 422,
a wrong or missing admin token 401, write endpoints without ``CHATBOT_ADMIN_TOKEN`` 403. Only
a server without a usable index answers 503. Responses are JSON only; no article or user text
is ever rendered as HTML.

Example:
    >>> app = create_app(Settings.from_env())
    >>> uvicorn.run(app, host="127.0.0.1", port=8000)
"""

from __future__ import annotations

import hmac
import json
import logging
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
from fastapi import Depends, FastAPI, File, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.exceptions import HTTPException as StarletteHTTPException

from chatbot import safety
from chatbot.answering import Turn
from chatbot.config import Settings
from chatbot.index import EmptyCorpusError, IndexUnusableError
from chatbot.library import (
    UPLOAD_SUFFIXES,
    ArticleNotFoundError,
    LibraryError,
    Service,
    article_id_for,
    delete_article,
    list_articles,
    save_article,
)
from chatbot.retrieval import Mode, default_mode

log = logging.getLogger(__name__)

# Limits on what a request may carry. A question is cut at safety.DEFAULT_MAX_CHARS by the
# triage anyway; the API refuses longer ones instead so that nothing is dropped silently.
MAX_QUESTION_CHARS = safety.DEFAULT_MAX_CHARS
MAX_HISTORY_TURNS = 20
MAX_TURN_CHARS = 4000
MAX_QUERY_CHARS = safety.DEFAULT_MAX_CHARS
MAX_K = 50
MAX_FILTER_ARTICLES = 50
MAX_ARTICLE_ID_CHARS = 128
MAX_UPLOAD_FILES = 10
# Request bodies: JSON (room for the longest valid /ask body in UTF-8) and multipart uploads
# (MAX_UPLOAD_FILES files of CHATBOT_MAX_FILE_BYTES, plus this much for the multipart framing).
MAX_JSON_BYTES = 512 * 1024
UPLOAD_OVERHEAD_BYTES = 1024 * 1024

ADMIN_DISABLED = (
    "the write endpoints are disabled: start the server with CHATBOT_ADMIN_TOKEN set to a "
    "secret and send it as 'Authorization: Bearer <token>'"
)


# ------------------------------------------------------------------------------ models


Question = Annotated[str, StringConstraints(max_length=MAX_QUESTION_CHARS)]
TurnText = Annotated[str, StringConstraints(max_length=MAX_TURN_CHARS)]


class TurnIn(BaseModel):
    """One earlier message of the conversation."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant"]
    content: TurnText
    # For an answer: the article ids it cited (a follow-up searches them first).
    articles: list[Annotated[str, StringConstraints(max_length=200)]] = Field(
        default_factory=list, max_length=20
    )


class AskRequest(BaseModel):
    """A question and, for a follow-up, the conversation so far (oldest first)."""

    model_config = ConfigDict(extra="forbid")

    question: Question
    history: list[TurnIn] = Field(default_factory=list, max_length=MAX_HISTORY_TURNS)


class Citation(BaseModel):
    """A quoted sentence: ``quote`` is ``article.text[start:end]``
    (:class:`chatbot.answering.Citation`)."""

    n: int
    article_id: str
    title: str
    publisher: str
    section: str
    quote: str
    start: int
    end: int
    label: str


class Section(BaseModel):
    """The reply to one of several questions in a message (:class:`chatbot.answering.Section`)."""

    question: str
    status: Literal["answered", "no_answer", "emergency", "conversation"]
    query: str
    answer: str
    citations: list[Citation]
    uncovered: list[str]
    corrected_query: str


class Answer(BaseModel):
    """A cited answer, as ``chatbot ask --json`` prints it (:class:`chatbot.answering.Answer`)."""

    status: Literal["answered", "no_answer", "emergency", "conversation"]
    query: str
    answer: str
    citations: list[Citation]
    disclaimer: str
    flags: list[str]
    latency_ms: float
    tier: Literal["emergency", "urgent", "none"]
    alert: str
    categories: list[str]
    uncovered: list[str]
    corrected_query: str
    language: str
    sections: list[Section]


class Hit(BaseModel):
    """A retrieved passage, as ``chatbot search --json`` prints it
    (:class:`chatbot.retrieval.Hit`)."""

    rank: int
    score: float
    chunk_id: str
    article_id: str
    title: str
    section: str
    text: str
    start: int
    end: int
    dense_score: float | None
    bm25_score: float | None
    fused_score: float | None
    rerank_score: float | None
    evidence: float


class ArticleInfo(BaseModel):
    """An article of the library and its state (:class:`chatbot.library.ArticleInfo`)."""

    id: str
    title: str
    source: str
    publisher: str
    chunks: int
    sha256: str
    indexed_at: str
    state: Literal["indexed", "new", "changed", "deleted", "failed"]
    error: str


class FailedFile(BaseModel):
    """A corpus file the indexer could not use."""

    path: str
    error: str


class IndexReport(BaseModel):
    """What one re-index did, as ``chatbot index --json`` prints it
    (:class:`chatbot.index.IndexReport`)."""

    added: list[str]
    updated: list[str]
    removed: list[str]
    unchanged: list[str]
    failed: list[FailedFile]
    articles: int
    chunks: int
    embedded_chunks: int
    reused_chunks: int
    version: str
    kept_previous: list[str]


class Uploaded(BaseModel):
    """The articles an upload saved into the corpus (searchable after ``POST /reindex``)."""

    saved: list[ArticleInfo]
    detail: str


class Deleted(BaseModel):
    """The files a delete removed from the corpus (gone from answers after ``POST /reindex``)."""

    deleted: str
    files: list[str]
    detail: str


class Health(BaseModel):
    """The live index: its version and size."""

    status: Literal["ok"]
    version: str
    articles: int
    chunks: int
    embedding_model: str


class FieldError(BaseModel):
    """One problem with a request: where (``["body", "question"]``) and what."""

    loc: list[str | int]
    msg: str


class Problem(BaseModel):
    """Every error response: ``detail`` says what is wrong and how to fix it."""

    detail: str
    errors: list[FieldError] = Field(default_factory=list)


# ---------------------------------------------------------------------------- responses


class SafeJSONResponse(JSONResponse):
    """JSON in UTF-8, with a last guard: should a text that cannot be encoded (a lone
    surrogate) ever reach a response, it is written as a ``\\uXXXX`` escape instead of
    failing with a 500. Requests and article files holding one are refused before that."""

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except UnicodeEncodeError:
            return json.dumps(content, allow_nan=False, separators=(",", ":")).encode("ascii")


def _problem(exc: StarletteHTTPException) -> SafeJSONResponse:
    """The :class:`Problem` response for an HTTP error."""
    errors = exc.errors if isinstance(exc, _UploadRefused) else []
    body = {"detail": str(exc.detail), "errors": errors}
    return SafeJSONResponse(body, status_code=exc.status_code, headers=exc.headers)


def _responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    described = {
        400: "the request cannot be used",
        401: "missing or wrong admin token",
        403: "the write endpoints are disabled (no CHATBOT_ADMIN_TOKEN)",
        404: "no such article",
        409: "the corpus has no articles: a re-index would empty the index",
        413: "the body is over its size limit",
        422: "a parameter, field or file is not valid",
        503: "no usable index: build one with `chatbot index` or POST /reindex",
    }
    return {code: {"model": Problem, "description": described[code]} for code in codes}


# ------------------------------------------------------------------------- the guards


class _TooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(
            413,
            f"the request body is over the {limit:,}-byte limit of this endpoint; "
            "send less (see docs/api.md for the limits)",
        )


def _admin_refusal(settings: Settings, token: str | None) -> HTTPException | None:
    """Why a request with this bearer token may not change the library (``None``: it may)."""
    if not settings.admin_token:
        return HTTPException(403, ADMIN_DISABLED)
    expected = settings.admin_token.encode("utf-8", "surrogateescape")
    # Header values arrive decoded as latin-1: encoding back gives the bytes that were sent.
    given = (token or "").encode("latin-1", "replace")
    if not token or not hmac.compare_digest(given, expected):
        detail = "a wrong admin token" if token else "no admin token"
        return HTTPException(
            401,
            f"{detail}: send 'Authorization: Bearer <CHATBOT_ADMIN_TOKEN>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return None


_bearer = HTTPBearer(
    auto_error=False,
    description="The server's CHATBOT_ADMIN_TOKEN; the write endpoints are off without it.",
)


def _bearer_token(header: str | None) -> str | None:
    scheme, token = get_authorization_scheme_param(header)
    return token if scheme.lower() == "bearer" and token else None


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class RequestGuard:
    """ASGI middleware: body size limits, the admin check of uploads before their body, and
    headers that keep browsers from treating any response as anything but JSON.

    A body whose ``Content-Length`` is over the limit is refused at once; one that streams
    past it is refused as soon as it does. Before answering, up to twice the limit is read
    and dropped, so that the client finishes sending and reads the 413 instead of a reset
    connection. An upload without the right token is refused before its body is parsed.
    """

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.upload_limit = MAX_UPLOAD_FILES * settings.max_file_bytes + UPLOAD_OVERHEAD_BYTES

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-content-type-options", b"nosniff"),
                    (b"cache-control", b"no-store"),
                ]
            await send(message)

        upload = scope["method"] == "POST" and scope["path"].rstrip("/") == "/articles"
        limit = self.upload_limit if upload else MAX_JSON_BYTES
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        refusal: HTTPException | None = None
        if upload:
            token = _bearer_token(headers.get("authorization"))
            refusal = _admin_refusal(self.settings, token)
        length = headers.get("content-length", "")
        if refusal is None and length.isascii() and length.isdigit() and int(length) > limit:
            refusal = _TooLarge(limit)
        if refusal is not None:
            await _drain(receive, 2 * limit)
            response = _problem(refusal)
            await response(scope, receive, send_with_headers)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    if message.get("more_body", False):
                        await _drain(receive, 2 * limit - received)
                    raise _TooLarge(limit)
            return message

        await self.app(scope, limited, send_with_headers)


async def _drain(receive: Receive, budget: int) -> None:
    """Read and drop the rest of a request body, at most ``budget`` more bytes of it."""
    while budget > 0:
        message = await receive()
        if message["type"] != "http.request":
            return
        budget -= len(message.get("body", b""))
        if not message.get("more_body", False):
            return


# ---------------------------------------------------------------------------- the app


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API over ``settings`` (``Settings.from_env()`` when not given).

    The models and the index are loaded when the server starts (a missing index is not an
    error there: ``/healthz``, ``/ask`` and ``/search`` answer 503 until one is built).
    """
    settings = settings or Settings.from_env()
    service = Service(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        def warm_up() -> None:
            try:
                service.search("warm up", k=1)  # loads the index and both models once
            except IndexUnusableError as exc:
                log.warning("no usable index yet: %s", exc)

        await anyio.to_thread.run_sync(warm_up)
        yield

    app = FastAPI(
        title="chatbot",
        summary="Cited health answers from a library of articles.",
        version="1",
        docs_url=None,  # JSON only: no HTML pages (Swagger UI would also load remote scripts)
        redoc_url=None,
        openapi_url="/openapi.json",
        lifespan=lifespan,
    )
    app.state.service = service
    app.add_middleware(RequestGuard, settings=settings)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> SafeJSONResponse:
        cause = exc.__cause__
        if isinstance(cause, UnicodeDecodeError):  # FastAPI's "error parsing the body"
            exc = HTTPException(
                400,
                f"the body is not UTF-8 (byte 0x{cause.object[cause.start]:02x} at offset "
                f"{cause.start}); send JSON in UTF-8",
            )
        elif isinstance(cause, RecursionError):
            exc = HTTPException(400, "the JSON body is nested too deeply")
        return _problem(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> SafeJSONResponse:
        errors = [_field_error(e) for e in exc.errors()]
        detail = "; ".join(f"{_where(e['loc'])}: {e['msg']}" for e in errors) or "invalid request"
        return SafeJSONResponse({"detail": detail, "errors": errors}, status_code=422)

    @app.exception_handler(IndexUnusableError)
    async def no_index(request: Request, exc: IndexUnusableError) -> SafeJSONResponse:
        return _problem(HTTPException(503, f"no usable index: {exc}"))

    @app.exception_handler(EmptyCorpusError)  # the request, not the server, is at fault
    async def empty_corpus(request: Request, exc: EmptyCorpusError) -> SafeJSONResponse:
        return _problem(HTTPException(409, f"{exc}; add an article first"))

    def require_admin(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> None:
        refusal = _admin_refusal(settings, credentials.credentials if credentials else None)
        if refusal is not None:
            raise refusal

    admin = [Depends(require_admin)]
    default_k = min(settings.search_k, MAX_K)
    default_search_mode: Mode = default_mode(settings)
    json_only: dict[str, Any] = {"response_class": SafeJSONResponse}

    @app.post(
        "/ask",
        response_model=Answer,
        responses=_responses(400, 413, 422, 503),
        summary="A cited answer to a question (the JSON of `chatbot ask --json`)",
        **json_only,
    )
    def ask(request: AskRequest) -> dict[str, Any]:
        history = [
            Turn(role=t.role, content=t.content, articles=tuple(t.articles))
            for t in request.history
        ]
        return service.ask(request.question, history).as_json()

    @app.get(
        "/search",
        response_model=list[Hit],
        responses=_responses(400, 422, 503),
        summary="The best passages for a query (the JSON of `chatbot search --json`)",
        **json_only,
    )
    def search(
        q: Annotated[
            str,
            Query(min_length=1, max_length=MAX_QUERY_CHARS, description="the question or words"),
        ],
        k: Annotated[
            int, Query(ge=1, le=MAX_K, description="how many passages (CHATBOT_SEARCH_K)")
        ] = default_k,
        mode: Annotated[
            Mode, Query(description="the last retrieval stage: rerank needs a reranker")
        ] = default_search_mode,
        article: Annotated[
            list[Annotated[str, StringConstraints(max_length=MAX_ARTICLE_ID_CHARS)]] | None,
            Query(
                max_length=MAX_FILTER_ARTICLES,
                description="search only these article ids (repeat the parameter for several)",
            ),
        ] = None,
    ) -> list[dict[str, Any]]:
        try:
            hits = service.search(q, k=k, mode=mode, articles=article)
        except ValueError as exc:  # e.g. rerank mode on a server without a reranker
            raise HTTPException(400, str(exc)) from None
        return [hit.as_json() for hit in hits]

    @app.get(
        "/articles",
        response_model=list[ArticleInfo],
        summary="Every article, and whether it waits for a re-index",
        **json_only,
    )
    def articles() -> list[dict[str, Any]]:
        return [info.as_json() for info in list_articles(settings)]

    @app.post(
        "/articles",
        response_model=Uploaded,
        status_code=201,
        dependencies=admin,
        responses=_responses(400, 401, 403, 413, 422),
        summary="Add or replace articles (multipart files; searchable after POST /reindex)",
        **json_only,
    )
    def upload(
        files: Annotated[
            list[UploadFile],
            File(
                description=(
                    f"{', '.join(UPLOAD_SUFFIXES)} files in UTF-8, at most {MAX_UPLOAD_FILES}; "
                    "the article id is made from the file name"
                )
            ),
        ],
    ) -> dict[str, Any]:
        return _save_uploads(settings, files)

    @app.delete(
        "/articles/{article_id}",
        response_model=Deleted,
        dependencies=admin,
        responses=_responses(401, 403, 404, 422),
        summary="Delete an article's file (gone from answers after POST /reindex)",
        **json_only,
    )
    def delete(article_id: str) -> dict[str, Any]:
        try:
            removed = delete_article(settings, article_id)
        except ArticleNotFoundError as exc:
            raise HTTPException(404, str(exc)) from None
        return {
            "deleted": article_id,
            "files": removed,
            "detail": "deleted; POST /reindex to drop it from answers",
        }

    @app.post(
        "/reindex",
        response_model=IndexReport,
        dependencies=admin,
        responses=_responses(401, 403, 409, 503),
        summary="Bring the index up to date with the corpus (incremental)",
        **json_only,
    )
    def reindex() -> dict[str, Any]:
        return service.reindex().as_json()

    @app.get(
        "/healthz",
        response_model=Health,
        responses=_responses(503),
        summary="The live index version and its size",
        **json_only,
    )
    def healthz() -> dict[str, Any]:
        index = service.chatbot.retriever.index
        return {
            "status": "ok",
            "version": index.version,
            "articles": len(index.articles),
            "chunks": len(index),
            "embedding_model": settings.embedding_model,
        }

    return app


def _save_uploads(settings: Settings, files: list[UploadFile]) -> dict[str, Any]:
    """Save every file or none: all are checked in a scratch corpus first."""
    if len(files) > MAX_UPLOAD_FILES:
        raise HTTPException(422, f"{len(files)} files: upload at most {MAX_UPLOAD_FILES} at once")
    uploads: list[tuple[str, bytes]] = []
    for upload in files:
        name = upload.filename or ""
        data = upload.file.read(settings.max_file_bytes + 1)
        if len(data) > settings.max_file_bytes:
            raise HTTPException(
                413,
                f"{name}: over the {settings.max_file_bytes:,}-byte limit "
                "(CHATBOT_MAX_FILE_BYTES); nothing was saved",
            )
        uploads.append((name, data))
    errors: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="chatbot-api-") as scratch:
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
                errors.append({"loc": ["body", "files", i], "msg": str(exc)})
    if errors:
        detail = "; ".join(e["msg"] for e in errors) + "; nothing was saved"
        raise _UploadRefused(detail, errors)
    saved = [save_article(settings, name, data).as_json() for name, data in uploads]
    return {
        "saved": saved,
        "detail": f"saved {len(saved)} article(s); POST /reindex to make them searchable",
    }


class _UploadRefused(HTTPException):
    def __init__(self, detail: str, errors: list[dict[str, Any]]) -> None:
        super().__init__(422, detail)
        self.errors = errors


def _field_error(error: Any) -> dict[str, Any]:
    loc = [p if isinstance(p, int) else str(p) for p in error.get("loc", ())]
    msg = str(error.get("msg", "invalid"))
    if error.get("type") == "json_invalid":
        reason = (error.get("ctx") or {}).get("error", "")
        at = f" at character {loc[-1]}" if loc and isinstance(loc[-1], int) else ""
        loc, msg = ["body"], f"not valid JSON{at}" + (f": {reason}" if reason else "")
    return {"loc": loc, "msg": msg}


def _where(loc: list[str | int]) -> str:
    return ".".join(str(p) for p in loc) or "request"
