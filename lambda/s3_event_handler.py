"""Raw-bucket upload -> Glue job run. Triggered by the raw-events SQS queue (S3 event notifications).

Flow per invocation (a batch of SQS messages, each carrying one S3 event notification):

1. parse: every SQS record into typed objects (`SqsMessage` -> `S3ObjectCreated`); a malformed
   record raises ``MalformedEventError`` (a ValueError that says what was wrong) and is reported as
   a batch item failure, so SQS redelivers it and, after maxReceiveCount, moves it to the DLQ;
2. validate: each object against the raw layout ``<RAW_PREFIX><source>/<file><suffix>``; an object
   that does not belong there is ignored with a logged reason (no run);
3. trigger: an object already processed needs no run (typical for a retried message): a SUCCEEDED run
   started after its upload, or the job's ledger already holds this version (same size and ETag);
   otherwise ``JobTrigger`` claims one marker per object version
   (conditional put, so a duplicate delivery starts at most one run), then starts ONE Glue run per
   source in the batch (the job picks up every raw object not yet in its ledger). A start that
   fails releases the claims. When the job is merely busy (ConcurrentRunsExceededException,
   throttling) each message is sent again with a delay (a fresh copy, so waiting for a long run
   never counts towards maxReceiveCount and never dead-letters a good upload); any other start
   failure, or a failed re-send, reports the message as a batch item failure: it comes back after
   the visibility timeout. Nothing is lost either way.

The function must be deployed with ``function_response_types = ["ReportBatchItemFailures"]``; it needs
glue:StartJobRun + glue:GetJobRuns on the job, s3:GetObject/PutObject/DeleteObject on the claims prefix,
s3:GetObject on the jobs' ledgers (``STATE_PREFIX<source>/ledger.json``),
and sqs:SendMessage + sqs:GetQueueUrl on its queue.

Environment (terraform/lambda.tf sets it; nothing here has a default that could drift from it):

- ``GLUE_JOB_NAME``, ``RAW_BUCKET``, ``RAW_PREFIX``: the job to start and where raw objects land
- ``STATE_BUCKET``, ``STATE_PREFIX``: claims go under ``s3://STATE_BUCKET/STATE_PREFIX events/``
- ``SUPPORTED_SUFFIXES``: comma-separated suffixes the job reads (tfvars ``supported_suffixes``)
- ``SOURCE_JOB_ARGUMENTS``: JSON, source -> the arguments a run of that source overrides (``--source``,
  ``--input_path``, ...); its keys are the known sources
- optional: ``MAX_KEY_LENGTH`` (default 512), ``RETRY_DELAY_SECONDS`` (default 15, at most 900): delay of the
  re-sent copy when the job is busy (needs ``sqs:SendMessage`` on the queue); ``MAX_BUSY_RETRIES`` (default 240,
  about an hour): after that many re-sends the message is reported as failed instead (visibility timeout, then
  the DLQ); ``CLAIM_STALE_SECONDS`` (default 900): a claim without a run older than this was left by a crashed
  invocation and may be taken over
- ``LOG_LEVEL`` (default INFO), ``POWERTOOLS_SERVICE_NAME`` (default ``s3-event-handler``)

Besides boto3 the handler imports one module of the covid_pipeline package (bundled beside it):
``covid_pipeline.input_rules``, the key rules it shares with the Glue job. Oversized objects are not its
business: it starts a run for them, and the job, which can measure them, quarantines them as ``too_large``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import time
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.exceptions import ClientError

from covid_pipeline import input_rules

REQUIRED_ENVIRONMENT = (
    "GLUE_JOB_NAME",
    "RAW_BUCKET",
    "RAW_PREFIX",
    "STATE_BUCKET",
    "STATE_PREFIX",
    "SUPPORTED_SUFFIXES",
    "SOURCE_JOB_ARGUMENTS",
)
DEFAULT_MAX_KEY_LENGTH = input_rules.DEFAULT_MAX_KEY_LENGTH
DEFAULT_RETRY_DELAY_SECONDS = 15
DEFAULT_MAX_BUSY_RETRIES = 240
MAX_SQS_DELAY_SECONDS = 900
# Message attribute counting how often a message was re-sent because the job was busy.
BUSY_RETRIES_ATTRIBUTE = "busy_retries"
DEFAULT_CLAIM_STALE_SECONDS = 900
CLAIMS_FOLDER = "events/"
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
SERVICE_NAME = os.environ.get("POWERTOOLS_SERVICE_NAME", "s3-event-handler")


# --- structured logging (the powertools Logger shape, without the dependency) ------------------------


class _JsonFormatter(logging.Formatter):
    """One JSON object per line: level, message, service, request id, plus any `extra` fields."""

    _STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "level": record.levelname,
            "location": f"{record.funcName}:{record.lineno}",
            "message": record.getMessage(),
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "service": SERVICE_NAME,
        }
        entry.update({key: value for key, value in vars(record).items() if key not in self._STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class _StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stdout is at emit time (Lambda, and the local runtime, capture stdout)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stdout  # not setStream(): that flushes the previous stream, which may be closed
        super().emit(record)


logger = logging.getLogger(SERVICE_NAME)
if not logger.handlers:
    _handler = _StdoutHandler()
    _handler.setFormatter(_JsonFormatter())
    logger.addHandler(_handler)
    logger.propagate = False
logger.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())


# --- the event, parsed -------------------------------------------------------------------------------


class MalformedEventError(ValueError):
    """An SQS record or S3 notification that does not have the documented shape."""


@dataclass(frozen=True)
class S3ObjectCreated:
    """One object from an S3 event notification record (the key already URL-decoded)."""

    bucket: str
    key: str
    size: int
    etag: str
    version_id: str | None
    sequencer: str | None
    event_name: str
    event_time: str

    @property
    def version_token(self) -> str:
        """What identifies this version of the object: the version id, else the ETag."""
        return self.version_id or self.etag

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class SqsMessage:
    message_id: str
    receipt_handle: str
    receive_count: int
    event_source_arn: str
    body: str = ""
    busy_retries: int = 0
    objects: tuple[S3ObjectCreated, ...] = ()
    is_test_event: bool = False


def _require(mapping: Any, name: str, where: str) -> Any:
    if not isinstance(mapping, Mapping):
        raise MalformedEventError(f"{where} is {type(mapping).__name__}, expected an object")
    if name not in mapping or mapping[name] is None:
        raise MalformedEventError(f"{where} has no '{name}'")
    return mapping[name]


def _parse_s3_record(record: Any, where: str) -> S3ObjectCreated:
    s3 = _require(record, "s3", where)
    bucket = _require(_require(s3, "bucket", f"{where}.s3"), "name", f"{where}.s3.bucket")
    obj = _require(s3, "object", f"{where}.s3")
    raw_key = _require(obj, "key", f"{where}.s3.object")
    if not isinstance(bucket, str) or not bucket or not isinstance(raw_key, str) or not raw_key:
        raise MalformedEventError(f"{where}: bucket name and object key must be non-empty strings")
    size = obj.get("size", 0)
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise MalformedEventError(f"{where}.s3.object.size is {size!r}, expected a non-negative integer")
    etag = obj.get("eTag") or ""
    if not isinstance(etag, str):
        raise MalformedEventError(f"{where}.s3.object.eTag is {etag!r}, expected a string")
    event_name = _require(record, "eventName", where)
    return S3ObjectCreated(
        bucket=bucket,
        # S3 URL-encodes keys in notifications, spaces as '+'.
        key=urllib.parse.unquote_plus(raw_key),
        size=size,
        etag=etag.strip('"'),
        version_id=obj.get("versionId") or None,
        sequencer=obj.get("sequencer") or None,
        event_name=str(event_name),
        event_time=str(record.get("eventTime", "")),
    )


def parse_notification(body: str, where: str = "body") -> tuple[tuple[S3ObjectCreated, ...], bool]:
    """An SQS body -> (objects, is_test_event). Accepts S3 -> SQS and S3 -> SNS -> SQS deliveries."""
    try:
        payload = json.loads(body)
    except (TypeError, ValueError) as exc:
        raise MalformedEventError(f"{where} is not JSON: {exc}") from None
    if isinstance(payload, Mapping) and payload.get("Type") == "Notification" and "Message" in payload:
        return parse_notification(payload["Message"], f"{where}.Message")
    if isinstance(payload, Mapping) and payload.get("Event") == "s3:TestEvent":
        return (), True
    records = _require(payload, "Records", where)
    if not isinstance(records, list) or not records:
        raise MalformedEventError(f"{where}.Records must be a non-empty list")
    objects = []
    for index, record in enumerate(records):
        source = record.get("eventSource") if isinstance(record, Mapping) else None
        if source != "aws:s3":
            raise MalformedEventError(f"{where}.Records[{index}].eventSource is {source!r}, expected 'aws:s3'")
        objects.append(_parse_s3_record(record, f"{where}.Records[{index}]"))
    return tuple(objects), False


def parse_sqs_record(record: Any, index: int) -> SqsMessage:
    where = f"Records[{index}]"
    message_id = _require(record, "messageId", where)
    body = _require(record, "body", where)
    attributes = record.get("attributes") or {}
    try:
        receive_count = int(attributes.get("ApproximateReceiveCount", 1))
    except (TypeError, ValueError):
        receive_count = 1
    busy_attribute = (record.get("messageAttributes") or {}).get(BUSY_RETRIES_ATTRIBUTE) or {}
    try:
        busy_retries = int(busy_attribute.get("stringValue", 0))
    except (TypeError, ValueError):
        busy_retries = 0
    objects, is_test = parse_notification(body, f"{where}.body")
    return SqsMessage(
        message_id=str(message_id),
        receipt_handle=str(record.get("receiptHandle", "")),
        receive_count=receive_count,
        event_source_arn=str(record.get("eventSourceARN", "")),
        body=str(body),
        busy_retries=busy_retries,
        objects=objects,
        is_test_event=is_test,
    )


def sqs_records(event: Any) -> list[Any]:
    """The event's Records, or a MalformedEventError for the whole invocation."""
    records = _require(event, "Records", "event")
    if not isinstance(records, list):
        raise MalformedEventError("event.Records must be a list")
    return records


