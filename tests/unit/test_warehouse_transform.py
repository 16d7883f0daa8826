"""Pure parts of the warehouse loader: partitions, keys, normalization, star rows, SQL text."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from covid_pipeline.warehouse import sql
from covid_pipeline.warehouse.base import Partition, PartitionSnapshot, SourceObject, WarehouseError
from covid_pipeline.warehouse.schema import JOB_OUTPUT_COLUMNS, location_key, location_key_text
from covid_pipeline.warehouse.transform import build_star_rows, date_rows, normalize_job_output
from tests.warehouse_fixtures import FILE_SCHEMA, april_rows, partition_table, row

MARCH = Partition(2020, 3)
APRIL = Partition(2020, 4)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("year=2020/month=3", Partition(2020, 3)),
        ("year=2020/month=03/", Partition(2020, 3)),
        ("s3://bucket/jhu_daily/year=2021/month=12/part-0.snappy.parquet", Partition(2021, 12)),
        ("/tmp/out/year=2022/month=1", Partition(2022, 1)),
    ],
)
def test_partition_parse_accepts_spark_spellings(text: str, expected: Partition) -> None:
    assert Partition.parse(text) == expected
    assert expected.key == f"year={expected.year}/month={expected.month}"


@pytest.mark.parametrize("text", ["2020-03", "year=2020/month=13", "year=2020/month=1x", ""])
def test_partition_parse_rejects_other_text(text: str) -> None:
    with pytest.raises(WarehouseError):
        Partition.parse(text)


def test_location_key_is_a_fixed_hash_of_the_natural_key() -> None:
    # md5("Italy\x1f\x1e\x1f\x1e") = 29aee73a8f459e68..., first 15 hex digits as an integer.
    assert location_key("Italy", None, None) == 187724515012532710
    assert location_key("US", "New York", "Kings") == 544050676745235978
    assert location_key_text("US", None, "") == "US\x1f\x1e\x1f"
    # null and empty string are different locations; every key fits a signed BIGINT
    assert location_key("US", None, None) != location_key("US", "", "")
    assert 0 < location_key("x", "y", "z") < 2**63


def test_fingerprint_ignores_file_names_and_order_but_not_content() -> None:
    objects = (SourceObject("s3://b/p/a.parquet", 10, "e1"), SourceObject("s3://b/p/b.parquet", 20, "e2"))
    renamed = (SourceObject("s3://b/p/y.parquet", 20, "e2"), SourceObject("s3://b/p/x.parquet", 10, "e1"))
    changed = (SourceObject("s3://b/p/a.parquet", 10, "e1"), SourceObject("s3://b/p/b.parquet", 20, "e3"))
    fingerprint = PartitionSnapshot(MARCH, "p", objects).fingerprint
    assert PartitionSnapshot(MARCH, "p", renamed).fingerprint == fingerprint
    assert PartitionSnapshot(MARCH, "p", changed).fingerprint != fingerprint


def test_normalize_fills_partition_columns_and_missing_optionals_and_drops_extras() -> None:
    table = pa.table(
        {
            "report_date": pa.array([dt.date(2020, 3, 5)]),
            "country": ["Italy"],
            "confirmed": pa.array([5], pa.int32()),  # narrower type from an older writer
            "last_update": pa.array([dt.datetime(2020, 3, 5, 12, 30)], pa.timestamp("ns")),  # naive = UTC
            "some_new_column": ["kept out"],
        }
    )
    normalized = normalize_job_output(table, MARCH)
    assert normalized.schema == pa.schema(list(JOB_OUTPUT_COLUMNS.items()))
    assert normalized.to_pylist() == [
        {
            "report_date": dt.date(2020, 3, 5),
            "country": "Italy",
            "iso3": None,
            "province": None,
            "admin2": None,
            "fips": None,
            "latitude": None,
            "longitude": None,
            "population": None,
            "confirmed": 5,
            "deaths": None,
            "recovered": None,
            "active": None,
            "new_confirmed": None,
            "new_deaths": None,
            "case_fatality_rate": None,
            "incidence_per_100k": None,
            "last_update": dt.datetime(2020, 3, 5, 12, 30, tzinfo=dt.UTC),
            "source_file": None,
            "schema_era": None,
            "year": 2020,
            "month": 3,
        }
    ]


def test_normalize_rejects_missing_required_column() -> None:
    with pytest.raises(WarehouseError, match=r"lacks required column.*country"):
        normalize_job_output(pa.table({"report_date": [dt.date(2020, 3, 1)]}), MARCH)


def test_normalize_rejects_rows_dated_outside_the_partition() -> None:
    table = partition_table([row(dt.date(2020, 4, 1), "Italy", 1, 0, 1, 0)])
    with pytest.raises(WarehouseError, match=r"1 row\(s\) dated outside"):
        normalize_job_output(table, MARCH)


def test_normalize_rejects_null_country_and_uncastable_types() -> None:
    with pytest.raises(WarehouseError, match="null country"):
        normalize_job_output(
            pa.table({"report_date": [dt.date(2020, 3, 1)], "country": pa.nulls(1, pa.string())}), MARCH
        )
    bad = pa.table({"report_date": [dt.date(2020, 3, 1)], "country": ["Italy"], "confirmed": ["twelve"]})
    with pytest.raises(WarehouseError, match="'confirmed'"):
        normalize_job_output(bad, MARCH)


def test_star_rows_take_location_attributes_from_the_newest_date() -> None:
    rows = april_rows()
    rows[0]["population"] = 1  # the older row's value must lose
    star = build_star_rows(normalize_job_output(partition_table(rows, FILE_SCHEMA), APRIL))
    assert star.locations.to_pylist() == [
        {
            "location_key": 187724515012532710,
            "country": "Italy",
            "iso3": "ITA",
            "province": None,
            "admin2": None,
            "fips": None,
            "latitude": 41.87194,
            "longitude": 12.56738,
            "population": 60_360_000,
            "attributes_as_of": dt.date(2020, 4, 2),
        }
    ]
    assert star.facts.column("date_key").to_pylist() == [20200401, 20200402]
    assert star.facts.column("location_key").to_pylist() == [187724515012532710] * 2
    assert star.facts.column("new_confirmed").to_pylist() == [4_000, 5_000]
    assert star.facts.column("year").to_pylist() == [2020, 2020]
    assert star.facts.column("month").to_pylist() == [4, 4]
    assert star.dates.column("date_key").to_pylist() == [20200401, 20200402]


def test_date_rows_describe_each_day() -> None:
    table = date_rows([dt.date(2020, 3, 1), dt.date(2021, 1, 4), dt.date(2020, 3, 1)])
    assert table.to_pylist() == [
        {
            "date_key": 20200301,
            "date": dt.date(2020, 3, 1),
            "year": 2020,
            "quarter": 1,
            "month": 3,
            "day": 1,
            "week": 9,
            "day_of_week": 7,
            "day_name": "Sunday",
            "month_name": "March",
            "is_weekend": True,
        },
        {
            "date_key": 20210104,
            "date": dt.date(2021, 1, 4),
            "year": 2021,
            "quarter": 1,
            "month": 1,
            "day": 4,
            "week": 1,
            "day_of_week": 1,
            "day_name": "Monday",
            "month_name": "January",
            "is_weekend": False,
        },
    ]


def test_sql_identifiers_come_only_from_the_schema() -> None:
    assert sql.ident("fact_covid_daily") == "fact_covid_daily"
    for bad in ("fact; DROP TABLE x", "Fact", "a-b", "x'y", ""):
        with pytest.raises(ValueError):
            sql.ident(bad)
    statement = sql.upsert_locations("staged_locations")
    assert statement.startswith("INSERT INTO dim_location (location_key, country, iso3,")
    assert "WHERE excluded.attributes_as_of >= dim_location.attributes_as_of" in statement
    assert sql.upsert_load_state("%s").count("%s") == 5


def test_loader_columns_agree_with_the_jobs_schema_contract() -> None:
    schema_evolution = pytest.importorskip("schema_evolution", reason="glue_job/schema_evolution.py not written yet")
    from pyspark.sql import types as T

    spark_to_arrow = {
        T.DateType(): pa.date32(),
        T.StringType(): pa.string(),
        T.DoubleType(): pa.float64(),
        T.LongType(): pa.int64(),
        T.IntegerType(): pa.int32(),
        T.TimestampType(): pa.timestamp("us", tz="UTC"),
    }
    job_fields = {f.name: f.dataType for f in schema_evolution.OUTPUT_SCHEMA.fields}
    for name, arrow_type in JOB_OUTPUT_COLUMNS.items():
        assert name in job_fields, f"the loader expects {name}, the job does not write it"
        assert spark_to_arrow[job_fields[name]] == arrow_type, name
