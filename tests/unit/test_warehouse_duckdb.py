"""The loader into the embedded DuckDB target, from a local directory of hand-written Parquet partitions."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from covid_pipeline.warehouse import WarehouseError, load_partitions
from tests.warehouse_fixtures import INJECTION_COUNTRY, april_rows, march_rows, row, write_job_output, write_partition


@pytest.fixture
def output_dir(tmp_path: Path) -> Path:
    return write_job_output(tmp_path / "jhu_daily")


@pytest.fixture
def warehouse(tmp_path: Path) -> str:
    return f"duckdb://{tmp_path / 'warehouse' / 'covid.duckdb'}"


def query(url: str, statement: str) -> list[tuple]:
    with duckdb.connect(url.removeprefix("duckdb://"), read_only=True) as connection:
        return connection.execute(statement).fetchall()


def test_full_load_builds_the_star_schema(output_dir: Path, warehouse: str) -> None:
    result = load_partitions(str(output_dir), warehouse)
    assert result.partitions_loaded == ["year=2020/month=3", "year=2020/month=4"]
    assert result.partitions_skipped == []
    assert result.rows_loaded == 10
    assert query(warehouse, "SELECT count(*) FROM fact_covid_daily") == [(10,)]
    assert query(warehouse, "SELECT count(*) FROM dim_location") == [(4,)]
    assert query(warehouse, "SELECT min(date_key), max(date_key), count(*) FROM dim_date") == [(20200301, 20200402, 5)]
    assert query(
        warehouse, "SELECT country, province, admin2, fips, population FROM dim_location WHERE country = 'US'"
    ) == [("US", "New York", "Kings", "36047", 2_559_903)]


def test_second_load_skips_unchanged_partitions(output_dir: Path, warehouse: str) -> None:
    load_partitions(str(output_dir), warehouse)
    again = load_partitions(str(output_dir), warehouse)
    assert again.partitions_loaded == []
    assert again.partitions_skipped == ["year=2020/month=3", "year=2020/month=4"]
    assert again.rows_loaded == 0
    assert query(warehouse, "SELECT count(*) FROM fact_covid_daily") == [(10,)]


def test_changed_partition_is_replaced_not_duplicated(output_dir: Path, warehouse: str) -> None:
    load_partitions(str(output_dir), warehouse)
    revised = march_rows()[:3]  # the job rewrote March: only Italy's three days remain, one revised
    revised[2]["confirmed"] = 1_600
    write_partition(output_dir, 2020, 3, revised)
    result = load_partitions(str(output_dir), warehouse)
    assert result.partitions_loaded == ["year=2020/month=3"]
    assert result.partitions_skipped == ["year=2020/month=4"]
    assert result.rows_loaded == 3
    assert query(warehouse, "SELECT year, month, count(*) FROM fact_covid_daily GROUP BY ALL ORDER BY ALL") == [
        (2020, 3, 3),
        (2020, 4, 2),
    ]
    assert query(warehouse, "SELECT confirmed FROM fact_covid_daily WHERE date_key = 20200303") == [(1_600,)]
    assert query(warehouse, "SELECT row_count FROM warehouse_load_state WHERE partition_key = 'year=2020/month=3'") == [
        (3,)
    ]


def test_only_named_partitions_are_loaded(output_dir: Path, warehouse: str) -> None:
    result = load_partitions(str(output_dir), warehouse, ["s3://bucket/jhu_daily/year=2020/month=04/"])
    assert result.partitions_loaded == ["year=2020/month=4"]
    assert query(warehouse, "SELECT DISTINCT month FROM fact_covid_daily") == [(4,)]


def test_unknown_partition_is_a_clear_error(output_dir: Path, warehouse: str) -> None:
    with pytest.raises(WarehouseError, match=r"not found under .*year=2019/month=12"):
        load_partitions(str(output_dir), warehouse, ["year=2019/month=12"])


def test_location_attributes_do_not_depend_on_load_order(output_dir: Path, tmp_path: Path) -> None:
    newest_first = f"duckdb://{tmp_path / 'a.duckdb'}"
    oldest_first = f"duckdb://{tmp_path / 'b.duckdb'}"
    load_partitions(str(output_dir), newest_first, ["year=2020/month=4"])
    load_partitions(str(output_dir), newest_first, ["year=2020/month=3"])
    load_partitions(str(output_dir), oldest_first)
    statement = "SELECT * FROM dim_location ORDER BY location_key"
    assert query(newest_first, statement) == query(oldest_first, statement)
    assert query(newest_first, "SELECT population, attributes_as_of FROM dim_location WHERE country = 'Italy'") == [
        (60_360_000, dt.date(2020, 4, 2))
    ]


def test_hostile_country_name_loads_as_plain_text(output_dir: Path, warehouse: str) -> None:
    load_partitions(str(output_dir), warehouse)
    assert query(warehouse, "SELECT country FROM dim_location WHERE country LIKE 'x%'") == [(INJECTION_COUNTRY,)]
    assert query(warehouse, "SELECT count(*) FROM fact_covid_daily") == [(10,)]


def test_views_latest_by_country_and_7day_average(output_dir: Path, warehouse: str) -> None:
    load_partitions(str(output_dir), warehouse)
    latest = query(
        warehouse,
        "SELECT country, report_date, confirmed, deaths, new_confirmed, population, case_fatality_rate "
        "FROM v_latest_by_country ORDER BY country",
    )
    assert latest == [
        ("China", dt.date(2020, 3, 3), 60_700, 2_080, 300, 58_500_000, 2_080 / 60_700),
        ("Italy", dt.date(2020, 4, 2), 115_000, 13_900, 5_000, 60_360_000, 13_900 / 115_000),
        ("US", dt.date(2020, 3, 3), 10, 0, 10, 2_559_903, 0.0),
        (INJECTION_COUNTRY, dt.date(2020, 3, 3), 7, 1, 7, None, 1 / 7),
    ]
    # Italy reports 03-01..03-03 and 04-01..04-02: the window covers the date and the 6 days before it, so 04-01
    # stands alone (no report between 03-26 and 03-31) and 04-02 averages 04-01 and 04-02.
    averages = query(
        warehouse,
        "SELECT report_date, new_confirmed_7day_avg, new_deaths_7day_avg, days_in_window FROM v_7day_avg "
        "WHERE country = 'Italy' ORDER BY report_date",
    )
    assert averages == [
        (dt.date(2020, 3, 1), 100.0, 2.0, 1),
        (dt.date(2020, 3, 2), 150.0, 6.0, 2),
        (dt.date(2020, 3, 3), 200.0, 9.0, 3),
        (dt.date(2020, 4, 1), 4_000.0, 800.0, 1),
        (dt.date(2020, 4, 2), 4_500.0, 850.0, 2),
    ]


def test_analyst_queries_run(output_dir: Path, warehouse: str, repo_root: Path) -> None:
    load_partitions(str(output_dir), warehouse)
    statements = [s.strip() for s in (repo_root / "config" / "test_queries.sql").read_text().split(";") if s.strip()]
    assert len(statements) >= 3
    results = [query(warehouse, statement) for statement in statements]
    assert all(results), "every analyst query returns rows on the fixture data"


def test_corrupt_file_fails_cleanly_and_keeps_committed_partitions(output_dir: Path, warehouse: str) -> None:
    (output_dir / "year=2020" / "month=4" / "part-00000.snappy.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(WarehouseError, match=r"cannot read Parquet file .*month=4"):
        load_partitions(str(output_dir), warehouse)
    # March was committed before April failed; April left no trace and loads once its file is fixed.
    assert query(warehouse, "SELECT DISTINCT month FROM fact_covid_daily") == [(3,)]
    assert query(warehouse, "SELECT partition_key FROM warehouse_load_state") == [("year=2020/month=3",)]
    write_partition(output_dir, 2020, 4, april_rows())
    assert load_partitions(str(output_dir), warehouse).partitions_loaded == ["year=2020/month=4"]


def test_partition_without_required_columns_is_rejected(tmp_path: Path, warehouse: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    directory = tmp_path / "out" / "year=2020" / "month=3"
    directory.mkdir(parents=True)
    pq.write_table(pa.table({"report_date": [dt.date(2020, 3, 1)], "confirmed": [1]}), directory / "part-0.parquet")
    with pytest.raises(WarehouseError, match="lacks required column"):
        load_partitions(str(tmp_path / "out"), warehouse)


def test_missing_source_and_bad_url_are_clear_errors(tmp_path: Path, warehouse: str) -> None:
    with pytest.raises(WarehouseError, match="source directory not found"):
        load_partitions(str(tmp_path / "nowhere"), warehouse)
    write_partition(tmp_path / "out", 2020, 3, [row(dt.date(2020, 3, 1), "Italy", 1, 0, 1, 0)])
    with pytest.raises(WarehouseError, match="unsupported warehouse URL"):
        load_partitions(str(tmp_path / "out"), "mysql://x/y")


def test_unopenable_warehouse_file_is_a_clear_error(output_dir: Path, tmp_path: Path) -> None:
    not_a_database = tmp_path / "covid.duckdb"
    not_a_database.write_text("this is not a DuckDB file")
    with pytest.raises(WarehouseError, match="cannot open DuckDB warehouse"):
        load_partitions(str(output_dir), f"duckdb://{not_a_database}")


def test_load_waits_for_a_reader_to_release_the_file_lock(output_dir: Path, warehouse: str) -> None:
    import subprocess
    import sys

    from covid_pipeline.warehouse.duckdb_target import DuckDBTarget

    path = warehouse.removeprefix("duckdb://")
    load_partitions(str(output_dir), warehouse, ["year=2020/month=3"])
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, time; c = duckdb.connect({path!r}); print('held', flush=True); time.sleep(2)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(WarehouseError, match=r"cannot open DuckDB warehouse .*lock"):
            load_partitions(str(output_dir), warehouse, target=DuckDBTarget(warehouse, lock_wait_seconds=0))
        result = load_partitions(str(output_dir), warehouse, target=DuckDBTarget(warehouse, lock_wait_seconds=60))
        assert result.partitions_loaded == ["year=2020/month=4"]
    finally:
        holder.wait(timeout=60)


def test_one_transaction_per_partition_or_per_batch_gives_the_same_warehouse(output_dir: Path, tmp_path: Path) -> None:
    from covid_pipeline.warehouse.duckdb_target import DuckDBTarget

    batched, single = f"duckdb://{tmp_path / 'batched.duckdb'}", f"duckdb://{tmp_path / 'single.duckdb'}"
    one_by_one = DuckDBTarget(single)
    one_by_one.max_batch_rows = 1
    assert load_partitions(str(output_dir), batched).rows_loaded == 10
    assert load_partitions(str(output_dir), single, target=one_by_one).rows_loaded == 10
    for table in ("fact_covid_daily", "dim_location", "dim_date"):
        statement = f"SELECT * FROM {table} ORDER BY ALL"
        assert query(batched, statement) == query(single, statement)


def test_partitions_the_job_deleted_are_removed(output_dir: Path, warehouse: str) -> None:
    import shutil

    load_partitions(str(output_dir), warehouse)
    shutil.rmtree(output_dir / "year=2020" / "month=4")  # a revision emptied April; the job deleted the partition
    result = load_partitions(str(output_dir), warehouse)
    assert (result.partitions_removed, result.partitions_loaded) == (["year=2020/month=4"], [])
    assert result.partitions_skipped == ["year=2020/month=3"]
    assert query(warehouse, "SELECT DISTINCT month FROM fact_covid_daily") == [(3,)]
    assert query(warehouse, "SELECT partition_key FROM warehouse_load_state") == [("year=2020/month=3",)]
    assert load_partitions(str(output_dir), warehouse).partitions_removed == []


def test_named_and_manifest_removals(output_dir: Path, warehouse: str) -> None:
    import shutil

    load_partitions(str(output_dir), warehouse)
    shutil.rmtree(output_dir / "year=2020" / "month=4")
    # as the warehouse-loader Lambda calls it: partitions_written, partitions_removed (one never loaded: ignored)
    result = load_partitions(
        str(output_dir), warehouse, ["year=2020/month=3"], removed=["year=2020/month=4", "year=2019/month=1"]
    )
    assert (result.partitions_skipped, result.partitions_removed) == (["year=2020/month=3"], ["year=2020/month=4"])
    assert query(warehouse, "SELECT count(*) FROM fact_covid_daily WHERE month = 4") == [(0,)]


def test_an_empty_source_never_wipes_the_warehouse(output_dir: Path, warehouse: str, tmp_path: Path) -> None:
    load_partitions(str(output_dir), warehouse)
    (tmp_path / "empty").mkdir()
    with pytest.raises(WarehouseError, match="refusing to remove all 2 loaded partitions"):
        load_partitions(str(tmp_path / "empty"), warehouse)
    assert query(warehouse, "SELECT count(*) FROM fact_covid_daily") == [(10,)]


def test_failure_inside_the_transaction_rolls_everything_back(output_dir: Path, warehouse: str) -> None:
    from covid_pipeline.warehouse import sql
    from covid_pipeline.warehouse.duckdb_target import DUCKDB_TYPES
    from covid_pipeline.warehouse.schema import FACT_COVID_DAILY

    # The fact table made beforehand with a CHECK the loader knows nothing about: the database itself rejects a row
    # half-way through the transaction (after the partition's old facts were deleted).
    path = warehouse.removeprefix("duckdb://")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(path) as connection:
        connection.execute(
            sql.create_table(FACT_COVID_DAILY, DUCKDB_TYPES).replace("\n)", ",\n    CHECK (confirmed <> 666)\n)")
        )
    load_partitions(str(output_dir), warehouse)
    before = query(warehouse, "SELECT * FROM fact_covid_daily ORDER BY ALL")
    state_before = query(warehouse, "SELECT partition_key, fingerprint FROM warehouse_load_state ORDER BY ALL")
    revised_march = march_rows()
    revised_march.append(revised_march[0] | {"country": "Newland"})
    write_partition(output_dir, 2020, 3, revised_march)
    revised_april = april_rows()
    revised_april[0]["confirmed"] = 666
    write_partition(output_dir, 2020, 4, revised_april)

    with pytest.raises(WarehouseError, match=r"failed and was rolled back: .*CHECK constraint"):
        load_partitions(str(output_dir), warehouse)
    assert query(warehouse, "SELECT * FROM fact_covid_daily ORDER BY ALL") == before
    assert query(warehouse, "SELECT partition_key, fingerprint FROM warehouse_load_state ORDER BY ALL") == state_before
    assert query(warehouse, "SELECT count(*) FROM dim_location WHERE country = 'Newland'") == [(0,)]


def test_a_country_gets_its_own_iso3_not_a_territory_of_it(tmp_path: Path, warehouse: str) -> None:
    day = dt.date(2020, 5, 1)
    us = [row(day, "US", 10, 0, 1, 0, province="New York", admin2=county, iso3="USA") for county in ("Kings", "Queens")]
    territory = row(day, "US", 5, 0, 1, 0, province="Virgin Islands", iso3="VIR")  # sorts after USA
    france = row(day, "France", 100, 1, 1, 0, iso3="FRA")
    overseas = [
        row(day, "France", 1, 0, 0, 0, province=name, iso3=code)
        for name, code in (("Reunion", "REU"), ("Saint Barthelemy", "BLM"))
    ]
    write_partition(tmp_path / "out", 2020, 5, [*us, territory, france, *overseas])
    load_partitions(str(tmp_path / "out"), warehouse)
    assert query(warehouse, "SELECT country, iso3, confirmed FROM v_country_daily ORDER BY country") == [
        ("France", "FRA", 102),
        ("US", "USA", 25),
    ]
    assert query(warehouse, "SELECT country, iso3 FROM v_latest_by_country ORDER BY country") == [
        ("France", "FRA"),
        ("US", "USA"),
    ]
