"""Cost estimates: DPU-hours from a GetJobRun shape, minimum billing, per-day totals, storage."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from covid_pipeline.costs import (
    PRICES,
    cost_per_day,
    estimate_run_cost,
    min_billed_seconds,
    run_dpus,
    storage_cost,
)


def job_run(run_id: str, seconds: int, worker: str = "G.1X", workers: int = 2, day: int = 1) -> dict:
    return {
        "Id": run_id,
        "ExecutionTime": seconds,
        "WorkerType": worker,
        "NumberOfWorkers": workers,
        "StartedOn": datetime(2026, 3, day, 10, 0, tzinfo=UTC),
    }


def test_prices_name_their_source():
    assert PRICES["glue_dpu_hour"].usd == 0.44
    assert PRICES["s3_standard_gb_month"].usd == 0.023
    assert all(price.source for price in PRICES.values())


@pytest.mark.parametrize(
    ("worker", "workers", "expected"),
    [("G.1X", 2, 2.0), ("G.2X", 10, 20.0), ("G.025X", 2, 0.5), ("G.8X", 3, 24.0)],
)
def test_dpus_per_worker_type(worker, workers, expected):
    assert run_dpus(worker, workers) == expected


def test_dpus_fall_back_to_max_capacity_without_worker_type():
    assert run_dpus(None, None, max_capacity=0.0625) == 0.0625


def test_unknown_worker_type_is_a_clear_error():
    with pytest.raises(ValueError, match=r"unknown Glue worker type 'G\.3X'"):
        run_dpus("G.3X", 2)


def test_one_hour_on_two_g1x_workers_costs_two_dpu_hours():
    cost = estimate_run_cost(job_run("jr_a", 3600))
    assert cost.billed_seconds == 3600
    assert cost.dpu_hours == pytest.approx(2.0)
    assert cost.usd == pytest.approx(0.88)


def test_short_run_is_billed_one_minute_on_glue_5():
    cost = estimate_run_cost(job_run("jr_b", 20), glue_version="5.0")
    assert cost.billed_seconds == 60
    assert cost.usd == pytest.approx(60 / 3600 * 2 * 0.44)


def test_legacy_glue_bills_ten_minutes_minimum():
    assert min_billed_seconds("1.0") == 600
    assert min_billed_seconds("5.0") == 60
    assert estimate_run_cost(job_run("jr_c", 30), glue_version="0.9").billed_seconds == 600


def test_run_that_never_executed_costs_nothing():
    cost = estimate_run_cost(job_run("jr_d", 0))
    assert (cost.billed_seconds, cost.usd) == (0, 0.0)


def test_cost_per_day_groups_by_start_date():
    costs = [
        estimate_run_cost(job_run("a", 3600, day=1)),
        estimate_run_cost(job_run("b", 1800, day=1)),
        estimate_run_cost(job_run("c", 3600, worker="G.2X", day=2)),
    ]
    days = cost_per_day(costs)
    assert [(d.day, d.runs) for d in days] == [(date(2026, 3, 1), 2), (date(2026, 3, 2), 1)]
    assert days[0].dpu_hours == pytest.approx(3.0)
    assert days[1].usd == pytest.approx(4 * 0.44)


def test_storage_cost_from_bucket_sizes():
    storage = storage_cost({"raw": 3 * 1024**3, "processed": 1024**3})
    assert storage.gb == pytest.approx(4.0)
    assert storage.usd_per_month == pytest.approx(4 * 0.023)
