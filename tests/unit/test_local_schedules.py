"""The local cloud's EventBridge schedules: when rate and cron expressions fire, and a due rule's targets getting
the "Scheduled Event" (a real SQS target in a moto server; the clock is the test's)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from covid_pipeline.local.event_bus import EventBus
from covid_pipeline.local.schedules import ScheduleExpressionError, Schedules, next_fire

pytest_plugins = ["tests.moto_fixture"]  # moto_endpoint

T0 = datetime(2026, 12, 3, 14, 7, 30, tzinfo=UTC)  # a Thursday


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("rate(1 minute)", datetime(2026, 12, 3, 14, 8, 30, tzinfo=UTC)),
        ("rate(2 hours)", datetime(2026, 12, 3, 16, 7, 30, tzinfo=UTC)),
        ("rate(1 day)", datetime(2026, 12, 4, 14, 7, 30, tzinfo=UTC)),
        ("cron(30 6 * * ? *)", datetime(2026, 12, 4, 6, 30, tzinfo=UTC)),
        ("cron(0 6,18 * * ? *)", datetime(2026, 12, 3, 18, 0, tzinfo=UTC)),
        ("cron(0/15 * * * ? *)", datetime(2026, 12, 3, 14, 15, tzinfo=UTC)),
        ("cron(0 9 ? * MON-FRI *)", datetime(2026, 12, 4, 9, 0, tzinfo=UTC)),  # Friday
        ("cron(0 9 ? * 1 *)", datetime(2026, 12, 6, 9, 0, tzinfo=UTC)),  # 1 is Sunday
        ("cron(0 0 1 JAN ? *)", datetime(2027, 1, 1, 0, 0, tzinfo=UTC)),
    ],
)
def test_next_fire(expression: str, expected: datetime) -> None:
    assert next_fire(expression, T0) == expected


@pytest.mark.parametrize(
    "expression", ["rate(1 minutes)", "rate(0 days)", "cron(0 6 * * * *)", "cron(0 6 L * ? *)", "every day"]
)
def test_expressions_eventbridge_refuses_or_we_do_not_run(expression: str) -> None:
    with pytest.raises(ScheduleExpressionError):
        next_fire(expression, T0)


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
