"""The DuckDB equivalent of the Glue job's transform, as the baseline its speed is judged against.

Same work on the same files: one CSV read per header layout with explicit
text columns -> canonical columns -> row classification (the job's quarantine
rules) -> country aliases -> dedup per (report_date, country, province, admin2)
-> UID lookup join -> calendar-day deltas -> rates -> Parquet (snappy)
partitioned by year/month, plus the quarantined rows. Uses 2 threads.

    python bench/duckdb_baseline.py <input_dir> <lookup.csv> <output_dir>
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

import duckdb

GLUE_JOB = Path(__file__).resolve().parents[1] / "glue_job"
sys.path.insert(0, str(GLUE_JOB))

import schema_evolution  # noqa: E402
from utils.transformations import COUNTRY_ALIASES  # noqa: E402

NAME_DATE = re.compile(r"(\d{2})-(\d{2})-(\d{4})")


def read_header(path: Path) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
        return next(csv.reader(io.StringIO(handle.readline())))


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def run(input_dir: Path, lookup: Path, output_dir: Path, threads: int = 2) -> dict[str, float | int]:
    started = time.perf_counter()
    files = sorted(p for p in input_dir.iterdir() if p.name.endswith((".csv", ".csv.gz")) and NAME_DATE.search(p.name))
    groups: dict[tuple[str, ...], list[Path]] = defaultdict(list)
    for path in files:
        groups[tuple(read_header(path))].append(path)
    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    selects = []
    for header, paths in groups.items():
        mapping = schema_evolution.map_header(list(header), "jhu_daily")
        names = [f"c{i}" for i in range(len(header))]
        columns = "{" + ", ".join(f"'{n}': 'VARCHAR'" for n in names) + "}"
        by_field = {field: names[i] for i, field in enumerate(mapping.field_for_position) if field}
        projection = ", ".join(
            f"{by_field[field]} AS {field}" if field in by_field else f"NULL::VARCHAR AS {field}"
            for field in (
                *("province", "country", "admin2", "fips", "last_update", "latitude", "longitude"),
                *("confirmed", "deaths", "recovered", "active"),
            )
        )
        file_list = "[" + ", ".join(_sql_text(str(p)) for p in paths) + "]"
        selects.append(
            f"SELECT {projection}, {_sql_text(mapping.era)} AS schema_era, filename FROM read_csv({file_list}, "
            f"header=true, columns={columns}, quote='\"', auto_detect=false, filename=true, all_varchar=true)"
        )
    aliases = ", ".join(f"({_sql_text(k)}, {_sql_text(v)})" for k, v in COUNTRY_ALIASES.items())
    con.execute(f"CREATE TEMP TABLE aliases(alias VARCHAR, name VARCHAR); INSERT INTO aliases VALUES {aliases}")
    con.execute(f"CREATE TEMP VIEW raw AS {' UNION ALL BY NAME '.join(selects)}")
    integral = r"^[+-]?[0-9]+(\.0*)?$"
    number = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
    counts = ("confirmed", "deaths", "recovered", "active")
    numeric = (*counts, "latitude", "longitude")

    def text(c: str) -> str:
        return f"NULLIF(trim({c}), '')"

    def count(c: str) -> str:
        return f"CASE WHEN regexp_matches({text(c)}, '{integral}') THEN CAST(CAST({text(c)} AS DOUBLE) AS BIGINT) END"

    unparseable = " OR ".join(f"({text(c)} IS NOT NULL AND NOT regexp_matches({text(c)}, '{number}'))" for c in numeric)
    non_integer = " OR ".join(f"({text(c)} IS NOT NULL AND {count(c)} IS NULL)" for c in counts)
    negative = " OR ".join(f"{count(c)} < 0" for c in ("confirmed", "deaths", "recovered"))
    last_update = (
        f"COALESCE(TRY_STRPTIME({text('last_update')}, ['%m/%d/%Y %H:%M', '%m/%d/%y %H:%M', '%m/%d/%Y %H:%M:%S', "
        f"'%m/%d/%y %H:%M:%S']), TRY_CAST({text('last_update')} AS TIMESTAMP))"
    )
    con.execute(
        f"""
        CREATE TEMP TABLE classified AS
        SELECT *,
          strptime(regexp_extract(filename, '(\\d{{2}}-\\d{{2}}-\\d{{4}})', 1), '%m-%d-%Y')::DATE AS report_date,
          CASE
            WHEN {text("country")} IS NULL THEN 'missing_country'
            WHEN {unparseable} THEN 'unparseable_number'
            WHEN {non_integer} THEN 'non_integer_count'
            WHEN {negative} THEN 'negative_count'
            WHEN abs(TRY_CAST({text("latitude")} AS DOUBLE)) > 90
              OR abs(TRY_CAST({text("longitude")} AS DOUBLE)) > 180 THEN 'invalid_coordinates'
            WHEN {text("last_update")} IS NOT NULL AND {last_update} IS NULL THEN 'bad_last_update'
          END AS quarantine_reason
        FROM raw
        """
    )
    con.execute(
        f"""
        CREATE TEMP TABLE typed AS
        SELECT report_date,
          COALESCE(a.name, {text("country")}) AS country,
          {text("province")} AS province, {text("admin2")} AS admin2,
          NULLIF(regexp_extract({text("fips")}, '^([0-9]+)', 1), '') AS fips,
          TRY_CAST({text("latitude")} AS DOUBLE) AS latitude, TRY_CAST({text("longitude")} AS DOUBLE) AS longitude,
          {", ".join(f"{count(c)} AS {c}" for c in counts)},
          {last_update} AS last_update, filename AS source_file, schema_era
        FROM classified LEFT JOIN aliases a ON a.alias = {text("country")}
        WHERE quarantine_reason IS NULL
        """
    )
    con.execute(
        f"""
        CREATE TEMP TABLE lookup AS
        SELECT DISTINCT ON (Country_Region, coalesce(Province_State, ''), coalesce(Admin2, ''))
          trim(Country_Region) AS lk_country, coalesce(trim(Province_State), '') AS lk_province,
          coalesce(trim(Admin2), '') AS lk_admin2, iso3 AS lk_iso3,
          NULLIF(regexp_extract(CAST(FIPS AS VARCHAR), '^([0-9]+)', 1), '') AS lk_fips,
          TRY_CAST(Population AS BIGINT) AS lk_population, TRY_CAST(Lat AS DOUBLE) AS lk_lat,
          TRY_CAST(Long_ AS DOUBLE) AS lk_long
        FROM read_csv({_sql_text(str(lookup))}, header=true, all_varchar=true)
        """
    )
    output_dir.mkdir(parents=True, exist_ok=True)
    con.execute(
        f"""
        COPY (
          WITH ranked AS (
            SELECT *, row_number() OVER (
                PARTITION BY report_date, country, province, admin2
                ORDER BY last_update DESC NULLS LAST, confirmed DESC NULLS LAST, deaths DESC NULLS LAST,
                         recovered DESC NULLS LAST, active DESC NULLS LAST, hash(source_file, fips) DESC) AS rn
            FROM typed),
          winners AS (SELECT * EXCLUDE (rn) FROM ranked WHERE rn = 1),
          enriched AS (
            SELECT w.report_date, w.country, COALESCE(l.lk_iso3, c.lk_iso3) AS iso3, w.province, w.admin2,
              COALESCE(w.fips, l.lk_fips) AS fips, COALESCE(w.latitude, l.lk_lat) AS latitude,
              COALESCE(w.longitude, l.lk_long) AS longitude, l.lk_population AS population,
              w.confirmed, w.deaths, w.recovered, w.active, w.last_update, w.source_file, w.schema_era
            FROM winners w
            LEFT JOIN lookup l ON l.lk_country = w.country AND l.lk_province = coalesce(w.province, '')
              AND l.lk_admin2 = coalesce(w.admin2, '')
            LEFT JOIN lookup c ON c.lk_country = w.country AND c.lk_province = '' AND c.lk_admin2 = ''),
          derived AS (
            SELECT *,
              lag(report_date) OVER loc AS prev_date, lag(confirmed) OVER loc AS prev_confirmed,
              lag(deaths) OVER loc AS prev_deaths
            FROM enriched WINDOW loc AS (PARTITION BY country, province, admin2 ORDER BY report_date))
          SELECT report_date, country, iso3, province, admin2, fips, latitude, longitude, population,
            confirmed, deaths, recovered, active,
            CASE WHEN prev_date = report_date - 1 THEN confirmed - prev_confirmed END AS new_confirmed,
            CASE WHEN prev_date = report_date - 1 THEN deaths - prev_deaths END AS new_deaths,
            CASE WHEN confirmed > 0 THEN deaths * 100.0 / confirmed END AS case_fatality_rate,
            CASE WHEN population > 0 THEN confirmed * 100000.0 / population END AS incidence_per_100k,
            last_update, source_file, schema_era,
            year(report_date)::INTEGER AS year, month(report_date)::INTEGER AS month
          FROM derived
        ) TO {_sql_text(str(output_dir / "output"))}
          (FORMAT PARQUET, COMPRESSION SNAPPY, PARTITION_BY (year, month), OVERWRITE_OR_IGNORE)
        """
    )
    con.execute(
        f"COPY (SELECT * FROM classified WHERE quarantine_reason IS NOT NULL) TO "
        f"{_sql_text(str(output_dir / 'quarantine.parquet'))} (FORMAT PARQUET)"
    )
    rows_in = con.execute("SELECT count(*) FROM classified").fetchone()[0]  # type: ignore[index]
    rows_quarantined = con.execute("SELECT count(*) FROM classified WHERE quarantine_reason IS NOT NULL").fetchone()[0]  # type: ignore[index]
    rows_out = con.execute(
        f"SELECT count(*) FROM read_parquet({_sql_text(str(output_dir / 'output' / '**' / '*.parquet'))})"
    ).fetchone()[0]  # type: ignore[index]
    return {
        "seconds": round(time.perf_counter() - started, 3),
        "files": len(files),
        "rows_in": rows_in,
        "rows_out": rows_out,
        "rows_quarantined": rows_quarantined,
        "rows_duplicate": rows_in - rows_out - rows_quarantined,
    }


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    print(json.dumps(run(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))))
