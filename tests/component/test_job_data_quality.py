"""The quality gate: Great Expectations' verdicts on metrics computed in one Spark pass equal its verdicts on the
DataFrame itself, and the pass also carries the job's counts per partition."""

from __future__ import annotations

from datetime import date
from typing import Any

import data_quality_checks as dq
import pytest
from pyspark.sql import functions as F
from pyspark.sql import types as T

pytestmark = pytest.mark.spark

SCHEMA = T.StructType(
    [
        T.StructField("report_date", T.DateType()),
        T.StructField("country", T.StringType()),
        T.StructField("province", T.StringType()),
        T.StructField("admin2", T.StringType()),
        T.StructField("iso3", T.StringType()),
        T.StructField("latitude", T.DoubleType()),
        T.StructField("longitude", T.DoubleType()),
        T.StructField("confirmed", T.LongType()),
        T.StructField("deaths", T.LongType()),
    ]
)
NEWEST = date(2020, 11, 10)
CHECKS = dq.build_checks("jhu_daily", NEWEST)


def row(day: int = 10, country: str | None = "Chad", province: str | None = None, admin2: str | None = None,
        iso3: str | None = "TCD", lat: float | None = 15.0, lon: float | None = 19.0, confirmed: int | None = 10,
        deaths: int | None = 1) -> tuple[Any, ...]:  # fmt: skip
    return (date(2020, 11, day) if day else None, country, province, admin2, iso3, lat, lon, confirmed, deaths)


CLEAN = [row(province=f"P{i}") for i in range(20)] + [row(day=9, province=f"P{i}") for i in range(20)]
# Every check but volume and freshness broken at once; the duplicated key has a null province and admin2
# (nulls group together).
BROKEN = [
    row(day=0),
    row(country=None),
    row(day=1, country="Peru"),
    row(day=1, country="Peru"),
    row(confirmed=-3, deaths=-4, province="A"),
    row(lat=91.0, province="B"),
    row(lon=-180.5, province="C"),
    row(confirmed=5, deaths=6, province="D"),
    row(iso3=None, province="E"),
]
# Within the tolerances: 1 of 40 iso3 missing (mostly 0.95); deaths above confirmed in none but a 0-confirmed
# row with null deaths (ignored: either value missing).
TOLERATED = [*CLEAN[:-1], row(iso3=None, province="X", confirmed=0, deaths=None)]


def great_expectations_on_the_frame(df, checks: list[dq.Check]) -> list[dict[str, Any]]:
    """The reference: Great Expectations validating the Spark DataFrame itself (a Spark job per metric)."""
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    batch = (
        context.data_sources.add_spark(name="reference", persist=False)
        .add_dataframe_asset(name="frame")
        .add_batch_definition_whole_dataframe("whole")
        .get_batch(batch_parameters={"dataframe": df})
    )
    suite = gx.ExpectationSuite(name="reference")
    for check in checks:
        suite.add_expectation(dq._expectation(check))
    validation = batch.validate(suite, result_format=dq.RESULT_FORMAT)
    by_name = {item.expectation_config.meta["check"]: item for item in validation.results}
    return [
        {
            "expectation": check.name,
            "success": bool(by_name[check.name].success),
            **{k: v for k, v in dict(by_name[check.name].result).items() if k in dq.OBSERVED and v is not None},
        }
        for check in checks
    ]


def one_pass(df, checks: list[dq.Check]) -> list[dict[str, Any]]:
    report = dq.run_checks(df, checks)
    return [{k: v for k, v in r.items() if k not in ("severity", "expectation_type")} for r in report.results]


@pytest.mark.parametrize("rows", [CLEAN, BROKEN, TOLERATED], ids=["clean", "broken", "tolerated"])
def test_one_pass_gives_great_expectations_own_results(spark, rows: list[tuple[Any, ...]]) -> None:
    df = spark.createDataFrame(rows, SCHEMA)
    assert one_pass(df, CHECKS) == great_expectations_on_the_frame(df, CHECKS)


