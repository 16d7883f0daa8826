"""Idempotent provisioning of one environment in the emulator, from config/<env>.tfvars.

It creates what terraform/ creates, under the same names (PipelineConfig.names),
with the settings the local runtime needs to behave the same way: a KMS key and
alias; the raw, processed, quarantine, scripts and access-log buckets (versioning,
default encryption, public access block); the raw-events queue with its DLQ and
redrive policy, and the S3 -> SQS notification on the raw prefix; the alerts
topic; the Glue database, tables and job (script and --extra-py-files zip
uploaded); log groups with retention; the alarm definitions.

Every step reads first and only writes what differs, so running it again changes
nothing (``ProvisionReport.changed`` is empty the second time).

Deliberately not done locally: bucket policies with Conditions (the TLS-only deny
makes moto answer 403 to every request; Terraform applies them), IAM roles and
policies (moto does not enforce them), Lambda functions (the local runtime calls
the handlers in process).
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from covid_pipeline.config import METRICS_NAMESPACE, REPO_ROOT, SOURCES, PipelineConfig

log = logging.getLogger(__name__)

ClientFactory = Callable[[str], Any]

ACCOUNT_ID = "123456789012"  # moto's default account
GLUE_SCRIPT_SOURCE = REPO_ROOT / "glue_job" / "covid_transform.py"
# Where a reference lookup table may live in the repo (uploaded to config.reference_path when present).
REFERENCE_CANDIDATES = (
    REPO_ROOT / "glue_job" / "reference" / "UID_ISO_FIPS_LookUp_Table.csv",
    REPO_ROOT / "data" / "reference" / "UID_ISO_FIPS_LookUp_Table.csv",
)
SHA256_METADATA_KEY = "sha256"
PARTITION_KEYS = (("year", "int"), ("month", "int"))
DLQ_RETENTION_SECONDS = 14 * 24 * 3600
# S3 sends a notification for every object created under the raw prefix.
RAW_EVENT_TYPES = ["s3:ObjectCreated:*"]

# What each alarm watches, as terraform/monitoring.tf (where Terraform combines metrics with metric math, the
# local definition watches the main one: the local alarm evaluator handles single-metric alarms). The job's
# monitor publishes the METRICS_NAMESPACE metrics with the dimension {"JobName": <glue job name>}:
# JobRunsFailed (1 per failed run), DataQualityScore (0..1), JobDurationSeconds. The others are AWS's own
# service metrics (AWS/SQS is published locally by LocalCloud.publish_service_metrics).
ALARM_METRICS = {
    "glue-job-failures": ("JobRunsFailed", "Sum", "GreaterThanOrEqualToThreshold"),
    "dq-score-low": ("DataQualityScore", "Minimum", "LessThanThreshold"),
    "job-duration": ("JobDurationSeconds", "Maximum", "GreaterThanThreshold"),
    "dlq-not-empty": ("ApproximateNumberOfMessagesVisible", "Maximum", "GreaterThanThreshold"),
    "lambda-errors": ("Errors", "Sum", "GreaterThanThreshold"),
    "lambda-throttles": ("Throttles", "Sum", "GreaterThanThreshold"),
}


def alerts_inbox_queue(config: PipelineConfig) -> str:
    """A local-only SQS queue subscribed to the alerts topic: the stand-in for the e-mail subscription."""
    return f"{config.names.prefix}-alerts-inbox"


def glue_role_arn(config: PipelineConfig) -> str:
    # moto does not check the role; the name follows the project's prefix like every other resource.
    return f"arn:aws:iam::{ACCOUNT_ID}:role/{config.names.glue_job}-role"  # terraform/iam.tf's name


def queue_arn(config: PipelineConfig, name: str) -> str:
    return f"arn:aws:sqs:{config.region}:{ACCOUNT_ID}:{name}"


def topic_arn(config: PipelineConfig) -> str:
    return f"arn:aws:sns:{config.region}:{ACCOUNT_ID}:{config.names.alerts_topic}"


@dataclass
class ProvisionReport:
    """What provisioning did, resource by resource: created, updated or unchanged."""

    actions: dict[str, str] = field(default_factory=dict)
    kms_key_arn: str = ""
    raw_events_queue_url: str = ""
    raw_events_dlq_url: str = ""
    alerts_topic_arn: str = ""
    alerts_inbox_url: str = ""

    def record(self, resource: str, action: str) -> None:
        self.actions[resource] = action
        if action not in _NO_CHANGE:
            log.info("bootstrap: %s %s", action, resource)

    @property
    def changed(self) -> dict[str, str]:
        return {resource: action for resource, action in self.actions.items() if action not in _NO_CHANGE}


_NO_CHANGE = ("unchanged", "skipped")


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def provision(
    config: PipelineConfig,
    client: ClientFactory,
    *,
    script_source: Path = GLUE_SCRIPT_SOURCE,
    notifications: bool = True,
) -> ProvisionReport:
    """Create or converge every resource of ``config``'s environment; see the module docstring."""
    report = ProvisionReport()
    report.kms_key_arn = _kms_key(config, client("kms"), report)
    s3 = client("s3")
    names = config.names
    for bucket in (names.raw_bucket, names.processed_bucket, names.quarantine_bucket, names.scripts_bucket):
        _bucket(config, s3, bucket, report, sse_kms=True)
    # S3 server access logging can only deliver to SSE-S3 buckets (Terraform does the same).
    _bucket(config, s3, names.access_logs_bucket, report, sse_kms=False)
    sqs = client("sqs")
    report.raw_events_dlq_url = _queue(
        sqs, names.raw_events_dlq, {"MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS)}, report
    )
    report.raw_events_queue_url = _queue(sqs, names.raw_events_queue, _raw_queue_attributes(config), report)
    report.alerts_topic_arn, report.alerts_inbox_url = _alerts(config, client("sns"), sqs, report)
    glue = client("glue")
    _catalog(config, glue, report)
    _upload_job_files(config, s3, report, script_source)
    _glue_job(config, glue, report)
    _log_groups(config, client("logs"), report)
    _alarms(config, client("cloudwatch"), report)
    if notifications:
        configure_raw_notifications(config, s3, report)
    return report


# --- KMS ---------------------------------------------------------------------------------------------


def _kms_key(config: PipelineConfig, kms: Any, report: ProvisionReport) -> str:
    alias = config.names.kms_alias
    for page in kms.get_paginator("list_aliases").paginate():
        for entry in page["Aliases"]:
            if entry["AliasName"] == alias and entry.get("TargetKeyId"):
                report.record(f"kms:{alias}", "unchanged")
                return str(kms.describe_key(KeyId=entry["TargetKeyId"])["KeyMetadata"]["Arn"])
    key = kms.create_key(Description=f"{config.names.prefix} pipeline data key", KeyUsage="ENCRYPT_DECRYPT")
    key_id = key["KeyMetadata"]["KeyId"]
    kms.enable_key_rotation(KeyId=key_id)
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    report.record(f"kms:{alias}", "created")
    return str(key["KeyMetadata"]["Arn"])


# --- S3 ----------------------------------------------------------------------------------------------


def _bucket(config: PipelineConfig, s3: Any, bucket: str, report: ProvisionReport, sse_kms: bool) -> None:
    resource = f"s3:{bucket}"
    try:
        s3.head_bucket(Bucket=bucket)
        action = "unchanged"
    except ClientError as exc:
        if _error_code(exc) not in ("404", "NoSuchBucket", "NotFound"):
            raise
        create: dict[str, Any] = {"Bucket": bucket}
        if config.region != "us-east-1":
            create["CreateBucketConfiguration"] = {"LocationConstraint": config.region}
        s3.create_bucket(**create)
        action = "created"

    if s3.get_bucket_versioning(Bucket=bucket).get("Status") != "Enabled":
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        action = "updated" if action == "unchanged" else action

    if sse_kms:
        # SSE-KMS, but without KMSMasterKeyID (the AWS-managed key), unlike Terraform's customer key: S3A
        # (hadoop-aws 3.3.1, AWS SDK v1) commits by copy, copies the source object's KMS key id into the
        # request, and the SDK refuses to send KMS key parameters over plain HTTP, which is all the
        # emulator speaks. Without a key id moto reports "aws:kms" and no key, so nothing is propagated.
        wanted_rule = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}, "BucketKeyEnabled": True}
    else:
        wanted_rule = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": False}
    try:
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    except ClientError as exc:
        if _error_code(exc) != "ServerSideEncryptionConfigurationNotFoundError":
            raise
        rules = []
    if not _encryption_matches(rules, wanted_rule):
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [wanted_rule]})
        action = "updated" if action == "unchanged" else action

    wanted_block = {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    try:
        current_block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    except ClientError as exc:
        if _error_code(exc) != "NoSuchPublicAccessBlockConfiguration":
            raise
        current_block = {}
    if any(current_block.get(key) is not value for key, value in wanted_block.items()):
        s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=wanted_block)
        action = "updated" if action == "unchanged" else action
    report.record(resource, action)


