"""The warehouse's star schema: the job output it reads, the tables it writes and the business views.

Everything a SQL statement names (tables, columns) comes from the constants in this module, never from data, so
identifiers can be spliced into SQL text safely; every data value travels as a bound parameter, through COPY or
through an Arrow scan.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pyarrow as pa

from covid_pipeline.warehouse.base import WarehouseError

# --- the job's output (one row per location and report date; see issue 3) ---------------------------------------------
# Our own copy of the columns the loader needs, so the loader does not depend on the Glue job's code (the Lambda zip
# does not carry glue_job/). A unit test checks it against glue_job/schema_evolution.py when that module exists.
JOB_OUTPUT_COLUMNS: dict[str, pa.DataType] = {
    "report_date": pa.date32(),
    "country": pa.string(),
    "iso3": pa.string(),
    "province": pa.string(),
    "admin2": pa.string(),
    "fips": pa.string(),
    "latitude": pa.float64(),
    "longitude": pa.float64(),
    "population": pa.int64(),
    "confirmed": pa.int64(),
    "deaths": pa.int64(),
    "recovered": pa.int64(),
    "active": pa.int64(),
    "new_confirmed": pa.int64(),
    "new_deaths": pa.int64(),
    "case_fatality_rate": pa.float64(),
    "incidence_per_100k": pa.float64(),
    "last_update": pa.timestamp("us", tz="UTC"),
    "source_file": pa.string(),
    "schema_era": pa.string(),
    "year": pa.int32(),
    "month": pa.int32(),
}
# A partition without these cannot be loaded; every other column may be missing (it becomes null).
REQUIRED_JOB_COLUMNS = ("report_date", "country")
# The location's natural key: the job's output key is (report_date, *LOCATION_NATURAL_KEY).
LOCATION_NATURAL_KEY = ("country", "province", "admin2")
LOCATION_ATTRIBUTES = ("iso3", "fips", "latitude", "longitude", "population")

# --- the star schema --------------------------------------------------------------------------------------------------
# Logical column types; each target maps them to its own SQL types.
BIGINT, INTEGER, SMALLINT, DOUBLE, TEXT, DATE, TIMESTAMPTZ, BOOLEAN = (
    "bigint",
    "integer",
    "smallint",
    "double",
    "text",
    "date",
    "timestamptz",
    "boolean",
)


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[tuple[str, str], ...]
    primary_key: tuple[str, ...] = ()

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)


DIM_LOCATION = Table(
    "dim_location",
    (
        ("location_key", BIGINT),
        ("country", TEXT),
        ("iso3", TEXT),
        ("province", TEXT),
        ("admin2", TEXT),
        ("fips", TEXT),
        ("latitude", DOUBLE),
        ("longitude", DOUBLE),
        ("population", BIGINT),
        # Report date the attributes were taken from: the newest wins whatever order partitions load in.
        ("attributes_as_of", DATE),
    ),
    primary_key=("location_key",),
)
DIM_DATE = Table(
    "dim_date",
    (
        ("date_key", INTEGER),
        ("date", DATE),
        ("year", SMALLINT),
        ("quarter", SMALLINT),
        ("month", SMALLINT),
        ("day", SMALLINT),
        ("week", SMALLINT),
        ("day_of_week", SMALLINT),
        ("day_name", TEXT),
        ("month_name", TEXT),
        ("is_weekend", BOOLEAN),
    ),
    primary_key=("date_key",),
)
FACT_COVID_DAILY = Table(
    "fact_covid_daily",
    (
        ("date_key", INTEGER),
        ("location_key", BIGINT),
        ("confirmed", BIGINT),
        ("deaths", BIGINT),
        ("recovered", BIGINT),
        ("active", BIGINT),
        ("new_confirmed", BIGINT),
        ("new_deaths", BIGINT),
        ("case_fatality_rate", DOUBLE),
        ("incidence_per_100k", DOUBLE),
        ("last_update", TIMESTAMPTZ),
        ("source_file", TEXT),
        ("schema_era", TEXT),
        ("year", SMALLINT),
        ("month", SMALLINT),
    ),
)
LOAD_STATE = Table(
    "warehouse_load_state",
    (
        ("partition_key", TEXT),
        ("fingerprint", TEXT),
        ("source_uri", TEXT),
        ("object_count", INTEGER),
        ("row_count", BIGINT),
        ("loaded_at", TIMESTAMPTZ),
    ),
    primary_key=("partition_key",),
)
# OWID's output has the job's columns too, but one row per country (or OWID aggregate: World, continents, income
# groups, iso3 OWID_*) and day, no province or county: its facts are keyed by country and date, without dim_location.
FACT_OWID_DAILY = Table(
    "fact_owid_daily",
    (
        ("date_key", INTEGER),
        ("country", TEXT),
        ("iso3", TEXT),
        ("population", BIGINT),
        ("confirmed", BIGINT),
        ("deaths", BIGINT),
        ("new_confirmed", BIGINT),
        ("new_deaths", BIGINT),
        ("case_fatality_rate", DOUBLE),
        ("incidence_per_100k", DOUBLE),
        ("source_file", TEXT),
        ("schema_era", TEXT),
        ("year", SMALLINT),
        ("month", SMALLINT),
    ),
    primary_key=("date_key", "country"),
)
# Each source's partitions are fingerprinted in a table of their own, so the partition keys (year=/month=) of two
# sources never meet and a warehouse loaded before OWID existed needs no migration.
OWID_LOAD_STATE = Table("warehouse_load_state_owid", LOAD_STATE.columns, primary_key=LOAD_STATE.primary_key)


@dataclass(frozen=True)
class Dataset:
    """One job source's place in the warehouse: its fact table and its load-state table."""

    source: str
    fact: Table
    load_state: Table
    with_locations: bool  # facts keyed by dim_location (JHU) or by their own country column (OWID)


