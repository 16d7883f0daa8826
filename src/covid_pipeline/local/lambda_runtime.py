"""Runs Lambda handlers in this process, the way AWS Lambda runs them (moto records functions but cannot run them).

- ``SqsEventSourceMapping`` behaves like an SQS event source mapping: a thread long-polls the queue,
  hands batches to the handler in the real SQS event shape, deletes what succeeded (all of it, or
  everything not listed in ``batchItemFailures`` when the mapping reports batch item failures) and
  leaves the rest to come back after the visibility timeout. The emulator's SQS itself moves a
  message to the dead-letter queue once it has been received maxReceiveCount times (moto implements
  the redrive policy on receive; verified with moto 5.2.5), so failures end in the DLQ as on AWS.
- ``invoke`` runs a handler once with an event (EventBridge-style targets).

Like Lambda, a handler module is imported from its file with its folder on ``sys.path``, once per
function (code + environment: a "cold start"), and reused while warm. Its logs (stdout, stderr and
logging records of the invoking thread) go to CloudWatch Logs ``/aws/lambda/<function>``, one stream
per invocation batch, framed by START/END/REPORT lines.

Two deliberate differences, both because everything shares one process:
- the function's environment is laid OVER ``os.environ`` while it runs, not instead of it (other
  threads, such as a Spark launch, read ``os.environ`` concurrently and must keep PATH, JAVA_HOME...);
  invocations are therefore serialized by one process-wide lock;
- the function timeout is detected, not enforced (a Python thread cannot be killed): an invocation
  that overran is logged as "Task timed out" and treated as a failure, as Lambda would.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import importlib.util
import io
import json
import logging
import os
import sys
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from covid_pipeline.local.environ import overlaid_environ

log = logging.getLogger(__name__)

DEFAULT_ACCOUNT = "123456789012"
DEFAULT_TIMEOUT_SECONDS = 30
DEFAULT_MEMORY_MB = 256
MAX_TIMEOUT_SECONDS = 900
# AWS caps one ReceiveMessage at 10 messages and a long poll at 20 s; short polls keep stop() responsive.
MAX_MESSAGES_PER_RECEIVE = 10
LONG_POLL_SECONDS = 1
# Serializes every invocation in this process: the function environment is laid over os.environ.
_INVOCATION_LOCK = threading.RLock()


class InvalidBatchResponse(ValueError):
    """A ReportBatchItemFailures response that Lambda treats as a failure of the whole batch."""


# --- the context object --------------------------------------------------------------------------------


@dataclass
class LambdaContext:
    """The attributes and method Lambda's Python runtime gives a handler as its second argument."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    timeout_seconds: int
    function_version: str = "$LATEST"
    identity: Any = None
    client_context: Any = None
    _started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        remaining = self.timeout_seconds - (time.monotonic() - self._started)
        return max(int(remaining * 1000), 0)


# --- function definition, module loading and log capture -----------------------------------------------


@dataclass(frozen=True)
class FunctionSpec:
    """What identifies a deployed function: code, entry point, environment and sizes."""

    handler_path: Path
    handler_name: str
    function_env: tuple[tuple[str, str], ...]
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS
    memory_mb: int = DEFAULT_MEMORY_MB
    function_name: str | None = None

    @classmethod
    def create(
        cls,
        handler_path: Path,
        handler_name: str,
        function_env: Mapping[str, str],
        timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS,
        memory_mb: int = DEFAULT_MEMORY_MB,
        function_name: str | None = None,
    ) -> FunctionSpec:
        path = Path(handler_path).resolve()
        if not path.is_file():
            raise FileNotFoundError(f"Lambda handler file not found: {path}")
        env = tuple(sorted((str(k), str(v)) for k, v in function_env.items()))
        return cls(path, handler_name, env, timeout_seconds, memory_mb, function_name)

    @property
    def env(self) -> dict[str, str]:
        return dict(self.function_env)

    @property
    def name(self) -> str:
        return self.function_name or self.env.get("AWS_LAMBDA_FUNCTION_NAME") or self.handler_path.stem

    @property
    def region(self) -> str:
        env = self.env
        return (
            env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
        )

    @property
    def log_group(self) -> str:
        return f"/aws/lambda/{self.name}"

    def runtime_env(self, log_stream: str) -> dict[str, str]:
        """The variables Lambda's runtime adds to the function's own (reserved names win, as on AWS)."""
        env = self.env
        env.update(
            {
                "AWS_LAMBDA_FUNCTION_NAME": self.name,
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory_mb),
                "AWS_LAMBDA_LOG_GROUP_NAME": self.log_group,
                "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
                "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
                "AWS_REGION": self.region,
                "AWS_DEFAULT_REGION": self.region,
                "LAMBDA_TASK_ROOT": str(self.handler_path.parent),
                "_HANDLER": f"{self.handler_path.stem}.{self.handler_name}",
            }
        )
        return env


