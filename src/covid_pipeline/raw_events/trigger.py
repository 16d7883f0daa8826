"""Accepted objects -> Glue job runs: one run per source per batch, none for what is already processed, a delayed
re-send when the job is busy. All AWS calls of the s3-event-handler live here and in ``claims``."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import boto3
from botocore.exceptions import ClientError

from covid_pipeline.raw_events.claims import ClaimStore
from covid_pipeline.raw_events.events import BUSY_RETRIES_ATTRIBUTE, S3ObjectCreated, SqsMessage
from covid_pipeline.raw_events.settings import Ignored, Settings, classify

logger = logging.getLogger(__name__)

LEDGER_NAME = "ledger.json"  # the job's record of processed inputs, under its --state_path
# A SUCCEEDED run that started this long after an upload has certainly listed it (clock skew allowance).
COVERAGE_MARGIN_SECONDS = 2.0
RECENT_RUNS = 50
# Glue argument values are limited in size; the trigger summary is informational only.
TRIGGER_SUMMARY_MAX_CHARS = 1000
# Errors that mean "try again later", not "this message is bad".
RETRYABLE_START_ERRORS = frozenset(
    {
        "ConcurrentRunsExceededException",
        "ThrottlingException",
        "ResourceNumberLimitExceededException",
        "InternalServiceException",
        "OperationTimeoutException",
    }
)
Item = tuple[SqsMessage, S3ObjectCreated]


@dataclass
class BatchOutcome:
    """What happened to one batch; `failed_message_ids` become batchItemFailures."""

    failed_message_ids: list[str] = field(default_factory=list)
    run_ids: dict[str, str] = field(default_factory=dict)
    ignored: list[tuple[str, str]] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    resent: list[str] = field(default_factory=list)
    covered: list[str] = field(default_factory=list)

    def fail(self, message_ids: Iterable[str]) -> None:
        for message_id in message_ids:
            if message_id not in self.failed_message_ids:
                self.failed_message_ids.append(message_id)

    def summary(self) -> dict[str, Any]:
        """The counts the handler logs once per batch."""
        return {
            "runs": self.run_ids,
            "ignored": len(self.ignored),
            "duplicates": len(self.duplicates),
            "resent": len(self.resent),
            "already_processed": len(self.covered),
        }


class JobTrigger:
    """Claims object versions and starts Glue runs."""

    def __init__(self, settings: Settings, s3: Any, glue: Any, sqs: Any) -> None:
        self.settings = settings
        self.s3 = s3
        self.glue = glue
        self.sqs = sqs
        self.claims = ClaimStore(settings, s3)

    def ledger(self, source: str) -> dict[str, Any]:
        """The job's ledger of processed inputs for a source (relative path -> size, fingerprint, ...); {} when
        there is none yet or it cannot be read (then a run starts and finds out for itself)."""
        key = f"{self.settings.state_prefix}{source}/{LEDGER_NAME}"
        try:
            body = self.s3.get_object(Bucket=self.settings.state_bucket, Key=key)["Body"].read()
            files = json.loads(body).get("files", {})
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404"):
                logger.warning("could not read the job's ledger", extra={"ledger": key, "error": str(exc)})
            return {}
        except (ValueError, AttributeError) as exc:
            logger.warning("the job's ledger is not valid JSON", extra={"ledger": key, "error": str(exc)})
            return {}
        return files if isinstance(files, dict) else {}

    def start_run(self, source: str, objects: Sequence[S3ObjectCreated]) -> str:
        arguments = self.settings.run_arguments(source)
        arguments["--trigger_objects"] = trigger_summary(objects)
        response = self.glue.start_job_run(JobName=self.settings.glue_job_name, Arguments=arguments)
        return str(response["JobRunId"])

    def resend_later(self, message: SqsMessage) -> bool:
        """Queue a delayed copy of a message whose run could not start yet; False if that was not possible."""
        if message.busy_retries >= self.settings.max_busy_retries:
            logger.warning(
                "job busy for too long, leaving the message to the visibility timeout and the DLQ",
                extra={"message_id": message.message_id, "busy_retries": message.busy_retries},
            )
            return False
        queue_url = queue_url_from_arn(message.event_source_arn, self.sqs)
        if not queue_url:
            return False
        try:
            self.sqs.send_message(
                QueueUrl=queue_url,
                MessageBody=message.body,
                DelaySeconds=self.settings.retry_delay_seconds,
                MessageAttributes={
                    BUSY_RETRIES_ATTRIBUTE: {"DataType": "Number", "StringValue": str(message.busy_retries + 1)}
                },
            )
        except ClientError as exc:
            logger.warning("could not re-send the message", extra={"message_id": message.message_id, "error": str(exc)})
            return False
        return True

    def succeeded_run_starts(self) -> dict[str, list[tuple[datetime, str]]]:
        """(start time, run id) of the job's recent SUCCEEDED runs per --source (Glue lists the newest first)."""
        try:
            runs = self.glue.get_job_runs(JobName=self.settings.glue_job_name, MaxResults=RECENT_RUNS).get(
                "JobRuns", []
            )
        except ClientError as exc:
            # Only an optimisation: without it a new run starts (and finds nothing new) where none was needed.
            logger.warning("could not list recent job runs", extra={"error": str(exc)})
            return {}
        starts: dict[str, list[tuple[datetime, str]]] = {}
        for run in runs:
            source = (run.get("Arguments") or {}).get("--source")
            started = run.get("StartedOn")
            if run.get("JobRunState") == "SUCCEEDED" and source and isinstance(started, datetime):
                starts.setdefault(source, []).append((started, str(run["Id"])))
        return starts

    def process(self, messages: Sequence[SqsMessage]) -> BatchOutcome:
        outcome = BatchOutcome()
        by_source = self._accepted_by_source(messages, outcome)
        # Messages to try again: "later" ones are re-sent with a delay, "failed" ones go back to SQS's retry.
        later: dict[str, SqsMessage] = {}
        failed: dict[str, SqsMessage] = {}
        succeeded_runs = self.succeeded_run_starts() if by_source else {}
        for source, items in by_source.items():
            claimed = self._claim_unprocessed(source, items, succeeded_runs.get(source, []), outcome, later)
            if claimed:
                self._start(source, claimed, outcome, later, failed)
        for message_id, message in later.items():
            if message_id in failed:
                continue
            if self.resend_later(message):
                outcome.resent.append(message_id)
            else:
                failed[message_id] = message
        outcome.fail(failed)
        return outcome

    def _accepted_by_source(self, messages: Sequence[SqsMessage], outcome: BatchOutcome) -> dict[str, list[Item]]:
        by_source: dict[str, list[Item]] = {}
        for message in messages:
            if message.is_test_event:
                logger.info("ignoring s3:TestEvent", extra={"message_id": message.message_id})
                continue
            for obj in message.objects:
                verdict = classify(obj, self.settings)
                if isinstance(verdict, Ignored):
                    logger.info(
                        "object ignored, no job run",
                        extra={"object": obj.uri, "reason": verdict.reason, "message_id": message.message_id},
                    )
                    outcome.ignored.append((obj.uri, verdict.reason))
                    continue
                by_source.setdefault(verdict.source, []).append((message, obj))
        return by_source

    def _claim_unprocessed(
        self,
        source: str,
        items: list[Item],
        succeeded_runs: Sequence[tuple[datetime, str]],
        outcome: BatchOutcome,
        later: dict[str, SqsMessage],
    ) -> list[Item]:
        """The items of one source that need a run, each claimed; the rest are accounted for in ``outcome``."""
        claimed: list[Item] = []
        ledger: dict[str, Any] | None = None
        for message, obj in items:
            covering_run = covered_by(obj, succeeded_runs)
            if covering_run is not None:
                logger.info(
                    "already processed: a run that started after the upload succeeded",
                    extra={"object": obj.uri, "run_id": covering_run, "message_id": message.message_id},
                )
                outcome.covered.append(obj.uri)
                continue
            # A run that started within moments of the upload may or may not have listed it: its ledger knows.
            ledger = self.ledger(source) if ledger is None else ledger
            entry = in_ledger(obj, ledger, f"{self.settings.raw_prefix}{source}/")
            if entry is not None:
                logger.info(
                    "already processed: this version is in the job's ledger",
                    extra={"object": obj.uri, "run_id": entry.get("run_id"), "message_id": message.message_id},
                )
                outcome.covered.append(obj.uri)
                continue
            state = self.claims.claim(obj)
            if state == "claimed":
                claimed.append((message, obj))
            elif state == "duplicate":
                logger.info(
                    "duplicate delivery: a run was already started for this object version",
                    extra={"object": obj.uri, "version": obj.version_token, "message_id": message.message_id},
                )
                outcome.duplicates.append(obj.uri)
            else:
                logger.info(
                    "object version claimed by another invocation, retrying later",
                    extra={"object": obj.uri, "message_id": message.message_id},
                )
                later[message.message_id] = message
        return claimed

    def _start(
        self,
        source: str,
        claimed: list[Item],
        outcome: BatchOutcome,
        later: dict[str, SqsMessage],
        failed: dict[str, SqsMessage],
    ) -> None:
        """One run for the source's claimed objects; when it cannot start, release the claims and retry."""
        objects = [obj for _, obj in claimed]
        try:
            run_id = self.start_run(source, objects)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            for obj in objects:
                self.claims.release(obj)
            busy = code in RETRYABLE_START_ERRORS
            logger.log(
                logging.WARNING if busy else logging.ERROR,
                "job run not started, messages will be retried",
                extra={"source": source, "error_code": code, "error": str(exc), "objects": len(objects)},
            )
            for message, _ in claimed:
                (later if busy else failed)[message.message_id] = message
            return
        for obj in objects:
            self.claims.mark_started(obj, run_id)
        outcome.run_ids[source] = run_id
        logger.info(
            "job run started",
            extra={
                "source": source,
                "run_id": run_id,
                "job_name": self.settings.glue_job_name,
                "objects": len(objects),
            },
        )


