"""The local cloud's own threads: the clocks of what AWS's services do by themselves (event source mapping sync,
EventBridge schedules, CloudWatch, state snapshots), and the one thread that handles finished runs' events in order.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

Event = dict[str, Any]


class CloudThreads:
    """Started by the cloud as it comes up; ``stop()`` ends them all (a tick under way finishes first)."""

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._events: queue.Queue[Event | None] = queue.Queue()

    def every(self, interval: float, action: Callable[[], object], what: str) -> None:
        """Call ``action`` every ``interval`` seconds until stopped."""

        def loop() -> None:
            while not self.stopping.wait(interval):
                try:
                    action()
                except Exception:  # the emulator may be going away; the next tick tries again
                    log.warning("%s failed", what, exc_info=True)

        self._start(loop, what)

    def handle_events(self, handle: Callable[[Event], None], what: str) -> None:
        """Hand each event ``put`` here to ``handle``, one at a time, in order."""

        def loop() -> None:
            while True:
                event = self._events.get()
                try:
                    if event is None:
                        return
                    handle(event)
                except Exception:
                    log.exception("%s failed", what)
                finally:
                    self._events.task_done()

        self._start(loop, what)

    def put(self, event: Event) -> None:
        self._events.put(event)

    def events_pending(self) -> bool:
        """True while an event is queued or being handled."""
        return bool(self._events.unfinished_tasks)

    def start(self) -> None:
        self.stopping.clear()

    def stop(self, timeout: float = 120) -> None:
        self.stopping.set()
        self._events.put(None)
        for thread in self._threads:
            thread.join(timeout=timeout)
        self._threads.clear()

    def _start(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)
