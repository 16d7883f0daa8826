"""Sources and sinks behind GlueContext, DynamicFrameReader and DynamicFrameWriter: S3 (and local) files, the
catalog's tables, JDBC. Options Glue documents are mapped onto Spark's readers and writers; an option or type this
stand-in does not support is an error that names it.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import os
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pyspark import RDD
from pyspark.sql import DataFrame, Row
from pyspark.sql import types as T

from awsglue import _bookmarks as bm
from awsglue import _catalog
from awsglue import _frame as fr
from awsglue import _records as rec
from awsglue import gluetypes as gt

if TYPE_CHECKING:
    from awsglue.context import GlueContext
    from awsglue.dynamicframe import DynamicFrame

log = logging.getLogger("awsglue")

FILE_TYPES = ("s3", "file")
JDBC_TYPES = ("postgresql", "mysql", "sqlserver", "oracle")
READ_FORMATS = ("csv", "json", "parquet", "orc")
WRITE_FORMATS = ("csv", "json", "parquet", "glueparquet", "orc")
# Options Glue documents that change only how fast or how many files at a time: accepted, with nothing to do here.
_S3_READ_HINTS = {"groupFiles", "groupSize", "compressionType", "isFailFast", "useS3ListImplementation",
                  "maxFilesInBand", "excludeStorageClasses", "optimizePerformance"}  # fmt: skip
_S3_READ_OPTIONS = {"paths", "path", "recurse", "exclusions", "maxBand", *_S3_READ_HINTS}
_CSV_READ_OPTIONS = {"separator", "escaper", "quoteChar", "multiline", "multiLine", "withHeader", "skipFirst",
                     "optimizePerformance", "strictCheckForQuoting"}  # fmt: skip
_JSON_READ_OPTIONS = {"jsonPath", "multiline", "multiLine"}
_S3_WRITE_OPTIONS = {"path", "partitionKeys", "compression", "enableUpdateCatalog", "updateBehavior",
                     "catalogDatabase", "catalogTableName", "catalogId", "groupFiles", "groupSize"}  # fmt: skip
_CSV_WRITE_OPTIONS = {"separator", "escaper", "quoteChar", "writeHeader", "compression", "optimizePerformance"}
_PARQUET_WRITE_OPTIONS = {"compression", "blockSize", "pageSize", "useGlueParquetWriter"}
_JDBC_OPTIONS = {"url", "user", "password", "dbtable", "database", "query", "sampleQuery", "jobBookmarkKeys",
                 "jobBookmarkKeysSortOrder", "hashfield", "hashexpression", "hashpartitions", "bulkSize",
                 "connectionName", "vendor", "fullUrl"}  # fmt: skip
_JDBC_DRIVERS = {"postgresql": "org.postgresql.Driver"}
JDBC_JAR_ENV = "AWSGLUE_JDBC_DRIVER_PATH"
_JDBC_JAR_CANDIDATES = ("/usr/share/java/postgresql.jar",)  # Debian's libpostgresql-jdbc-java


class UnsupportedOptionError(ValueError):
    """A connection type, format or option this local awsglue does not support."""


def _reject_unknown(options: Mapping[str, Any], allowed: set[str], what: str) -> None:
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise UnsupportedOptionError(
            f"unsupported {what} option(s) {unknown} (supported: {', '.join(sorted(allowed))})"
        )


def _no_extra(extra: Mapping[str, Any], where: str) -> None:
    if extra:
        raise UnsupportedOptionError(f"{where}: unsupported argument(s) {sorted(extra)}")


def _flag(value: Any) -> bool:
    return value is True or str(value).strip().lower() == "true"


# --- paths ----------------------------------------------------------------------------------------------------------


def spark_path(path: str) -> str:
    """Where Spark reads and writes: s3:// goes through S3A (set up by Glue, or the local executor); file:// and
    plain paths are local."""
    return path


def join_path(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *[p.strip("/") for p in parts]])


def _is_s3(path: str) -> bool:
    return path.startswith(("s3://", "s3a://", "s3n://"))


def _local(path: str) -> Path:
    return Path(path[len("file://") :] if path.startswith("file://") else path)


def _hidden(name: str) -> bool:
    return name.startswith(("_", "."))


def list_files(glue_ctx: GlueContext, paths: Sequence[str], recursive: bool) -> list[bm.FileStamp]:
    """The data files under ``paths`` (each a file or a folder) with their modification times, as Spark would
    read them: hidden files (``_``, ``.``) left out; subfolders only when ``recursive``."""
    found: list[bm.FileStamp] = []
    for path in paths:
        if _is_s3(path):
            found += _list_s3(glue_ctx._client("s3"), path, recursive)
        else:
            found += _list_local(path, recursive)
    return found


def _list_s3(s3: Any, path: str, recursive: bool) -> list[bm.FileStamp]:
    scheme, rest = path.split("://", 1)
    bucket, _, prefix = rest.partition("/")
    found: list[bm.FileStamp] = []
    folder = prefix if not prefix or prefix.endswith("/") else prefix + "/"
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            key = item["Key"]
            if key == prefix and not key.endswith("/"):
                relative = Path(key).name  # the path is the object itself
            elif key.startswith(folder):
                relative = key[len(folder) :]
            else:
                continue  # another object whose key merely starts with the prefix
            parts = relative.split("/")
            if not relative or key.endswith("/") or any(_hidden(p) for p in parts):
                continue
            if len(parts) > 1 and not recursive and not all("=" in p for p in parts[:-1]):
                continue
            found.append(bm.FileStamp(f"{scheme}://{bucket}/{key}", int(item["LastModified"].timestamp() * 1000)))
    return found


def _list_local(path: str, recursive: bool) -> list[bm.FileStamp]:
    root = _local(path)
    if root.is_file():
        return [bm.FileStamp(str(root), int(root.stat().st_mtime * 1000))]
    found = []
    for file in sorted(root.rglob("*")):
        relative = file.relative_to(root).parts
        if not file.is_file() or any(_hidden(p) for p in relative):
            continue
        if len(relative) > 1 and not recursive and not all("=" in p for p in relative[:-1]):
            continue
        found.append(bm.FileStamp(str(file), int(file.stat().st_mtime * 1000)))
    return found


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Glue's exclusion globs: ``**`` crosses folders, ``*`` and ``?`` stay within one."""
    text = ""
    index = 0
    while index < len(pattern):
        if pattern.startswith("**", index):
            text += ".*"
            index += 2
        elif pattern[index] == "*":
            text += "[^/]*"
            index += 1
        elif pattern[index] == "?":
            text += "[^/]"
            index += 1
        else:
            text += re.escape(pattern[index])
            index += 1
    return re.compile(f"^{text}$")


