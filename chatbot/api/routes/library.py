"""The article library: list, upload, delete and re-index (the writes need the admin token)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, HTTPException, UploadFile

from chatbot.api.deps import ServiceDep, require_admin
from chatbot.api.limits import MAX_UPLOAD_FILES
from chatbot.api.models import Deleted, Uploaded
from chatbot.api.responses import FieldsRefused, SafeJSONResponse, described
from chatbot.index import IndexReport
from chatbot.library import (
    UPLOAD_SUFFIXES,
    ArticleInfo,
    ArticleNotFoundError,
    UploadRefusedError,
)

JSON_ONLY: dict[str, Any] = {"response_class": SafeJSONResponse}
ADMIN = [Depends(require_admin)]

routes = APIRouter()


@routes.get(
    "/articles",
    response_model=list[ArticleInfo],
    summary="Every article, and whether it waits for a re-index",
    **JSON_ONLY,
)
def articles(service: ServiceDep) -> list[ArticleInfo]:
    return service.articles()


@routes.post(
    "/articles",
    response_model=Uploaded,
    status_code=201,
    dependencies=ADMIN,
    responses=described(400, 401, 403, 413, 422),
    summary="Add or replace articles (multipart files; searchable after POST /reindex)",
    **JSON_ONLY,
)
def upload(
    service: ServiceDep,
    files: Annotated[
        list[UploadFile],
        File(
            description=(
                f"{', '.join(UPLOAD_SUFFIXES)} files (text types in UTF-8), at most "
                f"{MAX_UPLOAD_FILES}; the article id is made from the file name; every file "
                "is saved or none"
            )
        ),
    ],
) -> Uploaded:
    limit = service.settings.max_file_bytes
    if len(files) > MAX_UPLOAD_FILES:
        raise HTTPException(422, f"{len(files)} files: upload at most {MAX_UPLOAD_FILES} at once")
    uploads: list[tuple[str, bytes]] = []
    for file in files:
        name = file.filename or ""
        data = file.file.read(limit + 1)
        if len(data) > limit:
            raise HTTPException(
                413,
                f"{name}: over the {limit:,}-byte limit (CHATBOT_MAX_FILE_BYTES); "
                "nothing was saved",
            )
        uploads.append((name, data))
    try:
        saved = service.save_articles(uploads)
    except UploadRefusedError as exc:
        errors = [{"loc": ["body", "files", i], "msg": msg} for i, msg in exc.problems]
        raise FieldsRefused(str(exc), errors) from None
    return Uploaded(
        saved=saved,
        detail=f"saved {len(saved)} article(s); POST /reindex to make them searchable",
    )


@routes.delete(
    "/articles/{article_id}",
    response_model=Deleted,
    dependencies=ADMIN,
    responses=described(401, 403, 404, 422),
    summary="Delete an article's file (gone from answers after POST /reindex)",
    **JSON_ONLY,
)
def delete(article_id: str, service: ServiceDep) -> Deleted:
    try:
        removed = service.delete_article(article_id)
    except ArticleNotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    return Deleted(
        deleted=article_id, files=removed, detail="deleted; POST /reindex to drop it from answers"
    )


@routes.post(
    "/reindex",
    response_model=IndexReport,
    dependencies=ADMIN,
    responses=described(401, 403, 409, 503),
    summary="Bring the index up to date with the corpus (incremental)",
    **JSON_ONLY,
)
def reindex(service: ServiceDep) -> IndexReport:
    return service.reindex()
