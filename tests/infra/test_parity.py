"""Parity: for every environment, the names Terraform declares equal the names the local cloud provisions.

Two sides, both evaluated rather than restated:
- Terraform: the name attributes of the declared resources in terraform/, evaluated with config/<env>.tfvars
  (tests/infra/hcl_eval.py resolves the var./local. interpolations, for_each keys and the functions used);
- the local cloud: covid_pipeline.config names, and what covid_pipeline.local.bootstrap.provision really creates
  in the emulator (moto on a free loopback port), listed back through the AWS APIs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from covid_pipeline.config import METRICS_NAMESPACE, PipelineConfig, load_config
from tests.infra.hcl_eval import Scope, evaluate_value, unquote
from tests.infra.terraform_model import ENVIRONMENTS, TERRAFORM_DIR, Module, environment_inputs, parse_module


@pytest.fixture(scope="module")
def root() -> Module:
    return parse_module(TERRAFORM_DIR)


def attribute(module: Module, address: tuple[str, str], name: str, scope: Scope) -> Any:
    return evaluate_value(module.resources[address][name], scope)


def for_each_values(module: Module, address: tuple[str, str], name: str, scope: Scope) -> dict[str, Any]:
    """A for_each resource's attribute per instance key (each.key / each.value bound as Terraform does)."""
    body = module.resources[address]
    collection = evaluate_value(body["for_each"], scope)
    items = collection.items() if isinstance(collection, dict) else ((item, item) for item in collection)
    return {
        key: evaluate_value(body[name], scope.with_iterators({"each": {"key": key, "value": value}}))
        for key, value in items
    }


def terraform_names(module: Module, environment: str) -> dict[str, Any]:
    """Every name the local cloud also has, as Terraform's resources declare it for this environment."""
    scope = module.scope(environment_inputs(module, environment))
    bucket_calls = {call: evaluate_value(module.modules[call]["bucket_name"], scope) for call in module.modules}
    lambda_functions = {
        short: attribute(module, ("aws_lambda_function", short.replace("-", "_")), "function_name", scope)
        for short in ("s3-event-handler", "data-quality-monitor", "warehouse-loader")
    }
    alarms = {
        kind: attribute(module, ("aws_cloudwatch_metric_alarm", kind.replace("-", "_")), "alarm_name", scope)
        for kind in evaluate_value(module.locals["alarms"], scope)
    }
    return {
        "raw_bucket": bucket_calls["raw_bucket"],
        "processed_bucket": bucket_calls["processed_bucket"],
        "quarantine_bucket": bucket_calls["quarantine_bucket"],
        "scripts_bucket": bucket_calls["scripts_bucket"],
        "access_logs_bucket": attribute(module, ("aws_s3_bucket", "access_logs"), "bucket", scope),
        "raw_events_queue": attribute(module, ("aws_sqs_queue", "raw_events"), "name", scope),
        "raw_events_dlq": attribute(module, ("aws_sqs_queue", "raw_events_dlq"), "name", scope),
        "alerts_topic": attribute(module, ("aws_sns_topic", "alerts"), "name", scope),
        "kms_alias": attribute(module, ("aws_kms_alias", "pipeline"), "name", scope),
        "glue_database": attribute(module, ("aws_glue_catalog_database", "pipeline"), "name", scope),
        "glue_job": attribute(module, ("aws_glue_job", "transform"), "name", scope),
        "glue_log_group": attribute(module, ("aws_cloudwatch_log_group", "glue_job"), "name", scope),
        "lambda_functions": lambda_functions,
        "lambda_log_groups": for_each_values(module, ("aws_cloudwatch_log_group", "lambda"), "name", scope),
        "glue_tables": for_each_values(module, ("aws_glue_catalog_table", "output"), "name", scope),
        "alarms": alarms,
    }


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_terraform_declares_the_names_the_package_derives(root: Module, environment: str) -> None:
    names = load_config(environment).names
    declared = terraform_names(root, environment)
    expected = {key: getattr(names, key) for key in declared}
    assert declared == expected


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_glue_job_definition_matches_the_package(root: Module, environment: str) -> None:
    config = load_config(environment)
    scope = root.scope(environment_inputs(root, environment))
    job = root.resources[("aws_glue_job", "transform")]
    assert evaluate_value(job["default_arguments"], scope) == config.job_arguments("jhu_daily")
    command = job["command"][0]
    assert evaluate_value(command["script_location"], scope) == config.script_location
    for attribute_name, key in [
        ("glue_version", "glue_version"),
        ("worker_type", "glue_worker_type"),
        ("number_of_workers", "glue_number_of_workers"),
        ("timeout", "glue_timeout_minutes"),
        ("max_retries", "glue_max_retries"),
    ]:
        assert evaluate_value(job[attribute_name], scope) == config[key], attribute_name
    max_runs = job["execution_property"][0]["max_concurrent_runs"]
    assert evaluate_value(max_runs, scope) == config["glue_max_concurrent_runs"]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_table_locations_and_lambda_settings_match_the_package(root: Module, environment: str) -> None:
    config = load_config(environment)
    scope = root.scope(environment_inputs(root, environment))
    tables = root.resources[("aws_glue_catalog_table", "output")]
    for source in ("jhu_daily", "owid"):
        bound = scope.with_iterators({"each": {"key": source, "value": config.names.glue_tables[source]}})
        location = evaluate_value(tables["storage_descriptor"][0]["location"], bound)
        assert location == config.output_path(source)
    # Only the handler's own entry: the others reference resource attributes known after apply.
    environments = {unquote(key): value for key, value in root.locals["lambda_environment"].items()}
    handler_env = evaluate_value(environments["s3-event-handler"], scope)
    assert handler_env["GLUE_JOB_NAME"] == config.names.glue_job
    assert handler_env["RAW_BUCKET"] == config.names.raw_bucket
    assert handler_env["RAW_PREFIX"] == config["raw_prefix"]
    state_path = f"s3://{handler_env['STATE_BUCKET']}/{handler_env['STATE_PREFIX']}jhu_daily/"
    assert state_path == config.state_path("jhu_daily")
    queue = root.resources[("aws_sqs_queue", "raw_events")]
    assert evaluate_value(queue["visibility_timeout_seconds"], scope) == config["sqs_visibility_timeout_seconds"]
    assert evaluate_value(root.locals["metrics_namespace"], scope) == METRICS_NAMESPACE


