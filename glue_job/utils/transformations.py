"""Pure DataFrame -> DataFrame steps of the job: classify, type, deduplicate, enrich, derive, shape.

Input of `classify_rows` is the canonical raw frame (schema_evolution.RAW_FIELDS
as text, plus extra_fields, schema_era, source_file, file_date, file_rank and
an optional _corrupt_record). Raw text is kept until a row is known to be good
so that quarantined rows carry exactly what the file said.
No Python UDFs: every step is a Spark expression.
"""

from __future__ import annotations

from functools import reduce

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T
from schema_evolution import OUTPUT_COLUMNS

# Names JHU (and OWID) used for the same place over time -> the name the UID lookup uses.
COUNTRY_ALIASES: dict[str, str] = {
    "Mainland China": "China",
    "South Korea": "Korea, South",
    "Republic of Korea": "Korea, South",
    "Korea, Rep.": "Korea, South",
    "UK": "United Kingdom",
    "North Ireland": "United Kingdom",
    "Czech Republic": "Czechia",
    "Iran (Islamic Republic of)": "Iran",
    "Bahamas, The": "Bahamas",
    "The Bahamas": "Bahamas",
    "Gambia, The": "Gambia",
    "The Gambia": "Gambia",
    "Cape Verde": "Cabo Verde",
    "East Timor": "Timor-Leste",
    "Timor": "Timor-Leste",
    "Ivory Coast": "Cote d'Ivoire",
    "Vatican City": "Holy See",
    "Vatican": "Holy See",
    "Republic of Ireland": "Ireland",
    "Republic of Moldova": "Moldova",
    "Russian Federation": "Russia",
    "Viet Nam": "Vietnam",
    "Taiwan": "Taiwan*",
    "Taipei and environs": "Taiwan*",
    "occupied Palestinian territory": "West Bank and Gaza",
    "Palestine": "West Bank and Gaza",
    "Republic of the Congo": "Congo (Brazzaville)",
    "Congo": "Congo (Brazzaville)",
    "Democratic Republic of Congo": "Congo (Kinshasa)",
    "Hong Kong SAR": "Hong Kong",
    "Macao SAR": "Macau",
    "St. Martin": "Saint Martin",
    "United States": "US",
    "Myanmar": "Burma",
    "Micronesia (country)": "Micronesia",
}

COUNT_FIELDS = ("confirmed", "deaths", "recovered", "active")
CUMULATIVE_FIELDS = ("confirmed", "deaths", "recovered")
LOCATION_KEY = ("country", "province", "admin2")
DEDUP_KEY = ("report_date", *LOCATION_KEY)

# Order of checks = precedence: a row gets the first reason that applies.
QUARANTINE_REASONS = (
    "malformed_row",
    "invalid_encoding",
    "missing_country",
    "bad_date",
    "unparseable_number",
    "non_integer_count",
    "negative_count",
    "invalid_coordinates",
    "bad_last_update",
)


# What Java's \s matches, plus the no-break space some files carry.
_BLANKS = " \t\n\u000b\f\r\u00a0"


def clean_text(column: Column | str) -> Column:
    """Trim blanks (spaces, tabs, no-break spaces); empty becomes null.

    TRIM(BOTH <set> FROM x) needs no regex: this runs for every text field of every row, and Spark inlines
    it wherever a parsed column is used, so it has to stay cheap.
    """
    col = F.col(column) if isinstance(column, str) else column
    trimmed = F.btrim(col, F.lit(_BLANKS))
    return F.when(trimmed != "", trimmed)


def canonical_country(column: Column | str) -> Column:
    name = clean_text(column)
    aliases = F.create_map(*[F.lit(x) for pair in COUNTRY_ALIASES.items() for x in pair])
    return F.coalesce(aliases[name], name)


def _as_double(text: Column) -> Column:
    """Spark's own string -> double cast (no regex); NaN and infinities count as unparseable."""
    value = text.cast(T.DoubleType())
    return F.when(~F.isnan(value) & (F.abs(value) != float("inf")), value)


def parse_count(column: Column | str) -> Column:
    """Integral text ('28', '28.0', ' 28 ') -> long; anything else -> null (classify_rows says why)."""
    value = _as_double(clean_text(column))
    return F.when(value == F.floor(value), value.cast(T.LongType()))


