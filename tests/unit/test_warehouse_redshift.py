"""The Redshift target: its generated SQL as text (no Redshift exists here) and its Data API conversation, checked
against the real redshift-data service model by botocore's Stubber (moto implements no BatchExecuteStatement)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from covid_pipeline.warehouse import WarehouseError, load_partitions
from covid_pipeline.warehouse.base import Partition
from covid_pipeline.warehouse.redshift_sql import (
    literal,
    partition_statements,
    removal_statements,
    schema_statements,
    table_ddl,
)
from covid_pipeline.warehouse.redshift_target import RedshiftTarget
from covid_pipeline.warehouse.schema import FACT_COVID_DAILY, location_key
from tests.warehouse_fixtures import FILE_SCHEMA, write_job_output

ROLE = "arn:aws:iam::123456789012:role/covid-pipeline-dev-redshift-s3"
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:covid-redshift-AbCdEf"
PREFIX = "s3://covid-pipeline-dev-processed/jhu_daily/year=2020/month=3/"
FINGERPRINT = "a" * 64
URL = f"redshift://covid-dev/covid?secret_arn={SECRET}&iam_role={ROLE}"


def statements() -> list[str]:
    """The partition's statements after its LOCK (test_every_changing_transaction_starts_by_locking_the_load_state)."""
    return partition_statements(Partition(2020, 3), PREFIX, FINGERPRINT, 2, FILE_SCHEMA, ROLE)[1:]


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
    from covid_pipeline.warehouse.redshift_sql import removal_statements

    assert removal_statements(["year=2020/month=4", "year=2021/month=12"]) == [
        "LOCK warehouse_load_state",
        "DELETE FROM fact_covid_daily WHERE year = 2020 AND month = 4",
        "DELETE FROM warehouse_load_state WHERE partition_key = 'year=2020/month=4'",
        "DELETE FROM fact_covid_daily WHERE year = 2021 AND month = 12",
        "DELETE FROM warehouse_load_state WHERE partition_key = 'year=2021/month=12'",
    ]


def test_query_string_secrets_are_redacted_too() -> None:
    from covid_pipeline.report import _redact
    from covid_pipeline.warehouse import redact_url

    assert redact_url("postgresql://loader@db/covid?password=s3cret&sslmode=require") == (
        "postgresql://loader@db/covid?password=***&sslmode=require"
    )
    assert redact_url("postgresql://u:pw@db/covid?sslpassword=k3y&PWD=x&access_token=t") == (
        "postgresql://u:***@db/covid?sslpassword=***&PWD=***&access_token=***"
    )
    # An ARN names a secret, it is not one: the Redshift URL stays readable.
    redshift = "redshift://c/covid?secret_arn=arn:aws:secretsmanager:us-east-1:123456789012:secret:s&region=us-east-1"
    assert redact_url(redshift) == redshift
    assert _redact("postgresql://u:pw@db/covid?password=pw") == redact_url("postgresql://u:pw@db/covid?password=pw")


class SlowDataApi:
    """A Data API whose statements never finish; records what the target cancels."""

    def __init__(self) -> None:
        self.cancelled: list[str] = []

    def batch_execute_statement(self, **_: object) -> dict[str, str]:
        return {"Id": "stuck"}

    def describe_statement(self, Id: str) -> dict[str, str]:
        return {"Id": Id, "Status": "STARTED"}

    def cancel_statement(self, Id: str) -> dict[str, bool]:
        self.cancelled.append(Id)
        return {"Status": True}


def test_a_statement_that_never_finishes_is_cancelled_at_the_deadline() -> None:
    import time

    client = SlowDataApi()
    target = RedshiftTarget(URL, data_api_client=client, wait_seconds=0.3)
    started = time.monotonic()
    with pytest.raises(WarehouseError, match=r"schema set-up did not finish within 0.3 s \(statement stuck"):
        target.ensure_schema()
    assert time.monotonic() - started < 2
    assert client.cancelled == ["stuck"]


def test_every_changing_transaction_starts_by_locking_the_load_state() -> None:
    assert partition_statements(Partition(2020, 3), PREFIX, FINGERPRINT, 2, FILE_SCHEMA, ROLE)[0] == (
        "LOCK warehouse_load_state"
    )
    assert removal_statements(["year=2020/month=3"])[0] == "LOCK warehouse_load_state"


