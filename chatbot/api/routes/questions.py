"""``POST /ask`` and ``GET /search``: what patients and support staff ask."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import StringConstraints

from chatbot.answering import Answer, Turn
from chatbot.api.admission import AdmissionDep, admit
from chatbot.api.deps import ServiceDep
from chatbot.api.limits import MAX_ARTICLE_ID_CHARS, MAX_FILTER_ARTICLES, MAX_K, MAX_QUERY_CHARS
from chatbot.api.models import AskRequest
from chatbot.api.responses import SafeJSONResponse, described
from chatbot.config import Settings
from chatbot.retrieval import Hit, Mode, default_mode

JSON_ONLY: dict[str, Any] = {"response_class": SafeJSONResponse}


def router(settings: Settings) -> APIRouter:
    """The routes, with the defaults of ``settings`` in their schema (``k``, ``mode``)."""
    routes = APIRouter()
    default_k = min(settings.search_k, MAX_K)
    default_search_mode: Mode = default_mode(settings)

    @routes.post(
        "/ask",
        response_model=Answer,
        responses=described(400, 413, 422, 429, 503),
        summary="A cited answer to a question (the JSON of `chatbot ask --json`)",
        **JSON_ONLY,
    )
    def ask(request: AskRequest, service: ServiceDep, admission: AdmissionDep) -> Answer:
        history = [
            Turn(role=t.role, content=t.content, articles=tuple(t.articles))
            for t in request.history
        ]
        # A first question whose answer is kept runs no model: it takes no turn in the queue.
        kept = not history and service.is_cached(request.question)
        with admission.turn(needed=not kept):
            return service.ask(request.question, history)

    @routes.get(
        "/search",
        response_model=list[Hit],
        responses=described(400, 422, 429, 503),
        summary="The best passages for a query (the JSON of `chatbot search --json`)",
        dependencies=[Depends(admit)],
        **JSON_ONLY,
    )
    def search(
        service: ServiceDep,
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
    ) -> list[Hit]:
        try:
            return service.search(q, k=k, mode=mode, articles=article)
        except ValueError as exc:  # e.g. rerank mode on a server without a reranker
            raise HTTPException(400, str(exc)) from None

    return routes
