"""``create_app``: the FastAPI app of one :class:`~chatbot.library.Service`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI

from chatbot.api.admission import Admission
from chatbot.api.guard import RequestGuard
from chatbot.api.responses import add_error_handlers
from chatbot.api.routes import feedback, gaps, health, library, questions
from chatbot.config import Settings
from chatbot.index import IndexUnusableError
from chatbot.library import Service

log = logging.getLogger(__name__)


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
    app.state.admission = Admission(settings.api_workers, settings.api_queue)
    app.add_middleware(RequestGuard, settings=settings)
    add_error_handlers(app)
    app.include_router(questions.router(settings))
    app.include_router(feedback.routes)
    app.include_router(gaps.routes)
    app.include_router(library.routes)
    app.include_router(health.routes)
    return app
