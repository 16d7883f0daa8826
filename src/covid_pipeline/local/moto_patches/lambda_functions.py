"""Lambda: DeadLetterConfig and LoggingConfig read back as AWS does, and no function run by moto itself (the local
Lambda runtime runs them)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)


def _default_logging_config(function_name: str, given: Mapping[str, Any] | None) -> dict[str, Any]:
    """LoggingConfig as GetFunction returns it: Text to /aws/lambda/<name> unless set; JSON adds the log levels."""
    config: dict[str, Any] = {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{function_name}", **dict(given or {})}
    if config["LogFormat"] == "JSON":
        config.setdefault("ApplicationLogLevel", "INFO")
        config.setdefault("SystemLogLevel", "INFO")
    return config


def patch_lambda_configuration() -> None:
    """AWS: GetFunction/GetFunctionConfiguration return the function's DeadLetterConfig (when set) and its
    LoggingConfig (always: Text to /aws/lambda/<name> by default), and UpdateFunctionConfiguration changes them.
    moto drops both, so the provider plans to add dead_letter_config and logging_config after every apply."""
    from moto.awslambda.models import LambdaFunction

    original_init = LambdaFunction.__init__
    original_configuration = LambdaFunction.get_configuration
    original_update = LambdaFunction.update_configuration

    def __init__(self: Any, account_id: str, spec: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        original_init(self, account_id, spec, *args, **kwargs)
        self.dead_letter_config = spec.get("DeadLetterConfig") or None
        self.logging_config = _default_logging_config(self.function_name, spec.get("LoggingConfig"))

    def get_configuration(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        config = dict(original_configuration(self, *args, **kwargs))
        dead_letter = getattr(self, "dead_letter_config", None)
        if dead_letter and dead_letter.get("TargetArn"):
            config["DeadLetterConfig"] = dead_letter
        config["LoggingConfig"] = getattr(self, "logging_config", None) or _default_logging_config(
            self.function_name, None
        )
        return config

    def update_configuration(self: Any, config_updates: dict[str, Any]) -> dict[str, Any]:
        if "DeadLetterConfig" in config_updates:
            self.dead_letter_config = config_updates["DeadLetterConfig"] or None
        if "LoggingConfig" in config_updates:
            self.logging_config = _default_logging_config(self.function_name, config_updates["LoggingConfig"])
        return dict(original_update(self, config_updates))

    LambdaFunction.__init__ = __init__  # type: ignore[method-assign]
    LambdaFunction.get_configuration = get_configuration  # type: ignore[method-assign]
    LambdaFunction.update_configuration = update_configuration  # type: ignore[method-assign]


# --- what moto must not execute ----------------------------------------------------------------------------------


def patch_no_lambda_invocations() -> None:
    """The local cloud's Lambda runtime runs our functions: it polls the raw-events queue through the event source
    mapping Terraform created and delivers EventBridge events. moto must not act as a second Lambda service. AWS
    (here: our runtime) invokes functions; moto would, on every message added to a queue with a mapping, receive
    up to a batch itself (counting a receive, long-polling inside the sender's request), try to run the function
    in Docker and put the messages back, so they reach maxReceiveCount and the DLQ without ever being handled.
    Disabled: moto's SQS mapping poller (mappings are still recorded and listed), and its invocations for SNS
    subscriptions, S3 notifications and its own EventBridge notifications with Lambda targets."""
    from moto.awslambda.models import LambdaBackend
    from moto.sqs.models import Queue

    # Queue.add_message walks this dict to invoke mappings; an always-empty one keeps it from ever doing so,
    # while ListEventSourceMappings/GetEventSourceMapping (the Lambda backend's own records) are unchanged.
    Queue.lambda_event_source_mappings = property(  # type: ignore[assignment]
        lambda self: {}, lambda self, value: None
    )

    def send_sns_message(self: Any, *args: Any, **kwargs: Any) -> None:
        log.debug("moto's SNS -> Lambda delivery skipped: the local Lambda runtime invokes functions")

    LambdaBackend.send_sns_message = send_sns_message  # type: ignore[method-assign]

    import moto.events.notifications as events_notifications
    import moto.s3.notifications as s3_notifications

    def skip_invoke(*args: Any, **kwargs: Any) -> None:
        log.debug("moto's Lambda invocation skipped: the local Lambda runtime invokes functions")

    events_notifications._invoke_lambda = skip_invoke  # type: ignore[assignment]
    s3_notifications._invoke_awslambda = skip_invoke  # type: ignore[assignment]
