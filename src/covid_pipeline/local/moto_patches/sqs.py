"""SQS: SetQueueAttributes changes only what it is given; RedriveAllowPolicy; SSE-KMS reads back as such."""

from __future__ import annotations

import json
from typing import Any


def patch_sqs_queue_attributes() -> None:
    """AWS SetQueueAttributes changes only the attributes it is given, knows RedriveAllowPolicy, and reads back a
    queue encrypted with a KMS key as SqsManagedSseEnabled=false (SSE-KMS replaces SSE-SQS); RedrivePolicy comes
    back as compact JSON. moto: every SetQueueAttributes without a Policy deletes the queue's policy (so a
    redrive-allow policy set after the queue policy silently removed it), RedriveAllowPolicy is refused as an
    unknown attribute, and SqsManagedSseEnabled stays true next to a KMS key."""
    from moto.sqs.exceptions import InvalidParameterValue
    from moto.sqs.models import Queue

    Queue.BASE_ATTRIBUTES = [*Queue.BASE_ATTRIBUTES, "RedriveAllowPolicy"]
    Queue.redrive_allow_policy = None  # type: ignore[attr-defined]
    original_set = Queue._set_attributes
    original_attributes = Queue.attributes

    def _set_attributes(self: Any, attributes: dict[str, Any], now: float | None = None) -> None:
        attributes = dict(attributes)
        creating = "_policy_json" not in self.__dict__  # Queue.__init__ sets it last
        if "RedriveAllowPolicy" in attributes:
            self.redrive_allow_policy = _redrive_allow_policy(
                attributes.pop("RedriveAllowPolicy"), InvalidParameterValue
            )
        if not creating and "Policy" not in attributes:
            attributes["Policy"] = self.policy  # kept, not deleted
        if attributes.get("KmsMasterKeyId"):
            # A KMS key means SSE-KMS, which replaces SSE-SQS (moto's creation defaults always say SSE-SQS).
            attributes["SqsManagedSseEnabled"] = False
        elif not creating and str(attributes.get("SqsManagedSseEnabled", "")).lower() == "true":
            attributes["KmsMasterKeyId"] = None  # and the other way round
        original_set(self, attributes, now)

    def attributes(self: Any) -> dict[str, Any]:
        result = dict(original_attributes.fget(self))  # type: ignore[attr-defined]
        if self.redrive_policy:
            result["RedrivePolicy"] = json.dumps(self.redrive_policy, separators=(",", ":"))
        if self.redrive_allow_policy:
            result["RedriveAllowPolicy"] = self.redrive_allow_policy
        else:
            result.pop("RedriveAllowPolicy", None)
        return result

    Queue._set_attributes = _set_attributes  # type: ignore[method-assign]
    Queue.attributes = property(attributes)  # type: ignore[assignment,method-assign]


def _redrive_allow_policy(value: Any, error: type[Exception]) -> str | None:
    """RedriveAllowPolicy as AWS stores it (compact JSON), after AWS's own checks."""
    if value in (None, ""):
        return None
    try:
        policy = json.loads(value) if isinstance(value, str) else dict(value)
    except (TypeError, ValueError):
        raise error("RedriveAllowPolicy is not valid JSON") from None
    permission = policy.get("redrivePermission")
    if permission not in ("allowAll", "denyAll", "byQueue"):
        raise error("Value for parameter redrivePermission is invalid")
    sources = policy.get("sourceQueueArns")
    if permission == "byQueue" and not (isinstance(sources, list) and 1 <= len(sources) <= 10):
        raise error("Value for parameter sourceQueueArns is invalid: byQueue needs 1 to 10 queue ARNs")
    if permission != "byQueue" and sources:
        raise error("sourceQueueArns can only be set when redrivePermission is byQueue")
    return json.dumps(policy, separators=(",", ":"))
