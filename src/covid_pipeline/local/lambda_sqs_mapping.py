"""The SQS event source mapping: a thread per enabled mapping long-polls its queue, hands batches to the function in
SQS's event shape and deletes what succeeded (see ``lambda_runtime``)."""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from covid_pipeline.local.lambda_deployed import InvalidBatchResponse
from covid_pipeline.local.lambda_service import InvocationResult, LambdaService

log = logging.getLogger(__name__)


# AWS caps one ReceiveMessage at 10 messages; short polls keep stop() responsive.
MAX_MESSAGES_PER_RECEIVE = 10
LONG_POLL_SECONDS = 1


# --- the SQS event source mapping ---------------------------------------------------------------------------


def sqs_event_record(message: Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """A ReceiveMessage message -> one record of the SQS event Lambda delivers (same keys, same casing)."""
    attributes = {
        key: value
        for key, value in (message.get("Attributes") or {}).items()
        if key
        in (
            "ApproximateReceiveCount",
            "SentTimestamp",
            "SenderId",
            "ApproximateFirstReceiveTimestamp",
            "SequenceNumber",
            "MessageGroupId",
            "MessageDeduplicationId",
            "AWSTraceHeader",
            "DeadLetterQueueSourceArn",
        )
    }
    message_attributes = {}
    for name, value in (message.get("MessageAttributes") or {}).items():
        converted: dict[str, Any] = {"stringListValues": [], "binaryListValues": [], "dataType": value.get("DataType")}
        if "StringValue" in value:
            converted["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            converted["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
        message_attributes[name] = converted
    record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": message.get("MD5OfBody")
        or hashlib.md5(message.get("Body", "").encode(), usedforsecurity=False).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def messages_in_queue(sqs: Any, queue_url: str) -> int:
    """Messages in the queue, in flight and delayed ones included: "empty" covers what a poller received but has
    not finished with."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def failed_message_ids(response: Any, batch_ids: list[str]) -> set[str]:
    """Which messages of a batch failed, from a ReportBatchItemFailures response (Lambda's documented rules)."""
    if response is None or response == {} or response == "":
        return set()
    if not isinstance(response, Mapping):
        raise InvalidBatchResponse(f"response is {type(response).__name__}, not a JSON object")
    failures = response.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        raise InvalidBatchResponse("batchItemFailures is not a list")
    failed: set[str] = set()
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, Mapping) else None
        if not identifier or identifier not in batch_ids:
            raise InvalidBatchResponse(f"batchItemFailures has an invalid itemIdentifier: {item!r}")
        failed.add(str(identifier))
    return failed


@dataclass(frozen=True)
class MappingSettings:
    """What an event source mapping says (ListEventSourceMappings), in the form the poller uses."""

    uuid: str
    queue_arn: str
    function: str
    batch_size: int
    batching_window_seconds: float
    report_batch_item_failures: bool
    enabled: bool

    @classmethod
    def from_api(cls, mapping: Mapping[str, Any]) -> MappingSettings:
        return cls(
            uuid=str(mapping["UUID"]),
            queue_arn=str(mapping["EventSourceArn"]),
            function=str(mapping["FunctionArn"]).split(":")[6],
            batch_size=int(mapping.get("BatchSize") or 10),
            batching_window_seconds=float(mapping.get("MaximumBatchingWindowInSeconds") or 0),
            report_batch_item_failures="ReportBatchItemFailures" in (mapping.get("FunctionResponseTypes") or []),
            enabled=str(mapping.get("State", "Enabled")) in ("Enabled", "Enabling", "Creating", "Updating"),
        )

    @property
    def is_sqs(self) -> bool:
        return self.queue_arn.startswith("arn:aws:sqs:")


class SqsEventSourceMapping:
    """A poller thread that feeds an SQS queue's messages to a function, like AWS's event source mapping."""

    def __init__(self, settings: MappingSettings, service: LambdaService) -> None:
        if not 1 <= settings.batch_size <= 10_000:
            raise ValueError(f"batch_size must be 1..10000, got {settings.batch_size}")
        if settings.batch_size > 10 and settings.batching_window_seconds < 1:
            raise ValueError("a batch_size above 10 needs a batching window of at least 1 s (as Lambda requires)")
        self.settings = settings
        self.service = service
        self._sqs = service._client("sqs")
        parts = settings.queue_arn.split(":")
        self.queue_url = str(self._sqs.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])["QueueUrl"])
        self._stop = threading.Event()
        self._busy = threading.Event()
        self._thread: threading.Thread | None = None
        self.invocations: deque[InvocationResult] = deque(maxlen=1000)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._poll_loop, name=f"esm-{self.settings.function}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop polling; a batch being handled finishes first (its messages are deleted or left to retry)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def queue_depth(self) -> int:
        return messages_in_queue(self._sqs, self.queue_url)

    def wait_idle(self, timeout: float) -> bool:
        """True once the queue is empty (visible, in flight and delayed) and no invocation runs."""
        deadline = time.monotonic() + timeout
        while True:
            if not self._busy.is_set() and self.queue_depth() == 0 and not self._busy.is_set():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.2)

    def _receive_batch(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        window_ends = None
        batch_size = self.settings.batch_size
        while len(messages) < batch_size and not self._stop.is_set():
            wait = LONG_POLL_SECONDS if not messages else 0
            response = self._sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(MAX_MESSAGES_PER_RECEIVE, batch_size - len(messages)),
                WaitTimeSeconds=wait,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            received = response.get("Messages", [])
            if received:
                self._busy.set()
            messages.extend(received)
            if not messages:
                return messages
            if window_ends is None:
                window_ends = time.monotonic() + self.settings.batching_window_seconds
            if not received and time.monotonic() >= window_ends:
                break
            if not received:
                time.sleep(min(0.1, max(window_ends - time.monotonic(), 0)))
        return messages

    def _poll_loop(self) -> None:
        while not self._stop.is_set():
            try:
                messages = self._receive_batch()
                if messages:
                    self._handle_batch(messages)
            except Exception:
                # A poller survives emulator hiccups, as Lambda's pollers do; the messages just come back later.
                log.exception("event source mapping for %s: polling failed", self.settings.function)
                self._stop.wait(1.0)
            finally:
                self._busy.clear()

    def _handle_batch(self, messages: list[dict[str, Any]]) -> InvocationResult:
        function = self.settings.function
        region = self.settings.queue_arn.split(":")[3]
        event = {"Records": [sqs_event_record(message, self.settings.queue_arn, region) for message in messages]}
        batch_ids = [message["MessageId"] for message in messages]
        result = self.service.invoke(function, event)
        self.invocations.append(result)
        log.info(
            "%s: %d message(s) in %.0f ms%s",
            function,
            len(messages),
            result.duration_ms,
            "" if result.succeeded else f", failed: {result.error}; they return after the visibility timeout",
        )
        if not result.succeeded:
            return result
        failed: set[str] = set()
        if self.settings.report_batch_item_failures:
            try:
                failed = failed_message_ids(result.response, batch_ids)
            except InvalidBatchResponse as exc:
                log.warning("%s: %s: the whole batch counts as failed", function, exc)
                return result
        to_delete = [message for message in messages if message["MessageId"] not in failed]
        for start in range(0, len(to_delete), 10):
            chunk = to_delete[start : start + 10]
            response = self._sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
            for failure in response.get("Failed", []):
                log.warning("%s: could not delete a handled message: %s", function, failure)
        if failed:
            log.info("%s: %d of %d message(s) reported as failed", function, len(failed), len(messages))
        return result


@dataclass
class EventSourceMappings:
    """One poller per enabled SQS event source mapping the Lambda API lists; ``sync()`` follows changes."""

    service: LambdaService
    pollers: dict[str, SqsEventSourceMapping] = field(default_factory=dict)

    def sync(self) -> None:
        listed: dict[str, MappingSettings] = {}
        for page in self.service._client("lambda").get_paginator("list_event_source_mappings").paginate():
            for mapping in page.get("EventSourceMappings", []):
                settings = MappingSettings.from_api(mapping)
                if settings.is_sqs and settings.enabled:
                    listed[settings.uuid] = settings
        for uuid_, poller in list(self.pollers.items()):
            if listed.get(uuid_) != poller.settings:
                poller.stop()
                del self.pollers[uuid_]
        for uuid_, settings in listed.items():
            if uuid_ not in self.pollers:
                poller = SqsEventSourceMapping(settings, self.service)
                poller.start()
                self.pollers[uuid_] = poller
                log.info(
                    "event source mapping %s -> %s (batch %d, window %.0f s)",
                    settings.queue_arn.split(":")[5],
                    settings.function,
                    settings.batch_size,
                    settings.batching_window_seconds,
                )

    def for_queue(self, queue_name: str) -> Iterable[SqsEventSourceMapping]:
        return [poller for poller in self.pollers.values() if poller.settings.queue_arn.split(":")[5] == queue_name]

    def wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        return all(poller.wait_idle(max(0.0, deadline - time.monotonic())) for poller in list(self.pollers.values()))

    def stop(self) -> None:
        for poller in self.pollers.values():
            poller.stop()
        self.pollers.clear()
