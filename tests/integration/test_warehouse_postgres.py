"""The loader against a real PostgreSQL server (a throwaway cluster from the machine's server binaries)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import psycopg
import pytest

from covid_pipeline.warehouse import WarehouseError, load_partitions
from tests.warehouse_fixtures import INJECTION_COUNTRY, april_rows, march_rows, write_job_output, write_partition

pytest_plugins = ["tests.pg"]  # the throwaway PostgreSQL fixtures


@pytest.fixture
def output_dir(tmp_path: Path) -> Path:
    return write_job_output(tmp_path / "jhu_daily")


def query(url: str, statement: str) -> list[tuple]:
    with psycopg.connect(url) as connection:
        return connection.execute(statement).fetchall()  # type: ignore[arg-type]


def test_load_is_incremental_and_idempotent(output_dir: Path, postgres_database: str) -> None:
    first = load_partitions(str(output_dir), postgres_database)
    assert (first.partitions_loaded, first.rows_loaded) == (["year=2020/month=3", "year=2020/month=4"], 10)
    second = load_partitions(str(output_dir), postgres_database)
    assert (second.partitions_loaded, second.partitions_skipped) == ([], ["year=2020/month=3", "year=2020/month=4"])

    revised = march_rows()
    revised[0]["deaths"] = 21
    write_partition(output_dir, 2020, 3, revised)
    third = load_partitions(str(output_dir), postgres_database)
    assert (third.partitions_loaded, third.rows_loaded) == (["year=2020/month=3"], 8)
    assert query(postgres_database, "SELECT count(*) FROM fact_covid_daily") == [(10,)]
    assert query(
        postgres_database, "SELECT deaths FROM fact_covid_daily WHERE date_key = 20200301 AND deaths < 100"
    ) == [(21,)]


def test_values_round_trip_exactly(output_dir: Path, postgres_database: str) -> None:
    load_partitions(str(output_dir), postgres_database)
    rows = query(
        postgres_database,
        "SELECT l.country, l.province, l.admin2, l.fips, l.latitude, l.population, f.confirmed, f.last_update, "
        "f.source_file FROM fact_covid_daily f JOIN dim_location l USING (location_key) "
        "WHERE f.date_key = 20200303 ORDER BY l.country",
    )
    utc_23h = dt.datetime(2020, 3, 3, 23, 0, tzinfo=dt.UTC)
    assert rows == [
        ("China", "Hubei", None, None, None, 58_500_000, 60_700, utc_23h, "03-03-2020.csv"),
        ("Italy", None, None, None, 41.87194, 60_360_000, 1_500, utc_23h, "03-03-2020.csv"),  # newest attributes
        ("US", "New York", "Kings", "36047", None, 2_559_903, 10, utc_23h, "03-03-2020.csv"),
        (INJECTION_COUNTRY, None, None, None, None, None, 7, utc_23h, "03-03-2020.csv"),
    ]


def test_views_match_duckdb_definitions(output_dir: Path, postgres_database: str) -> None:
    load_partitions(str(output_dir), postgres_database)
    assert query(postgres_database, "SELECT country, report_date, confirmed FROM v_latest_by_country ORDER BY 1") == [
        ("China", dt.date(2020, 3, 3), 60_700),
        ("Italy", dt.date(2020, 4, 2), 115_000),
        ("US", dt.date(2020, 3, 3), 10),
        (INJECTION_COUNTRY, dt.date(2020, 3, 3), 7),
    ]
    assert query(
        postgres_database,
        "SELECT report_date, new_confirmed_7day_avg, days_in_window FROM v_7day_avg "
        "WHERE country = 'Italy' ORDER BY report_date",
    ) == [
        (dt.date(2020, 3, 1), 100.0, 1),
        (dt.date(2020, 3, 2), 150.0, 2),
        (dt.date(2020, 3, 3), 200.0, 3),
        (dt.date(2020, 4, 1), 4_000.0, 1),
        (dt.date(2020, 4, 2), 4_500.0, 2),
    ]


def test_hostile_country_name_is_data(output_dir: Path, postgres_database: str) -> None:
    load_partitions(str(output_dir), postgres_database)
    assert query(postgres_database, "SELECT country FROM dim_location WHERE country LIKE 'x%'") == [
        (INJECTION_COUNTRY,)
    ]
    assert query(postgres_database, "SELECT to_regclass('fact_covid_daily') IS NOT NULL") == [(True,)]


def test_failure_mid_load_rolls_the_partition_back(output_dir: Path, postgres_database: str) -> None:
    load_partitions(str(output_dir), postgres_database)
    # A real server-side failure half-way through the partition's transaction (after its facts were deleted and
    # while new ones stream in): a trigger rejecting one revised row.
    with psycopg.connect(postgres_database, autocommit=True) as connection:
        connection.execute(
            "CREATE FUNCTION reject_poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF NEW.confirmed = 666 THEN RAISE EXCEPTION 'poison row rejected'; END IF; RETURN NEW; END $$"
        )
        connection.execute(
            "CREATE TRIGGER reject_poison BEFORE INSERT ON fact_covid_daily "
            "FOR EACH ROW EXECUTE FUNCTION reject_poison()"
        )
    before = query(postgres_database, "SELECT * FROM fact_covid_daily ORDER BY date_key, location_key")
    state_before = query(postgres_database, "SELECT partition_key, fingerprint FROM warehouse_load_state ORDER BY 1")
    # March and April both changed; they load in one transaction, and April carries the poison row.
    revised_march = march_rows()
    revised_march.append(revised_march[0] | {"country": "Newland"})  # a new location that must not survive
    revised_march[0]["confirmed"] = 1_001
    write_partition(output_dir, 2020, 3, revised_march)
    revised_april = april_rows()
    revised_april[-1]["confirmed"] = 666
    write_partition(output_dir, 2020, 4, revised_april)

    with pytest.raises(
        WarehouseError,
        match=r"load of partition\(s\) year=2020/month=3, year=2020/month=4 .*rolled back: poison row rejected",
    ):
        load_partitions(str(output_dir), postgres_database)
    assert query(postgres_database, "SELECT * FROM fact_covid_daily ORDER BY date_key, location_key") == before
    assert query(postgres_database, "SELECT partition_key, fingerprint FROM warehouse_load_state ORDER BY 1") == (
        state_before
    )
    assert query(postgres_database, "SELECT count(*) FROM dim_location WHERE country = 'Newland'") == [(0,)]


def test_unreachable_server_is_a_clear_error(output_dir: Path) -> None:
    from tests.pg import free_port

    url = f"postgresql://loader:s3cret@127.0.0.1:{free_port()}/covid"
    with pytest.raises(WarehouseError) as caught:
        load_partitions(str(output_dir), url)
    message = str(caught.value)
    assert message.startswith("cannot connect to PostgreSQL warehouse postgresql://loader:***@127.0.0.1:")
    assert "s3cret" not in message


def test_timestamps_are_utc_whatever_the_servers_time_zone(output_dir: Path, postgres_database: str) -> None:
    database = postgres_database.rsplit("/", 1)[1]
    with psycopg.connect(postgres_database, autocommit=True) as connection:
        connection.execute(f"ALTER DATABASE {database} SET timezone TO 'America/New_York'")  # type: ignore[arg-type]
    load_partitions(str(output_dir), postgres_database)
    assert query(
        postgres_database,
        "SELECT current_setting('TimeZone'), to_char(last_update AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') "
        "FROM fact_covid_daily WHERE date_key = 20200401",
    ) == [("America/New_York", "2020-04-01 23:00")]


def test_redshift_location_key_text_expression_matches_python(postgres_url: str) -> None:
    """Redshift is not available here; its key expression uses only MD5/CHR/COALESCE/||, which PostgreSQL shares."""
    import hashlib

    from covid_pipeline.warehouse.redshift_sql import location_key_text_sql
    from covid_pipeline.warehouse.schema import location_key_text

    locations = [("US", "New York", "Kings"), ("Italy", None, None), ("Korea, South", "", None)]
    rows = query(
        postgres_url,
        f"SELECT md5({location_key_text_sql()}) FROM (VALUES ('US', 'New York', 'Kings'), ('Italy', NULL, NULL), "
        "('Korea, South', '', NULL)) AS t(country, province, admin2)",
    )
    assert [digest for (digest,) in rows] == [
        hashlib.md5(location_key_text(*location).encode()).hexdigest() for location in locations
    ]


def test_removed_partition_is_deleted_in_postgresql(output_dir: Path, postgres_database: str) -> None:
    import shutil

    load_partitions(str(output_dir), postgres_database)
    shutil.rmtree(output_dir / "year=2020" / "month=3")
    result = load_partitions(str(output_dir), postgres_database)
    assert result.partitions_removed == ["year=2020/month=3"]
    assert query(postgres_database, "SELECT DISTINCT month FROM fact_covid_daily") == [(4,)]
    assert query(postgres_database, "SELECT partition_key FROM warehouse_load_state") == [("year=2020/month=4",)]
