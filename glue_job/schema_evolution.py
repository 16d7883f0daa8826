"""Input schema eras -> one canonical raw shape, and the versioned output schema.

JHU CSSE changed its daily-report header five times (and OWID its wide CSV
once). Every known header name maps to one canonical field here; a header we
do not know is kept, not dropped: its values travel in `extra_fields` and the
name is reported as a new column. Everything in this module is pure: header
lists in, mappings and schemas out, no I/O (readers.to_canonical applies a mapping
to a DataFrame). It imports nothing of the job's: the CLI loads it from its file
as the output's schema contract (covid_pipeline/catalog_schema.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pyspark.sql import types as T

# Bump on any change of OUTPUT_SCHEMA; the catalog update and the warehouse loader read both.
SCHEMA_VERSION = "1.0.0"

PARTITION_COLUMNS = ("year", "month")

# The published columns, in order (partition columns last, as Spark writes them).
OUTPUT_SCHEMA = T.StructType(
    [
        T.StructField("report_date", T.DateType(), False),
        T.StructField("country", T.StringType(), False),
        T.StructField("iso3", T.StringType(), True),
        T.StructField("province", T.StringType(), True),
        T.StructField("admin2", T.StringType(), True),
        T.StructField("fips", T.StringType(), True),
        T.StructField("latitude", T.DoubleType(), True),
        T.StructField("longitude", T.DoubleType(), True),
        T.StructField("population", T.LongType(), True),
        T.StructField("confirmed", T.LongType(), True),
        T.StructField("deaths", T.LongType(), True),
        T.StructField("recovered", T.LongType(), True),
        T.StructField("active", T.LongType(), True),
        T.StructField("new_confirmed", T.LongType(), True),
        T.StructField("new_deaths", T.LongType(), True),
        T.StructField("case_fatality_rate", T.DoubleType(), True),
        T.StructField("incidence_per_100k", T.DoubleType(), True),
        T.StructField("last_update", T.TimestampType(), True),
        T.StructField("source_file", T.StringType(), False),
        T.StructField("schema_era", T.StringType(), False),
        T.StructField("extra_fields", T.MapType(T.StringType(), T.StringType()), True),
        T.StructField("year", T.IntegerType(), False),
        T.StructField("month", T.IntegerType(), False),
    ]
)

OUTPUT_COLUMNS = tuple(field.name for field in OUTPUT_SCHEMA.fields)

COLUMN_DOCS = {
    "report_date": "date the report describes (JHU: from the file name; OWID: the date column)",
    "country": "canonical country/region name (aliases resolved, blanks trimmed)",
    "iso3": "ISO 3166-1 alpha-3 code from the JHU UID lookup (OWID: iso_code)",
    "province": "province/state, null for country-level rows",
    "admin2": "US county, null elsewhere",
    "fips": "US FIPS code as digits (no padding), null elsewhere",
    "latitude": "decimal degrees",
    "longitude": "decimal degrees",
    "population": "population from the UID lookup (OWID: its population column)",
    "confirmed": "cumulative confirmed cases",
    "deaths": "cumulative deaths",
    "recovered": "cumulative recovered (often null)",
    "active": "active cases as published (may be negative: JHU derives it)",
    "new_confirmed": "confirmed minus the same location's confirmed on the previous calendar day; null without one",
    "new_deaths": "deaths minus the same location's deaths on the previous calendar day; null without one",
    "case_fatality_rate": "deaths / confirmed * 100, null when confirmed is 0 or null",
    "incidence_per_100k": "confirmed / population * 100000, null without population",
    "last_update": "source timestamp of the figures, UTC",
    "source_file": "input object the row came from, relative to the input path",
    "schema_era": "header era of the source file (jhu_v1..jhu_v5, owid_v1/owid_v2, or a generic label)",
    "extra_fields": "columns this schema version does not know, name -> raw text",
    "year": "partition: year of report_date",
    "month": "partition: month of report_date (1-12, no padding)",
}

# Canonical raw fields (all read as text, parsed later by utils.transformations).
RAW_FIELDS = (
    "province",
    "country",
    "last_update",
    "confirmed",
    "deaths",
    "recovered",
    "active",
    "latitude",
    "longitude",
    "fips",
    "admin2",
    "row_date",
    "iso3",
    "population",
)

# Header name (normalised by normalise_header_name) -> canonical raw field.
HEADER_ALIASES: dict[str, str] = {
    "province/state": "province",
    "province_state": "province",
    "province": "province",
    "state": "province",
    "country/region": "country",
    "country_region": "country",
    "country": "country",
    "location": "country",
    "last update": "last_update",
    "last_update": "last_update",
    "confirmed": "confirmed",
    "total_cases": "confirmed",
    "deaths": "deaths",
    "total_deaths": "deaths",
    "recovered": "recovered",
    "active": "active",
    "latitude": "latitude",
    "lat": "latitude",
    "longitude": "longitude",
    "long_": "longitude",
    "long": "longitude",
    "fips": "fips",
    "admin2": "admin2",
    "date": "row_date",
    "report_date": "row_date",
    "iso_code": "iso3",
    "iso3": "iso3",
    "population": "population",
}

# Known columns we deliberately do not carry (derivable, recomputed, or published rates we recompute).
IGNORED_HEADERS = frozenset(
    {"combined_key", "incidence_rate", "incident_rate", "case-fatality_ratio", "case_fatality_ratio", "uid"}
)

# OWID's many indicator columns are known, not "new": they go to extra_fields without being reported as new.
OWID_KNOWN_EXTRA = frozenset(
    {
        "continent",
        "new_cases",
        "new_cases_smoothed",
        "new_deaths",
        "new_deaths_smoothed",
        "total_cases_per_million",
        "new_cases_per_million",
        "new_cases_smoothed_per_million",
        "total_deaths_per_million",
        "new_deaths_per_million",
        "new_deaths_smoothed_per_million",
        "reproduction_rate",
        "icu_patients",
        "icu_patients_per_million",
        "hosp_patients",
        "hosp_patients_per_million",
        "weekly_icu_admissions",
        "weekly_icu_admissions_per_million",
        "weekly_hosp_admissions",
        "weekly_hosp_admissions_per_million",
        "new_tests",
        "total_tests",
        "total_tests_per_thousand",
        "new_tests_per_thousand",
        "new_tests_smoothed",
        "new_tests_smoothed_per_thousand",
        "positive_rate",
        "tests_per_case",
        "tests_units",
        "total_vaccinations",
        "people_vaccinated",
        "people_fully_vaccinated",
        "new_vaccinations",
        "new_vaccinations_smoothed",
        "total_vaccinations_per_hundred",
        "people_vaccinated_per_hundred",
        "people_fully_vaccinated_per_hundred",
        "new_vaccinations_smoothed_per_million",
        "stringency_index",
        "population_density",
        "median_age",
        "aged_65_older",
        "aged_70_older",
        "gdp_per_capita",
        "extreme_poverty",
        "cardiovasc_death_rate",
        "diabetes_prevalence",
        "female_smokers",
        "male_smokers",
        "handwashing_facilities",
        "hospital_beds_per_thousand",
        "life_expectancy",
        "human_development_index",
    }
)

# Without these a row cannot be placed: a file lacking any of them is quarantined as a file.
REQUIRED_FIELDS = {
    "jhu_daily": ("country", "confirmed"),
    "owid": ("country", "row_date"),
}

# The JHU header eras in publication order, as canonical field tuples (README of the data folder).
_JHU_V3 = (
    "fips",
    "admin2",
    "province",
    "country",
    "last_update",
    "latitude",
    "longitude",
    "confirmed",
    "deaths",
    "recovered",
    "active",
)
JHU_ERAS: dict[str, tuple[str, ...]] = {
    "jhu_v1": ("province", "country", "last_update", "confirmed", "deaths", "recovered"),
    "jhu_v2": ("province", "country", "last_update", "confirmed", "deaths", "recovered", "latitude", "longitude"),
    "jhu_v3": _JHU_V3,
    "jhu_v4": _JHU_V3,  # + Incidence_Rate, Case-Fatality_Ratio
    "jhu_v5": _JHU_V3,  # + Incident_Rate, Case_Fatality_Ratio
}


def normalise_header_name(name: str) -> str:
    """Header text as matched against HEADER_ALIASES: BOM, quotes and blanks removed, lower case."""
    return name.replace("\ufeff", "").strip().strip('"').strip().lower()


def safe_column_name(name: str, position: int) -> str:
    """A Spark-safe unique column name for a raw header (raw names may contain '/', '-', ' ' or repeat)."""
    cleaned = re.sub(r"[^0-9a-zA-Z_]", "_", normalise_header_name(name)) or "column"
    return f"c{position}_{cleaned}"


@dataclass(frozen=True)
class HeaderMapping:
    """How one file's header maps onto the canonical raw fields."""

    header: tuple[str, ...]  # normalised header names, file order
    era: str
    field_for_position: tuple[str | None, ...]  # canonical field per position, None = extra or ignored
    extra_names: tuple[str, ...]  # unknown or kept-as-extra header names (in extra_fields)
    new_columns: tuple[str, ...]  # header names this schema version has never seen
    missing_required: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.missing_required


