"""Reading and writing S3 (or local) files in the formats Glue documents, through Spark's readers and writers."""

from __future__ import annotations

import json
import logging
import re
from typing import TYPE_CHECKING, Any

from pyspark import RDD
from pyspark.sql import DataFrame, Row
from pyspark.sql import types as T

from awsglue import _bookmarks as bm
from awsglue import _frame as fr
from awsglue import _records as rec
from awsglue._io.options import (
    READ_FORMATS,
    S3_READ_OPTIONS,
    WRITE_FORMATS,
    UnsupportedOptionError,
    flag,
    reject_unknown,
)
from awsglue._io.paths import excluded, list_files, looks_like_file, spark_path

if TYPE_CHECKING:
    from awsglue.context import GlueContext
    from awsglue.dynamicframe import DynamicFrame

log = logging.getLogger("awsglue")


_CSV_READ_OPTIONS = {"separator", "escaper", "quoteChar", "multiline", "multiLine", "withHeader", "skipFirst",
                     "optimizePerformance", "strictCheckForQuoting"}  # fmt: skip
_JSON_READ_OPTIONS = {"jsonPath", "multiline", "multiLine"}
_S3_WRITE_OPTIONS = {"path", "partitionKeys", "compression", "enableUpdateCatalog", "updateBehavior",
                     "catalogDatabase", "catalogTableName", "catalogId", "groupFiles", "groupSize"}  # fmt: skip
_CSV_WRITE_OPTIONS = {"separator", "escaper", "quoteChar", "writeHeader", "compression", "optimizePerformance"}
_PARQUET_WRITE_OPTIONS = {"compression", "blockSize", "pageSize", "useGlueParquetWriter"}


def empty_frame(glue_ctx: GlueContext) -> fr.FrameData:
    return fr.FrameData(glue_ctx.spark_session.createDataFrame([], T.StructType([])))


