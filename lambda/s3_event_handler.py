"""Raw-bucket upload -> Glue job run. Triggered by the raw-events SQS queue (S3 event notifications).

Each record is parsed on its own through Powertools' BatchProcessor (a malformed one is a batch item failure alone);
then the batch's objects start one Glue run per source (covid_pipeline.raw_events, which says what happens and
why). Messages whose run could not start are added to the batch item failures. Deployed with
``function_response_types = ["ReportBatchItemFailures"]``; the environment is read by
covid_pipeline.raw_events.settings (terraform/lambda.tf sets it), plus ``POWERTOOLS_SERVICE_NAME`` and ``LOG_LEVEL``
for the Logger.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext

from covid_pipeline.lambda_logging import log_through
from covid_pipeline.raw_events.events import ParsedBatch, sqs_records
from covid_pipeline.raw_events.settings import Settings
from covid_pipeline.raw_events.trigger import trigger_for

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "s3-event-handler"))
log_through(logger, "covid_pipeline.raw_events")


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    settings = Settings.from_env(os.environ)  # a deployment error fails the whole batch, retried once fixed
    records = sqs_records(event)  # so does an event that is not an SQS batch
    batch = ParsedBatch()
    # All records malformed is still a partial response: each one is retried, then dead-lettered, on its own.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    response = process_partial_response(event, batch.parse, processor, context)
    # One run per source needs the whole batch, so the runs start once every record is parsed.
    outcome = trigger_for(settings).process(batch.messages)
    failures = response["batchItemFailures"]
    failures += [{"itemIdentifier": message_id} for message_id in outcome.failed_message_ids]
    logger.info("batch done", extra={"messages": len(records), **outcome.summary(), "failed": len(failures)})
    return response
