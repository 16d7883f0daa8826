"""The state folder of an environment's local cloud (``.local/<env>``) and the files by which processes find it.

- ``.lock``: held (flock) by the one cloud that serves the folder, so two clouds never share a state;
- ``endpoint.json``: how to reach the running cloud (its endpoint, environment variables, pid), written once it is
  up and removed when it stops; the CLI, ``local down`` and scripts/deploy.sh attach through it;
- ``last_endpoint.json``: the port of the last cloud of the folder, taken again when free so that URLs stay stable
  across restarts.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path
from typing import IO, Any

from covid_pipeline.config import PipelineConfig, local_root
from covid_pipeline.errors import UserError

ENDPOINT_FILE = "endpoint.json"
LAST_ENDPOINT_FILE = "last_endpoint.json"
LOCK_FILE = ".lock"


def local_state_dir(config: PipelineConfig) -> Path:
    """``<repo>/.local/<env>`` (or ``$COVID_PIPELINE_LOCAL_DIR/<env>``): the cloud's and the CLI's one answer."""
    return local_root() / config.environment


def read_endpoint_file(state_dir: Path) -> dict[str, Any] | None:
    """What the running cloud of ``state_dir`` wrote about itself, or None (no file, or not readable)."""
    try:
        info = json.loads((state_dir / ENDPOINT_FILE).read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def previous_port(state_dir: Path) -> int | None:
    """The port of the last cloud of this folder, or None."""
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        return int(json.loads((state_dir / LAST_ENDPOINT_FILE).read_text())["port"])
    return None


def write_endpoint_files(state_dir: Path, info: dict[str, Any], port: int) -> None:
    """``endpoint.json`` and ``last_endpoint.json``, each replaced whole (a reader never sees half a file)."""
    for name, document in ((ENDPOINT_FILE, info), (LAST_ENDPOINT_FILE, {"port": port})):
        path = state_dir / name
        path.with_suffix(".tmp").write_text(json.dumps(document, indent=1))
        os.replace(path.with_suffix(".tmp"), path)


class StateFolderLock:
    """The exclusive lock of a state folder; ``held`` once acquired, until released."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self._handle: IO[str] | None = None

    @property
    def held(self) -> bool:
        return self._handle is not None

    def acquire(self) -> None:
        """Take the lock, or say which cloud holds it (a UserError: the user can stop it or use its endpoint)."""
        handle = (self.state_dir / LOCK_FILE).open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            info = read_endpoint_file(self.state_dir)
            running = f" (pid {info.get('pid')}, endpoint {info.get('endpoint_url')})" if info else ""
            raise UserError(
                f"another local cloud is already using {self.state_dir}{running}: stop it, or use its endpoint"
            ) from None
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None
