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
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import logging
import os
import queue
import secrets
import shutil
import site
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

log = logging.getLogger(__name__)

ClientFactory = Callable[[str], Any]

BOOTSTRAP = Path(__file__).with_name("lambda_bootstrap.py")
# AWS caps one ReceiveMessage at 10 messages; short polls keep stop() responsive.
MAX_MESSAGES_PER_RECEIVE = 10
LONG_POLL_SECONDS = 1
# Lambda's asynchronous invocation retries a failed function twice; AWS waits about 1 and 2 minutes between.
ASYNC_RETRY_ATTEMPTS = 2
# Variables of this process that a sandbox keeps (the rest of its environment is the function's own).
_INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "JAVA_HOME", "SPARK_LOCAL_IP")


class InvalidBatchResponse(ValueError):
    """A ReportBatchItemFailures response that Lambda treats as a failure of the whole batch."""


class FunctionError(RuntimeError):
    """The function raised (or its module failed to load): Lambda's FunctionError 'Unhandled'."""

    def __init__(self, function: str, error: Mapping[str, Any]) -> None:
        self.error_type = str(error.get("errorType", "Error"))
        self.error_message = str(error.get("errorMessage", ""))
        super().__init__(f"{function}: {self.error_type}: {self.error_message}")


class FunctionTimeout(FunctionError):
    def __init__(self, function: str, seconds: int) -> None:
        super().__init__(
            function, {"errorType": "Sandbox.Timedout", "errorMessage": f"Task timed out after {seconds}.00 seconds"}
        )


# --- what is deployed ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeployedFunction:
    """A function as GetFunctionConfiguration describes it: what the runtime needs to run it."""

    name: str
    arn: str
    handler: str
    runtime: str
    timeout_seconds: int
    memory_mb: int
    environment: tuple[tuple[str, str], ...]
    code_sha256: str
    layers: tuple[str, ...]
    dead_letter_arn: str | None
    log_group: str
    revision: str

    @classmethod
    def from_configuration(cls, configuration: Mapping[str, Any]) -> DeployedFunction:
        name = str(configuration["FunctionName"])
        variables = (configuration.get("Environment") or {}).get("Variables") or {}
        logging_config = configuration.get("LoggingConfig") or {}
        return cls(
            name=name,
            arn=str(configuration["FunctionArn"]).split(":$LATEST")[0],
            handler=str(configuration.get("Handler") or ""),
            runtime=str(configuration.get("Runtime") or ""),
            timeout_seconds=int(configuration.get("Timeout") or 3),
            memory_mb=int(configuration.get("MemorySize") or 128),
            environment=tuple(sorted((str(k), str(v)) for k, v in variables.items())),
            code_sha256=str(configuration.get("CodeSha256") or ""),
            layers=tuple(str(layer["Arn"]) for layer in configuration.get("Layers") or []),
            dead_letter_arn=(configuration.get("DeadLetterConfig") or {}).get("TargetArn"),
            log_group=str(logging_config.get("LogGroup") or f"/aws/lambda/{name}"),
            revision=str(configuration.get("RevisionId") or configuration.get("LastModified") or ""),
        )

    @property
    def region(self) -> str:
        return self.arn.split(":")[3]

    @property
    def account(self) -> str:
        return self.arn.split(":")[4]

    @property
    def env(self) -> dict[str, str]:
        return dict(self.environment)


def _base64_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


class EmulatorCode:
    """Function and layer zips as the in-process emulator holds them (moto keeps the bytes it was given)."""

    def function_zip(self, function: DeployedFunction) -> bytes:
        from moto.awslambda.models import lambda_backends

        deployed = lambda_backends[function.account][function.region].get_function(function.name)
        return bytes(deployed.code_bytes)

    def layer_zip(self, layer_arn: str) -> bytes:
        from moto.awslambda.models import lambda_backends

        account, region = layer_arn.split(":")[4], layer_arn.split(":")[3]
        layer = lambda_backends[account][region].layers_versions_by_arn(layer_arn)
        if layer is None:
            raise FunctionError(layer_arn, {"errorType": "ResourceNotFoundException", "errorMessage": "no such layer"})
        return bytes(layer.code_bytes)