def _encryption_matches(rules: list[dict[str, Any]], wanted: dict[str, Any]) -> bool:
    if len(rules) != 1:
        return False
    current = rules[0].get("ApplyServerSideEncryptionByDefault", {})
    target = wanted["ApplyServerSideEncryptionByDefault"]
    return (
        current.get("SSEAlgorithm") == target["SSEAlgorithm"]
        and current.get("KMSMasterKeyID") == target.get("KMSMasterKeyID")
        and bool(rules[0].get("BucketKeyEnabled", False)) == wanted["BucketKeyEnabled"]
    )


def configure_raw_notifications(config: PipelineConfig, s3: Any, report: ProvisionReport) -> None:
    """S3 -> SQS for objects created under the raw prefix (moto really delivers these; keys arrive URL-encoded).

    Kept separate so the local cloud can restore saved objects *before* it is switched on:
    restored files must not look like new uploads.
    """
    bucket = config.names.raw_bucket
    wanted = {
        "QueueConfigurations": [
            {
                "Id": f"{config.names.raw_events_queue}-notification",
                "QueueArn": queue_arn(config, config.names.raw_events_queue),
                "Events": RAW_EVENT_TYPES,
                "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": str(config["raw_prefix"])}]}},
            }
        ]
    }
    current = s3.get_bucket_notification_configuration(Bucket=bucket)
    current.pop("ResponseMetadata", None)
    current_queues = current.get("QueueConfigurations", [])
    if _normalise_notifications(current_queues) == _normalise_notifications(wanted["QueueConfigurations"]):
        report.record(f"s3-notification:{bucket}", "unchanged")
        return
    # Putting a configuration makes S3 (and moto) send an s3:TestEvent to the queue: handlers must ignore it.
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=wanted)
    report.record(f"s3-notification:{bucket}", "created" if not current_queues else "updated")