# Warm modules, one per function spec and code version (file mtime): a changed env or file = a cold start.
_modules: dict[tuple[FunctionSpec, int], ModuleType] = {}


def _load_handler(spec: FunctionSpec) -> Callable[[Any, Any], Any]:
    """Import the handler module from its file (caller holds the lock and the function env)."""
    cache_key = (spec, spec.handler_path.stat().st_mtime_ns)
    module = _modules.get(cache_key)
    if module is None:
        folder = str(spec.handler_path.parent)
        if folder not in sys.path:
            sys.path.insert(0, folder)
        digest = hashlib.sha256(repr(cache_key).encode()).hexdigest()[:12]
        module_name = f"_lambda_{digest}_{spec.handler_path.stem}"
        import_spec = importlib.util.spec_from_file_location(module_name, spec.handler_path)
        if import_spec is None or import_spec.loader is None:
            raise ImportError(f"cannot import {spec.handler_path}")
        module = importlib.util.module_from_spec(import_spec)
        # Registered before executing, as a normal import does (dataclasses look the module up).
        sys.modules[module_name] = module
        try:
            import_spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(module_name, None)
            raise
        _modules[cache_key] = module
    function = getattr(module, spec.handler_name, None)
    if not callable(function):
        raise AttributeError(f"Handler '{spec.handler_name}' missing on module '{spec.handler_path.stem}'")
    return function  # type: ignore[no-any-return]


class _ThreadRoutedStream(io.TextIOBase):
    """Stands in for sys.stdout/stderr: the invoking thread's writes are captured, others pass through."""

    def __init__(self, original: Any, capture: list[str], thread_id: int) -> None:
        self._original = original
        self._capture = capture
        self._thread_id = thread_id

    def write(self, text: str) -> int:
        if threading.get_ident() == self._thread_id:
            self._capture.append(text)
        else:
            self._original.write(text)
        return len(text)

    def flush(self) -> None:
        if threading.get_ident() != self._thread_id:
            self._original.flush()


class _ThreadLogHandler(logging.Handler):
    """Catches logging records of the invoking thread that reach the root logger (Lambda's root handler)."""

    def __init__(self, capture: list[str], thread_id: int) -> None:
        super().__init__(logging.DEBUG)
        self._capture = capture
        self._thread_id = thread_id
        self.setFormatter(logging.Formatter("[%(levelname)s]\t%(asctime)s\t%(name)s\t%(message)s"))

    def filter(self, record: logging.LogRecord) -> bool:
        # Our own runtime's records are not the function's logs; neither are other threads'.
        return record.thread == self._thread_id and not record.name.startswith(__name__)

    def emit(self, record: logging.LogRecord) -> None:
        self._capture.append(self.format(record) + "\n")


@contextlib.contextmanager
def _captured_output(capture: list[str]) -> Iterator[None]:
    thread_id = threading.get_ident()
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout = _ThreadRoutedStream(stdout, capture, thread_id)  # type: ignore[assignment]
    sys.stderr = _ThreadRoutedStream(stderr, capture, thread_id)  # type: ignore[assignment]
    root = logging.getLogger()
    log_handler = _ThreadLogHandler(capture, thread_id)
    root.addHandler(log_handler)
    try:
        yield
    finally:
        root.removeHandler(log_handler)
        sys.stdout, sys.stderr = stdout, stderr


