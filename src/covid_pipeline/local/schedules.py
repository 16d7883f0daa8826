"""EventBridge schedules for the local cloud: rules with a ``ScheduleExpression`` (``rate(...)`` or ``cron(...)``),
as Terraform created them in the emulator, fire their targets on time with the "Scheduled Event" AWS sends.

moto stores scheduled rules but never fires them. Here each enabled rule gets its next fire time when the cloud
first sees it (a rate rule one period later, a cron rule at its next matching minute, UTC), and at that time the
event goes to the rule's targets through the same delivery as pattern rules (covid_pipeline.local.event_bus).
Like AWS, ticks missed while the cloud was down are not caught up. Cron follows AWS's six fields (minutes hours
day-of-month month day-of-week year; ``*``, ``?``, lists, ranges, ``/`` steps, month and day names; day-of-week 1
is Sunday); the ``L``, ``W`` and ``#`` forms are refused with a message, not guessed.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from covid_pipeline.local.event_bus import DEFAULT_BUS, EventBus, event_envelope

log = logging.getLogger(__name__)

ClientFactory = Callable[[str], Any]
RULES_REFRESH_SECONDS = 10.0
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_MONTHS = {name: n for n, name in enumerate(_MONTH_NAMES, start=1)}
_DAYS = {name: n for n, name in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], start=1)}
# (lowest, highest, names) of each cron field.
_FIELDS: tuple[tuple[int, int, dict[str, int]], ...] = (
    (0, 59, {}),
    (0, 23, {}),
    (1, 31, {}),
    (1, 12, _MONTHS),
    (1, 7, _DAYS),
    (1970, 2199, {}),
)
MAX_CRON_SEARCH_DAYS = 366 * 5


class ScheduleExpressionError(ValueError):
    """A schedule expression EventBridge would refuse, or a form the local cloud does not run."""


def _cron_field(text: str, low: int, high: int, names: dict[str, int]) -> frozenset[int] | None:
    """The values one cron field allows; None for ``*`` / ``?`` (anything)."""
    if text in ("*", "?"):
        return None
    values: set[int] = set()
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            step = int(step_text)
        if part in ("*", "?"):
            first, last = low, high
        elif "-" in part:
            first_text, last_text = part.split("-", 1)
            first, last = (
                names.get(first_text.upper()) or int(first_text),
                names.get(last_text.upper()) or int(last_text),
            )
        else:
            first = names.get(part.upper()) or int(part)
            last = high if step != 1 else first
        if not (low <= first <= high and low <= last <= high) or step < 1:
            raise ScheduleExpressionError(f"cron field {text!r} is outside {low}-{high}")
        values.update(range(first, last + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int] | None
    hours: frozenset[int] | None
    days_of_month: frozenset[int] | None
    months: frozenset[int] | None
    days_of_week: frozenset[int] | None  # 1 = Sunday
    years: frozenset[int] | None

    def matches_day(self, day: datetime) -> bool:
        weekday = (day.weekday() + 1) % 7 + 1  # Python: Monday 0 -> AWS: Sunday 1
        return all(
            allowed is None or value in allowed
            for allowed, value in (
                (self.days_of_month, day.day),
                (self.months, day.month),
                (self.days_of_week, weekday),
                (self.years, day.year),
            )
        )


def parse_cron(body: str) -> Cron:
    fields = body.split()
    if len(fields) != 6:
        raise ScheduleExpressionError(f"cron({body}) must have six fields, it has {len(fields)}")
    try:
        values = [_cron_field(text, low, high, names) for text, (low, high, names) in zip(fields, _FIELDS, strict=True)]
    except ScheduleExpressionError:
        raise
    except ValueError as exc:  # int() of a form not handled here (L, W, #)
        raise ScheduleExpressionError(f"cron({body}): {exc} (the L, W and # forms are not run locally)") from None
    if fields[2] != "?" and fields[4] != "?":
        raise ScheduleExpressionError(f"cron({body}): day-of-month or day-of-week must be '?' (EventBridge's rule)")
    return Cron(*values)


def next_fire(expression: str, after: datetime) -> datetime:
    """The first time after ``after`` (UTC) the expression fires: a rate one period later, a cron at its next
    matching minute."""
    rate = _RATE.match(expression.strip())
    if rate:
        amount, unit = int(rate.group(1)), rate.group(2).rstrip("s")
        if amount < 1 or (amount == 1) != (not rate.group(2).endswith("s")):
            raise ScheduleExpressionError(f"{expression}: use the singular unit for 1 and the plural otherwise")
        return after + timedelta(seconds=amount * _UNIT_SECONDS[unit])
    if not (expression.startswith("cron(") and expression.endswith(")")):
        raise ScheduleExpressionError(f"{expression!r} is neither rate(...) nor cron(...)")
    cron = parse_cron(expression[len("cron(") : -1])
    start = after.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    day = start.replace(hour=0, minute=0)
    for _ in range(MAX_CRON_SEARCH_DAYS):
        if cron.matches_day(day):
            for hour in sorted(cron.hours) if cron.hours is not None else range(24):
                for minute in sorted(cron.minutes) if cron.minutes is not None else range(60):
                    candidate = day.replace(hour=hour, minute=minute)
                    if candidate >= start:
                        return candidate
        day += timedelta(days=1)
    raise ScheduleExpressionError(f"{expression} does not fire in the next {MAX_CRON_SEARCH_DAYS} days")


class Schedules:
    """Fires the scheduled rules of the default bus on time; ``tick()`` is called about every second."""

    def __init__(self, client: ClientFactory, bus: EventBus, now: Callable[[], datetime] | None = None) -> None:
        self._client = client
        self._bus = bus
        self._now = now or (lambda: datetime.now(UTC))
        self._next: dict[str, tuple[str, datetime]] = {}  # rule name -> (expression, next fire time)
        self._rules: list[dict[str, Any]] = []
        self._rules_read_at: datetime | None = None
        self._lock = threading.Lock()
        self.fired: list[tuple[str, datetime]] = []

    def _scheduled_rules(self, now: datetime) -> list[dict[str, Any]]:
        if self._rules_read_at is None or (now - self._rules_read_at).total_seconds() >= RULES_REFRESH_SECONDS:
            rules: list[dict[str, Any]] = []
            for page in self._client("events").get_paginator("list_rules").paginate(EventBusName=DEFAULT_BUS):
                rules += [
                    r for r in page.get("Rules", []) if r.get("ScheduleExpression") and r.get("State") == "ENABLED"
                ]
            self._rules, self._rules_read_at = rules, now
        return self._rules

    def next_fire_times(self) -> dict[str, datetime]:
        return {name: when for name, (_, when) in self._next.items()}

    def tick(self) -> list[str]:
        """Fire every rule that is due; returns their names."""
        with self._lock:
            now = self._now()
            fired = []
            rules = self._scheduled_rules(now)
            for rule in rules:
                name, expression = str(rule["Name"]), str(rule["ScheduleExpression"])
                known = self._next.get(name)
                if known is None or known[0] != expression:
                    try:
                        self._next[name] = (expression, next_fire(expression, now))
                    except ScheduleExpressionError as exc:
                        log.warning("rule %s: %s; it will not fire locally", name, exc)
                        self._next[name] = (expression, datetime.max.replace(tzinfo=UTC))
                    continue
                due = known[1]
                if due > now:
                    continue
                following = next_fire(expression, due)
                while following <= now:  # missed ticks (the cloud was down) are not caught up, as on AWS
                    due, following = following, next_fire(expression, following)
                self._next[name] = (expression, following)
                self._fire(rule, due)
                fired.append(name)
            current = {str(rule["Name"]) for rule in rules}
            for gone in set(self._next) - current:
                del self._next[gone]
            return fired

    def _fire(self, rule: dict[str, Any], when: datetime) -> None:
        arn = str(rule["Arn"])
        event = event_envelope("aws.events", "Scheduled Event", {}, arn.split(":")[3], arn.split(":")[4])
        event["time"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        event["resources"] = [arn]
        deliveries = self._bus.deliver_to_rule(str(rule["Name"]), event)
        self.fired.append((str(rule["Name"]), when))
        log.info("schedule %s fired for %s: %d target(s)", rule["Name"], event["time"], len(deliveries))