def read_files(
    glue_ctx: GlueContext,
    connection_options: dict[str, Any],
    data_format: str | None,
    format_options: dict[str, Any],
    transformation_ctx: str,
    base_path: str | None = None,
    file_list: list[bm.FileStamp] | None = None,
) -> fr.FrameData:
    """S3 or local files: every file under the paths, or only those the job's bookmark has not seen."""
    reject_unknown(connection_options, S3_READ_OPTIONS, "S3 source")
    fmt = (data_format or "").lower()
    if fmt not in READ_FORMATS:
        raise UnsupportedOptionError(
            f"unsupported format {data_format!r} for reading (local awsglue: {', '.join(READ_FORMATS)})"
        )
    paths = connection_options.get("paths") or connection_options.get("path")
    paths = [paths] if isinstance(paths, str) else list(paths or [])
    if not paths:
        raise ValueError("an S3 source needs connection_options['paths']: a list of s3:// paths")
    recursive = flag(connection_options.get("recurse")) or fmt in ("parquet", "orc")
    job = glue_ctx._active_job()
    bookmarked = job is not None and job.bookmarks_on and bool(transformation_ctx)
    files: list[str] | None = None
    if file_list is not None or bookmarked or connection_options.get("exclusions"):
        stamps = file_list if file_list is not None else list_files(glue_ctx, paths, recursive)
        if connection_options.get("exclusions"):
            stamps = excluded(stamps, connection_options["exclusions"])
        if bookmarked:
            assert job is not None
            max_band = int(connection_options.get("maxBand", bm.DEFAULT_MAX_BAND_MS // 1000)) * 1000
            stamps = job.select_files(transformation_ctx, stamps, max_band)
        files = [f.path for f in stamps]
        if not files:
            log.info("source %s: no new files to read", transformation_ctx or paths)
            return empty_frame(glue_ctx)
        if base_path is None and len(paths) == 1 and not looks_like_file(glue_ctx, paths[0]):
            base_path = paths[0]
    sources = [spark_path(p) for p in (files if files is not None else paths)]
    reader = glue_ctx.spark_session.read
    if base_path:
        reader = reader.option("basePath", spark_path(base_path))
    if fmt == "csv":
        return _read_csv(reader, sources, format_options, recursive and files is None)
    if fmt == "json":
        return _read_json(glue_ctx, reader, sources, format_options, recursive and files is None)
    if format_options:
        raise UnsupportedOptionError(f"format {fmt} takes no format_options (got {sorted(format_options)})")
    loaded = reader.parquet(*sources) if fmt == "parquet" else reader.orc(sources)
    return fr.FrameData(loaded)


def _read_csv(reader: Any, sources: list[str], options: dict[str, Any], recursive: bool) -> fr.FrameData:
    reject_unknown(options, _CSV_READ_OPTIONS, "csv format")
    with_header = flag(options.get("withHeader"))
    skip_first = flag(options.get("skipFirst"))
    if with_header and skip_first:
        raise UnsupportedOptionError("csv: skipFirst together with withHeader is not supported by the local awsglue")
    quote = options.get("quoteChar", '"')
    escape = options.get("escaper") or ""
    reader = (
        reader.option("header", with_header or skip_first)
        .option("sep", options.get("separator", ","))
        .option("quote", "" if str(quote) == "-1" else quote)
        # Glue's default is no escape character: a doubled quote inside quotes stands for one (RFC 4180).
        .option("escape", escape if escape and escape != "none" else '"')
        .option("multiLine", flag(options.get("multiline", options.get("multiLine", False))))
        .option("mode", "PERMISSIVE")
    )
    if recursive:
        reader = reader.option("recursiveFileLookup", "true")
    df = reader.csv(sources)
    partition_columns = _partition_columns(df)
    if not with_header:  # Glue names the columns of a file without a header col0, col1, ...
        data_columns = [c for c in df.columns if c not in partition_columns]
        df = df.select(
            *[fr.top(name).alias(f"col{index}") for index, name in enumerate(data_columns)],
            *[fr.top(name) for name in partition_columns],
        )
    text = [
        f.name for f in df.schema.fields if isinstance(f.dataType, T.StringType) and f.name not in partition_columns
    ]
    return fr.FrameData(df, raw=frozenset(text))


def _partition_columns(df: DataFrame) -> list[str]:
    """Columns Spark added from ``key=value`` folders, found in the names of the files it will read (metadata
    from its file index, not data)."""
    keys: list[str] = []
    for file in df.inputFiles():
        for part in file.split("/")[:-1]:
            name = part.split("=", 1)[0]
            if "=" in part and name in df.columns and name not in keys:
                keys.append(name)
    return keys


def _read_json(
    glue_ctx: GlueContext, reader: Any, sources: list[str], options: dict[str, Any], recursive: bool
) -> fr.FrameData:
    reject_unknown(options, _JSON_READ_OPTIONS, "json format")
    multiline = flag(options.get("multiline", options.get("multiLine", False)))
    select = _json_path(options.get("jsonPath"))
    if recursive:
        reader = reader.option("recursiveFileLookup", "true")
    text = reader.text(sources, wholetext=multiline)
    partition_columns = [c for c in text.columns if c != "value"]

    def records(row: Row) -> list[dict[str, Any]]:
        if not row["value"] or not row["value"].strip():
            return []
        found = select(json.loads(row["value"]))
        extra = {name: row[name] for name in partition_columns}
        return [{**item, **extra} if isinstance(item, dict) else {"value": item, **extra} for item in found]

    parsed: RDD[dict[str, Any]] = text.rdd.flatMap(records)
    return rec.frame_from_records(glue_ctx.spark_session, parsed)


def _json_path(expression: str | None) -> Any:
    """The records a jsonPath picks: ``$``, ``$[*]``, ``$.a.b`` or ``$.a.b[*]`` (a top-level array: each element)."""
    if expression is None or expression in ("", "$"):
        return lambda value: value if isinstance(value, list) else [value]
    match = re.fullmatch(r"\$((?:\.[A-Za-z_][A-Za-z0-9_]*)*)(\[\*\])?", expression)
    if not match:
        raise UnsupportedOptionError(
            f"json: unsupported jsonPath {expression!r} (local awsglue: $, $[*], $.a.b, $.a.b[*])"
        )
    steps = [s for s in match.group(1).split(".") if s]
    spread = bool(match.group(2))

    def select(value: Any) -> list[Any]:
        for step in steps:
            value = value.get(step) if isinstance(value, dict) else None
        if value is None:
            return []
        return list(value) if spread and isinstance(value, list) else [value]

    return select


def frame_from_rdd(glue_ctx: GlueContext, data: RDD[Any], name: str, schema: Any) -> DynamicFrame:
    """An RDD of rows, dicts or tuples (with a Spark schema), as a DynamicFrame."""
    from awsglue.dynamicframe import DynamicFrame

    spark = glue_ctx.spark_session
    if isinstance(schema, T.StructType):
        return DynamicFrame(fr.FrameData(spark.createDataFrame(data, schema)), glue_ctx, name)
    if schema is not None:
        raise UnsupportedOptionError("from_rdd: schema must be a pyspark StructType")
    records = data.map(lambda item: item.asDict(recursive=True) if isinstance(item, Row) else item)
    return DynamicFrame(rec.frame_from_records(spark, records), glue_ctx, name)


def writable(frame: DynamicFrame, fmt: str) -> DataFrame:
    """The frame typed for a sink: null-typed fields as strings (no file format stores Spark's void type);
    for text formats a choice is written as its value's text."""
    data = frame._data.typed()
    columns = []
    for struct_field in data.df.schema.fields:
        value = fr.top(struct_field.name)
        if isinstance(struct_field.dataType, T.NullType):
            value = value.cast("string")
        elif (struct_field.name,) in data.choices and fmt in ("csv", "json", "jdbc"):
            assert isinstance(struct_field.dataType, T.StructType)
            value = fr.cast_choice(value, struct_field.dataType, T.StringType())
        columns.append(value.alias(struct_field.name))
    return data.df.select(*columns)


def write_files(
    glue_ctx: GlueContext,
    frame: DynamicFrame,
    connection_options: dict[str, Any],
    data_format: str | None,
    format_options: dict[str, Any],
) -> list[list[str]]:
    """Append the frame's records under ``path`` (Hive-style ``key=value`` folders for ``partitionKeys``);
    returns the partition values written (for the catalog)."""
    reject_unknown(connection_options, _S3_WRITE_OPTIONS, "S3 sink")
    fmt = (data_format or "").lower()
    if fmt not in WRITE_FORMATS:
        raise UnsupportedOptionError(
            f"unsupported format {data_format!r} for writing (local awsglue: {', '.join(WRITE_FORMATS)})"
        )
    path = connection_options.get("path")
    if not path:
        raise ValueError("an S3 sink needs connection_options['path']")
    keys = list(connection_options.get("partitionKeys") or [])
    df = writable(frame, fmt)
    if not df.columns:
        log.info("sink %s: the frame has no fields; nothing written", path)
        return []
    missing = [k for k in keys if k not in df.columns]
    if missing:
        raise ValueError(f"partitionKeys {missing} are not fields of the frame ({', '.join(df.columns)})")
    # Glue's S3 sink adds files; it has no job-wide commit. Hadoop's v2 committer behaves the same (each task's
    # files go straight into the output), where v1 renames a _temporary/0 folder shared by every write to the path:
    # in the local cloud's versioned buckets the emulator still lists the deleted folders of earlier writes there.
    writer = df.write.mode("append").option("mapreduce.fileoutputcommitter.algorithm.version", "2")
    if keys:
        writer = writer.partitionBy(*keys)
    if connection_options.get("compression"):
        writer = writer.option("compression", connection_options["compression"])
    if fmt == "csv":
        reject_unknown(format_options, _CSV_WRITE_OPTIONS, "csv format")
        _no_nested(df, "csv")
        quote = format_options.get("quoteChar", '"')
        escape = format_options.get("escaper") or ""
        writer = (
            writer.option("header", flag(format_options.get("writeHeader", True)))
            .option("sep", format_options.get("separator", ","))
            .option("quote", "" if str(quote) == "-1" else quote)
            .option("escape", escape if escape and escape != "none" else '"')
        )
        if format_options.get("compression"):
            writer = writer.option("compression", format_options["compression"])
        writer.csv(spark_path(path))
    elif fmt == "json":
        reject_unknown(format_options, {"compression"}, "json format")
        if format_options.get("compression"):
            writer = writer.option("compression", format_options["compression"])
        writer.json(spark_path(path))
    elif fmt in ("parquet", "glueparquet"):
        reject_unknown(format_options, _PARQUET_WRITE_OPTIONS, f"{fmt} format")
        if format_options.get("compression"):
            writer = writer.option("compression", format_options["compression"])
        writer.parquet(spark_path(path))
    else:
        reject_unknown(format_options, {"compression"}, "orc format")
        writer.orc(spark_path(path))
    if not keys:
        return []
    # The partitions written: their values only (a distinct over the key columns), for the catalog.
    return [[str(row[k]) for k in keys] for row in df.select(*keys).distinct().collect()]


def _no_nested(df: DataFrame, fmt: str) -> None:
    nested = [f.name for f in df.schema.fields if isinstance(f.dataType, T.StructType | T.ArrayType | T.MapType)]
    if nested:
        raise UnsupportedOptionError(f"{fmt} cannot hold nested fields {nested}: flatten or drop them first")
