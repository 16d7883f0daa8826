"""Glue Data Catalog edge: keep the table's columns in step with the schema (additively), register partitions."""

from __future__ import annotations

from typing import Any

from pyspark.sql import types as T
from schema_evolution import COLUMN_DOCS, OUTPUT_SCHEMA, PARTITION_COLUMNS, SCHEMA_VERSION

PARQUET_SERDE = {
    "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
    "Parameters": {"serialization.format": "1"},
}
PARQUET_INPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"


def glue_type(data_type: T.DataType) -> str:
    """Hive/Glue type name of a Spark type (the ones OUTPUT_SCHEMA uses)."""
    if isinstance(data_type, T.MapType):
        return f"map<{glue_type(data_type.keyType)},{glue_type(data_type.valueType)}>"
    return {
        T.StringType: "string",
        T.LongType: "bigint",
        T.IntegerType: "int",
        T.DoubleType: "double",
        T.DateType: "date",
        T.TimestampType: "timestamp",
    }[type(data_type)]


def catalog_columns() -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """(data columns, partition keys) in Glue's Column shape."""
    columns, partitions = [], []
    for field in OUTPUT_SCHEMA.fields:
        column = {"Name": field.name, "Type": glue_type(field.dataType), "Comment": COLUMN_DOCS.get(field.name, "")}
        (partitions if field.name in PARTITION_COLUMNS else columns).append(column)
    return columns, partitions


def _storage(location: str, columns: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "Columns": columns,
        "Location": location,
        "InputFormat": PARQUET_INPUT,
        "OutputFormat": PARQUET_OUTPUT,
        "Compressed": True,
        "SerdeInfo": PARQUET_SERDE,
    }


def merge_columns(existing: list[dict[str, str]], wanted: list[dict[str, str]]) -> list[dict[str, str]]:
    """Additive: keep every existing column (and its type), append the wanted ones it lacks."""
    names = {c["Name"] for c in existing}
    return [*existing, *[c for c in wanted if c["Name"] not in names]]


def sync_table(
    glue: Any, database: str, table: str, location: str, partitions: list[tuple[int, int]]
) -> dict[str, Any]:
    """Create the table if missing, add new columns, register partitions. Returns what it did."""
    columns, partition_keys = catalog_columns()
    location = location.rstrip("/") + "/"
    done: dict[str, Any] = {"table_created": False, "columns_added": [], "partitions_added": 0}
    try:
        glue.get_database(Name=database)
    except glue.exceptions.EntityNotFoundException:
        glue.create_database(DatabaseInput={"Name": database})
    try:
        current = glue.get_table(DatabaseName=database, Name=table)["Table"]
    except glue.exceptions.EntityNotFoundException:
        current = None
    parameters = {"classification": "parquet", "schema_version": SCHEMA_VERSION, "EXTERNAL": "TRUE"}
    if current is None:
        glue.create_table(
            DatabaseName=database,
            TableInput={
                "Name": table,
                "TableType": "EXTERNAL_TABLE",
                "Parameters": parameters,
                "StorageDescriptor": _storage(location, columns),
                "PartitionKeys": partition_keys,
            },
        )
        done["table_created"] = True
    else:
        existing = current.get("StorageDescriptor", {}).get("Columns", [])
        merged = merge_columns(existing, columns)
        if len(merged) != len(existing) or current.get("Parameters", {}).get("schema_version") != SCHEMA_VERSION:
            done["columns_added"] = [c["Name"] for c in merged[len(existing) :]]
            glue.update_table(
                DatabaseName=database,
                TableInput={
                    "Name": table,
                    "TableType": current.get("TableType", "EXTERNAL_TABLE"),
                    "Parameters": {**current.get("Parameters", {}), **parameters},
                    "StorageDescriptor": _storage(location, merged),
                    "PartitionKeys": current.get("PartitionKeys", partition_keys),
                },
            )
    inputs = [
        {
            "Values": [str(year), str(month)],
            "StorageDescriptor": _storage(f"{location}year={year}/month={month}/", columns),
        }
        for year, month in sorted(partitions)
    ]
    for start in range(0, len(inputs), 100):  # BatchCreatePartition takes at most 100
        response = glue.batch_create_partition(
            DatabaseName=database, TableName=table, PartitionInputList=inputs[start : start + 100]
        )
        errors = [e for e in response.get("Errors", []) if e["ErrorDetail"]["ErrorCode"] != "AlreadyExistsException"]
        if errors:
            raise RuntimeError(f"catalog partitions not registered: {errors[:3]}")
        done["partitions_added"] += len(inputs[start : start + 100]) - len(response.get("Errors", []))
    return done