# --- CloudWatch Logs ------------------------------------------------------------------------------------


def _clients_kwargs(env: Mapping[str, str], fallback_endpoint: str | None, region: str) -> dict[str, Any]:
    endpoint = env.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL") or fallback_endpoint
    kwargs: dict[str, Any] = {"region_name": region, "config": Config(retries={"max_attempts": 2, "mode": "standard"})}
    if endpoint:
        kwargs["endpoint_url"] = endpoint
    for name, arg in (("AWS_ACCESS_KEY_ID", "aws_access_key_id"), ("AWS_SECRET_ACCESS_KEY", "aws_secret_access_key")):
        if env.get(name):
            kwargs[arg] = env[name]
    return kwargs


class _LogSink:
    """Writes a function's log lines to its CloudWatch log group, one stream per invocation batch."""

    def __init__(self, spec: FunctionSpec, client_kwargs: dict[str, Any]) -> None:
        self._spec = spec
        self._logs = boto3.client("logs", **client_kwargs)
        self._group_ready = False

    @staticmethod
    def new_stream_name() -> str:
        # Lambda's shape: date/[version]execution-environment-id
        return f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"

    def write(self, stream: str, lines: list[tuple[int, str]]) -> None:
        if not lines:
            return
        try:
            if not self._group_ready:
                with contextlib.suppress(self._logs.exceptions.ResourceAlreadyExistsException):
                    self._logs.create_log_group(logGroupName=self._spec.log_group)
                self._group_ready = True
            self._logs.create_log_stream(logGroupName=self._spec.log_group, logStreamName=stream)
            events = [{"timestamp": ts, "message": message} for ts, message in lines]
            for start in range(0, len(events), 1000):
                self._logs.put_log_events(
                    logGroupName=self._spec.log_group, logStreamName=stream, logEvents=events[start : start + 1000]
                )
        except (ClientError, BotoCoreError) as exc:
            # Losing logs must never fail the invocation (as on AWS); keep them in our own log instead.
            log.warning("could not write %d log line(s) of %s to CloudWatch: %s", len(lines), self._spec.name, exc)


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class InvocationResult:
    request_id: str
    log_stream: str
    duration_ms: float
    response: Any = None
    error: BaseException | None = None
    timed_out: bool = False

    @property
    def succeeded(self) -> bool:
        return self.error is None and not self.timed_out


def _account_from_arn(arn: str | None) -> str:
    parts = (arn or "").split(":")
    return parts[4] if len(parts) > 4 and parts[4] else DEFAULT_ACCOUNT


