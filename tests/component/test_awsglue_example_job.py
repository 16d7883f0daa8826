"""Unit tests of the example job, written the usual Glue way: the catalog source and the S3 sink are patched on
awsglue's DynamicFrameReader and DynamicFrameWriter, and main() runs unchanged."""

from __future__ import annotations

from datetime import date
from typing import Any
from unittest.mock import MagicMock, patch

import pytest
from examples import daily_report_totals

from awsglue.context import GlueContext
from awsglue.dynamicframe import DynamicFrame
from tests.awsglue_support import glue_context_fixture, rows  # noqa: F401  (the glue_context fixture)

pytestmark = pytest.mark.spark

ARGV = ["daily_report_totals.py", "--JOB_NAME", "example", "--database", "covid", "--table_name", "daily_reports",
        "--output_path", "s3://bucket/totals/"]  # fmt: skip
# As a CSV table gives them: every field text, the catalog's (crawler's) lower-case names.
REPORTS = [
    ("Hubei", "China", "2020-02-10T23:33:02", "31728", "974", "x"),
    ("Beijing", "China", "2020-02-10 14:13:08", "342", "3", "x"),
    (None, "Italy", "2020-03-01 10:00:00", "1694", "34", "x"),
    ("Lost", None, "2020-03-01 10:00:00", "5", "0", "x"),
    (None, "Spain", "2020-03-01 10:00:00", "", "0", "x"),
]
REPORT_COLUMNS = (
    "province_state string, country_region string, last_update string, confirmed string, deaths string, fips string"
)


def reports_frame(spark: Any, glue_context: GlueContext) -> DynamicFrame:
    return DynamicFrame.fromDF(spark.createDataFrame(REPORTS, REPORT_COLUMNS), glue_context, "reports")


@patch("awsglue.dynamicframe.DynamicFrameWriter.from_options")
@patch("awsglue.dynamicframe.DynamicFrameReader.from_catalog")
def test_main_reads_the_catalog_table_and_writes_daily_totals_by_year_and_month(
    from_catalog: MagicMock, from_options: MagicMock, spark: Any, glue_context: GlueContext
) -> None:
    from_catalog.return_value = reports_frame(spark, glue_context)

    daily_report_totals.main(ARGV)

    from_catalog.assert_called_once_with(database="covid", table_name="daily_reports", transformation_ctx="reports")
    written = from_options.call_args.kwargs
    assert (written["connection_type"], written["format"], written["transformation_ctx"]) == ("s3", "parquet", "totals")
    assert written["connection_options"] == {"path": "s3://bucket/totals/", "partitionKeys": ["year", "month"]}
    assert rows(written["frame"].toDF(), "country") == [
        {
            "country": "China",
            "report_date": date(2020, 2, 10),
            "confirmed": 32070,
            "deaths": 977,
            "year": 2020,
            "month": 2,
        },
        {
            "country": "Italy",
            "report_date": date(2020, 3, 1),
            "confirmed": 1694,
            "deaths": 34,
            "year": 2020,
            "month": 3,
        },
    ]


@patch("awsglue.dynamicframe.DynamicFrameWriter.from_options")
@patch("awsglue.dynamicframe.DynamicFrameReader.from_catalog")
def test_a_run_with_nothing_new_writes_nothing(
    from_catalog: MagicMock, from_options: MagicMock, spark: Any, glue_context: GlueContext
) -> None:
    from_catalog.return_value = DynamicFrame.fromDF(spark.createDataFrame([], "x string").drop("x"), glue_context, "r")
    daily_report_totals.main(ARGV)
    from_options.assert_not_called()


def test_daily_totals_keeps_typed_fields_only(spark: Any, glue_context: GlueContext) -> None:
    totals = daily_report_totals.daily_totals(reports_frame(spark, glue_context), glue_context)
    assert [(f.name, f.dataType.typeName()) for f in totals.schema().fields] == [
        ("country", "String"), ("report_date", "Date"), ("confirmed", "Long"), ("deaths", "Long"),
        ("year", "Integer"), ("month", "Integer"),
    ]  # fmt: skip
