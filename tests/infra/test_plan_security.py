"""Secure by default, in every environment's real plan: private, versioned, encrypted, TLS-only, logged buckets with
the declared lifecycles; the customer key on every queue, topic, log group, function and the warehouse; a private,
encrypted, audited Redshift; least-privilege IAM. What waits for apply (key ARNs, rendered policies) is checked
on the applied `test` environment in test_applied_state.py; here, where the plan knows it, that such an attribute
refers to the customer key (as Terraform parsed the configuration) and is filled in at apply."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.expected import ACCOUNT, EXPECTED, REGION, function_address, prefix
from tests.infra.terraform_json import (
    after_unknown,
    of_type,
    planned,
    policy_documents,
    references,
    statements,
)

# The data buckets of the hardened module (SSE-KMS, logged): the four of the pipeline's data and the audit trail's.
DATA_BUCKETS = ("raw", "processed", "quarantine", "scripts", "cloudtrail")
# Every bucket, the access-log target (the module's other shape) included, and where its companion resources are.
BUCKETS = (*DATA_BUCKETS, "access_logs")
BUCKET_OWNERS = {name: f"module.{name}_bucket.{{kind}}.this" for name in BUCKETS}
KEY = ["aws_kms_key.pipeline.arn", "aws_kms_key.pipeline"]
# A plain-HTTP request is denied whatever it asks for: the deny statements name every action of their service.
TLS_ONLY_S3_ACTIONS = ["s3:*"]
DENY_PLAIN_HTTP = {
    "effect": "Deny",
    "principals": [{"identifiers": ["*"], "type": "*"}],
    "condition": [{"test": "Bool", "values": ["false"], "variable": "aws:SecureTransport"}],
}


def bucket_part(plan: dict[str, Any], bucket: str, kind: str) -> dict[str, Any]:
    """The planned values of one of a bucket's companion resources (its versioning, policy, ...)."""
    return planned(plan, BUCKET_OWNERS[bucket].format(kind=kind))


def denies_plain_http(statement: dict[str, Any]) -> bool:
    return all(statement[key] == value for key, value in DENY_PLAIN_HTTP.items())


# --- buckets -------------------------------------------------------------------------------------------------------


def test_every_bucket_comes_from_the_hardened_module(plan: dict[str, Any], environment: str) -> None:
    buckets = {address: values["bucket"] for address, values in of_type(plan, "aws_s3_bucket").items()}
    name = prefix(environment)
    assert buckets == {
        "module.raw_bucket.aws_s3_bucket.this": f"{name}-raw",
        "module.processed_bucket.aws_s3_bucket.this": f"{name}-processed",
        "module.quarantine_bucket.aws_s3_bucket.this": f"{name}-quarantine",
        "module.scripts_bucket.aws_s3_bucket.this": f"{name}-scripts",
        "module.cloudtrail_bucket.aws_s3_bucket.this": f"{name}-cloudtrail",
        "module.access_logs_bucket.aws_s3_bucket.this": f"{name}-access-logs",
    }


@pytest.mark.parametrize("bucket", BUCKETS)
def test_every_bucket_is_private_versioned_and_owner_enforced(plan: dict[str, Any], bucket: str) -> None:
    block = bucket_part(plan, bucket, "aws_s3_bucket_public_access_block")
    settings = ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
    assert {setting: block[setting] for setting in settings} == dict.fromkeys(settings, True)
    versioning = bucket_part(plan, bucket, "aws_s3_bucket_versioning")
    assert versioning["versioning_configuration"][0]["status"] == "Enabled"
    ownership = bucket_part(plan, bucket, "aws_s3_bucket_ownership_controls")
    assert ownership["rule"] == [{"object_ownership": "BucketOwnerEnforced"}]


