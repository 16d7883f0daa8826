"""The local Lambda service: one warm sandbox per function (a bootstrap child process), synchronous and asynchronous
invocations (retries, then the dead-letter queue), logs framed by START/END/REPORT and the function's timeout."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import queue
import secrets
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from covid_pipeline.local.lambda_deployed import (
    DeployedFunction,
    EmulatorCode,
    FunctionError,
    FunctionTimeout,
    LogSink,
    base64_sha256,
    now_ms,
    runtime_paths,
    unpack,
)

log = logging.getLogger(__name__)

ClientFactory = Callable[[str], Any]

BOOTSTRAP = Path(__file__).with_name("lambda_bootstrap.py")
# Lambda's asynchronous invocation retries a failed function twice; AWS waits about 1 and 2 minutes between.
ASYNC_RETRY_ATTEMPTS = 2
# Variables of this process that a sandbox keeps (the rest of its environment is the function's own).
_INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "JAVA_HOME", "SPARK_LOCAL_IP")


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
            self._lines.put((now_ms(), line.rstrip("\n")))
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
        self._sinks: dict[str, LogSink] = {}
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
        if function.code_sha256 and base64_sha256(code) != function.code_sha256:
            raise FunctionError(function.name, {"errorType": "CodeMismatch", "errorMessage": "code hash differs"})
        digest = hashlib.sha256(code).hexdigest()[:20]
        task_dir = unpack(code, self.work_dir / "functions" / f"{function.name}-{digest}")
        layer_dirs = []
        for arn in function.layers:
            data = self._code.layer_zip(arn)
            layer_dir = unpack(data, self.work_dir / "layers" / hashlib.sha256(data).hexdigest()[:20])
            # Lambda puts /opt/python and /opt/python/lib/pythonX.Y/site-packages on sys.path.
            version = function.runtime.removeprefix("python") or "3.11"
            layer_dirs += [layer_dir / "python", layer_dir / "python" / "lib" / f"python{version}" / "site-packages"]
        sandbox = Sandbox(function, task_dir, [path for path in layer_dirs if path.is_dir()], self.sandbox_env)
        self._sandboxes[function.name] = sandbox
        return sandbox

    def _sink(self, function: DeployedFunction) -> LogSink:
        sink = self._sinks.get(function.log_group)
        if sink is None:
            sink = self._sinks[function.log_group] = LogSink(self._client("logs"), function.log_group, function.name)
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
            lines = [(now_ms(), f"START RequestId: {request_id} Version: $LATEST")]
            outcome, output = sandbox.invoke(json.loads(json.dumps(event)), context, function.timeout_seconds)
            lines += output
            result = InvocationResult(request_id, sandbox.log_stream, (time.monotonic() - started) * 1000)
            stamp = now_ms()
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
