"""The loader converges: a load that failed is healed by the next one, and loads queue on the warehouse's load
lock, so an older, slower load never overwrites a newer one. DuckDB (embedded) and a real PostgreSQL server."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import psycopg
import pyarrow.parquet as pq
import pytest

from covid_pipeline.warehouse import WarehouseError, load_partitions
from covid_pipeline.warehouse.postgresql_target import LOAD_LOCK_ID, PostgreSQLTarget
from covid_pipeline.warehouse.source import PartitionSource
from tests.warehouse_fixtures import april_rows, march_rows, row, write_job_output, write_partition
from tests.warehouse_fixtures import warehouse_query as query

pytest_plugins = ["tests.pg"]  # the throwaway PostgreSQL, and warehouse_url over DuckDB and it

FACTS = (
    "SELECT l.country, d.date, f.confirmed, f.deaths FROM fact_covid_daily f "
    "JOIN dim_location l USING (location_key) JOIN dim_date d USING (date_key) ORDER BY 1, 2"
)


def may_rows() -> list[dict]:
    italy = {"iso3": "ITA", "population": 60_360_000}
    return [row(dt.date(2020, 5, 1), "Italy", 205_000, 27_900, 1_800, 270, **italy)]


def published(output_dir: Path) -> list[tuple]:
    """What the job output holds, read straight from its Parquet files (the loader's code not involved)."""
    rows = []
    for path in sorted(output_dir.glob("year=*/month=*/*.parquet")):
        for record in pq.read_table(path, columns=["country", "report_date", "confirmed", "deaths"]).to_pylist():
            rows.append((record["country"], record["report_date"], record["confirmed"], record["deaths"]))
    return sorted(rows)


@pytest.fixture
def warehouse(warehouse_url: str) -> str:
    return warehouse_url


@pytest.fixture
def output_dir(tmp_path: Path) -> Path:
    return write_job_output(tmp_path / "jhu_daily")


def test_a_failed_load_is_healed_by_the_next_load(
    output_dir: Path, warehouse: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_partitions(str(output_dir), warehouse)
    # A run revises March and adds May; its load fails inside the warehouse's transaction (nothing of it lands).
    revised = march_rows()
    revised[0]["confirmed"] = 1_001
    write_partition(output_dir, 2020, 3, revised)
    write_partition(output_dir, 2020, 5, may_rows())
    target_class = type(load_partitions.__globals__["target_for_url"](warehouse))
    real_replace = target_class.replace_partitions

    def failing_replace(self, batch):  # type: ignore[no-untyped-def]
        raise WarehouseError("warehouse went away mid-load")

    monkeypatch.setattr(target_class, "replace_partitions", failing_replace)
    with pytest.raises(WarehouseError, match="went away"):
        load_partitions(str(output_dir), warehouse, ["year=2020/month=5"])  # the run's own partition
    assert query(warehouse, "SELECT count(*) FROM fact_covid_daily WHERE month = 5") == [(0,)]
    monkeypatch.setattr(target_class, "replace_partitions", real_replace)

    # The next run wrote nothing new; its load (every partition, as the Lambda and `covid-pipeline load` do) heals.
    healed = load_partitions(str(output_dir), warehouse)

    assert healed.partitions_loaded == ["year=2020/month=3", "year=2020/month=5"]
    assert healed.partitions_skipped == ["year=2020/month=4"]
    warehouse_rows = [(c, d if isinstance(d, dt.date) else d.date(), n, k) for c, d, n, k in query(warehouse, FACTS)]
    assert sorted(warehouse_rows) == published(output_dir)
    again = load_partitions(str(output_dir), warehouse)
    assert again.partitions_loaded == [] and len(again.partitions_skipped) == 3


def test_an_older_slower_load_cannot_overwrite_a_newer_one(
    output_dir: Path, postgres_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Load A lists April as it was and is slow to read it; meanwhile the job rewrites April and load B starts. B
    must wait for A's lock, then list the source again: the warehouse ends with the newer April."""
    load_partitions(str(output_dir), postgres_database)
    a_is_reading, let_a_finish = threading.Event(), threading.Event()
    real_read = PartitionSource.read

    def slow_first_read(self: PartitionSource, snapshot):  # type: ignore[no-untyped-def]
        table = real_read(self, snapshot)
        if threading.current_thread().name == "load-a":
            a_is_reading.set()
            assert let_a_finish.wait(30)
        return table

    monkeypatch.setattr(PartitionSource, "read", slow_first_read)
    old_april = april_rows()
    old_april[-1]["confirmed"] = 111_111  # what load A will have read
    write_partition(output_dir, 2020, 4, old_april)
    results: dict[str, object] = {}

    def run(name: str) -> None:
        try:
            results[name] = load_partitions(str(output_dir), postgres_database)
        except Exception as exc:  # reported below
            results[name] = exc

    load_a = threading.Thread(target=run, args=("a",), name="load-a")
    load_a.start()
    assert a_is_reading.wait(30)
    new_april = april_rows()
    new_april[-1]["confirmed"] = 222_222  # the job's newer output
    write_partition(output_dir, 2020, 4, new_april)
    load_b = threading.Thread(target=run, args=("b",), name="load-b")
    load_b.start()
    load_b.join(1.5)
    assert load_b.is_alive(), "load B must wait for load A's lock"
    let_a_finish.set()
    load_a.join(30)
    load_b.join(30)

    assert [getattr(results[name], "partitions_loaded", results[name]) for name in ("a", "b")] == [
        ["year=2020/month=4"],
        ["year=2020/month=4"],
    ]
    assert query(postgres_database, "SELECT max(confirmed) FROM fact_covid_daily WHERE month = 4") == [(222_222,)]
    assert sorted(query(postgres_database, FACTS)) == published(output_dir)


def test_a_held_lock_is_waited_for_then_a_clear_error(output_dir: Path, postgres_database: str) -> None:
    with psycopg.connect(postgres_database, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (LOAD_LOCK_ID,))
        target = PostgreSQLTarget(postgres_database, lock_wait_seconds=0.5)
        with pytest.raises(WarehouseError, match=r"another load has held the load lock .* for more than 0.5 s"):
            load_partitions(str(output_dir), postgres_database, target=target)
    assert load_partitions(str(output_dir), postgres_database).partitions_loaded == [
        "year=2020/month=3",
        "year=2020/month=4",
    ]


def test_the_password_can_come_from_the_environment_not_the_url(
    output_dir: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A password-protected role; the URL names only the user, COVID_WAREHOUSE_PASSWORD carries the password."""
    import uuid

    role, password = f"loader_{uuid.uuid4().hex[:8]}", "pw-" + uuid.uuid4().hex
    database = f"db_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")  # type: ignore[arg-type]
        admin.execute(f"CREATE DATABASE {database} OWNER {role}")  # type: ignore[arg-type]
    host = postgres_url.split("@", 1)[1].rsplit("/", 1)[0]
    url = f"postgresql://{role}@{host}/{database}"
    monkeypatch.setenv("COVID_WAREHOUSE_PASSWORD", password)
    target = PostgreSQLTarget(url)
    target.connect()
    try:
        assert target.connection.execute("SELECT current_user").fetchone() == (role,)
        # The test server trusts loopback connections, so check what the client sent rather than a refusal.
        assert target.connection.info.password == password
    finally:
        target.close()


def test_the_lambdas_time_left_bounds_the_lock_wait(output_dir: Path, postgres_database: str) -> None:
    """load_job_run passes wait_seconds (its remaining time less a margin): a held lock ends in an error before it."""
    with psycopg.connect(postgres_database, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (LOAD_LOCK_ID,))
        with pytest.raises(WarehouseError, match=r"for more than 0.4 s"):
            load_partitions(str(output_dir), postgres_database, target_options={"wait_seconds": 0.4})
