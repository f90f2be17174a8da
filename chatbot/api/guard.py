"""ASGI middleware in front of the routes: body limits, the admission queue, safe headers.

:class:`RequestGuard` refuses bodies over their limit and uploads without the admin token
before they are parsed, and adds headers that keep browsers from treating any response as
anything but JSON. :class:`AdmissionGate` lets ``workers`` model-running requests (``/ask``,
``/search``) run at once and ``queue`` more wait their turn; one more gets a 429 with
``Retry-After`` at once, rather than a wait that grows with the load.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Collection, MutableMapping
from typing import Any

import anyio
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


class AdmissionGate:
    """At most ``workers`` requests to ``paths`` served at once and ``queue`` waiting in
    arrival order; beyond that a 429 with ``Retry-After`` (seconds), answered at once.

    ``Retry-After`` is the time the requests ahead are expected to take: the queue's length
    over the workers, times the mean service time of recent requests (at least 1 s).
    """

    def __init__(self, app: ASGIApp, workers: int, queue: int, paths: Collection[str]) -> None:
        if workers < 1 or queue < 0:
            raise ValueError(
                f"an admission gate needs workers >= 1 and queue >= 0, not {workers}, {queue}"
            )
        self.app = app
        self.workers = workers
        self.queue = queue
        self.paths = frozenset(paths)
        self.serving = 0
        self.waiting = 0
        self.refused = 0
        self._service_s = 0.5  # a running mean of how long one request takes
        self._slots: anyio.Semaphore | None = None  # made in the event loop, on first use

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].rstrip("/") not in self.paths:
            await self.app(scope, receive, send)
            return
        if self._slots is None:
            self._slots = anyio.Semaphore(self.workers)
        slots = self._slots
        if self.serving + self.waiting >= self.workers + self.queue:
            self.refused += 1
            await drain(receive, 2 * MAX_JSON_BYTES)
            await problem(self.busy())(scope, receive, send)
            return
        self.waiting += 1
        try:
            await slots.acquire()
        finally:
            self.waiting -= 1
        self.serving += 1
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            self.serving -= 1
            slots.release()
            self._service_s += 0.2 * (time.perf_counter() - started - self._service_s)

    def busy(self) -> HTTPException:
        """The 429 for a request that finds the queue full."""
        ahead = self.serving + self.waiting
        retry = max(1, math.ceil(ahead / self.workers * self._service_s))
        return HTTPException(
            429,
            f"the server is busy: {self.serving} requests are being answered and "
            f"{self.waiting} are waiting (the most it queues is {self.queue}); "
            f"retry in {retry} s",
            headers={"Retry-After": str(retry)},
        )
