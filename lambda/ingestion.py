"""Schedule tick -> fetch what is new from each source into the raw bucket (covid_pipeline.ingestion).

Triggered by an EventBridge schedule (``ingestion_schedule`` in config/<env>.tfvars): the event's ``time`` is the
tick, so a re-delivered tick asks for the same days and writes nothing. An event may also name
``{"source": S, "date": "YYYY-MM-DD"}`` to fetch one source (and one report date) by hand. Each stored file is an
ordinary raw upload: its S3 event starts the job exactly as a manual upload does.

A fetch that fails (after retries) or is refused does not raise: the run is recorded as FAILED / REFUSED_INPUT
under the state prefix, counted in the IngestionFailures / IngestionRefused metrics, and a failure is alerted on
the alerts topic, as a failed job run is. A retry by Lambda would only fetch again what just failed.

Environment (terraform/lambda.tf sets it): RAW_BUCKET, RAW_PREFIX, STATE_BUCKET, STATE_PREFIX, INGESTION_SOURCES
(JSON, covid_pipeline.ingestion.sources), METRICS_NAMESPACE, ALERTS_TOPIC_ARN, ENVIRONMENT; optional
FETCH_TIMEOUT_SECONDS, FETCH_ATTEMPTS, FETCH_BACKOFF_SECONDS; LOG_LEVEL.

Permissions: s3:PutObject on the raw prefix only, s3:GetObject/PutObject on ``<state prefix>ingestion/*``,
s3:ListBucket on the processed bucket, cloudwatch:PutMetricData, sns:Publish on the alerts topic.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from covid_pipeline.ingestion.service import Ingestor, Settings, run_request
from covid_pipeline.lambda_logging import log_through

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "ingestion"))
log_through(logger, "covid_pipeline.ingestion")


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = run_request(event, datetime.now(UTC))
    logger.info("ingestion tick", extra={"tick": request.tick.isoformat(), "source": request.source})
    ingestor = Ingestor(
        Settings.from_env(os.environ), boto3.client("s3"), boto3.client("cloudwatch"), boto3.client("sns")
    )
    run = ingestor.run(request.tick, request.source, request.day)
    return {"run_id": run.run_id, "state": run.state, **run.as_dict()["counts"]}
