"""How the pieces are wired, in every environment's real plan: the raw bucket's notification, the event source
mapping, the Glue job, the Glue state-change rules and their targets, the alarms, and the Lambda environments
against what the handlers' code reads."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infra.code_scan import HANDLERS, environment_reads, handler_reads
from tests.infra.expected import ACCOUNT, EXPECTED, SUPPORTED_SUFFIXES, function_address, function_references, prefix
from tests.infra.terraform_json import after_unknown, of_type, planned, policy_documents, references


def test_the_raw_bucket_notifies_the_queue_for_the_raw_prefix_only(plan: dict[str, Any]) -> None:
    assert list(of_type(plan, "aws_s3_bucket_notification")) == ["aws_s3_bucket_notification.raw_events"]
    notification = planned(plan, "aws_s3_bucket_notification.raw_events")
    assert notification["queue"] == [{"events": ["s3:ObjectCreated:*"], "filter_prefix": "raw/", "filter_suffix": None}]
    assert (notification["lambda_function"], notification["topic"], notification["eventbridge"]) == ([], [], False)
    address = "aws_s3_bucket_notification.raw_events"
    assert references(plan, address, "bucket") == ["module.raw_bucket.id", "module.raw_bucket"]
    assert references(plan, address, "queue", 0, "queue_arn") == [
        "aws_sqs_queue.raw_events.arn",
        "aws_sqs_queue.raw_events",
    ]
    # Only S3, from this account's raw bucket, may send to the queue (the bucket's ARN: test_applied_state.py).
    allow = [
        s for s in policy_documents(plan)["data.aws_iam_policy_document.raw_events_queue"] if s["effect"] != "Deny"
    ]
    assert [(s["sid"], s["actions"], s["principals"]) for s in allow] == [
        ("OnlyTheRawBucketSendsEvents", ["sqs:SendMessage"], [{"identifiers": ["s3.amazonaws.com"], "type": "Service"}])
    ]
    conditions = {(c["test"], c["variable"]): c["values"] for c in allow[0]["condition"]}
    assert conditions == {("ArnEquals", "aws:SourceArn"): [None], ("StringEquals", "aws:SourceAccount"): [ACCOUNT]}


def test_the_event_source_mapping_reports_partial_batch_failures(plan: dict[str, Any], environment: str) -> None:
    expected = EXPECTED[environment]
    address = "aws_lambda_event_source_mapping.raw_events"
    mapping = planned(plan, address)
    assert mapping["function_response_types"] == ["ReportBatchItemFailures"]
    assert mapping["enabled"] is True
    assert (mapping["batch_size"], mapping["maximum_batching_window_in_seconds"]) == (
        expected.batch_size,
        expected.batching_window_seconds,
    )
    # Lambda refuses an SQS batch above 10 without a batching window (the mapping's precondition).
    assert mapping["batch_size"] <= 10 or mapping["maximum_batching_window_in_seconds"] >= 1
    assert mapping["scaling_config"] == [{"maximum_concurrency": expected.reserved_concurrency}]
    assert references(plan, address, "event_source_arn") == ["aws_sqs_queue.raw_events.arn", "aws_sqs_queue.raw_events"]
    assert references(plan, address, "function_name") == function_references("s3-event-handler")
    queue = planned(plan, "aws_sqs_queue.raw_events")
    assert queue["visibility_timeout_seconds"] == expected.visibility_timeout_seconds
    # A message comes back only after the handler's timeout, and dead-letters after 3 receives.
    assert queue["visibility_timeout_seconds"] >= expected.lambda_timeout_seconds
    assert references(plan, "aws_sqs_queue.raw_events", "redrive_policy") == [
        "aws_sqs_queue.raw_events_dlq.arn",
        "aws_sqs_queue.raw_events_dlq",
        "var.sqs_max_receive_count",
    ]
    assert plan["variables"]["sqs_max_receive_count"]["value"] == 3


def test_the_glue_job_runs_the_uploaded_script_with_the_environment_sizes(
    plan: dict[str, Any], environment: str
) -> None:
    expected = EXPECTED[environment]
    name = prefix(environment)
    job = planned(plan, "aws_glue_job.transform")
    assert (job["glue_version"], job["worker_type"], job["number_of_workers"]) == (
        "5.0",
        expected.glue_worker_type,
        expected.glue_workers,
    )
    assert (job["timeout"], job["max_retries"]) == (expected.glue_timeout_minutes, expected.glue_max_retries)
    assert job["execution_property"] == [{"max_concurrent_runs": 1}]
    assert job["command"] == [
        {"name": "glueetl", "python_version": "3", "script_location": f"s3://{name}-scripts/glue/covid_transform.py"}
    ]
    assert job["default_arguments"] == {
        "--additional-python-modules": "great_expectations==1.24.1",
        "--catalog_database": f"covid_pipeline_{environment}",
        "--catalog_table": "covid_jhu_daily",
        "--continuous-log-logGroup": f"/aws-glue/jobs/{name}-covid-transform",
        "--enable-continuous-cloudwatch-log": "true",
        "--enable-metrics": "true",
        "--extra-py-files": f"s3://{name}-scripts/glue/glue_job_libs.zip",
        "--full_refresh": "false",
        "--input_path": f"s3://{name}-raw/raw/jhu_daily/",
        "--job-language": "python",
        "--max_compressed_bytes": str(expected.max_input_mib[0] * 1024**2),
        "--max_removal_share": "0.1",
        "--max_uncompressed_bytes": str(expected.max_input_mib[1] * 1024**2),
        "--metrics_namespace": "CovidPipeline",
        "--poison_after_failures": "3",
        "--allow_removals": "false",
        "--output_path": f"s3://{name}-processed/jhu_daily/",
        "--quarantine_path": f"s3://{name}-quarantine/quarantine/jhu_daily/",
        "--reference_path": f"s3://{name}-scripts/reference/UID_ISO_FIPS_LookUp_Table.csv",
        "--source": "jhu_daily",
        "--state_path": f"s3://{name}-processed/_state/jhu_daily/",
    }
    uploaded = {values["key"] for values in of_type(plan, "aws_s3_object").values()}
    assert uploaded == {"glue/covid_transform.py", "glue/glue_job_libs.zip", "lambda/pyarrow_layer.zip"}


def test_glue_state_changes_reach_the_monitor_and_the_loader(plan: dict[str, Any], environment: str) -> None:
    """The local cloud always loads its DuckDB warehouse (terraform/local/ gives the loader's target count 1); that
    on AWS the loader is a target only with enable_redshift is checked on terraform/ alone in test_aws_shape.py."""
    job = f"{prefix(environment)}-covid-transform"
    finished = planned(plan, "aws_cloudwatch_event_rule.glue_job_finished")
    succeeded = planned(plan, "aws_cloudwatch_event_rule.glue_job_succeeded")
    assert json.loads(finished["event_pattern"]) == {
        "source": ["aws.glue"],
        "detail-type": ["Glue Job State Change"],
        # Every terminal state: the monitor alerts on all but SUCCEEDED (EXPIRED included, as common.FAILED_STATES).
        "detail": {"jobName": [job], "state": ["SUCCEEDED", "FAILED", "TIMEOUT", "STOPPED", "ERROR", "EXPIRED"]},
    }
    assert json.loads(succeeded["event_pattern"]) == {
        "source": ["aws.glue"],
        "detail-type": ["Glue Job State Change"],
        "detail": {"jobName": [job], "state": ["SUCCEEDED"]},
    }
    targets = {
        "aws_cloudwatch_event_target.data_quality_monitor": (finished["name"], "data-quality-monitor"),
        "aws_cloudwatch_event_target.warehouse_loader[0]": (succeeded["name"], "warehouse-loader"),
    }
    # Besides these, only the ingestion's schedule has a target (test_the_schedule_invokes_the_ingestion).
    assert set(of_type(plan, "aws_cloudwatch_event_target")) == set(targets) | {"aws_cloudwatch_event_target.ingestion"}
    for address, (rule, function) in targets.items():
        target = planned(plan, address)
        assert target["rule"] == rule
        assert target["retry_policy"] == [{"maximum_event_age_in_seconds": 3600, "maximum_retry_attempts": 3}]
        assert references(plan, address, "arn") == function_references(function)
        assert references(plan, address, "dead_letter_config", 0, "arn") == [
            "aws_sqs_queue.lambda_async_dlq.arn",
            "aws_sqs_queue.lambda_async_dlq",
        ]


SCHEDULES = {
    "dev": "rate(1 day)",
    "staging": "cron(30 6 * * ? *)",
    "prod": "cron(0 6,18 * * ? *)",
    "test": "rate(1 day)",
}


def test_the_schedule_invokes_the_ingestion(plan: dict[str, Any], environment: str) -> None:
    rule = planned(plan, "aws_cloudwatch_event_rule.ingestion_schedule")
    assert (rule["name"], rule["schedule_expression"]) == (
        f"{prefix(environment)}-ingestion-schedule",
        SCHEDULES[environment],
    )
    assert references(plan, "aws_cloudwatch_event_target.ingestion", "arn") == function_references("ingestion")
    permission = planned(plan, "aws_lambda_permission.ingestion_from_schedule")
    assert (permission["principal"], permission["action"]) == ("events.amazonaws.com", "lambda:InvokeFunction")
    # The function's environment holds the topic's ARN (unknown at plan); its INGESTION_SOURCES is this variable.
    sources = plan["variables"]["ingestion_sources"]["value"]
    # The defaults: the public JHU CSSE daily reports and OWID dataset.
    assert {name: source["url"] for name, source in sources.items()} == {
        "jhu_daily": "https://raw.githubusercontent.com/CSSEGISandData/COVID-19/master/csse_covid_19_data/"
        "csse_covid_19_daily_reports/{date:%m-%d-%Y}.csv",
        "owid": "https://covid.ourworldindata.org/data/owid-covid-data.csv",
    }


def test_every_alarm_notifies_the_alerts_topic(plan: dict[str, Any], environment: str) -> None:
    alarms = of_type(plan, "aws_cloudwatch_metric_alarm")
    name = prefix(environment)
    assert {values["alarm_name"] for values in alarms.values()} == {
        f"{name}-{alarm}"
        for alarm in (
            "glue-job-failures",
            "dq-score-low",
            "dlq-not-empty",
            "lambda-errors",
            "lambda-throttles",
            "job-duration",
            "ingestion-failures",
        )
    }
    for address, alarm in alarms.items():
        assert alarm["actions_enabled"] is True, address
        assert references(plan, address, "alarm_actions") == ["local.alarm_actions"], address
        assert after_unknown(plan, address)["alarm_actions"] is True, address  # the topic's ARN (applied state)


# --- Lambda environments against the code ------------------------------------------------------------------------

# Settings the code reads with a default of its own that Terraform leaves alone (tuning knobs and fallbacks).
READ_WITH_A_CODE_DEFAULT = {
    "s3-event-handler": {"MAX_KEY_LENGTH", "RETRY_DELAY_SECONDS", "MAX_BUSY_RETRIES", "CLAIM_STALE_SECONDS"},
    "data-quality-monitor": set(),
    "warehouse-loader": set(),  # Terraform sets SOURCE, OUTPUT_PATH and STATE_PATH (lambda.tf)
    "ingestion": {"FETCH_TIMEOUT_SECONDS", "FETCH_ATTEMPTS", "FETCH_BACKOFF_SECONDS"},
}
# Functions whose whole environment the plan knows (the monitor's holds the topic's ARN: test_applied_state.py).
KNOWN_AT_PLAN = ("s3-event-handler", "warehouse-loader")


def planned_environment(plan: dict[str, Any], function: str) -> dict[str, str]:
    (block,) = planned(plan, function_address(function))["environment"]
    return dict(block["variables"])


def test_the_scan_sees_reads_in_every_form() -> None:
    """Control for the scanner, on code written here."""
    source = (
        "import os\n"
        "a = env['A_NAME']\n"
        "b = env.get('B_NAME', 1)\n"
        "c = os.environ.get('C_NAME')\n"
        "d = os.environ['D_NAME']\n"
        "e = os.getenv('E_NAME')\n"
        "f = _csv_setting(env, 'F_NAME')\n"
        "g = other.get('NOT_ENV')\n"
    )
    assert environment_reads(source) == {"A_NAME", "B_NAME", "C_NAME", "D_NAME", "E_NAME", "F_NAME"}


@pytest.mark.parametrize("function", KNOWN_AT_PLAN)
def test_the_planned_environment_holds_every_variable_the_handler_reads(plan: dict[str, Any], function: str) -> None:
    assert planned(plan, function_address(function))["handler"] == f"{HANDLERS[function]}.handler"
    missing = handler_reads(function) - set(planned_environment(plan, function))
    assert missing == READ_WITH_A_CODE_DEFAULT[function]


@pytest.mark.parametrize("function", KNOWN_AT_PLAN)
def test_terraform_sets_nothing_the_handler_does_not_read(plan: dict[str, Any], function: str) -> None:
    assert set(planned_environment(plan, function)) - handler_reads(function) == set()


def test_the_monitor_environment_waits_for_the_topic_arn(plan: dict[str, Any], environment: str) -> None:
    address = function_address("data-quality-monitor")
    assert after_unknown(plan, address)["environment"] == [{"variables": True}]


def test_the_accepted_suffixes_are_the_variable_default(plan: dict[str, Any], environment: str) -> None:
    assert plan["configuration"]["root_module"]["variables"]["supported_suffixes"]["default"] == SUPPORTED_SUFFIXES
    variables = planned(plan, function_address("s3-event-handler"))["environment"][0]["variables"]
    assert variables["SUPPORTED_SUFFIXES"] == ",".join(SUPPORTED_SUFFIXES)


def test_the_handler_environments_name_this_environment(plan: dict[str, Any], environment: str) -> None:
    name = prefix(environment)
    handler = planned(plan, function_address("s3-event-handler"))["environment"][0]["variables"]
    assert {key: value for key, value in handler.items() if key != "SOURCE_JOB_ARGUMENTS"} == {
        "GLUE_JOB_NAME": f"{name}-covid-transform",
        "LOG_LEVEL": "INFO",
        "POWERTOOLS_SERVICE_NAME": "s3-event-handler",
        "RAW_BUCKET": f"{name}-raw",
        "RAW_PREFIX": "raw/",
        "STATE_BUCKET": f"{name}-processed",
        "STATE_PREFIX": "_state/",
        "SUPPORTED_SUFFIXES": ".csv,.csv.gz,.json,.jsonl,.parquet",
    }
    assert json.loads(handler["SOURCE_JOB_ARGUMENTS"]) == {
        source: {
            "--catalog_table": f"covid_{source}",
            "--input_path": f"s3://{name}-raw/raw/{source}/",
            "--output_path": f"s3://{name}-processed/{source}/",
            "--quarantine_path": f"s3://{name}-quarantine/quarantine/{source}/",
            "--source": source,
            "--state_path": f"s3://{name}-processed/_state/{source}/",
        }
        for source in ("jhu_daily", "owid")
    }
