"""CloudWatch alarm evaluation for the local cloud.

moto stores alarms but never evaluates them. This module does what CloudWatch does for
metric alarms: take the last EvaluationPeriods periods of the metric's statistic, count
the breaching datapoints, apply DatapointsToAlarm ("M out of N") and TreatMissingData,
and set the state with SetAlarmState. On a transition it publishes the same JSON message
CloudWatch sends to the alarm's SNS actions, so the alerts inbox sees alarms locally too.

`decide_state` is pure (tested on hand-written datapoints); `evaluate_alarms` is the I/O edge.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from covid_pipeline.local import metric_math

log = logging.getLogger(__name__)

COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanOrEqualToThreshold": lambda value, threshold: value >= threshold,
    "GreaterThanThreshold": lambda value, threshold: value > threshold,
    "LessThanThreshold": lambda value, threshold: value < threshold,
    "LessThanOrEqualToThreshold": lambda value, threshold: value <= threshold,
}
SYMBOLS = {
    "GreaterThanOrEqualToThreshold": ">=",
    "GreaterThanThreshold": ">",
    "LessThanThreshold": "<",
    "LessThanOrEqualToThreshold": "<=",
}


@dataclass(frozen=True)
class Decision:
    state: str  # OK | ALARM | INSUFFICIENT_DATA
    reason: str
    breaching: int
    evaluated: int


def decide_state(
    alarm: Mapping[str, Any],
    values: Sequence[float | None],
    current_state: str = "INSUFFICIENT_DATA",
) -> Decision:
    """State of an alarm given one value per evaluation period, oldest first (None = no datapoint).

    Follows CloudWatch's documented rules: a period breaches when value <op> threshold; ALARM
    when at least DatapointsToAlarm of the EvaluationPeriods breach; missing periods follow
    TreatMissingData (missing: ignored - all missing keeps the state, or INSUFFICIENT_DATA when
    never evaluated; breaching/notBreaching: counted as such; ignore: current state kept).
    """
    operator = str(alarm.get("ComparisonOperator", ""))
    if operator not in COMPARISONS:
        return Decision("INSUFFICIENT_DATA", f"comparison {operator or '?'} is not evaluated locally", 0, 0)
    threshold = float(alarm["Threshold"])
    periods = int(alarm.get("EvaluationPeriods") or 1)
    needed = int(alarm.get("DatapointsToAlarm") or periods)
    treat_missing = str(alarm.get("TreatMissingData") or "missing")
    recent: list[float | None] = list(values)[-periods:]
    missing: list[float | None] = [None] * (periods - len(recent))
    window = missing + recent
    compare = COMPARISONS[operator]

    breaching = 0
    evaluated = 0
    for value in window:
        if value is None:
            if treat_missing == "breaching":
                breaching += 1
                evaluated += 1
            elif treat_missing == "notBreaching":
                evaluated += 1
            continue
        evaluated += 1
        if compare(float(value), threshold):
            breaching += 1

    present = [v for v in window if v is not None]
    shown = ", ".join(f"{v:g}" for v in present[-5:])
    symbol = SYMBOLS[operator]
    if not present and evaluated:  # only filled-in periods: say so rather than list no values
        state = "ALARM" if breaching >= needed else "OK"
        return Decision(
            state, f"no datapoints in {periods} period(s), missing data is {treat_missing}", breaching, evaluated
        )
    if evaluated == 0:
        if treat_missing == "ignore" or (treat_missing == "missing" and current_state != "INSUFFICIENT_DATA"):
            return Decision(current_state, f"no datapoints in {periods} period(s): state kept", 0, 0)
        return Decision("INSUFFICIENT_DATA", f"no datapoints in the last {periods} period(s)", 0, 0)
    if breaching >= needed:
        return Decision(
            "ALARM",
            f"Threshold Crossed: {breaching} of {periods} datapoint(s) [{shown}] {symbol} {threshold:g}",
            breaching,
            evaluated,
        )
    return Decision(
        "OK",
        f"Threshold not crossed: {breaching} of {periods} datapoint(s) [{shown}] {symbol} {threshold:g} "
        f"(needs {needed})",
        breaching,
        evaluated,
    )


@dataclass(frozen=True)
class MetricStat:
    """One metric's statistic per period: what GetMetricStatistics is asked for."""

    namespace: str
    metric_name: str
    dimensions: tuple[tuple[str, str], ...]
    statistic: str
    period: int


