"""load_partitions: bring the warehouse in step with the job's output, one partition per transaction."""

from __future__ import annotations

import logging
import time
from typing import Any

from covid_pipeline.common import redact_url
from covid_pipeline.warehouse.base import LoadResult, Partition, PartitionSnapshot, WarehouseError
from covid_pipeline.warehouse.schema import JHU_DAILY, dataset_for
from covid_pipeline.warehouse.source import PartitionSource
from covid_pipeline.warehouse.target import WarehouseTarget
from covid_pipeline.warehouse.transform import StarRows, build_rows, normalize_job_output

logger = logging.getLogger(__name__)

SCHEMES = ("duckdb", "postgresql", "postgres", "redshift")


def target_for_url(warehouse_url: str, *, wait_seconds: float | None = None, **options: Any) -> WarehouseTarget:
    """The target a URL names: duckdb:///file.duckdb, postgresql://user@host:port/db or redshift://cluster/db?...

    wait_seconds: the longest any wait of the load may last (another load's lock, a Redshift statement); the
    warehouse-loader Lambda passes what its timeout leaves, so a wait ends in a clear error, not in Lambda's kill.
    """
    scheme = warehouse_url.split("://", 1)[0].lower() if "://" in warehouse_url else ""
    if scheme == "duckdb":
        from covid_pipeline.warehouse.duckdb_target import DuckDBTarget

        target = DuckDBTarget(warehouse_url)
        if wait_seconds is not None:
            target.lock_wait_seconds = wait_seconds
        return target
    if scheme in ("postgresql", "postgres"):
        from covid_pipeline.warehouse.postgresql_target import DEFAULT_LOCK_WAIT_SECONDS, PostgreSQLTarget

        return PostgreSQLTarget(warehouse_url, lock_wait_seconds=wait_seconds or DEFAULT_LOCK_WAIT_SECONDS)
    if scheme == "redshift":
        from covid_pipeline.warehouse.redshift_target import RedshiftTarget

        if wait_seconds is not None:
            options["wait_seconds"] = wait_seconds
        return RedshiftTarget(warehouse_url, **options)
    raise WarehouseError(
        f"unsupported warehouse URL {redact_url(warehouse_url)!r}: expected one of "
        "duckdb:///path.duckdb, postgresql://user@host:port/db, redshift://cluster/db?secret_arn=...&iam_role=..."
    )


def load_partitions(
    source_uri: str,
    warehouse_url: str,
    partitions: list[str] | None = None,
    *,
    removed: list[str] | None = None,
    source: str = JHU_DAILY.source,
    s3_client: Any | None = None,
    target: WarehouseTarget | None = None,
    target_options: dict[str, Any] | None = None,
) -> LoadResult:
    """Bring the warehouse in step with the job's output, partition by partition.

    partitions=None: every partition of the source, and partitions loaded earlier that the source no longer has
    are removed. A list (`year=2020/month=3`, or paths containing that): only those; one the source does not
    have is removed from the warehouse, or is an error when the warehouse does not have it either (a typo).
    removed: partitions the job emptied (its manifest's partitions_removed); removed when loaded, else ignored.

    A partition whose content fingerprint matches the one recorded at its last load is skipped; a new or changed
    one replaces its facts in one transaction (several partitions may share it, see max_batch_rows). A failure
    raises WarehouseError after rolling back the transaction in progress; partitions committed before it stay
    loaded (each is complete on its own) and are skipped next time, since their fingerprints match. So a load
    that failed or never ran is healed by the next load of every partition (partitions=None: the warehouse loader
    Lambda and `covid-pipeline load` both converge this way).

    The source is listed and compared with the warehouse's fingerprints while the target's load lock is held
    (WarehouseTarget.exclusive_load): two loads run one after the other, and the second sees the source as it is
    after the first, so an older, slower load can never overwrite what a newer one loaded.
    target_options: passed to target_for_url (wait_seconds: how long any wait of the load may last).
    source: the job source whose output this is (schema.DATASETS): jhu_daily into the star schema, owid into
    fact_owid_daily; each has its own load-state table, so loading one never touches the other's partitions.
    """
    started = time.perf_counter()
    dataset = dataset_for(source)
    partition_source = PartitionSource(source_uri, s3_client=s3_client)
    named = None if partitions is None else {Partition.parse(text) for text in partitions}
    emptied = {Partition.parse(text) for text in removed or []}
    result = LoadResult()
    warehouse = target or target_for_url(warehouse_url, s3_client=s3_client, **(target_options or {}))
    warehouse.source, warehouse.dataset = partition_source, dataset
    with warehouse, warehouse.exclusive_load():
        snapshots = partition_source.snapshots()
        warehouse.ensure_schema()
        loaded = warehouse.loaded_fingerprints()
        in_warehouse = {Partition.parse(key) for key in loaded}
        if named is None:
            if not snapshots and in_warehouse - emptied:
                # An empty or mistyped source must not wipe the warehouse (unless the job says it emptied it).
                raise WarehouseError(
                    f"no partitions under {source_uri}: refusing to remove all {len(in_warehouse)} loaded partitions"
                )
            wanted = sorted(snapshots)
            gone = in_warehouse - set(snapshots)
        else:
            unknown = sorted(p.key for p in named if p not in snapshots and p not in in_warehouse)
            if unknown:
                raise WarehouseError(
                    f"partition(s) not found under {source_uri} nor in the warehouse: {', '.join(unknown)}"
                )
            wanted = sorted(p for p in named | emptied if p in snapshots)
            gone = {p for p in named if p not in snapshots}
        gone |= {p for p in emptied if p not in snapshots and p in in_warehouse}
        if gone:
            keys = sorted(p.key for p in gone)
            warehouse.remove_partitions(keys)
            result.partitions_removed.extend(keys)
            logger.info("removed partitions %s (no longer in the job output)", ", ".join(keys))

        batch: list[tuple[PartitionSnapshot, StarRows | None]] = []

        def write_batch() -> None:
            if batch:
                result.rows_loaded += warehouse.replace_partitions(batch)
                result.partitions_loaded.extend(snapshot.partition.key for snapshot, _ in batch)
                logger.info("loaded partitions %s", ", ".join(snapshot.partition.key for snapshot, _ in batch))
                batch.clear()

        for partition in wanted:
            snapshot = snapshots[partition]
            if loaded.get(partition.key) == snapshot.fingerprint:
                result.partitions_skipped.append(partition.key)
                continue
            rows = None
            if not warehouse.reads_source_itself:
                try:
                    rows = build_rows(normalize_job_output(partition_source.read(snapshot), partition), dataset)
                except WarehouseError:
                    write_batch()  # the good partitions read before this bad one still get loaded
                    raise
            batch.append((snapshot, rows))
            if sum(r.facts.num_rows for _, r in batch if r is not None) >= warehouse.max_batch_rows:
                write_batch()
        write_batch()
    result.seconds = time.perf_counter() - started
    return result
