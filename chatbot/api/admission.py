"""The admission queue of the model-running routes (``/ask``, ``/search``).

:class:`Admission` lets ``workers`` requests run the models at once and ``queue`` more wait
their turn in arrival order; one more gets a 429 with ``Retry-After`` at once, rather than a
wait that grows with the load. A first question whose answer is in the answer cache needs no
model and no turn: ``/ask`` serves it without queueing (``turn(needed=False)``).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, HTTPException, Request


class Admission:
    """At most ``workers`` holders of a turn at once and ``queue`` waiting, first come first
    served; shared by the threads that run the routes.

    ``Retry-After`` is the time the requests ahead are expected to take: those being served
    and waiting, over the workers, times the mean time of recent turns (at least 1 s).
    """

    def __init__(self, workers: int, queue: int) -> None:
        if workers < 1 or queue < 0:
            raise ValueError(
                f"an admission queue needs workers >= 1 and queue >= 0, not {workers}, {queue}"
            )
        self.workers = workers
        self.queue = queue
        self.serving = 0
        self.waiting = 0
        self.refused = 0
        self._turn_s = 0.5  # a running mean of how long one turn takes
        self._next = 0  # the ticket served next, and the next one given out
        self._issued = 0
        self._changed = threading.Condition()

    @contextmanager
    def turn(self, *, needed: bool = True) -> Iterator[None]:
        """Wait for a turn and hold it for the ``with`` block (``needed=False``: the work runs
        no model, and goes ahead at once).

        Raises:
            HTTPException: 429 with ``Retry-After``, at once, when the queue is full.
        """
        if not needed:
            yield
            return
        with self._changed:
            if self.serving + self.waiting >= self.workers + self.queue:
                self.refused += 1
                raise self.busy()
            ticket = self._issued
            self._issued += 1
            self.waiting += 1
            try:
                self._changed.wait_for(lambda: ticket == self._next and self.serving < self.workers)
            finally:
                self.waiting -= 1
            self._next += 1
            self.serving += 1
            self._changed.notify_all()
        started = time.perf_counter()
        try:
            yield
        finally:
            with self._changed:
                self.serving -= 1
                self._turn_s += 0.2 * (time.perf_counter() - started - self._turn_s)
                self._changed.notify_all()

    def busy(self) -> HTTPException:
        """The 429 for a request that finds the queue full."""
        ahead = self.serving + self.waiting
        retry = max(1, math.ceil(ahead / self.workers * self._turn_s))
        return HTTPException(
            429,
            f"the server is busy: {self.serving} requests are being answered and "
            f"{self.waiting} are waiting (the most it queues is {self.queue}); "
            f"retry in {retry} s",
            headers={"Retry-After": str(retry)},
        )


def get_admission(request: Request) -> Admission:
    """The app's admission queue (``create_app`` makes one per app)."""
    admission: Admission = request.app.state.admission
    return admission


AdmissionDep = Annotated[Admission, Depends(get_admission)]


def admit(admission: AdmissionDep) -> Iterator[None]:
    """A turn for the route (``/search``): held until the route has returned."""
    with admission.turn():
        yield
