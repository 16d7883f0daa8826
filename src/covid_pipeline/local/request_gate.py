"""A gate in front of the emulator's WSGI app, so that a snapshot sees moto's state between requests.

moto has no global lock: its server answers each request in a thread of its
own, and a request changes the backends' dicts and lists while it runs. A
snapshot that pickles them meanwhile could read half a change, or fail with
"dictionary changed size during iteration". Every request takes a shared hold
on the gate; ``with gate.paused():`` waits until the requests in flight have
finished, holds new ones at the door, and lets them in again when the block
ends::

    app = RequestGate(DomainDispatcherApplication(create_backend_app))
    ...
    with app.paused():
        ...  # no request is inside moto here

A long poll (SQS ReceiveMessage with a wait) may stay inside moto for up to
20 s, and it changes the queue when a message shows up. So a pause first holds
only new long polls and lets the others through until the long polls in flight
have returned, and only then closes the door to everything: other clients are
held for as long as the short requests in flight take, not for a long poll's
wait.

Wrap moto's own app, inside any middleware that calls moto back over HTTP while
it serves a request (the Glue front's job-run actions): a request that waits for
a request of its own behind a closed door would never finish. ``paused`` gives up
after ``timeout`` seconds with GateTimeout rather than hang.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# SQS's JSON protocol names the action in this header; the query protocol in the query string.
_LONG_POLL_TARGET = "AmazonSQS.ReceiveMessage"
_LONG_POLL_QUERY = "Action=ReceiveMessage"


class GateTimeout(TimeoutError):
    """The requests in flight did not finish in time: the gate is open again and nothing was paused."""


def may_wait(environ: dict[str, Any]) -> bool:
    """True for a request that may wait inside moto (a long poll). A query-protocol ReceiveMessage that names its
    action only in the form body counts as an ordinary request: the pause then waits for it with the door closed."""
    if environ.get("HTTP_X_AMZ_TARGET") == _LONG_POLL_TARGET:
        return True
    return _LONG_POLL_QUERY in str(environ.get("QUERY_STRING", ""))


class RequestGate:
    """WSGI middleware: requests share the gate; ``paused()`` has it alone."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app
        self._condition = threading.Condition()
        self._in_flight = 0
        self._long_polls_in_flight = 0
        self._holding_long_polls = False
        self._holding_all = False
        self._pause = threading.Lock()  # one pause at a time
        self.last_pause_seconds = 0.0  # how long the door was closed to every request, last time

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        # moto builds the whole response body before it returns, so the hold ends with the call.
        with self.hold(long_poll=may_wait(environ)):
            return self.app(environ, start_response)

    @contextmanager
    def hold(self, long_poll: bool = False) -> Iterator[None]:
        """A shared hold, as a request takes one (for callers that change moto's state in-process)."""
        with self._condition:
            while self._holding_all or (long_poll and self._holding_long_polls):
                self._condition.wait()
            self._in_flight += 1
            self._long_polls_in_flight += long_poll
        try:
            yield
        finally:
            with self._condition:
                self._in_flight -= 1
                self._long_polls_in_flight -= long_poll
                self._condition.notify_all()

    @contextmanager
    def paused(self, timeout: float = 30.0) -> Iterator[None]:
        """No request runs inside the block; new ones wait at the door until it ends. Must not be entered from a
        thread that holds the gate (a request's own thread): it would wait for itself until ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._pause:
            with self._condition:
                self._holding_long_polls = True
                drained = self._condition.wait_for(
                    lambda: self._long_polls_in_flight == 0, max(0.0, deadline - time.monotonic())
                )
                closed_at = time.monotonic()
                if drained:
                    self._holding_all = True
                    drained = self._condition.wait_for(
                        lambda: self._in_flight == 0, max(0.0, deadline - time.monotonic())
                    )
                if not drained:
                    self._open()
                    raise GateTimeout(
                        f"{self._in_flight} request(s) to the emulator were still running after {timeout:g} s"
                    )
            try:
                yield
            finally:
                with self._condition:
                    self.last_pause_seconds = time.monotonic() - closed_at
                    self._open()

    def _open(self) -> None:
        self._holding_long_polls = self._holding_all = False
        self._condition.notify_all()