def detect_era(header: tuple[str, ...], source: str) -> str:
    """Name the header era; 'generic' for a layout we map by names only (other order, JSON, Parquet)."""
    names = set(header)
    if source == "owid":
        return "owid_v2" if "new_cases_smoothed" in names else "owid_v1"
    if "case_fatality_ratio" in names or "incident_rate" in names:
        return "jhu_v5"
    if "case-fatality_ratio" in names or "incidence_rate" in names:
        return "jhu_v4"
    if "province_state" in names or "country_region" in names:
        return "jhu_v3"
    if "latitude" in names:
        return "jhu_v2"
    if "province/state" in names or "country/region" in names:
        return "jhu_v1"
    return "generic"


def map_header(raw_header: list[str] | tuple[str, ...], source: str) -> HeaderMapping:
    """Map a header onto canonical fields; unknown names become extras, duplicates of a field keep the first."""
    header = tuple(normalise_header_name(name) for name in raw_header)
    fields: list[str | None] = []
    extras: list[str] = []
    new_columns: list[str] = []
    seen: set[str] = set()
    for name in header:
        field = HEADER_ALIASES.get(name)
        if field is not None and field not in seen:
            seen.add(field)
            fields.append(field)
            continue
        fields.append(None)
        if name in IGNORED_HEADERS or not name:
            continue
        extras.append(name)
        if not (source == "owid" and name in OWID_KNOWN_EXTRA):
            new_columns.append(name)
    missing = tuple(field for field in REQUIRED_FIELDS.get(source, ("country",)) if field not in seen)
    return HeaderMapping(
        header=header,
        era=detect_era(header, source),
        field_for_position=tuple(fields),
        extra_names=tuple(extras),
        new_columns=tuple(new_columns),
        missing_required=missing,
    )


def read_column_names(raw_header: list[str] | tuple[str, ...]) -> list[str]:
    """Field names for a CSV read: the header's own text (so Spark's header check stays quiet), made unique."""
    names: list[str] = []
    for i, name in enumerate(raw_header):
        cleaned = name.replace("\ufeff", "")
        names.append(cleaned if cleaned and cleaned not in names else safe_column_name(name, i))
    return names


def raw_read_schema(raw_header: list[str] | tuple[str, ...]) -> T.StructType:
    """All-text schema in the file's column order, for a multi-file CSV read with the header skipped."""
    return T.StructType([T.StructField(name, T.StringType(), True) for name in read_column_names(raw_header)])
