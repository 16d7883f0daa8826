"""The local cloud: one HTTPS loopback endpoint, provisioned by `terraform apply` of terraform/ for config/test.tfvars.

Everything is checked through the AWS APIs (boto3 against the emulator): what Terraform created is what the
runtimes use. The cloud starts from the session's applied state (tests/integration/conftest.py).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from covid_pipeline import artifacts
from covid_pipeline.config import PipelineConfig
from covid_pipeline.local.cloud import ENDPOINT_FILE, LocalCloud


@pytest.fixture(scope="module")
def cloud(test_config: PipelineConfig, cloud_state_dir: Callable[[], Path]) -> Iterator[LocalCloud]:
    # No Lambda runtime: these tests read the raw-events queue themselves.
    cloud = LocalCloud(test_config, state_dir=cloud_state_dir(), run_lambdas=False).start()
    try:
        yield cloud
    finally:
        cloud.stop()


def test_the_endpoint_is_https_on_a_loopback_port_exported_to_the_environment(cloud: LocalCloud) -> None:
    assert cloud.endpoint_url.startswith("https://127.0.0.1:")
    assert os.environ["AWS_ENDPOINT_URL"] == cloud.endpoint_url == cloud.env["AWS_ENDPOINT_URL"]
    assert Path(cloud.env["AWS_CA_BUNDLE"]).read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert cloud.env["AWS_DEFAULT_REGION"] == "us-east-1"
    info = json.loads((cloud.state_dir / ENDPOINT_FILE).read_text())
    assert info["endpoint_url"] == cloud.endpoint_url
    assert info["env"] == cloud.env and info["pid"] == os.getpid()


def test_a_restart_applies_nothing(cloud: LocalCloud) -> None:
    assert cloud.provision_report is not None
    assert (cloud.provision_report.applied, cloud.provision_report.reason) == (False, "unchanged")


def test_a_second_cloud_in_the_same_process_is_refused(cloud: LocalCloud, test_config, tmp_path) -> None:
    with pytest.raises(RuntimeError, match="already running in this process"):
        LocalCloud(test_config, state_dir=tmp_path).start()


def test_buckets_are_versioned_private_encrypted_with_the_key_and_tls_only(
    cloud: LocalCloud, test_config: PipelineConfig
) -> None:
    names = test_config.names
    s3 = cloud.client("s3")
    key_arn = cloud.client("kms").describe_key(KeyId=names.kms_alias)["KeyMetadata"]["Arn"]
    data_buckets = [names.raw_bucket, names.processed_bucket, names.quarantine_bucket, names.scripts_bucket]
    for bucket in [*data_buckets, names.access_logs_bucket]:
        assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        assert block == {
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        }
        statements = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]
        (deny,) = [statement for statement in statements if statement.get("Sid") == "DenyInsecureTransport"]
        assert (deny["Effect"], deny["Condition"]) == ("Deny", {"Bool": {"aws:SecureTransport": "false"}})
    for bucket in data_buckets:
        (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
        assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn}
        assert s3.get_bucket_logging(Bucket=bucket)["LoggingEnabled"]["TargetBucket"] == names.access_logs_bucket
    put = s3.put_object(Bucket=names.processed_bucket, Key="tests/encrypted.txt", Body=b"x")
    assert (put["ServerSideEncryption"], put["SSEKMSKeyId"]) == ("aws:kms", key_arn)


def test_plain_http_is_refused_by_the_tls_only_policy_and_https_is_served(
    cloud: LocalCloud, test_config: PipelineConfig
) -> None:
    bucket = test_config.names.processed_bucket
    cloud.client("s3").put_object(Bucket=bucket, Key="tests/tls.txt", Body=b"over https")
    plain = boto3.client(
        "s3",
        endpoint_url=cloud.endpoint_url.replace("https://", "http://"),
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}),
    )
    with pytest.raises(ClientError) as denied:
        plain.get_object(Bucket=bucket, Key="tests/tls.txt")
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    # The deny names every S3 action (s3:*), not a list of the usual ones: tagging is refused over plain HTTP too.
    with pytest.raises(ClientError) as denied:
        plain.get_object_tagging(Bucket=bucket, Key="tests/tls.txt")
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    assert cloud.client("s3").get_object(Bucket=bucket, Key="tests/tls.txt")["Body"].read() == b"over https"


def test_raw_events_queue_has_dlq_redrive_and_visibility_from_config(
    cloud: LocalCloud, test_config: PipelineConfig
) -> None:
    sqs = cloud.client("sqs")
    names = test_config.names
    url = sqs.get_queue_url(QueueName=names.raw_events_queue)["QueueUrl"]
    dlq_url = sqs.get_queue_url(QueueName=names.raw_events_dlq)["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    assert json.loads(attributes["RedrivePolicy"]) == {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3}
    assert int(attributes["VisibilityTimeout"]) == 10
    statements = {statement["Sid"]: statement for statement in json.loads(attributes["Policy"])["Statement"]}
    assert statements["OnlyTheRawBucketSendsEvents"]["Condition"]["ArnEquals"]["aws:SourceArn"] == (
        f"arn:aws:s3:::{names.raw_bucket}"
    )


def test_uploads_under_the_raw_prefix_and_only_there_reach_the_queue(
    cloud: LocalCloud, test_config: PipelineConfig
) -> None:
    names = test_config.names
    sqs = cloud.client("sqs")
    url = sqs.get_queue_url(QueueName=names.raw_events_queue)["QueueUrl"]
    sqs.purge_queue(QueueUrl=url)  # the s3:TestEvent sent when the notification was configured
    s3 = cloud.client("s3")
    s3.put_object(Bucket=names.raw_bucket, Key="elsewhere/ignored.csv", Body=b"a\n1\n")
    s3.put_object(Bucket=names.raw_bucket, Key="raw/jhu_daily/01 02 2021.csv", Body=b"a\n1\n")

    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])

    keys = [record["s3"]["object"]["key"] for message in messages for record in json.loads(message["Body"])["Records"]]
    # Event keys arrive URL-encoded (moto also encodes the slashes); decoded, they are the object key.
    assert [urllib.parse.unquote_plus(key) for key in keys] == ["raw/jhu_daily/01 02 2021.csv"]


def test_alerts_topic_delivers_to_the_local_inbox(cloud: LocalCloud, test_config: PipelineConfig) -> None:
    sns, sqs = cloud.client("sns"), cloud.client("sqs")
    topic = cloud.config.all_outputs["alerts_topic_arn"]
    sns.publish(TopicArn=topic, Subject="test", Message="hello inbox")
    assert test_config.names.alerts_inbox == "covid-pipeline-test-alerts-inbox"
    inbox = sqs.get_queue_url(QueueName=test_config.names.alerts_inbox)["QueueUrl"]
    (message,) = sqs.receive_message(QueueUrl=inbox, WaitTimeSeconds=1)["Messages"]
    assert json.loads(message["Body"])["Message"] == "hello inbox"
    protocols = {
        sub["Protocol"]: sub["Endpoint"] for sub in sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    }
    assert protocols["email"] == "data-alerts@example.com"


def test_the_glue_job_is_the_one_terraform_declares(cloud: LocalCloud, test_config: PipelineConfig) -> None:
    job = cloud.client("glue").get_job(JobName=test_config.names.glue_job)["Job"]
    assert job["Command"] == {
        "Name": "glueetl",
        "ScriptLocation": "s3://covid-pipeline-test-scripts/glue/covid_transform.py",
        "PythonVersion": "3",
    }
    assert job["DefaultArguments"] == test_config.job_arguments("jhu_daily")
    assert job["ExecutionProperty"] == {"MaxConcurrentRuns": 1}
    assert (job["Timeout"], job.get("MaxRetries", 0), job["GlueVersion"]) == (10, 0, "5.0")
    assert (job["WorkerType"], job["NumberOfWorkers"]) == ("G.1X", 2)
    assert job["SecurityConfiguration"] == "covid-pipeline-test-glue-security"
    script = cloud.client("s3").get_object(Bucket="covid-pipeline-test-scripts", Key="glue/covid_transform.py")
    assert script["Body"].read() == (artifacts.GLUE_JOB_DIR / "covid_transform.py").read_bytes()


def test_the_functions_run_the_bundle_terraform_uploaded(cloud: LocalCloud, test_config: PipelineConfig) -> None:
    awslambda = cloud.client("lambda")
    bundle = artifacts.Artifacts(artifacts.DEFAULT_BUILD_DIR).lambda_bundle.read_bytes()
    handlers = {
        "s3-event-handler": "s3_event_handler.handler",
        "data-quality-monitor": "data_quality_monitor.handler",
        "warehouse-loader": "warehouse_loader.handler",
        "ingestion": "ingestion.handler",
    }
    for short, name in test_config.names.lambda_functions.items():
        function = awslambda.get_function_configuration(FunctionName=name)
        # config/test.tfvars: 5 s, and 60 s for the loader (warehouse_loader_timeout_seconds: a load covers every
        # partition whose content differs from the warehouse's); the ingestion's own default, 300 s.
        timeout = {"warehouse-loader": 60, "ingestion": 300}.get(short, 5)
        assert (function["Handler"], function["Runtime"], function["Timeout"]) == (
            handlers[short],
            "python3.11",
            timeout,
        )
        assert function["CodeSha256"] == base64.b64encode(hashlib.sha256(bundle).digest()).decode()
        assert function["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == short
    loader = awslambda.get_function_configuration(FunctionName=test_config.names.lambda_functions["warehouse-loader"])
    assert loader["Environment"]["Variables"]["WAREHOUSE_URL"] == f"duckdb:///{cloud.state_dir / 'warehouse.duckdb'}"
    (mapping,) = awslambda.list_event_source_mappings()["EventSourceMappings"]
    assert (mapping["BatchSize"], mapping["MaximumBatchingWindowInSeconds"]) == (10, 2)
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_glue_state_changes_reach_the_monitor_and_the_loader(cloud: LocalCloud, test_config: PipelineConfig) -> None:
    events = cloud.client("events")
    functions = test_config.names.lambda_functions
    targets = {
        rule["Name"]: [
            target["Arn"].split(":")[-1] for target in events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
        ]
        for rule in events.list_rules(NamePrefix="covid-pipeline-test-glue-job")["Rules"]
    }
    assert targets == {
        "covid-pipeline-test-glue-job-finished": [functions["data-quality-monitor"]],
        "covid-pipeline-test-glue-job-succeeded": [functions["warehouse-loader"]],
    }


def test_catalog_database_partitioned_tables_and_partition_calls(
    cloud: LocalCloud, test_config: PipelineConfig
) -> None:
    glue = cloud.client("glue")
    database = test_config.names.glue_database
    assert glue.get_database(Name=database)["Database"]["Name"] == database
    for source, table_name in test_config.names.glue_tables.items():
        table = glue.get_table(DatabaseName=database, Name=table_name)["Table"]
        assert [key["Name"] for key in table["PartitionKeys"]] == ["year", "month"]
        assert table["StorageDescriptor"]["Location"] == test_config.output_path(source)
    table = test_config.names.glue_tables["owid"]
    location = f"{test_config.output_path('owid')}year=2021/month=3/"
    glue.create_partition(
        DatabaseName=database,
        TableName=table,
        PartitionInput={"Values": ["2021", "3"], "StorageDescriptor": {"Location": location}},
    )
    partition = glue.get_partition(DatabaseName=database, TableName=table, PartitionValues=["2021", "3"])["Partition"]
    assert partition["StorageDescriptor"]["Location"] == location
    with pytest.raises(ClientError) as error:
        glue.get_partition(DatabaseName=database, TableName=table, PartitionValues=["1999", "1"])
    assert error.value.response["Error"]["Code"] == "EntityNotFoundException"


def test_log_groups_and_alarms(cloud: LocalCloud, test_config: PipelineConfig) -> None:
    names = test_config.names
    groups = {
        group["logGroupName"]: group.get("retentionInDays")
        for group in cloud.client("logs").describe_log_groups()["logGroups"]
    }
    for group in [names.glue_log_group, *names.lambda_log_groups.values()]:
        assert groups[group] == 7
    alarms = {
        alarm["AlarmName"]: alarm
        for alarm in cloud.client("cloudwatch").describe_alarms(AlarmNames=list(names.alarms.values()))["MetricAlarms"]
    }
    assert set(alarms) == set(names.alarms.values())
    assert alarms[names.alarms["dq-score-low"]]["Namespace"] == "CovidPipeline"
    assert alarms[names.alarms["dq-score-low"]]["Threshold"] == 0.9
    assert alarms[names.alarms["job-duration"]]["Threshold"] == 1800
    topic = cloud.config.all_outputs["alerts_topic_arn"]
    assert all(alarm["AlarmActions"] == [topic] for alarm in alarms.values())


def test_cloudwatch_tick_publishes_queue_metrics_and_fires_the_dlq_alarm(
    cloud: LocalCloud, test_config: PipelineConfig
) -> None:
    """dlq-not-empty is a metric math alarm (raw + async dead-letter queues): evaluated locally as CloudWatch does."""
    names = test_config.names
    sqs = cloud.client("sqs")
    dlq = sqs.get_queue_url(QueueName=names.raw_events_dlq)["QueueUrl"]
    sqs.send_message(QueueUrl=dlq, MessageBody="a message that could not be handled")

    cloud.run_cloudwatch()

    alarm = cloud.client("cloudwatch").describe_alarms(AlarmNames=[names.alarms["dlq-not-empty"]])["MetricAlarms"][0]
    assert alarm["StateValue"] == "ALARM"
    inbox = sqs.get_queue_url(QueueName=str(names.alerts_inbox))["QueueUrl"]
    notifications = [
        json.loads(json.loads(message["Body"])["Message"])
        for message in sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10, WaitTimeSeconds=1)["Messages"]
    ]
    assert [n["AlarmName"] for n in notifications if n.get("NewStateValue") == "ALARM"] == [
        names.alarms["dlq-not-empty"]
    ]
