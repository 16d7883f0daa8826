"""Spark read edge: many input files -> one canonical raw DataFrame, with one read per header layout.

Files sharing an exact header are read by a single multi-file CSV read with an
explicit all-text schema (no inference, no per-file jobs); JSON Lines and
Parquet files are read per format and mapped by column names. Each row learns
its file from input_file_name(), joined to the file table (relative path, name
date, rank) by a broadcast join.
"""

from __future__ import annotations

import re
import urllib.parse
from collections import defaultdict
from dataclasses import dataclass
from datetime import date

import schema_evolution
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from utils import sql_text as sql
from utils import storage

CORRUPT = "_corrupt_record"
PATH_KEY = "_path_key"
CANONICAL_COLUMNS = (*schema_evolution.RAW_FIELDS, "extra_fields", "schema_era", PATH_KEY, CORRUPT)


@dataclass(frozen=True)
class InputFile:
    uri: str
    relative_path: str
    file_format: str
    mapping: schema_evolution.HeaderMapping | None
    raw_header: tuple[str, ...]  # the CSV header as written (files with the same one share a read)
    file_date: date | None  # report date from the name (JHU); None when rows carry their own date
    file_rank: int  # dedup priority: newer name date wins


_SCHEME = re.compile(r"^[a-zA-Z0-9]+:/*")


def decoded_path_key(spark_uri: str) -> str:
    """A file URI as Spark names it (input_file_name(), DataFrame.inputFiles()), decoded and without scheme:
    comparable with storage.path_key()."""
    return _SCHEME.sub("", urllib.parse.unquote(spark_uri))


def _file_keys(frame: DataFrame) -> dict[str, str]:
    """Each file a frame reads (all its reads, a union's too): Spark's name for it (what input_file_name() returns
    on its rows) -> path key.

    Decoded here, once per file: decoding input_file_name() on every row cost a tenth of the read."""
    return {uri: decoded_path_key(uri) for uri in frame.inputFiles()}


def csv_field_count_sql(line: str) -> str:
    """Fields in one CSV line: commas outside double quotes, plus one (a doubled quote is two quoted runs)."""
    quoted_run = sql.literal('"[^"]*"')
    unquoted = f"regexp_replace({line}, {quoted_run}, '')"
    return f"length({unquoted}) - length(regexp_replace({unquoted}, ',', '')) + 1"


def csv_field_count(line: str) -> Column:
    return sql.column(csv_field_count_sql(sql.ident(line)))


def _is_header_line(columns: list[str], raw_header: tuple[str, ...]) -> str:
    """A row equal to the header (a BOM may precede its first cell), as SQL; never null."""
    # Never null, so that the AND below stops at the first cell for nearly every row (a null first cell, a blank
    # province, would have made every row compare every cell).
    first = f"coalesce({sql.is_in(sql.ident(columns[0]), [raw_header[0], chr(0xFEFF) + raw_header[0]])}, FALSE)"
    rest = [f"{sql.ident(c)} = {sql.literal(value)}" for c, value in zip(columns[1:], raw_header[1:], strict=True)]
    return f"coalesce({sql.all_of([first, *rest])}, FALSE)"


def to_canonical(
    df: DataFrame, mapping: schema_evolution.HeaderMapping, column_names: list[str] | None = None
) -> DataFrame:
    """Rename a raw all-text frame (columns in header order) to RAW_FIELDS + extra_fields + schema_era.

    `column_names` are the frame's actual column names when they differ from raw_read_schema's
    (JSON and Parquet reads keep the original names).
    """
    names = column_names or [schema_evolution.safe_column_name(name, i) for i, name in enumerate(mapping.header)]
    if len(names) != len(mapping.header):
        raise ValueError(f"{len(names)} column names for a {len(mapping.header)}-column header")
    # SQL text: one round trip to the JVM for the whole select (see utils.sql_text).
    by_field = {
        field: f"CAST({sql.ident(names[i])} AS STRING)"
        for i, field in enumerate(mapping.field_for_position)
        if field is not None
    }
    columns = [sql.alias(by_field.get(field, "CAST(NULL AS STRING)"), field) for field in schema_evolution.RAW_FIELDS]
    extra_pairs = [
        f"{sql.literal(name)}, CAST({sql.ident(names[i])} AS STRING)"
        for i, name in enumerate(mapping.header)
        if mapping.field_for_position[i] is None and name in mapping.extra_names
    ]
    extra = (
        f"map_filter(map({', '.join(extra_pairs)}), (k, v) -> v IS NOT NULL AND trim(v) != '')"
        if extra_pairs
        else "CAST(NULL AS MAP<STRING, STRING>)"
    )
    passthrough = [sql.ident(c) for c in df.columns if c.startswith("_")]
    return df.selectExpr(
        *columns, sql.alias(extra, "extra_fields"), sql.alias(sql.literal(mapping.era), "schema_era"), *passthrough
    )


def _finish(df: DataFrame) -> DataFrame:
    corrupt = sql.ident(CORRUPT) if CORRUPT in df.columns else sql.alias("CAST(NULL AS STRING)", CORRUPT)
    return df.selectExpr(*[corrupt if c == CORRUPT else sql.ident(c) for c in CANONICAL_COLUMNS])


