"""Pure DataFrame -> DataFrame steps of the job: classify, type, deduplicate, enrich, derive, shape.

Input of `classify_rows` is the canonical raw frame (schema_evolution.RAW_FIELDS
as text, plus extra_fields, schema_era, source_file, file_date, file_rank and
an optional _corrupt_record). Raw text is kept until a row is known to be good
so that quarantined rows carry exactly what the file said.
No Python UDFs: every step is a Spark expression, written as SQL text (utils.sql_text).
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from schema_evolution import OUTPUT_COLUMNS, RAW_FIELDS

from utils import spark_hash
from utils import sql_text as sql

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

# Expressions are built as SQL text (utils.sql_text): one round trip to the JVM per select instead of about three per
# function call. The *_sql helpers take and return SQL; the Column helpers wrap them for callers that pass names.
_BLANKS_SQL = sql.literal(_BLANKS)
_ALIASES_SQL = "map(" + ", ".join(sql.literal(x) for pair in COUNTRY_ALIASES.items() for x in pair) + ")"
_US_TIMESTAMP_PATTERNS = ("M/d/yyyy H:mm", "M/d/yy H:mm", "M/d/yyyy H:mm:ss", "M/d/yy H:mm:ss")


def _when_not_empty_sql(text: str, value: str) -> str:
    """`value` when `text` (SQL) is neither null nor empty, else null, with `text` computed once per row.

    Spark computes a subexpression once only where it occurs at least twice among the inputs always evaluated (here
    both sides of the AND). Written as `CASE WHEN text != '' THEN text END`, it computed `text` twice: for the trim
    below, which copies the text twice, 14 fields of 1.7 million rows took 3.4 s on 2 cores against 2.3 s.
    """
    return f"CASE WHEN {text} IS NOT NULL AND {text} != '' THEN {value} END"


def _trimmed_sql(text: str) -> str:
    return f"btrim({text}, {_BLANKS_SQL})"


def clean_text_sql(text: str) -> str:
    """Trim blanks (spaces, tabs, no-break spaces); empty becomes null.

    TRIM(BOTH <set> FROM x) needs no regex: this runs for every text field of every row, so it has to stay cheap.
    """
    trimmed = _trimmed_sql(text)
    return _when_not_empty_sql(trimmed, trimmed)


def canonical_country_sql(text: str) -> str:
    name = _trimmed_sql(text)
    return _when_not_empty_sql(name, f"coalesce({_ALIASES_SQL}[{name}], {name})")


def as_double_sql(text: str) -> str:
    """Spark's own string -> double cast (no regex); NaN and infinities count as unparseable."""
    value = f"CAST({text} AS DOUBLE)"
    return f"CASE WHEN NOT isnan({value}) AND abs({value}) != {sql.literal(float('inf'))} THEN {value} END"


def integral_sql(value: str) -> str:
    """A double that is a whole number -> long; anything else -> null."""
    return f"CASE WHEN {value} = floor({value}) THEN CAST({value} AS BIGINT) END"


def parse_last_update_sql(text: str) -> str:
    """Every Last Update format in the data, as UTC (the session time zone is UTC).

    US-style M/d/yyyy and M/d/yy (with or without seconds) need patterns; ISO forms parse by cast.
    A 4-digit-year pattern never accepts a 2-digit year and vice versa, so the first match is right.
    """
    return _last_update_of_clean_sql(clean_text_sql(text))


def _last_update_of_clean_sql(cleaned: str) -> str:
    """parse_last_update_sql of text already cleaned (a column: cleaned text inlined here would be cleaned again)."""
    us_style = ", ".join(f"to_timestamp({cleaned}, {sql.literal(p)})" for p in _US_TIMESTAMP_PATTERNS)
    return f"CASE WHEN contains({cleaned}, '/') THEN coalesce({us_style}) ELSE CAST({cleaned} AS TIMESTAMP) END"


def parse_report_date_sql(row_date: str, file_date: str) -> str:
    """The file name's date when it has one (JHU), else the row's own ISO date (OWID)."""
    own = clean_text_sql(row_date)
    iso = sql.literal("^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}")
    return f"coalesce({file_date}, CASE WHEN {own} RLIKE {iso} THEN to_date(substring({own}, 1, 10)) END)"


def clean_text(name: str) -> Column:
    return sql.column(clean_text_sql(sql.ident(name)))


def canonical_country(name: str) -> Column:
    return sql.column(canonical_country_sql(sql.ident(name)))


