"""What a plan only knows after apply, on the `test` environment applied into the local cloud (its
terraform.tfstate holds every attribute as the provider read it back): the customer key's ARN on everything
encrypted, the rendered bucket, queue and topic policies, the notification and mapping ARNs, the alarms' actions,
each function's role and environment."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infra.code_scan import HANDLERS, handler_reads
from tests.infra.expected import ACCOUNT, REGION, function_address
from tests.infra.terraform_json import as_list, resource_type, state_instances, statements

NAME = "covid-pipeline-test"
SQS = f"arn:aws:sqs:{REGION}:{ACCOUNT}"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:{NAME}-alerts"
DATA_BUCKETS = ("raw", "processed", "quarantine", "scripts")
TLS_ONLY = {"Bool": {"aws:SecureTransport": "false"}}


@pytest.fixture(scope="module")
def state(applied_state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return state_instances(applied_state)


@pytest.fixture(scope="module")
def key_arn(state: dict[str, dict[str, Any]]) -> str:
    arn = str(state["aws_kms_key.pipeline"]["arn"])
    assert arn.startswith(f"arn:aws:kms:{REGION}:{ACCOUNT}:key/")
    return arn


def of_kind(state: dict[str, dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {address: attributes for address, attributes in state.items() if resource_type(address) == kind}


def by_sid(policy: str) -> dict[str, dict[str, Any]]:
    found = {statement["Sid"]: statement for statement in statements(policy)}
    assert len(found) == len(statements(policy)), "every statement carries its own Sid"
    return found


def assert_denies_plain_http(policy: str, actions: set[str], resources: set[str]) -> None:
    deny = by_sid(policy)["DenyInsecureTransport"]
    assert (deny["Effect"], deny["Principal"], deny["Condition"]) == ("Deny", "*", TLS_ONLY)
    assert set(as_list(deny["Action"])) == actions
    assert set(as_list(deny["Resource"])) == resources


def test_everything_encrypted_uses_the_customer_key(state: dict[str, dict[str, Any]], key_arn: str) -> None:
    encrypted = {
        "aws_sqs_queue": "kms_master_key_id",
        "aws_sns_topic": "kms_master_key_id",
        "aws_cloudwatch_log_group": "kms_key_id",
        "aws_lambda_function": "kms_key_arn",
        "aws_s3_object": "kms_key_id",
    }
    counts = {}
    for kind, attribute in encrypted.items():
        instances = of_kind(state, kind)
        counts[kind] = len(instances)
        for address, attributes in instances.items():
            assert attributes[attribute] == key_arn, address
    # 4 queues (the local inbox included), 1 topic, 6 log groups (the trail's included), 4 functions, 3 artifacts.
    assert counts == {
        "aws_sqs_queue": 4,
        "aws_sns_topic": 1,
        "aws_cloudwatch_log_group": 6,
        "aws_lambda_function": 4,
        "aws_s3_object": 3,
    }
    for bucket in DATA_BUCKETS:
        (rule,) = state[f"module.{bucket}_bucket.aws_s3_bucket_server_side_encryption_configuration.this"]["rule"]
        assert rule["apply_server_side_encryption_by_default"] == [
            {"kms_master_key_id": key_arn, "sse_algorithm": "aws:kms"}
        ]
    (encryption,) = state["aws_glue_security_configuration.pipeline"]["encryption_configuration"]
    assert {part: blocks[0]["kms_key_arn"] for part, blocks in encryption.items()} == {
        "cloudwatch_encryption": key_arn,
        "job_bookmarks_encryption": key_arn,
        "s3_encryption": key_arn,
    }
    assert state["aws_glue_job.transform"]["security_configuration"] == f"{NAME}-glue-security"
    assert state["aws_kms_alias.pipeline"]["target_key_arn"] == key_arn


@pytest.mark.parametrize("bucket", DATA_BUCKETS)
def test_data_bucket_policies_deny_plain_http_and_nothing_else(state: dict[str, dict[str, Any]], bucket: str) -> None:
    policy = state[f"module.{bucket}_bucket.aws_s3_bucket_policy.this"]["policy"]
    arn = f"arn:aws:s3:::{NAME}-{bucket}"
    assert set(by_sid(policy)) == {"DenyInsecureTransport"}
    assert_denies_plain_http(policy, {"s3:*"}, {arn, f"{arn}/*"})
    assert state[f"module.{bucket}_bucket.aws_s3_bucket_logging.this[0]"]["target_bucket"] == f"{NAME}-access-logs"


def test_the_log_bucket_takes_deliveries_only_from_the_data_buckets(state: dict[str, dict[str, Any]]) -> None:
    policy = state["module.access_logs_bucket.aws_s3_bucket_policy.this"]["policy"]
    arn = f"arn:aws:s3:::{NAME}-access-logs"
    assert_denies_plain_http(policy, {"s3:*"}, {arn, f"{arn}/*"})
    delivery = by_sid(policy)["S3ServerAccessLogDelivery"]
    assert (delivery["Effect"], delivery["Principal"], delivery["Action"]) == (
        "Allow",
        {"Service": "logging.s3.amazonaws.com"},
        ["s3:PutObject"],
    )
    assert delivery["Resource"] == [f"{arn}/s3/*"]
    assert delivery["Condition"] == {
        "ArnLike": {"aws:SourceArn": [f"arn:aws:s3:::{NAME}-{bucket}" for bucket in (*DATA_BUCKETS, "cloudtrail")]},
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
    }


def test_queues_and_the_topic_deny_plain_http(state: dict[str, dict[str, Any]]) -> None:
    sqs_actions = {"sqs:*"}
    for queue, document in {
        "raw_events": "raw-events",
        "raw_events_dlq": "raw-events-dlq",
        "lambda_async_dlq": "lambda-async-dlq",
    }.items():
        policy = state[f"aws_sqs_queue.{queue}"]["policy"]
        assert_denies_plain_http(policy, sqs_actions, {f"{SQS}:{NAME}-{document}"})
    assert_denies_plain_http(state["aws_sns_topic_policy.alerts"]["policy"], {"sns:*"}, {TOPIC})


def test_only_the_raw_bucket_sends_events_to_the_raw_queue_for_the_raw_prefix(
    state: dict[str, dict[str, Any]],
) -> None:
    queue_arn = f"{SQS}:{NAME}-raw-events"
    notification = state["aws_s3_bucket_notification.raw_events"]
    assert notification["bucket"] == f"{NAME}-raw"
    assert [(q["queue_arn"], q["events"], q["filter_prefix"], q["filter_suffix"]) for q in notification["queue"]] == [
        (queue_arn, ["s3:ObjectCreated:*"], "raw/", "")
    ]
    assert (notification["lambda_function"], notification["topic"]) == ([], [])
    allow = by_sid(state["aws_sqs_queue.raw_events"]["policy"])["OnlyTheRawBucketSendsEvents"]
    assert (allow["Effect"], allow["Principal"], allow["Action"], allow["Resource"]) == (
        "Allow",
        {"Service": "s3.amazonaws.com"},
        ["sqs:SendMessage"],
        [queue_arn],
    )
    assert allow["Condition"] == {
        "ArnEquals": {"aws:SourceArn": f"arn:aws:s3:::{NAME}-raw"},
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
    }


def test_the_raw_queue_feeds_the_handler_and_dead_letters_into_its_own_dlq(state: dict[str, dict[str, Any]]) -> None:
    mapping = state["aws_lambda_event_source_mapping.raw_events"]
    assert mapping["event_source_arn"] == f"{SQS}:{NAME}-raw-events"
    assert mapping["function_name"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{NAME}-s3-event-handler"
    assert mapping["function_response_types"] == ["ReportBatchItemFailures"]
    redrive = json.loads(state["aws_sqs_queue.raw_events"]["redrive_policy"])
    assert redrive == {"deadLetterTargetArn": f"{SQS}:{NAME}-raw-events-dlq", "maxReceiveCount": 3}
    allow = json.loads(state["aws_sqs_queue.raw_events_dlq"]["redrive_allow_policy"])
    assert allow == {"redrivePermission": "byQueue", "sourceQueueArns": [f"{SQS}:{NAME}-raw-events"]}


def test_glue_state_changes_invoke_the_functions_and_dead_letter_into_the_async_dlq(
    state: dict[str, dict[str, Any]],
) -> None:
    rules = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{NAME}"
    functions = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{NAME}"
    wiring = {
        "data_quality_monitor": ("glue-job-finished", "data-quality-monitor"),
        "warehouse_loader[0]": ("glue-job-succeeded", "warehouse-loader"),
    }
    for target, (rule, function) in wiring.items():
        attributes = state[f"aws_cloudwatch_event_target.{target}"]
        assert (attributes["rule"], attributes["arn"]) == (f"{NAME}-{rule}", f"{functions}-{function}")
        assert attributes["dead_letter_config"] == [{"arn": f"{SQS}:{NAME}-lambda-async-dlq"}]
        resource, _, index = target.partition("[")
        permission = state[f"aws_lambda_permission.{resource}_from_events" + (f"[{index}" if index else "")]
        assert (permission["principal"], permission["source_arn"]) == ("events.amazonaws.com", f"{rules}-{rule}")
    # Only those two rules may dead-letter into the async DLQ.
    allow = by_sid(state["aws_sqs_queue.lambda_async_dlq"]["policy"])["EventBridgeDeadLettersGlueStateChanges"]
    assert allow["Condition"] == {
        "ArnEquals": {"aws:SourceArn": [f"{rules}-glue-job-finished", f"{rules}-glue-job-succeeded"]}
    }


def test_every_alarm_notifies_the_alerts_topic(state: dict[str, dict[str, Any]]) -> None:
    alarms = of_kind(state, "aws_cloudwatch_metric_alarm")
    assert len(alarms) == 7
    for address, alarm in alarms.items():
        assert alarm["alarm_actions"] == [TOPIC], address
        assert alarm["actions_enabled"] is True, address
    assert state["aws_cloudwatch_metric_alarm.dlq_not_empty"]["ok_actions"] == [TOPIC]
    assert state["aws_sns_topic_subscription.alerts_email"]["topic_arn"] == TOPIC
    # CloudWatch may publish only for this environment's alarms.
    allow = by_sid(state["aws_sns_topic_policy.alerts"]["policy"])["CloudWatchAlarmsPublish"]
    assert allow["Condition"] == {"ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{NAME}-*"}}


@pytest.mark.parametrize("function", sorted(HANDLERS))
def test_each_function_runs_as_its_own_role_scoped_to_its_own_log_group(
    state: dict[str, dict[str, Any]], key_arn: str, function: str
) -> None:
    role = f"arn:aws:iam::{ACCOUNT}:role/{NAME}-{function}-role"
    assert state[function_address(function)]["role"] == role
    attached = state[f'aws_iam_role_policy.lambda["{function}"]']
    assert attached["role"] == f"{NAME}-{function}-role"
    policy = by_sid(attached["policy"])
    assert policy["WriteOwnLogGroup"]["Resource"] == [
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{NAME}-{function}:*"
    ]
    assert policy["UsePipelineKey"]["Resource"] == [key_arn]
    if function in ("data-quality-monitor", "ingestion"):
        assert policy["Alert"]["Resource"] == [TOPIC]
    if function == "ingestion":
        assert policy["StoreRawFiles"]["Resource"] == [f"arn:aws:s3:::{NAME}-raw/raw/*"]
        assert as_list(policy["StoreRawFiles"]["Action"]) == ["s3:PutObject"]
        assert policy["ReadWriteOwnState"]["Resource"] == [f"arn:aws:s3:::{NAME}-processed/_state/ingestion/*"]
    if function != "s3-event-handler":
        assert policy["DeadLetterFailedInvocations"]["Resource"] == [f"{SQS}:{NAME}-lambda-async-dlq"]
    else:
        assert policy["ConsumeRawEvents"]["Resource"] == [f"{SQS}:{NAME}-raw-events"]
        assert policy["StartTheJob"]["Resource"] == [f"arn:aws:glue:{REGION}:{ACCOUNT}:job/{NAME}-covid-transform"]


def test_the_glue_job_runs_as_its_own_role(state: dict[str, dict[str, Any]], key_arn: str) -> None:
    role = f"arn:aws:iam::{ACCOUNT}:role/{NAME}-covid-transform-role"
    assert state["aws_glue_job.transform"]["role_arn"] == role
    policy = by_sid(state["aws_iam_role_policy.glue_job"]["policy"])
    assert policy["UsePipelineKey"]["Resource"] == [key_arn]
    assert policy["ReadRawFiles"]["Resource"] == [f"arn:aws:s3:::{NAME}-raw/raw/*"]


def test_a_wildcard_action_is_applied_only_in_deny_statements(state: dict[str, dict[str, Any]]) -> None:
    policies = {
        address: attributes["policy"]
        for address, attributes in state.items()
        if resource_type(address)
        in {
            "aws_iam_role_policy",
            "aws_s3_bucket_policy",
            "aws_sqs_queue",
            "aws_sns_topic_policy",
            "aws_kms_key",
        }
    }
    # 6 role policies (4 functions, the job, the trail's log delivery), 6 buckets, 4 queues, topic, key.
    assert len(policies) == 18
    for address, policy in policies.items():
        for statement in statements(policy):
            assert "NotAction" not in statement, address
            actions = as_list(statement["Action"])
            wildcards = [action for action in actions if action == "*" or action.endswith(":*")]
            if statement["Effect"] == "Deny":
                # A TLS-only deny refuses every action of its service over plain HTTP; never "*" itself.
                assert wildcards == actions and "*" not in actions, address
                assert statement["Condition"] == TLS_ONLY, address
            else:
                assert not wildcards, f"{address}: {wildcards!r} allows every action"
            if statement["Effect"] == "Allow" and "*" in as_list(statement.get("Resource")):
                # "*" resources: the key policy's own key, or actions without resource-level permissions.
                assert address == "aws_kms_key.pipeline" or set(actions) <= {
                    "xray:PutTraceSegments",
                    "xray:PutTelemetryRecords",
                    "cloudwatch:PutMetricData",
                }, address


def test_the_audit_trail_is_applied_encrypted_validated_and_delivered(
    state: dict[str, dict[str, Any]], key_arn: str
) -> None:
    trail = state["aws_cloudtrail.audit"]
    assert (trail["s3_bucket_name"], trail["kms_key_id"]) == (f"{NAME}-cloudtrail", key_arn)
    flags = ("enable_log_file_validation", "is_multi_region_trail", "enable_logging")
    assert [trail[flag] for flag in flags] == [True, True, True]
    (selector,) = trail["event_selector"]
    assert selector["data_resource"] == [
        {"type": "AWS::S3::Object", "values": [f"arn:aws:s3:::{NAME}-raw/", f"arn:aws:s3:::{NAME}-processed/"]}
    ]
    policy = by_sid(state["module.cloudtrail_bucket.aws_s3_bucket_policy.this"]["policy"])
    arn = f"arn:aws:s3:::{NAME}-cloudtrail"
    assert set(policy) == {"DenyInsecureTransport", "CloudTrailChecksTheBucketAcl", "CloudTrailWritesLogFiles"}
    assert policy["CloudTrailWritesLogFiles"]["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
    assert as_list(policy["CloudTrailWritesLogFiles"]["Resource"]) == [f"{arn}/AWSLogs/{ACCOUNT}/*"]
    key_policy = by_sid(state["aws_kms_key.pipeline"]["policy"])
    condition = key_policy["CloudTrailEncryptsTheTrailsLogFiles"]["Condition"]
    assert as_list(condition["StringLike"]["kms:EncryptionContext:aws:cloudtrail:arn"]) == [trail["arn"]]
    (settings,) = state["aws_glue_data_catalog_encryption_settings.pipeline[0]"]["data_catalog_encryption_settings"]
    assert settings["encryption_at_rest"][0]["sse_aws_kms_key_id"] == key_arn
    assert settings["connection_password_encryption"][0]["aws_kms_key_id"] == key_arn


@pytest.mark.parametrize("function", sorted(HANDLERS))
def test_each_applied_environment_holds_what_its_handler_reads(state: dict[str, dict[str, Any]], function: str) -> None:
    (block,) = state[function_address(function)]["environment"]
    missing = handler_reads(function) - set(block["variables"])
    # Read with a default of the code's own, left alone by Terraform (test_plan_wiring.py lists the same).
    assert missing <= {
        "MAX_KEY_LENGTH",
        "RETRY_DELAY_SECONDS",
        "MAX_BUSY_RETRIES",
        "CLAIM_STALE_SECONDS",
        # The ingestion's fetch tuning; STATE_PATH is the monitor's, read in covid_pipeline.monitoring.
        *(
            ("FETCH_TIMEOUT_SECONDS", "FETCH_ATTEMPTS", "FETCH_BACKOFF_SECONDS", "STATE_PATH")
            if function == "ingestion"
            else ()
        ),
    }


def test_the_monitor_environment_is_this_environment(state: dict[str, dict[str, Any]]) -> None:
    (block,) = state[function_address("data-quality-monitor")]["environment"]
    assert block["variables"] == {
        "ALERTS_TOPIC_ARN": TOPIC,
        "CLAIM_STALE_SECONDS": "5",
        "DQ_SCORE_THRESHOLD": "0.9",
        "ENVIRONMENT": "test",
        "LOG_LEVEL": "INFO",
        "METRICS_NAMESPACE": "CovidPipeline",
        "POWERTOOLS_SERVICE_NAME": "data-quality-monitor",
        "QUARANTINE_RATIO_THRESHOLD": "0.05",
        "STATE_PATH": f"s3://{NAME}-processed/_state/jhu_daily/",
    }
