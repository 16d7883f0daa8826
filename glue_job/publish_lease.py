"""One publisher per source at a time: a lease object beside the ledger, taken and kept with conditional writes.

Why the job needs it (the ledger's own If-Match is not enough): the job writes its output partitions before the
ledger, so two runs that both pass their compare-and-swap check could still interleave their partition writes (and
each removes the other's Spark staging folder as a leftover). A run therefore writes the output, the ledger and
the catalog only while it holds `<state_path>/publish.lock`:

- taken with If-None-Match: * (S3 answers one creator and 412/409 to the others; locally O_EXCL);
- kept by a heartbeat that rewrites it with If-Match on its own last version every HEARTBEAT_SECONDS;
- released with a delete conditional on that version;
- a waiter that sees the same version for STALE_SECONDS (measured on its own clock, so no two machines' clocks are
  compared) takes it over with If-Match on that version: a run killed mid-write blocks the next one for at most
  that long.

A holder frozen for longer than STALE_SECONDS could lose the lease while it still writes; the ledger's If-Match
then still lets only one of the two record its work, and a later run re-reads what the ledger does not describe.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

from utils import storage

LOG = logging.getLogger("covid_transform")

HEARTBEAT_SECONDS = 5.0
STALE_SECONDS = 30.0
POLL_SECONDS = 0.5


class LeaseLost(RuntimeError):
    """The lease was taken over (this run stalled longer than STALE_SECONDS)."""


def _body(run_id: str, beat: int) -> str:
    return json.dumps({"run_id": run_id, "beat": beat, "at": datetime.now(UTC).isoformat(timespec="seconds")})


@contextlib.contextmanager
def held(state_path: str, run_id: str, wait_seconds: float = 3600.0) -> Iterator[threading.Event]:
    """Hold the source's publish lease for the block; yields an Event set if the lease was lost meanwhile."""
    uri = storage.join(state_path, "publish.lock")
    version = _acquire(uri, run_id, wait_seconds)
    lost = threading.Event()
    stop = threading.Event()
    current = {"version": version}

    def beat() -> None:
        count = 0
        while not stop.wait(HEARTBEAT_SECONDS):
            count += 1
            try:
                current["version"] = storage.write_text(uri, _body(run_id, count), current["version"])
            except storage.PreconditionFailed:
                LOG.error("run %s lost its publish lease on %s", run_id, uri)
                lost.set()
                return
            except Exception as error:  # a transient error: the next beat tries again
                LOG.warning("publish lease heartbeat failed: %s", error)

    heart = threading.Thread(target=beat, name="publish-lease", daemon=True)
    heart.start()
    try:
        yield lost
    finally:
        stop.set()
        heart.join()
        if not lost.is_set():
            with contextlib.suppress(storage.PreconditionFailed):
                storage.delete_versioned(uri, current["version"])


def _acquire(uri: str, run_id: str, wait_seconds: float) -> str:
    deadline = time.monotonic() + wait_seconds
    seen: tuple[str | None, float] = (None, 0.0)  # the holder's version, and when this run first saw it
    while True:
        text, version = storage.read_text_versioned(uri)
        try:
            if version is None:
                return storage.write_text(uri, _body(run_id, 0), storage.ABSENT)
            if version != seen[0]:
                seen = (version, time.monotonic())
                LOG.info("run %s waits for the publish lease held by %s", run_id, text)
            elif time.monotonic() - seen[1] > STALE_SECONDS:
                LOG.warning("taking over a publish lease not renewed for %.0f s: %s", STALE_SECONDS, text)
                return storage.write_text(uri, _body(run_id, 0), version)
        except storage.PreconditionFailed:
            continue  # another run took it first: look again
        if time.monotonic() > deadline:
            raise TimeoutError(f"the publish lease {uri} was held for more than {wait_seconds:.0f} s: {text}")
        time.sleep(POLL_SECONDS)
