"""Glue job run SUCCEEDED -> bring the warehouse in step with the whole published output (one transaction per
partition or batch of partitions): every partition whose fingerprint differs from the warehouse's is loaded, so a
load that failed or never ran is healed by the next run's.

Triggered by the same EventBridge rule as the data quality monitor; other final states are acknowledged and
skipped. A re-delivered event changes nothing: partitions whose content is already loaded are skipped.

Environment (terraform/lambda.tf sets it):
- WAREHOUSE_URL (required): `redshift://<cluster>/<db>?secret_arn=...&iam_role=...` on AWS,
  `duckdb:///.../warehouse.duckdb` in the local cloud, or `postgresql://user@host:port/db`
- METRICS_NAMESPACE (required)
- where the run's manifest and output are: the run's `--state_path` / `--output_path` arguments (glue:GetJobRun,
  glue:GetJob) win; else STATE_PATH and OUTPUT_PATH (the default source's, SOURCE)
- LOG_LEVEL (default INFO)

Permissions: s3:ListBucket + s3:GetObject on the processed bucket, glue:GetJob, glue:GetJobRun,
cloudwatch:PutMetricData; for Redshift also redshift-data:BatchExecuteStatement / ExecuteStatement /
DescribeStatement / GetStatementResult and secretsmanager:GetSecretValue on the secret.
"""

from __future__ import annotations

import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from covid_pipeline.lambda_logging import log_through
from covid_pipeline.monitoring import GlueJobStateChange
from covid_pipeline.warehouse.run_loader import LoaderSettings, load_job_run

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "warehouse-loader"))
log_through(logger, "covid_pipeline.warehouse")


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    change = GlueJobStateChange.from_event(event)
    logger.info("glue run state change", extra={"job_run_id": change.job_run_id, "state": change.state})
    return load_job_run(
        change,
        LoaderSettings.from_env(),
        s3=boto3.client("s3"),
        glue=boto3.client("glue"),
        cloudwatch=boto3.client("cloudwatch"),
        seconds_left=context.get_remaining_time_in_millis() / 1000,
    )
