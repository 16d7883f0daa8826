"""Every environment validates and plans with the real AWS provider (covid_pipeline.local.offline_plan against a
throwaway emulator): no warning, no error, every variable validation and precondition evaluated by Terraform and
passed (or, where it reads an ARN, left to apply), and the resources each environment's shape calls for (Redshift
only in prod)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.infra.expected import EXPECTED, prefix
from tests.infra.terraform_json import AWS_PROVIDER, of_type, plan_resources, planned

# What exists only where enable_redshift is on (prod): the warehouse, its private network and its roles.
REDSHIFT_ONLY = {
    'aws_cloudwatch_log_group.warehouse_audit["connectionlog"]',
    'aws_cloudwatch_log_group.warehouse_audit["useractivitylog"]',
    'aws_cloudwatch_log_group.warehouse_audit["userlog"]',
    "aws_cloudwatch_log_group.warehouse_flow_logs[0]",
    "aws_default_security_group.warehouse[0]",
    "aws_flow_log.warehouse[0]",
    "aws_iam_role.redshift_copy[0]",
    "aws_iam_role.warehouse_flow_logs[0]",
    "aws_iam_role_policy.redshift_copy[0]",
    "aws_iam_role_policy.warehouse_flow_logs[0]",
    "aws_redshift_cluster.warehouse[0]",
    "aws_redshift_logging.warehouse[0]",
    "aws_redshift_parameter_group.warehouse[0]",
    "aws_redshift_subnet_group.warehouse[0]",
    "aws_route_table.warehouse_private[0]",
    "aws_route_table_association.warehouse_private[0]",
    "aws_route_table_association.warehouse_private[1]",
    "aws_secretsmanager_secret.warehouse_loader[0]",
    "aws_secretsmanager_secret_version.warehouse_loader[0]",
    "aws_security_group.warehouse[0]",
    "aws_subnet.warehouse_private[0]",
    "aws_subnet.warehouse_private[1]",
    "aws_vpc.warehouse[0]",
    "aws_vpc_endpoint.warehouse_s3[0]",
}
# Managed resources of an environment without Redshift (terraform/ plus the local cloud's inbox queue).
BASE_RESOURCE_COUNT = 110
# Variables a wrong value of which Terraform must refuse (a `validation` block each), terraform/local's included.
VALIDATED_VARIABLES = {
    "access_log_expiration_days",
    "artifacts_dir",
    "aws_region",
    "cloudtrail_retention_days",
    "dq_score_threshold",
    "environment",
    "glue_job_name",
    "glue_max_concurrent_runs",
    "glue_max_retries",
    "glue_number_of_workers",
    "glue_table_prefix",
    "glue_timeout_minutes",
    "glue_version",
    "ingestion_memory_mb",
    "ingestion_schedule",
    "ingestion_sources",
    "ingestion_timeout_seconds",
    "glue_worker_type",
    "job_duration_alarm_seconds",
    "kms_deletion_window_days",
    "lambda_memory_mb",
    "lambda_reserved_concurrency",
    "lambda_runtime",
    "lambda_timeout_seconds",
    "local_ca_bundle",
    "local_endpoint",
    "local_warehouse_url",
    "log_retention_days",
    "max_input_compressed_mib",
    "max_input_uncompressed_mib",
    "max_removal_share",
    "monthly_budget_usd",
    "noncurrent_version_expiration_days",
    "notification_email",
    "poison_after_failures",
    "project_name",
    "quarantine_expiration_days",
    "quarantine_prefix",
    "quarantine_ratio_threshold",
    "raw_prefix",
    "raw_transition_to_glacier_days",
    "raw_transition_to_ia_days",
    "redshift_database_name",
    "redshift_node_type",
    "redshift_number_of_nodes",
    "redshift_snapshot_retention_days",
    "redshift_vpc_cidr",
    "sqs_batch_size",
    "sqs_batching_window_seconds",
    "sqs_max_receive_count",
    "sqs_visibility_timeout_seconds",
    "state_prefix",
    "supported_suffixes",
    "warehouse_loader_timeout_seconds",
}
PRECONDITIONS = {"aws_lambda_event_source_mapping.raw_events"}
# Every instance of modules/secure_bucket: its validated variables and the preconditions that tie a bucket's shape
# (data bucket, or the access-log target) to its key and its log target; the TLS-only helper's two validations.
BUCKETS = ("raw", "processed", "quarantine", "scripts", "cloudtrail", "access_logs")
TLS_HELPER_CHECKS = {"module.tls_only.var.service", "module.tls_only.var.resource_arns"}
BUCKET_MODULE_CHECKS = {
    *(
        f"var.{name}"
        for name in (
            "access_log_bucket",
            "bucket_name",
            "expiration_days",
            "expiration_prefix",
            "kms_key_arn",
            "log_delivery_source_arns",
            "noncurrent_version_expiration_days",
            "transition_prefix",
            "transitions",
        )
    ),
    "aws_s3_bucket_logging.this",
    "aws_s3_bucket_policy.this",
    "aws_s3_bucket_server_side_encryption_configuration.this",
    *TLS_HELPER_CHECKS,
}
# What a data bucket's checks read from other resources (the key's ARN, the log bucket's name, its own ARN) and the
# topic's ARN in the root's TLS-only helper are known only at apply, where Terraform evaluates them: "unknown" here.
KNOWN_AT_APPLY = {
    *(
        f"module.{bucket}_bucket.{check}"
        for bucket in BUCKETS[:-1]
        for check in (
            "var.kms_key_arn",
            "var.access_log_bucket",
            "aws_s3_bucket_logging.this",
            "aws_s3_bucket_server_side_encryption_configuration.this",
            "module.tls_only.var.resource_arns",
        )
    ),
    "module.access_logs_bucket.module.tls_only.var.resource_arns",
    "module.tls_only.var.resource_arns",
}


def managed(plan: dict[str, Any]) -> set[str]:
    return {address for address, resource in plan_resources(plan).items() if resource["mode"] == "managed"}


def test_validate_passes_without_a_warning(planned_dir: Path) -> None:
    # With a warning Terraform says "Success! The configuration is valid, but there were some validation warnings".
    said = (planned_dir / "validate.txt").read_text()
    assert said.strip() == "Success! The configuration is valid.", said


def test_each_environment_plans_without_errors(plan: dict[str, Any], environment: str) -> None:
    assert plan["errored"] is False
    assert plan["complete"] is True and plan["applyable"] is True
    # Against an empty cloud a plan only creates resources and reads data sources.
    actions = {action for change in plan["resource_changes"] for action in change["change"]["actions"]}
    assert actions == {"create", "read"}
    print(f"{environment}: planned in {plan['covid_pipeline_plan_seconds']} s")


def test_terraform_evaluated_every_validation_and_precondition_and_all_passed(plan: dict[str, Any]) -> None:
    checks = {check["address"]["to_display"]: check["status"] for check in plan["checks"]}
    in_modules = {f"module.{bucket}_bucket.{check}" for bucket in BUCKETS for check in BUCKET_MODULE_CHECKS}
    assert (
        set(checks) == {f"var.{name}" for name in VALIDATED_VARIABLES} | PRECONDITIONS | in_modules | TLS_HELPER_CHECKS
    )
    assert {address for address, status in checks.items() if status != "pass"} == KNOWN_AT_APPLY
    assert {checks[address] for address in KNOWN_AT_APPLY} == {"unknown"}


def test_redshift_and_its_network_exist_only_where_enabled(plan: dict[str, Any], environment: str) -> None:
    addresses = managed(plan)
    if EXPECTED[environment].redshift:
        assert addresses >= REDSHIFT_ONLY
        assert len(addresses) == BASE_RESOURCE_COUNT + len(REDSHIFT_ONLY)
    else:
        assert not REDSHIFT_ONLY & addresses
        assert len(addresses) == BASE_RESOURCE_COUNT
    # The warehouse VPC is private: no internet gateway, NAT or public address anywhere.
    assert not {a for a in addresses if "internet_gateway" in a or "nat_gateway" in a or "aws_eip" in a}


def test_every_resource_comes_from_the_pinned_aws_provider(plan: dict[str, Any]) -> None:
    assert {resource["provider_name"] for resource in plan_resources(plan).values()} == {AWS_PROVIDER}
    provider = plan["configuration"]["provider_config"]["aws"]
    assert provider["full_name"] == AWS_PROVIDER
    assert provider["version_constraint"] == "~> 5.80"


def test_every_variable_and_output_is_described(plan: dict[str, Any]) -> None:
    root = plan["configuration"]["root_module"]
    modules = {"root": root, **{name: call["module"] for name, call in root["module_calls"].items()}}
    for where, module in modules.items():
        for name, variable in module.get("variables", {}).items():
            assert len(variable.get("description", "").split()) >= 3, f"{where}: variable {name} needs a description"
        for name, output in module.get("outputs", {}).items():
            assert len(output.get("description", "").split()) >= 2, f"{where}: output {name} needs a description"
    assert set(root["outputs"]) == {
        "alerts_topic_arn",
        "kms_key_arn",
        "local_alerts_inbox",
        "pipeline",
        "raw_events_queue_url",
        "redshift",
    }


def test_production_differs_from_dev_where_it_should(planned_stacks: dict[str, dict[str, Any]]) -> None:
    prod, dev = planned_stacks["prod"], planned_stacks["dev"]
    # Redshift only in prod, with a final snapshot on destroy.
    assert "aws_redshift_cluster.warehouse[0]" in managed(prod)
    assert "aws_redshift_cluster.warehouse[0]" not in managed(dev)
    assert planned(prod, "aws_redshift_cluster.warehouse[0]")["skip_final_snapshot"] is False
    # Deletion protection: prod refuses to empty its buckets on destroy; dev may.
    for bucket in ("raw", "processed", "quarantine", "scripts"):
        address = f"module.{bucket}_bucket.aws_s3_bucket.this"
        assert planned(prod, address)["force_destroy"] is False
        assert planned(dev, address)["force_destroy"] is True
    assert planned(prod, "module.access_logs_bucket.aws_s3_bucket.this")["force_destroy"] is False
    # Bigger workers, longer retention and recovery windows, a real budget.
    job_prod, job_dev = planned(prod, "aws_glue_job.transform"), planned(dev, "aws_glue_job.transform")
    assert (job_prod["worker_type"], job_prod["number_of_workers"], job_prod["max_retries"]) == ("G.2X", 10, 1)
    assert (job_dev["worker_type"], job_dev["number_of_workers"], job_dev["max_retries"]) == ("G.1X", 2, 0)
    assert planned(prod, "aws_cloudwatch_log_group.glue_job")["retention_in_days"] == 365
    assert planned(dev, "aws_cloudwatch_log_group.glue_job")["retention_in_days"] == 14
    assert planned(prod, "aws_kms_key.pipeline")["deletion_window_in_days"] == 30
    assert planned(dev, "aws_kms_key.pipeline")["deletion_window_in_days"] == 7
    assert planned(prod, "aws_budgets_budget.monthly")["limit_amount"] == "2500"
    assert planned(dev, "aws_budgets_budget.monthly")["limit_amount"] == "50"
    handler = 'aws_lambda_function.pipeline["s3-event-handler"]'
    assert planned(prod, handler)["reserved_concurrent_executions"] == 5
    assert planned(dev, handler)["reserved_concurrent_executions"] == 2


def test_names_carry_the_environment(plan: dict[str, Any], environment: str) -> None:
    name = prefix(environment)
    assert planned(plan, "aws_glue_job.transform")["name"] == f"{name}-covid-transform"
    assert planned(plan, "aws_glue_catalog_database.pipeline")["name"] == f"covid_pipeline_{environment}"
    assert planned(plan, "aws_kms_alias.pipeline")["name"] == f"alias/{name}"
    tags = planned(plan, "aws_sqs_queue.raw_events")["tags_all"]
    assert tags == {"Environment": environment, "ManagedBy": "terraform", "Project": "covid-pipeline", "Stack": name}


def test_deletion_protection_and_budget_per_environment(plan: dict[str, Any], environment: str) -> None:
    expected = EXPECTED[environment]
    buckets = of_type(plan, "aws_s3_bucket")
    assert {values["force_destroy"] for values in buckets.values()} == {not expected.deletion_protection}
    budget = planned(plan, "aws_budgets_budget.monthly")
    assert (budget["limit_amount"], budget["limit_unit"], budget["time_unit"]) == (
        expected.monthly_budget_usd,
        "USD",
        "MONTHLY",
    )
    assert budget["cost_filter"] == [{"name": "TagKeyValue", "values": [f"user:Stack${prefix(environment)}"]}]