# --- what the local cloud really provisions ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def provisioned() -> Iterator[dict[str, Any]]:
    """Every environment provisioned by the local bootstrap into one emulator, then listed back through the APIs."""
    bootstrap = pytest.importorskip("covid_pipeline.local.bootstrap", reason="the local bootstrap is not written yet")
    from covid_pipeline.local.emulator import DUMMY_CREDENTIALS, Emulator

    emulator = Emulator("us-east-1")
    endpoint = emulator.start()
    try:

        def client(service: str) -> Any:
            return boto3.client(
                service,
                endpoint_url=endpoint,
                region_name="us-east-1",
                aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            )

        configs: dict[str, PipelineConfig] = {env: load_config(env) for env in ENVIRONMENTS}
        for config in configs.values():
            bootstrap.provision(config, client, notifications=False)
        glue = client("glue")
        listed = {
            "buckets": {bucket["Name"] for bucket in client("s3").list_buckets()["Buckets"]},
            "queues": {url.rsplit("/", 1)[1] for url in client("sqs").list_queues().get("QueueUrls", [])},
            "topics": {topic["TopicArn"].rsplit(":", 1)[1] for topic in client("sns").list_topics()["Topics"]},
            "aliases": {alias["AliasName"] for alias in client("kms").list_aliases()["Aliases"]},
            "log_groups": {
                group["logGroupName"]
                for page in client("logs").get_paginator("describe_log_groups").paginate()
                for group in page["logGroups"]
            },
            "alarms": {alarm["AlarmName"] for alarm in client("cloudwatch").describe_alarms()["MetricAlarms"]},
            "databases": {db["Name"] for db in glue.get_databases()["DatabaseList"]},
            "tables": {
                (db, table["Name"])
                for db in {c.names.glue_database for c in configs.values()}
                for table in glue.get_tables(DatabaseName=db)["TableList"]
            },
            "jobs": {name: glue.get_job(JobName=name)["Job"] for name in glue.list_jobs()["JobNames"]},
            "bootstrap": bootstrap,
        }
        yield listed
    finally:
        emulator.stop()


def only_env(names: set[str], prefix: str) -> set[str]:
    return {name for name in names if name.startswith(prefix) or name.startswith(f"alias/{prefix}")}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_local_cloud_provisions_what_terraform_declares(
    root: Module, provisioned: dict[str, Any], environment: str
) -> None:
    config = load_config(environment)
    declared = terraform_names(root, environment)
    prefix = config.names.prefix
    buckets = {declared[key] for key in declared if key.endswith("_bucket")}
    assert only_env(provisioned["buckets"], prefix) == buckets
    # The local cloud adds one queue of its own: the alerts inbox that stands in for the e-mail subscription.
    local_only = {provisioned["bootstrap"].alerts_inbox_queue(config)}
    assert only_env(provisioned["queues"], prefix) - local_only == {
        declared["raw_events_queue"],
        declared["raw_events_dlq"],
    }
    assert only_env(provisioned["topics"], prefix) == {declared["alerts_topic"]}
    assert declared["kms_alias"] in provisioned["aliases"]
    assert declared["glue_database"] in provisioned["databases"]
    tables = {table for db, table in provisioned["tables"] if db == declared["glue_database"]}
    assert tables == set(declared["glue_tables"].values())
    assert declared["glue_job"] in provisioned["jobs"]
    log_groups = {group for group in provisioned["log_groups"] if prefix in group}
    assert log_groups == {declared["glue_log_group"], *declared["lambda_log_groups"].values()}
    assert only_env(provisioned["alarms"], prefix) == set(declared["alarms"].values())


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_local_job_runs_with_the_arguments_terraform_declares(
    root: Module, provisioned: dict[str, Any], environment: str
) -> None:
    scope = root.scope(environment_inputs(root, environment))
    job = root.resources[("aws_glue_job", "transform")]
    local_job = provisioned["jobs"][evaluate_value(job["name"], scope)]
    assert local_job["DefaultArguments"] == evaluate_value(job["default_arguments"], scope)
    assert local_job["Command"]["ScriptLocation"] == evaluate_value(job["command"][0]["script_location"], scope)
    assert local_job["WorkerType"] == evaluate_value(job["worker_type"], scope)
    assert local_job["NumberOfWorkers"] == evaluate_value(job["number_of_workers"], scope)