def covered_by(obj: S3ObjectCreated, succeeded_runs: Sequence[tuple[datetime, str]]) -> str | None:
    """The id of a SUCCEEDED run that started after the object was created, if any.

    Such a run listed its input after the upload (S3 listings are strongly consistent) and the job processes
    every object not yet in its ledger, so the object has been processed: starting another run is waste.
    """
    try:
        created = datetime.fromisoformat(obj.event_time.replace("Z", "+00:00"))
    except ValueError:
        return None
    if created.tzinfo is None:
        return None
    for started, run_id in succeeded_runs:
        if started.tzinfo is not None and (started - created).total_seconds() > COVERAGE_MARGIN_SECONDS:
            return run_id
    return None


def in_ledger(obj: S3ObjectCreated, ledger_files: Mapping[str, Any], input_prefix: str) -> dict[str, Any] | None:
    """The job's ledger entry for exactly this object version (same size and ETag), if it has one."""
    if not obj.etag or not obj.key.startswith(input_prefix):
        return None
    entry = ledger_files.get(obj.key[len(input_prefix) :])
    if isinstance(entry, dict) and entry.get("fingerprint") == obj.etag and entry.get("size") == obj.size:
        return entry
    return None


def trigger_summary(objects: Sequence[S3ObjectCreated]) -> str:
    """A short, bounded description of what triggered a run (shown in GetJobRun's Arguments)."""
    keys = sorted({obj.key for obj in objects})
    summary = f"{len(keys)} object(s): "
    shown: list[str] = []
    for index, key in enumerate(keys):
        rest = len(keys) - index - 1
        candidate = ", ".join([*shown, key]) + (f" (+{rest} more)" if rest else "")
        if len(summary) + len(candidate) > TRIGGER_SUMMARY_MAX_CHARS:
            return summary + ", ".join(shown) + f" (+{len(keys) - len(shown)} more)"
        shown.append(key)
    return summary + ", ".join(shown)


def queue_url_from_arn(arn: str, sqs: Any) -> str | None:
    """arn:aws:sqs:<region>:<account>:<name> -> the queue URL, through the API (works on any endpoint)."""
    parts = arn.split(":")
    if len(parts) != 6 or parts[2] != "sqs":
        return None
    try:
        return str(sqs.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])["QueueUrl"])
    except ClientError:
        return None


_triggers: dict[tuple[Settings, tuple[tuple[str, str], ...]], JobTrigger] = {}


def trigger_for(settings: Settings) -> JobTrigger:
    """One set of clients per configuration and endpoint, reused across warm invocations like module-level clients."""
    endpoints = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_ENDPOINT_URL")))
    key = (settings, endpoints)
    if key not in _triggers:
        _triggers[key] = JobTrigger(settings, boto3.client("s3"), boto3.client("glue"), boto3.client("sqs"))
    return _triggers[key]
