"""S3 bodies (and large byte strings) of a snapshot: taken while the gate is paused, written later as one file
each under blobs/, and every file written atomically."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

COPY_CHUNK = 1 << 20


class Body:
    """An object version's bytes, taken while the gate is paused and written after it opens again.

    A body small enough to be in memory is copied. A larger one is a temporary file: its descriptor is duplicated,
    and read later with pread, which leaves the file position moto uses alone; the duplicate keeps the bytes
    readable even if the object is deleted (and moto closes its file) before they are written."""

    def __init__(self, data: bytes | None, descriptor: int | None, size: int) -> None:
        self.data = data
        self.descriptor = descriptor
        self.size = size

    @classmethod
    def capture(cls, key: Any, buffer: Any, size: int) -> Body:
        with key.lock:
            if getattr(buffer, "_rolled", False):
                buffer.flush()
                return cls(None, os.dup(buffer.fileno()), size)
            buffer.seek(0)  # moto seeks before every read too
            return cls(buffer.read(), None, size)

    def chunks(self) -> Iterator[bytes]:
        if self.data is not None:
            yield self.data
            return
        assert self.descriptor is not None
        offset = 0
        while offset < self.size:
            chunk = os.pread(self.descriptor, min(COPY_CHUNK, self.size - offset), offset)
            if not chunk:
                raise OSError(f"an S3 body ended after {offset} of {self.size} bytes")
            yield chunk
            offset += len(chunk)

    def close(self) -> None:
        if self.descriptor is not None:
            os.close(self.descriptor)
            self.descriptor = None
        self.data = None


class BlobFolder:
    """blobs/ab/<name>: one file per object version, written once. Knows what it holds without listing the folder
    every time (a snapshot runs after every job run)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._names: set[str] | None = None

    def path(self, name: str) -> Path:
        if len(name) != 64 or not all(character in "0123456789abcdef" for character in name):
            raise ValueError(f"bad blob name {name!r}")
        return self.folder / name[:2] / name

    def names(self) -> frozenset[str]:
        if self._names is None:
            self._names = set()
            for path in self.folder.glob("*/*") if self.folder.is_dir() else []:
                if path.name.endswith(".tmp"):
                    path.unlink(missing_ok=True)  # a snapshot that crashed while writing it
                else:
                    self._names.add(path.name)
        return frozenset(self._names)

    def write(self, name: str, body: Body) -> int:
        path = self.path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, body.chunks())
        self.names()
        assert self._names is not None
        self._names.add(name)
        return body.size

    def remove(self, name: str) -> None:
        self.path(name).unlink(missing_ok=True)
        if self._names is not None:
            self._names.discard(name)


def write_atomically(path: Path, chunks: Iterable[bytes]) -> None:
    """Write beside ``path``, then rename: ``path`` is either whole or as it was (a crash, a full disk)."""
    temporary = path.with_name(path.name + ".tmp")
    try:
        with temporary.open("wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
