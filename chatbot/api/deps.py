"""What the routes depend on: the process's :class:`~chatbot.library.Service` and the
admin check of the library changes and the gaps report (``Depends(get_service)``,
``Depends(require_admin)``)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param

from chatbot.config import Settings
from chatbot.library import Service

ADMIN_DISABLED = (
    "the admin endpoints are disabled: start the server with CHATBOT_ADMIN_TOKEN set to a "
    "secret and send it as 'Authorization: Bearer <token>'"
)

bearer = HTTPBearer(
    auto_error=False,
    description="The server's CHATBOT_ADMIN_TOKEN; the admin endpoints are off without it.",
)


def get_service(request: Request) -> Service:
    """The app's service (``create_app`` makes one per app)."""
    service: Service = request.app.state.service
    return service


ServiceDep = Annotated[Service, Depends(get_service)]


def admin_refusal(settings: Settings, token: str | None) -> HTTPException | None:
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


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else ``None``."""
    scheme, token = get_authorization_scheme_param(header)
    return token if scheme.lower() == "bearer" and token else None


def require_admin(
    service: ServiceDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    """Refuse the request unless it carries the server's admin token."""
    refusal = admin_refusal(service.settings, credentials.credentials if credentials else None)
    if refusal is not None:
        raise refusal
