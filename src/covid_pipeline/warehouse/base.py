"""What every warehouse target implements, and the values passed between the loader and the targets."""

from __future__ import annotations

import contextlib
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from covid_pipeline.warehouse.source import PartitionSource
    from covid_pipeline.warehouse.transform import StarRows


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


class WarehouseTarget(ABC):
    """A warehouse the loader writes the star schema into. Used as a context manager (connect ... close)."""

    #: False: the loader hands the target the partition's rows (DuckDB, PostgreSQL); True: it reads the files itself.
    reads_source_itself: bool = False
    #: The loader groups partitions into one transaction until they hold this many fact rows: DuckDB and PostgreSQL
    #: load a full history about twice as fast in a few large transactions as in one per month. 0: one per partition.
    max_batch_rows: int = 500_000
    #: Set by the loader before connect(): where the partitions come from.
    source: PartitionSource | None = None

    def __enter__(self) -> WarehouseTarget:
        self.connect()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @abstractmethod
    def connect(self) -> None:
        """Open the connection; raise WarehouseError with a clear reason when the warehouse is unreachable."""

    @abstractmethod
    def close(self) -> None: ...

    @contextlib.contextmanager
    def exclusive_load(self) -> Iterator[None]:
        """Held for a whole load, from listing the source to the last commit: loads into one warehouse run one at a
        time. Targets whose connection is already exclusive for the load need nothing more (the default)."""
        yield

    @abstractmethod
    def ensure_schema(self) -> None:
        """Create the tables and (re)create the views; idempotent."""

    @abstractmethod
    def loaded_fingerprints(self) -> dict[str, str]:
        """partition key -> fingerprint of the version loaded."""

    @abstractmethod
    def replace_partitions(self, batch: Sequence[tuple[PartitionSnapshot, StarRows | None]]) -> int:
        """In ONE transaction, for each partition of the batch: upsert the dimensions, delete the partition's facts,
        insert its facts, record its fingerprint. Returns the number of fact rows loaded. Rows are None for targets
        that read the files themselves. A failure rolls the whole batch back and raises WarehouseError."""

    def replace_partition(self, snapshot: PartitionSnapshot, rows: StarRows | None) -> int:
        return self.replace_partitions([(snapshot, rows)])

    @abstractmethod
    def remove_partitions(self, partition_keys: Sequence[str]) -> None:
        """In ONE transaction: delete these partitions' facts and load-state rows (the job emptied them)."""
