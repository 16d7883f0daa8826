"""Each pure transform of the Glue job on small hand-written DataFrames, with exact expected rows."""

from __future__ import annotations

from datetime import date, datetime

import pytest
import schema_evolution as se
from pyspark.sql import functions as F
from pyspark.sql import types as T
from utils import transformations as tx

pytestmark = pytest.mark.spark

RAW_SCHEMA = T.StructType(
    [T.StructField(f, T.StringType()) for f in se.RAW_FIELDS]
    + [
        T.StructField("extra_fields", T.MapType(T.StringType(), T.StringType())),
        T.StructField("schema_era", T.StringType()),
        T.StructField("_corrupt_record", T.StringType()),
        T.StructField("source_file", T.StringType()),
        T.StructField("file_date", T.DateType()),
        T.StructField("file_rank", T.IntegerType()),
    ]
)


def raw(**values: object) -> tuple:
    defaults: dict[str, object] = {f: None for f in RAW_SCHEMA.fieldNames()}
    defaults.update(schema_era="jhu_v5", source_file="11-09-2020.csv", file_date=date(2020, 11, 9), file_rank=20201109)
    defaults.update(values)
    return tuple(defaults[f] for f in RAW_SCHEMA.fieldNames())


@pytest.fixture(autouse=True)
def utc(spark) -> None:
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    spark.conf.set("spark.sql.legacy.timeParserPolicy", "CORRECTED")


def test_a_classified_row_keeps_its_file_text_only_when_quarantined(spark) -> None:
    rows = [
        raw(country=" Afghanistan ", province="", confirmed="10", deaths="1", last_update="2020-11-10 05:40:07"),
        raw(country="Afghanistan", confirmed="n/a", deaths="1", latitude="33.9"),
        raw(country="Afghanistan", confirmed="1", _corrupt_record="a,b,c,d"),
    ]
    good, bad, malformed = tx.classify_rows(spark.createDataFrame(rows, RAW_SCHEMA)).collect()
    # The good row's text is parsed and not kept; what the next steps read is.
    assert all(good[f] is None for f in (*se.RAW_FIELDS, "_corrupt_record"))
    kept = (good.p_country, good.p_province, good.p_confirmed, good.source_file, good.file_rank, good.schema_era)
    assert kept == ("Afghanistan", None, 10, "11-09-2020.csv", 20201109, "jhu_v5")
    assert good.quarantine_reason is None and good.p_last_update == datetime(2020, 11, 10, 5, 40, 7)
    # A quarantined row keeps exactly what the file said.
    assert bad.quarantine_reason == "unparseable_number"
    assert (bad.country, bad.confirmed, bad.deaths, bad.latitude) == ("Afghanistan", "n/a", "1", "33.9")
    assert (malformed.quarantine_reason, malformed._corrupt_record) == ("malformed_row", "a,b,c,d")


def test_classify_rows_gives_the_first_reason_that_applies(spark) -> None:
    rows = [
        raw(country="Afghanistan", confirmed="10", deaths="1"),
        raw(country="Afghanistan", confirmed="10", _corrupt_record="a,b,c,d"),
        raw(country="Cura\ufffdao", confirmed="1"),
        raw(country="  ", confirmed="1"),
        raw(country="X", confirmed="1", file_date=None, row_date="not a date"),
        raw(country="X", confirmed="n/a"),
        raw(country="X", confirmed="5.5"),
        raw(country="X", confirmed="-3"),
        raw(country="X", confirmed="3", recovered="-1"),
        raw(country="X", confirmed="3", active="-1"),
        raw(country="X", confirmed="3", latitude="95.0"),
        raw(country="X", confirmed="3", last_update="13th of Nov"),
        raw(country="X", confirmed="28.0", deaths=" 2 "),
    ]
    out = tx.classify_rows(spark.createDataFrame(rows, RAW_SCHEMA)).select("quarantine_reason").collect()
    assert [r.quarantine_reason for r in out] == [
        None,
        "malformed_row",
        "invalid_encoding",
        "missing_country",
        "bad_date",
        "unparseable_number",
        "non_integer_count",
        "negative_count",
        "negative_count",
        None,  # active is derived by JHU and may be negative
        "invalid_coordinates",
        "bad_last_update",
        None,
    ]


def test_report_date_is_the_file_date_else_the_row_date(spark) -> None:
    rows = [raw(country="X", confirmed="1"), raw(country="X", confirmed="1", file_date=None, row_date="2021-04-24")]
    out = tx.classify_rows(spark.createDataFrame(rows, RAW_SCHEMA)).select("report_date").collect()
    assert [r.report_date for r in out] == [date(2020, 11, 9), date(2021, 4, 24)]