JHU_DAILY = Dataset("jhu_daily", FACT_COVID_DAILY, LOAD_STATE, with_locations=True)
OWID_DAILY = Dataset("owid", FACT_OWID_DAILY, OWID_LOAD_STATE, with_locations=False)
DATASETS = {dataset.source: dataset for dataset in (JHU_DAILY, OWID_DAILY)}


def dataset_for(source: str) -> Dataset:
    if source not in DATASETS:
        raise WarehouseError(f"source {source!r} has no place in the warehouse (known: {', '.join(DATASETS)})")
    return DATASETS[source]


TABLES = (DIM_LOCATION, DIM_DATE, FACT_COVID_DAILY, LOAD_STATE, FACT_OWID_DAILY, OWID_LOAD_STATE)
VIEW_NAMES = ("v_country_daily", "v_latest_by_country", "v_7day_avg")

# Arrow schemas of the rows the transform hands to every target (same order as the tables).
_ARROW_TYPES = {
    BIGINT: pa.int64(),
    INTEGER: pa.int32(),
    SMALLINT: pa.int16(),
    DOUBLE: pa.float64(),
    TEXT: pa.string(),
    DATE: pa.date32(),
    TIMESTAMPTZ: pa.timestamp("us", tz="UTC"),
    BOOLEAN: pa.bool_(),
}


def arrow_schema(table: Table) -> pa.Schema:
    return pa.schema([(name, _ARROW_TYPES[kind]) for name, kind in table.columns])


# --- location keys ----------------------------------------------------------------------------------------------------
# Deterministic surrogate keys: the first 15 hex digits (60 bits, always a positive BIGINT) of the MD5 of the natural
# key, so a reload computes the same key and no fact is orphaned. Redshift computes the same expression in SQL
# (STRTOL(LEFT(MD5(...), 15), 16)), so the separator and null marker must be characters every engine can spell.
KEY_SEPARATOR = "\x1f"  # ASCII unit separator
NULL_MARKER = "\x1e"  # ASCII record separator: a null part, distinct from an empty string


def location_key_text(country: str | None, province: str | None, admin2: str | None) -> str:
    return KEY_SEPARATOR.join(NULL_MARKER if part is None else part for part in (country, province, admin2))


def location_key(country: str | None, province: str | None, admin2: str | None) -> int:
    return location_key_from_text(location_key_text(country, province, admin2))


def location_key_from_text(key_text: str) -> int:
    digest = hashlib.md5(key_text.encode("utf-8"), usedforsecurity=False)
    return int(digest.hexdigest()[:15], 16)


