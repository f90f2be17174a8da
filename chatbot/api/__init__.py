"""The HTTP API (``chatbot serve``): ask, search, feedback, gaps and the library over JSON.

Every endpoint calls the same :class:`~chatbot.library.Service` as the CLI and the
Streamlit app: answers come from :meth:`Service.ask` (which logs them), passages from
:meth:`Service.search`, feedback goes to :meth:`Service.feedback`, the gaps report comes from
:meth:`Service.gaps`, and the library is changed with :meth:`Service.save_articles` (every
file or none), :meth:`Service.delete_article` and :meth:`Service.reindex`. Responses are
the library's own dataclasses, so ``/openapi.json`` describes each one exactly as the CLI prints it.

The parts, one job each:

- :mod:`chatbot.api.app`: ``create_app``, wiring the rest together;
- :mod:`chatbot.api.routes`: the routes, one ``APIRouter`` per part (questions, feedback,
  gaps, library, health);
- :mod:`chatbot.api.deps`: ``Depends(get_service)`` and the admin check;
- :mod:`chatbot.api.guard`: body limits and JSON-only headers, as ASGI middleware;
- :mod:`chatbot.api.admission`: the admission queue of ``/ask`` and ``/search`` (429 with
  ``Retry-After`` when it is full; a cached answer needs no turn);
- :mod:`chatbot.api.responses`: errors as ``Problem`` bodies; :mod:`chatbot.api.models`: the
  bodies only HTTP has; :mod:`chatbot.api.limits`: what a request may carry.

Responses are JSON only; no article or user text is ever rendered as HTML.

Example:
    >>> app = create_app(Settings.from_env())
    >>> uvicorn.run(app, host="127.0.0.1", port=8000)
"""

from __future__ import annotations

from chatbot.api.admission import Admission
from chatbot.api.app import create_app
from chatbot.api.deps import ADMIN_DISABLED, get_service, require_admin
from chatbot.api.guard import RequestGuard
from chatbot.api.limits import (
    MAX_ARTICLE_ID_CHARS,
    MAX_COMMENT_CHARS,
    MAX_FILTER_ARTICLES,
    MAX_HISTORY_TURNS,
    MAX_JSON_BYTES,
    MAX_K,
    MAX_QUERY_CHARS,
    MAX_QUESTION_CHARS,
    MAX_SINCE_DAYS,
    MAX_TURN_CHARS,
    MAX_UPLOAD_FILES,
    UPLOAD_OVERHEAD_BYTES,
)
from chatbot.api.models import (
    AskRequest,
    Deleted,
    FeedbackRequest,
    FieldError,
    Health,
    Problem,
    TurnIn,
    Uploaded,
)
from chatbot.api.responses import SafeJSONResponse

__all__ = [
    "ADMIN_DISABLED",
    "MAX_ARTICLE_ID_CHARS",
    "MAX_COMMENT_CHARS",
    "MAX_FILTER_ARTICLES",
    "MAX_HISTORY_TURNS",
    "MAX_JSON_BYTES",
    "MAX_K",
    "MAX_QUERY_CHARS",
    "MAX_QUESTION_CHARS",
    "MAX_SINCE_DAYS",
    "MAX_TURN_CHARS",
    "MAX_UPLOAD_FILES",
    "UPLOAD_OVERHEAD_BYTES",
    "Admission",
    "AskRequest",
    "Deleted",
    "FeedbackRequest",
    "FieldError",
    "Health",
    "Problem",
    "RequestGuard",
    "SafeJSONResponse",
    "TurnIn",
    "Uploaded",
    "create_app",
    "get_service",
    "require_admin",
]
