"""The loader reading the job's output from S3 (moto over HTTP): into DuckDB, and into Redshift through the Data
API (its conversation checked against the real redshift-data service model by botocore's Stubber, because moto
implements no BatchExecuteStatement)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import duckdb
import pytest
from botocore.stub import ANY, Stubber

from covid_pipeline.warehouse import WarehouseError, load_partitions
from covid_pipeline.warehouse.base import Partition
from covid_pipeline.warehouse.redshift_sql import partition_statements, schema_statements
from covid_pipeline.warehouse.redshift_target import RedshiftTarget
from covid_pipeline.warehouse.source import PartitionSource
from tests.warehouse_fixtures import (
    FILE_SCHEMA,
    march_rows,
    partition_table,
    upload_directory,
    write_job_output,
)

BUCKET = "covid-pipeline-test-processed"
SOURCE = f"s3://{BUCKET}/jhu_daily/"
ROLE = "arn:aws:iam::123456789012:role/covid-pipeline-test-redshift-s3"
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:covid-redshift-AbCdEf"
pytest_plugins = ["tests.moto_fixture"]  # the moto_endpoint fixture

URL = f"redshift://covid-test/covid?secret_arn={SECRET}&iam_role={ROLE}"


@pytest.fixture
def s3(moto_endpoint: str, tmp_path: Path) -> Any:
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    upload_directory(client, write_job_output(tmp_path / "jhu_daily"), BUCKET, "jhu_daily/")
    return client


def test_s3_source_lists_partitions_with_etags_and_ignores_spark_litter(s3: Any) -> None:
    snapshots = PartitionSource(SOURCE, s3_client=s3).snapshots()
    assert sorted(p.key for p in snapshots) == ["year=2020/month=3", "year=2020/month=4"]
    march = snapshots[Partition(2020, 3)]
    assert [obj.uri for obj in march.objects] == [f"{SOURCE}year=2020/month=3/part-00000.snappy.parquet"]
    assert march.prefix_uri == f"{SOURCE}year=2020/month=3/"
    assert len(march.objects[0].etag) == 32  # MD5 of a single-part upload


def test_parquet_schema_is_read_from_the_footer_by_ranged_gets(s3: Any) -> None:
    source = PartitionSource(SOURCE, s3_client=s3)
    assert source.read_schema(source.snapshots()[Partition(2020, 3)]).names == FILE_SCHEMA.names


def test_load_from_s3_is_incremental_by_etag(s3: Any, tmp_path: Path) -> None:
    warehouse = f"duckdb://{tmp_path / 'w.duckdb'}"
    assert load_partitions(SOURCE, warehouse, s3_client=s3).rows_loaded == 10
    # the job rewrote March with identical bytes under a new name: same content, nothing to do
    key = "jhu_daily/year=2020/month=3/part-00000.snappy.parquet"
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    s3.delete_object(Bucket=BUCKET, Key=key)
    s3.put_object(Bucket=BUCKET, Key=key.replace("part-00000", "part-00000-new"), Body=body)
    assert load_partitions(SOURCE, warehouse, s3_client=s3).partitions_loaded == []
    # ...then with a revised row: March is replaced
    import io

    import pyarrow.parquet as pq

    rows = march_rows()
    rows[0]["confirmed"] = 999
    buffer = io.BytesIO()
    pq.write_table(partition_table(rows), buffer)
    s3.put_object(Bucket=BUCKET, Key=key.replace("part-00000", "part-00000-new"), Body=buffer.getvalue())
    result = load_partitions(SOURCE, warehouse, s3_client=s3)
    assert (result.partitions_loaded, result.rows_loaded) == (["year=2020/month=3"], 8)
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as connection:
        assert connection.execute(
            "SELECT count(*), sum(confirmed) FILTER (confirmed = 999) FROM fact_covid_daily"
        ).fetchall() == [(10, 999)]


def test_unreachable_s3_is_a_clear_error(tmp_path: Path) -> None:
    from tests.warehouse_fixtures import free_port

    client = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{free_port()}", region_name="us-east-1")
    with pytest.raises(WarehouseError, match=f"cannot list {SOURCE}"):
        load_partitions(SOURCE, f"duckdb://{tmp_path / 'w.duckdb'}", s3_client=client)


def _data_api() -> tuple[Any, Stubber]:
    client = boto3.client("redshift-data", region_name="us-east-1", endpoint_url="https://redshift-data.invalid")
    return client, Stubber(client)


def test_load_runs_one_transaction_batch_per_changed_partition(s3: Any) -> None:
    snapshots = PartitionSource(SOURCE, s3_client=s3).snapshots()
    march, april = snapshots[Partition(2020, 3)], snapshots[Partition(2020, 4)]
    client, stub = _data_api()
    target = {"ClusterIdentifier": "covid-test", "Database": "covid", "SecretArn": SECRET}
    stub.add_response("batch_execute_statement", {"Id": "schema"}, {"Sqls": schema_statements(), **target})
    stub.add_response("describe_statement", {"Id": "schema", "Status": "STARTED"}, {"Id": "schema"})
    stub.add_response("describe_statement", {"Id": "schema", "Status": "FINISHED"}, {"Id": "schema"})
    stub.add_response("execute_statement", {"Id": "state"}, {"Sql": ANY, **target})
    stub.add_response("describe_statement", {"Id": "state", "Status": "FINISHED"}, {"Id": "state"})
    # April is already loaded with this very content: only March is loaded.
    stub.add_response(
        "get_statement_result",
        {"Records": [[{"stringValue": april.partition.key}, {"stringValue": april.fingerprint}]], "TotalNumRows": 1},
        {"Id": "state"},
    )
    march_sql = partition_statements(march.partition, march.prefix_uri, march.fingerprint, 1, FILE_SCHEMA, ROLE)
    stub.add_response("batch_execute_statement", {"Id": "march"}, {"Sqls": march_sql, **target})
    fact_insert = next(i for i, text in enumerate(march_sql) if text.startswith("INSERT INTO fact_covid_daily"))
    sub_statements = [
        {"Id": f"march:{i + 1}", "ResultRows": 8 if i == fact_insert else 0} for i in range(len(march_sql))
    ]
    stub.add_response(
        "describe_statement", {"Id": "march", "Status": "FINISHED", "SubStatements": sub_statements}, {"Id": "march"}
    )
    with stub:
        result = load_partitions(SOURCE, URL, s3_client=s3, target=RedshiftTarget(URL, s3, data_api_client=client))
    stub.assert_no_pending_responses()
    assert result.partitions_loaded == ["year=2020/month=3"]
    assert result.partitions_skipped == ["year=2020/month=4"]
    assert result.rows_loaded == 8


def test_failed_batch_is_reported_as_rolled_back(s3: Any) -> None:
    client, stub = _data_api()
    stub.add_response("batch_execute_statement", {"Id": "schema"}, None)
    stub.add_response(
        "describe_statement",
        {"Id": "schema", "Status": "FAILED", "Error": "ERROR: permission denied for schema public"},
        None,
    )
    with stub, pytest.raises(WarehouseError, match=r"schema set-up failed and was rolled back: .*permission denied"):
        load_partitions(SOURCE, URL, s3_client=s3, target=RedshiftTarget(URL, s3, data_api_client=client))


def test_unreachable_cluster_is_a_clear_error(s3: Any) -> None:
    client, stub = _data_api()
    stub.add_client_error("batch_execute_statement", "ValidationException", "Cluster covid-test not found", 400)
    with stub, pytest.raises(WarehouseError, match=r"Data API call for schema set-up failed: .*covid-test not found"):
        load_partitions(SOURCE, URL, s3_client=s3, target=RedshiftTarget(URL, s3, data_api_client=client))
