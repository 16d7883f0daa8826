"""The Redshift target: its generated SQL as text (no Redshift exists here) and its Data API conversation, checked
against the real redshift-data service model by botocore's Stubber (moto implements no BatchExecuteStatement)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from covid_pipeline.warehouse import WarehouseError, load_partitions
from covid_pipeline.warehouse.base import Partition
from covid_pipeline.warehouse.redshift_target import (
    RedshiftTarget,
    literal,
    partition_statements,
    schema_statements,
    table_ddl,
)
from covid_pipeline.warehouse.schema import FACT_COVID_DAILY, location_key
from tests.warehouse_fixtures import FILE_SCHEMA, write_job_output

ROLE = "arn:aws:iam::123456789012:role/covid-pipeline-dev-redshift-s3"
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:covid-redshift-AbCdEf"
PREFIX = "s3://covid-pipeline-dev-processed/jhu_daily/year=2020/month=3/"
FINGERPRINT = "a" * 64
URL = f"redshift://covid-dev/covid?secret_arn={SECRET}&iam_role={ROLE}"


def statements() -> list[str]:
    return partition_statements(Partition(2020, 3), PREFIX, FINGERPRINT, 2, FILE_SCHEMA, ROLE)


def test_fact_table_is_distributed_on_location_and_sorted_on_date() -> None:
    ddl = table_ddl(FACT_COVID_DAILY)
    assert ddl.startswith("CREATE TABLE IF NOT EXISTS fact_covid_daily (\n    date_key INTEGER,\n")
    assert ddl.endswith(") DISTSTYLE KEY DISTKEY (location_key) COMPOUND SORTKEY (date_key, location_key)")
    schema = schema_statements()
    assert "CREATE TABLE IF NOT EXISTS dim_location (" in schema[0] and schema[0].endswith(
        "DISTSTYLE ALL SORTKEY (location_key)"
    )
    assert "DROP VIEW IF EXISTS v_7day_avg CASCADE" in schema
    assert "ROWS BETWEEN 6 PRECEDING AND CURRENT ROW" in schema[-1]  # Redshift has no RANGE frames


def test_partition_is_staged_by_copy_from_parquet_with_the_files_own_columns() -> None:
    create_stage, copy = statements()[:2]
    # one staging column per file column, in file order; the map column lands in SUPER
    assert create_stage.splitlines()[1:4] == [
        "    report_date DATE,",
        "    country VARCHAR(65535),",
        "    iso3 VARCHAR(65535),",
    ]
    assert "    extra_fields SUPER" in create_stage
    assert copy == (f"COPY stage_partition FROM '{PREFIX}' IAM_ROLE '{ROLE}' FORMAT AS PARQUET SERIALIZETOJSON")


def test_location_key_sql_hashes_the_same_text_as_python() -> None:
    keyed = statements()[2]
    expression = (
        "STRTOL(LEFT(MD5(COALESCE(country, CHR(30)) || CHR(31) || COALESCE(province, CHR(30)) || CHR(31) || "
        "COALESCE(admin2, CHR(30))), 15), 16) AS location_key"
    )
    assert expression in keyed
    # the Python side of the same definition: md5 of "US<31>New York<31>Kings", first 15 hex digits
    text = "US" + chr(31) + "New York" + chr(31) + "Kings"
    assert location_key("US", "New York", "Kings") == int(hashlib.md5(text.encode()).hexdigest()[:15], 16)


def test_partition_transaction_replaces_facts_and_records_the_fingerprint() -> None:
    sqls = statements()
    assert len(sqls) == 11
    assert sqls[3].startswith("INSERT INTO dim_date (")
    assert "dim_location.attributes_as_of <= s.attributes_as_of" in sqls[5]
    assert sqls[6].startswith("INSERT INTO dim_location (")
    assert sqls[7] == "DELETE FROM fact_covid_daily WHERE year = 2020 AND month = 3"
    assert sqls[8].startswith("INSERT INTO fact_covid_daily (date_key, location_key, confirmed,")
    assert sqls[8].endswith("CAST(2020 AS SMALLINT), CAST(3 AS SMALLINT) FROM stage_keyed")
    assert sqls[9] == "DELETE FROM warehouse_load_state WHERE partition_key = 'year=2020/month=3'"
    assert (
        f"SELECT 'year=2020/month=3', '{FINGERPRINT}', '{PREFIX}', 2, COUNT(*), GETDATE() FROM stage_keyed" in sqls[10]
    )


def test_no_value_from_the_data_reaches_the_sql() -> None:
    text = "\n".join(statements())
    assert "'" not in text.replace(f"'{PREFIX}'", "").replace(f"'{ROLE}'", "").replace(
        "'year=2020/month=3'", ""
    ).replace(f"'{FINGERPRINT}'", "").replace("'Day'", "").replace("'Month'", "")


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("s3_prefix", "s3://bucket/x'; DROP TABLE fact_covid_daily; --/"),
        ("iam_role", "arn:aws:iam::123456789012:role/x' --"),
        ("partition_key", "year=2020/month=3'"),
        ("fingerprint", "abc"),
    ],
)
def test_literals_with_unexpected_characters_are_refused(kind: str, value: str) -> None:
    with pytest.raises(WarehouseError, match="refusing"):
        literal(kind, value)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (f"redshift://covid-dev/covid?iam_role={ROLE}", "secret_arn="),
        (f"redshift://covid-dev/?secret_arn={SECRET}&iam_role={ROLE}", "a database"),
        (f"redshift://covid-dev/covid?secret_arn={SECRET}", "iam_role="),
    ],
)
def test_incomplete_urls_say_what_is_missing(url: str, problem: str) -> None:
    with pytest.raises(WarehouseError, match=problem):
        RedshiftTarget(url)


def test_local_directory_source_is_refused(tmp_path: Path) -> None:
    output = write_job_output(tmp_path / "jhu_daily")
    with pytest.raises(WarehouseError, match="source must be an s3:// URI"):
        load_partitions(str(output), URL)


def test_url_selects_a_cluster_or_a_serverless_workgroup() -> None:
    cluster = RedshiftTarget(URL)
    assert cluster._target_arguments() == {"Database": "covid", "ClusterIdentifier": "covid-dev", "SecretArn": SECRET}
    # Terraform URL-encodes the ARNs; the query string decodes them
    serverless = RedshiftTarget(
        "redshift:///covid?workgroup=covid-wg&iam_role=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fcopy&region=eu-west-1"
    )
    assert serverless._target_arguments() == {"Database": "covid", "WorkgroupName": "covid-wg"}
    assert serverless.iam_role == "arn:aws:iam::123456789012:role/copy"
    assert serverless.region == "eu-west-1"


def test_passwords_never_reach_messages() -> None:
    from covid_pipeline.warehouse import redact_url

    assert redact_url("postgresql://loader:s3cret@db:5432/covid") == "postgresql://loader:***@db:5432/covid"
    assert redact_url("duckdb:///tmp/w.duckdb") == "duckdb:///tmp/w.duckdb"
    with pytest.raises(WarehouseError, match="unsupported warehouse URL 'mysql://u:\\*\\*\\*@h/db'"):
        from covid_pipeline.warehouse import target_for_url

        target_for_url("mysql://u:pw@h/db")


def test_removal_deletes_facts_and_load_state_of_each_partition() -> None:
    from covid_pipeline.warehouse.redshift_target import removal_statements

    assert removal_statements(["year=2020/month=4", "year=2021/month=12"]) == [
        "DELETE FROM fact_covid_daily WHERE year = 2020 AND month = 4",
        "DELETE FROM warehouse_load_state WHERE partition_key = 'year=2020/month=4'",
        "DELETE FROM fact_covid_daily WHERE year = 2021 AND month = 12",
        "DELETE FROM warehouse_load_state WHERE partition_key = 'year=2021/month=12'",
    ]
