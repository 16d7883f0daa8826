"""The local cloud comes up on free loopback ports and provisions exactly what config/test.tfvars describes.

Everything is checked through the AWS APIs (boto3 against the emulator), the way Terraform's resources would be.
"""

from __future__ import annotations

import json
import os
import urllib.parse
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError

from covid_pipeline.config import METRICS_NAMESPACE, PipelineConfig
from covid_pipeline.local import bootstrap
from covid_pipeline.local.cloud import ENDPOINT_FILE, LocalCloud, lambda_function_env


@pytest.fixture(scope="module")
def cloud(test_config: PipelineConfig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    # No Lambda runtime: these tests read the raw-events queue themselves.
    cloud = LocalCloud(test_config, state_dir=tmp_path_factory.mktemp("local-cloud"), run_lambdas=False).start()
    try:
        yield cloud
    finally:
        cloud.stop()


def test_endpoints_are_free_loopback_ports_exported_to_the_environment(cloud: LocalCloud) -> None:
    assert cloud.endpoint_url.startswith("http://127.0.0.1:")
    assert cloud.glue_endpoint_url.startswith("http://127.0.0.1:")
    assert cloud.endpoint_url != cloud.glue_endpoint_url
    assert os.environ["AWS_ENDPOINT_URL"] == cloud.endpoint_url == cloud.env["AWS_ENDPOINT_URL"]
    assert os.environ["AWS_ENDPOINT_URL_GLUE"] == cloud.glue_endpoint_url
    assert cloud.env["AWS_DEFAULT_REGION"] == "us-east-1"
    info = json.loads((cloud.state_dir / ENDPOINT_FILE).read_text())
    assert info["endpoint_url"] == cloud.endpoint_url and info["glue_endpoint_url"] == cloud.glue_endpoint_url
    assert info["env"] == cloud.env and info["pid"] == os.getpid()


def test_a_second_cloud_in_the_same_process_is_refused(cloud: LocalCloud, test_config, tmp_path) -> None:
    with pytest.raises(RuntimeError, match="already running in this process"):
        LocalCloud(test_config, state_dir=tmp_path).start()


def test_buckets_are_versioned_encrypted_and_private(cloud: LocalCloud, test_config: PipelineConfig) -> None:
    names = test_config.names
    s3 = cloud.client("s3")
    data_buckets = [names.raw_bucket, names.processed_bucket, names.quarantine_bucket, names.scripts_bucket]
    listed = {bucket["Name"] for bucket in s3.list_buckets()["Buckets"]}
    assert {*data_buckets, names.access_logs_bucket} <= listed
    for bucket in [*data_buckets, names.access_logs_bucket]:
        assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        assert block == {
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        }
        with pytest.raises(ClientError):  # no bucket policy: moto would answer 403 to everything
            s3.get_bucket_policy(Bucket=bucket)
    for bucket in data_buckets:
        (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
        assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    (logs_rule,) = s3.get_bucket_encryption(Bucket=names.access_logs_bucket)["ServerSideEncryptionConfiguration"][
        "Rules"
    ]
    assert logs_rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    put = s3.put_object(Bucket=names.processed_bucket, Key="tests/encrypted.txt", Body=b"x")
    assert put["ServerSideEncryption"] == "aws:kms"


def test_kms_key_has_the_configured_alias(cloud: LocalCloud, test_config: PipelineConfig) -> None:
    kms = cloud.client("kms")
    key = kms.describe_key(KeyId=test_config.names.kms_alias)["KeyMetadata"]
    assert key["Enabled"] is True
    assert kms.get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"] is True


def test_raw_events_queue_has_dlq_redrive_and_visibility_from_config(
    cloud: LocalCloud, test_config: PipelineConfig
) -> None:
    sqs = cloud.client("sqs")
    names = test_config.names
    url = sqs.get_queue_url(QueueName=names.raw_events_queue)["QueueUrl"]
    dlq_url = sqs.get_queue_url(QueueName=names.raw_events_dlq)["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    assert json.loads(attributes["RedrivePolicy"]) == {
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": test_config["sqs_max_receive_count"],
    }
    assert int(attributes["VisibilityTimeout"]) == test_config["sqs_visibility_timeout_seconds"]
    (statement,) = json.loads(attributes["Policy"])["Statement"]
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == f"arn:aws:s3:::{names.raw_bucket}"


def test_uploads_under_the_raw_prefix_and_only_there_reach_the_queue(
    cloud: LocalCloud, test_config: PipelineConfig
) -> None:
    names = test_config.names
    sqs = cloud.client("sqs")
    url = sqs.get_queue_url(QueueName=names.raw_events_queue)["QueueUrl"]
    sqs.purge_queue(QueueUrl=url)  # the s3:TestEvent sent when the notification was configured
    s3 = cloud.client("s3")
    s3.put_object(Bucket=names.raw_bucket, Key="elsewhere/ignored.csv", Body=b"a\n1\n")
    s3.put_object(Bucket=names.raw_bucket, Key=f"{test_config['raw_prefix']}jhu_daily/01 02 2021.csv", Body=b"a\n1\n")

    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])

    keys = [record["s3"]["object"]["key"] for message in messages for record in json.loads(message["Body"])["Records"]]
    # Event keys arrive URL-encoded (moto also encodes the slashes); decoded, they are the object key.
    assert [urllib.parse.unquote_plus(key) for key in keys] == ["raw/jhu_daily/01 02 2021.csv"]