def test_an_empty_frame_gets_great_expectations_verdicts_and_zero_counts(spark) -> None:
    df = spark.createDataFrame([], SCHEMA)
    ours, reference = one_pass(df, CHECKS), great_expectations_on_the_frame(df, CHECKS)
    assert [(r["expectation"], r["success"]) for r in ours] == [(r["expectation"], r["success"]) for r in reference]
    assert "volume: at least one row" in [r["expectation"] for r in ours if not r["success"]]
    # GE's Spark metrics sum the unexpected rows, which is null over no rows (so it reports no count); the pass
    # counts them: 0.
    assert {r.get("unexpected_count") for r in ours if "element_count" in r} == {0}
    assert not [r for r in reference if r.get("unexpected_count")]


def test_broken_frame_fails_each_check_at_its_level(spark) -> None:
    report = dq.run_checks(spark.createDataFrame(BROKEN, SCHEMA), CHECKS)
    failed = {r["expectation"]: r["severity"] for r in report.results if not r["success"]}
    assert failed == {
        "completeness: report_date": "fail",
        "completeness: country": "fail",
        "uniqueness: report_date+country+province+admin2": "fail",
        "validity: confirmed >= 0": "fail",
        "validity: deaths >= 0": "fail",
        "validity: latitude": "fail",
        "validity: longitude": "fail",
        "consistency: deaths <= confirmed": "warn",
        "completeness: iso3 (enrichment)": "warn",
    }
    assert report.failed
    assert report.score == round(2 / 11, 4)  # the volume and freshness checks hold
    uniqueness = next(r for r in report.results if r["expectation"].startswith("uniqueness"))
    assert (uniqueness["element_count"], uniqueness["unexpected_count"]) == (9, 2)  # both Peru rows


def test_the_pass_carries_row_counts_per_partition(spark) -> None:
    df = spark.createDataFrame([*CLEAN, row(day=1, country="Peru"), row(day=1, country="Peru")], SCHEMA)
    df = df.withColumn("month", F.month("report_date")).withColumn("duplicates", F.lit(2))
    gate = dq.metric_pass(CHECKS)
    rows = dq.aggregate(df, gate, by=("month",), sums={"rows": "1", "dups": "duplicates"})
    assert sorted((r["month"], r["rows"], r["dups"]) for r in rows) == [(11, 42, 84)]
    metrics = gate.values(rows)
    report = dq.evaluate(gate, metrics)
    failed = [r["expectation"] for r in report.results if not r["success"]]
    assert failed == ["uniqueness: report_date+country+province+admin2"]


@pytest.mark.parametrize("rows", [CLEAN, BROKEN], ids=["clean", "broken"])
def test_the_pass_observed_during_a_write_equals_the_pass_of_its_own(spark, tmp_path, rows) -> None:
    df = spark.createDataFrame(rows, SCHEMA).withColumn("duplicates", F.lit(2))
    gate = dq.metric_pass(CHECKS)
    sums = {"rows": "1", "dups": "duplicates"}
    alone = dq.aggregate(df, gate, sums=sums)
    # As the job writes: the key's rows counted first, the metrics observed after the write's shuffle.
    keyed = dq.with_key_rows(df, gate.key).repartition(3, "report_date")
    observed, observation = dq.observe(keyed, gate, sums)
    observed.drop(dq.KEY_ROWS, "duplicates").write.partitionBy("report_date").parquet(str(tmp_path / "out"))
    metrics = dq.observed(gate, observation, sums)
    assert metrics == alone[0]
    assert metrics["rows"] == len(rows) and metrics["dups"] == 2 * len(rows)
    assert dq.evaluate(gate, gate.values([metrics])) == dq.evaluate(gate, gate.values(alone))