def parse_count(name: str) -> Column:
    """Integral text ('28', '28.0', ' 28 ') -> long; anything else -> null (classify_rows says why)."""
    return sql.column(integral_sql(as_double_sql(clean_text_sql(sql.ident(name)))))


def parse_last_update(name: str) -> Column:
    return sql.column(parse_last_update_sql(sql.ident(name)))


PARSED_PREFIX = "p_"
_TEXT_FIELDS = ("province", "admin2", "iso3")
_NUMERIC_FIELDS = (*COUNT_FIELDS, "latitude", "longitude", "population")
_INTEGRAL_FIELDS = (*COUNT_FIELDS, "population")


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


def _p(name: str) -> str:
    """A parsed column, as SQL."""
    return sql.ident(PARSED_PREFIX + name)


def classify_rows(df: DataFrame) -> DataFrame:
    """Parse every raw field once (p_* columns), then add report_date and quarantine_reason (null = good row).

    A quarantined row keeps its raw text columns as they are, so it carries exactly what the file said; a good
    row's are null once parsed.
    """
    i = sql.ident
    corrupt = "_corrupt_record IS NOT NULL" if "_corrupt_record" in df.columns else "FALSE"
    raw_text = ("province", "country", "admin2", "last_update", "fips", *_NUMERIC_FIELDS)
    # One search per field: concatenating the fields first copied every row's text once more (about 4 s of a
    # fresh full refresh's read, mostly in the JIT).
    bad_encoding = sql.any_of(f"contains({i(c)}, {sql.literal(chr(0xFFFD))})" for c in raw_text)
    parsed = df.selectExpr(
        "*",
        sql.alias(parse_report_date_sql(i("row_date"), i("file_date")), "report_date"),
        sql.alias(canonical_country_sql(i("country")), PARSED_PREFIX + "country"),
        *[sql.alias(clean_text_sql(i(c)), PARSED_PREFIX + c) for c in _TEXT_FIELDS],
        sql.alias(clean_text_sql(i("fips")), PARSED_PREFIX + "fips_text"),
        *[sql.alias(clean_text_sql(i(c)), PARSED_PREFIX + c + "_text") for c in _NUMERIC_FIELDS],
        sql.alias(clean_text_sql(i("last_update")), PARSED_PREFIX + "last_update_text"),
        sql.alias(f"coalesce({bad_encoding}, FALSE)", PARSED_PREFIX + "bad_encoding"),
        sql.alias(corrupt, PARSED_PREFIX + "corrupt"),
    )
    parsed = parsed.selectExpr(
        "*",
        *[sql.alias(as_double_sql(_p(c + "_text")), PARSED_PREFIX + c + "_double") for c in _NUMERIC_FIELDS],
        sql.alias(_last_update_of_clean_sql(_p("last_update_text")), PARSED_PREFIX + "last_update"),
    )
    parsed = parsed.selectExpr(
        "*", *[sql.alias(integral_sql(_p(c + "_double")), PARSED_PREFIX + c) for c in _INTEGRAL_FIELDS]
    )
    unparseable = sql.any_of(f"{_p(c + '_text')} IS NOT NULL AND {_p(c + '_double')} IS NULL" for c in _NUMERIC_FIELDS)
    non_integer = sql.any_of(f"{_p(c + '_double')} IS NOT NULL AND {_p(c)} IS NULL" for c in _INTEGRAL_FIELDS)
    negative = sql.any_of(f"{_p(c)} < 0" for c in CUMULATIVE_FIELDS)
    bad_coordinates = f"abs({_p('latitude_double')}) > 90 OR abs({_p('longitude_double')}) > 180"
    checks = [
        ("malformed_row", _p("corrupt")),
        ("invalid_encoding", _p("bad_encoding")),
        ("missing_country", f"{_p('country')} IS NULL"),
        ("bad_date", "report_date IS NULL"),
        ("unparseable_number", unparseable),
        ("non_integer_count", non_integer),
        ("negative_count", f"coalesce({negative}, FALSE)"),
        ("invalid_coordinates", f"coalesce({bad_coordinates}, FALSE)"),
        ("bad_last_update", f"{_p('last_update_text')} IS NOT NULL AND {_p('last_update')} IS NULL"),
    ]
    reason = "CAST(NULL AS STRING)"
    for name, condition in reversed(checks):
        reason = f"CASE WHEN {condition} THEN {sql.literal(name)} ELSE {reason} END"
    # Keep only what later steps read: the frame is cached, and every column costs memory. A good row's file text
    # is read no more (its parsed values are): it is kept for the quarantined rows only, as the quarantine writes
    # it; for the others, a null costs the cache next to nothing.
    classified = parsed.selectExpr(
        *[i(c) for c in df.columns],
        "report_date",
        *[_p(c) for c in _KEPT_PARSED],
        sql.alias(reason, "quarantine_reason"),
    )
    return classified.selectExpr(
        *[
            sql.alias(f"CASE WHEN quarantine_reason IS NOT NULL THEN {i(c)} END", c) if c in _QUARANTINE_ONLY else i(c)
            for c in classified.columns
        ]
    )


