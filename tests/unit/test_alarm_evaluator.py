"""The local alarm evaluator's decisions on hand-written datapoints (CloudWatch's documented rules)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from covid_pipeline.local.alarm_evaluator import decide_state, period_values

DQ_LOW = {"ComparisonOperator": "LessThanThreshold", "Threshold": 0.9, "EvaluationPeriods": 1}
FAILURES = {"ComparisonOperator": "GreaterThanOrEqualToThreshold", "Threshold": 1, "EvaluationPeriods": 1}


def test_value_below_threshold_alarms():
    decision = decide_state(DQ_LOW, [0.82])
    assert decision.state == "ALARM"
    assert "0.82" in decision.reason and "< 0.9" in decision.reason


def test_value_at_threshold_is_ok_for_strict_comparison():
    assert decide_state(DQ_LOW, [0.9]).state == "OK"


def test_greater_or_equal_breaches_at_threshold():
    assert decide_state(FAILURES, [1.0]).state == "ALARM"
    assert decide_state(FAILURES, [0.0]).state == "OK"


@pytest.mark.parametrize(
    ("treat_missing", "current", "expected"),
    [
        ("notBreaching", "ALARM", "OK"),
        ("breaching", "OK", "ALARM"),
        ("missing", "INSUFFICIENT_DATA", "INSUFFICIENT_DATA"),
        ("missing", "ALARM", "ALARM"),
        ("ignore", "OK", "OK"),
    ],
)
def test_missing_data_follows_treat_missing_data(treat_missing, current, expected):
    alarm = {**FAILURES, "TreatMissingData": treat_missing}
    assert decide_state(alarm, [None], current).state == expected


def test_m_out_of_n():
    alarm = {**FAILURES, "EvaluationPeriods": 3, "DatapointsToAlarm": 2}
    assert decide_state(alarm, [1.0, 0.0, 0.0]).state == "OK"
    assert decide_state(alarm, [1.0, 0.0, 1.0]).state == "ALARM"
    # only the last EvaluationPeriods values count
    assert decide_state(alarm, [1.0, 1.0, 0.0, 0.0, 1.0]).state == "OK"


def test_unsupported_comparison_is_not_guessed():
    decision = decide_state({"ComparisonOperator": "LessThanLowerOrGreaterThanUpperThreshold", "Threshold": 1}, [5.0])
    assert decision.state == "INSUFFICIENT_DATA"
    assert "not evaluated locally" in decision.reason


def test_period_values_buckets_datapoints_oldest_first():
    start = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    points = [
        {"Timestamp": start + timedelta(seconds=30), "Sum": 1.0},
        {"Timestamp": start + timedelta(seconds=90), "Sum": 2.0},
        {"Timestamp": start + timedelta(seconds=100), "Sum": 3.0},
        {"Timestamp": start + timedelta(seconds=400), "Sum": 9.0},  # outside the 3 x 60 s window
    ]
    assert period_values(points, "Sum", start, 60, 3) == [1.0, 5.0, None]


def test_period_values_combines_minimum():
    start = datetime(2026, 1, 1, tzinfo=UTC)
    points = [{"Timestamp": start, "Minimum": 0.95}, {"Timestamp": start + timedelta(seconds=5), "Minimum": 0.7}]
    assert period_values(points, "Minimum", start, 300, 1) == [0.7]