def test_every_last_update_format_parses_to_utc(spark) -> None:
    values = ["1/22/2020 17:00", "1/23/20 17:00", "2020-02-15T23:13:05", "2020-06-02 02:33:08", "2020-03-22 23:45",
              "3/22/20 23:45:10", None, "  "]  # fmt: skip
    df = spark.createDataFrame([(v,) for v in values], "v string")
    out = [r.t for r in df.select(tx.parse_last_update("v").alias("t")).collect()]
    assert out == [
        datetime(2020, 1, 22, 17, 0),
        datetime(2020, 1, 23, 17, 0),
        datetime(2020, 2, 15, 23, 13, 5),
        datetime(2020, 6, 2, 2, 33, 8),
        datetime(2020, 3, 22, 23, 45),
        datetime(2020, 3, 22, 23, 45, 10),
        None,
        None,
    ]


def test_counts_and_countries_are_cleaned(spark) -> None:
    df = spark.createDataFrame(
        [
            ("28.0", " Mainland China "),
            ("7", "South Korea"),
            ("", "Czech Republic"),
            ("1e3", "US"),
            (None, "UK"),
            ("\t5 ", "\u00a0Italy\t"),
            ("1", " \u00a0 "),
        ],
        "c string, n string",
    )
    out = df.select(tx.parse_count("c").alias("c"), tx.canonical_country("n").alias("n")).collect()
    assert [tuple(r) for r in out] == [
        (28, "China"),
        (7, "Korea, South"),
        (None, "Czechia"),
        (1000, "US"),
        (None, "United Kingdom"),
        (5, "Italy"),
        (1, None),
    ]


def test_text_is_trimmed_once_per_value(spark) -> None:
    """The generated code trims each value once: written as CASE WHEN trimmed != '' THEN trimmed END, Spark trimmed
    each twice (4 trims here), copying every text field of every row four times over."""
    df = spark.createDataFrame([(" a ", " UK ")], "text string, country string")
    cleaned = df.select(tx.clean_text("text").alias("text"), tx.canonical_country("country").alias("country"))
    plan = cleaned._jdf.queryExecution().executedPlan()
    code = spark._jvm.org.apache.spark.sql.execution.debug.package.codegenString(plan)
    assert code.count(".trim(") == 2
    assert [tuple(r) for r in cleaned.collect()] == [("a", "United Kingdom")]


def test_type_rows_resolves_names_numbers_and_extras(spark) -> None:
    rows = [
        raw(
            country=" Mainland China",
            province="Hubei ",
            admin2="",
            fips="36061.0",
            confirmed="28.0",
            deaths="1",
            latitude="30.9756",
            longitude="112.2707",
            last_update="1/22/2020 17:00",
            extra_fields={"people_tested": "100"},
        ),
        raw(country="Japan", confirmed="2", extra_fields={}),
    ]
    classified = tx.classify_rows(spark.createDataFrame(rows, RAW_SCHEMA))
    out = tx.type_rows(classified).collect()
    assert out[0].asDict() == {
        "report_date": date(2020, 11, 9),
        "country": "China",
        "iso3": None,
        "province": "Hubei",
        "admin2": None,
        "fips": "36061",
        "latitude": 30.9756,
        "longitude": 112.2707,
        "population": None,
        "confirmed": 28,
        "deaths": 1,
        "recovered": None,
        "active": None,
        "last_update": datetime(2020, 1, 22, 17, 0),
        "source_file": "11-09-2020.csv",
        "schema_era": "jhu_v5",
        "extra_fields": {"people_tested": "100"},
        "file_rank": 20201109,
    }
    assert out[1].extra_fields is None


TYPED = (
    "report_date date, country string, province string, admin2 string, confirmed long, deaths long, "
    "recovered long, active long, last_update timestamp, file_rank int, source_file string, "
    "extra_fields map<string,string>"
)


def test_duplicates_have_one_deterministic_winner(spark) -> None:
    d = date(2020, 11, 13)
    rows = [
        (d, "Afghanistan", None, None, 42550, 1588, None, None, datetime(2020, 11, 13, 4), 1, "a.csv", None),
        (d, "Afghanistan", None, None, 42600, 1590, None, None, datetime(2020, 11, 13, 5), 1, "a.csv", None),
        (d, "Afghanistan", None, None, 42700, 1590, None, None, datetime(2020, 11, 13, 5), 0, "old.csv", None),
        (d, "Albania", None, None, 10, 1, None, None, None, 1, "a.csv", None),
    ]
    for ordering in (rows, list(reversed(rows))):
        df = spark.createDataFrame(ordering, TYPED)
        out = tx.mark_duplicates(df).orderBy("country", "is_duplicate", "confirmed").collect()
        assert [(r.country, r.confirmed, r.is_duplicate, r.duplicates) for r in out] == [
            ("Afghanistan", 42600, False, 2),
            ("Afghanistan", 42550, True, None),
            ("Afghanistan", 42700, True, None),
            ("Albania", 10, False, 0),
        ]


