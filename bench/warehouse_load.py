"""Warehouse load throughput: the full JHU run's output (--job-output), or a synthetic one of the same size (1.67M
rows, 39 monthly partitions), loaded into DuckDB and into a throwaway PostgreSQL, each next to a baseline measured
in the same run.

    .venv/bin/python bench/warehouse_load.py [--rows-per-day 1460] [--days 1143] [--no-postgres] [--job-output DIR]

Baselines: DuckDB `CREATE TABLE AS SELECT * FROM read_parquet(...)` of the flat files (no star schema, no keys),
and PostgreSQL `COPY` of the flat rows into one table. Targets (issue 5): DuckDB < 5 s, PostgreSQL < 20 s on 2 cores.
Results go to bench/results/warehouse_load.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pa_dataset
import pyarrow.parquet as pq

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "src"))

from covid_pipeline.warehouse import load_partitions  # noqa: E402

FIRST_DAY = dt.date(2020, 1, 22)  # the JHU daily reports start here


def synthetic_output(root: Path, rows_per_day: int, days: int) -> int:
    """One row per location and day, written like the job writes it (snappy Parquet under year=/month=)."""
    rng = np.random.default_rng(20200122)
    location_ids = np.arange(rows_per_day)
    countries = np.array([f"Country {i % 190:03d}" for i in location_ids], dtype=object)
    provinces = np.array([None if i < 190 else f"Province {i // 190:03d}" for i in location_ids], dtype=object)
    admin2 = np.array([None if i < 1000 else f"County {i:05d}" for i in location_ids], dtype=object)
    fips = np.array([None if i < 1000 else f"{i:05d}" for i in location_ids], dtype=object)
    iso3 = np.array([f"C{i % 190:02d}" for i in location_ids], dtype=object)
    population = rng.integers(10_000, 50_000_000, rows_per_day)
    latitude, longitude = rng.uniform(-60, 70, rows_per_day), rng.uniform(-180, 180, rows_per_day)
    total = 0
    confirmed = np.zeros(rows_per_day, dtype=np.int64)
    deaths = np.zeros(rows_per_day, dtype=np.int64)
    month_batches: dict[tuple[int, int], list[pa.Table]] = {}
    for offset in range(days):
        day = FIRST_DAY + dt.timedelta(days=offset)
        new_confirmed = rng.poisson(50, rows_per_day)
        new_deaths = rng.poisson(1, rows_per_day)
        confirmed += new_confirmed
        deaths += new_deaths
        table = pa.table(
            {
                "report_date": pa.array(np.full(rows_per_day, np.datetime64(day, "D"))).cast(pa.date32()),
                "country": pa.array(countries, pa.string()),
                "iso3": pa.array(iso3, pa.string()),
                "province": pa.array(provinces, pa.string()),
                "admin2": pa.array(admin2, pa.string()),
                "fips": pa.array(fips, pa.string()),
                "latitude": latitude,
                "longitude": longitude,
                "population": population,
                "confirmed": confirmed.copy(),
                "deaths": deaths.copy(),
                "recovered": pa.nulls(rows_per_day, pa.int64()),
                "active": pa.nulls(rows_per_day, pa.int64()),
                "new_confirmed": new_confirmed.astype(np.int64),
                "new_deaths": new_deaths.astype(np.int64),
                "case_fatality_rate": deaths / np.maximum(confirmed, 1),
                "incidence_per_100k": confirmed * 100_000.0 / population,
                "last_update": pa.array(
                    np.full(rows_per_day, np.datetime64(dt.datetime(day.year, day.month, day.day, 23, 59), "us"))
                ).cast(pa.timestamp("us", tz="UTC")),
                "source_file": pa.array([f"{day:%m-%d-%Y}.csv"] * rows_per_day, pa.string()),
                "schema_era": pa.array(["era3"] * rows_per_day, pa.string()),
            }
        )
        month_batches.setdefault((day.year, day.month), []).append(table)
        total += rows_per_day
    for (year, month), tables in month_batches.items():
        directory = root / f"year={year}" / f"month={month}"
        directory.mkdir(parents=True)
        pq.write_table(pa.concat_tables(tables), directory / "part-00000.snappy.parquet", compression="snappy")
    return total


def timed(action: object, cpu: dict[str, float] | None = None, key: str = "") -> float:
    """Wall seconds of action(); with `cpu`, also records this process's CPU seconds (all threads) under key."""
    started, cpu_started = time.perf_counter(), time.process_time()
    action()  # type: ignore[operator]
    if cpu is not None:
        cpu[key] = time.process_time() - cpu_started
    return time.perf_counter() - started


