"""The values passed between the loader, the source and the targets, and the error they raise (what every target
implements is in target.py: it needs the source and the rows, which need these values)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field


class WarehouseError(RuntimeError):
    """The load could not be done (warehouse unreachable, bad input, failed statement); nothing was half-loaded."""


_PARTITION_PATTERN = re.compile(r"(?:^|/)year=(\d{4})/month=(\d{1,2})(?:/|$)")


@dataclass(frozen=True, order=True)
class Partition:
    """One year=/month= partition of the job's output."""

    year: int
    month: int

    @property
    def key(self) -> str:
        """The spelling Spark uses for the directory (and the load-state table's key)."""
        return f"year={self.year}/month={self.month}"

    @classmethod
    def parse(cls, text: str) -> Partition:
        """Accepts `year=2020/month=3`, `year=2020/month=03/` or a full object/directory path containing it."""
        match = _PARTITION_PATTERN.search(text)
        if not match:
            raise WarehouseError(f"not a year=/month= partition: {text!r}")
        year, month = int(match.group(1)), int(match.group(2))
        if not 1 <= month <= 12:
            raise WarehouseError(f"month out of range in partition {text!r}")
        return cls(year, month)


@dataclass(frozen=True)
class SourceObject:
    """A data file of a partition: its location and what identifies its content (ETag or checksum, and size)."""

    uri: str
    size: int
    etag: str


@dataclass(frozen=True)
class PartitionSnapshot:
    """A partition as it is in the source right now."""

    partition: Partition
    prefix_uri: str
    objects: tuple[SourceObject, ...]

    @property
    def fingerprint(self) -> str:
        """Changes when any file's content changes, or files appear or disappear; stable under renames."""
        import hashlib

        parts = sorted(f"{obj.etag}:{obj.size}" for obj in self.objects)
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()


@dataclass
class LoadResult:
    partitions_loaded: list[str] = field(default_factory=list)
    partitions_skipped: list[str] = field(default_factory=list)
    rows_loaded: int = 0
    partitions_removed: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "partitions_loaded": self.partitions_loaded,
            "partitions_skipped": self.partitions_skipped,
            "rows_loaded": self.rows_loaded,
            "partitions_removed": self.partitions_removed,
            "seconds": round(self.seconds, 3),
        }