def _file_table(spark: SparkSession, rows: list[tuple[str, str, date | None, int]]) -> DataFrame:
    """(Spark's name of a file, relative path, name date, rank) rows as an inline table of SQL literals.

    Spark holds it as local rows: broadcast with no Spark job. A DataFrame made from Python rows is an RDD that
    Python workers unpickle; this was the job's only use of them, and starting them cost a fresh process about
    a second."""
    typed = ((PATH_KEY, "STRING"), ("source_file", "STRING"), ("file_date", "DATE"), ("file_rank", "INT"))
    columns = ", ".join(sql.alias(f"CAST(col{n} AS {kind})", name) for n, (name, kind) in enumerate(typed, start=1))
    if not rows:
        return spark.sql(f"SELECT {columns} FROM VALUES (NULL, NULL, NULL, NULL) WHERE FALSE")
    values = ", ".join("(" + ", ".join(sql.literal(value) for value in row) + ")" for row in rows)
    return spark.sql(f"SELECT {columns} FROM VALUES {values}")


def read_inputs(spark: SparkSession, files: list[InputFile], source: str) -> tuple[DataFrame, list[str]]:
    """The canonical raw frame of all files (+ source_file, file_date, file_rank) and the new columns seen."""
    if not files:
        raise ValueError("read_inputs needs at least one file")
    frames: list[DataFrame] = []
    new_columns: set[str] = set()
    csv_groups: dict[tuple[str, ...], list[InputFile]] = defaultdict(list)
    others: dict[str, list[InputFile]] = defaultdict(list)
    for item in files:
        if item.file_format == "csv" and item.mapping is not None:
            csv_groups[item.raw_header].append(item)
        else:
            others[item.file_format].append(item)
    # The layouts with the fewest files first, so that their rarer formats meet the classification (one generated
    # method over the union of all layouts) early in the stage. Read in file order, JHU's small old layouts came
    # late and took a date-parsing path the compiled method had never run: HotSpot discarded it and compiled it
    # again, 4 s of a fresh process's only C2 compiler thread, with most rows still to go (docs/job-speed.md).
    for raw_header, group in sorted(csv_groups.items(), key=lambda header_files: len(header_files[1])):
        mapping = group[0].mapping
        assert mapping is not None
        new_columns.update(mapping.new_columns)
        # header=false: each file's header line comes back as a row and is dropped by value below (no per-file
        # header check). A line whose field count differs from the header's gets its text in CORRUPT; Spark keeps
        # the fields it can and would silently drop extra ones, so a line with too many fields is malformed.
        # (An extra schema column to catch overflow would make every good line a mismatch: Spark builds an
        # exception per mismatched line, which cost more than the rest of the read.) Quotes follow RFC 4180: a
        # quote inside a quoted field is doubled (Spark's default escape is a backslash).
        schema = schema_evolution.raw_read_schema(raw_header).add(CORRUPT, T.StringType())
        raw = (
            spark.read.option("header", "false")
            .option("mode", "PERMISSIVE")
            .option("multiLine", "false")
            .option("columnNameOfCorruptRecord", CORRUPT)
            .option("escape", '"')
            .schema(schema)
            .csv([storage.literal_spark_path(f.uri) for f in group])
        )
        data_columns = raw.columns[: len(raw_header)]
        corrupt = sql.ident(CORRUPT)
        too_many = f"{corrupt} IS NOT NULL AND {csv_field_count_sql(corrupt)} > {len(raw_header)}"
        raw = raw.where(f"NOT {_is_header_line(data_columns, raw_header)}").selectExpr(
            *[sql.ident(c) for c in data_columns],
            sql.alias(f"CASE WHEN {too_many} THEN {corrupt} END", CORRUPT),
            sql.alias("input_file_name()", PATH_KEY),
        )
        column_names = schema_evolution.read_column_names(raw_header)
        frames.append(_finish(to_canonical(raw, mapping, column_names=column_names)))
    for fmt, group in others.items():
        paths = [storage.literal_spark_path(f.uri) for f in group]
        if fmt == "json":
            raw = spark.read.option("mode", "PERMISSIVE").option("columnNameOfCorruptRecord", CORRUPT).json(paths)
        elif fmt == "parquet":
            raw = spark.read.option("mergeSchema", "true").parquet(*paths)  # varargs: a list is taken as one path
        else:
            raise ValueError(f"cannot read format {fmt}")
        data_columns = [c for c in raw.columns if c != CORRUPT]
        mapping = schema_evolution.map_header(data_columns, source)
        new_columns.update(mapping.new_columns)
        raw = raw.selectExpr("*", sql.alias("input_file_name()", PATH_KEY))
        frames.append(_finish(to_canonical(raw, mapping, column_names=data_columns)))
    combined = frames[0]
    for frame in frames[1:]:
        combined = combined.unionByName(frame)
    by_key = {storage.path_key(f.uri): f for f in files}
    file_table = _file_table(
        spark,
        [
            (name, item.relative_path, item.file_date, item.file_rank)
            for name, key in _file_keys(combined).items()
            if (item := by_key.get(key)) is not None
        ],
    )
    joined = combined.join(F.broadcast(file_table), PATH_KEY, "left").drop(PATH_KEY)
    return joined, sorted(new_columns)


def read_lookup(spark: SparkSession, reference_path: str) -> DataFrame:
    return spark.read.option("header", "true").option("inferSchema", "false").csv(storage.spark_path(reference_path))
