"""JSON responses and errors: every error is a :class:`~chatbot.api.models.Problem`.

Bad input always gets a 4xx with a ``detail`` message naming the problem: bodies over their
limit get 413 (checked while the body streams in), malformed JSON, parameters or files 422,
an unknown article or answer id 404, a wrong or missing admin token 401, admin endpoints
without ``CHATBOT_ADMIN_TOKEN`` 403, a busy server 429 with ``Retry-After``. Only a server
without a usable index answers 503.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from chatbot.api.models import Problem
from chatbot.index import EmptyCorpusError, IndexUnusableError


class SafeJSONResponse(JSONResponse):
    """JSON in UTF-8, with a last guard: should a text that cannot be encoded (a lone
    surrogate) ever reach a response, it is written as a ``\\uXXXX`` escape instead of
    failing with a 500. Requests and article files holding one are refused before that."""

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except UnicodeEncodeError:
            return json.dumps(content, allow_nan=False, separators=(",", ":")).encode("ascii")


class FieldsRefused(HTTPException):
    """A 422 that names the fields at fault (``errors``: ``{"loc": [...], "msg": ...}``)."""

    def __init__(self, detail: str, errors: list[dict[str, Any]]) -> None:
        super().__init__(422, detail)
        self.errors = errors


def problem(exc: StarletteHTTPException) -> SafeJSONResponse:
    """The :class:`Problem` response for an HTTP error."""
    errors = exc.errors if isinstance(exc, FieldsRefused) else []
    body = {"detail": str(exc.detail), "errors": errors}
    return SafeJSONResponse(body, status_code=exc.status_code, headers=exc.headers)


_DESCRIBED = {
    400: "the request cannot be used",
    401: "missing or wrong admin token",
    403: "the admin endpoints are disabled (no CHATBOT_ADMIN_TOKEN)",
    404: "no such article",
    409: "the corpus has no articles: a re-index would empty the index",
    413: "the body is over its size limit",
    422: "a parameter, field or file is not valid",
    429: "the server is busy and its queue is full: retry after Retry-After seconds",
    503: "no usable index: build one with `chatbot index` or POST /reindex",
}


def described(
    *codes: int, because: dict[int, str] | None = None, json_errors: bool = False
) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of an operation for the error codes it can give (``because``: the
    descriptions of codes that mean something else for it). ``json_errors`` for an
    operation whose success is not JSON (``/gaps.csv``): its errors are JSON all the same."""
    notes = {**_DESCRIBED, **(because or {})}
    if json_errors:
        problem_json = {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
        return {code: {"description": notes[code], "content": problem_json} for code in codes}
    return {code: {"model": Problem, "description": notes[code]} for code in codes}


def add_error_handlers(app: FastAPI) -> None:
    """Answer every error as a :class:`Problem`, naming what is wrong."""

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
        return problem(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> SafeJSONResponse:
        errors = [_field_error(e) for e in exc.errors()]
        detail = "; ".join(f"{_where(e['loc'])}: {e['msg']}" for e in errors) or "invalid request"
        return SafeJSONResponse({"detail": detail, "errors": errors}, status_code=422)

    @app.exception_handler(IndexUnusableError)
    async def no_index(request: Request, exc: IndexUnusableError) -> SafeJSONResponse:
        return problem(HTTPException(503, f"no usable index: {exc}"))

    @app.exception_handler(EmptyCorpusError)  # the request, not the server, is at fault
    async def empty_corpus(request: Request, exc: EmptyCorpusError) -> SafeJSONResponse:
        return problem(HTTPException(409, f"{exc}; add an article first"))


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