def test_alerts_topic_delivers_to_the_local_inbox(cloud: LocalCloud, test_config: PipelineConfig) -> None:
    sns, sqs = cloud.client("sns"), cloud.client("sqs")
    topic = bootstrap.topic_arn(test_config)
    assert topic in {entry["TopicArn"] for entry in sns.list_topics()["Topics"]}
    sns.publish(TopicArn=topic, Subject="test", Message="hello inbox")
    inbox = sqs.get_queue_url(QueueName=bootstrap.alerts_inbox_queue(test_config))["QueueUrl"]
    (message,) = sqs.receive_message(QueueUrl=inbox, WaitTimeSeconds=1)["Messages"]
    assert json.loads(message["Body"])["Message"] == "hello inbox"
    protocols = {
        sub["Protocol"]: sub["Endpoint"] for sub in sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    }
    assert protocols["email"] == test_config["notification_email"]


def test_glue_job_is_defined_from_config(cloud: LocalCloud, test_config: PipelineConfig) -> None:
    job = cloud.client("glue").get_job(JobName=test_config.names.glue_job)["Job"]  # through the Glue front
    assert job["Command"] == {
        "Name": "glueetl",
        "ScriptLocation": test_config.script_location,
        "PythonVersion": "3",
    }
    assert job["DefaultArguments"] == test_config.job_arguments("jhu_daily")
    assert job["ExecutionProperty"] == {"MaxConcurrentRuns": test_config["glue_max_concurrent_runs"]}
    assert job["Timeout"] == test_config["glue_timeout_minutes"]
    assert job["MaxRetries"] == test_config["glue_max_retries"]
    assert job["GlueVersion"] == test_config["glue_version"]
    assert (job["WorkerType"], job["NumberOfWorkers"]) == (
        test_config["glue_worker_type"],
        test_config["glue_number_of_workers"],
    )
    libs_bucket, _, libs_key = test_config.extra_py_files.removeprefix("s3://").partition("/")
    cloud.client("s3").head_object(Bucket=libs_bucket, Key=libs_key)


def test_catalog_database_and_partitioned_tables(cloud: LocalCloud, test_config: PipelineConfig) -> None:
    glue = cloud.client("glue")
    database = test_config.names.glue_database
    assert glue.get_database(Name=database)["Database"]["Name"] == database
    for source, table_name in test_config.names.glue_tables.items():
        table = glue.get_table(DatabaseName=database, Name=table_name)["Table"]
        assert [key["Name"] for key in table["PartitionKeys"]] == ["year", "month"]
        assert table["StorageDescriptor"]["Location"] == test_config.output_path(source)