# --- settings and validation -------------------------------------------------------------------------


def _csv_setting(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in env[name].split(",") if item.strip())


def _source_arguments(value: str) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
    """SOURCE_JOB_ARGUMENTS as a hashable, ordered value (settings key the warm clients)."""
    try:
        document = json.loads(value)
        if not isinstance(document, dict) or not document:
            raise ValueError("not a non-empty JSON object")
        return tuple(
            (str(source), tuple(sorted((str(k), str(v)) for k, v in dict(arguments).items())))
            for source, arguments in sorted(document.items())
        )
    except (ValueError, TypeError) as exc:
        raise RuntimeError(f"SOURCE_JOB_ARGUMENTS is not a JSON object of source -> arguments: {exc}") from None


@dataclass(frozen=True)
class Settings:
    glue_job_name: str
    raw_bucket: str
    raw_prefix: str
    state_bucket: str
    state_prefix: str
    supported_suffixes: tuple[str, ...]
    source_arguments: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]
    max_key_length: int = DEFAULT_MAX_KEY_LENGTH
    retry_delay_seconds: int = DEFAULT_RETRY_DELAY_SECONDS
    max_busy_retries: int = DEFAULT_MAX_BUSY_RETRIES
    claim_stale_seconds: int = DEFAULT_CLAIM_STALE_SECONDS

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        missing = [name for name in REQUIRED_ENVIRONMENT if not env.get(name)]
        if missing:
            # A deployment error, not a bad message: every message fails and is retried once fixed.
            raise RuntimeError(f"missing environment variable(s): {', '.join(missing)}")
        return cls(
            glue_job_name=env["GLUE_JOB_NAME"],
            raw_bucket=env["RAW_BUCKET"],
            raw_prefix=env["RAW_PREFIX"],
            state_bucket=env["STATE_BUCKET"],
            state_prefix=env["STATE_PREFIX"],
            supported_suffixes=tuple(suffix.lower() for suffix in _csv_setting(env, "SUPPORTED_SUFFIXES")),
            source_arguments=_source_arguments(env["SOURCE_JOB_ARGUMENTS"]),
            max_key_length=int(env.get("MAX_KEY_LENGTH", DEFAULT_MAX_KEY_LENGTH)),
            retry_delay_seconds=min(
                int(env.get("RETRY_DELAY_SECONDS", DEFAULT_RETRY_DELAY_SECONDS)), MAX_SQS_DELAY_SECONDS
            ),
            max_busy_retries=int(env.get("MAX_BUSY_RETRIES", DEFAULT_MAX_BUSY_RETRIES)),
            claim_stale_seconds=int(env.get("CLAIM_STALE_SECONDS", DEFAULT_CLAIM_STALE_SECONDS)),
        )

    @property
    def known_sources(self) -> tuple[str, ...]:
        return tuple(source for source, _ in self.source_arguments)

    def run_arguments(self, source: str) -> dict[str, str]:
        """Per-source Glue run arguments; the job's DefaultArguments supply the rest."""
        return dict(dict(self.source_arguments)[source])


