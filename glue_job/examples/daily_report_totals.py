"""An example AWS Glue job written the Glue way: catalog in, DynamicFrame transforms, partitioned Parquet out,
job bookmarks on.

It reads the JHU daily reports registered in the Glue Data Catalog as a CSV table, keeps the fields it needs with
their types (ApplyMapping), drops rows without a country or a count (Filter), adds up each country's cases per
day and writes them as Parquet partitioned by year and month. With ``--job-bookmark-option job-bookmark-enable``
each run reads only the files the previous runs have not read (``transformation_ctx="reports"``).

    --JOB_NAME n --database db --table_name daily_reports --output_path s3://bucket/prefix/

The same file runs on AWS Glue and under the local Glue executor (StartJobRun), unchanged; its unit tests are in
``tests/component/test_awsglue_example_job.py``.
"""

import sys

from pyspark.context import SparkContext
from pyspark.sql import functions as F

from awsglue.context import GlueContext
from awsglue.dynamicframe import DynamicFrame
from awsglue.job import Job
from awsglue.transforms import ApplyMapping, Filter
from awsglue.utils import getResolvedOptions

# The daily report columns the job keeps, as (source, source type, target, target type).
MAPPINGS = [
    ("country_region", "string", "country", "string"),
    ("province_state", "string", "province", "string"),
    ("last_update", "string", "last_update", "timestamp"),
    ("confirmed", "long", "confirmed", "long"),
    ("deaths", "long", "deaths", "long"),
]
PARTITION_KEYS = ["year", "month"]


def has_country_and_count(record: dict) -> bool:
    return bool(record.get("country")) and record.get("confirmed") is not None


def daily_totals(reports: DynamicFrame, glue_context: GlueContext) -> DynamicFrame:
    """Each country's confirmed cases and deaths per report day, with the year and month it is filed under."""
    mapped = ApplyMapping.apply(frame=reports, mappings=MAPPINGS, transformation_ctx="mapped")
    kept = Filter.apply(frame=mapped, f=has_country_and_count, transformation_ctx="kept")
    totals = (
        kept.toDF()
        .withColumn("report_date", F.to_date("last_update"))
        .groupBy("country", "report_date")
        .agg(F.sum("confirmed").alias("confirmed"), F.sum("deaths").alias("deaths"))
        .withColumn("year", F.year("report_date"))
        .withColumn("month", F.month("report_date"))
    )
    return DynamicFrame.fromDF(totals, glue_context, "daily_totals")


def main(argv: list) -> None:
    args = getResolvedOptions(argv, ["JOB_NAME", "database", "table_name", "output_path"])
    glue_context = GlueContext(SparkContext.getOrCreate())
    job = Job(glue_context)
    job.init(args["JOB_NAME"], args)
    reports = glue_context.create_dynamic_frame.from_catalog(
        database=args["database"], table_name=args["table_name"], transformation_ctx="reports"
    )
    # A run with nothing new to read has an empty frame without fields (its records define them): nothing to do.
    if reports.count() == 0:
        job.commit()
        return
    glue_context.write_dynamic_frame.from_options(
        frame=daily_totals(reports, glue_context),
        connection_type="s3",
        connection_options={"path": args["output_path"], "partitionKeys": PARTITION_KEYS},
        format="parquet",
        transformation_ctx="totals",
    )
    job.commit()


if __name__ == "__main__":
    main(sys.argv)