def test_the_loader_user_gets_its_schema_temp_and_copy_role_only() -> None:
    from covid_pipeline.warehouse.redshift_bootstrap import bootstrap_statements, md5_password

    hashed = md5_password("covid_loader", "pw")
    assert hashed == "md5" + hashlib.md5(b"pwcovid_loader").hexdigest()
    assert bootstrap_statements("covid_loader", hashed, "covid", "covid_warehouse", ROLE, user_exists=False) == [
        f"CREATE USER covid_loader PASSWORD '{hashed}' NOCREATEDB NOCREATEUSER CONNECTION LIMIT 10",
        "CREATE SCHEMA IF NOT EXISTS covid_warehouse AUTHORIZATION covid_loader",
        "ALTER USER covid_loader SET search_path TO covid_warehouse",
        "GRANT TEMP ON DATABASE covid TO covid_loader",
        f"GRANT ASSUMEROLE ON '{ROLE}' TO covid_loader FOR COPY",
    ]
    rotated = bootstrap_statements("covid_loader", hashed, "covid", "covid_warehouse", ROLE, user_exists=True)
    assert rotated[0].startswith("ALTER USER covid_loader PASSWORD ")
    with pytest.raises(WarehouseError, match="md5 hash"):
        bootstrap_statements("covid_loader", "plain", "covid", "covid_warehouse", ROLE, user_exists=False)
    with pytest.raises(WarehouseError, match="refusing user name"):
        bootstrap_statements("x; DROP", hashed, "covid", "covid_warehouse", ROLE, user_exists=False)


class FakeSecrets:
    def __init__(self, value: str) -> None:
        self.value = value
        self.put: list[str] = []

    def get_secret_value(self, SecretId: str) -> dict[str, str]:
        return {"SecretString": self.value}

    def put_secret_value(self, SecretId: str, SecretString: str) -> None:
        self.put.append(SecretString)


@pytest.mark.parametrize(
    ("url", "env", "secret", "expected"),
    [
        ("postgresql://u:inline@h/db", {"COVID_WAREHOUSE_PASSWORD": "env"}, None, {}),
        ("postgresql://u@h/db", {"COVID_WAREHOUSE_PASSWORD": "env"}, None, {"password": "env"}),
        ("postgresql://u@h/db", {"COVID_WAREHOUSE_SECRET_ARN": "arn"}, "plain", {"password": "plain"}),
        (
            "postgresql://h/db",
            {"COVID_WAREHOUSE_SECRET_ARN": "arn"},
            '{"username": "loader", "password": "js"}',
            {"user": "loader", "password": "js"},
        ),
        # A user named in the URL wins over the secret's.
        (
            "postgresql://u@h/db",
            {"COVID_WAREHOUSE_SECRET_ARN": "arn"},
            '{"username": "x", "password": "secret-p"}',
            {"password": "secret-p"},
        ),
        ("postgresql://u@h/db", {}, None, {}),
    ],
)
def test_credentials_come_from_the_url_the_environment_or_a_secret(
    url: str, env: dict[str, str], secret: str | None, expected: dict[str, str]
) -> None:
    from covid_pipeline.warehouse.credentials import credentials_for_url

    found = credentials_for_url(url, env, FakeSecrets(secret or ""))
    assert found.connect_arguments() == expected
    assert found.password is None or found.password not in repr(found)


def test_bootstrap_stores_the_new_password_in_the_loaders_secret() -> None:
    import json

    from covid_pipeline.warehouse.redshift_bootstrap import bootstrap_loader_user

    class DataApi:
        def __init__(self) -> None:
            self.batches: list[list[str]] = []

        def execute_statement(self, **_: object) -> dict[str, str]:
            return {"Id": "users"}

        def batch_execute_statement(self, Sqls: list[str], **_: object) -> dict[str, str]:
            self.batches.append(Sqls)
            return {"Id": "bootstrap"}

        def describe_statement(self, Id: str) -> dict[str, str]:
            return {"Id": Id, "Status": "FINISHED"}

        def get_paginator(self, _: str) -> object:
            class Pages:
                def paginate(self, **_: object) -> list[dict]:
                    return [{"Records": [[{"stringValue": "pipeline_admin"}], [{"stringValue": "rdsdb"}]]}]

            return Pages()

    data_api, secrets = DataApi(), FakeSecrets('{"username": "covid_loader"}')
    done = bootstrap_loader_user(URL, "arn:loader", data_api_client=data_api, secrets_client=secrets)
    assert done == {"user": "covid_loader", "schema": "covid_warehouse", "action": "created", "secret": "arn:loader"}
    (stored,) = [json.loads(text) for text in secrets.put]
    assert stored["username"] == "covid_loader" and len(stored["password"]) >= 40
    (batch,) = data_api.batches
    assert batch[0].startswith("CREATE USER covid_loader PASSWORD 'md5")
    assert stored["password"] not in "\n".join(batch)
