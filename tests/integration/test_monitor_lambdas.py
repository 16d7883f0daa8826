"""The monitoring Lambdas (data quality monitor, warehouse loader) against moto over HTTP.

Alerts are read back from an SQS queue subscribed to the SNS topic, metrics from CloudWatch, loads from DuckDB.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import duckdb
import pytest

from covid_pipeline.warehouse import WarehouseError
from tests.warehouse_fixtures import upload_directory, write_job_output, write_owid_output

pytest_plugins = ["tests.moto_fixture", "tests.pg"]  # moto_endpoint; postgres_database

EVENTS = Path(__file__).resolve().parents[1] / "events"
BUCKET = "covid-pipeline-test-processed"
STATE_PATH = f"s3://{BUCKET}/_state/jhu_daily/"
OUTPUT_PATH = f"s3://{BUCKET}/jhu_daily/"
JOB = "covid-pipeline-test-covid-transform"


@dataclass
class FakeLambdaContext:
    function_name: str = "covid-pipeline-test-data-quality-monitor"
    function_version: str = "$LATEST"
    invoked_function_arn: str = (
        "arn:aws:lambda:us-east-1:123456789012:function:covid-pipeline-test-data-quality-monitor"
    )
    memory_limit_in_mb: int = 256
    aws_request_id: str = "5f1d6a7e-0000-4000-8000-000000000001"
    log_group_name: str = "/aws/lambda/covid-pipeline-test-data-quality-monitor"
    log_stream_name: str = "2026/11/26/[$LATEST]0000"

    def get_remaining_time_in_millis(self) -> int:
        return 5_000


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


@dataclass
class Aws:
    s3: Any
    sqs: Any
    cloudwatch: Any
    topic_arn: str
    alerts_queue_url: str

    def put_manifest(self, run_id: str, manifest: dict[str, Any], state_path: str = STATE_PATH) -> None:
        key = state_path.removeprefix(f"s3://{BUCKET}/") + f"runs/{run_id}.json"
        self.s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(manifest).encode())

    def alerts(self) -> list[dict[str, Any]]:
        messages = self.sqs.receive_message(QueueUrl=self.alerts_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        return [json.loads(message["Body"]) for message in messages.get("Messages", [])]

    def metric_values(self, name: str) -> list[float]:
        import datetime as dt

        now = dt.datetime.now(dt.UTC)
        stats = self.cloudwatch.get_metric_statistics(
            Namespace="CovidPipeline",
            MetricName=name,
            Dimensions=[{"Name": "JobName", "Value": JOB}],
            StartTime=now - dt.timedelta(hours=1),
            EndTime=now + dt.timedelta(minutes=5),
            Period=3600,
            Statistics=["Sum"],
        )
        return [point["Sum"] for point in stats["Datapoints"]]


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Aws:
    s3, sns, sqs = boto3.client("s3"), boto3.client("sns"), boto3.client("sqs")
    s3.create_bucket(Bucket=BUCKET)
    topic_arn = sns.create_topic(Name="covid-pipeline-test-alerts")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="alerts-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    monkeypatch.setenv("ALERTS_TOPIC_ARN", topic_arn)
    monkeypatch.setenv("STATE_PATH", STATE_PATH)
    monkeypatch.setenv("OUTPUT_PATH", OUTPUT_PATH)
    monkeypatch.setenv("DQ_SCORE_THRESHOLD", "0.9")
    monkeypatch.setenv("QUARANTINE_RATIO_THRESHOLD", "0.05")
    monkeypatch.setenv("ENVIRONMENT", "test")
    monkeypatch.setenv("METRICS_NAMESPACE", "CovidPipeline")
    return Aws(s3, sqs, boto3.client("cloudwatch"), topic_arn, queue_url)


def glue_event(state: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"glue_job_state_change_{state}.json").read_text())


def healthy_manifest(**overrides: Any) -> dict[str, Any]:
    manifest: dict[str, Any] = {
        "rows_in": 1000,
        "rows_out": 980,
        "rows_quarantined": 15,
        "rows_duplicate": 5,
        "files_processed": 3,
        "files_skipped": 0,
        "files_quarantined": 0,
        "partitions_written": ["year=2020/month=3"],
        "data_quality": {"score": 1.0, "results": []},
    }
    manifest.update(overrides)
    return manifest


# --- data quality monitor --------------------------------------------------------------------------------------------
def test_healthy_run_puts_metrics_and_sends_no_alert(aws: Aws, lambda_context: FakeLambdaContext) -> None:
    import data_quality_monitor

    event = glue_event("succeeded")
    aws.put_manifest(event["detail"]["jobRunId"], healthy_manifest())
    outcome = data_quality_monitor.handler(event, lambda_context)
    assert outcome["alert_reasons"] == [] and outcome["alert_message_id"] is None
    assert outcome["manifest_found"] is True
    assert aws.alerts() == []
    assert aws.metric_values("RowsIn") == [1000.0]
    assert aws.metric_values("DataQualityScore") == [1.0]
    assert aws.metric_values("JobRunsFailed") == [0.0]


def test_low_quality_run_publishes_an_alert(aws: Aws, lambda_context: FakeLambdaContext) -> None:
    import data_quality_monitor

    event = glue_event("succeeded")
    aws.put_manifest(
        event["detail"]["jobRunId"],
        healthy_manifest(
            rows_quarantined=120,
            data_quality={
                "score": 0.8,
                "results": [{"expectation": "freshness: latest report_date", "severity": "warn", "success": False}],
            },
        ),
    )
    outcome = data_quality_monitor.handler(event, lambda_context)
    assert len(outcome["alert_reasons"]) == 2
    [alert] = aws.alerts()
    assert alert["Subject"] == f"[test] CovidPipeline: {JOB} run needs attention"
    assert (
        "data quality score 0.800 is below the threshold 0.900 (failed: freshness: latest report_date)"
        in (alert["Message"])
    )
    assert "120 of 1000 rows quarantined (12.0%)" in alert["Message"]
    assert aws.metric_values("AlertsSent") == [1.0]


def test_failed_run_alerts_with_the_glue_error(aws: Aws, lambda_context: FakeLambdaContext) -> None:
    import data_quality_monitor

    event = glue_event("failed")
    outcome = data_quality_monitor.handler(event, lambda_context)
    assert outcome["manifest_found"] is False
    [alert] = aws.alerts()
    assert alert["Subject"] == f"[test] CovidPipeline: {JOB} run failed"
    assert f"job run FAILED: {event['detail']['message']}" in alert["Message"]
    assert aws.metric_values("JobRunsFailed") == [1.0]


def test_manifest_location_comes_from_the_runs_own_arguments(aws: Aws, lambda_context: FakeLambdaContext) -> None:
    import data_quality_monitor

    glue = boto3.client("glue")
    other_state = f"s3://{BUCKET}/elsewhere/state/"
    glue.create_job(
        Name=JOB,
        Role="arn:aws:iam::123456789012:role/glue",
        Command={"Name": "glueetl", "ScriptLocation": "s3://scripts/covid_transform.py"},
        DefaultArguments={"--state_path": other_state},
    )
    run_id = glue.start_job_run(JobName=JOB)["JobRunId"]
    aws.put_manifest(run_id, healthy_manifest(data_quality={"score": 0.5, "results": []}), state_path=other_state)
    event = copy.deepcopy(glue_event("succeeded"))
    event["detail"]["jobRunId"] = run_id
    outcome = data_quality_monitor.handler(event, lambda_context)
    assert outcome["manifest_found"] is True
    assert outcome["alert_reasons"] == ["data quality score 0.500 is below the threshold 0.900"]


def check_marker(aws: Aws, event: dict[str, Any]) -> dict[str, Any]:
    key = STATE_PATH.removeprefix(f"s3://{BUCKET}/") + f"monitor/{event['detail']['jobRunId']}.FAILED.json"
    return json.loads(aws.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def test_a_repeated_event_sends_neither_the_alert_nor_the_metrics_again(
    aws: Aws, lambda_context: FakeLambdaContext
) -> None:
    import data_quality_monitor

    event = glue_event("failed")
    first = data_quality_monitor.handler(event, lambda_context)
    again = data_quality_monitor.handler(copy.deepcopy(event), lambda_context)  # EventBridge: at least once

    assert first["alert_message_id"] and not first["already_checked"]
    assert again["already_checked"] and again["alert_message_id"] is None and again["metrics_published"] == 0
    assert len(aws.alerts()) == 1
    assert aws.metric_values("JobRunsFailed") == [1.0]
    assert check_marker(aws, event)["status"] == "done"
    assert check_marker(aws, event)["alert_message_id"] == first["alert_message_id"]


def test_a_check_left_half_done_is_taken_over_once_stale(
    aws: Aws, lambda_context: FakeLambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    import data_quality_monitor

    event = glue_event("failed")
    key = STATE_PATH.removeprefix(f"s3://{BUCKET}/") + f"monitor/{event['detail']['jobRunId']}.FAILED.json"
    left = {"status": "claimed", "claimed_at": 1.0}  # an invocation that died long ago
    aws.s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(left).encode())
    monkeypatch.setenv("CLAIM_STALE_SECONDS", "30")

    outcome = data_quality_monitor.handler(event, lambda_context)

    assert outcome["alert_message_id"] and len(aws.alerts()) == 1
    assert check_marker(aws, event)["status"] == "done"


def test_an_alert_that_cannot_be_sent_is_left_to_the_retry(
    aws: Aws, lambda_context: FakeLambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    import data_quality_monitor

    event = glue_event("failed")
    monkeypatch.setenv("ALERTS_TOPIC_ARN", aws.topic_arn + "-missing")
    with pytest.raises(Exception, match=r"NotFound|does not exist"):
        data_quality_monitor.handler(event, lambda_context)
    monkeypatch.setenv("ALERTS_TOPIC_ARN", aws.topic_arn)

    retried = data_quality_monitor.handler(event, lambda_context)

    assert retried["alert_message_id"] and len(aws.alerts()) == 1


def test_non_glue_event_is_rejected(aws: Aws, lambda_context: FakeLambdaContext) -> None:
    import data_quality_monitor

    from covid_pipeline.monitoring import EventError

    with pytest.raises(EventError, match="not a Glue event"):
        data_quality_monitor.handler({"source": "aws.s3", "detail": {}}, lambda_context)


# --- warehouse loader ------------------------------------------------------------------------------------------------
@pytest.fixture
def loaded_output(aws: Aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    upload_directory(aws.s3, write_job_output(tmp_path / "jhu_daily"), BUCKET, "jhu_daily/")
    warehouse = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("WAREHOUSE_URL", f"duckdb://{warehouse}")
    return warehouse


def test_loader_brings_the_warehouse_in_step_with_the_whole_output(
    aws: Aws, loaded_output: Path, lambda_context: FakeLambdaContext
) -> None:
    import warehouse_loader

    event = glue_event("succeeded")
    # The run wrote March; April was published by an earlier run whose load never happened: both are loaded.
    aws.put_manifest(event["detail"]["jobRunId"], healthy_manifest(partitions_written=["year=2020/month=3"]))
    outcome = warehouse_loader.handler(event, lambda_context)
    assert outcome["partitions_loaded"] == ["year=2020/month=3", "year=2020/month=4"] and outcome["rows_loaded"] == 10
    # the same event delivered again changes nothing
    again = warehouse_loader.handler(event, lambda_context)
    assert again["partitions_loaded"] == [] and again["partitions_skipped"] == [
        "year=2020/month=3",
        "year=2020/month=4",
    ]
    with duckdb.connect(str(loaded_output), read_only=True) as connection:
        assert connection.execute("SELECT count(*), min(month), max(month) FROM fact_covid_daily").fetchall() == [
            (10, 3, 4)
        ]
    assert aws.metric_values("WarehouseRowsLoaded") == [10.0]  # the re-delivery loaded 0 rows


def test_loader_skips_runs_that_did_not_succeed(
    aws: Aws, loaded_output: Path, lambda_context: FakeLambdaContext
) -> None:
    import warehouse_loader

    outcome = warehouse_loader.handler(glue_event("failed"), lambda_context)
    assert outcome["skipped"] == "run state is FAILED, nothing to load"
    assert not loaded_output.exists()


def test_loader_fails_loudly_without_a_manifest(
    aws: Aws, loaded_output: Path, lambda_context: FakeLambdaContext
) -> None:
    import warehouse_loader

    with pytest.raises(WarehouseError, match="SUCCEEDED but wrote no manifest under s3://"):
        warehouse_loader.handler(glue_event("succeeded"), lambda_context)


def test_loader_loads_into_postgresql_too(
    aws: Aws,
    loaded_output: Path,
    postgres_database: str,
    lambda_context: FakeLambdaContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import psycopg
    import warehouse_loader

    monkeypatch.setenv("WAREHOUSE_URL", postgres_database)
    event = glue_event("succeeded")
    aws.put_manifest(event["detail"]["jobRunId"], healthy_manifest(partitions_written=[{"year": 2020, "month": 4}]))
    outcome = warehouse_loader.handler(event, lambda_context)
    assert outcome["partitions_loaded"] == ["year=2020/month=3", "year=2020/month=4"] and outcome["rows_loaded"] == 10
    with psycopg.connect(postgres_database) as connection:
        assert connection.execute(
            "SELECT country, confirmed FROM v_latest_by_country WHERE country = 'Italy'"
        ).fetchall() == [("Italy", 115_000)]


def test_loader_removes_the_partitions_the_run_emptied(
    aws: Aws, loaded_output: Path, lambda_context: FakeLambdaContext
) -> None:
    import warehouse_loader

    event = glue_event("succeeded")
    run_id = event["detail"]["jobRunId"]
    aws.put_manifest(run_id, healthy_manifest(partitions_written=["year=2020/month=3", "year=2020/month=4"]))
    assert warehouse_loader.handler(event, lambda_context)["rows_loaded"] == 10
    # a later run emptied April: the job deleted its files and says so in its manifest
    aws.s3.delete_object(Bucket=BUCKET, Key="jhu_daily/year=2020/month=4/part-00000.snappy.parquet")
    aws.put_manifest(run_id, healthy_manifest(partitions_written=[], partitions_removed=["year=2020/month=4"]))
    outcome = warehouse_loader.handler(event, lambda_context)
    assert outcome["partitions_removed"] == ["year=2020/month=4"] and outcome["partitions_loaded"] == []
    with duckdb.connect(str(loaded_output), read_only=True) as connection:
        assert connection.execute("SELECT DISTINCT month FROM fact_covid_daily").fetchall() == [(3,)]


def test_an_owid_run_loads_its_own_output_into_its_own_table(
    aws: Aws, loaded_output: Path, tmp_path: Path, lambda_context: FakeLambdaContext
) -> None:
    import warehouse_loader

    upload_directory(aws.s3, write_owid_output(tmp_path / "owid"), BUCKET, "owid/")
    glue = boto3.client("glue")
    glue.create_job(
        Name=JOB,
        Role="arn:aws:iam::123456789012:role/glue",
        Command={"Name": "glueetl", "ScriptLocation": "s3://scripts/covid_transform.py"},
    )
    owid_state = f"s3://{BUCKET}/_state/owid/"
    run_id = glue.start_job_run(
        JobName=JOB,
        Arguments={"--source": "owid", "--output_path": f"s3://{BUCKET}/owid/", "--state_path": owid_state},
    )["JobRunId"]
    aws.put_manifest(run_id, healthy_manifest(partitions_written=["year=2020/month=4"]), state_path=owid_state)
    event = copy.deepcopy(glue_event("succeeded"))
    event["detail"]["jobRunId"] = run_id
    outcome = warehouse_loader.handler(event, lambda_context)
    assert (outcome["partitions_loaded"], outcome["rows_loaded"]) == (["year=2020/month=3", "year=2020/month=4"], 6)
    with duckdb.connect(str(loaded_output), read_only=True) as connection:
        assert connection.execute("SELECT count(*) FROM fact_owid_daily").fetchall() == [(6,)]
        assert connection.execute("SELECT count(*) FROM fact_covid_daily").fetchall() == [(0,)]
