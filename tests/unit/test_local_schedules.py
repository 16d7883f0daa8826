"""The local cloud's EventBridge schedules: when rate and cron expressions fire (a due rule's targets getting the
"Scheduled Event" from a moto server: tests/component/test_local_schedules_fire.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from covid_pipeline.local.schedules import ScheduleExpressionError, next_fire

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
