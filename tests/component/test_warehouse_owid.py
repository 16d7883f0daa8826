"""OWID's place in the warehouse: fact_owid_daily keyed by country and date, joined to dim_date, loaded by the same
fingerprint mechanism as JHU but with its own load state, so neither source's load touches the other's partitions.
DuckDB and a real PostgreSQL server (tests/pg.py); Redshift's SQL as text."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from covid_pipeline.warehouse import WarehouseError, load_partitions
from covid_pipeline.warehouse.base import Partition
from covid_pipeline.warehouse.redshift_sql import partition_statements, removal_statements, schema_statements
from covid_pipeline.warehouse.schema import OWID_DAILY
from tests.warehouse_fixtures import (
    FILE_SCHEMA,
    INJECTION_COUNTRY,
    OWID_FILE,
    owid_march_rows,
    owid_row,
    warehouse_query,
    write_job_output,
    write_owid_output,
    write_partition,
)

pytest_plugins = ["tests.pg"]  # the throwaway PostgreSQL, and warehouse_url over DuckDB and it

OWID_FACTS = (
    "SELECT f.country, d.date, f.iso3, f.population, f.confirmed, f.deaths, f.new_confirmed, f.new_deaths, "
    "f.source_file, f.schema_era FROM fact_owid_daily f JOIN dim_date d USING (date_key) ORDER BY 1, 2"
)
MARCH_1, MARCH_2, APRIL_1 = dt.date(2020, 3, 1), dt.date(2020, 3, 2), dt.date(2020, 4, 1)
WORLD = 7_794_798_729


@pytest.fixture
def outputs(tmp_path: Path) -> tuple[Path, Path]:
    return write_job_output(tmp_path / "jhu_daily"), write_owid_output(tmp_path / "owid")


def test_owid_facts_are_keyed_by_country_and_date_beside_the_jhu_star(
    outputs: tuple[Path, Path], warehouse_url: str
) -> None:
    jhu, owid = outputs
    load_partitions(str(jhu), warehouse_url)
    result = load_partitions(str(owid), warehouse_url, source="owid")
    assert (result.partitions_loaded, result.rows_loaded) == (["year=2020/month=3", "year=2020/month=4"], 6)
    era = ("owid_v2",)
    assert warehouse_query(warehouse_url, OWID_FACTS) == [
        ("Andorra", MARCH_1, "AND", 77_265, 1, 0, None, None, OWID_FILE, *era),
        ("Andorra", MARCH_2, "AND", 77_265, 2, 1, 1, None, OWID_FILE, *era),
        ("Andorra", APRIL_1, "AND", 77_265, 390, 14, 20, None, OWID_FILE, *era),
        ("World", MARCH_1, "OWID_WRL", WORLD, 88_000, 3_000, None, None, OWID_FILE, *era),
        ("World", MARCH_2, "OWID_WRL", WORLD, 90_000, 3_100, 2_000, None, OWID_FILE, *era),
        (INJECTION_COUNTRY, MARCH_2, "XXX", 1_000, 5, 1, None, None, OWID_FILE, *era),
    ]
    # The JHU star is untouched: its facts, its locations (none from OWID), its own load state.
    assert warehouse_query(warehouse_url, "SELECT count(*) FROM fact_covid_daily") == [(10,)]
    assert warehouse_query(warehouse_url, "SELECT count(*) FROM dim_location WHERE country = 'World'") == [(0,)]
    again = load_partitions(str(jhu), warehouse_url)
    assert (again.partitions_loaded, again.partitions_removed) == ([], [])
    # Dates OWID brought that JHU has not (April 1) are in dim_date; the report's views still read JHU only.
    assert warehouse_query(warehouse_url, "SELECT count(*) FROM dim_date WHERE date_key = 20200401") == [(1,)]
    assert warehouse_query(warehouse_url, "SELECT count(*) FROM v_country_daily WHERE country = 'World'") == [(0,)]


def test_owid_reload_is_idempotent_and_follows_the_output(outputs: tuple[Path, Path], warehouse_url: str) -> None:
    jhu, owid = outputs
    load_partitions(str(jhu), warehouse_url)
    load_partitions(str(owid), warehouse_url, source="owid")
    again = load_partitions(str(owid), warehouse_url, source="owid")
    assert (again.partitions_loaded, again.partitions_skipped, again.rows_loaded) == (
        [],
        ["year=2020/month=3", "year=2020/month=4"],
        0,
    )

    # OWID revises March (World's figure) and drops April; the JHU partitions of the same months stay.
    revised = owid_march_rows()
    revised[3] = owid_row(MARCH_2, "World", "OWID_WRL", 90_500, 3_100, 2_500, WORLD)
    write_partition(owid, 2020, 3, revised)
    shutil.rmtree(owid / "year=2020" / "month=4")
    changed = load_partitions(str(owid), warehouse_url, source="owid")
    assert (changed.partitions_loaded, changed.partitions_removed, changed.rows_loaded) == (
        ["year=2020/month=3"],
        ["year=2020/month=4"],
        5,
    )
    assert warehouse_query(
        warehouse_url, "SELECT confirmed, new_confirmed FROM fact_owid_daily WHERE country = 'World' ORDER BY date_key"
    ) == [(88_000, None), (90_500, 2_500)]
    assert warehouse_query(warehouse_url, "SELECT DISTINCT month FROM fact_owid_daily") == [(3,)]
    assert warehouse_query(warehouse_url, "SELECT partition_key FROM warehouse_load_state_owid") == [
        ("year=2020/month=3",)
    ]
    assert warehouse_query(
        warehouse_url, "SELECT month, count(*) FROM fact_covid_daily GROUP BY month ORDER BY month"
    ) == [(3, 8), (4, 2)]
    assert warehouse_query(warehouse_url, "SELECT partition_key FROM warehouse_load_state ORDER BY 1") == [
        ("year=2020/month=3",),
        ("year=2020/month=4",),
    ]


def test_a_country_twice_on_one_day_is_refused_with_its_name(tmp_path: Path) -> None:
    owid = tmp_path / "owid"
    write_partition(owid, 2020, 3, [*owid_march_rows(), owid_row(MARCH_1, "World", "OWID_WRL", 1, 1, None, WORLD)])
    url = f"duckdb://{tmp_path / 'covid.duckdb'}"
    with pytest.raises(WarehouseError, match=r"1 \(country, date\) pair\(s\).*'World' on 2020-03-01"):
        load_partitions(str(owid), url, source="owid")


def test_a_source_without_a_place_in_the_warehouse_is_a_clear_error(outputs: tuple[Path, Path], tmp_path: Path) -> None:
    with pytest.raises(WarehouseError, match=r"source 'cdc' has no place in the warehouse \(known: jhu_daily, owid\)"):
        load_partitions(str(outputs[1]), f"duckdb://{tmp_path / 'covid.duckdb'}", source="cdc")


def test_redshift_loads_owid_into_its_own_tables() -> None:
    prefix = "s3://covid-pipeline-dev-processed/owid/year=2020/month=3/"
    role = "arn:aws:iam::123456789012:role/covid-pipeline-dev-redshift-s3"
    statements = partition_statements(Partition(2020, 3), prefix, "b" * 64, 1, FILE_SCHEMA, role, OWID_DAILY)
    assert statements[0] == "LOCK warehouse_load_state"  # one load at a time, whichever the source
    assert statements[2] == f"COPY stage_partition FROM '{prefix}' IAM_ROLE '{role}' FORMAT AS PARQUET SERIALIZETOJSON"
    assert statements[-4:] == [
        "DELETE FROM fact_owid_daily WHERE year = 2020 AND month = 3",
        "INSERT INTO fact_owid_daily (date_key, country, iso3, population, confirmed, deaths, new_confirmed, "
        "new_deaths, case_fatality_rate, incidence_per_100k, source_file, schema_era, year, month) "
        "SELECT date_key, country, iso3, population, confirmed, deaths, new_confirmed, new_deaths, "
        "case_fatality_rate, incidence_per_100k, source_file, schema_era, CAST(2020 AS SMALLINT), "
        "CAST(3 AS SMALLINT) FROM stage_keyed",
        "DELETE FROM warehouse_load_state_owid WHERE partition_key = 'year=2020/month=3'",
        "INSERT INTO warehouse_load_state_owid (partition_key, fingerprint, source_uri, object_count, row_count, "
        f"loaded_at)\nSELECT 'year=2020/month=3', '{'b' * 64}', '{prefix}', 1, COUNT(*), GETDATE() FROM stage_keyed",
    ]
    assert not any("dim_location" in statement or "fact_covid_daily" in statement for statement in statements)
    assert removal_statements(["year=2020/month=4"], OWID_DAILY) == [
        "LOCK warehouse_load_state",
        "DELETE FROM fact_owid_daily WHERE year = 2020 AND month = 4",
        "DELETE FROM warehouse_load_state_owid WHERE partition_key = 'year=2020/month=4'",
    ]
    owid_ddl = next(s for s in schema_statements() if "fact_owid_daily" in s)
    assert owid_ddl.endswith("PRIMARY KEY (date_key, country)\n) DISTSTYLE ALL COMPOUND SORTKEY (date_key, country)")


def test_owid_facts_are_columns_the_job_writes() -> None:
    from covid_pipeline.warehouse.schema import FACT_OWID_DAILY, JOB_OUTPUT_COLUMNS

    assert set(FACT_OWID_DAILY.column_names) - set(JOB_OUTPUT_COLUMNS) == {"date_key"}  # derived from report_date