def _normalise_notifications(configurations: list[dict[str, Any]]) -> list[tuple[str, tuple[str, ...], str]]:
    result = []
    for entry in configurations:
        rules = entry.get("Filter", {}).get("Key", {}).get("FilterRules", [])
        prefix = next((rule["Value"] for rule in rules if rule["Name"].lower() == "prefix"), "")
        result.append((entry["QueueArn"], tuple(sorted(entry["Events"])), prefix))
    return sorted(result)


# --- SQS and SNS -------------------------------------------------------------------------------------


def _raw_queue_attributes(config: PipelineConfig) -> dict[str, str]:
    names = config.names
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AllowRawBucketNotifications",
                "Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn(config, names.raw_events_queue),
                "Condition": {"ArnEquals": {"aws:SourceArn": f"arn:aws:s3:::{names.raw_bucket}"}},
            }
        ],
    }
    redrive = {
        "deadLetterTargetArn": queue_arn(config, names.raw_events_dlq),
        "maxReceiveCount": int(config["sqs_max_receive_count"]),
    }
    return {
        "VisibilityTimeout": str(int(config["sqs_visibility_timeout_seconds"])),
        "RedrivePolicy": json.dumps(redrive, sort_keys=True),
        "Policy": json.dumps(policy, sort_keys=True),
    }