@dataclass(frozen=True)
class Accepted:
    obj: S3ObjectCreated
    source: str


@dataclass(frozen=True)
class Ignored:
    obj: S3ObjectCreated
    reason: str


def classify(obj: S3ObjectCreated, settings: Settings) -> Accepted | Ignored:
    """Decide whether an object is raw input for a source, or why not. Pure: no I/O."""
    key = obj.key
    if not obj.event_name.startswith("ObjectCreated:"):
        return Ignored(obj, f"event {obj.event_name} is not an object creation")
    if obj.bucket != settings.raw_bucket:
        return Ignored(obj, f"bucket {obj.bucket} is not the raw bucket {settings.raw_bucket}")
    if not key.startswith(settings.raw_prefix):
        return Ignored(obj, f"key is outside the raw prefix '{settings.raw_prefix}'")
    relative = key[len(settings.raw_prefix) :]
    # The key rules the job applies too (it quarantines as unsafe_key what is ignored here): covid_pipeline.input_rules.
    problem = input_rules.key_problem(key, relative, settings.max_key_length)
    if problem:
        return Ignored(obj, problem.detail)
    segments = relative.split("/")
    if len(segments) < 2:
        return Ignored(obj, "key is not inside a source folder (<raw prefix><source>/<file>)")
    source = segments[0]
    if source not in settings.known_sources:
        return Ignored(obj, f"unknown source '{source}' (known: {', '.join(settings.known_sources)})")
    problem = input_rules.suffix_problem(relative, settings.supported_suffixes) or input_rules.hidden_problem(relative)
    if problem:
        return Ignored(obj, problem.detail)
    if obj.size == 0:
        return Ignored(obj, "empty object (0 bytes)")
    return Accepted(obj, source)


