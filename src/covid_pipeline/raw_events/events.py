"""SQS records carrying S3 event notifications -> typed objects.

Powertools' data classes (``SQSRecord``, ``S3Event``) read the fields; the checks here first make sure a field is
there and of the right kind, so a malformed record becomes an error that says what is wrong, never a KeyError.
"""

from __future__ import annotations

import json
import logging
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.utilities.data_classes import S3Event, SQSRecord
from aws_lambda_powertools.utilities.data_classes.s3_event import S3EventRecord

logger = logging.getLogger(__name__)

# Message attribute counting how often a message was re-sent because the job was busy.
BUSY_RETRIES_ATTRIBUTE = "busy_retries"


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


def _count(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _s3_object(record: S3EventRecord, where: str) -> S3ObjectCreated:
    s3 = _require(record, "s3", where)
    bucket = _require(_require(s3, "bucket", f"{where}.s3"), "name", f"{where}.s3.bucket")
    obj = _require(s3, "object", f"{where}.s3")
    raw_key = _require(obj, "key", f"{where}.s3.object")
    if not isinstance(bucket, str) or not bucket or not isinstance(raw_key, str) or not raw_key:
        raise MalformedEventError(f"{where}: bucket name and object key must be non-empty strings")
    size = obj.get("size", 0)
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise MalformedEventError(f"{where}.s3.object.size is {size!r}, expected a non-negative integer")
    if not isinstance(obj.get("eTag") or "", str):
        raise MalformedEventError(f"{where}.s3.object.eTag is {obj.get('eTag')!r}, expected a string")
    _require(record, "eventName", where)
    s3_object = record.s3.get_object
    return S3ObjectCreated(
        bucket=record.s3.bucket.name,
        # S3 URL-encodes keys in notifications, spaces as '+'.
        key=urllib.parse.unquote_plus(s3_object.key),
        size=size,
        etag=s3_object.etag.strip('"'),
        version_id=s3_object.version_id or None,
        sequencer=s3_object.get("sequencer") or None,
        event_name=str(record.event_name),
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
    for index, record in enumerate(S3Event(payload).records):
        source = record.get("eventSource") if isinstance(record.raw_event, Mapping) else None
        if source != "aws:s3":
            raise MalformedEventError(f"{where}.Records[{index}].eventSource is {source!r}, expected 'aws:s3'")
        objects.append(_s3_object(record, f"{where}.Records[{index}]"))
    return tuple(objects), False


def parse_sqs_record(record: Mapping[str, Any], index: int) -> SqsMessage:
    """One record of the SQS event -> the message and the objects its notification names."""
    where = f"Records[{index}]"
    _require(record, "messageId", where)
    body = _require(record, "body", where)
    sqs_record = record if isinstance(record, SQSRecord) else SQSRecord(dict(record))
    busy = sqs_record.message_attributes[BUSY_RETRIES_ATTRIBUTE] if sqs_record.get("messageAttributes") else None
    objects, is_test = parse_notification(body, f"{where}.body")
    return SqsMessage(
        message_id=str(sqs_record.message_id),
        receipt_handle=str(sqs_record.get("receiptHandle", "")),
        receive_count=_count((sqs_record.get("attributes") or {}).get("ApproximateReceiveCount"), default=1),
        event_source_arn=str(sqs_record.get("eventSourceARN", "")),
        body=str(body),
        busy_retries=_count(busy.get("stringValue") if busy else None, default=0),
        objects=objects,
        is_test_event=is_test,
    )


def sqs_records(event: Any) -> list[Mapping[str, Any]]:
    """The event's Records, or a MalformedEventError for the whole invocation: a record without a messageId cannot
    be reported as a batch item failure."""
    records = _require(event, "Records", "event")
    if not isinstance(records, list):
        raise MalformedEventError("event.Records must be a list")
    for index, record in enumerate(records):
        _require(record, "messageId", f"Records[{index}]")
    return records


@dataclass
class ParsedBatch:
    """The record handler of Powertools' BatchProcessor: parses each record and keeps its message for the batch-wide
    trigger; a malformed record raises, so the processor reports it alone as a batch item failure."""

    messages: list[SqsMessage] = field(default_factory=list)
    _seen: int = 0

    def parse(self, record: SQSRecord) -> SqsMessage:
        index = self._seen  # the processor hands the records over in the event's order
        self._seen += 1
        try:
            message = parse_sqs_record(record, index)
        except MalformedEventError as exc:
            logger.error(
                "malformed message, will be retried then dead-lettered",
                extra={"message_id": record.message_id, "error": str(exc)},
            )
            raise
        self.messages.append(message)
        return message
