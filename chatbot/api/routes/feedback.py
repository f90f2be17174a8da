"""``POST /feedback``: a thumbs up or down on an answer that ``POST /ask`` gave."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from chatbot.api.deps import ServiceDep
from chatbot.api.models import FeedbackRequest
from chatbot.api.responses import SafeJSONResponse, described
from chatbot.questionlog import Feedback, UnknownAnswerError

routes = APIRouter()


@routes.post(
    "/feedback",
    response_model=Feedback,
    responses=described(400, 404, 413, 422, because={404: "no logged answer has that answer_id"}),
    summary="Rate an answer up or down, with an optional comment (a new rating replaces one)",
    response_class=SafeJSONResponse,
)
def feedback(request: FeedbackRequest, service: ServiceDep) -> Feedback:
    try:
        return service.feedback(request.answer_id, request.rating, request.comment)
    except UnknownAnswerError as exc:
        raise HTTPException(
            404,
            f"{exc.args[0]}; rate an answer by the answer_id POST /ask gave it, within "
            f"{service.settings.question_log_retention_days} days "
            "(CHATBOT_QUESTION_LOG_RETENTION_DAYS)",
        ) from None