def parse_double(column: Column | str) -> Column:
    return _as_double(clean_text(column))


def parse_last_update(column: Column | str) -> Column:
    """Every Last Update format in the data, as UTC (the session time zone is UTC).

    US-style M/d/yyyy and M/d/yy (with or without seconds) need patterns; ISO forms parse by cast.
    A 4-digit-year pattern never accepts a 2-digit year and vice versa, so the first match is right.
    """
    text = clean_text(column)
    us_style = F.coalesce(
        F.to_timestamp(text, "M/d/yyyy H:mm"),
        F.to_timestamp(text, "M/d/yy H:mm"),
        F.to_timestamp(text, "M/d/yyyy H:mm:ss"),
        F.to_timestamp(text, "M/d/yy H:mm:ss"),
    )
    return F.when(text.contains("/"), us_style).otherwise(text.cast(T.TimestampType()))


def parse_report_date(row_date: Column | str, file_date: Column | str) -> Column:
    """The file name's date when it has one (JHU), else the row's own ISO date (OWID)."""
    own = clean_text(row_date)
    parsed = F.when(own.rlike(r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}"), F.to_date(F.substring(own, 1, 10)))
    return F.coalesce(F.col(file_date) if isinstance(file_date, str) else file_date, parsed)


PARSED_PREFIX = "p_"
_TEXT_FIELDS = ("province", "admin2", "iso3")
_NUMERIC_FIELDS = (*COUNT_FIELDS, "latitude", "longitude", "population")


_KEPT_PARSED = (
    "country",
    *_TEXT_FIELDS,
    "fips_text",
    "latitude_double",
    "longitude_double",
    *COUNT_FIELDS,
    "population",
    "last_update",
)


def _p(name: str) -> Column:
    return F.col(PARSED_PREFIX + name)


def classify_rows(df: DataFrame) -> DataFrame:
    """Parse every raw field once (p_* columns), then add report_date and quarantine_reason (null = good row).

    The raw text columns stay as they are, so a quarantined row carries exactly what the file said.
    """
    corrupt = F.col("_corrupt_record").isNotNull() if "_corrupt_record" in df.columns else F.lit(False)
    raw_text = [F.col(c) for c in ("province", "country", "admin2", "last_update", "fips", *_NUMERIC_FIELDS)]
    parsed = df.select(
        "*",
        parse_report_date("row_date", "file_date").alias("report_date"),
        canonical_country("country").alias(PARSED_PREFIX + "country"),
        *[clean_text(c).alias(PARSED_PREFIX + c) for c in _TEXT_FIELDS],
        clean_text("fips").alias(PARSED_PREFIX + "fips_text"),
        *[clean_text(c).alias(PARSED_PREFIX + c + "_text") for c in _NUMERIC_FIELDS],
        clean_text("last_update").alias(PARSED_PREFIX + "last_update_text"),
        # One search per field: concatenating the fields first copied every row's text once more (about 4 s of a
        # fresh full refresh's read, mostly in the JIT).
        F.coalesce(_any([c.contains("\ufffd") for c in raw_text]), F.lit(False)).alias(PARSED_PREFIX + "bad_encoding"),
        corrupt.alias(PARSED_PREFIX + "corrupt"),
    )
    parsed = parsed.select(
        "*",
        *[_as_double(_p(c + "_text")).alias(PARSED_PREFIX + c + "_double") for c in _NUMERIC_FIELDS],
        parse_last_update(_p("last_update_text")).alias(PARSED_PREFIX + "last_update"),
    )
    parsed = parsed.select(
        "*",
        *[
            F.when(_p(c + "_double") == F.floor(_p(c + "_double")), _p(c + "_double").cast(T.LongType())).alias(
                PARSED_PREFIX + c
            )
            for c in (*COUNT_FIELDS, "population")
        ],
    )
    unparseable = _any([_p(c + "_text").isNotNull() & _p(c + "_double").isNull() for c in _NUMERIC_FIELDS])
    non_integer = _any([_p(c + "_double").isNotNull() & _p(c).isNull() for c in (*COUNT_FIELDS, "population")])
    negative = _any([_p(c) < 0 for c in CUMULATIVE_FIELDS])
    bad_coordinates = (F.abs(_p("latitude_double")) > 90) | (F.abs(_p("longitude_double")) > 180)
    checks = [
        ("malformed_row", _p("corrupt")),
        ("invalid_encoding", _p("bad_encoding")),
        ("missing_country", _p("country").isNull()),
        ("bad_date", F.col("report_date").isNull()),
        ("unparseable_number", unparseable),
        ("non_integer_count", non_integer),
        ("negative_count", F.coalesce(negative, F.lit(False))),
        ("invalid_coordinates", F.coalesce(bad_coordinates, F.lit(False))),
        ("bad_last_update", _p("last_update_text").isNotNull() & _p("last_update").isNull()),
    ]
    reason: Column = F.lit(None).cast(T.StringType())
    for name, condition in reversed(checks):
        reason = F.when(condition, F.lit(name)).otherwise(reason)
    # Keep only what later steps read: the frame is cached, and every column costs memory.
    return parsed.select(*df.columns, "report_date", *[_p(c) for c in _KEPT_PARSED], reason.alias("quarantine_reason"))


def raw_columns(df: DataFrame) -> list[str]:
    """The columns of a classified frame that came from the file (what the quarantine keeps)."""
    return [c for c in df.columns if not c.startswith(PARSED_PREFIX) and c not in ("file_rank", "in_scope")]


def _any(conditions: list[Column]) -> Column:
    return reduce(lambda a, b: a | b, conditions) if conditions else F.lit(False)


def type_rows(df: DataFrame) -> DataFrame:
    """Good classified rows -> typed canonical columns (names resolved, numbers parsed, timestamps in UTC)."""
    fips_text = _p("fips_text")
    extra = F.col("extra_fields")
    fips = F.coalesce(F.regexp_extract(fips_text, r"^([0-9]+)(\.0*)?$", 1), fips_text)
    return df.select(
        "report_date",
        _p("country").alias("country"),
        _p("iso3").alias("iso3"),
        _p("province").alias("province"),
        _p("admin2").alias("admin2"),
        F.when(fips != "", fips).alias("fips"),
        _p("latitude_double").alias("latitude"),
        _p("longitude_double").alias("longitude"),
        _p("population").alias("population"),
        *[_p(c).alias(c) for c in COUNT_FIELDS],
        _p("last_update").alias("last_update"),
        "source_file",
        "schema_era",
        F.when(F.size(extra) > 0, extra).alias("extra_fields"),
        "file_rank",
        *[c for c in ("in_scope",) if c in df.columns],
    )


def location_partitioned(df: DataFrame) -> DataFrame:
    """One shuffle by location serves both the dedup and the delta windows (their keys start with it)."""
    return df.repartition(*LOCATION_KEY)


def mark_duplicates(df: DataFrame) -> DataFrame:
    """Add is_duplicate, and on winners `duplicates` (how many lost): one winner per dedup key.

    Winner: the newest file (file_rank), then the latest last_update, then the largest counts, then a
    content hash, so the choice never depends on read order or partitioning.
    """
    # Spark hashes no maps: extra_fields is hashed as its keys and values (as cheap as the rest; JSON text per row
    # was not).
    extra = F.col("extra_fields")
    content = F.xxhash64(*[F.col(c) for c in df.columns if c != "extra_fields"], F.map_keys(extra), F.map_values(extra))
    window = Window.partitionBy(*LOCATION_KEY, "report_date").orderBy(
        F.col("file_rank").desc_nulls_last(),
        F.col("last_update").desc_nulls_last(),
        *[F.col(c).desc_nulls_last() for c in COUNT_FIELDS],
        content.desc(),
    )
    key_window = Window.partitionBy(*LOCATION_KEY, "report_date")
    # The rank is materialised once: used twice as an expression, Spark would sort and rank twice.
    ranked = df.withColumn("_rank", F.row_number().over(window)).withColumn(
        "_key_rows", F.count(F.lit(1)).over(key_window)
    )
    return ranked.select(
        *df.columns,
        (F.col("_rank") > 1).alias("is_duplicate"),
        F.when(F.col("_rank") == 1, F.col("_key_rows") - 1).alias("duplicates"),
    )


def prepare_lookup(uid_lookup: DataFrame) -> tuple[DataFrame, DataFrame]:
    """The JHU UID table -> (exact location lookup, country-level iso3 lookup), both with text keys."""
    exact = uid_lookup.select(
        clean_text("Country_Region").alias("lk_country"),
        F.coalesce(clean_text("Province_State"), F.lit("")).alias("lk_province"),
        F.coalesce(clean_text("Admin2"), F.lit("")).alias("lk_admin2"),
        clean_text("iso3").alias("lk_iso3"),
        F.regexp_extract(clean_text("FIPS"), r"^([0-9]+)", 1).alias("lk_fips"),
        parse_count("Population").alias("lk_population"),
        parse_double("Lat").alias("lk_latitude"),
        parse_double("Long_").alias("lk_longitude"),
    ).dropDuplicates(["lk_country", "lk_province", "lk_admin2"])
    country_level = (
        exact.where((F.col("lk_province") == "") & (F.col("lk_admin2") == ""))
        .select(F.col("lk_country").alias("lc_country"), F.col("lk_iso3").alias("lc_iso3"))
        .dropDuplicates(["lc_country"])
    )
    return exact, country_level


def enrich(df: DataFrame, exact: DataFrame, country_level: DataFrame) -> DataFrame:
    """iso3, fips, population (and missing coordinates) from the UID lookup; broadcast joins, no shuffle."""
    joined = df.join(
        F.broadcast(exact),
        (df["country"] == exact["lk_country"])
        & (F.coalesce(df["province"], F.lit("")) == exact["lk_province"])
        & (F.coalesce(df["admin2"], F.lit("")) == exact["lk_admin2"]),
        "left",
    ).join(F.broadcast(country_level), F.col("country") == F.col("lc_country"), "left")
    return joined.select(
        *[
            F.coalesce(F.col("iso3"), F.col("lk_iso3"), F.col("lc_iso3")).alias("iso3")
            if c == "iso3"
            else F.coalesce(F.col("fips"), F.when(F.col("lk_fips") != "", F.col("lk_fips"))).alias("fips")
            if c == "fips"
            else F.coalesce(F.col("population"), F.col("lk_population")).alias("population")
            if c == "population"
            else F.coalesce(F.col("latitude"), F.col("lk_latitude")).alias("latitude")
            if c == "latitude"
            else F.coalesce(F.col("longitude"), F.col("lk_longitude")).alias("longitude")
            if c == "longitude"
            else F.col(c)
            for c in df.columns
        ]
    )


def add_daily_deltas(df: DataFrame) -> DataFrame:
    """new_confirmed/new_deaths against the same location's previous calendar day (null without one).

    Calendar-day (not previous-row) deltas keep incremental runs local: a day depends only on the day before.
    """
    window = Window.partitionBy(*LOCATION_KEY).orderBy("report_date")
    previous_day = F.lag("report_date").over(window)
    is_consecutive = previous_day == F.date_sub(F.col("report_date"), 1)
    return df.withColumn(
        "new_confirmed", F.when(is_consecutive, F.col("confirmed") - F.lag("confirmed").over(window))
    ).withColumn("new_deaths", F.when(is_consecutive, F.col("deaths") - F.lag("deaths").over(window)))


def add_rates(df: DataFrame) -> DataFrame:
    confirmed = F.col("confirmed")
    return df.withColumn(
        "case_fatality_rate", F.when(confirmed > 0, F.col("deaths").cast("double") * 100.0 / confirmed)
    ).withColumn(
        "incidence_per_100k",
        F.when(F.col("population") > 0, confirmed.cast("double") * 100000.0 / F.col("population")),
    )


def add_partition_columns(df: DataFrame) -> DataFrame:
    return df.withColumn("year", F.year("report_date")).withColumn("month", F.month("report_date"))


def to_output(df: DataFrame) -> DataFrame:
    """Exactly schema_evolution.OUTPUT_COLUMNS, in order."""
    return df.select(*OUTPUT_COLUMNS)


def month_key(report_date: Column | str) -> Column:
    """year * 100 + month: one comparable int per partition."""
    col = F.col(report_date) if isinstance(report_date, str) else report_date
    return F.year(col) * 100 + F.month(col)


def partition_name(year: int, month: int) -> str:
    return f"year={year}/month={month}"
