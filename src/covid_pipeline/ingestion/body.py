"""A fetched body in a temporary file, in a module of its own so the source checks and the fetcher both read it."""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from typing import IO

CHUNK_BYTES = 1 << 20


class Body:
    """A fetched body in a temporary file: its size and sha256 (computed as it arrived), its head and its chunks.
    Closing it deletes the file."""

    def __init__(self, file: IO[bytes], size: int, sha256: str) -> None:
        self.file, self.size, self.sha256 = file, size, sha256

    @classmethod
    def of(cls, data: bytes) -> Body:
        """A body made here (JSON lines), in a temporary file like a fetched one."""
        file = tempfile.TemporaryFile(prefix="ingest-")  # noqa: SIM115  (the Body owns it and closes it)
        file.write(data)
        return cls(file, len(data), hashlib.sha256(data).hexdigest())

    def head(self, limit: int) -> bytes:
        self.file.seek(0)
        return self.file.read(limit)

    def chunks(self) -> Iterator[bytes]:
        self.file.seek(0)
        while chunk := self.file.read(CHUNK_BYTES):
            yield chunk

    def read_all(self) -> bytes:
        self.file.seek(0)
        return self.file.read()

    def stream(self) -> IO[bytes]:
        """The file from its start (what S3's PutObject reads)."""
        self.file.seek(0)
        return self.file

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> Body:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