def test_data_buckets_default_to_sse_kms_with_the_customer_key(plan: dict[str, Any]) -> None:
    for bucket in DATA_BUCKETS:
        address = f"module.{bucket}_bucket.aws_s3_bucket_server_side_encryption_configuration.this"
        (rule,) = planned(plan, address)["rule"]
        assert rule["apply_server_side_encryption_by_default"] == [{"sse_algorithm": "aws:kms"}]
        assert rule["bucket_key_enabled"] is True
        # The key id is the customer key's ARN, known after apply (its value: test_applied_state.py).
        unknown = after_unknown(plan, address)["rule"][0]["apply_server_side_encryption_by_default"][0]
        assert unknown == {"kms_master_key_id": True}
        module_call = plan["configuration"]["root_module"]["module_calls"][f"{bucket}_bucket"]
        assert module_call["expressions"]["kms_key_arn"]["references"] == KEY
    # S3 server access logging delivers only into SSE-S3 buckets (the bucket's checkov skip says so).
    (rule,) = planned(plan, "module.access_logs_bucket.aws_s3_bucket_server_side_encryption_configuration.this")["rule"]
    assert rule["apply_server_side_encryption_by_default"] == [{"kms_master_key_id": "", "sse_algorithm": "AES256"}]
    call = plan["configuration"]["root_module"]["module_calls"]["access_logs_bucket"]
    assert "kms_key_arn" not in call["expressions"] and call["expressions"]["access_log_target"]["constant_value"]


def test_every_bucket_policy_denies_plain_http(plan: dict[str, Any]) -> None:
    """Each bucket's policy is the module's document: the caller's grants, then the TLS-only helper's deny."""
    documents = policy_documents(plan)
    for bucket in BUCKETS:
        module = f"module.{bucket}_bucket"
        policy = BUCKET_OWNERS[bucket].format(kind="aws_s3_bucket_policy")
        source = "data.aws_iam_policy_document.this"
        assert references(plan, policy, "policy") == [f"{source}.json", source]
        assert references(plan, f"{module}.{source}", "source_policy_documents") == [
            "var.policy_documents",
            "module.tls_only.json",
            "module.tls_only",
        ]
        (deny,) = documents[f"{module}.module.tls_only.{source}"]
        assert deny["sid"] == "DenyInsecureTransport" and denies_plain_http(deny), bucket
        assert deny["actions"] == TLS_ONLY_S3_ACTIONS


def test_data_buckets_log_access_into_the_log_bucket_which_does_not_log_itself(
    plan: dict[str, Any], environment: str
) -> None:
    logging = of_type(plan, "aws_s3_bucket_logging")
    assert {address: values["target_prefix"] for address, values in logging.items()} == {
        f"module.{bucket}_bucket.aws_s3_bucket_logging.this[0]": f"s3/{prefix(environment)}-{bucket}/"
        for bucket in DATA_BUCKETS
    }
    for bucket in DATA_BUCKETS:
        call = plan["configuration"]["root_module"]["module_calls"][f"{bucket}_bucket"]
        assert call["expressions"]["access_log_bucket"]["references"] == [
            "module.access_logs_bucket.id",
            "module.access_logs_bucket",
        ]
    # The log bucket accepts S3's log deliveries from those buckets, of this account, under s3/ only.
    (delivery,) = policy_documents(plan)["module.access_logs_bucket.data.aws_iam_policy_document.this"]
    assert (delivery["sid"], delivery["actions"]) == ("S3ServerAccessLogDelivery", ["s3:PutObject"])
    assert delivery["resources"] == [f"arn:aws:s3:::{prefix(environment)}-access-logs/s3/*"]
    assert {c["variable"]: c["values"] for c in delivery["condition"]} == {
        "aws:SourceAccount": [ACCOUNT],
        "aws:SourceArn": [f"arn:aws:s3:::{prefix(environment)}-{bucket}" for bucket in DATA_BUCKETS],
    }


