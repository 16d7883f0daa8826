"""The SQL the Redshift target runs: types, DDL, the per-partition load batch and removals, as text.

Every literal goes through `literal()` (strict patterns); nothing read from the data files ever appears in SQL text
(see redshift_target for why the Data API needs literals at all).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pyarrow as pa

from covid_pipeline.warehouse import sql
from covid_pipeline.warehouse.base import Partition, WarehouseError
from covid_pipeline.warehouse.schema import (
    DIM_DATE,
    DIM_LOCATION,
    FACT_COVID_DAILY,
    FACT_OWID_DAILY,
    JHU_DAILY,
    KEY_SEPARATOR,
    LOAD_STATE,
    NULL_MARKER,
    OWID_LOAD_STATE,
    ROWS_FRAME,
    TABLES,
    Dataset,
    Table,
    view_statements,
)

REDSHIFT_TYPES = {
    "bigint": "BIGINT",
    "integer": "INTEGER",
    "smallint": "SMALLINT",
    "double": "DOUBLE PRECISION",
    "text": "VARCHAR(1024)",
    "date": "DATE",
    "timestamptz": "TIMESTAMPTZ",
    "boolean": "BOOLEAN",
}
# Facts are joined to locations and filtered by date: distribute on the join key, sort on the date. The small
# dimensions and the load state are copied to every node.
TABLE_LAYOUT = {
    FACT_COVID_DAILY.name: " DISTSTYLE KEY DISTKEY (location_key) COMPOUND SORTKEY (date_key, location_key)",
    DIM_LOCATION.name: " DISTSTYLE ALL SORTKEY (location_key)",
    DIM_DATE.name: " DISTSTYLE ALL SORTKEY (date_key)",
    LOAD_STATE.name: " DISTSTYLE ALL",
    # A few hundred countries and aggregates a day: small enough to copy to every node, sorted on the date.
    FACT_OWID_DAILY.name: " DISTSTYLE ALL COMPOUND SORTKEY (date_key, country)",
    OWID_LOAD_STATE.name: " DISTSTYLE ALL",
}
STAGE = "stage_partition"
STAGE_KEYED = "stage_keyed"
STAGE_LOCATIONS = "stage_locations"
# First statement of every transaction that changes the warehouse: concurrent loads queue on the load-state table
# instead of interleaving. Each COPY reads the partition's files as they are when it runs (never an older listing),
# so the later transaction always loads the newer content.
LOCK_LOAD_STATE = f"LOCK {LOAD_STATE.name}"

_SAFE_LITERALS = {
    "s3_prefix": re.compile(r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]/[A-Za-z0-9_./=\-]*/$"),
    "iam_role": re.compile(r"^arn:aws[a-z\-]*:iam::\d{12}:role/[A-Za-z0-9_+=,.@/\-]{1,512}$"),
    "partition_key": re.compile(r"^year=\d{4}/month=\d{1,2}$"),
    "fingerprint": re.compile(r"^[0-9a-f]{64}$"),
}


def literal(kind: str, value: str) -> str:
    """A single-quoted SQL literal for one of our own configuration/computed values, after checking its shape."""
    if not _SAFE_LITERALS[kind].match(value):
        raise WarehouseError(f"refusing to put {kind} {value!r} into Redshift SQL: unexpected characters")
    return f"'{value}'"


def arrow_to_redshift(data_type: pa.DataType) -> str:
    """The staging column type COPY needs for a Parquet column (nested types land in SUPER via SERIALIZETOJSON)."""
    if pa.types.is_dictionary(data_type):
        data_type = data_type.value_type
    if pa.types.is_date(data_type):
        return "DATE"
    if pa.types.is_timestamp(data_type):
        return "TIMESTAMP"
    if pa.types.is_string(data_type) or pa.types.is_large_string(data_type):
        return "VARCHAR(65535)"
    if pa.types.is_floating(data_type):
        return "DOUBLE PRECISION"
    if pa.types.is_int64(data_type):
        return "BIGINT"
    if pa.types.is_integer(data_type):
        return "INTEGER"
    if pa.types.is_boolean(data_type):
        return "BOOLEAN"
    if pa.types.is_map(data_type) or pa.types.is_struct(data_type) or pa.types.is_list(data_type):
        return "SUPER"
    raise WarehouseError(f"no Redshift staging type for Parquet type {data_type}")


def schema_statements() -> list[str]:
    statements = [sql.create_table(table, REDSHIFT_TYPES, suffix=TABLE_LAYOUT[table.name]) for table in TABLES]
    statements += [f"{statement} CASCADE" for statement in sql.drop_views()]
    statements += view_statements(ROWS_FRAME)
    return statements


def location_key_text_sql() -> str:
    """The same text location_key_text() builds, so STRTOL(LEFT(MD5(...), 15), 16) equals schema.location_key()."""
    separator, null_marker = f"CHR({ord(KEY_SEPARATOR)})", f"CHR({ord(NULL_MARKER)})"
    parts = [f"COALESCE({name}, {null_marker})" for name in ("country", "province", "admin2")]
    return f" || {separator} || ".join(parts)


def _stage_statements(prefix_uri: str, file_schema: pa.Schema, iam_role: str) -> list[str]:
    """A temporary table with the files' own columns, filled by COPY from the partition's prefix."""
    file_columns = [sql.ident(name) for name in file_schema.names]
    nested = any(arrow_to_redshift(field.type) == "SUPER" for field in file_schema)
    stage_columns = ",\n    ".join(
        f"{name} {arrow_to_redshift(field.type)}" for name, field in zip(file_columns, file_schema, strict=True)
    )
    return [
        f"CREATE TEMPORARY TABLE {STAGE} (\n    {stage_columns}\n)",
        f"COPY {STAGE} FROM {literal('s3_prefix', prefix_uri)} IAM_ROLE {literal('iam_role', iam_role)} "
        f"FORMAT AS PARQUET{' SERIALIZETOJSON' if nested else ''}",
    ]


_DATE_KEY_SQL = (
    "CAST(EXTRACT(YEAR FROM report_date) * 10000 + EXTRACT(MONTH FROM report_date) * 100"
    " + EXTRACT(DAY FROM report_date) AS INTEGER) AS date_key\n"
)


def _insert_new_dates() -> str:
    """dim_date: the staged report dates it does not hold yet."""
    return (
        f"INSERT INTO dim_date ({sql.column_list(DIM_DATE.column_names)})\n"
        "SELECT DISTINCT date_key, report_date,\n"
        "    CAST(EXTRACT(YEAR FROM report_date) AS SMALLINT), CAST(EXTRACT(QUARTER FROM report_date) AS SMALLINT),\n"
        "    CAST(EXTRACT(MONTH FROM report_date) AS SMALLINT), CAST(EXTRACT(DAY FROM report_date) AS SMALLINT),\n"
        "    CAST(DATE_PART(week, report_date) AS SMALLINT),\n"
        "    CAST(CASE WHEN DATE_PART(dow, report_date) = 0 THEN 7 ELSE DATE_PART(dow, report_date) END AS SMALLINT),\n"
        "    TRIM(TO_CHAR(report_date, 'Day')), TRIM(TO_CHAR(report_date, 'Month')),\n"
        "    DATE_PART(dow, report_date) IN (0, 6)\n"
        f"FROM {STAGE_KEYED} WHERE date_key NOT IN (SELECT date_key FROM dim_date)"
    )


def _replace_facts_and_state(
    dataset: Dataset, partition: Partition, prefix_uri: str, fingerprint: str, object_count: int
) -> list[str]:
    """Replace the partition's facts with the keyed stage's rows and record its fingerprint."""
    fact, load_state = dataset.fact, dataset.load_state
    year, month = int(partition.year), int(partition.month)
    fact_values = ", ".join([*fact.column_names[:-2], f"CAST({year} AS SMALLINT)", f"CAST({month} AS SMALLINT)"])
    return [
        f"DELETE FROM {sql.ident(fact.name)} WHERE year = {year} AND month = {month}",
        f"INSERT INTO {sql.ident(fact.name)} ({sql.column_list(fact.column_names)}) "
        f"SELECT {fact_values} FROM {STAGE_KEYED}",
        f"DELETE FROM {sql.ident(load_state.name)} WHERE partition_key = {literal('partition_key', partition.key)}",
        f"INSERT INTO {sql.ident(load_state.name)} ({sql.column_list(load_state.column_names)})\n"
        f"SELECT {literal('partition_key', partition.key)}, {literal('fingerprint', fingerprint)}, "
        f"{literal('s3_prefix', prefix_uri)}, {int(object_count)}, COUNT(*), GETDATE() FROM {STAGE_KEYED}",
    ]


def partition_statements(
    partition: Partition,
    prefix_uri: str,
    fingerprint: str,
    object_count: int,
    file_schema: pa.Schema,
    iam_role: str,
    dataset: Dataset = JHU_DAILY,
) -> list[str]:
    """The statements of one partition's transaction, in order."""
    file_columns = [sql.ident(name) for name in file_schema.names]
    missing = [name for name in ("report_date", "country") if name not in file_columns]
    if missing:
        raise WarehouseError(f"partition {partition.key} lacks required column(s) {', '.join(missing)}")

    def source(name: str, cast: str) -> str:
        # A column the files do not carry (older output) reads as null, as in the DuckDB/PostgreSQL path.
        return name if name in file_columns else f"CAST(NULL AS {cast})"

    if not dataset.with_locations:
        # OWID: facts keyed by their own country and date.
        keyed_columns = [f"{source(name, REDSHIFT_TYPES[kind])} AS {name}" for name, kind in dataset.fact.columns[1:-2]]
        return [
            LOCK_LOAD_STATE,
            *_stage_statements(prefix_uri, file_schema, iam_role),
            f"CREATE TEMPORARY TABLE {STAGE_KEYED} AS SELECT report_date, {', '.join(keyed_columns)},\n"
            f"    {_DATE_KEY_SQL}FROM {STAGE}",
            _insert_new_dates(),
            *_replace_facts_and_state(dataset, partition, prefix_uri, fingerprint, object_count),
        ]
    keyed_columns = [
        "report_date",
        *[
            f"{source(name, REDSHIFT_TYPES[kind])} AS {name}"
            for name, kind in (*DIM_LOCATION.columns[1:-1], *FACT_COVID_DAILY.columns[2:-2])
        ],
    ]
    location_columns = sql.column_list(DIM_LOCATION.column_names)
    return [
        LOCK_LOAD_STATE,
        *_stage_statements(prefix_uri, file_schema, iam_role),
        f"CREATE TEMPORARY TABLE {STAGE_KEYED} AS SELECT {', '.join(keyed_columns)},\n"
        f"    STRTOL(LEFT(MD5({location_key_text_sql()}), 15), 16) AS location_key,\n"
        f"    {_DATE_KEY_SQL}FROM {STAGE}",
        _insert_new_dates(),
        # dim_location: attributes from the newest report date win, whatever order partitions load in
        f"CREATE TEMPORARY TABLE {STAGE_LOCATIONS} AS SELECT {location_columns} FROM (\n"
        f"    SELECT location_key, country, iso3, province, admin2, fips, latitude, longitude, population,\n"
        "        report_date AS attributes_as_of,\n"
        "        ROW_NUMBER() OVER (PARTITION BY location_key ORDER BY report_date DESC) AS newest\n"
        f"    FROM {STAGE_KEYED}) ranked WHERE newest = 1",
        f"DELETE FROM dim_location USING {STAGE_LOCATIONS} s\n"
        "WHERE dim_location.location_key = s.location_key AND dim_location.attributes_as_of <= s.attributes_as_of",
        f"INSERT INTO dim_location ({location_columns}) SELECT {location_columns} FROM {STAGE_LOCATIONS} s\n"
        "WHERE NOT EXISTS (SELECT 1 FROM dim_location d WHERE d.location_key = s.location_key)",
        # facts: replace the partition
        *_replace_facts_and_state(dataset, partition, prefix_uri, fingerprint, object_count),
    ]


def removal_statements(partition_keys: Sequence[str], dataset: Dataset = JHU_DAILY) -> list[str]:
    statements = [LOCK_LOAD_STATE]
    fact, load_state = sql.ident(dataset.fact.name), sql.ident(dataset.load_state.name)
    for key in partition_keys:
        partition = Partition.parse(key)
        statements.append(f"DELETE FROM {fact} WHERE year = {int(partition.year)} AND month = {int(partition.month)}")
        statements.append(f"DELETE FROM {load_state} WHERE partition_key = {literal('partition_key', partition.key)}")
    return statements


def table_ddl(table: Table) -> str:
    """One table's Redshift DDL (documentation and tests)."""
    return sql.create_table(table, REDSHIFT_TYPES, suffix=TABLE_LAYOUT[table.name])
