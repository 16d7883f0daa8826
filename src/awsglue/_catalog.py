"""The Glue Data Catalog as a DynamicFrame source and sink: tables, partitions and connections, through the Glue API.

boto3 finds the endpoint as it does for any AWS client (``AWS_ENDPOINT_URL_GLUE``/``AWS_ENDPOINT_URL`` locally).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from awsglue import gluetypes as gt

_PARQUET_INPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
_ORC_INPUT = "org.apache.hadoop.hive.ql.io.orc.OrcInputFormat"
_FORMATS = {
    "parquet": (_PARQUET_INPUT, "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
                "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"),
    "orc": (_ORC_INPUT, "org.apache.hadoop.hive.ql.io.orc.OrcOutputFormat",
            "org.apache.hadoop.hive.ql.io.orc.OrcSerde"),
    "csv": ("org.apache.hadoop.mapred.TextInputFormat",
            "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
            "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"),
    "json": ("org.apache.hadoop.mapred.TextInputFormat",
             "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat", "org.openx.data.jsonserde.JsonSerDe"),
}  # fmt: skip


class CatalogError(ValueError):
    """A catalog table or connection the local awsglue cannot use as asked."""


def _catalog_id(catalog_id: str | None) -> dict[str, str]:
    return {"CatalogId": catalog_id} if catalog_id else {}


def get_table(glue: Any, database: str, table_name: str, catalog_id: str | None = None) -> dict[str, Any]:
    try:
        return dict(glue.get_table(DatabaseName=database, Name=table_name, **_catalog_id(catalog_id))["Table"])
    except glue.exceptions.EntityNotFoundException:
        raise CatalogError(f"table {database}.{table_name} not found in the Glue Data Catalog") from None


def table_format(table: dict[str, Any]) -> str:
    """csv, json, parquet or orc: the table's classification, else what its input format and SerDe say."""
    classification = str((table.get("Parameters") or {}).get("classification") or "").lower()
    if classification:
        return classification
    descriptor = table.get("StorageDescriptor") or {}
    input_format = descriptor.get("InputFormat") or ""
    serde = ((descriptor.get("SerdeInfo") or {}).get("SerializationLibrary") or "").lower()
    if input_format == _PARQUET_INPUT or "parquet" in serde:
        return "parquet"
    if input_format == _ORC_INPUT or "orc" in serde:
        return "orc"
    if "json" in serde:
        return "json"
    if "csv" in serde or "lazysimpleserde" in serde:
        return "csv"
    raise CatalogError(f"table {table.get('Name')}: cannot tell its data format (no classification)")


def csv_format_options(table: dict[str, Any]) -> dict[str, Any]:
    """A CSV table's separator and header, from its SerDe parameters and table parameters."""
    descriptor = table.get("StorageDescriptor") or {}
    serde = (descriptor.get("SerdeInfo") or {}).get("Parameters") or {}
    parameters = table.get("Parameters") or {}
    options: dict[str, Any] = {"separator": serde.get("field.delim") or serde.get("separatorChar") or ","}
    if str(parameters.get("skip.header.line.count") or "0") != "0":
        options["withHeader"] = True
    if serde.get("quoteChar"):
        options["quoteChar"] = serde["quoteChar"]
    return options


def column_types(glue: Any, database: str, table_name: str, catalog_id: str | None = None) -> dict[str, str]:
    """The catalog type of each column, partition keys included, by lower-case name (match_catalog)."""
    table = get_table(glue, database, table_name, catalog_id)
    columns = [*((table.get("StorageDescriptor") or {}).get("Columns") or []), *(table.get("PartitionKeys") or [])]
    return {c["Name"].lower(): c["Type"] for c in columns}


def partitions(
    glue: Any, database: str, table_name: str, expression: str | None, catalog_id: str | None = None
) -> list[dict[str, Any]]:
    """Every partition of a table (GetPartitions, all pages; ``expression`` filters on the server)."""
    request: dict[str, Any] = {"DatabaseName": database, "TableName": table_name, **_catalog_id(catalog_id)}
    if expression:
        request["Expression"] = expression
    pages = glue.get_paginator("get_partitions").paginate(**request)
    return [partition for page in pages for partition in page.get("Partitions", [])]


