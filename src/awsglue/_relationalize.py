"""Relationalize: nested records -> flat tables, as AWS documents it.

The root table keeps one row per record, with nested struct fields flattened into columns named by their
path (``a.b``). Every array becomes a table of its own, ``<root>_<column>``, with one row per element: ``id``
(the value the parent row holds in that column), ``index`` (the element's position) and the element as
``<column>.val`` (flattened the same way when it is a struct). Arrays inside array elements repeat this from
the element's table.

The ids join tables that are computed separately, so each table's input is materialised once before ids are
given out: written to ``staging_path`` and read back when there is one (as Glue does), else checkpointed in
Spark's block manager. Nothing goes to the driver.
"""

from __future__ import annotations

import uuid

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from awsglue._frame import FrameData, quote

ROW_ID = "__awsglue_row_id"


def relationalize(data: FrameData, root: str, staging_path: str | None) -> dict[str, FrameData]:
    tables: dict[str, FrameData] = {}
    run = uuid.uuid4().hex[:12]
    _split(_with_row_ids(data.df, staging_path, run, root), root, root, tables, staging_path, run)
    return tables


def _with_row_ids(df: DataFrame, staging_path: str | None, run: str, table: str) -> DataFrame:
    numbered = df.withColumn(ROW_ID, F.monotonically_increasing_id())
    if staging_path:
        from awsglue._io import join_path, spark_path

        location = spark_path(join_path(staging_path, f"relationalize-{run}", table))
        numbered.write.mode("overwrite").parquet(location)
        return numbered.sparkSession.read.parquet(location)
    return numbered.localCheckpoint(eager=True)


def _split(
    df: DataFrame, table: str, root: str, tables: dict[str, FrameData], staging_path: str | None, run: str
) -> None:
    columns: list[Column] = []
    arrays: list[tuple[str, Column, T.ArrayType]] = []

    def walk(value: Column, name: str, data_type: T.DataType) -> None:
        if isinstance(data_type, T.StructType):
            for struct_field in data_type.fields:
                walk(value.getField(struct_field.name), f"{name}.{struct_field.name}", struct_field.dataType)
        elif isinstance(data_type, T.ArrayType):
            columns.append(F.when(value.isNotNull(), F.col(ROW_ID)).alias(name))
            arrays.append((name, value, data_type))
        else:
            columns.append(value.alias(name))

    for struct_field in df.schema.fields:
        if struct_field.name != ROW_ID:
            walk(F.col(quote(struct_field.name)), struct_field.name, struct_field.dataType)
    tables[table] = FrameData(df.select(*columns))
    for name, value, array_type in arrays:
        child = df.select(F.col(ROW_ID).alias("id"), F.posexplode(value).alias("index", f"{name}.val"))
        child_name = f"{root}_{name}"
        if _has_arrays(array_type.elementType):  # its own arrays need ids of their own
            child = _with_row_ids(child, staging_path, run, child_name)
        else:
            child = child.withColumn(ROW_ID, F.lit(None).cast("long"))
        _split(child, child_name, root, tables, staging_path, run)


def _has_arrays(data_type: T.DataType) -> bool:
    if isinstance(data_type, T.ArrayType):
        return True
    if isinstance(data_type, T.StructType):
        return any(_has_arrays(f.dataType) for f in data_type.fields)
    return False