@dataclass(frozen=True)
class AlarmQuery:
    """What an alarm watches: its metric statistics by id, and how the evaluated series comes from them (the id of
    a statistic, or a metric math expression)."""

    stats: dict[str, MetricStat]
    returned: str
    expression: str | None
    period: int


def alarm_query(alarm: Mapping[str, Any]) -> AlarmQuery | None:
    """The query of a single-metric alarm, or of a metric math alarm (its ``Metrics``); None when neither."""
    if alarm.get("MetricName"):
        stat = MetricStat(
            str(alarm["Namespace"]),
            str(alarm["MetricName"]),
            tuple((d["Name"], d["Value"]) for d in alarm.get("Dimensions") or []),
            str(alarm.get("Statistic") or "Average"),
            int(alarm.get("Period") or 60),
        )
        return AlarmQuery({"m1": stat}, "m1", None, stat.period)
    stats: dict[str, MetricStat] = {}
    returned: tuple[str, str | None] | None = None
    for query in alarm.get("Metrics") or []:
        if query.get("MetricStat"):
            stat_spec = query["MetricStat"]
            metric = stat_spec["Metric"]
            stats[query["Id"]] = MetricStat(
                str(metric["Namespace"]),
                str(metric["MetricName"]),
                tuple((d["Name"], d["Value"]) for d in metric.get("Dimensions") or []),
                str(stat_spec["Stat"]),
                int(stat_spec["Period"]),
            )
        if query.get("ReturnData"):
            returned = (query["Id"], query.get("Expression"))
    if not stats or returned is None:
        return None
    return AlarmQuery(stats, returned[0], returned[1], max(stat.period for stat in stats.values()))


