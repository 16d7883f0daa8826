"""Pure Arrow transforms: one partition of the job's output -> rows of dim_location, dim_date and fact_covid_daily
(JHU), or of dim_date and fact_owid_daily (OWID).

No I/O here; every target loads the same StarRows, so keys and attributes are identical whichever warehouse is used.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from covid_pipeline.warehouse.base import Partition, WarehouseError
from covid_pipeline.warehouse.schema import (
    DIM_DATE,
    DIM_LOCATION,
    FACT_COVID_DAILY,
    FACT_OWID_DAILY,
    JOB_OUTPUT_COLUMNS,
    KEY_SEPARATOR,
    LOCATION_ATTRIBUTES,
    LOCATION_NATURAL_KEY,
    NULL_MARKER,
    REQUIRED_JOB_COLUMNS,
    Dataset,
    Table,
    arrow_schema,
    date_key,
    location_key_from_text,
)


@dataclass(frozen=True)
class StarRows:
    locations: pa.Table
    dates: pa.Table
    facts: pa.Table


def _cast_column(column: pa.ChunkedArray, target: pa.DataType, name: str) -> pa.ChunkedArray:
    if pa.types.is_dictionary(column.type):
        if target == pa.string() and column.type.value_type == pa.string():
            return column  # dictionary-encoded text stays encoded; every target reads it as text
        column = column.cast(column.type.value_type)
    if column.type == target:
        return column
    if pa.types.is_timestamp(target) and pa.types.is_timestamp(column.type) and column.type.tz is None:
        # Spark writes UTC instants (the job runs with session time zone UTC); a naive timestamp is UTC.
        column = pc.assume_timezone(column, "UTC")
    options = pc.CastOptions(target, allow_time_truncate=True)
    try:
        return pc.cast(column, options=options)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise WarehouseError(
            f"column {name!r} has type {column.type}, which cannot be read as {target}: {exc}"
        ) from exc


def normalize_job_output(table: pa.Table, partition: Partition) -> pa.Table:
    """The job's columns in our order and types: extras dropped (e.g. extra_fields), missing optional columns null,
    the partition columns filled from the directory when the files do not carry them."""
    missing = [name for name in REQUIRED_JOB_COLUMNS if name not in table.column_names]
    if missing:
        raise WarehouseError(f"partition {partition.key} lacks required column(s) {', '.join(missing)}")
    columns: dict[str, pa.ChunkedArray] = {}
    for name, kind in JOB_OUTPUT_COLUMNS.items():
        if name in table.column_names:
            columns[name] = _cast_column(table.column(name), kind, name)
        else:
            columns[name] = pa.chunked_array([pa.nulls(table.num_rows, kind)])
    for name, value in (("year", partition.year), ("month", partition.month)):
        columns[name] = pc.fill_null(columns[name], pa.scalar(value, pa.int32()))
    normalized = pa.table(columns)
    for name in REQUIRED_JOB_COLUMNS:
        nulls = normalized.column(name).null_count
        if nulls:
            raise WarehouseError(f"partition {partition.key}: {nulls} row(s) with a null {name}")
    dates = normalized.column("report_date")
    outside = pc.sum(
        pc.or_(
            pc.not_equal(pc.year(dates), partition.year),
            pc.not_equal(pc.month(dates), partition.month),
        ).cast(pa.int64())
    ).as_py()
    if outside:
        # Facts are replaced per year/month, so a row dated elsewhere would survive or vanish with the wrong partition.
        raise WarehouseError(f"partition {partition.key} holds {outside} row(s) dated outside that month")
    return normalized


def location_keys(table: pa.Table) -> pa.Array:
    """Deterministic keys for the (country, province, admin2) of every row (hashing each distinct location once)."""
    parts = [pc.fill_null(table.column(name).cast(pa.string()), NULL_MARKER) for name in LOCATION_NATURAL_KEY]
    key_text = pc.binary_join_element_wise(*parts, KEY_SEPARATOR).combine_chunks()
    encoded = key_text.dictionary_encode()
    # The joined text is exactly location_key_text() of the row (nulls spelled NULL_MARKER).
    distinct = encoded.dictionary.to_pylist()
    hashes = [_key_of_text(text) for text in distinct]
    if len(set(hashes)) != len(
        distinct
    ):  # 60-bit keys: about 1 in 10^11 for a few thousand locations, but never silent
        raise WarehouseError("two locations hash to the same location_key; widen the key before loading")
    return pa.array(hashes, pa.int64()).take(encoded.indices)


@functools.lru_cache(maxsize=1 << 16)
def _key_of_text(text: str) -> int:
    # Every monthly partition repeats the same few thousand locations: hash each once per process.
    return location_key_from_text(text)


def date_rows(dates: list[dt.date]) -> pa.Table:
    rows = []
    for day in sorted(set(dates)):
        iso = day.isocalendar()
        rows.append(
            {
                "date_key": date_key(day.year, day.month, day.day),
                "date": day,
                "year": day.year,
                "quarter": (day.month - 1) // 3 + 1,
                "month": day.month,
                "day": day.day,
                "week": iso.week,
                "day_of_week": iso.weekday,  # ISO: Monday = 1 ... Sunday = 7
                "day_name": calendar.day_name[day.weekday()],
                "month_name": calendar.month_name[day.month],
                "is_weekend": iso.weekday >= 6,
            }
        )
    return pa.Table.from_pylist(rows, schema=arrow_schema(DIM_DATE))


def build_star_rows(normalized: pa.Table) -> StarRows:
    """Split one normalized partition into dimension and fact rows."""
    keys = location_keys(normalized)
    report_dates = normalized.column("report_date")
    date_keys = _date_keys(report_dates)

    fact_schema = arrow_schema(FACT_COVID_DAILY)
    fact_columns = {"date_key": date_keys, "location_key": keys}
    for name in fact_schema.names[2:]:
        fact_columns[name] = normalized.column(name)
    facts = pa.table(fact_columns)
    # Cast to the fact types, keeping dictionary-encoded text encoded (DuckDB and the CSV writer take it as is).
    facts = facts.cast(
        pa.schema(
            [
                facts.schema.field(field.name) if pa.types.is_dictionary(facts.schema.field(field.name).type) else field
                for field in fact_schema
            ]
        )
    )

    # Type-1 location attributes: the values on the newest report date of this partition; the target keeps them
    # only if that date is not older than what it already holds, so load order never changes the result.
    order = pc.sort_indices(
        pa.table({"key": keys, "date": report_dates}), sort_keys=[("key", "ascending"), ("date", "descending")]
    )
    sorted_keys = keys.take(order)
    first_of_key = pc.not_equal(sorted_keys.slice(1), sorted_keys.slice(0, max(len(sorted_keys) - 1, 0)))
    newest_rows = pc.filter(
        order, pa.concat_arrays([pa.array([True] if len(sorted_keys) else [], pa.bool_()), first_of_key])
    )
    winners = normalized.select([*LOCATION_NATURAL_KEY, *LOCATION_ATTRIBUTES, "report_date"]).take(newest_rows)
    locations = (
        winners.rename_columns([*LOCATION_NATURAL_KEY, *LOCATION_ATTRIBUTES, "attributes_as_of"])
        .append_column("location_key", keys.take(newest_rows))
        .select(list(DIM_LOCATION.column_names))
        .cast(arrow_schema(DIM_LOCATION))
    )

    dates = date_rows(pc.unique(report_dates).to_pylist())
    return StarRows(locations=locations, dates=dates, facts=facts)


def _date_keys(report_dates: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.add(
        pc.add(pc.multiply(pc.year(report_dates), 10000), pc.multiply(pc.month(report_dates), 100)),
        pc.day(report_dates),
    ).cast(pa.int32())


def build_owid_rows(normalized: pa.Table) -> StarRows:
    """One normalized OWID partition -> its dates and facts (keyed by country and date; no location rows)."""
    report_dates = normalized.column("report_date")
    keyed = pa.table({"country": normalized.column("country").cast(pa.string()), "date": report_dates})
    repeated = keyed.group_by(["country", "date"]).aggregate([([], "count_all")]).filter(pc.field("count_all") > 1)
    if repeated.num_rows:
        first = repeated.slice(0, 1).to_pylist()[0]
        raise WarehouseError(
            f"{repeated.num_rows} (country, date) pair(s) appear more than once in an OWID partition, "
            f"e.g. {first['country']!r} on {first['date']}: the job's output has one row per country and day"
        )
    fact_schema = arrow_schema(FACT_OWID_DAILY)
    columns = {"date_key": _date_keys(report_dates)}
    columns.update({name: normalized.column(name) for name in fact_schema.names[1:]})
    facts = pa.table(columns).cast(fact_schema)
    empty_locations = arrow_schema(DIM_LOCATION).empty_table()
    return StarRows(locations=empty_locations, dates=date_rows(pc.unique(report_dates).to_pylist()), facts=facts)


def build_rows(normalized: pa.Table, dataset: Dataset) -> StarRows:
    """The rows of one normalized partition of the dataset's source."""
    return build_star_rows(normalized) if dataset.with_locations else build_owid_rows(normalized)


def concat_facts(tables: list[pa.Table], fact: Table = FACT_COVID_DAILY) -> pa.Table:
    """Fact rows of several partitions as one table (text columns decoded where the partitions disagree on
    dictionary encoding)."""
    if len({table.schema for table in tables}) > 1:
        tables = [table.cast(arrow_schema(fact)) for table in tables]
    return pa.concat_tables(tables)
