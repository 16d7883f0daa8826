"""EventBridge's delivery for the local cloud: an event is matched against the rules of the default bus, as
Terraform created them in the emulator, and handed to each matching rule's targets.

moto stores rules and targets and matches patterns, but cannot run a Lambda target without Docker. Here a Lambda
target gets an asynchronous invocation through the local Lambda runtime (Lambda's retries, then the
function's dead-letter queue), and SQS or SNS targets get the event as their message body. Patterns are matched with
moto's own matcher, so a rule matches locally exactly what it matches in the emulator's PutEvents.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from covid_pipeline.local.lambda_runtime import LambdaService

log = logging.getLogger(__name__)

ClientFactory = Callable[[str], Any]
DEFAULT_BUS = "default"


@dataclass(frozen=True)
class Delivery:
    rule: str
    target_arn: str


def event_envelope(source: str, detail_type: str, detail: dict[str, Any], region: str, account: str) -> dict[str, Any]:
    """An event as EventBridge delivers it to targets."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": account,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [],
        "detail": detail,
    }


class EventBus:
    """Routes events to the targets of the default bus's matching rules."""

    def __init__(self, client: ClientFactory, lambdas: LambdaService) -> None:
        self._client = client
        self._lambdas = lambdas

    def _rules(self) -> list[dict[str, Any]]:
        events = self._client("events")
        rules = []
        for page in events.get_paginator("list_rules").paginate(EventBusName=DEFAULT_BUS):
            rules += [rule for rule in page.get("Rules", []) if rule.get("State") == "ENABLED"]
        return rules

    def put(self, event: dict[str, Any]) -> list[Delivery]:
        """Deliver one event; returns where it went (asynchronous Lambda invocations are queued, not awaited)."""
        from moto.events.models import EventPattern

        deliveries = []
        for rule in self._rules():
            if not rule.get("EventPattern") or not EventPattern.load(rule["EventPattern"]).matches_event(event):  # type: ignore[arg-type]
                continue
            deliveries += self.deliver_to_rule(rule["Name"], event)
        return deliveries

    def deliver_to_rule(self, rule: str, event: dict[str, Any]) -> list[Delivery]:
        """Hand an event to every target of one rule (a matched pattern, or a schedule that is due)."""
        targets = self._client("events").list_targets_by_rule(Rule=rule, EventBusName=DEFAULT_BUS).get("Targets", [])
        for target in targets:
            self._deliver(rule, target, event)
        return [Delivery(rule, target["Arn"]) for target in targets]

    def _deliver(self, rule: str, target: dict[str, Any], event: dict[str, Any]) -> None:
        arn = str(target["Arn"])
        payload = json.loads(target["Input"]) if target.get("Input") else event
        try:
            if arn.startswith("arn:aws:lambda:"):
                # Delivery to Lambda always succeeds here (no throttling), so the target's own dead-letter queue,
                # which is for events EventBridge cannot deliver, stays empty; function errors go through Lambda's
                # asynchronous retries to the function's dead-letter queue.
                self._lambdas.invoke_async(arn.split(":")[6], payload)
            elif arn.startswith("arn:aws:sqs:"):
                sqs = self._client("sqs")
                url = sqs.get_queue_url(QueueName=arn.split(":")[5], QueueOwnerAWSAccountId=arn.split(":")[4])
                sqs.send_message(QueueUrl=url["QueueUrl"], MessageBody=json.dumps(payload))
            elif arn.startswith("arn:aws:sns:"):
                self._client("sns").publish(TopicArn=arn, Message=json.dumps(payload))
            else:
                log.warning("rule %s: target type of %s is not delivered locally", rule, arn)
        except (ClientError, BotoCoreError):
            log.exception("rule %s: could not deliver to %s", rule, arn)
