"""The local cloud's EventBridge schedules firing a due rule's targets: a real SQS target in a moto server gets the
"Scheduled Event" (the clock is the test's; when expressions fire: tests/unit/test_local_schedules.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3

from covid_pipeline.local.event_bus import EventBus
from covid_pipeline.local.schedules import Schedules

pytest_plugins = ["tests.moto_fixture"]  # moto_endpoint

T0 = datetime(2026, 12, 3, 14, 7, 30, tzinfo=UTC)  # a Thursday


def test_a_due_rule_fires_its_targets_once_per_tick(moto_endpoint: str) -> None:
    events, sqs = boto3.client("events"), boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName="ticks")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="every-minute", ScheduleExpression="rate(1 minute)")
    events.put_targets(Rule="every-minute", Targets=[{"Id": "q", "Arn": queue_arn}])
    clock = [T0]
    clients = {"events": events, "sqs": sqs}
    schedules = Schedules(clients.__getitem__, EventBus(clients.__getitem__, None), now=lambda: clock[0])  # type: ignore[arg-type]
    assert schedules.tick() == []  # first seen: due one period later
    clock[0] = T0 + timedelta(seconds=59)
    assert schedules.tick() == []
    clock[0] = T0 + timedelta(seconds=61)
    assert schedules.tick() == ["every-minute"]
    assert schedules.tick() == []  # the same tick does not fire twice
    clock[0] = T0 + timedelta(minutes=10)  # missed ticks are not caught up
    assert schedules.tick() == ["every-minute"]
    bodies = [
        json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    ]
    assert sorted(b["time"] for b in bodies) == ["2026-12-03T14:08:30Z", "2026-12-03T14:17:30Z"]
    assert {(b["source"], b["detail-type"]) for b in bodies} == {("aws.events", "Scheduled Event")}
    assert schedules.next_fire_times() == {"every-minute": datetime(2026, 12, 3, 14, 18, 30, tzinfo=UTC)}
