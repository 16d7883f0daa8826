"""What is deployed, as the local Lambda runtime reads it: a function's configuration through the Lambda API, its
code and layers from the emulator (unpacked once per code hash), its log group; and the errors an invocation ends in."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import logging
import shutil
import site
import time
import uuid
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

log = logging.getLogger(__name__)


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


def base64_sha256(data: bytes) -> str:
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


def unpack(data: bytes, target: Path) -> Path:
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


class LogSink:
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


def now_ms() -> int:
    return int(time.time() * 1000)
