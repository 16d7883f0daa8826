"""RequestGate: a pause waits for the requests in flight, holds new ones, and lets long polls finish first."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from covid_pipeline.local.request_gate import GateTimeout, RequestGate, may_wait

LONG_POLL = {"HTTP_X_AMZ_TARGET": "AmazonSQS.ReceiveMessage"}
ORDINARY = {"HTTP_X_AMZ_TARGET": "AmazonSQS.SendMessage"}


class SlowApp:
    """A WSGI app whose requests run until the test releases them; it records what ran when."""

    def __init__(self) -> None:
        self.entered = threading.Semaphore(0)
        self.release: dict[str, threading.Event] = {}
        self.log: list[str] = []

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        name = environ["name"]
        self.log.append(f"start {name}")
        self.entered.release()
        self.release.setdefault(name, threading.Event()).wait(10)
        self.log.append(f"end {name}")
        start_response("200 OK", [])
        return [b"ok"]


def _request(gate: RequestGate, app: SlowApp, name: str, environ: dict[str, str]) -> threading.Thread:
    app.release.setdefault(name, threading.Event())
    thread = threading.Thread(target=lambda: gate({**environ, "name": name}, lambda *_: None), daemon=True)
    thread.start()
    return thread


def _started(name: str, environ: dict[str, str]) -> tuple[SlowApp, RequestGate, threading.Thread]:
    """A gate in front of a SlowApp, with one request already inside the app."""
    app = SlowApp()
    gate = RequestGate(app)
    thread = _request(gate, app, name, environ)
    assert app.entered.acquire(timeout=5)
    return app, gate, thread


def _pause_in_thread(gate: RequestGate, app: SlowApp, hold: float = 0.0) -> tuple[threading.Thread, threading.Event]:
    paused = threading.Event()

    def pause() -> None:
        with gate.paused(timeout=10):
            app.log.append("paused")
            paused.set()
            time.sleep(hold)
            app.log.append("resumed")

    thread = threading.Thread(target=pause, daemon=True)
    thread.start()
    time.sleep(0.1)
    return thread, paused


def test_a_pause_waits_for_requests_in_flight_and_holds_new_ones() -> None:
    app, gate, running = _started("put", ORDINARY)
    pauser, paused = _pause_in_thread(gate, app, hold=0.2)
    assert not paused.is_set()  # "put" is still in moto
    held = _request(gate, app, "get", ORDINARY)
    time.sleep(0.1)
    app.release["put"].set()
    assert paused.wait(5)
    app.release["get"].set()
    for thread in (running, pauser, held):
        thread.join(5)
    assert app.log == ["start put", "end put", "paused", "resumed", "start get", "end get"]
    assert 0.2 <= gate.last_pause_seconds < 2


def test_long_polls_finish_while_other_requests_still_go_through() -> None:
    app, gate, poll = _started("poll", LONG_POLL)
    pauser, paused = _pause_in_thread(gate, app)
    # While the pause waits for the long poll, an ordinary request is served, and a new long poll is held.
    app.release["send"] = threading.Event()
    app.release["send"].set()
    sent = _request(gate, app, "send", ORDINARY)
    sent.join(5)
    second_poll = _request(gate, app, "poll2", LONG_POLL)
    time.sleep(0.1)
    assert app.log == ["start poll", "start send", "end send"]
    assert not paused.is_set()
    app.release["poll"].set()
    assert paused.wait(5)
    app.release["poll2"].set()
    for thread in (poll, pauser, second_poll):
        thread.join(5)
    assert app.log[-5:] == ["end poll", "paused", "resumed", "start poll2", "end poll2"]


def test_a_request_that_does_not_finish_ends_the_pause_with_gate_timeout() -> None:
    app, gate, stuck = _started("stuck", ORDINARY)
    expected = r"1 request\(s\) to the emulator were still running after 0.2 s"
    with pytest.raises(GateTimeout, match=expected), gate.paused(timeout=0.2):
        pass
    # The door is open again.
    app.release["after"] = threading.Event()
    app.release["after"].set()
    after = _request(gate, app, "after", ORDINARY)
    after.join(5)
    assert "end after" in app.log
    app.release["stuck"].set()
    stuck.join(5)


@pytest.mark.parametrize(
    ("environ", "waits"),
    [
        ({"HTTP_X_AMZ_TARGET": "AmazonSQS.ReceiveMessage"}, True),
        ({"QUERY_STRING": "Action=ReceiveMessage&WaitTimeSeconds=20"}, True),
        ({"HTTP_X_AMZ_TARGET": "AmazonSQS.SendMessage"}, False),
        ({"HTTP_X_AMZ_TARGET": "AWSGlue.GetJobRun"}, False),
        ({"QUERY_STRING": "list-type=2"}, False),
    ],
)
def test_which_requests_may_wait(environ: dict[str, str], waits: bool) -> None:
    assert may_wait(environ) is waits