def bench_duckdb(source: Path, work: Path) -> dict[str, float]:
    import duckdb

    def baseline() -> None:
        with duckdb.connect(str(work / "baseline.duckdb")) as connection:
            connection.execute(
                "CREATE TABLE flat AS SELECT * FROM read_parquet(?, hive_partitioning = true)",
                [str(source / "*" / "*" / "*.parquet")],
            )

    url = f"duckdb://{work / 'warehouse.duckdb'}"
    cpu: dict[str, float] = {}
    baseline_seconds = timed(baseline, cpu, "baseline_cpu_s")
    load_seconds = timed(lambda: load_partitions(str(source), url), cpu, "load_cpu_s")
    rerun_seconds = timed(lambda: load_partitions(str(source), url))
    return {"baseline_flat_ctas_s": baseline_seconds, "load_s": load_seconds, "rerun_noop_s": rerun_seconds, **cpu}


def server_cpu_seconds(postmaster_pid: int) -> float:
    """CPU seconds used so far by a PostgreSQL server: the postmaster, its live backends and those already exited
    (their time is added to the postmaster's children counters). Linux /proc only."""
    ticks = os.sysconf("SC_CLK_TCK")

    def stat(pid: int | str) -> list[str]:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()

    fields = stat(postmaster_pid)
    total = sum(int(value) for value in fields[11:15])  # utime, stime, cutime, cstime
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                child = stat(entry)
            except OSError:
                continue
            if int(child[1]) == postmaster_pid:  # ppid
                total += int(child[11]) + int(child[12])
    return total / ticks


def _plain(field: pa.Field) -> pa.Field:
    # the hive partition columns read back dictionary-encoded
    return field.with_type(field.type.value_type) if pa.types.is_dictionary(field.type) else field


def _postgres_type(data_type: pa.DataType) -> str:
    if pa.types.is_string(data_type):
        return "TEXT"
    if pa.types.is_floating(data_type):
        return "DOUBLE PRECISION"
    if pa.types.is_date(data_type):
        return "DATE"
    if pa.types.is_timestamp(data_type):
        return "TIMESTAMPTZ"
    return "BIGINT"


def bench_postgres(source: Path) -> dict[str, float] | None:
    import psycopg
    from psycopg.copy import QueuedLibpqWriter

    from covid_pipeline.warehouse.postgresql_target import csv_chunks
    from tests.pg import ThrowawayPostgres, find_postgres_bin

    bin_dir = find_postgres_bin()
    if bin_dir is None:
        print("PostgreSQL binaries not found: skipping PostgreSQL")
        return None
    server = ThrowawayPostgres(bin_dir, durable=True).start()  # default durability: what a real server does
    try:
        flat = pq.read_table(source, partitioning="hive")
        flat = flat.cast(pa.schema([_plain(field) for field in flat.schema]))
        # the job's extra_fields map has no CSV form: the flat baseline copies the other columns
        flat = flat.drop([field.name for field in flat.schema if pa.types.is_map(field.type)])

        def baseline() -> None:
            columns = ", ".join(f"{field.name} {_postgres_type(field.type)}" for field in flat.schema)
            with psycopg.connect(server.url) as connection, connection.cursor() as cursor:
                cursor.execute(f"CREATE TABLE flat ({columns})")  # type: ignore[arg-type]
                with cursor.copy("COPY flat FROM STDIN (FORMAT csv)", writer=QueuedLibpqWriter(cursor)) as copy:
                    for chunk in csv_chunks(flat):
                        copy.write(chunk)

        assert server.pid is not None
        cpu: dict[str, float] = {}  # the loader's own CPU, and the server's
        server_before = server_cpu_seconds(server.pid)
        baseline_seconds = timed(baseline, cpu, "baseline_client_cpu_s")
        time.sleep(0.5)  # let the exited backend's time reach the postmaster's counters
        server_after_baseline = server_cpu_seconds(server.pid)
        load_seconds = timed(lambda: load_partitions(str(source), server.url), cpu, "load_client_cpu_s")
        time.sleep(0.5)
        cpu["baseline_server_cpu_s"] = server_after_baseline - server_before
        cpu["load_server_cpu_s"] = server_cpu_seconds(server.pid) - server_after_baseline
        rerun_seconds = timed(lambda: load_partitions(str(source), server.url))
        return {"baseline_flat_copy_s": baseline_seconds, "load_s": load_seconds, "rerun_noop_s": rerun_seconds, **cpu}
    finally:
        server.stop()