def _queue(sqs: Any, name: str, attributes: dict[str, str], report: ProvisionReport) -> str:
    try:
        url = str(sqs.get_queue_url(QueueName=name)["QueueUrl"])
    except ClientError as exc:
        if _error_code(exc) not in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
            raise
        url = str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])
        report.record(f"sqs:{name}", "created")
        return url
    current = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]).get("Attributes", {})
    differing = {key: value for key, value in attributes.items() if not _same_attribute(current.get(key), value)}
    if differing:
        sqs.set_queue_attributes(QueueUrl=url, Attributes=differing)
    report.record(f"sqs:{name}", "updated" if differing else "unchanged")
    return url


def _same_attribute(current: str | None, wanted: str) -> bool:
    if current == wanted:
        return True
    if current is None:
        return False
    try:  # JSON attributes may come back re-serialised
        return bool(json.loads(current) == json.loads(wanted))
    except ValueError:
        return False


def _alerts(config: PipelineConfig, sns: Any, sqs: Any, report: ProvisionReport) -> tuple[str, str]:
    name = config.names.alerts_topic
    existing = {
        topic["TopicArn"] for page in sns.get_paginator("list_topics").paginate() for topic in page.get("Topics", [])
    }
    arn = str(sns.create_topic(Name=name)["TopicArn"])  # create_topic is idempotent by name
    report.record(f"sns:{name}", "unchanged" if arn in existing else "created")

    inbox = alerts_inbox_queue(config)
    inbox_url = _queue(sqs, inbox, {}, report)
    subscriptions = [
        sub
        for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=arn)
        for sub in page["Subscriptions"]
    ]
    wanted = {
        ("sqs", queue_arn(config, inbox)): {"RawMessageDelivery": "false"},
        ("email", str(config["notification_email"])): {},
    }
    for (protocol, endpoint), attributes in wanted.items():
        if any(sub["Protocol"] == protocol and sub["Endpoint"] == endpoint for sub in subscriptions):
            report.record(f"sns-subscription:{protocol}:{endpoint}", "unchanged")
            continue
        sns.subscribe(TopicArn=arn, Protocol=protocol, Endpoint=endpoint, Attributes=attributes)
        report.record(f"sns-subscription:{protocol}:{endpoint}", "created")
    return arn, inbox_url


# --- Glue --------------------------------------------------------------------------------------------


def table_input(config: PipelineConfig, source: str) -> dict[str, Any]:
    """The catalog table as first created: partitioned Parquet; the job adds the columns (schema evolution)."""
    return {
        "Name": config.names.glue_tables[source],
        "Description": f"{source} records, cleaned and partitioned by the {config.names.glue_job} job",
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "parquet", "EXTERNAL": "TRUE", "parquet.compression": "SNAPPY"},
        "PartitionKeys": [{"Name": name, "Type": kind} for name, kind in PARTITION_KEYS],
        "StorageDescriptor": {
            "Columns": [],
            "Location": config.output_path(source),
            "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
            "SerdeInfo": {
                "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
                "Parameters": {"serialization.format": "1"},
            },
        },
    }


def _catalog(config: PipelineConfig, glue: Any, report: ProvisionReport) -> None:
    database = config.names.glue_database
    try:
        glue.get_database(Name=database)
        report.record(f"glue-database:{database}", "unchanged")
    except ClientError as exc:
        if _error_code(exc) != "EntityNotFoundException":
            raise
        description = f"Cleaned COVID-19 data of {config.names.prefix}"
        glue.create_database(DatabaseInput={"Name": database, "Description": description})
        report.record(f"glue-database:{database}", "created")
    for source in SOURCES:
        table = config.names.glue_tables[source]
        try:
            glue.get_table(DatabaseName=database, Name=table)
            # Existing tables belong to the job from now on (it appends columns); never reset them.
            report.record(f"glue-table:{table}", "unchanged")
        except ClientError as exc:
            if _error_code(exc) != "EntityNotFoundException":
                raise
            glue.create_table(DatabaseName=database, TableInput=table_input(config, source))
            report.record(f"glue-table:{table}", "created")


