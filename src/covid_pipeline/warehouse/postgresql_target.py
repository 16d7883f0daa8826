"""PostgreSQL through psycopg 3. Rows travel by COPY FROM STDIN in CSV that pyarrow writes in C++ (no per-row
Python work), which is what makes ~1M rows/s possible; every value is data in the COPY stream, never SQL text."""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.csv as pa_csv
from psycopg.copy import QueuedLibpqWriter

from covid_pipeline.common import redact_url
from covid_pipeline.warehouse import sql
from covid_pipeline.warehouse.base import Partition, PartitionSnapshot, WarehouseError
from covid_pipeline.warehouse.schema import DATASETS, DIM_DATE, DIM_LOCATION, TABLES, view_statements
from covid_pipeline.warehouse.target import WarehouseTarget
from covid_pipeline.warehouse.transform import StarRows

POSTGRES_TYPES = {
    "bigint": "BIGINT",
    "integer": "INTEGER",
    "smallint": "SMALLINT",
    "double": "DOUBLE PRECISION",
    "text": "TEXT",
    "date": "DATE",
    "timestamptz": "TIMESTAMPTZ",
    "boolean": "BOOLEAN",
}
# A load holds this advisory lock from listing the source to its last commit (exclusive_load), and every transaction
# that changes the warehouse takes it too, so two loaders (two Lambda invocations, a CLI load beside them) queue
# instead of interleaving, and the second compares fingerprints with what the first committed.
LOAD_LOCK_ID = 0x434F564944  # "COVID"
LOCK_POLL_SECONDS = 0.2
DEFAULT_LOCK_WAIT_SECONDS = 300.0
COPY_CHUNK_ROWS = 50_000  # ~7 MB of CSV: small enough to overlap writing and parsing


def csv_chunks(table: pa.Table) -> Iterator[bytes]:
    """The table as headerless CSV: nulls are empty and unquoted (COPY's NULL), strings always quoted (so an empty
    string stays an empty string, and quotes, commas and newlines inside values are data). Timestamps are written
    as naive UTC wall-clock text (the loading session runs with TIME ZONE 'UTC'): pyarrow formats zoned timestamps
    about 4x slower, and it dominated the whole load."""
    naive = pa.schema(
        [
            field.with_type(pa.timestamp(field.type.unit)) if pa.types.is_timestamp(field.type) else field
            for field in table.schema
        ]
    )
    table = table.cast(naive)
    options = pa_csv.WriteOptions(include_header=False)
    for start in range(0, max(table.num_rows, 1), COPY_CHUNK_ROWS):
        buffer = io.BytesIO()
        pa_csv.write_csv(table.slice(start, COPY_CHUNK_ROWS), buffer, options)
        yield buffer.getvalue()


