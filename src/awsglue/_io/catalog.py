"""The Data Catalog's tables as sources and sinks (their location, format and partitions), and purging them."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from awsglue import _catalog
from awsglue import _frame as fr
from awsglue import gluetypes as gt
from awsglue._io.files import empty_frame, read_files, write_files
from awsglue._io.jdbc import read_jdbc
from awsglue._io.options import S3_READ_OPTIONS, UnsupportedOptionError, flag, no_extra, reject_unknown
from awsglue._io.paths import is_s3, join_path, list_files, local_path, split_s3_path, write_text

if TYPE_CHECKING:
    from awsglue.context import GlueContext
    from awsglue.dynamicframe import DynamicFrame

log = logging.getLogger("awsglue")


def read_from_catalog(
    glue_ctx: GlueContext,
    database: str,
    table_name: str,
    transformation_ctx: str,
    push_down_predicate: str,
    additional_options: dict[str, Any],
    catalog_id: str | None,
    extra: Mapping[str, Any],
) -> DynamicFrame:
    """A catalog table: its location, format and partitions (GetPartitions; the push_down_predicate prunes them
    before any file is listed)."""
    from awsglue.dynamicframe import DynamicFrame

    no_extra(extra, "create_dynamic_frame.from_catalog")
    glue = glue_ctx._client("glue")
    table = _catalog.get_table(glue, database, table_name, catalog_id)
    parameters = table.get("Parameters") or {}
    descriptor = table.get("StorageDescriptor") or {}
    if parameters.get("connectionName"):
        conf = glue_ctx.extract_jdbc_conf(parameters["connectionName"], catalog_id)
        options = {"url": conf["fullUrl"], "user": conf["user"], "password": conf["password"],
                   "dbtable": descriptor.get("Location", "").split(".", 1)[-1], **additional_options}  # fmt: skip
        data = read_jdbc(glue_ctx, conf["vendor"], options, transformation_ctx)
        return DynamicFrame(data, glue_ctx, transformation_ctx)
    fmt = _catalog.table_format(table)
    location = descriptor.get("Location")
    if not location:
        raise _catalog.CatalogError(f"table {database}.{table_name} has no location")
    catalog_predicate = additional_options.pop("catalogPartitionPredicate", None)
    connection_options = {k: v for k, v in additional_options.items() if k in S3_READ_OPTIONS}
    format_options = {k: v for k, v in additional_options.items() if k not in S3_READ_OPTIONS}
    if fmt == "csv":
        format_options = {**_catalog.csv_format_options(table), **format_options}
    keys = table.get("PartitionKeys") or []
    if not keys:
        data = read_files(
            glue_ctx, {**connection_options, "paths": [location]}, fmt, format_options, transformation_ctx
        )
    else:
        found = _catalog.partitions(glue, database, table_name, catalog_predicate, catalog_id)
        chosen = _catalog.matching_partitions(glue_ctx.spark_session, keys, found, push_down_predicate)
        data = _read_partitions(glue_ctx, table, chosen, fmt, connection_options, format_options, transformation_ctx)
    if fmt == "csv":
        data = _catalog_names(data, descriptor.get("Columns") or [], [k["Name"] for k in keys])
    return DynamicFrame(data, glue_ctx, transformation_ctx)


def _read_partitions(
    glue_ctx: GlueContext,
    table: dict[str, Any],
    chosen: list[dict[str, Any]],
    fmt: str,
    connection_options: dict[str, Any],
    format_options: dict[str, Any],
    transformation_ctx: str,
) -> fr.FrameData:
    keys = table.get("PartitionKeys") or []
    location = table["StorageDescriptor"]["Location"]
    if not chosen:
        return empty_frame(glue_ctx)
    paths = [p["StorageDescriptor"]["Location"] for p in chosen]
    hive_style = all(
        path.rstrip("/") == _catalog.partition_location(table, [k["Name"] for k in keys], p["Values"]).rstrip("/")
        for path, p in zip(paths, chosen, strict=True)
    )
    if not hive_style:
        raise _catalog.CatalogError(
            f"table {table['Name']}: partitions outside {location}/key=value/ are not supported by the local awsglue"
        )
    recursive = flag(connection_options.get("recurse")) or fmt in ("parquet", "orc")
    files = list_files(glue_ctx, paths, recursive)
    data = read_files(
        glue_ctx, {**connection_options, "paths": paths}, fmt, format_options, transformation_ctx,
        base_path=location, file_list=files,
    )  # fmt: skip
    # Partition columns typed as the catalog declares them, not as Spark guesses from the folder names.
    casts = {k["Name"]: gt.to_spark(gt.parse_type_name(k["Type"])) for k in keys if k["Name"] in data.df.columns}
    if not casts:
        return data
    df = data.df.select(*[fr.top(c).cast(casts[c]).alias(c) if c in casts else fr.top(c) for c in data.df.columns])
    return data.with_df(df)


def _catalog_names(data: fr.FrameData, columns: list[dict[str, Any]], keys: list[str]) -> fr.FrameData:
    """A CSV table's columns take the catalog's names, by position (Glue reads them that way)."""
    file_columns = [c for c in data.df.columns if c not in keys]
    names = [c["Name"] for c in columns]
    if not file_columns:
        return data
    renamed = {old: names[i] if i < len(names) else old for i, old in enumerate(file_columns)}
    df = data.df.select(*[fr.top(c).alias(renamed.get(c, c)) for c in data.df.columns])
    return fr.FrameData(df, data.choices, frozenset(renamed.get(c, c) for c in data.raw))


def write_to_catalog(
    glue_ctx: GlueContext,
    frame: DynamicFrame,
    database: str,
    table_name: str,
    additional_options: dict[str, Any],
    catalog_id: str | None,
    extra: Mapping[str, Any],
    data_format: str | None = None,
    path: str | None = None,
    format_options: dict[str, Any] | None = None,
) -> DynamicFrame:
    """Write where a catalog table lives, in its format; with ``enableUpdateCatalog`` register the partitions
    written (and, with updateBehavior UPDATE_IN_DATABASE, new columns), creating the table when it is missing."""
    no_extra(extra, "write_dynamic_frame.from_catalog")
    glue = glue_ctx._client("glue")
    update = flag(additional_options.pop("enableUpdateCatalog", False))
    behaviour = str(additional_options.pop("updateBehavior", "UPDATE_IN_DATABASE"))
    if behaviour not in ("UPDATE_IN_DATABASE", "LOG"):
        raise UnsupportedOptionError(f"unsupported updateBehavior {behaviour!r} (UPDATE_IN_DATABASE, LOG)")
    try:
        table: dict[str, Any] | None = _catalog.get_table(glue, database, table_name, catalog_id)
    except _catalog.CatalogError:
        if not (update and path):
            raise
        table = None
    keys = list(additional_options.pop("partitionKeys", None) or [])
    if table is not None:
        table_keys = [k["Name"] for k in table.get("PartitionKeys") or []]
        keys = keys or table_keys
        if table_keys and keys != table_keys:
            raise ValueError(f"partitionKeys {keys} differ from table {database}.{table_name}'s {table_keys}")
        fmt = data_format or _catalog.table_format(table)
        location = path or table["StorageDescriptor"]["Location"]
    else:
        fmt, location = data_format or "parquet", str(path)
    fmt = "parquet" if fmt == "glueparquet" else fmt
    options = dict(format_options or {})
    if fmt == "csv" and table is not None and not options:
        options = {k: v for k, v in _catalog.csv_format_options(table).items() if k != "withHeader"}
        options["writeHeader"] = bool(_catalog.csv_format_options(table).get("withHeader"))
    written = write_files(
        glue_ctx, frame, {"path": location, "partitionKeys": keys, **additional_options}, fmt, options
    )
    if not update:
        return frame
    schema = frame.schema()
    if table is None:
        table = _catalog.create_table(glue, database, table_name, location, fmt, schema, keys, catalog_id)
    elif behaviour == "UPDATE_IN_DATABASE" and _catalog.update_table_columns(glue, database, table, schema, catalog_id):
        table = _catalog.get_table(glue, database, table_name, catalog_id)
    if keys and written:
        added = _catalog.register_partitions(glue, database, table, written, catalog_id)
        log.info("catalog %s.%s: %d new partitions registered", database, table_name, len(added))
    return frame


def purge_files(glue_ctx: GlueContext, path: str, options: Mapping[str, Any], transformation_ctx: str) -> list[str]:
    """Delete the files under ``path`` older than ``retentionPeriod`` hours (168 by default); returns them."""
    reject_unknown(options, {"retentionPeriod", "excludeStorageClasses", "manifestFilePath", "partitionPredicate"},
                    "purge")  # fmt: skip
    if options.get("partitionPredicate"):
        raise UnsupportedOptionError("purge_s3_path: partitionPredicate applies to purge_table only")
    if options.get("excludeStorageClasses"):
        raise UnsupportedOptionError("purge: excludeStorageClasses is not supported by the local awsglue")
    retention_ms = float(options.get("retentionPeriod", 168)) * 3_600_000
    cutoff = time.time() * 1000 - retention_ms
    doomed = [f.path for f in list_files(glue_ctx, [path], recursive=True) if f.modified_ms < cutoff]
    for file in doomed:
        if is_s3(file):
            _, bucket, key = split_s3_path(file)
            glue_ctx._client("s3").delete_object(Bucket=bucket, Key=key)
        else:
            local_path(file).unlink()
    if options.get("manifestFilePath"):
        manifest = join_path(str(options["manifestFilePath"]), transformation_ctx or "", "Success.csv")
        write_text(glue_ctx, manifest, "".join(f"{f}\n" for f in doomed))
    return doomed


def purge_table(
    glue_ctx: GlueContext, database: str, table_name: str, options: Mapping[str, Any], transformation_ctx: str,
    catalog_id: str | None,
) -> list[str]:  # fmt: skip
    """Purge a table's files (of the partitions matching ``partitionPredicate``); a partition left empty is
    deleted from the catalog."""
    glue = glue_ctx._client("glue")
    table = _catalog.get_table(glue, database, table_name, catalog_id)
    keys = table.get("PartitionKeys") or []
    purge_options = {k: v for k, v in options.items() if k != "partitionPredicate"}
    if not keys:
        return purge_files(glue_ctx, table["StorageDescriptor"]["Location"], purge_options, transformation_ctx)
    found = _catalog.partitions(glue, database, table_name, None, catalog_id)
    chosen = _catalog.matching_partitions(
        glue_ctx.spark_session, keys, found, str(options.get("partitionPredicate") or "")
    )
    deleted: list[str] = []
    for partition in chosen:
        location = partition["StorageDescriptor"]["Location"]
        deleted += purge_files(glue_ctx, location, purge_options, transformation_ctx)
        if not list_files(glue_ctx, [location], recursive=True):
            glue.delete_partition(DatabaseName=database, TableName=table_name, PartitionValues=partition["Values"])
    return deleted
