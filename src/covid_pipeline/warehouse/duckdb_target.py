"""DuckDB: the embedded default warehouse. Arrow tables are scanned in place (INSERT ... SELECT), no row copying."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb

from covid_pipeline.warehouse import sql
from covid_pipeline.warehouse.base import Partition, PartitionSnapshot, WarehouseError
from covid_pipeline.warehouse.schema import TABLES, view_statements
from covid_pipeline.warehouse.target import WarehouseTarget
from covid_pipeline.warehouse.transform import StarRows, concat_facts

STAGED_VIEWS = ("staged_locations", "staged_dates", "staged_facts")
DUCKDB_TYPES = {
    "bigint": "BIGINT",
    "integer": "INTEGER",
    "smallint": "SMALLINT",
    "double": "DOUBLE",
    "text": "VARCHAR",
    "date": "DATE",
    "timestamptz": "TIMESTAMPTZ",
    "boolean": "BOOLEAN",
}

# A DuckDB file has one writer process at a time (the connection holds the file lock for the whole load), but
# connections of one process share the database: loads in threads of one process queue on this lock per file.
_PROCESS_LOCKS: dict[str, threading.Lock] = {}
_PROCESS_LOCKS_GUARD = threading.Lock()


def duckdb_path(url: str) -> str:
    """`duckdb:///abs/path.duckdb` -> /abs/path.duckdb; `duckdb://rel.duckdb` -> rel.duckdb; `duckdb://:memory:`."""
    if not url.startswith("duckdb://"):
        raise WarehouseError(f"not a duckdb:// URL: {url!r}")
    path = url[len("duckdb://") :]
    if not path:
        raise WarehouseError("duckdb:// URL without a path (use duckdb:///path/to/file.duckdb)")
    if path.startswith("//"):  # duckdb:////abs/path (SQLAlchemy's spelling of an absolute path)
        path = "/" + path.lstrip("/")
    return path


class DuckDBTarget(WarehouseTarget):
    def __init__(self, url: str, lock_wait_seconds: float = 15.0) -> None:
        self.url = url
        self.lock_wait_seconds = lock_wait_seconds
        self.path = duckdb_path(url)
        self._connection: duckdb.DuckDBPyConnection | None = None

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        if self._connection is None:
            raise WarehouseError("DuckDB target used before connect()")
        return self._connection

    def connect(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.lock_wait_seconds
        while True:
            try:
                self._connection = duckdb.connect(self.path)
                break
            except duckdb.Error as exc:
                # A DuckDB file has one writer process at a time; a reader (the report, `local status`) holds the
                # lock only briefly, so wait for it rather than fail the load.
                if "lock" in str(exc).lower() and time.monotonic() < deadline:
                    time.sleep(0.5)
                    continue
                raise WarehouseError(f"cannot open DuckDB warehouse {self.path}: {exc}") from exc
        # One checkpoint when the loader closes instead of one every 16 MB of WAL (halves a full load's time).
        self._connection.execute("SET checkpoint_threshold = '1GB'")

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    @contextlib.contextmanager
    def exclusive_load(self) -> Iterator[None]:
        if self.path == ":memory:":
            yield
            return
        with _PROCESS_LOCKS_GUARD:
            lock = _PROCESS_LOCKS.setdefault(str(Path(self.path).resolve()), threading.Lock())
        if not lock.acquire(timeout=self.lock_wait_seconds):
            raise WarehouseError(f"another load of {self.path} in this process did not end within the lock wait")
        try:
            yield
        finally:
            lock.release()

    def ensure_schema(self) -> None:
        statements = [sql.create_table(table, DUCKDB_TYPES) for table in TABLES]
        statements += sql.drop_views() + view_statements()
        self._in_transaction(lambda con: [con.execute(statement) for statement in statements])

    def loaded_fingerprints(self) -> dict[str, str]:
        rows = self.connection.execute(sql.select_load_state(self.dataset.load_state)).fetchall()
        return {partition_key: fingerprint for partition_key, fingerprint in rows}

    def replace_partitions(self, batch: Sequence[tuple[PartitionSnapshot, StarRows | None]]) -> int:
        if any(rows is None for _, rows in batch):
            raise WarehouseError("DuckDB target needs the partitions' rows")
        loaded = [(snapshot, rows) for snapshot, rows in batch if rows is not None]
        fact, load_state = self.dataset.fact, self.dataset.load_state
        fact_columns = sql.column_list(fact.column_names)

        def load(con: duckdb.DuckDBPyConnection) -> None:
            for snapshot, rows in loaded:
                partition = snapshot.partition
                con.register("staged_locations", rows.locations)
                con.register("staged_dates", rows.dates)
                con.execute(sql.upsert_dates("staged_dates"))
                con.execute(sql.upsert_locations("staged_locations"))
                con.execute(sql.delete_partition_facts("?", fact), [partition.year, partition.month])
                con.execute(
                    sql.upsert_load_state("?", load_state),
                    [
                        partition.key,
                        snapshot.fingerprint,
                        snapshot.prefix_uri,
                        len(snapshot.objects),
                        rows.facts.num_rows,
                    ],
                )
            # One INSERT for the batch: DuckDB writes large inserts straight to row groups instead of the WAL.
            con.register("staged_facts", concat_facts([rows.facts for _, rows in loaded], fact))
            con.execute(f"INSERT INTO {sql.ident(fact.name)} ({fact_columns}) SELECT {fact_columns} FROM staged_facts")

        self._in_transaction(load)
        return sum(rows.facts.num_rows for _, rows in loaded)

    def remove_partitions(self, partition_keys: Sequence[str]) -> None:
        def remove(con: duckdb.DuckDBPyConnection) -> None:
            for key in partition_keys:
                partition = Partition.parse(key)
                con.execute(sql.delete_partition_facts("?", self.dataset.fact), [partition.year, partition.month])
                con.execute(sql.delete_load_state("?", self.dataset.load_state), [partition.key])

        self._in_transaction(remove)

    def _in_transaction(self, work: Any) -> None:
        con = self.connection
        con.execute("BEGIN TRANSACTION")
        try:
            work(con)
            con.execute("COMMIT")
        except Exception as exc:
            con.execute("ROLLBACK")
            if isinstance(exc, WarehouseError):
                raise
            if isinstance(exc, duckdb.Error):
                raise WarehouseError(f"DuckDB load into {self.path} failed and was rolled back: {exc}") from exc
            raise
        finally:
            # Arrow tables registered by `work` (unregistering inside an aborted transaction would fail and hide
            # the real error, so it happens here, after COMMIT or ROLLBACK).
            for name in STAGED_VIEWS:
                with contextlib.suppress(duckdb.Error):
                    con.unregister(name)
