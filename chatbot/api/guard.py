"""ASGI middleware in front of the routes: body limits and safe headers.

:class:`RequestGuard` refuses bodies over their limit and uploads without the admin token
before they are parsed, and adds headers that keep browsers from treating any response as
anything but JSON. The admission queue is :mod:`chatbot.api.admission`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import HTTPException

from chatbot.api.deps import admin_refusal, bearer_token
from chatbot.api.limits import MAX_JSON_BYTES, MAX_UPLOAD_FILES, UPLOAD_OVERHEAD_BYTES
from chatbot.api.responses import problem
from chatbot.config import Settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class TooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(
            413,
            f"the request body is over the {limit:,}-byte limit of this endpoint; "
            "send less (see docs/api.md for the limits)",
        )


class RequestGuard:
    """Body size limits, the admin check of uploads before their body, and JSON-only headers.

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
            refusal = admin_refusal(self.settings, bearer_token(headers.get("authorization")))
        length = headers.get("content-length", "")
        if refusal is None and length.isascii() and length.isdigit() and int(length) > limit:
            refusal = TooLarge(limit)
        if refusal is not None:
            await drain(receive, 2 * limit)
            await problem(refusal)(scope, receive, send_with_headers)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    if message.get("more_body", False):
                        await drain(receive, 2 * limit - received)
                    raise TooLarge(limit)
            return message

        await self.app(scope, limited, send_with_headers)


async def drain(receive: Receive, budget: int) -> None:
    """Read and drop the rest of a request body, at most ``budget`` more bytes of it."""
    while budget > 0:
        message = await receive()
        if message["type"] != "http.request":
            return
        budget -= len(message.get("body", b""))
        if not message.get("more_body", False):
            return
