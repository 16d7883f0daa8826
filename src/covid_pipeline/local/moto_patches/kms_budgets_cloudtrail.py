"""KMS key rotation periods, Budgets subscribers and tags, CloudTrail lookups by name or ARN."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

# --- KMS key rotation ------------------------------------------------------------------------------------------

DEFAULT_ROTATION_PERIOD_DAYS = 365


def patch_kms_rotation_period() -> None:
    """AWS: EnableKeyRotation takes RotationPeriodInDays (90-2560, default 365) and GetKeyRotationStatus returns
    it with KeyId and NextRotationDate. moto ignores the period and returns only KeyRotationEnabled, so the
    provider reads rotation_period_in_days back as 0 and plans a change after every apply."""
    import time

    from moto.kms.exceptions import ValidationException
    from moto.kms.models import KmsBackend
    from moto.kms.responses import KmsResponse

    original_enable = KmsBackend.enable_key_rotation

    def enable_key_rotation(self: Any, key_id: str, rotation_period_in_days: int | None = None) -> None:
        period = DEFAULT_ROTATION_PERIOD_DAYS if rotation_period_in_days is None else int(rotation_period_in_days)
        if not 90 <= period <= 2560:
            raise ValidationException("RotationPeriodInDays must be between 90 and 2560")
        original_enable(self, key_id)
        key = self.keys[self.get_key_id(key_id)]
        key.rotation_period_in_days = period
        key.next_rotation_date = time.time() + period * 86400

    def enable_key_rotation_response(self: Any) -> str:
        key_id = self._get_param("KeyId")
        self._validate_cmk_id(key_id)
        self.kms_backend.enable_key_rotation(key_id, self._get_param("RotationPeriodInDays"))
        return json.dumps(None)

    def get_key_rotation_status_response(self: Any) -> str:
        key_id = self._get_param("KeyId")
        self._validate_cmk_id(key_id)
        key = self.kms_backend.keys[self.kms_backend.get_key_id(key_id)]
        status: dict[str, Any] = {"KeyId": key.id, "KeyRotationEnabled": bool(key.key_rotation_status)}
        if key.key_rotation_status:
            status["RotationPeriodInDays"] = getattr(key, "rotation_period_in_days", DEFAULT_ROTATION_PERIOD_DAYS)
            status["NextRotationDate"] = getattr(key, "next_rotation_date", time.time())
        return json.dumps(status)

    KmsBackend.enable_key_rotation = enable_key_rotation  # type: ignore[method-assign]
    KmsResponse.enable_key_rotation = enable_key_rotation_response  # type: ignore[method-assign]
    KmsResponse.get_key_rotation_status = get_key_rotation_status_response  # type: ignore[method-assign]


# --- Budgets -----------------------------------------------------------------------------------------------------


def _notification_key(notification: Mapping[str, Any]) -> tuple[str, str, float, str]:
    # The API identifies a notification by these four fields (ThresholdType defaults to PERCENTAGE).
    return (
        str(notification.get("NotificationType")),
        str(notification.get("ComparisonOperator")),
        float(notification.get("Threshold", 0)),
        str(notification.get("ThresholdType") or "PERCENTAGE"),
    )


def patch_budgets_subscribers_and_tags() -> None:
    """AWS Budgets answers DescribeSubscribersForNotification, CreateSubscriber/DeleteSubscriber and the tagging
    calls (budgets are taggable: CreateBudget's ResourceTags, ListTagsForResource). moto answers 500 to all of
    them ("not implemented"), so the provider retried DescribeSubscribersForNotification until its timeout and
    aws_budgets_budget never finished; moto also dropped ResourceTags."""
    from moto.budgets.exceptions import NotFoundException
    from moto.budgets.models import BudgetsBackend
    from moto.budgets.responses import BudgetsResponse

    def budget_of(response: Any) -> Any:
        backend = response.backend
        account_id, name = response._get_param("AccountId"), response._get_param("BudgetName")
        budget = backend.budgets[account_id].get(name)
        if budget is None:
            raise NotFoundException(f"Unable to get budget: {name} - the budget doesn't exist.")
        return budget

    def notification_of(response: Any, budget: Any, field: str = "Notification") -> Any:
        wanted = _notification_key(response._get_param(field))
        for notification in budget.notifications:
            if _notification_key(notification.details) == wanted:
                return notification
        raise NotFoundException("Unable to find the notification - the notification doesn't exist.")

    def describe_subscribers_for_notification(self: Any) -> str:
        notification = notification_of(self, budget_of(self))
        return json.dumps({"Subscribers": list(notification.subscribers)})

    def create_subscriber(self: Any) -> str:
        notification = notification_of(self, budget_of(self))
        notification.subscribers = [*notification.subscribers, self._get_param("Subscriber")]
        return json.dumps({})

    def delete_subscriber(self: Any) -> str:
        notification = notification_of(self, budget_of(self))
        gone = self._get_param("Subscriber")
        notification.subscribers = [entry for entry in notification.subscribers if entry != gone]
        return json.dumps({})

    def update_subscriber(self: Any) -> str:
        notification = notification_of(self, budget_of(self))
        old, new = self._get_param("OldSubscriber"), self._get_param("NewSubscriber")
        notification.subscribers = [new if entry == old else entry for entry in notification.subscribers]
        return json.dumps({})

    def update_notification(self: Any) -> str:
        notification = notification_of(self, budget_of(self), "OldNotification")
        notification.details = self._get_param("NewNotification")
        return json.dumps({})

    def update_budget(self: Any) -> str:
        new = self._get_param("NewBudget")
        budget = self.backend.budgets[self._get_param("AccountId")].get(new["BudgetName"])
        if budget is None:
            raise NotFoundException(f"Unable to update budget: {new['BudgetName']} - the budget doesn't exist.")
        kept = {key: budget.budget[key] for key in ("TimePeriod",) if key in budget.budget and key not in new}
        budget.budget = {**new, **kept, "LastUpdatedTime": budget.budget.get("LastUpdatedTime")}
        return json.dumps({})

    def tag_store(backend: Any) -> dict[tuple[str, str], dict[str, str]]:
        # Budgets' tags, kept on the backend so that a reset of moto drops them with the budgets.
        store: dict[tuple[str, str], dict[str, str]] = backend.__dict__.setdefault("resource_tags", {})
        return store

    def tags_of(backend: Any, arn: str) -> dict[str, str]:
        # arn:aws:budgets::<account>:budget/<name>
        account_id, name = arn.split(":", 5)[4], arn.split("budget/", 1)[-1]
        if name not in backend.budgets[account_id]:
            raise NotFoundException(f"Unable to find the resource {arn}")
        return tag_store(backend).setdefault((account_id, name), {})

    def list_tags_for_resource(self: Any) -> str:
        tags = tags_of(self.backend, self._get_param("ResourceARN"))
        return json.dumps({"ResourceTags": [{"Key": key, "Value": value} for key, value in sorted(tags.items())]})

    def tag_resource(self: Any) -> str:
        tags = tags_of(self.backend, self._get_param("ResourceARN"))
        tags.update({tag["Key"]: tag["Value"] for tag in self._get_param("ResourceTags", [])})
        return json.dumps({})

    def untag_resource(self: Any) -> str:
        tags = tags_of(self.backend, self._get_param("ResourceARN"))
        for key in self._get_param("ResourceTagKeys", []):
            tags.pop(key, None)
        return json.dumps({})

    original_create = BudgetsResponse.create_budget

    def create_budget(self: Any) -> str:
        result = original_create(self)
        account_id, name = self._get_param("AccountId"), self._get_param("Budget")["BudgetName"]
        tags = self._get_param("ResourceTags") or []
        tag_store(self.backend)[(account_id, name)] = {tag["Key"]: tag["Value"] for tag in tags}
        return str(result)

    original_delete = BudgetsBackend.delete_budget

    def delete_budget(self: Any, account_id: str, budget_name: str) -> None:
        original_delete(self, account_id, budget_name)
        tag_store(self).pop((account_id, budget_name), None)

    for name, method in {
        "describe_subscribers_for_notification": describe_subscribers_for_notification,
        "create_subscriber": create_subscriber,
        "delete_subscriber": delete_subscriber,
        "update_subscriber": update_subscriber,
        "update_notification": update_notification,
        "update_budget": update_budget,
        "list_tags_for_resource": list_tags_for_resource,
        "tag_resource": tag_resource,
        "untag_resource": untag_resource,
        "create_budget": create_budget,
    }.items():
        setattr(BudgetsResponse, name, method)
    BudgetsBackend.delete_budget = delete_budget  # type: ignore[method-assign]


# --- CloudTrail ----------------------------------------------------------------------------------------------------


def patch_cloudtrail_trail_lookups() -> None:
    """DescribeTrails with ``trailNameList`` returns only the named trails, as AWS does (a name matches a trail of
    this region, an ARN any trail of the account: shadow trails of multi-region trails included); moto ignores the
    list and returns every trail, so the provider's read of one trail fails with "too many results" as soon as two
    environments share the local cloud. DeleteTrail takes a name or an ARN (the provider deletes by ARN, its id);
    moto deletes by name only and silently keeps the trail."""
    from moto.cloudtrail.models import CloudTrailBackend
    from moto.cloudtrail.responses import CloudTrailResponse

    def describe_trails(self: Any) -> str:
        include_shadow_trails = self._get_bool_param("includeShadowTrails", True)
        trails = list(self.cloudtrail_backend.describe_trails(include_shadow_trails))
        wanted = self._get_param("trailNameList") or []
        if wanted:
            region = self.cloudtrail_backend.region_name
            trails = [
                trail
                for trail in trails
                if trail.arn in wanted or (trail.trail_name in wanted and trail.region_name == region)
            ]
        return json.dumps({"trailList": [t.description(include_region=True) for t in trails]})

    CloudTrailResponse.describe_trails = describe_trails  # type: ignore[method-assign]

    delete_trail = CloudTrailBackend.delete_trail

    def delete_trail_by_name_or_arn(self: Any, name: str) -> None:
        for trail_name, trail in list(self.trails.items()):
            if trail.arn == name:
                name = trail_name
        delete_trail(self, name)

    CloudTrailBackend.delete_trail = delete_trail_by_name_or_arn  # type: ignore[method-assign]