def test_catalog_partition_calls_pass_through_the_glue_front(cloud: LocalCloud, test_config: PipelineConfig) -> None:
    glue = cloud.client("glue")
    database, table = test_config.names.glue_database, test_config.names.glue_tables["owid"]
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
        assert groups[group] == test_config["log_retention_days"]
    alarms = {
        alarm["AlarmName"]: alarm
        for alarm in cloud.client("cloudwatch").describe_alarms(AlarmNames=list(names.alarms.values()))["MetricAlarms"]
    }
    assert set(alarms) == set(names.alarms.values())
    assert alarms[names.alarms["dq-score-low"]]["Namespace"] == METRICS_NAMESPACE
    assert alarms[names.alarms["dq-score-low"]]["Threshold"] == test_config["dq_score_threshold"]
    assert alarms[names.alarms["job-duration"]]["Threshold"] == test_config["job_duration_alarm_seconds"]
    assert all(alarm["AlarmActions"] == [bootstrap.topic_arn(test_config)] for alarm in alarms.values())


def test_provisioning_again_changes_nothing(cloud: LocalCloud, test_config: PipelineConfig) -> None:
    s3 = cloud.client("s3")
    bucket, _, key = test_config.extra_py_files.removeprefix("s3://").partition("/")
    versions_before = s3.list_object_versions(Bucket=bucket, Prefix=key)["Versions"]

    report = bootstrap.provision(test_config, cloud.client)

    assert report.changed == {}
    assert len(report.actions) >= 25
    assert s3.list_object_versions(Bucket=bucket, Prefix=key)["Versions"] == versions_before


def test_lambda_environment_names_match_config(cloud: LocalCloud, test_config: PipelineConfig) -> None:
    env = lambda_function_env(test_config, cloud)
    names = test_config.names
    assert set(env) == set(names.lambda_functions)
    handler = env["s3-event-handler"]
    assert handler["GLUE_JOB_NAME"] == names.glue_job
    assert (handler["RAW_BUCKET"], handler["RAW_PREFIX"]) == (names.raw_bucket, test_config["raw_prefix"])
    assert (handler["STATE_BUCKET"], handler["STATE_PREFIX"]) == (names.processed_bucket, test_config["state_prefix"])
    assert handler["SUPPORTED_SUFFIXES"] == ".csv,.csv.gz,.json,.jsonl,.parquet"
    assert env["warehouse-loader"]["WAREHOUSE_URL"] == f"duckdb:///{cloud.state_dir / 'warehouse.duckdb'}"
    assert all(function["ALERTS_TOPIC_ARN"] == bootstrap.topic_arn(test_config) for function in env.values())


def test_cloudwatch_tick_publishes_queue_metrics_and_fires_the_dlq_alarm(
    cloud: LocalCloud, test_config: PipelineConfig
) -> None:
    names = test_config.names
    sqs = cloud.client("sqs")
    dlq = sqs.get_queue_url(QueueName=names.raw_events_dlq)["QueueUrl"]
    sqs.send_message(QueueUrl=dlq, MessageBody="a message that could not be handled")

    cloud.run_cloudwatch()

    alarm = cloud.client("cloudwatch").describe_alarms(AlarmNames=[names.alarms["dlq-not-empty"]])["MetricAlarms"][0]
    assert alarm["StateValue"] == "ALARM"
    inbox = sqs.get_queue_url(QueueName=bootstrap.alerts_inbox_queue(test_config))["QueueUrl"]
    notifications = [
        json.loads(json.loads(message["Body"])["Message"])
        for message in sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10, WaitTimeSeconds=1)["Messages"]
    ]
    assert [n["AlarmName"] for n in notifications if n.get("NewStateValue") == "ALARM"] == [
        names.alarms["dlq-not-empty"]
    ]