def date_key(year: int, month: int, day: int) -> int:
    return year * 10000 + month * 100 + day


# --- views (ANSI SQL shared by every target; the 7-day window differs, see view_statements) ---------------------------
# A country's iso3 is its own row's (no province, no admin2) where there is one, else the one most of its locations
# have: US counties are USA, while its territories (VIR, PRI, ...) are provinces of "US" in the JHU data.
V_COUNTRY_DAILY = """
CREATE VIEW v_country_daily AS
WITH country_iso3 AS (
    SELECT country, iso3
    FROM (
        SELECT country,
               iso3,
               ROW_NUMBER() OVER (
                   PARTITION BY country
                   ORDER BY MAX(CASE WHEN province IS NULL AND admin2 IS NULL THEN 1 ELSE 0 END) DESC,
                            COUNT(*) DESC,
                            iso3
               ) AS rank_in_country
        FROM dim_location
        WHERE iso3 IS NOT NULL
        GROUP BY country, iso3
    ) ranked
    WHERE rank_in_country = 1
)
SELECT l.country,
       MAX(ci.iso3) AS iso3,
       d.date AS report_date,
       CAST(SUM(f.confirmed) AS BIGINT) AS confirmed,
       CAST(SUM(f.deaths) AS BIGINT) AS deaths,
       CAST(SUM(f.recovered) AS BIGINT) AS recovered,
       CAST(SUM(f.active) AS BIGINT) AS active,
       CAST(SUM(f.new_confirmed) AS BIGINT) AS new_confirmed,
       CAST(SUM(f.new_deaths) AS BIGINT) AS new_deaths,
       CAST(SUM(l.population) AS BIGINT) AS population,
       COUNT(*) AS locations_reporting
FROM fact_covid_daily f
JOIN dim_location l ON l.location_key = f.location_key
JOIN dim_date d ON d.date_key = f.date_key
LEFT JOIN country_iso3 ci ON ci.country = l.country
GROUP BY l.country, d.date
"""
V_LATEST_BY_COUNTRY = """
CREATE VIEW v_latest_by_country AS
SELECT c.country,
       c.iso3,
       c.report_date,
       c.confirmed,
       c.deaths,
       c.recovered,
       c.active,
       c.new_confirmed,
       c.new_deaths,
       c.population,
       CASE WHEN c.confirmed > 0 THEN CAST(c.deaths AS DOUBLE PRECISION) / c.confirmed END AS case_fatality_rate,
       CASE WHEN c.population > 0 THEN c.confirmed * 100000.0 / c.population END AS incidence_per_100k
FROM v_country_daily c
JOIN (SELECT country, MAX(report_date) AS report_date FROM v_country_daily GROUP BY country) latest
  ON latest.country = c.country AND latest.report_date = c.report_date
"""
# The window: the report date and the six days before it. RANGE over dates ignores gaps correctly; Redshift only
# supports ROWS frames (and no WINDOW clause), which equals it on the JHU country series (one row per country
# and day, no gaps).
V_7DAY_AVG = """
CREATE VIEW v_7day_avg AS
SELECT country,
       report_date,
       new_confirmed,
       new_deaths,
       AVG(CAST(new_confirmed AS DOUBLE PRECISION)) OVER (PARTITION BY country ORDER BY report_date {frame})
           AS new_confirmed_7day_avg,
       AVG(CAST(new_deaths AS DOUBLE PRECISION)) OVER (PARTITION BY country ORDER BY report_date {frame})
           AS new_deaths_7day_avg,
       COUNT(*) OVER (PARTITION BY country ORDER BY report_date {frame}) AS days_in_window
FROM v_country_daily
"""
RANGE_FRAME = "RANGE BETWEEN INTERVAL '6 days' PRECEDING AND CURRENT ROW"
ROWS_FRAME = "ROWS BETWEEN 6 PRECEDING AND CURRENT ROW"


def view_statements(frame: str = RANGE_FRAME) -> list[str]:
    """CREATE VIEW statements in dependency order (callers drop the views first, in reverse order)."""
    return [V_COUNTRY_DAILY.strip(), V_LATEST_BY_COUNTRY.strip(), V_7DAY_AVG.format(frame=frame).strip()]
