"""Log shipping of local Glue runs: a run's stdout and stderr lines into CloudWatch Logs, as Glue ships them (the
stream is the run id; /aws-glue/jobs/output and /error, and the continuous-logging group when the job enables it)."""

from __future__ import annotations

import collections
import contextlib
import logging
import threading
import time
from typing import Any

OUTPUT_LOG_GROUP = "/aws-glue/jobs/output"
ERROR_LOG_GROUP = "/aws-glue/jobs/error"
CONTINUOUS_LOG_GROUP = "/aws-glue/jobs/logs-v2"
LOG_FLUSH_SECONDS = 1.0

log = logging.getLogger(__name__)


def log_groups_for(arguments: dict[str, str]) -> dict[str, list[str]]:
    """The log groups each output channel goes to: Glue's two, and the continuous-logging group when enabled."""
    groups = {"stdout": [OUTPUT_LOG_GROUP], "stderr": [ERROR_LOG_GROUP]}
    if arguments.get("--enable-continuous-cloudwatch-log", "").lower() == "true":
        continuous = arguments.get("--continuous-log-logGroup") or CONTINUOUS_LOG_GROUP
        groups["stdout"].append(continuous)
        groups["stderr"].append(continuous)
    return groups


class LogShipper:
    """Buffers a run's output lines and puts them into CloudWatch Logs about once a second."""

    def __init__(self, logs_client: Any, stream: str, groups_by_channel: dict[str, list[str]]) -> None:
        self._client = logs_client
        self._stream = stream
        self._groups_by_channel = groups_by_channel
        self._pending: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ready: set[str] = set()
        self._thread = threading.Thread(target=self._loop, name=f"glue-logs-{stream[:12]}", daemon=True)

    def start(self) -> None:
        # Glue creates the groups and the run's streams up front: GetLogEvents works even before any output.
        for group in sorted({group for groups in self._groups_by_channel.values() for group in groups}):
            try:
                self._ensure_stream(group)
            except Exception:
                log.warning("could not create log stream %s in %s", self._stream, group, exc_info=True)
        self._thread.start()

    def add(self, channel: str, line: str) -> None:
        event = {"timestamp": int(time.time() * 1000), "message": line.rstrip("\r\n") or " "}
        with self._lock:
            for group in self._groups_by_channel.get(channel, []):
                self._pending[group].append(event)

    def _loop(self) -> None:
        while not self._stop.wait(LOG_FLUSH_SECONDS):
            self.flush()
        self.flush()

    def _ensure_stream(self, group: str) -> None:
        if group in self._ready:
            return
        with contextlib.suppress(self._client.exceptions.ResourceAlreadyExistsException):
            self._client.create_log_group(logGroupName=group)
        with contextlib.suppress(self._client.exceptions.ResourceAlreadyExistsException):
            self._client.create_log_stream(logGroupName=group, logStreamName=self._stream)
        self._ready.add(group)

    def flush(self) -> None:
        with self._lock:
            batches, self._pending = self._pending, collections.defaultdict(list)
        for group, events in batches.items():
            try:
                self._ensure_stream(group)
                # CloudWatch Logs takes at most 10,000 events per call.
                for start in range(0, len(events), 10_000):
                    chunk = events[start : start + 10_000]
                    self._client.put_log_events(logGroupName=group, logStreamName=self._stream, logEvents=chunk)
            except Exception:  # losing log lines must not fail the run
                log.warning("could not ship %d log lines to %s", len(events), group, exc_info=True)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