def matching_partitions(
    spark: SparkSession, keys: Sequence[dict[str, Any]], found: list[dict[str, Any]], predicate: str
) -> list[dict[str, Any]]:
    """The partitions whose values satisfy a push_down_predicate (Spark SQL over the partition columns).

    Evaluated on a small frame of the partitions' values, typed as the catalog declares the keys; only the
    matching partitions' positions come back."""
    if not predicate or not found:
        return found
    fields = [T.StructField(key["Name"], T.StringType()) for key in keys] + [T.StructField("__position", T.LongType())]
    rows = [(*partition["Values"], position) for position, partition in enumerate(found)]
    values = spark.createDataFrame(rows, T.StructType(fields))
    typed = values.select(
        *[
            F.col(f"`{key['Name']}`").cast(gt.to_spark(gt.parse_type_name(key["Type"]))).alias(key["Name"])
            for key in keys
        ],
        "__position",
    )
    try:
        kept = typed.where(predicate).select("__position").collect()
    except Exception as error:
        raise CatalogError(f"push_down_predicate {predicate!r} cannot be evaluated: {error}") from None
    return [found[row["__position"]] for row in sorted(kept, key=lambda r: r["__position"])]


def partition_location(table: dict[str, Any], keys: Sequence[str], values: Sequence[str]) -> str:
    base = (table.get("StorageDescriptor") or {}).get("Location", "").rstrip("/")
    return "/".join([base, *[f"{k}={v}" for k, v in zip(keys, values, strict=True)]]) + "/"


def register_partitions(
    glue: Any,
    database: str,
    table: dict[str, Any],
    values: Iterable[Sequence[str]],
    catalog_id: str | None = None,
) -> list[list[str]]:
    """Add the partitions the catalog does not have yet (BatchCreatePartition); returns the ones added."""
    keys = [k["Name"] for k in table.get("PartitionKeys") or []]
    existing = {tuple(p["Values"]) for p in partitions(glue, database, table["Name"], None, catalog_id)}
    new = sorted({tuple(v) for v in values} - existing)
    descriptor = dict(table.get("StorageDescriptor") or {})
    for start in range(0, len(new), 100):  # the API takes at most 100 per call
        inputs = [
            {
                "Values": list(partition),
                "StorageDescriptor": {**descriptor, "Location": partition_location(table, keys, partition)},
            }
            for partition in new[start : start + 100]
        ]
        response = glue.batch_create_partition(
            DatabaseName=database, TableName=table["Name"], PartitionInputList=inputs, **_catalog_id(catalog_id)
        )
        errors = [
            e
            for e in response.get("Errors", [])
            if e.get("ErrorDetail", {}).get("ErrorCode") != "AlreadyExistsException"
        ]
        if errors:
            raise CatalogError(f"could not register partitions of {database}.{table['Name']}: {errors}")
    return [list(p) for p in new]


def catalog_columns(schema: gt.StructType, exclude: Sequence[str] = ()) -> list[dict[str, str]]:
    """A Glue schema as catalog columns (Hive type names)."""
    return [
        {"Name": f.name, "Type": gt.to_spark(f.dataType).simpleString()} for f in schema.fields if f.name not in exclude
    ]


# The fields of a GetTable answer that TableInput takes back; the others (CreateTime, VersionId, ...) are read-only.
TABLE_INPUT_KEYS = (
    "Name",
    "Description",
    "Owner",
    "Retention",
    "StorageDescriptor",
    "PartitionKeys",
    "TableType",
    "Parameters",
)


