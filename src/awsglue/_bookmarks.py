"""Job bookmarks: what a job's sources have already read, per job and transformation_ctx, committed by job.commit().

Where they live: a JSON file named by the ``AWSGLUE_BOOKMARK_STORE`` environment variable (the local Glue
executor points every job run at one file in the local cloud's state folder, and answers GetJobBookmark and
ResetJobBookmark from it); without it, in this process's memory (a script run by hand, unit tests).

S3 sources follow AWS's documented scheme: a run lists the files modified up to its start time T; files modified
before the previous run's T minus ``maxBand`` (900 s) were read then; files in the band just below the previous T
are read unless the bookmark lists them (listing can lag writes); a changed file (new modification time) is read
again. The state kept per source is that T and the files of the band below it.

The record per job: ``{version, run, attempt, run_id, previous_run_id, states: {ctx: state},
history: [{run_id, run, states}]}`` (the last ``HISTORY`` committed runs, for ResetJobBookmark with a RunId).
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STORE_ENV = "AWSGLUE_BOOKMARK_STORE"
DEFAULT_MAX_BAND_MS = 900_000
HISTORY = 100
OPTIONS = ("job-bookmark-enable", "job-bookmark-disable", "job-bookmark-pause")

_memory: dict[str, Any] = {"jobs": {}}
_memory_lock = threading.Lock()


class BookmarkStore:
    """Bookmark records of every job: a JSON file shared by job processes and the Glue front, or memory."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else None

    @classmethod
    def from_environment(cls) -> BookmarkStore:
        return cls(os.environ.get(STORE_ENV) or None)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        """The whole document, for reading or changing; written back atomically when the block ends."""
        if self.path is None:
            with _memory_lock:
                yield _memory
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            document = json.loads(self.path.read_text()) if self.path.is_file() else {"jobs": {}}
            before = json.dumps(document, sort_keys=True)
            yield document
            if json.dumps(document, sort_keys=True) != before:
                temporary = self.path.with_name(self.path.name + ".tmp")
                temporary.write_text(json.dumps(document, indent=1, sort_keys=True))
                os.replace(temporary, self.path)

    def record(self, job_name: str) -> dict[str, Any] | None:
        with self._locked() as document:
            found = document["jobs"].get(job_name)
            return copy.deepcopy(found) if found else None

    def states(self, job_name: str, run_id: str | None = None) -> dict[str, Any]:
        """The committed source states: the latest, or as run ``run_id`` committed them."""
        found = self.record(job_name)
        if found is None:
            return {}
        if run_id is None:
            return dict(found["states"])
        for entry in found["history"]:
            if entry["run_id"] == run_id:
                return dict(entry["states"])
        raise KeyError(f"no bookmark of job {job_name} for run {run_id}")

    def commit(self, job_name: str, run_id: str, attempt: int, states: dict[str, Any]) -> dict[str, Any]:
        """Save a run's source states (merged over the sources it did not read) as the job's latest."""
        with self._locked() as document:
            previous = document["jobs"].get(job_name) or {"version": 0, "run": 0, "run_id": None, "states": {}}
            merged = {**previous["states"], **states}
            history = [*previous.get("history", []), {"run_id": run_id, "run": previous["run"] + 1, "states": merged}]
            record = {
                "version": previous["version"] + 1,
                "run": previous["run"] + 1,
                "attempt": attempt,
                "run_id": run_id,
                "previous_run_id": previous["run_id"],
                "states": merged,
                "history": history[-HISTORY:],
            }
            document["jobs"][job_name] = record
            return copy.deepcopy(record)

    def reset(self, job_name: str, run_id: str | None = None) -> dict[str, Any] | None:
        """Forget what the job read (or rewind to the state run ``run_id`` committed); None if no bookmark."""
        with self._locked() as document:
            found = document["jobs"].get(job_name)
            if found is None:
                return None
            if run_id is None:
                states: dict[str, Any] = {}
            else:
                entry = next((e for e in found["history"] if e["run_id"] == run_id), None)
                if entry is None:
                    raise KeyError(f"no bookmark of job {job_name} for run {run_id}")
                states = entry["states"]
            found.update(version=found["version"] + 1, states=copy.deepcopy(states))
            return copy.deepcopy(found)


def api_entry(job_name: str, record: dict[str, Any]) -> dict[str, Any]:
    """A record in the shape of the Glue API's JobBookmarkEntry."""
    entry = {
        "JobName": job_name,
        "Version": record["version"],
        "Run": record["run"],
        "Attempt": record.get("attempt", 0),
        "RunId": record.get("run_id") or "",
        "JobBookmark": json.dumps(record["states"], sort_keys=True),
    }
    if record.get("previous_run_id"):
        entry["PreviousRunId"] = record["previous_run_id"]
    return entry


# --- S3 (and local) files ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileStamp:
    """A file and its last modification time (milliseconds since the epoch)."""

    path: str
    modified_ms: int


def files_to_read(
    files: list[FileStamp], state: dict[str, Any] | None, now_ms: int, max_band_ms: int = DEFAULT_MAX_BAND_MS
) -> tuple[list[FileStamp], dict[str, Any]]:
    """The files a bookmarked source reads in a run listed at ``now_ms``, and the state to commit after it."""
    candidates = [f for f in files if f.modified_ms <= now_ms]  # later files belong to the next run
    if state is None:
        selected = candidates
    else:
        high = int(state["high"])
        seen = {(path, int(modified)) for path, modified in state.get("band", [])}
        selected = [f for f in candidates if f.modified_ms > high - max_band_ms and (f.path, f.modified_ms) not in seen]
    band = sorted([f.path, f.modified_ms] for f in candidates if f.modified_ms > now_ms - max_band_ms)
    return selected, {"kind": "files", "high": now_ms, "band": band}


def files_between(files: list[FileStamp], low: dict[str, Any] | None, high: dict[str, Any]) -> list[FileStamp]:
    """Pause with --job-bookmark-from/--job-bookmark-to: the files the runs after ``low`` up to ``high`` read."""
    low_ms = int(low["high"]) if low else -1
    return [f for f in files if low_ms < f.modified_ms <= int(high["high"])]
