"""A real uvicorn server on 127.0.0.1 for the API tests, run in a background thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

TOKEN = "test-admin-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@contextmanager
def serving(app: FastAPI, *, start_timeout: float = 120.0) -> Iterator[str]:
    """Serve ``app`` on a free port of 127.0.0.1 and yield its base URL.

    The socket is bound here (port 0: the kernel picks a free one) and handed to uvicorn, so
    no other process can take the port in between. Startup runs the app's lifespan (model and
    index loading); the wait for it and for the shutdown are both bounded.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the API server stopped while starting (see its log)")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the API server did not start in {start_timeout:.0f} s")
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