def new_table_input(
    table_name: str,
    data_format: str,
    columns: list[dict[str, str]],
    partition_keys: list[dict[str, str]],
    location: str,
) -> dict[str, Any]:
    """The TableInput of a new external table of ``data_format`` (parquet, orc, csv, json) at ``location``."""
    if data_format not in _FORMATS:
        raise CatalogError(f"cannot create a catalog table of format {data_format!r} ({', '.join(_FORMATS)})")
    input_format, output_format, serde = _FORMATS[data_format]
    return {
        "Name": table_name,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": data_format},
        "PartitionKeys": partition_keys,
        "StorageDescriptor": {
            "Columns": columns,
            "Location": location,
            "InputFormat": input_format,
            "OutputFormat": output_format,
            "SerdeInfo": {"SerializationLibrary": serde},
        },
    }


def table_input_with_columns(table: dict[str, Any], columns: list[dict[str, str]]) -> dict[str, Any]:
    """The TableInput that rewrites ``table`` (a GetTable answer) with these columns, everything else as it is."""
    table_input = {key: table[key] for key in TABLE_INPUT_KEYS if key in table}
    table_input["StorageDescriptor"] = {**(table.get("StorageDescriptor") or {}), "Columns": columns}
    return table_input


def create_table(
    glue: Any,
    database: str,
    table_name: str,
    location: str,
    data_format: str,
    schema: gt.StructType,
    partition_keys: Sequence[str],
    catalog_id: str | None = None,
) -> dict[str, Any]:
    """A new catalog table for what a sink writes (getSink with setCatalogInfo on a table that does not exist)."""
    types = {f.name: gt.to_spark(f.dataType).simpleString() for f in schema.fields}
    table_input = new_table_input(
        table_name,
        data_format,
        catalog_columns(schema, partition_keys),
        [{"Name": k, "Type": types.get(k, "string")} for k in partition_keys],
        location,
    )
    glue.create_table(DatabaseName=database, TableInput=table_input, **_catalog_id(catalog_id))
    return get_table(glue, database, table_name, catalog_id)


def update_table_columns(
    glue: Any, database: str, table: dict[str, Any], schema: gt.StructType, catalog_id: str | None = None
) -> bool:
    """Add the columns a sink wrote that the table lacks (updateBehavior UPDATE_IN_DATABASE); True if changed."""
    keys = [k["Name"] for k in table.get("PartitionKeys") or []]
    columns = (table.get("StorageDescriptor") or {}).get("Columns") or []
    known = {c["Name"].lower() for c in columns}
    added = [c for c in catalog_columns(schema, keys) if c["Name"].lower() not in known]
    if not added:
        return False
    table_input = table_input_with_columns(table, [*columns, *added])
    glue.update_table(DatabaseName=database, TableInput=table_input, **_catalog_id(catalog_id))
    return True


def jdbc_conf(glue: Any, secrets: Any, connection_name: str, catalog_id: str | None = None) -> dict[str, str]:
    """A catalog connection's JDBC settings: url (without the database), fullUrl, user, password, vendor."""
    try:
        connection = glue.get_connection(Name=connection_name, **_catalog_id(catalog_id))["Connection"]
    except glue.exceptions.EntityNotFoundException:
        raise CatalogError(f"connection {connection_name} not found in the Glue Data Catalog") from None
    properties = connection.get("ConnectionProperties") or {}
    full_url = properties.get("JDBC_CONNECTION_URL")
    if not full_url or not full_url.startswith("jdbc:"):
        raise CatalogError(
            f"connection {connection_name} has no JDBC_CONNECTION_URL (type {connection.get('ConnectionType')})"
        )
    user, password = properties.get("USERNAME"), properties.get("PASSWORD")
    if properties.get("SECRET_ID"):
        import json

        secret = json.loads(secrets.get_secret_value(SecretId=properties["SECRET_ID"])["SecretString"])
        user, password = secret.get("username", user), secret.get("password", password)
    vendor = full_url.split(":")[1]
    parsed = urlsplit(full_url[len("jdbc:") :])
    base = f"jdbc:{parsed.scheme}://{parsed.netloc}"
    return {"url": base, "fullUrl": full_url, "user": user or "", "password": password or "", "vendor": vendor}