class PostgreSQLTarget(WarehouseTarget):
    def __init__(
        self,
        url: str,
        connect_timeout_seconds: int = 10,
        lock_wait_seconds: float = DEFAULT_LOCK_WAIT_SECONDS,
        environ: Mapping[str, str] | None = None,
    ) -> None:

        self.url = url
        self.display_url = redact_url(url)
        self.connect_timeout_seconds = connect_timeout_seconds
        self.lock_wait_seconds = lock_wait_seconds
        self.environ = environ
        self._connection: psycopg.Connection | None = None

    @property
    def connection(self) -> psycopg.Connection:
        if self._connection is None:
            raise WarehouseError("PostgreSQL target used before connect()")
        return self._connection

    def connect(self) -> None:
        from covid_pipeline.warehouse.credentials import credentials_for_url

        conninfo = "postgresql://" + self.url.split("://", 1)[1]  # accept the postgres:// spelling too
        # A password kept out of the URL (and so out of argv): COVID_WAREHOUSE_PASSWORD or a secret's.
        extra: dict[str, Any] = credentials_for_url(self.url, self.environ).connect_arguments()
        try:
            self._connection = psycopg.connect(conninfo, connect_timeout=self.connect_timeout_seconds, **extra)
        except psycopg.Error as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise WarehouseError(f"cannot connect to PostgreSQL warehouse {self.display_url}: {reason}") from exc

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    @contextlib.contextmanager
    def exclusive_load(self) -> Iterator[None]:
        """The session-level advisory lock, waited for up to lock_wait_seconds (then a clear error, not a hang)."""
        deadline = time.monotonic() + self.lock_wait_seconds
        try:
            while True:
                (taken,) = self.connection.execute("SELECT pg_try_advisory_lock(%s)", (LOAD_LOCK_ID,)).fetchone() or (
                    False,
                )
                self.connection.commit()
                if taken:
                    break
                if time.monotonic() >= deadline:
                    raise WarehouseError(
                        f"another load has held the load lock of {self.display_url} for more than "
                        f"{self.lock_wait_seconds:g} s (advisory lock {LOAD_LOCK_ID}); nothing was loaded"
                    )
                time.sleep(LOCK_POLL_SECONDS)
        except psycopg.Error as exc:
            raise self._fail("taking the load lock", exc) from exc
        try:
            yield
        finally:
            with contextlib.suppress(psycopg.Error):  # closing the connection releases it anyway
                self.connection.rollback()
                self.connection.execute("SELECT pg_advisory_unlock(%s)", (LOAD_LOCK_ID,))
                self.connection.commit()

    def _fail(self, action: str, exc: psycopg.Error) -> WarehouseError:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return WarehouseError(f"PostgreSQL {action} on {self.display_url} failed and was rolled back: {reason}")

    def ensure_schema(self) -> None:
        fact_tables = {dataset.fact.name for dataset in DATASETS.values()}
        statements = [
            sql.create_table(table, POSTGRES_TYPES, not_null=("location_key", "date_key", "year", "month"))
            if table.name in fact_tables
            else sql.create_table(table, POSTGRES_TYPES)
            for table in TABLES
        ]
        # The DELETE of a partition's facts must not scan the table (a B-tree costs ~10% more server CPU on a full
        # load; BRIN was worse: new block ranges stay unsummarized, so every DELETE scanned the whole table).
        statements += [
            f"CREATE INDEX IF NOT EXISTS {sql.ident(name + '_partition')} ON {sql.ident(name)} (year, month)"
            for name in sorted(fact_tables)
        ]
        statements += sql.drop_views() + view_statements()
        try:
            with self.connection.transaction(), self.connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", (LOAD_LOCK_ID,))
                for statement in statements:
                    cursor.execute(statement)  # type: ignore[arg-type]  # text built from our schema constants only
        except psycopg.Error as exc:
            raise self._fail("schema set-up", exc) from exc

    def loaded_fingerprints(self) -> dict[str, str]:
        with self.connection.cursor() as cursor:
            cursor.execute(sql.select_load_state(self.dataset.load_state))  # type: ignore[arg-type]
            rows = cursor.fetchall()
        self.connection.commit()
        return {partition_key: fingerprint for partition_key, fingerprint in rows}

    def replace_partitions(self, batch: Sequence[tuple[PartitionSnapshot, StarRows | None]]) -> int:
        if any(rows is None for _, rows in batch):
            raise WarehouseError("PostgreSQL target needs the partitions' rows")
        keys = ", ".join(snapshot.partition.key for snapshot, _ in batch)
        fact, load_state = self.dataset.fact, self.dataset.load_state
        loaded = 0
        try:
            with self.connection.transaction(), self.connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", (LOAD_LOCK_ID,))
                cursor.execute("SET LOCAL TIME ZONE 'UTC'")  # csv_chunks writes UTC wall-clock timestamps
                # Safe to not wait for the WAL flush at COMMIT: the fingerprint commits with the rows, so a commit
                # lost in a server crash just makes the next load do the partitions again.
                cursor.execute("SET LOCAL synchronous_commit = off")
                for staging, table in (("staged_dates", DIM_DATE), ("staged_locations", DIM_LOCATION)):
                    cursor.execute(  # type: ignore[arg-type]
                        f"CREATE TEMPORARY TABLE {sql.ident(staging)} (LIKE {sql.ident(table.name)}) ON COMMIT DROP"
                    )
                for snapshot, rows in batch:
                    assert rows is not None
                    partition = snapshot.partition
                    cursor.execute("TRUNCATE staged_dates, staged_locations")
                    self._copy(cursor, "staged_dates", DIM_DATE.column_names, rows.dates)
                    self._copy(cursor, "staged_locations", DIM_LOCATION.column_names, rows.locations)
                    cursor.execute(sql.upsert_dates("staged_dates"))  # type: ignore[arg-type]
                    cursor.execute(sql.upsert_locations("staged_locations"))  # type: ignore[arg-type]
                    cursor.execute(
                        sql.delete_partition_facts("%s", fact),  # type: ignore[arg-type]
                        (partition.year, partition.month),
                    )
                    self._copy(cursor, fact.name, fact.column_names, rows.facts)
                    cursor.execute(
                        sql.upsert_load_state("%s", load_state),  # type: ignore[arg-type]
                        (
                            partition.key,
                            snapshot.fingerprint,
                            snapshot.prefix_uri,
                            len(snapshot.objects),
                            rows.facts.num_rows,
                        ),
                    )
                    loaded += rows.facts.num_rows
        except psycopg.Error as exc:
            raise self._fail(f"load of partition(s) {keys}", exc) from exc
        return loaded

    def remove_partitions(self, partition_keys: Sequence[str]) -> None:
        try:
            with self.connection.transaction(), self.connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", (LOAD_LOCK_ID,))
                for key in partition_keys:
                    partition = Partition.parse(key)
                    cursor.execute(
                        sql.delete_partition_facts("%s", self.dataset.fact),  # type: ignore[arg-type]
                        (partition.year, partition.month),
                    )
                    cursor.execute(
                        sql.delete_load_state("%s", self.dataset.load_state),  # type: ignore[arg-type]
                        (partition.key,),
                    )
        except psycopg.Error as exc:
            raise self._fail(f"removal of partition(s) {', '.join(partition_keys)}", exc) from exc

    @staticmethod
    def _copy(cursor: psycopg.Cursor, table_name: str, columns: tuple[str, ...], table: pa.Table) -> None:
        statement = f"COPY {sql.ident(table_name)} ({sql.column_list(columns)}) FROM STDIN (FORMAT csv)"
        # A queued writer sends from its own thread, so the server parses one chunk while pyarrow writes the next.
        with cursor.copy(statement, writer=QueuedLibpqWriter(cursor)) as copy:  # type: ignore[arg-type]
            for chunk in csv_chunks(table.select(list(columns))):
                copy.write(chunk)
