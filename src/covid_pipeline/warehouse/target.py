"""What every warehouse target implements."""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence

from covid_pipeline.warehouse.base import PartitionSnapshot
from covid_pipeline.warehouse.schema import JHU_DAILY, Dataset
from covid_pipeline.warehouse.source import PartitionSource
from covid_pipeline.warehouse.transform import StarRows


class WarehouseTarget(ABC):
    """A warehouse the loader writes the star schema into. Used as a context manager (connect ... close)."""

    #: False: the loader hands the target the partition's rows (DuckDB, PostgreSQL); True: it reads the files itself.
    reads_source_itself: bool = False
    #: The loader groups partitions into one transaction until they hold this many fact rows: DuckDB and PostgreSQL
    #: load a full history about twice as fast in a few large transactions as in one per month. 0: one per partition.
    max_batch_rows: int = 500_000
    #: Set by the loader before connect(): where the partitions come from.
    source: PartitionSource | None = None
    #: Set by the loader before connect(): whose partitions they are (the fact and load-state tables they go to).
    dataset: Dataset = JHU_DAILY

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
        """partition key -> fingerprint of the version loaded (of the dataset's partitions)."""

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
