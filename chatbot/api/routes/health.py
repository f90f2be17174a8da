"""``GET /healthz``: the live index version and its size."""

from __future__ import annotations

from fastapi import APIRouter

from chatbot.api.deps import ServiceDep
from chatbot.api.models import Health
from chatbot.api.responses import SafeJSONResponse, described

routes = APIRouter()


@routes.get(
    "/healthz",
    response_model=Health,
    responses=described(503),
    summary="The live index version and its size",
    response_class=SafeJSONResponse,
)
def healthz(service: ServiceDep) -> Health:
    status = service.status()
    return Health(
        status="ok",
        version=status.version,
        articles=status.articles,
        chunks=status.chunks,
        embedding_model=service.settings.embedding_model,
    )