@pytest.mark.parametrize("adaptive", ["false", "true"], ids=["local", "adaptive"])
def test_an_empty_write_reports_zero_rows(spark, tmp_path, adaptive: str) -> None:
    """Local Spark runs with adaptive execution off; Glue's Spark with it on (Spark 3.5's default)."""
    gate = dq.metric_pass(CHECKS)
    sums = {"rows": "1"}
    before = spark.conf.get("spark.sql.adaptive.enabled")
    spark.conf.set("spark.sql.adaptive.enabled", adaptive)
    try:
        # Rows found to be none only when a stage runs (not an empty frame the planner can see).
        none = dq.with_key_rows(spark.createDataFrame(CLEAN, SCHEMA).where("confirmed > 1000"), gate.key)
        observed, observation = dq.observe(none.repartition(3, "country"), gate, sums)
        observed.drop(dq.KEY_ROWS).write.parquet(str(tmp_path / "after"))
        metrics = dq.observed(gate, observation, sums)
    finally:
        spark.conf.set("spark.sql.adaptive.enabled", before)
    assert metrics["rows"] is None  # a sum over no rows
    # The same verdicts as over no rows at all: the volume check fails.
    assert dq.evaluate(gate, gate.values([metrics])) == dq.evaluate(gate, gate.values([]))


def test_an_observation_spark_dropped_is_an_error_not_an_empty_row(spark, tmp_path) -> None:
    gate = dq.metric_pass(CHECKS)
    sums = {"rows": "1"}
    before = spark.conf.get("spark.sql.adaptive.enabled")
    spark.conf.set("spark.sql.adaptive.enabled", "true")
    try:
        none = dq.with_key_rows(spark.createDataFrame(CLEAN, SCHEMA).where("confirmed > 1000"), gate.key)
        # Observed below the write's shuffle: the adaptive plan drops the empty stage, with the observation in it.
        below, lost = dq.observe(none, gate, sums)
        below.drop(dq.KEY_ROWS).repartition(3, "country").write.parquet(str(tmp_path / "below"))
        with pytest.raises(RuntimeError, match="no data-quality metrics"):
            dq.observed(gate, lost, sums)
    finally:
        spark.conf.set("spark.sql.adaptive.enabled", before)


def test_key_rows_stream_over_a_frame_clustered_by_location_then_date(spark) -> None:
    df = spark.createDataFrame([*CLEAN, row(day=1, country="Peru"), row(day=1, country="Peru")], SCHEMA)
    location = ("country", "province", "admin2")
    clustered = df.repartition(*location).sortWithinPartitions(*location, "report_date")
    key = ("report_date", *location)
    counted = dq.with_key_rows(clustered, key, clustered_by=(*location, "report_date"))
    plan = counted._jdf.queryExecution().executedPlan().toString()
    # The frame's own repartition and sort only: the window adds neither.
    assert (plan.count("Exchange hashpartitioning"), plan.count("Sort [")) == (1, 1), plan
    repeated = sorted((r["country"], r[dq.KEY_ROWS]) for r in counted.collect() if r[dq.KEY_ROWS] > 1)
    assert repeated == [("Peru", 2), ("Peru", 2)]
    # Without the hint the key's own order needs a sort of its own; the counts are the same.
    unhinted = dq.with_key_rows(clustered, key)
    assert unhinted._jdf.queryExecution().executedPlan().toString().count("Sort [") == 2
    assert sorted(r[dq.KEY_ROWS] for r in unhinted.collect()) == sorted(r[dq.KEY_ROWS] for r in counted.collect())


def test_set_membership_is_computed_in_the_pass(spark) -> None:
    df = spark.createDataFrame([*CLEAN[:3], row(country="Atlantis"), row(country=None)], SCHEMA)
    check = dq.Check(
        "validity: country", dq.WARN, "ExpectColumnValuesToBeInSet", {"column": "country", "value_set": ["Chad"]}
    )
    assert one_pass(df, [check]) == great_expectations_on_the_frame(df, [check])
    assert one_pass(df, [check])[0]["unexpected_count"] == 1


def test_a_check_the_pass_cannot_compute_is_refused_by_name() -> None:
    check = dq.Check("format", dq.WARN, "ExpectColumnValuesToMatchRegex", {"column": "iso3", "regex": "^[A-Z]{3}$"})
    with pytest.raises(dq.UnsupportedCheck, match=r"column_values\.match_regex\.unexpected_count"):
        dq.metric_pass([check])