def _excluded(files: list[bm.FileStamp], exclusions: Any) -> list[bm.FileStamp]:
    patterns = json.loads(exclusions) if isinstance(exclusions, str) else list(exclusions or [])
    regexes = [_glob_regex(p) for p in patterns]
    return [
        f
        for f in files
        if not any(r.match(f.path) or fnmatch.fnmatch(f.path, p) for r, p in zip(regexes, patterns, strict=True))
    ]


# --- reading --------------------------------------------------------------------------------------------------------


def _empty(glue_ctx: GlueContext) -> fr.FrameData:
    return fr.FrameData(glue_ctx.spark_session.createDataFrame([], T.StructType([])))


def read_from_options(
    glue_ctx: GlueContext,
    connection_type: str,
    connection_options: dict[str, Any],
    format: str | None,
    format_options: dict[str, Any],
    transformation_ctx: str,
    push_down_predicate: str,
    extra: Mapping[str, Any],
) -> DynamicFrame:
    from awsglue.dynamicframe import DynamicFrame

    _no_extra(extra, "create_dynamic_frame.from_options")
    kind = connection_type.lower()
    if kind in FILE_TYPES:
        data = read_files(glue_ctx, connection_options, format, format_options, transformation_ctx)
    elif kind in JDBC_TYPES:
        if format:
            raise UnsupportedOptionError(f"a {kind} source takes no format (got {format!r})")
        data = read_jdbc(glue_ctx, kind, connection_options, transformation_ctx)
    else:
        raise UnsupportedOptionError(
            f"unsupported connection_type {connection_type!r} for reading (local awsglue: s3, file, postgresql)"
        )
    if push_down_predicate:
        data = data.with_df(data.df.where(push_down_predicate))
    return DynamicFrame(data, glue_ctx, transformation_ctx)


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
    _reject_unknown(connection_options, _S3_READ_OPTIONS, "S3 source")
    fmt = (data_format or "").lower()
    if fmt not in READ_FORMATS:
        raise UnsupportedOptionError(
            f"unsupported format {data_format!r} for reading (local awsglue: {', '.join(READ_FORMATS)})"
        )
    paths = connection_options.get("paths") or connection_options.get("path")
    paths = [paths] if isinstance(paths, str) else list(paths or [])
    if not paths:
        raise ValueError("an S3 source needs connection_options['paths']: a list of s3:// paths")
    recursive = _flag(connection_options.get("recurse")) or fmt in ("parquet", "orc")
    job = glue_ctx._active_job()
    bookmarked = job is not None and job.bookmarks_on and bool(transformation_ctx)
    files: list[str] | None = None
    if file_list is not None or bookmarked or connection_options.get("exclusions"):
        stamps = file_list if file_list is not None else list_files(glue_ctx, paths, recursive)
        if connection_options.get("exclusions"):
            stamps = _excluded(stamps, connection_options["exclusions"])
        if bookmarked:
            assert job is not None
            max_band = int(connection_options.get("maxBand", bm.DEFAULT_MAX_BAND_MS // 1000)) * 1000
            stamps = job.select_files(transformation_ctx, stamps, max_band)
        files = [f.path for f in stamps]
        if not files:
            log.info("source %s: no new files to read", transformation_ctx or paths)
            return _empty(glue_ctx)
        if base_path is None and len(paths) == 1 and not _looks_like_file(glue_ctx, paths[0]):
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


def _looks_like_file(glue_ctx: GlueContext, path: str) -> bool:
    if _is_s3(path):
        return not path.endswith("/") and bool(re.search(r"\.[A-Za-z0-9]+$", path))
    return _local(path).is_file()


def _read_csv(reader: Any, sources: list[str], options: dict[str, Any], recursive: bool) -> fr.FrameData:
    _reject_unknown(options, _CSV_READ_OPTIONS, "csv format")
    with_header = _flag(options.get("withHeader"))
    skip_first = _flag(options.get("skipFirst"))
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
        .option("multiLine", _flag(options.get("multiline", options.get("multiLine", False))))
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
    _reject_unknown(options, _JSON_READ_OPTIONS, "json format")
    multiline = _flag(options.get("multiline", options.get("multiLine", False)))
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


# --- JDBC -----------------------------------------------------------------------------------------------------------


def jdbc_driver_jar() -> str | None:
    """The PostgreSQL JDBC driver: ``AWSGLUE_JDBC_DRIVER_PATH``, else Debian's libpostgresql-jdbc-java jar."""
    configured = os.environ.get(JDBC_JAR_ENV)
    if configured:
        return configured if Path(configured).is_file() else None
    return next((c for c in _JDBC_JAR_CANDIDATES if Path(c).is_file()), None)


def _jdbc_ready(glue_ctx: GlueContext, vendor: str) -> str:
    """The driver class, with the jar added to this Spark session (once)."""
    if vendor not in _JDBC_DRIVERS:
        raise UnsupportedOptionError(f"no JDBC driver for {vendor!r} in the local awsglue (supported: postgresql)")
    jar = jdbc_driver_jar()
    if jar is None:
        raise UnsupportedOptionError(
            f"the PostgreSQL JDBC driver jar was not found ({JDBC_JAR_ENV}, or Debian's libpostgresql-jdbc-java at "
            f"{_JDBC_JAR_CANDIDATES[0]})"
        )
    if jar not in glue_ctx._jars_added:
        glue_ctx.spark_session.sql(f"ADD JAR '{jar}'")
        glue_ctx._jars_added.add(jar)
    return _JDBC_DRIVERS[vendor]


def _jdbc_target(vendor: str, options: dict[str, Any]) -> tuple[str, str]:
    """(url with the database, dbtable) from Glue's JDBC connection options."""
    url = options.get("url") or options.get("fullUrl")
    table = options.get("dbtable")
    if not url or not table:
        raise ValueError(f"a {vendor} connection needs url and dbtable in connection_options")
    if options.get("database") and urlsplit(url[len("jdbc:") :]).path in ("", "/"):
        url = f"{url.rstrip('/')}/{options['database']}"
    return url, table


def read_jdbc(glue_ctx: GlueContext, vendor: str, options: dict[str, Any], transformation_ctx: str) -> fr.FrameData:
    _reject_unknown(options, _JDBC_OPTIONS, f"{vendor} source")
    driver = _jdbc_ready(glue_ctx, vendor)
    url, table = _jdbc_target(vendor, options)
    reader = (
        glue_ctx.spark_session.read.format("jdbc")
        .option("url", url)
        .option("driver", driver)
        .option("user", options.get("user", ""))
        .option("password", options.get("password", ""))
    )
    if options.get("query") or options.get("sampleQuery"):
        reader = reader.option("query", options.get("query") or options.get("sampleQuery"))
    else:
        reader = reader.option("dbtable", table)
    df = reader.load()
    job = glue_ctx._active_job()
    if job is not None and job.bookmarks_on and transformation_ctx:
        df = job.select_rows(transformation_ctx, df, options)
    return fr.FrameData(df)


def write_jdbc(glue_ctx: GlueContext, frame: DynamicFrame, vendor: str, options: dict[str, Any]) -> None:
    _reject_unknown(options, _JDBC_OPTIONS, f"{vendor} sink")
    driver = _jdbc_ready(glue_ctx, vendor)
    url, table = _jdbc_target(vendor, options)
    df = _writable(frame, "jdbc")
    if not df.columns:
        return
    properties = {"user": options.get("user", ""), "password": options.get("password", ""), "driver": driver}
    df.write.jdbc(url, table, mode="append", properties=properties)


def write_jdbc_conf(
    glue_ctx: GlueContext, frame: DynamicFrame, connection: str, options: dict[str, Any], catalog_id: str | None
) -> DynamicFrame:
    conf = glue_ctx.extract_jdbc_conf(connection, catalog_id)
    if conf["vendor"] == "redshift":
        raise UnsupportedOptionError("Redshift sinks are not supported by the local awsglue")
    merged = {
        "url": conf["url"],
        "fullUrl": conf["fullUrl"],
        "user": conf["user"],
        "password": conf["password"],
        **options,
    }
    if not options.get("database"):
        merged["url"] = conf["fullUrl"]
    write_jdbc(glue_ctx, frame, conf["vendor"], merged)
    return frame


# --- writing --------------------------------------------------------------------------------------------------------


def _writable(frame: DynamicFrame, fmt: str) -> DataFrame:
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


def write_from_options(
    glue_ctx: GlueContext,
    frame: DynamicFrame,
    connection_type: str,
    connection_options: dict[str, Any],
    format: str | None,
    format_options: dict[str, Any],
    transformation_ctx: str,
    extra: Mapping[str, Any],
) -> DynamicFrame:
    _no_extra(extra, "write_dynamic_frame.from_options")
    kind = connection_type.lower()
    if kind in FILE_TYPES:
        write_files(glue_ctx, frame, connection_options, format, format_options)
    elif kind in JDBC_TYPES:
        write_jdbc(glue_ctx, frame, kind, connection_options)
    elif kind == "redshift":
        raise UnsupportedOptionError("Redshift sinks are not supported by the local awsglue")
    else:
        raise UnsupportedOptionError(
            f"unsupported connection_type {connection_type!r} for writing (local awsglue: s3, file, postgresql)"
        )
    return frame


def write_files(
    glue_ctx: GlueContext,
    frame: DynamicFrame,
    connection_options: dict[str, Any],
    data_format: str | None,
    format_options: dict[str, Any],
) -> list[list[str]]:
    """Append the frame's records under ``path`` (Hive-style ``key=value`` folders for ``partitionKeys``);
    returns the partition values written (for the catalog)."""
    _reject_unknown(connection_options, _S3_WRITE_OPTIONS, "S3 sink")
    fmt = (data_format or "").lower()
    if fmt not in WRITE_FORMATS:
        raise UnsupportedOptionError(
            f"unsupported format {data_format!r} for writing (local awsglue: {', '.join(WRITE_FORMATS)})"
        )
    path = connection_options.get("path")
    if not path:
        raise ValueError("an S3 sink needs connection_options['path']")
    keys = list(connection_options.get("partitionKeys") or [])
    df = _writable(frame, fmt)
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
        _reject_unknown(format_options, _CSV_WRITE_OPTIONS, "csv format")
        _no_nested(df, "csv")
        quote = format_options.get("quoteChar", '"')
        escape = format_options.get("escaper") or ""
        writer = (
            writer.option("header", _flag(format_options.get("writeHeader", True)))
            .option("sep", format_options.get("separator", ","))
            .option("quote", "" if str(quote) == "-1" else quote)
            .option("escape", escape if escape and escape != "none" else '"')
        )
        if format_options.get("compression"):
            writer = writer.option("compression", format_options["compression"])
        writer.csv(spark_path(path))
    elif fmt == "json":
        _reject_unknown(format_options, {"compression"}, "json format")
        if format_options.get("compression"):
            writer = writer.option("compression", format_options["compression"])
        writer.json(spark_path(path))
    elif fmt in ("parquet", "glueparquet"):
        _reject_unknown(format_options, _PARQUET_WRITE_OPTIONS, f"{fmt} format")
        if format_options.get("compression"):
            writer = writer.option("compression", format_options["compression"])
        writer.parquet(spark_path(path))
    else:
        _reject_unknown(format_options, {"compression"}, "orc format")
        writer.orc(spark_path(path))
    if not keys:
        return []
    # The partitions written: their values only (a distinct over the key columns), for the catalog.
    return [[str(row[k]) for k in keys] for row in df.select(*keys).distinct().collect()]


def _no_nested(df: DataFrame, fmt: str) -> None:
    nested = [f.name for f in df.schema.fields if isinstance(f.dataType, T.StructType | T.ArrayType | T.MapType)]
    if nested:
        raise UnsupportedOptionError(f"{fmt} cannot hold nested fields {nested}: flatten or drop them first")


# --- the catalog ----------------------------------------------------------------------------------------------------


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

    _no_extra(extra, "create_dynamic_frame.from_catalog")
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
    connection_options = {k: v for k, v in additional_options.items() if k in _S3_READ_OPTIONS}
    format_options = {k: v for k, v in additional_options.items() if k not in _S3_READ_OPTIONS}
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
        return _empty(glue_ctx)
    paths = [p["StorageDescriptor"]["Location"] for p in chosen]
    hive_style = all(
        path.rstrip("/") == _catalog.partition_location(table, [k["Name"] for k in keys], p["Values"]).rstrip("/")
        for path, p in zip(paths, chosen, strict=True)
    )
    if not hive_style:
        raise _catalog.CatalogError(
            f"table {table['Name']}: partitions outside {location}/key=value/ are not supported by the local awsglue"
        )
    recursive = _flag(connection_options.get("recurse")) or fmt in ("parquet", "orc")
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
    _no_extra(extra, "write_dynamic_frame.from_catalog")
    glue = glue_ctx._client("glue")
    update = _flag(additional_options.pop("enableUpdateCatalog", False))
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


# --- purge ----------------------------------------------------------------------------------------------------------


def purge_files(glue_ctx: GlueContext, path: str, options: Mapping[str, Any], transformation_ctx: str) -> list[str]:
    """Delete the files under ``path`` older than ``retentionPeriod`` hours (168 by default); returns them."""
    _reject_unknown(options, {"retentionPeriod", "excludeStorageClasses", "manifestFilePath", "partitionPredicate"},
                    "purge")  # fmt: skip
    if options.get("partitionPredicate"):
        raise UnsupportedOptionError("purge_s3_path: partitionPredicate applies to purge_table only")
    if options.get("excludeStorageClasses"):
        raise UnsupportedOptionError("purge: excludeStorageClasses is not supported by the local awsglue")
    retention_ms = float(options.get("retentionPeriod", 168)) * 3_600_000
    cutoff = time.time() * 1000 - retention_ms
    doomed = [f.path for f in list_files(glue_ctx, [path], recursive=True) if f.modified_ms < cutoff]
    for file in doomed:
        if _is_s3(file):
            bucket, _, key = file.split("://", 1)[1].partition("/")
            glue_ctx._client("s3").delete_object(Bucket=bucket, Key=key)
        else:
            _local(file).unlink()
    if options.get("manifestFilePath"):
        manifest = join_path(str(options["manifestFilePath"]), transformation_ctx or "", "Success.csv")
        _write_text(glue_ctx, manifest, "".join(f"{f}\n" for f in doomed))
    return doomed


def _write_text(glue_ctx: GlueContext, path: str, text: str) -> None:
    if _is_s3(path):
        bucket, _, key = path.split("://", 1)[1].partition("/")
        glue_ctx._client("s3").put_object(Bucket=bucket, Key=key, Body=text.encode())
    else:
        _local(path).parent.mkdir(parents=True, exist_ok=True)
        _local(path).write_text(text)


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