def job_definition(config: PipelineConfig) -> dict[str, Any]:
    """The Glue job's definition, as terraform/glue.tf declares it (JobUpdate shape, without Name)."""
    return {
        "Description": "Raw COVID-19 files -> validated, partitioned Parquet + catalog partitions",
        "Role": glue_role_arn(config),
        "ExecutionProperty": {"MaxConcurrentRuns": int(config["glue_max_concurrent_runs"])},
        "Command": {"Name": "glueetl", "ScriptLocation": config.script_location, "PythonVersion": "3"},
        "DefaultArguments": config.job_arguments("jhu_daily"),
        "MaxRetries": int(config["glue_max_retries"]),
        "Timeout": int(config["glue_timeout_minutes"]),
        "GlueVersion": str(config["glue_version"]),
        "WorkerType": str(config["glue_worker_type"]),
        "NumberOfWorkers": int(config["glue_number_of_workers"]),
    }


def _glue_job(config: PipelineConfig, glue: Any, report: ProvisionReport) -> None:
    name = config.names.glue_job
    wanted = job_definition(config)
    try:
        current = glue.get_job(JobName=name)["Job"]
    except ClientError as exc:
        if _error_code(exc) != "EntityNotFoundException":
            raise
        glue.create_job(Name=name, **wanted)
        report.record(f"glue-job:{name}", "created")
        return
    differing = [key for key, value in wanted.items() if current.get(key) != value]
    if differing:
        glue.update_job(JobName=name, JobUpdate=wanted)
        report.record(f"glue-job:{name}", "updated")
    else:
        report.record(f"glue-job:{name}", "unchanged")


def _upload_job_files(config: PipelineConfig, s3: Any, report: ProvisionReport, script_source: Path) -> None:
    from covid_pipeline.glue_package import build_extra_py_files_zip

    if script_source.is_file():
        upload_if_changed(s3, config.script_location, script_source.read_bytes(), report)
    else:
        # The job definition still points at the location; a run then fails with a clear download error.
        log.warning("bootstrap: %s not found; the job script is not uploaded", script_source)
        report.record(f"s3-object:{config.script_location}", "skipped")
    with tempfile.TemporaryDirectory() as tmp:
        archive = build_extra_py_files_zip(Path(tmp) / "glue_job_libs.zip")
        upload_if_changed(s3, config.extra_py_files, archive.read_bytes(), report)
    reference = next((path for path in REFERENCE_CANDIDATES if path.is_file()), None)
    if reference is not None:
        upload_if_changed(s3, config.reference_path, reference.read_bytes(), report)


def upload_if_changed(s3: Any, location: str, body: bytes, report: ProvisionReport | None = None) -> bool:
    """Put ``body`` at ``location`` unless the object there already has the same sha256 (versioned buckets
    would otherwise gain a new version on every start). Returns True when it uploaded."""
    bucket, _, key = location.removeprefix("s3://").partition("/")
    digest = hashlib.sha256(body).hexdigest()
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
        if head.get("Metadata", {}).get(SHA256_METADATA_KEY) == digest:
            if report is not None:
                report.record(f"s3-object:{location}", "unchanged")
            return False
        action = "updated"
    except ClientError as exc:
        if _error_code(exc) not in ("404", "NoSuchKey", "NotFound"):
            raise
        action = "created"
    s3.put_object(Bucket=bucket, Key=key, Body=body, Metadata={SHA256_METADATA_KEY: digest})
    if report is not None:
        report.record(f"s3-object:{location}", action)
    return True


# --- CloudWatch --------------------------------------------------------------------------------------