def lifecycle_rules(values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Rule id -> the parts of a planned lifecycle rule that say what it does."""
    rules = {}
    for rule in values["rule"]:
        described: dict[str, Any] = {"status": rule["status"], "prefix": rule["filter"][0]["prefix"]}
        if rule["abort_incomplete_multipart_upload"]:
            described["abort_after_days"] = rule["abort_incomplete_multipart_upload"][0]["days_after_initiation"]
        if rule["noncurrent_version_expiration"]:
            described["noncurrent_days"] = rule["noncurrent_version_expiration"][0]["noncurrent_days"]
        if rule["expiration"]:
            described["expire_days"] = rule["expiration"][0]["days"]
        if rule["transition"]:
            described["transitions"] = sorted((t["days"], t["storage_class"]) for t in rule["transition"])
        rules[rule["id"]] = described
    return rules


def test_lifecycles_are_as_declared(plan: dict[str, Any], environment: str) -> None:
    expected = EXPECTED[environment]
    common = {
        "abort-incomplete-multipart-uploads": {"status": "Enabled", "prefix": "", "abort_after_days": 7},
        "expire-noncurrent-versions": {
            "status": "Enabled",
            "prefix": "",
            "noncurrent_days": expected.noncurrent_version_days,
        },
    }
    wanted = {
        # Raw files are re-read only for a full refresh: Standard-IA after 30 days, Glacier after 180.
        "raw": {
            **common,
            "storage-class-transitions": {
                "status": "Enabled",
                "prefix": "raw/",
                "transitions": [(30, "STANDARD_IA"), (180, "GLACIER")],
            },
        },
        # Parquet is read unpredictably: intelligent tiering from day 0.
        "processed": {
            **common,
            "storage-class-transitions": {
                "status": "Enabled",
                "prefix": "",
                "transitions": [(0, "INTELLIGENT_TIERING")],
            },
        },
        "quarantine": {
            **common,
            "expire-current-objects": {
                "status": "Enabled",
                "prefix": "quarantine/",
                "expire_days": expected.quarantine_expiration_days,
            },
        },
        "scripts": common,
        # The audit trail's log files, kept for the environment's audit retention.
        "cloudtrail": {
            **common,
            "expire-current-objects": {
                "status": "Enabled",
                "prefix": "",
                "expire_days": expected.cloudtrail_retention_days,
            },
        },
        # Access logs: a week of old versions, current logs for access_log_expiration_days.
        "access_logs": {
            **common,
            "expire-noncurrent-versions": {"status": "Enabled", "prefix": "", "noncurrent_days": 7},
            "expire-current-objects": {"status": "Enabled", "prefix": "", "expire_days": 365},
        },
    }
    for bucket, rules in wanted.items():
        address = BUCKET_OWNERS[bucket].format(kind="aws_s3_bucket_lifecycle_configuration")
        assert lifecycle_rules(planned(plan, address)) == rules, bucket


# --- the customer key everywhere else ------------------------------------------------------------------------------


def test_queues_topic_log_groups_and_functions_use_the_customer_key(plan: dict[str, Any], environment: str) -> None:
    expected = EXPECTED[environment]
    encrypted = {
        "aws_sqs_queue": "kms_master_key_id",
        "aws_sns_topic": "kms_master_key_id",
        "aws_cloudwatch_log_group": "kms_key_id",
        "aws_lambda_function": "kms_key_arn",
    }
    for resource_type, attribute in encrypted.items():
        found = of_type(plan, resource_type)
        assert found, resource_type
        for address in found:
            assert references(plan, address, attribute) == KEY, address
            assert after_unknown(plan, address)[attribute] is True, address
    for address, log_group in of_type(plan, "aws_cloudwatch_log_group").items():
        assert log_group["retention_in_days"] == expected.log_retention_days, address
    for address, function in of_type(plan, "aws_lambda_function").items():
        assert function["tracing_config"] == [{"mode": "Active"}], address
        # The ingestion runs one tick at a time (lambda.tf); the others take the environment's setting.
        reserved = 1 if address == function_address("ingestion") else expected.reserved_concurrency
        assert function["reserved_concurrent_executions"] == reserved, address
    key = planned(plan, "aws_kms_key.pipeline")
    assert (key["enable_key_rotation"], key["rotation_period_in_days"]) == (True, 365)
    assert key["deletion_window_in_days"] == expected.kms_deletion_window_days


def test_glue_encrypts_logs_bookmarks_and_output_with_the_customer_key(plan: dict[str, Any], environment: str) -> None:
    address = "aws_glue_security_configuration.pipeline"
    (encryption,) = planned(plan, address)["encryption_configuration"]
    assert encryption == {
        "cloudwatch_encryption": [{"cloudwatch_encryption_mode": "SSE-KMS"}],
        "job_bookmarks_encryption": [{"job_bookmarks_encryption_mode": "CSE-KMS"}],
        "s3_encryption": [{"s3_encryption_mode": "SSE-KMS"}],
    }
    for part in encryption:
        assert references(plan, address, "encryption_configuration", 0, part, 0, "kms_key_arn") == KEY
    job = planned(plan, "aws_glue_job.transform")
    assert job["security_configuration"] == f"{prefix(environment)}-glue-security"


def test_every_queue_and_the_topic_deny_plain_http(plan: dict[str, Any]) -> None:
    documents = policy_documents(plan)
    # The queues of terraform/; the local cloud's alerts inbox (terraform/local/) stands in for e-mail and never
    # reaches AWS (test_aws_shape.py plans terraform/ alone).
    queues = {address.split(".")[1] for address in of_type(plan, "aws_sqs_queue")} - {"alerts_inbox"}
    assert queues == {"raw_events", "raw_events_dlq", "lambda_async_dlq"}
    # Each policy merges the TLS-only helper's deny for its own ARN (the DLQ's is that deny alone).
    helpers: dict[str, str | None] = {
        "raw_events": "data.aws_iam_policy_document.raw_events_queue",
        "raw_events_dlq": None,
        "lambda_async_dlq": "data.aws_iam_policy_document.lambda_async_dlq",
        "alerts_topic": "data.aws_iam_policy_document.alerts_topic",
    }
    for key, document in helpers.items():
        helper = f'module.tls_only["{key}"]'
        if document is None:
            assert references(plan, f"aws_sqs_queue.{key}", "policy") == [f"{helper}.json", helper]
        else:
            assert references(plan, document, "source_policy_documents") == [f"{helper}.json", helper]
            assert not [s for s in documents[document] if s["effect"] == "Deny"], document
        (deny,) = documents[f"{helper}.data.aws_iam_policy_document.this"]
        assert deny["sid"] == "DenyInsecureTransport" and denies_plain_http(deny), key
        assert deny["actions"] == ["sns:*" if key == "alerts_topic" else "sqs:*"], key
    for queue in ("raw_events", "lambda_async_dlq"):
        source = f"data.aws_iam_policy_document.{'raw_events_queue' if queue == 'raw_events' else queue}"
        assert references(plan, f"aws_sqs_queue.{queue}", "policy") == [f"{source}.json", source]
    source = "data.aws_iam_policy_document.alerts_topic"
    assert references(plan, "aws_sns_topic_policy.alerts", "policy") == [f"{source}.json", source]


# --- Redshift ------------------------------------------------------------------------------------------------------


def test_redshift_is_private_encrypted_audited_with_a_managed_password(
    planned_stacks: dict[str, dict[str, Any]],
) -> None:
    plan = planned_stacks["prod"]
    cluster = planned(plan, "aws_redshift_cluster.warehouse[0]")
    assert cluster["publicly_accessible"] is False
    assert cluster["encrypted"] is True
    assert cluster["enhanced_vpc_routing"] is True
    assert cluster["manage_master_password"] is True and cluster["master_password"] is None
    assert (cluster["node_type"], cluster["number_of_nodes"], cluster["cluster_type"]) == (
        "ra3.xlplus",
        2,
        "multi-node",
    )
    assert (cluster["skip_final_snapshot"], cluster["final_snapshot_identifier"]) == (
        False,
        "covid-pipeline-prod-warehouse-final",
    )
    assert cluster["automated_snapshot_retention_period"] == 14
    for attribute in ("kms_key_id", "master_password_secret_kms_key_id"):
        assert references(plan, "aws_redshift_cluster.warehouse[0]", attribute) == KEY
    # Audit logs through aws_redshift_logging (the cluster's own logging block is deprecated).
    assert planned(plan, "aws_redshift_logging.warehouse[0]") == {
        "bucket_name": None,
        "cluster_identifier": "covid-pipeline-prod-warehouse",
        "log_destination_type": "cloudwatch",
        "log_exports": ["connectionlog", "useractivitylog", "userlog"],
        "s3_key_prefix": None,
    }
    audit = {values["name"] for values in of_type(plan, "aws_cloudwatch_log_group").values()}
    assert {
        f"/aws/redshift/cluster/covid-pipeline-prod-warehouse/{log}"
        for log in ("connectionlog", "userlog", "useractivitylog")
    } <= audit
    parameters = planned(plan, "aws_redshift_parameter_group.warehouse[0]")["parameter"]
    assert {p["name"]: p["value"] for p in parameters} == {
        "require_ssl": "true",
        "enable_user_activity_logging": "true",
    }
    for index in (0, 1):
        assert planned(plan, f"aws_subnet.warehouse_private[{index}]")["map_public_ip_on_launch"] is False
    group = planned(plan, "aws_security_group.warehouse[0]")
    assert [(rule["from_port"], rule["to_port"], rule["cidr_blocks"]) for rule in group["ingress"]] == [
        (5439, 5439, ["10.40.0.0/16"])
    ]
    # COPY reads the processed bucket's Parquet and nothing else.
    copy = {
        s["sid"]: (s["actions"], s["resources"])
        for s in policy_documents(plan)["data.aws_iam_policy_document.redshift_copy"]
    }
    assert copy == {
        "ReadProcessedParquet": (
            ["s3:GetObject"],
            [
                "arn:aws:s3:::covid-pipeline-prod-processed/jhu_daily/*",
                "arn:aws:s3:::covid-pipeline-prod-processed/owid/*",
            ],
        ),
        "ListProcessed": (["s3:GetBucketLocation", "s3:ListBucket"], ["arn:aws:s3:::covid-pipeline-prod-processed"]),
        "DecryptProcessed": (["kms:Decrypt", "kms:DescribeKey"], [None]),  # the key's ARN, known after apply
    }


# --- IAM -----------------------------------------------------------------------------------------------------------

# Every statement whose resource is "*", and why AWS leaves no narrower choice.
STAR_RESOURCES = {
    **{
        (f'data.aws_iam_policy_document.lambda_common["{function}"]', "SendTraces"): "X-Ray has no resource-level "
        "permissions"
        for function in ("s3-event-handler", "data-quality-monitor", "warehouse-loader", "ingestion")
    },
    ("data.aws_iam_policy_document.data_quality_monitor", "PublishPipelineMetrics"): "PutMetricData: namespace pinned",
    ("data.aws_iam_policy_document.ingestion", "PublishPipelineMetrics"): "PutMetricData: namespace pinned",
    ("data.aws_iam_policy_document.warehouse_loader", "PublishPipelineMetrics"): "PutMetricData: namespace pinned",
    ("data.aws_iam_policy_document.glue_job", "PublishJobMetrics"): "PutMetricData: namespaces pinned",
    ("data.aws_iam_policy_document.kms_key", "AccountAdministersAndDelegatesToIam"): "in a key policy * is the key",
    ("data.aws_iam_policy_document.kms_key", "CloudWatchLogsEncryptsOurLogGroups"): "in a key policy * is the key",
    (
        "data.aws_iam_policy_document.kms_key",
        "ServicesDeliverToEncryptedQueuesAndTopic",
    ): "in a key policy * is the key",
    ("data.aws_iam_policy_document.kms_key", "CloudTrailEncryptsTheTrailsLogFiles"): "in a key policy * is the key",
    ("data.aws_iam_policy_document.kms_key", "CloudTrailDescribesTheKey"): "in a key policy * is the key",
}
# Only with enable_redshift: the Data API's statement follow-up actions have no resource-level permissions.
STAR_RESOURCES_WITH_REDSHIFT = {
    ("data.aws_iam_policy_document.warehouse_loader", "FollowOwnStatements"): "pinned to the caller's statements",
}
# The conditions that narrow a "*" resource where the action allows one.
STAR_CONDITIONS = {
    "PublishPipelineMetrics": "cloudwatch:namespace",
    "PublishJobMetrics": "cloudwatch:namespace",
    "FollowOwnStatements": "redshift-data:statement-owner-iam-userid",
    "CloudWatchLogsEncryptsOurLogGroups": "kms:EncryptionContext:aws:logs:arn",
    "ServicesDeliverToEncryptedQueuesAndTopic": "aws:SourceAccount",
    "CloudTrailEncryptsTheTrailsLogFiles": "kms:EncryptionContext:aws:cloudtrail:arn",
    "CloudTrailDescribesTheKey": "aws:SourceArn",
}


def is_wildcard(action: str) -> bool:
    return action == "*" or action.endswith(":*")


def test_a_wildcard_action_appears_only_in_deny_statements(plan: dict[str, Any]) -> None:
    """Least privilege: no Allow names every action (or uses NotAction); a Deny names every action of its service,
    so that what it refuses (plain HTTP) is refused whatever the request asks for."""
    checked, denies = 0, 0
    for address, document in policy_documents(plan).items():
        for statement in document:
            assert not statement["not_actions"], f"{address} {statement['sid']}: NotAction grants everything else"
            actions = statement["actions"] or []
            checked += len(actions)
            if statement["effect"] == "Deny":
                denies += 1
                assert all(is_wildcard(a) and a != "*" for a in actions), f"{address} {statement['sid']}: {actions}"
            else:
                assert not [a for a in actions if is_wildcard(a)], f"{address} {statement['sid']} allows every action"
    assert checked > 100
    # The TLS-only helper's one statement, in each of its ten uses: six buckets (the trail's and the log bucket's
    # included), three queues, the topic.
    assert denies == 10
    for statement in statements(planned(plan, "aws_kms_key.pipeline")["policy"]):
        assert "NotAction" not in statement
        assert not [a for a in statement["Action"] if is_wildcard(a)]


def test_star_resources_only_where_aws_allows_nothing_narrower(plan: dict[str, Any], environment: str) -> None:
    found = set()
    for address, document in policy_documents(plan).items():
        for statement in document:
            if "*" in (statement["resources"] or []):
                assert statement["resources"] == ["*"], f"{address} {statement['sid']}: '*' beside other resources"
                found.add((address, statement["sid"]))
                variable = STAR_CONDITIONS.get(statement["sid"])
                if variable is not None:
                    assert [c["variable"] for c in statement["condition"]] == [variable], statement["sid"]
    wanted = set(STAR_RESOURCES) | (set(STAR_RESOURCES_WITH_REDSHIFT) if EXPECTED[environment].redshift else set())
    assert found == wanted


def test_each_lambda_role_is_scoped_to_its_function(plan: dict[str, Any], environment: str) -> None:
    name = prefix(environment)
    documents = policy_documents(plan)
    functions = ("s3-event-handler", "data-quality-monitor", "warehouse-loader", "ingestion")
    # Each function takes the role of its own key (one for_each block each; the ARNs: test_applied_state.py).
    assert references(plan, function_address(functions[0]), "role") == ["aws_iam_role.lambda", "each.key"]
    assert set(of_type(plan, "aws_lambda_function")) == {function_address(f) for f in functions}
    for short in functions:
        role = f'aws_iam_role.lambda["{short}"]'
        assert planned(plan, role)["name"] == f"{name}-{short}-role"
        own = {s["sid"]: s for s in documents[f'data.aws_iam_policy_document.lambda_common["{short}"]']}
        log_group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{name}-{short}:*"
        assert own["WriteOwnLogGroup"]["resources"] == [log_group]
    handler = {s["sid"]: s for s in documents["data.aws_iam_policy_document.s3_event_handler"]}
    assert handler["StartTheJob"]["actions"] == ["glue:GetJobRun", "glue:GetJobRuns", "glue:StartJobRun"]
    assert handler["StartTheJob"]["resources"] == [f"arn:aws:glue:{REGION}:{ACCOUNT}:job/{name}-covid-transform"]
    assert handler["ClaimEventsOnce"]["resources"] == [f"arn:aws:s3:::{name}-processed/_state/events/*"]
    actions = {action for statement in handler.values() for action in statement["actions"]}
    assert not {a for a in actions if a.startswith(("redshift", "sns:", "secretsmanager:", "iam:"))}


# --- audit ---------------------------------------------------------------------------------------------------------


def test_cloudtrail_records_the_data_buckets_encrypted_and_validated(plan: dict[str, Any], environment: str) -> None:
    name = prefix(environment)
    trail = planned(plan, "aws_cloudtrail.audit")
    assert (trail["name"], trail["enable_logging"], trail["enable_log_file_validation"]) == (
        f"{name}-audit",
        True,
        True,
    )
    assert (trail["is_multi_region_trail"], trail["include_global_service_events"]) == (True, True)
    assert trail["event_selector"] == [
        {
            "data_resource": [
                {"type": "AWS::S3::Object", "values": [f"arn:aws:s3:::{name}-raw/", f"arn:aws:s3:::{name}-processed/"]}
            ],
            "exclude_management_event_sources": None,
            "include_management_events": True,
            "read_write_type": "All",
        }
    ]
    assert references(plan, "aws_cloudtrail.audit", "kms_key_id") == KEY
    assert references(plan, "aws_cloudtrail.audit", "s3_bucket_name") == [
        "module.cloudtrail_bucket.id",
        "module.cloudtrail_bucket",
    ]
    # Its bucket takes log files from this trail only (and, like every bucket, nothing over plain HTTP).
    trail_arn = f"arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/{name}-audit"
    delivery = {s["sid"]: s for s in policy_documents(plan)["data.aws_iam_policy_document.cloudtrail_delivery"]}
    assert {sid: (s["actions"], s["resources"]) for sid, s in delivery.items()} == {
        "CloudTrailChecksTheBucketAcl": (["s3:GetBucketAcl"], [f"arn:aws:s3:::{name}-cloudtrail"]),
        "CloudTrailWritesLogFiles": (["s3:PutObject"], [f"arn:aws:s3:::{name}-cloudtrail/AWSLogs/{ACCOUNT}/*"]),
    }
    for statement in delivery.values():
        assert statement["principals"] == [{"identifiers": ["cloudtrail.amazonaws.com"], "type": "Service"}]
        assert {"test": "StringEquals", "values": [trail_arn], "variable": "aws:SourceArn"} in statement["condition"]
    call = plan["configuration"]["root_module"]["module_calls"]["cloudtrail_bucket"]
    assert (
        call["expressions"]["policy_documents"]["references"][0]
        == "data.aws_iam_policy_document.cloudtrail_delivery.json"
    )
    assert planned(plan, "aws_cloudwatch_log_group.cloudtrail")["name"] == f"/aws/cloudtrail/{name}-audit"


def test_the_glue_data_catalog_is_encrypted_with_the_customer_key(plan: dict[str, Any]) -> None:
    address = "aws_glue_data_catalog_encryption_settings.pipeline[0]"
    (settings,) = planned(plan, address)["data_catalog_encryption_settings"]
    assert settings["encryption_at_rest"][0]["catalog_encryption_mode"] == "SSE-KMS"
    assert settings["connection_password_encryption"][0]["return_connection_password_encrypted"] is True
    path = ("data_catalog_encryption_settings", 0)
    assert references(plan, address, *path, "encryption_at_rest", 0, "sse_aws_kms_key_id") == KEY
    assert references(plan, address, *path, "connection_password_encryption", 0, "aws_kms_key_id") == KEY


def test_every_vpc_has_flow_logs(plan: dict[str, Any]) -> None:
    vpcs = set(of_type(plan, "aws_vpc"))
    flows = of_type(plan, "aws_flow_log")
    logged = {references(plan, address, "vpc_id")[-1] for address in flows}
    assert logged == {address.split("[")[0] for address in vpcs}
    for values in flows.values():
        assert (values["traffic_type"], values["log_destination_type"]) == ("ALL", "cloud-watch-logs")


def test_the_loader_uses_its_own_warehouse_user_not_the_master(planned_stacks: dict[str, dict[str, Any]]) -> None:
    plan = planned_stacks["prod"]
    secret = "aws_secretsmanager_secret.warehouse_loader[0]"
    assert planned(plan, secret)["name"] == "covid-pipeline-prod-warehouse-loader"
    assert references(plan, secret, "kms_key_id") == KEY
    # Terraform writes the user name only; warehouse-bootstrap adds the password it sets in Redshift.
    version = planned(plan, "aws_secretsmanager_secret_version.warehouse_loader[0]")
    assert version["secret_string"] == '{"username":"covid_loader"}'
    loader = {s["sid"]: s for s in policy_documents(plan)["data.aws_iam_policy_document.warehouse_loader"]}
    assert loader["ReadWarehouseCredentials"]["actions"] == ["secretsmanager:GetSecretValue"]
    # Which secret (known after apply; a plan's configuration leaves dynamic blocks out): test_terraform_source.py.


def test_the_loader_timeout_fits_its_work(plan: dict[str, Any], environment: str) -> None:
    expected = EXPECTED[environment]
    loader = planned(plan, function_address("warehouse-loader"))
    assert loader["timeout"] == expected.warehouse_loader_timeout_seconds
    for function in ("s3-event-handler", "data-quality-monitor"):
        assert planned(plan, function_address(function))["timeout"] == expected.lambda_timeout_seconds