def period_values(
    datapoints: Sequence[Mapping[str, Any]], statistic: str, start: datetime, period: int, periods: int
) -> list[float | None]:
    """Bucket GetMetricStatistics datapoints into the evaluation periods (oldest first)."""
    values: list[float | None] = [None] * periods
    for point in datapoints:
        stamp = point["Timestamp"]
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=UTC)
        index = int((stamp - start).total_seconds() // period)
        if 0 <= index < periods and statistic in point:
            value = float(point[statistic])
            previous = values[index]
            # Two datapoints in one period (moto does not always aggregate): combine as the statistic would.
            if previous is None:
                values[index] = value
            elif statistic in {"Sum", "SampleCount"}:
                values[index] = previous + value
            elif statistic == "Maximum":
                values[index] = max(previous, value)
            elif statistic == "Minimum":
                values[index] = min(previous, value)
            else:
                values[index] = (previous + value) / 2
    return values


@dataclass(frozen=True)
class AlarmEvaluation:
    name: str
    previous_state: str
    decision: Decision

    @property
    def changed(self) -> bool:
        return self.previous_state != self.decision.state


def evaluate_alarms(
    cloudwatch: Any,
    sns: Any | None = None,
    now: datetime | None = None,
    alarm_names: Sequence[str] | None = None,
) -> list[AlarmEvaluation]:
    """Evaluate every metric alarm (or the named ones) and set states that changed."""
    now = now or datetime.now(UTC)
    kwargs: dict[str, Any] = {"AlarmTypes": ["MetricAlarm"]}
    if alarm_names:
        kwargs["AlarmNames"] = list(alarm_names)
    alarms: list[dict[str, Any]] = []
    for page in cloudwatch.get_paginator("describe_alarms").paginate(**kwargs):
        alarms.extend(page.get("MetricAlarms", []))

    results = []
    for alarm in alarms:
        previous = str(alarm.get("StateValue") or "INSUFFICIENT_DATA")
        query = alarm_query(alarm)
        if query is None:
            decision = Decision(previous, "alarm without a metric statistic to evaluate: not evaluated locally", 0, 0)
            results.append(AlarmEvaluation(alarm["AlarmName"], previous, decision))
            continue
        periods = int(alarm.get("EvaluationPeriods") or 1)
        # The window ends just after `now`: timestamps travel with whole-second precision, so a datapoint put
        # a moment ago would otherwise fall after a truncated EndTime.
        end = now + timedelta(seconds=1)
        start = end - timedelta(seconds=query.period * periods)
        series = {
            query_id: _statistic_values(cloudwatch, stat, start, end, periods) for query_id, stat in query.stats.items()
        }
        if query.expression is None:
            values = series[query.returned]
        else:
            try:
                values = metric_math.evaluate(query.expression, series, list(query.stats), periods)
            except metric_math.UnsupportedExpression as exc:
                decision = Decision(previous, f"metric math not evaluated locally: {exc}", 0, 0)
                results.append(AlarmEvaluation(alarm["AlarmName"], previous, decision))
                continue
        decision = decide_state(alarm, values, previous)
        evaluation = AlarmEvaluation(alarm["AlarmName"], previous, decision)
        results.append(evaluation)
        # moto creates alarms as OK with "Unchecked: ..." (AWS: INSUFFICIENT_DATA); the first evaluation records
        # its reason even without a transition, later ones only on a transition, as CloudWatch does.
        never_evaluated = str(alarm.get("StateReason", "")).startswith("Unchecked")
        if evaluation.changed or never_evaluated:
            cloudwatch.set_alarm_state(
                AlarmName=alarm["AlarmName"], StateValue=decision.state, StateReason=decision.reason[:1023]
            )
        if evaluation.changed and sns is not None:
            _notify(sns, alarm, previous, decision, now)
    return results


def _statistic_values(
    cloudwatch: Any, stat: MetricStat, start: datetime, end: datetime, periods: int
) -> list[float | None]:
    response = cloudwatch.get_metric_statistics(
        Namespace=stat.namespace,
        MetricName=stat.metric_name,
        Dimensions=[{"Name": name, "Value": value} for name, value in stat.dimensions],
        StartTime=start,
        EndTime=end,
        Period=stat.period,
        Statistics=[stat.statistic],
    )
    return period_values(response.get("Datapoints", []), stat.statistic, start, stat.period, periods)


def _notify(sns: Any, alarm: Mapping[str, Any], previous: str, decision: Decision, now: datetime) -> None:
    """Publish CloudWatch's alarm message to the actions of the new state (as CloudWatch would)."""
    actions_key = {"ALARM": "AlarmActions", "OK": "OKActions", "INSUFFICIENT_DATA": "InsufficientDataActions"}
    if not alarm.get("ActionsEnabled", True):
        return
    message = {
        "AlarmName": alarm["AlarmName"],
        "AlarmDescription": alarm.get("AlarmDescription"),
        "NewStateValue": decision.state,
        "NewStateReason": decision.reason,
        "OldStateValue": previous,
        "StateChangeTime": now.isoformat(),
        "Region": "local",
        "Trigger": {
            "MetricName": alarm.get("MetricName"),
            "Namespace": alarm.get("Namespace"),
            "Statistic": alarm.get("Statistic"),
            "Period": alarm.get("Period"),
            "EvaluationPeriods": alarm.get("EvaluationPeriods"),
            "ComparisonOperator": alarm.get("ComparisonOperator"),
            "Threshold": alarm.get("Threshold"),
        },
    }
    for topic_arn in alarm.get(actions_key[decision.state], []) or []:
        if not str(topic_arn).startswith("arn:aws:sns:"):
            continue
        try:
            sns.publish(
                TopicArn=topic_arn,
                Subject=f'{decision.state}: "{alarm["AlarmName"]}"'[:100],
                Message=json.dumps(message, default=str),
            )
        except Exception as exc:  # an alarm action failing must not stop the evaluation of the others
            log.warning("alarm %s: publishing to %s failed: %s", alarm["AlarmName"], topic_arn, exc)