def _unpack(data: bytes, target: Path) -> Path:
    """Unpack a zip once into ``target`` (named by its hash, so a finished folder never changes)."""
    if target.is_dir():
        return target
    staging = target.with_name(f"{target.name}.{uuid.uuid4().hex}.tmp")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for member in archive.infolist():
            # Zip members are names from a deployment package: never let one escape its folder.
            destination = (staging / member.filename).resolve()
            if not destination.is_relative_to(staging.resolve()):
                raise ValueError(f"zip member {member.filename!r} points outside the package")
        archive.extractall(staging)
    try:
        staging.rename(target)
    except OSError:  # another thread unpacked the same hash first
        shutil.rmtree(staging, ignore_errors=True)
    return target


def runtime_paths() -> list[str]:
    """The libraries the runtime provides (boto3 on AWS): this machine's site-packages, without .pth additions."""
    return [path for path in site.getsitepackages() if Path(path).is_dir()]


# --- CloudWatch Logs -------------------------------------------------------------------------------------------


class _LogSink:
    """Writes a function's log lines to its CloudWatch log group."""

    def __init__(self, logs: Any, group: str, function: str) -> None:
        self._logs = logs
        self._group = group
        self._function = function
        self._streams: set[str] = set()

    def write(self, stream: str, lines: list[tuple[int, str]]) -> None:
        if not lines:
            return
        try:
            if stream not in self._streams:
                with contextlib.suppress(self._logs.exceptions.ResourceAlreadyExistsException):
                    self._logs.create_log_group(logGroupName=self._group)
                with contextlib.suppress(self._logs.exceptions.ResourceAlreadyExistsException):
                    self._logs.create_log_stream(logGroupName=self._group, logStreamName=stream)
                self._streams.add(stream)
            events = [{"timestamp": ts, "message": message} for ts, message in lines]
            for start in range(0, len(events), 1000):
                self._logs.put_log_events(
                    logGroupName=self._group, logStreamName=stream, logEvents=events[start : start + 1000]
                )
        except (ClientError, BotoCoreError) as exc:
            # Losing logs must never fail the invocation (as on AWS); keep them in our own log instead.
            log.warning("could not write %d log line(s) of %s to CloudWatch: %s", len(lines), self._function, exc)


def _now_ms() -> int:
    return int(time.time() * 1000)


# --- one invocation and its sandbox ------------------------------------------------------------------------


@dataclass
class InvocationResult:
    request_id: str
    log_stream: str
    duration_ms: float
    response: Any = None
    error: FunctionError | None = None

    @property
    def succeeded(self) -> bool:
        return self.error is None

    @property
    def timed_out(self) -> bool:
        return isinstance(self.error, FunctionTimeout)


class Sandbox:
    """One warm execution environment of one function version: a bootstrap child process."""

    def __init__(self, function: DeployedFunction, task_dir: Path, layer_dirs: list[Path], env: Mapping[str, str]):
        self.function = function
        self.log_stream = f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"
        self._token = f"\x1e{secrets.token_hex(8)}"
        self._lines: queue.Queue[tuple[int, str] | None] = queue.Queue()
        sandbox_env = {key: os.environ[key] for key in _INHERITED if key in os.environ}
        sandbox_env.update(env)
        sandbox_env.update(function.env)
        # Lambda's reserved variables win over the function's own.
        sandbox_env.update(
            {
                "AWS_LAMBDA_FUNCTION_NAME": function.name,
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
                "AWS_LAMBDA_LOG_GROUP_NAME": function.log_group,
                "AWS_LAMBDA_LOG_STREAM_NAME": self.log_stream,
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.runtime}",
                "AWS_REGION": function.region,
                "AWS_DEFAULT_REGION": function.region,
                "LAMBDA_TASK_ROOT": str(task_dir),
                "LAMBDA_LAYER_PATHS": os.pathsep.join(str(path) for path in layer_dirs),
                "LAMBDA_RUNTIME_PATHS": os.pathsep.join(runtime_paths()),
                "LAMBDA_RESULT_TOKEN": self._token,
                "PYTHONDONTWRITEBYTECODE": "1",
                "PYTHONUNBUFFERED": "1",
                "_HANDLER": function.handler,
            }
        )
        self._process = subprocess.Popen(
            [sys.executable, "-S", str(BOOTSTRAP)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=sandbox_env,
            cwd=task_dir,
            text=True,
            bufsize=1,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, name=f"lambda-{function.name}-log", daemon=True)
        self._reader.start()

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self._lines.put((_now_ms(), line.rstrip("\n")))
        self._lines.put(None)

    def invoke(self, event: Any, context: dict[str, Any], timeout: float) -> tuple[dict[str, Any] | None, list]:
        """Send one event; return (outcome, log lines), outcome None when the function ran out of time or died."""
        assert self._process.stdin is not None
        lines: list[tuple[int, str]] = []
        try:
            self._process.stdin.write(json.dumps({"event": event, "context": context}) + "\n")
            self._process.stdin.flush()
        except (BrokenPipeError, OSError):
            return None, lines
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                item = self._lines.get(timeout=max(remaining, 0.001))
            except queue.Empty:
                self.stop()
                return None, lines
            if item is None:  # the process ended (a crash, or os._exit in the handler)
                return None, lines
            stamp, text = item
            if text.startswith(self._token):
                return json.loads(text[len(self._token) :]), lines
            lines.append((stamp, text))

    def stop(self) -> None:
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, 9)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout=10)


