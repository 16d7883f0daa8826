"""Hand-written job output for the warehouse tests: rows like the Glue job writes, as Parquet partitions.

Kept small and explicit so expected results in the tests are written down, not computed from the fixture.
"""

from __future__ import annotations

import datetime as dt
import socket
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

INJECTION_COUNTRY = "x'); DROP TABLE fact_covid_daily; --"

# The job's output schema as Spark writes it (partition columns are in the directory names, not in the files).
FILE_SCHEMA = pa.schema(
    [
        ("report_date", pa.date32()),
        ("country", pa.string()),
        ("iso3", pa.string()),
        ("province", pa.string()),
        ("admin2", pa.string()),
        ("fips", pa.string()),
        ("latitude", pa.float64()),
        ("longitude", pa.float64()),
        ("population", pa.int64()),
        ("confirmed", pa.int64()),
        ("deaths", pa.int64()),
        ("recovered", pa.int64()),
        ("active", pa.int64()),
        ("new_confirmed", pa.int64()),
        ("new_deaths", pa.int64()),
        ("case_fatality_rate", pa.float64()),
        ("incidence_per_100k", pa.float64()),
        ("last_update", pa.timestamp("us", tz="UTC")),
        ("source_file", pa.string()),
        ("schema_era", pa.string()),
        ("extra_fields", pa.map_(pa.string(), pa.string())),
    ]
)


def row(
    day: dt.date,
    country: str,
    confirmed: int,
    deaths: int,
    new_confirmed: int,
    new_deaths: int,
    province: str | None = None,
    admin2: str | None = None,
    **attributes: Any,
) -> dict[str, Any]:
    values: dict[str, Any] = {
        "report_date": day,
        "country": country,
        "province": province,
        "admin2": admin2,
        "confirmed": confirmed,
        "deaths": deaths,
        "new_confirmed": new_confirmed,
        "new_deaths": new_deaths,
        "last_update": dt.datetime(day.year, day.month, day.day, 23, 0, tzinfo=dt.UTC),
        "source_file": f"{day:%m-%d-%Y}.csv",
        "schema_era": "era3",
    }
    values.update(attributes)
    return values


def march_rows() -> list[dict[str, Any]]:
    d1, d2, d3 = dt.date(2020, 3, 1), dt.date(2020, 3, 2), dt.date(2020, 3, 3)
    italy = {"iso3": "ITA", "population": 60_000_000, "latitude": 41.9, "longitude": 12.6}
    hubei = {"iso3": "CHN", "population": 58_500_000}
    return [
        row(d1, "Italy", 1_000, 20, 100, 2, **italy),
        row(d2, "Italy", 1_200, 30, 200, 10, **italy),
        row(d3, "Italy", 1_500, 45, 300, 15, **italy),
        row(d1, "China", 60_000, 2_000, 500, 40, province="Hubei", **hubei),
        row(d2, "China", 60_400, 2_050, 400, 50, province="Hubei", **hubei),
        row(d3, "China", 60_700, 2_080, 300, 30, province="Hubei", **hubei),
        row(
            d3, "US", 10, 0, 10, 0, province="New York", admin2="Kings", fips="36047", iso3="USA", population=2_559_903
        ),
        row(d3, INJECTION_COUNTRY, 7, 1, 7, 1),
    ]


def april_rows() -> list[dict[str, Any]]:
    italy = {"iso3": "ITA", "population": 60_360_000, "latitude": 41.87194, "longitude": 12.56738}
    return [
        row(dt.date(2020, 4, 1), "Italy", 110_000, 13_000, 4_000, 800, **italy),
        row(dt.date(2020, 4, 2), "Italy", 115_000, 13_900, 5_000, 900, **italy),
    ]


def partition_table(rows: list[dict[str, Any]], schema: pa.Schema = FILE_SCHEMA) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=schema)


def write_partition(root: Path, year: int, month: int, rows: list[dict[str, Any]], part: str = "part-00000") -> Path:
    directory = root / f"year={year}" / f"month={month}"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{part}.snappy.parquet"
    pq.write_table(partition_table(rows), path, compression="snappy")
    return path


def write_job_output(root: Path) -> Path:
    """March and April 2020, plus the litter Spark leaves beside the data."""
    write_partition(root, 2020, 3, march_rows())
    write_partition(root, 2020, 4, april_rows())
    (root / "_SUCCESS").write_text("")
    (root / "year=2020" / "month=3" / ".part-00000.snappy.parquet.crc").write_bytes(b"crc")
    return root


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def upload_directory(s3: Any, root: Path, bucket: str, prefix: str) -> None:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            s3.upload_file(str(path), bucket, prefix + path.relative_to(root).as_posix())


# --- OWID: one row per country or aggregate and day, no province or county (the job's output schema all the same).
OWID_FILE = "owid/year=2020/month=08/day=14/owid-covid-data.csv.gz"


def owid_row(
    day: dt.date, country: str, iso3: str, confirmed: int, deaths: int, new_confirmed: int | None, population: int
) -> dict[str, Any]:
    return {
        "report_date": day,
        "country": country,
        "iso3": iso3,
        "population": population,
        "confirmed": confirmed,
        "deaths": deaths,
        "new_confirmed": new_confirmed,
        "new_deaths": None,
        "case_fatality_rate": round(deaths / confirmed * 100, 4),
        "incidence_per_100k": round(confirmed / population * 100_000, 4),
        "source_file": OWID_FILE,
        "schema_era": "owid_v2",
        "extra_fields": [("continent", "Europe"), ("new_cases_smoothed", "12.5")],
    }


def owid_march_rows() -> list[dict[str, Any]]:
    d1, d2 = dt.date(2020, 3, 1), dt.date(2020, 3, 2)
    return [
        owid_row(d1, "Andorra", "AND", 1, 0, None, 77_265),
        owid_row(d2, "Andorra", "AND", 2, 1, 1, 77_265),
        owid_row(d1, "World", "OWID_WRL", 88_000, 3_000, None, 7_794_798_729),
        owid_row(d2, "World", "OWID_WRL", 90_000, 3_100, 2_000, 7_794_798_729),
        owid_row(d2, INJECTION_COUNTRY, "XXX", 5, 1, None, 1_000),
    ]


def owid_april_rows() -> list[dict[str, Any]]:
    return [owid_row(dt.date(2020, 4, 1), "Andorra", "AND", 390, 14, 20, 77_265)]


def write_owid_output(root: Path) -> Path:
    write_partition(root, 2020, 3, owid_march_rows())
    write_partition(root, 2020, 4, owid_april_rows())
    (root / "_SUCCESS").write_text("")
    return root


def warehouse_query(url: str, statement: str) -> list[tuple]:
    """Rows of one query against a duckdb:// or postgresql:// warehouse (read-only for DuckDB)."""
    import duckdb
    import psycopg

    if url.startswith("duckdb://"):
        with duckdb.connect(url.removeprefix("duckdb://"), read_only=True) as connection:
            return connection.execute(statement).fetchall()
    with psycopg.connect(url) as connection:
        return connection.execute(statement).fetchall()  # type: ignore[arg-type]