TARGET_SECONDS = {"duckdb": 5.0, "postgresql": 20.0}  # issue 5, on 2 cores


def measure(
    rows_per_day: int = 1460, days: int = 1143, postgres: bool = True, job_output: Path | None = None
) -> dict[str, Any]:
    """Time both targets against their baselines on a job's real output, or on a synthetic one generated in a
    temporary directory."""
    work = Path(tempfile.mkdtemp(prefix="warehouse-bench-"))
    try:
        if job_output is not None:
            source, described = job_output, f"job output {job_output}"
            rows = pa_dataset.dataset(source, format="parquet", partitioning="hive").count_rows()  # from metadata
        else:
            source = work / "jhu_daily"
            started = time.perf_counter()
            rows = synthetic_output(source, rows_per_day, days)
            described = f"synthetic output ({time.perf_counter() - started:.1f} s to generate)"
        print(f"{described}: {rows:,} rows in {len(list(source.glob('*/*')))} partitions")
        measured: dict[str, Any] = {
            "source": "job output" if job_output is not None else "synthetic",
            "rows": rows,
            "cpu_count": os.cpu_count(),
            "machine": platform.machine(),
            "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            # other work on the machine inflates wall times: the 1-minute load average at the start says how much
            "load_average_at_start": os.getloadavg()[0],
            "duckdb": bench_duckdb(source, work),
        }
        if postgres:
            measured["postgresql"] = bench_postgres(source)
        return measured
    finally:
        shutil.rmtree(work, ignore_errors=True)


def as_results(measured: dict[str, Any]) -> list[Any]:
    """The figures as bench.harness Result rows (for the shared results table)."""
    from bench.harness import Result

    rows = []
    source = measured.get("source", "synthetic")
    for target, limit in TARGET_SECONDS.items():
        numbers = measured.get(target)
        if not isinstance(numbers, dict):
            continue
        baseline_name, baseline = next((k, v) for k, v in numbers.items() if k.startswith("baseline"))
        load_cpu = sum(v for k, v in numbers.items() if k.startswith("load_") and k.endswith("cpu_s"))
        rows.append(
            Result(
                benchmark=f"warehouse load into {target} ({measured['rows']:,} rows, {source})",
                metric="wall time",
                value=round(numbers["load_s"], 2),
                unit="s",
                baseline="flat " + ("CTAS" if "ctas" in baseline_name else "COPY") + " of the same files",
                baseline_value=round(baseline, 2),
                ratio=round(numbers["load_s"] / baseline, 2),
                target=f"< {limit:.0f} s",
                met=numbers["load_s"] < limit,
                notes=f"CPU {load_cpu:.1f} s; no-op re-run {numbers['rerun_noop_s']:.2f} s; "
                f"load average {measured['load_average_at_start']:.1f} at start",
            )
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows-per-day", type=int, default=1460)
    parser.add_argument("--days", type=int, default=1143)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--job-output", type=Path, help="load this job output (year=/month= Parquet) instead")
    args = parser.parse_args()

    measured = measure(args.rows_per_day, args.days, postgres=not args.no_postgres, job_output=args.job_output)
    rows = measured["rows"]
    for target, limit in TARGET_SECONDS.items():
        numbers = measured.get(target)
        if not isinstance(numbers, dict):
            continue
        baseline = next(v for k, v in numbers.items() if k.startswith("baseline"))
        load_cpu = sum(v for k, v in numbers.items() if k.startswith("load_") and k.endswith("cpu_s"))
        print(
            f"{target:10s} load {numbers['load_s']:6.2f} s ({rows / numbers['load_s'] / 1e6:.2f} M rows/s), "
            f"baseline {baseline:6.2f} s, ratio {numbers['load_s'] / baseline:.2f}x, "
            f"CPU {load_cpu:.2f} s, no-op re-run {numbers['rerun_noop_s']:.2f} s, target < {limit:.0f} s: "
            f"{'met' if numbers['load_s'] < limit else 'MISSED'}"
        )
    out = REPO_ROOT / "bench" / "results" / "warehouse_load.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(measured, indent=2) + "\n")
    print(f"wrote {out.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