class LambdaService:
    """The functions deployed in the emulator, run in local sandboxes (see the module docstring)."""

    def __init__(
        self,
        client: ClientFactory,
        work_dir: Path,
        sandbox_env: Mapping[str, str],
        code: EmulatorCode | None = None,
        async_retry_delays: tuple[float, ...] = (1.0, 2.0),
    ) -> None:
        self._client = client
        self.work_dir = work_dir
        self.sandbox_env = dict(sandbox_env)
        self._code = code or EmulatorCode()
        self._sandboxes: dict[str, Sandbox] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._sinks: dict[str, _LogSink] = {}
        self.async_retry_delays = async_retry_delays
        self._async = ThreadPoolExecutor(max_workers=4, thread_name_prefix="lambda-async")
        self._pending = 0
        self._pending_changed = threading.Condition()
        # The latest invocations, for tests and diagnosis (bounded: `local up` may run for days).
        self.invocations: deque[tuple[str, InvocationResult]] = deque(maxlen=1000)
        self.async_failures: deque[tuple[str, Any, str]] = deque(maxlen=1000)

    def describe(self, name: str) -> DeployedFunction:
        configuration = self._client("lambda").get_function_configuration(FunctionName=name)
        return DeployedFunction.from_configuration(configuration)

    def _lock(self, name: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(name, threading.Lock())

    def _sandbox(self, function: DeployedFunction) -> Sandbox:
        current = self._sandboxes.get(function.name)
        if current is not None and current.alive and current.function == function:
            return current
        if current is not None:
            current.stop()
        code = self._code.function_zip(function)
        if function.code_sha256 and _base64_sha256(code) != function.code_sha256:
            raise FunctionError(function.name, {"errorType": "CodeMismatch", "errorMessage": "code hash differs"})
        digest = hashlib.sha256(code).hexdigest()[:20]
        task_dir = _unpack(code, self.work_dir / "functions" / f"{function.name}-{digest}")
        layer_dirs = []
        for arn in function.layers:
            data = self._code.layer_zip(arn)
            layer_dir = _unpack(data, self.work_dir / "layers" / hashlib.sha256(data).hexdigest()[:20])
            # Lambda puts /opt/python and /opt/python/lib/pythonX.Y/site-packages on sys.path.
            version = function.runtime.removeprefix("python") or "3.11"
            layer_dirs += [layer_dir / "python", layer_dir / "python" / "lib" / f"python{version}" / "site-packages"]
        sandbox = Sandbox(function, task_dir, [path for path in layer_dirs if path.is_dir()], self.sandbox_env)
        self._sandboxes[function.name] = sandbox
        return sandbox

    def _sink(self, function: DeployedFunction) -> _LogSink:
        sink = self._sinks.get(function.log_group)
        if sink is None:
            sink = self._sinks[function.log_group] = _LogSink(self._client("logs"), function.log_group, function.name)
        return sink

    def invoke(self, name: str, event: Any) -> InvocationResult:
        """A synchronous (RequestResponse) invocation; the result carries the function's error, if any."""
        with self._lock(name):
            function = self.describe(name)
            request_id = str(uuid.uuid4())
            started = time.monotonic()
            sandbox = self._sandbox(function)
            context = {
                "function_name": function.name,
                "invoked_function_arn": function.arn,
                "memory_limit_in_mb": function.memory_mb,
                "aws_request_id": request_id,
                "log_group_name": function.log_group,
                "log_stream_name": sandbox.log_stream,
                "timeout_ms": function.timeout_seconds * 1000,
            }
            lines = [(_now_ms(), f"START RequestId: {request_id} Version: $LATEST")]
            outcome, output = sandbox.invoke(json.loads(json.dumps(event)), context, function.timeout_seconds)
            lines += output
            result = InvocationResult(request_id, sandbox.log_stream, (time.monotonic() - started) * 1000)
            stamp = _now_ms()
            if outcome is None:
                if sandbox.alive:
                    sandbox.stop()
                timed_out = result.duration_ms >= function.timeout_seconds * 1000
                if timed_out:
                    result.error = FunctionTimeout(function.name, function.timeout_seconds)
                    lines.append(
                        (stamp, f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%S.%fZ} {request_id} {result.error.error_message}")
                    )
                else:
                    result.error = FunctionError(
                        function.name, {"errorType": "Runtime.ExitError", "errorMessage": "the runtime exited"}
                    )
                    lines.append((stamp, f"RequestId: {request_id} Error: Runtime exited without providing a reason"))
            elif "error" in outcome:
                result.error = FunctionError(function.name, outcome["error"])
                lines.append((stamp, f"[ERROR] {result.error.error_type}: {result.error.error_message}"))
                lines.append((stamp, json.dumps({**outcome["error"], "requestId": request_id})))
            else:
                result.response = outcome.get("response")
            lines.append((stamp, f"END RequestId: {request_id}"))
            billed = int(-(-result.duration_ms // 1))
            lines.append(
                (
                    stamp,
                    f"REPORT RequestId: {request_id}\tDuration: {result.duration_ms:.2f} ms\t"
                    f"Billed Duration: {billed} ms\tMemory Size: {function.memory_mb} MB",
                )
            )
            self._sink(function).write(sandbox.log_stream, lines)
            for _, line in lines:
                log.debug("[%s] %s", function.name, line)
            self.invocations.append((name, result))
            return result

    def invoke_async(self, name: str, event: Any, dead_letter_arn: str | None = None) -> None:
        """An asynchronous (Event) invocation: queued, retried after function errors, then dead-lettered."""
        with self._pending_changed:
            self._pending += 1
        self._async.submit(self._run_async, name, event, dead_letter_arn)

    def _run_async(self, name: str, event: Any, dead_letter_arn: str | None) -> None:
        try:
            self._attempt_async(name, event, dead_letter_arn)
        finally:
            with self._pending_changed:
                self._pending -= 1
                self._pending_changed.notify_all()

    def _attempt_async(self, name: str, event: Any, dead_letter_arn: str | None) -> None:
        error = ""
        for attempt in range(ASYNC_RETRY_ATTEMPTS + 1):
            if attempt:
                time.sleep(self.async_retry_delays[min(attempt, len(self.async_retry_delays)) - 1])
            try:
                result = self.invoke(name, event)
            except (ClientError, BotoCoreError, FunctionError, OSError) as exc:  # gone, or its code cannot load
                error = f"{type(exc).__name__}: {exc}"
                continue
            if result.succeeded:
                return
            error = str(result.error)
        log.warning("%s failed %d time(s) on an asynchronous event: %s", name, ASYNC_RETRY_ATTEMPTS + 1, error)
        self.async_failures.append((name, event, error))
        try:
            target = dead_letter_arn or self.describe(name).dead_letter_arn
        except (ClientError, BotoCoreError):
            target = dead_letter_arn
        if target:
            self._dead_letter(target, event, error)

    def _dead_letter(self, target_arn: str, event: Any, error: str) -> None:
        """What Lambda sends to a function's DLQ: the event, with the error as message attributes."""
        attributes = {"ErrorMessage": {"DataType": "String", "StringValue": error[:1024] or "unknown"}}
        try:
            if target_arn.startswith("arn:aws:sqs:"):
                sqs = self._client("sqs")
                url = sqs.get_queue_url(
                    QueueName=target_arn.split(":")[5], QueueOwnerAWSAccountId=target_arn.split(":")[4]
                )
                sqs.send_message(QueueUrl=url["QueueUrl"], MessageBody=json.dumps(event), MessageAttributes=attributes)
            elif target_arn.startswith("arn:aws:sns:"):
                self._client("sns").publish(
                    TopicArn=target_arn, Message=json.dumps(event), MessageAttributes=attributes
                )
        except (ClientError, BotoCoreError):
            log.exception("could not dead-letter an event to %s", target_arn)

    def wait_async(self, timeout: float = 60.0) -> bool:
        """Block until every queued asynchronous invocation has finished, retries included."""
        with self._pending_changed:
            return self._pending_changed.wait_for(lambda: self._pending == 0, timeout)

    def stop(self) -> None:
        self._async.shutdown(wait=True, cancel_futures=False)
        for sandbox in list(self._sandboxes.values()):
            sandbox.stop()
        self._sandboxes.clear()


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