def _log_groups(config: PipelineConfig, logs: Any, report: ProvisionReport) -> None:
    retention = int(config["log_retention_days"])
    groups = [config.names.glue_log_group, *config.names.lambda_log_groups.values()]
    existing: dict[str, Any] = {}
    for page in logs.get_paginator("describe_log_groups").paginate():
        for group in page["logGroups"]:
            existing[group["logGroupName"]] = group.get("retentionInDays")
    for group in groups:
        if group not in existing:
            logs.create_log_group(logGroupName=group)
            logs.put_retention_policy(logGroupName=group, retentionInDays=retention)
            report.record(f"logs:{group}", "created")
        elif existing[group] != retention:
            logs.put_retention_policy(logGroupName=group, retentionInDays=retention)
            report.record(f"logs:{group}", "updated")
        else:
            report.record(f"logs:{group}", "unchanged")


def alarm_definitions(config: PipelineConfig) -> list[dict[str, Any]]:
    """PutMetricAlarm requests for every alarm in config.names.alarms; actions go to the alerts topic."""
    names = config.names
    job_dimension = [{"Name": "JobName", "Value": names.glue_job}]
    handler_dimension = [{"Name": "FunctionName", "Value": names.lambda_functions["s3-event-handler"]}]
    settings: dict[str, tuple[str, list[dict[str, str]], float, str]] = {
        "glue-job-failures": (METRICS_NAMESPACE, job_dimension, 1, "A Glue job run failed, timed out or was stopped"),
        "dq-score-low": (
            METRICS_NAMESPACE,
            job_dimension,
            float(config["dq_score_threshold"]),
            "The data quality score of a run fell below the configured threshold",
        ),
        "job-duration": (
            METRICS_NAMESPACE,
            job_dimension,
            float(config["job_duration_alarm_seconds"]),
            "A Glue job run took longer than expected (well before its timeout)",
        ),
        "dlq-not-empty": (
            "AWS/SQS",
            [{"Name": "QueueName", "Value": names.raw_events_dlq}],
            0,
            "Raw-object events could not be handled and are waiting in the dead-letter queue",
        ),
        "lambda-errors": ("AWS/Lambda", handler_dimension, 0, "The S3 event handler raised errors"),
        "lambda-throttles": ("AWS/Lambda", handler_dimension, 0, "The S3 event handler hit its reserved concurrency"),
    }
    alarms = []
    for kind, alarm_name in names.alarms.items():
        metric, statistic, comparison = ALARM_METRICS[kind]
        namespace, dimensions, threshold, description = settings[kind]
        alarms.append(
            {
                "AlarmName": alarm_name,
                "AlarmDescription": description,
                "Namespace": namespace,
                "MetricName": metric,
                "Dimensions": dimensions,
                "Statistic": statistic,
                "Period": 300,
                "EvaluationPeriods": 1,
                "Threshold": float(threshold),
                "ComparisonOperator": comparison,
                "TreatMissingData": "notBreaching",
                "ActionsEnabled": True,
                "AlarmActions": [topic_arn(config)],
                # Like Terraform: the DLQ alarm also says when the queue is empty again.
                "OKActions": [topic_arn(config)] if kind == "dlq-not-empty" else [],
            }
        )
    return alarms


def _alarms(config: PipelineConfig, cloudwatch: Any, report: ProvisionReport) -> None:
    wanted = alarm_definitions(config)
    current = {
        alarm["AlarmName"]: alarm
        for page in cloudwatch.get_paginator("describe_alarms").paginate(AlarmNames=[a["AlarmName"] for a in wanted])
        for alarm in page.get("MetricAlarms", [])
    }
    for alarm in wanted:
        existing = current.get(alarm["AlarmName"])
        if existing is not None and all(_alarm_field_equal(existing.get(k), v) for k, v in alarm.items()):
            report.record(f"alarm:{alarm['AlarmName']}", "unchanged")
            continue
        cloudwatch.put_metric_alarm(**alarm)
        report.record(f"alarm:{alarm['AlarmName']}", "created" if existing is None else "updated")


def _alarm_field_equal(current: Any, wanted: Any) -> bool:
    if isinstance(wanted, list) and isinstance(current, list):
        return sorted(map(json.dumps, current)) == sorted(map(json.dumps, wanted))
    return bool(current == wanted)
