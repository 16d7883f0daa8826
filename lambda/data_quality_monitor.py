"""Glue job run finished -> CloudWatch metrics, and an SNS alert when the run needs a human.

Triggered by an EventBridge rule on `{"source": ["aws.glue"], "detail-type": ["Glue Job State Change"]}`. Alerts when
the run ends without succeeding: FAILED, TIMEOUT, ERROR or STOPPED (the message carries Glue's error); when a
SUCCEEDED run's data quality score is below DQ_SCORE_THRESHOLD, when its quarantined share of input rows is above
QUARANTINE_RATIO_THRESHOLD, or when a SUCCEEDED run wrote no manifest. Every final state puts the run's metrics
(namespace METRICS_NAMESPACE, dimension JobName).
EventBridge delivers at least once: a marker `<state_path>monitor/<jobRunId>.<state>.json` (conditional put) makes a
repeated delivery send neither the alert nor the metrics again.

Environment (terraform/lambda.tf sets it):
- ALERTS_TOPIC_ARN (required): the SNS topic alerts go to; METRICS_NAMESPACE (required)
- DQ_SCORE_THRESHOLD (default 0.9), QUARANTINE_RATIO_THRESHOLD (default 0.05): config/<env>.tfvars values
- where the run manifest `<state_path>runs/<jobRunId>.json` is: the run's own `--state_path` argument (read with
  glue:GetJobRun / glue:GetJob) wins; else STATE_PATH (the default source's state path)
- ENVIRONMENT (shown in alert subjects), LOG_LEVEL (default INFO)
- CLAIM_STALE_SECONDS (default 900): the function's timeout; an older marker that never completed was left by an
  invocation that died, and is taken over

Permissions: s3:GetObject on the state prefix, s3:PutObject/DeleteObject on its monitor/ markers, sns:Publish,
cloudwatch:PutMetricData, glue:GetJob, glue:GetJobRun.
"""

from __future__ import annotations

import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from covid_pipeline.lambda_logging import log_through
from covid_pipeline.monitoring import GlueJobStateChange
from covid_pipeline.run_monitor import MonitorSettings, monitor_job_run

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "data-quality-monitor"))
log_through(logger, "covid_pipeline.monitoring")


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    change = GlueJobStateChange.from_event(event)
    logger.info("glue run state change", extra={"job_run_id": change.job_run_id, "state": change.state})
    outcome = monitor_job_run(
        change,
        MonitorSettings.from_env(),
        s3=boto3.client("s3"),
        sns=boto3.client("sns"),
        cloudwatch=boto3.client("cloudwatch"),
        glue=boto3.client("glue"),
    )
    return outcome.as_dict()
