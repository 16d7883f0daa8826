"""Metric math for the local alarm evaluator: the expressions terraform/monitoring.tf's alarms use, on hand-written
series (one value per period, oldest first; None = no datapoint)."""

from __future__ import annotations

import pytest

from covid_pipeline.local.metric_math import UnsupportedExpression, evaluate

SERIES = {"raw": [None, 2.0, 0.0], "async": [1.0, None, 0.0], "e_a": [0.0, 1.0, None], "e_b": [None, 3.0, None]}


def test_sum_of_two_queues_is_missing_where_either_is_missing() -> None:
    assert evaluate("raw + async", SERIES, ["raw", "async"], 3) == [None, None, 0.0]


def test_sum_of_metrics_adds_the_series_that_have_a_value() -> None:
    assert evaluate("SUM(METRICS())", SERIES, ["e_a", "e_b"], 3) == [0.0, 4.0, None]


def test_max_of_filled_series_and_a_scaled_one() -> None:
    series = {"running": [None, 90_000.0, None], "finished": [None, None, 1900.0]}
    assert evaluate("MAX([FILL(running, 0) / 1000, FILL(finished, 0)])", series, list(series), 3) == [0.0, 90.0, 1900.0]


def test_division_by_zero_is_a_missing_period() -> None:
    assert evaluate("raw / async", {"raw": [1.0, 2.0], "async": [0.0, 4.0]}, [], 2) == [None, 0.5]


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("ANOMALY_DETECTION_BAND(raw)", "function ANOMALY_DETECTION_BAND"),
        ("nope + 1", "unknown id 'nope'"),
        ("raw +", "cannot parse"),
    ],
)
def test_what_is_not_implemented_is_named(expression: str, message: str) -> None:
    with pytest.raises(UnsupportedExpression, match=message):
        evaluate(expression, SERIES, ["raw"], 3)