# --- the service -------------------------------------------------------------------------------------


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


class JobTrigger:
    """Claims object versions and starts Glue runs. All AWS calls of the handler live here."""

    def __init__(self, settings: Settings, s3: Any, glue: Any, sqs: Any) -> None:
        self.settings = settings
        self.s3 = s3
        self.glue = glue
        self.sqs = sqs

    def claim_key(self, obj: S3ObjectCreated) -> str:
        digest = hashlib.sha256(f"{obj.bucket}/{obj.key}#{obj.version_token}".encode()).hexdigest()
        return f"{self.settings.state_prefix}{CLAIMS_FOLDER}{digest}.json"

    def _claim_body(self, obj: S3ObjectCreated, status: str, run_id: str | None = None) -> bytes:
        return json.dumps(
            {
                "bucket": obj.bucket,
                "key": obj.key,
                "version_id": obj.version_id,
                "etag": obj.etag,
                "sequencer": obj.sequencer,
                "status": status,
                "run_id": run_id,
                "job_name": self.settings.glue_job_name,
                "claimed_at": time.time(),
            }
        ).encode()

    def claim(self, obj: S3ObjectCreated) -> str:
        """'claimed' (ours now), 'duplicate' (a run was already started for it) or 'busy' (in progress elsewhere)."""
        key = self.claim_key(obj)
        for _ in range(2):
            try:
                self.s3.put_object(
                    Bucket=self.settings.state_bucket, Key=key, Body=self._claim_body(obj, "claimed"), IfNoneMatch="*"
                )
                return "claimed"
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in (
                    "PreconditionFailed",
                    "ConditionalRequestConflict",
                ):
                    raise
            existing = self._read_claim(key)
            if existing is None:
                continue  # released between our put and our read: try once more
            if existing.get("status") == "started":
                return "duplicate"
            if time.time() - float(existing.get("claimed_at", 0)) < self.settings.claim_stale_seconds:
                return "busy"
            # Left by an invocation that died between claiming and starting: take it over.
            logger.warning("taking over a stale claim", extra={"object": obj.uri, "claim": key})
            self.release(obj)
        return "busy"

    def _read_claim(self, key: str) -> dict[str, Any] | None:
        try:
            body = self.s3.get_object(Bucket=self.settings.state_bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        try:
            loaded = json.loads(body)
        except ValueError:
            return {}
        return loaded if isinstance(loaded, dict) else {}

    def mark_started(self, obj: S3ObjectCreated, run_id: str) -> None:
        self.s3.put_object(
            Bucket=self.settings.state_bucket, Key=self.claim_key(obj), Body=self._claim_body(obj, "started", run_id)
        )

    def release(self, obj: S3ObjectCreated) -> None:
        self.s3.delete_object(Bucket=self.settings.state_bucket, Key=self.claim_key(obj))

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
        by_source: dict[str, list[tuple[SqsMessage, S3ObjectCreated]]] = {}
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

        # Messages to try again: "later" ones are re-sent with a delay, "failed" ones go back to SQS's retry.
        later: dict[str, SqsMessage] = {}
        failed: dict[str, SqsMessage] = {}
        succeeded_runs = self.succeeded_run_starts() if by_source else {}
        for source, items in by_source.items():
            claimed: list[tuple[SqsMessage, S3ObjectCreated]] = []
            ledger: dict[str, Any] | None = None
            for message, obj in items:
                covering_run = covered_by(obj, succeeded_runs.get(source, []))
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
                state = self.claim(obj)
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
            if not claimed:
                continue
            objects = [obj for _, obj in claimed]
            try:
                run_id = self.start_run(source, objects)
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                for _, obj in claimed:
                    self.release(obj)
                busy = code in RETRYABLE_START_ERRORS
                logger.log(
                    logging.WARNING if busy else logging.ERROR,
                    "job run not started, messages will be retried",
                    extra={"source": source, "error_code": code, "error": str(exc), "objects": len(objects)},
                )
                for message, _ in claimed:
                    (later if busy else failed)[message.message_id] = message
                continue
            for _, obj in claimed:
                self.mark_started(obj, run_id)
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
        for message_id, message in later.items():
            if message_id in failed:
                continue
            if self.resend_later(message):
                outcome.resent.append(message_id)
            else:
                failed[message_id] = message
        outcome.fail(failed)
        return outcome


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


# --- the handler -------------------------------------------------------------------------------------

_triggers: dict[tuple[Settings, tuple[tuple[str, str], ...]], JobTrigger] = {}


def _trigger_for(settings: Settings) -> JobTrigger:
    """One set of clients per configuration and endpoint, reused across warm invocations like module-level clients."""
    endpoints = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_ENDPOINT_URL")))
    key = (settings, endpoints)
    if key not in _triggers:
        _triggers[key] = JobTrigger(settings, boto3.client("s3"), boto3.client("glue"), boto3.client("sqs"))
    return _triggers[key]


def handler(event: dict[str, Any], context: Any) -> dict[str, list[dict[str, str]]]:
    settings = Settings.from_env(os.environ)
    records = sqs_records(event)
    messages: list[SqsMessage] = []
    failures: list[str] = []
    for index, record in enumerate(records):
        try:
            messages.append(parse_sqs_record(record, index))
        except MalformedEventError as exc:
            message_id = record.get("messageId") if isinstance(record, Mapping) else None
            if not message_id:
                raise  # cannot be reported per item: fail the whole batch
            logger.error(
                "malformed message, will be retried then dead-lettered",
                extra={"message_id": message_id, "error": str(exc)},
            )
            failures.append(str(message_id))
    outcome = _trigger_for(settings).process(messages)
    failures += [message_id for message_id in outcome.failed_message_ids if message_id not in failures]
    logger.info(
        "batch done",
        extra={
            "messages": len(records),
            "runs": outcome.run_ids,
            "ignored": len(outcome.ignored),
            "duplicates": len(outcome.duplicates),
            "resent": len(outcome.resent),
            "already_processed": len(outcome.covered),
            "failed": len(failures),
            "request_id": getattr(context, "aws_request_id", None),
        },
    )
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failures]}
