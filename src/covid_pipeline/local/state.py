"""The emulator's whole state on disk, so that the local cloud comes back after a restart exactly as it was.

moto keeps every resource in memory, in per-service ``BackendDict`` s (account ->
region -> backend object) that die with the process. ``EmulatorState`` pickles
those backend objects as they are, in this process, and on the next start loads
them back into the same BackendDicts, so the running server answers from them:
same KMS key ids and key material, queue URLs and messages in flight, object
versions and version ids, function code, alarms, log events, ... and
``terraform plan`` against the restored cloud has nothing to change::

    <state_dir>/emulator/index.json            format, moto and Python versions, which state file, counts
    <state_dir>/emulator/state-<sha256>.pickle  every backend, without S3 object bodies
    <state_dir>/emulator/blobs/ab/<sha256>      one S3 object version's bytes

Bodies are files of their own, named by a hash of (account, bucket, key,
version id, ETag, size): a snapshot writes only versions that it has not
written before, and removes the files of versions that are gone. The state
file is named by its content's hash and written only when it changed; the index
is replaced last (write, then ``os.replace``), so a crash mid-snapshot leaves
the previous snapshot whole. A snapshot with nothing changed writes no file.
"Nothing changed" is moto's view: reads change some state (an S3 GET or HEAD
advances the object's restore-status tick), so after any traffic the state file
is written again (about 0.2 MB for the demo, 2 MB for 3000 objects), never a
body that is already on disk. The first snapshot after a restore writes it
again too: objects that were shared before the restore can be separate copies
after it, and pickle's bytes follow that sharing.

What plain pickling cannot carry is reduced, generically (``state_pickle.Pickler``):
locks and conditions are made anew, unlocked; private and public keys and
certificates travel as DER; functions defined inside other functions (a
defaultdict's factory) travel as code; weak dictionaries as their live items;
dict subclasses that override ``items``/``__setitem__`` (S3's versioned key
store keeps a list of versions per key) as their raw items.

A snapshot pickles with the emulator's ``RequestGate`` paused, so it sees moto
between requests. The pickle is only readable by the moto and Python versions
that wrote it: a snapshot records both, and a restore under others stops with
a UserError that says to move the folder away. The Glue executor's run history
(``<state_dir>/glue_runs.json``) is its own file, written by the executor.

Here: the file layout, snapshot and restore (``EmulatorState``). The backends it saves are found and put back by
``state_backends``, pickled by ``state_pickle``, and their bodies written by ``state_blobs``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import moto

from covid_pipeline.errors import UserError
from covid_pipeline.local.request_gate import RequestGate
from covid_pipeline.local.state_backends import Entry, count_resources, install, live_payload, reset_emulator
from covid_pipeline.local.state_blobs import BlobFolder, write_atomically
from covid_pipeline.local.state_pickle import Pickler, Unpickler

log = logging.getLogger(__name__)

# Bump when the layout of the files or of the pickled payload changes.
SNAPSHOT_FORMAT = 1
FOLDER_NAME = "emulator"
INDEX_FILE = "index.json"
BLOBS_FOLDER = "blobs"
STATE_PREFIX = "state-"
STATE_SUFFIX = ".pickle"
# What only the previous state store (JSON documents per bucket, database and log group) left in the state dir.
LEGACY_ENTRIES = ("s3/*/index.json", "catalog/*.json", "glue_jobs.json")
UNGATED_ATTEMPTS = 3


@dataclass
class SnapshotReport:
    backends: int = 0  # (service, account, region) backend objects saved
    object_versions: int = 0  # S3 object versions (and parts of unfinished multipart uploads)
    blobs_written: int = 0
    blob_bytes_written: int = 0
    blobs_removed: int = 0
    state_bytes: int = 0  # size of the pickled backends, bodies excluded
    state_written: bool = False
    files_written: int = 0  # blobs, state file and index
    bytes_written: int = 0
    paused_seconds: float = 0.0  # requests were held at the gate this long
    seconds: float = 0.0


@dataclass
class RestoreReport:
    backends: int = 0
    resources: dict[str, int] = field(default_factory=dict)  # e.g. {"S3 buckets": 5, "SQS messages": 2}
    blob_bytes: int = 0
    seconds: float = 0.0

    @property
    def objects(self) -> int:
        return self.resources.get("S3 object versions", 0)

    @property
    def tables(self) -> int:
        return self.resources.get("Glue tables", 0)


class EmulatorState:
    """Snapshots moto's backends (this process's) to ``<state_dir>/emulator`` and restores them from there."""

    def __init__(self, state_dir: Path, gate: RequestGate | None = None, pause_timeout: float = 30.0) -> None:
        self.folder = Path(state_dir) / FOLDER_NAME
        self.state_dir = Path(state_dir)
        self.gate = gate
        self.pause_timeout = pause_timeout
        self._blobs = BlobFolder(self.folder / BLOBS_FOLDER)
        self._lock = threading.Lock()  # one snapshot or restore at a time

    @property
    def index_file(self) -> Path:
        return self.folder / INDEX_FILE

    @property
    def exists(self) -> bool:
        return self.index_file.is_file()

    # --- snapshot ---------------------------------------------------------------------------------

    def snapshot(self) -> SnapshotReport:
        with self._lock:
            started = time.monotonic()
            report = SnapshotReport()
            pickling_started = time.monotonic()
            pickler, entries = self._pickle_live()
            # Without a gate nothing was held: the figure is then how long a consistent copy took.
            report.paused_seconds = (
                self.gate.last_pause_seconds if self.gate is not None else time.monotonic() - pickling_started
            )
            report.backends = len(entries)
            report.object_versions = pickler.object_versions
            try:
                self._write(pickler.output.getvalue(), pickler, report)
            finally:
                pickler.discard_captures()
            report.seconds = time.monotonic() - started
            log.info("emulator state saved: %s", report)
            return report

    def _pickle_live(self) -> tuple[Pickler, list[Entry]]:
        on_disk = self._blobs.names()
        # Without a gate a request may change a dict while it is pickled: try again, a few times.
        attempts = 1 if self.gate is not None else UNGATED_ATTEMPTS
        for attempt in range(1, attempts + 1):
            pickler = Pickler(io.BytesIO(), on_disk)
            with self._paused():
                payload, entries = live_payload()
                try:
                    pickler.dump(payload)
                    return pickler, entries
                except Exception as exc:
                    pickler.discard_captures()
                    if attempt < attempts and isinstance(exc, RuntimeError) and "changed size" in str(exc):
                        continue
                    raise _snapshot_error(entries, exc) from exc
        raise AssertionError("unreachable")

    def _paused(self) -> contextlib.AbstractContextManager[None]:
        return self.gate.paused(self.pause_timeout) if self.gate is not None else contextlib.nullcontext()

    def _write(self, state: bytes, pickler: Pickler, report: SnapshotReport) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for name, source in pickler.captures.items():
            report.blob_bytes_written += self._blobs.write(name, source)
            report.blobs_written += 1
        digest = hashlib.sha256(state).hexdigest()
        state_file = f"{STATE_PREFIX}{digest}{STATE_SUFFIX}"
        report.state_bytes = len(state)
        if not (self.folder / state_file).is_file():
            write_atomically(self.folder / state_file, [state])
            report.state_written = True
            report.bytes_written += len(state)
        index = {
            "format": SNAPSHOT_FORMAT,
            "moto": moto.__version__,
            "python": _python_version(),
            "state_file": state_file,
            "state_sha256": digest,
            "backends": report.backends,
            "object_versions": report.object_versions,
            "blobs": len(pickler.referenced),
            "blob_bytes": pickler.referenced_bytes,
        }
        index_text = json.dumps(index, indent=1, sort_keys=True) + "\n"
        if not self.index_file.is_file() or self.index_file.read_text() != index_text:
            write_atomically(self.index_file, [index_text.encode()])
            report.files_written += 1
            report.bytes_written += len(index_text.encode())
        report.files_written += report.blobs_written + report.state_written
        report.bytes_written += report.blob_bytes_written
        # The new index is in place: what only the previous snapshots used can go.
        for stale in sorted(self._blobs.names() - pickler.referenced):
            self._blobs.remove(stale)
            report.blobs_removed += 1
        for path in self.folder.glob(f"{STATE_PREFIX}*{STATE_SUFFIX}"):
            if path.name != state_file:
                path.unlink(missing_ok=True)

    # --- restore ----------------------------------------------------------------------------------

    def restore(self) -> RestoreReport:
        """Replace everything the emulator holds with the saved state (nothing saved: nothing changes)."""
        with self._lock:
            started = time.monotonic()
            report = RestoreReport()
            if not self.exists:
                legacy = [pattern for pattern in LEGACY_ENTRIES if any(self.state_dir.glob(pattern))]
                if legacy:
                    raise UserError(
                        f"{self.state_dir} holds local cloud state in an older layout ({', '.join(legacy)}) that this"
                        f" version cannot restore: move {self.state_dir} away to start with an empty cloud"
                    )
                return report
            index = self._read_index()
            state = self._read_state(index)
            with self._paused():
                reset_emulator()
                unpickler = Unpickler(io.BytesIO(state), self._blobs)
                try:
                    payload = unpickler.load()
                    installed = install(payload)
                except UserError:
                    reset_emulator()
                    raise
                except Exception as exc:  # any failure to rebuild an object means the file is not what we wrote
                    reset_emulator()
                    raise self._corrupted(f"{type(exc).__name__}: {exc}") from exc
            report.backends = len(installed)
            report.resources = count_resources(installed)
            report.blob_bytes = unpickler.blob_bytes
            report.seconds = time.monotonic() - started
            log.info("emulator state restored in %.2f s: %s", report.seconds, report.resources)
            return report

    def _read_index(self) -> dict[str, Any]:
        try:
            index = json.loads(self.index_file.read_text())
            if not isinstance(index, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as exc:
            raise self._corrupted(f"{self.index_file.name}: {exc}") from exc
        found = (index.get("format"), index.get("moto"), index.get("python"))
        expected = (SNAPSHOT_FORMAT, moto.__version__, _python_version())
        if found != expected:
            raise UserError(
                f"the local cloud's saved state in {self.folder} was written by snapshot format {found[0]}, moto"
                f" {found[1]}, Python {found[2]}; this is format {expected[0]}, moto {expected[1]}, Python"
                f" {expected[2]}, which cannot read it: move {self.state_dir} away to start with an empty cloud"
                " (or go back to the versions that wrote it)"
            )
        return index

    def _read_state(self, index: dict[str, Any]) -> bytes:
        name = str(index.get("state_file", ""))
        try:
            if Path(name).name != name or not name.startswith(STATE_PREFIX):
                raise ValueError(f"bad state file name {name!r}")
            state = (self.folder / name).read_bytes()
        except (OSError, ValueError) as exc:
            raise self._corrupted(str(exc)) from exc
        if hashlib.sha256(state).hexdigest() != index.get("state_sha256"):
            raise self._corrupted(f"{name} does not match the checksum in {INDEX_FILE}")
        return state

    def _corrupted(self, detail: str) -> UserError:
        return UserError(
            f"the local cloud's saved state in {self.folder} is damaged ({detail}): move {self.state_dir} away to"
            " start with an empty cloud"
        )


def _snapshot_error(entries: list[Entry], exc: Exception) -> RuntimeError:
    """Name the backend that could not be pickled (pickle's own message names only a type)."""
    for entry in entries:
        try:
            Pickler(io.BytesIO(), frozenset(), capture=False).dump(entry.backend)
        except Exception as inner:
            return RuntimeError(
                f"cannot save moto's {entry.module}.{entry.attribute}[{entry.account}][{entry.region}]:"
                f" {type(inner).__name__}: {inner}"
            )
    return RuntimeError(f"cannot save the emulator's state: {type(exc).__name__}: {exc}")


def _python_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"