def test_daily_deltas_use_the_previous_calendar_day_only(spark) -> None:
    schema = "report_date date, country string, province string, admin2 string, confirmed long, deaths long"
    rows = [
        (date(2020, 3, 30), "X", None, None, 10, 1),
        (date(2020, 3, 31), "X", None, None, 15, 1),
        (date(2020, 4, 1), "X", None, None, 14, 2),
        (date(2020, 4, 3), "X", None, None, 20, 2),  # a gap: no delta
        (date(2020, 3, 31), "X", "P", None, 5, None),
        (date(2020, 4, 1), "X", "P", None, 6, 0),
    ]
    out = tx.add_daily_deltas(spark.createDataFrame(rows, schema)).orderBy("province", "report_date").collect()
    assert [(r.province, r.report_date.day, r.new_confirmed, r.new_deaths) for r in out] == [
        (None, 30, None, None),
        (None, 31, 5, 0),
        (None, 1, -1, 1),
        (None, 3, None, None),
        ("P", 31, None, None),
        ("P", 1, 1, None),
    ]


def test_enrich_takes_iso3_fips_population_from_the_lookup(spark, repo_root) -> None:
    lookup = spark.read.option("header", "true").csv(str(repo_root / "tests/fixtures/jhu/UID_lookup_small.csv"))
    exact, country_level = tx.prepare_lookup(lookup)
    schema = "country string, province string, admin2 string, iso3 string, fips string, population long, " \
        "latitude double, longitude double"  # fmt: skip
    rows = [
        ("US", "South Carolina", "Abbeville", None, None, None, None, None),
        ("China", "Hubei", None, None, None, None, 1.0, 2.0),
        ("China", "Tibet", None, None, None, None, None, None),
        ("Atlantis", None, None, None, None, None, None, None),
        ("OWID land", None, None, "OWID_X", None, 5, None, None),
    ]
    out = tx.enrich(spark.createDataFrame(rows, schema), exact, country_level).collect()
    assert [tuple(r) for r in out] == [
        ("US", "South Carolina", "Abbeville", "USA", "45001", 24527, 34.22333378, -82.46170658),
        ("China", "Hubei", None, "CHN", None, 58500000, 1.0, 2.0),
        ("China", "Tibet", None, "CHN", None, None, None, None),
        ("Atlantis", None, None, None, None, None, None, None),
        ("OWID land", None, None, "OWID_X", None, 5, None, None),
    ]


def test_rates_and_partitions(spark) -> None:
    df = spark.createDataFrame(
        [(date(2020, 11, 9), 200, 5, 100000), (date(2021, 1, 2), 0, 0, None)],
        "report_date date, confirmed long, deaths long, population long",
    )
    out = tx.add_partition_columns(tx.add_rates(df)).collect()
    assert [(r.case_fatality_rate, r.incidence_per_100k, r.year, r.month) for r in out] == [
        (2.5, 200.0, 2020, 11),
        (None, None, 2021, 1),
    ]


def test_clean_text_trims_every_blank_and_turns_empty_into_null(spark) -> None:
    values = [("  Korea, South ",), ("\tNew York\r",), ("\u00a0Bahamas\u00a0",), ("   ",), ("",), (None,), ("a  b",)]
    df = spark.createDataFrame(values, "value string")
    cleaned = [row[0] for row in df.select(tx.clean_text("value")).collect()]
    assert cleaned == ["Korea, South", "New York", "Bahamas", None, None, None, "a  b"]


def _tasks_of_months(spark, rows: dict[tuple[int, int], int], tasks: int) -> list[list[tuple[int, int]]]:
    df = spark.createDataFrame([month for month, n in rows.items() for _ in range(n)], "year int, month int")
    spread = df.repartition(tasks, F.expr(tx.month_task_sql(rows, tasks)))
    placed = spread.selectExpr("spark_partition_id() AS task", "year", "month").distinct().collect()
    return [sorted((r.year, r.month) for r in placed if r.task == task) for task in range(tasks)]


def test_month_tasks_spread_the_months_by_rows_the_heaviest_task_first(spark) -> None:
    rows = {(2020, 1): 10, (2020, 2): 40, (2020, 3): 30, (2020, 4): 20, (2020, 5): 25, (2020, 6): 5}
    # Largest first, each to the least loaded task: 40 | 30 | 25, then 20 -> 45, 10 -> 40, 5 -> 45.
    assert _tasks_of_months(spark, rows, 3) == [
        [(2020, 2), (2020, 6)],
        [(2020, 4), (2020, 5)],
        [(2020, 1), (2020, 3)],
    ]
    # As many tasks as months: one month each, the largest first.
    assert _tasks_of_months(spark, rows, 6) == [[m] for m in sorted(rows, key=lambda m: -rows[m])]


def test_month_tasks_send_months_not_listed_to_the_last_task(spark) -> None:
    df = spark.createDataFrame([(2021, 1), (2021, 2), (2019, 12)], "year int, month int")
    spread = df.repartition(2, F.expr(tx.month_task_sql({(2021, 1): 5, (2021, 2): 3}, 2)))
    tasks = dict(
        ((r.year, r.month), r.task)
        for r in spread.selectExpr("year", "month", "spark_partition_id() AS task").collect()
    )
    assert tasks == {(2021, 1): 0, (2021, 2): 1, (2019, 12): 1}
    alone = df.repartition(1, F.expr(tx.month_task_sql({}, 1)))
    assert alone.rdd.getNumPartitions() == 1 and alone.count() == 3
