"""Runs Lambda functions as AWS Lambda runs them, from what is deployed in the emulator (moto records functions but
cannot run them without Docker).

- ``LambdaService`` reads a function's configuration through the Lambda API (handler, runtime, timeout, memory,
  environment, layers, dead-letter queue, log group) and its code from the emulator: the zip Terraform uploaded,
  unpacked once per code hash. Each function gets a warm sandbox, a child process started as
  ``python -S lambda_bootstrap.py`` with the function's environment and sys.path = its code, its layers, then this
  machine's libraries (Lambda's runtime provides boto3 the same way). A packaging mistake fails here as on AWS.
  Invocations of one function are served one at a time by its sandbox; a changed function (new code or
  configuration) gets a new sandbox (a cold start), as does one that timed out (Lambda ends it).
- ``SqsEventSourceMapping`` behaves like an SQS event source mapping: a thread long-polls the queue, gathers a batch
  (batch size and batching window from the mapping), hands it to the function in the real SQS event shape, deletes
  what succeeded (everything not listed in ``batchItemFailures`` when the mapping reports batch item failures) and
  leaves the rest to come back after the queue's visibility timeout. The emulator's SQS moves a message to the
  dead-letter queue once it has been received maxReceiveCount times, so failures end in the DLQ as on AWS.
- ``EventSourceMappings`` keeps one poller per enabled SQS mapping that the Lambda API lists.
- ``invoke_async`` is Lambda's asynchronous invocation: retries after a function error, then the function's
  dead-letter queue.

Logs (the function's stdout and stderr) go to the function's CloudWatch log group, one stream per sandbox, framed by
START/END/REPORT lines; a function's timeout is enforced (the sandbox is ended and "Task timed out" logged).

One module per part: ``lambda_deployed`` (configuration, code, errors), ``lambda_service`` (sandboxes and
invocations) and ``lambda_sqs_mapping`` (the pollers); this module names what the rest of the package uses.
"""

from __future__ import annotations

from covid_pipeline.local.lambda_deployed import (
    DeployedFunction,
    EmulatorCode,
    FunctionError,
    FunctionTimeout,
    InvalidBatchResponse,
    runtime_paths,
)
from covid_pipeline.local.lambda_service import InvocationResult, LambdaService, Sandbox
from covid_pipeline.local.lambda_sqs_mapping import (
    EventSourceMappings,
    MappingSettings,
    SqsEventSourceMapping,
    failed_message_ids,
    sqs_event_record,
)

__all__ = [
    "DeployedFunction",
    "EmulatorCode",
    "EventSourceMappings",
    "FunctionError",
    "FunctionTimeout",
    "InvalidBatchResponse",
    "InvocationResult",
    "LambdaService",
    "MappingSettings",
    "Sandbox",
    "SqsEventSourceMapping",
    "failed_message_ids",
    "runtime_paths",
    "sqs_event_record",
]
