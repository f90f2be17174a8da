"""``GET /gaps`` and ``GET /gaps.csv``: what to write next (admin token needed)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from chatbot.api.deps import ServiceDep, require_admin
from chatbot.api.limits import MAX_SINCE_DAYS
from chatbot.api.responses import SafeJSONResponse, described
from chatbot.gaps import GapsReport, to_csv

ADMIN = [Depends(require_admin)]
ADMIN_ONLY = {403: "the admin endpoints are disabled (no CHATBOT_ADMIN_TOKEN)"}

routes = APIRouter()

Since = Annotated[
    int | None,
    Query(
        ge=1,
        le=MAX_SINCE_DAYS,
        description="only the questions of the last DAYS days (default: the whole log)",
    ),
]


class CSVResponse(Response):
    media_type = "text/csv"


@routes.get(
    "/gaps",
    response_model=GapsReport,
    dependencies=ADMIN,
    responses=described(401, 403, 422, because=ADMIN_ONLY),
    summary="Refused questions grouped by meaning, and the answers rated down",
    response_class=SafeJSONResponse,
)
def gaps(service: ServiceDep, since: Since = None) -> GapsReport:
    return service.gaps(since)


CSV_OK: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the report as CSV: one row per gap, then one per answer rated down",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
}


@routes.get(
    "/gaps.csv",
    dependencies=ADMIN,
    responses={**CSV_OK, **described(401, 403, 422, because=ADMIN_ONLY, json_errors=True)},
    summary="The gaps report as CSV (formula-looking cells prefixed with ')",
    response_class=CSVResponse,
)
def gaps_csv(service: ServiceDep, since: Since = None) -> CSVResponse:
    return CSVResponse(
        to_csv(service.gaps(since)),
        headers={"Content-Disposition": 'attachment; filename="gaps.csv"'},
    )