def _run_invocation(spec: FunctionSpec, sink: _LogSink, event: Any, account: str) -> InvocationResult:
    """One invocation: cold/warm module, the function env, captured logs, START/END/REPORT, CloudWatch."""
    request_id = str(uuid.uuid4())
    stream = sink.new_stream_name()
    captured: list[str] = []
    lines: list[tuple[int, str]] = [(_now_ms(), f"START RequestId: {request_id} Version: $LATEST")]
    context = LambdaContext(
        function_name=spec.name,
        invoked_function_arn=f"arn:aws:lambda:{spec.region}:{account}:function:{spec.name}",
        memory_limit_in_mb=spec.memory_mb,
        aws_request_id=request_id,
        log_group_name=spec.log_group,
        log_stream_name=stream,
        timeout_seconds=spec.timeout_seconds,
    )
    result = InvocationResult(request_id=request_id, log_stream=stream, duration_ms=0.0)
    started = time.monotonic()
    with _INVOCATION_LOCK, overlaid_environ(spec.runtime_env(stream)), _captured_output(captured):
        try:
            function = _load_handler(spec)
            # Lambda passes a JSON document and serializes the response: so do we.
            response = function(json.loads(json.dumps(event)), context)
            result.response = json.loads(json.dumps(response)) if response is not None else None
        except Exception as exc:
            result.error = exc
            error_document = {
                "errorMessage": str(exc),
                "errorType": type(exc).__name__,
                "requestId": request_id,
                "stackTrace": traceback.format_tb(exc.__traceback__),
            }
            captured.append(f"[ERROR] {type(exc).__name__}: {exc}\n{json.dumps(error_document)}\n")
    result.duration_ms = (time.monotonic() - started) * 1000
    stamp = _now_ms()
    lines += [(stamp, line) for line in "".join(captured).splitlines() if line.strip()]
    if result.duration_ms > spec.timeout_seconds * 1000:
        result.timed_out = True
        lines.append(
            (
                stamp,
                f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%S.%fZ} {request_id} "
                f"Task timed out after {spec.timeout_seconds:.2f} seconds",
            )
        )
    lines.append((stamp, f"END RequestId: {request_id}"))
    billed = int(-(-result.duration_ms // 1))
    lines.append(
        (
            stamp,
            f"REPORT RequestId: {request_id}\tDuration: {result.duration_ms:.2f} ms\tBilled Duration: {billed} ms\t"
            f"Memory Size: {spec.memory_mb} MB",
        )
    )
    sink.write(stream, lines)
    for _, line in lines:
        log.debug("[%s] %s", spec.name, line)
    return result


# CloudWatch writers of directly invoked functions, reused like their warm modules.
_invoke_sinks: dict[tuple[FunctionSpec, str | None], _LogSink] = {}


def invoke(
    handler_path: Path,
    handler_name: str,
    event: dict[str, Any],
    function_env: dict[str, str],
    *,
    timeout_seconds: int = MAX_TIMEOUT_SECONDS,
    memory_mb: int = DEFAULT_MEMORY_MB,
    function_name: str | None = None,
) -> object:
    """Run a handler once with `event` (an EventBridge target, a direct invoke); re-raises its exception.

    The timeout defaults to Lambda's maximum: callers that know the function's configured timeout pass it.
    """
    spec = FunctionSpec.create(handler_path, handler_name, function_env, timeout_seconds, memory_mb, function_name)
    endpoint = spec.env.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL")
    sink = _invoke_sinks.get((spec, endpoint))
    if sink is None:
        sink = _invoke_sinks[(spec, endpoint)] = _LogSink(spec, _clients_kwargs(spec.env, None, spec.region))
    result = _run_invocation(spec, sink, event, _account_from_arn(function_env.get("AWS_LAMBDA_FUNCTION_ARN")))
    if result.error is not None:
        raise result.error
    if result.timed_out:
        raise TimeoutError(f"Task timed out after {spec.timeout_seconds} seconds")
    return result.response


# --- the SQS event source mapping -------------------------------------------------------------------------


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
        "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message.get("Body", "").encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


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


class SqsEventSourceMapping:
    """A poller thread that feeds an SQS queue's messages to a Lambda handler, like AWS's event source mapping."""

    def __init__(
        self,
        queue_url: str,
        handler_path: Path,
        handler_name: str,
        function_env: dict[str, str],
        batch_size: int,
        visibility_timeout: int,
        max_receive_count: int,
        *,
        report_batch_item_failures: bool = True,
        timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS,
        memory_mb: int = DEFAULT_MEMORY_MB,
        function_name: str | None = None,
        batching_window_seconds: float = 0.0,
    ) -> None:
        if not 1 <= batch_size <= 10_000:
            raise ValueError(f"batch_size must be 1..10000, got {batch_size}")
        if batch_size > 10 and batching_window_seconds < 1:
            raise ValueError("a batch_size above 10 needs a batching window of at least 1 s (as Lambda requires)")
        self.queue_url = queue_url
        self.spec = FunctionSpec.create(
            handler_path, handler_name, function_env, timeout_seconds, memory_mb, function_name
        )
        self.batch_size = batch_size
        self.visibility_timeout = visibility_timeout
        self.max_receive_count = max_receive_count
        self.report_batch_item_failures = report_batch_item_failures
        self.batching_window_seconds = batching_window_seconds
        split = urlsplit(queue_url)
        client_kwargs = _clients_kwargs(self.spec.env, f"{split.scheme}://{split.netloc}", self.spec.region)
        self._sqs = boto3.client("sqs", **client_kwargs)
        self._sink = _LogSink(self.spec, client_kwargs)
        self._queue_arn = ""
        self._stop = threading.Event()
        self._busy = threading.Event()
        self._thread: threading.Thread | None = None
        # The latest invocations, for tests and diagnosis (bounded: `local up` may run for days).
        self.invocations: deque[InvocationResult] = deque(maxlen=1000)

    @property
    def queue_arn(self) -> str:
        if not self._queue_arn:
            attributes = self._sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])
            self._queue_arn = attributes["Attributes"]["QueueArn"]
        return self._queue_arn

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._check_queue()
        self._stop.clear()
        self._thread = threading.Thread(target=self._poll_loop, name=f"esm-{self.spec.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop polling; a batch being handled finishes first (its messages are deleted or left to retry)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _check_queue(self) -> None:
        """Warn when the queue disagrees with what the mapping was told: the queue's settings are what count."""
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["RedrivePolicy", "VisibilityTimeout"]
        ).get("Attributes", {})
        if int(attributes.get("VisibilityTimeout", self.visibility_timeout)) != self.visibility_timeout:
            log.warning(
                "queue %s has a visibility timeout of %s s, the mapping was told %d s",
                self.queue_url,
                attributes.get("VisibilityTimeout"),
                self.visibility_timeout,
            )
        policy = attributes.get("RedrivePolicy")
        if not policy:
            log.warning("queue %s has no redrive policy: failed messages retry until they expire", self.queue_url)
            return
        configured = int(json.loads(policy).get("maxReceiveCount", 0))
        if configured != self.max_receive_count:
            log.warning(
                "queue %s redrives after %d receives, the mapping was told %d",
                self.queue_url,
                configured,
                self.max_receive_count,
            )

    # The queue counts messages in flight, so "empty" covers what we received but have not finished with.
    def queue_depth(self) -> int:
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        return sum(int(value) for value in attributes.values())

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
        while len(messages) < self.batch_size and not self._stop.is_set():
            wait = LONG_POLL_SECONDS if not messages else 0
            response = self._sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(MAX_MESSAGES_PER_RECEIVE, self.batch_size - len(messages)),
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
                window_ends = time.monotonic() + self.batching_window_seconds
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
                log.exception("event source mapping for %s: polling failed", self.spec.name)
                self._stop.wait(1.0)
            finally:
                self._busy.clear()

    def _handle_batch(self, messages: list[dict[str, Any]]) -> InvocationResult:
        region = self.queue_arn.split(":")[3]
        event = {"Records": [sqs_event_record(message, self.queue_arn, region) for message in messages]}
        batch_ids = [message["MessageId"] for message in messages]
        result = _run_invocation(self.spec, self._sink, event, _account_from_arn(self.queue_arn))
        self.invocations.append(result)
        log.info(
            "%s: %d message(s) in %.0f ms%s",
            self.spec.name,
            len(messages),
            result.duration_ms,
            "" if result.succeeded else f", failed: {result.error or 'timed out'}",
        )
        if not result.succeeded:
            log.info(
                "%s failed (%s): %d message(s) return after the visibility timeout",
                self.spec.name,
                result.error,
                len(messages),
            )
            return result
        failed: set[str] = set()
        if self.report_batch_item_failures:
            try:
                failed = failed_message_ids(result.response, batch_ids)
            except InvalidBatchResponse as exc:
                log.warning("%s: %s: the whole batch counts as failed", self.spec.name, exc)
                return result
        to_delete = [message for message in messages if message["MessageId"] not in failed]
        for start in range(0, len(to_delete), 10):
            chunk = to_delete[start : start + 10]
            response = self._sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
            for failure in response.get("Failed", []):
                log.warning("%s: could not delete a handled message: %s", self.spec.name, failure)
        if failed:
            log.info("%s: %d of %d message(s) reported as failed", self.spec.name, len(failed), len(messages))
        return result