# The file's text of a row (what a quarantined row keeps), read by nothing else once the row is classified.
_QUARANTINE_ONLY = (*RAW_FIELDS, "_corrupt_record")


def raw_columns(df: DataFrame) -> list[str]:
    """The columns of a classified frame that came from the file (what the quarantine keeps)."""
    return [c for c in df.columns if not c.startswith(PARSED_PREFIX) and c not in ("file_rank", "in_scope")]


def type_rows(df: DataFrame) -> DataFrame:
    """Good classified rows -> typed canonical columns (names resolved, numbers parsed, timestamps in UTC)."""
    fips_text = _p("fips_text")
    digits = sql.literal(r"^([0-9]+)(\.0*)?$")  # '6037' and '6037.0' -> '6037'
    fips = f"coalesce(regexp_extract({fips_text}, {digits}, 1), {fips_text})"
    return df.selectExpr(
        "report_date",
        *[sql.alias(_p(c), c) for c in ("country", "iso3", "province", "admin2")],
        sql.alias(_when_not_empty_sql(fips, fips), "fips"),
        sql.alias(_p("latitude_double"), "latitude"),
        sql.alias(_p("longitude_double"), "longitude"),
        *[sql.alias(_p(c), c) for c in ("population", *COUNT_FIELDS, "last_update")],
        "source_file",
        "schema_era",
        "CASE WHEN size(extra_fields) > 0 THEN extra_fields END AS extra_fields",
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
    hashed = [sql.ident(c) for c in df.columns if c != "extra_fields"]
    content = f"xxhash64({', '.join([*hashed, 'map_keys(extra_fields)', 'map_values(extra_fields)'])})"
    order = [f"{c} DESC NULLS LAST" for c in ("file_rank", "last_update", *COUNT_FIELDS)] + [f"{content} DESC"]
    key = ", ".join(sql.ident(c) for c in (*LOCATION_KEY, "report_date"))
    # The rank is materialised once: used twice as an expression, Spark would sort and rank twice. The key's rows
    # are counted over the same window (partition and order), so one window operator computes both.
    window = f"PARTITION BY {key} ORDER BY {', '.join(order)}"
    whole_key = "ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING"
    ranked = df.selectExpr(
        "*", f"row_number() OVER ({window}) AS _rank", f"count(1) OVER ({window} {whole_key}) AS _key_rows"
    )
    return ranked.selectExpr(
        *[sql.ident(c) for c in df.columns],
        "_rank > 1 AS is_duplicate",
        "CASE WHEN _rank = 1 THEN _key_rows - 1 END AS duplicates",
    )


def prepare_lookup(uid_lookup: DataFrame) -> tuple[DataFrame, DataFrame]:
    """The JHU UID table -> (exact location lookup, country-level iso3 lookup), both with text keys."""

    def clean(name: str) -> str:
        return clean_text_sql(sql.ident(name))

    # One partition: the table is small, and on one partition the de-duplications need no shuffle (two stages fewer
    # per run, each started on every run).
    exact = (
        uid_lookup.coalesce(1)
        .selectExpr(
            sql.alias(clean("Country_Region"), "lk_country"),
            sql.alias(f"coalesce({clean('Province_State')}, '')", "lk_province"),
            sql.alias(f"coalesce({clean('Admin2')}, '')", "lk_admin2"),
            sql.alias(clean("iso3"), "lk_iso3"),
            sql.alias(f"regexp_extract({clean('FIPS')}, '^([0-9]+)', 1)", "lk_fips"),
            sql.alias(integral_sql(as_double_sql(clean("Population"))), "lk_population"),
            sql.alias(as_double_sql(clean("Lat")), "lk_latitude"),
            sql.alias(as_double_sql(clean("Long_")), "lk_longitude"),
        )
        .dropDuplicates(["lk_country", "lk_province", "lk_admin2"])
    )
    country_level = (
        exact.where("lk_province = '' AND lk_admin2 = ''")
        .selectExpr("lk_country AS lc_country", "lk_iso3 AS lc_iso3")
        .dropDuplicates(["lc_country"])
    )
    return exact, country_level


# Output columns the UID lookup fills in where the row has none, from the exact location, else the country.
_LOOKUP_FILLED = {
    "iso3": "coalesce(iso3, lk_iso3, lc_iso3)",
    "fips": "coalesce(fips, CASE WHEN lk_fips != '' THEN lk_fips END)",
    "population": "coalesce(population, lk_population)",
    "latitude": "coalesce(latitude, lk_latitude)",
    "longitude": "coalesce(longitude, lk_longitude)",
}


def enrich(df: DataFrame, exact: DataFrame, country_level: DataFrame) -> DataFrame:
    """iso3, fips, population (and missing coordinates) from the UID lookup; broadcast joins, no shuffle."""
    on_location = "country = lk_country AND coalesce(province, '') = lk_province AND coalesce(admin2, '') = lk_admin2"
    joined = df.join(F.broadcast(exact), sql.column(on_location), "left").join(
        F.broadcast(country_level), sql.column("country = lc_country"), "left"
    )
    filled = [sql.alias(_LOOKUP_FILLED[c], c) if c in _LOOKUP_FILLED else sql.ident(c) for c in df.columns]
    return joined.selectExpr(*filled)


def add_daily_deltas(df: DataFrame) -> DataFrame:
    """new_confirmed/new_deaths against the same location's previous calendar day (null without one).

    Calendar-day (not previous-row) deltas keep incremental runs local: a day depends only on the day before.
    """
    window = f"OVER (PARTITION BY {', '.join(sql.ident(c) for c in LOCATION_KEY)} ORDER BY report_date)"
    is_consecutive = f"lag(report_date) {window} = date_sub(report_date, 1)"
    return df.selectExpr(
        "*", f"CASE WHEN {is_consecutive} THEN confirmed - lag(confirmed) {window} END AS new_confirmed"
    ).selectExpr("*", f"CASE WHEN {is_consecutive} THEN deaths - lag(deaths) {window} END AS new_deaths")


def add_rates(df: DataFrame) -> DataFrame:
    hundred, hundred_thousand = sql.literal(100.0), sql.literal(100000.0)  # doubles (100.0 alone is a decimal)
    return df.selectExpr(
        "*",
        f"CASE WHEN confirmed > 0 THEN CAST(deaths AS DOUBLE) * {hundred} / confirmed END AS case_fatality_rate",
        f"CASE WHEN population > 0 THEN CAST(confirmed AS DOUBLE) * {hundred_thousand} / population END"
        " AS incidence_per_100k",
    )


def add_partition_columns(df: DataFrame) -> DataFrame:
    return df.selectExpr("*", "year(report_date) AS year", "month(report_date) AS month")


def month_task_sql(rows_per_month: Mapping[tuple[int, int], int], tasks: int) -> str:
    """An INT per row (SQL over year and month) for `repartition(tasks, <it>)`: each month in one task, the months
    spread over the tasks by their rows, the largest first, each to the task with the fewest rows so far; the
    heaviest task is task 0 (Spark starts a stage's tasks in order). Hashing (year, month) instead left one of four
    tasks with 43% of the rows while a core sat idle. Months not listed go to the last task."""
    loads = [(0, task) for task in range(tasks)]
    placed: dict[tuple[int, int], int] = {}
    for month in sorted(rows_per_month, key=lambda m: (-rows_per_month[m], m)):
        load, task = heapq.heappop(loads)
        placed[month] = task
        heapq.heappush(loads, (load + rows_per_month[month], task))
    by_load = {task: rank for rank, (_, task) in enumerate(sorted(loads, key=lambda lt: (-lt[0], lt[1])))}
    values = spark_hash.values_for_tasks(tasks)
    cases = " ".join(
        f"WHEN year = {year} AND month = {month} THEN {values[by_load[task]]}"
        for (year, month), task in sorted(placed.items())
    )
    return f"CASE {cases} ELSE {values[-1]} END" if cases else str(values[-1])


def to_output(df: DataFrame) -> DataFrame:
    """Exactly schema_evolution.OUTPUT_COLUMNS, in order."""
    return df.selectExpr(*[sql.ident(c) for c in OUTPUT_COLUMNS])


def partition_name(year: int, month: int) -> str:
    return f"year={year}/month={month}"
