"""Cost estimates from run durations, worker settings and bucket sizes.

Prices live in ONE table (PRICES) with where each came from, so updating them is one edit.
They are us-east-1 on-demand list prices; estimates, not a bill (no free tier, no taxes,
no request charges for S3, which are tiny at this pipeline's volume).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any


@dataclass(frozen=True)
class Price:
    usd: float
    unit: str
    source: str


PRICES: dict[str, Price] = {
    "glue_dpu_hour": Price(
        0.44, "USD per DPU-hour (Glue ETL, Spark jobs, standard execution)", "aws.amazon.com/glue/pricing"
    ),
    "s3_standard_gb_month": Price(0.023, "USD per GB-month (S3 Standard, first 50 TB)", "aws.amazon.com/s3/pricing"),
    "lambda_gb_second": Price(0.0000166667, "USD per GB-second (x86)", "aws.amazon.com/lambda/pricing"),
    "lambda_requests_million": Price(0.20, "USD per 1M requests", "aws.amazon.com/lambda/pricing"),
    "sqs_requests_million": Price(0.40, "USD per 1M standard-queue requests", "aws.amazon.com/sqs/pricing"),
}

# DPUs per worker (Glue docs, "Defining job properties for Spark jobs": G.025X = 0.25 DPU, G.1X = 1 ...).
DPU_PER_WORKER: dict[str, float] = {
    "G.025X": 0.25,
    "G.1X": 1.0,
    "G.2X": 2.0,
    "G.4X": 4.0,
    "G.8X": 8.0,
    "G.12X": 12.0,
    "G.16X": 16.0,
    "R.1X": 1.0,
    "R.2X": 2.0,
    "R.4X": 4.0,
    "R.8X": 8.0,
    "Z.2X": 2.0,
    "Standard": 1.0,
}

# Minimum billed duration per run: 1 minute from Glue 2.0 on, 10 minutes for 0.9/1.0 (Glue pricing page).
MIN_BILLED_SECONDS_MODERN = 60
MIN_BILLED_SECONDS_LEGACY = 600
SECONDS_PER_HOUR = 3600
BYTES_PER_GB = 1024**3


def min_billed_seconds(glue_version: str | None) -> int:
    try:
        major = float(glue_version or "5.0")
    except ValueError:
        major = 5.0
    return MIN_BILLED_SECONDS_LEGACY if major < 2.0 else MIN_BILLED_SECONDS_MODERN


def run_dpus(worker_type: str | None, number_of_workers: int | None, max_capacity: float | None = None) -> float:
    """DPUs a run holds: workers x DPU per worker, or MaxCapacity when no worker type is set."""
    if worker_type and number_of_workers:
        try:
            return DPU_PER_WORKER[worker_type] * number_of_workers
        except KeyError:
            raise ValueError(f"unknown Glue worker type {worker_type!r} (known: {', '.join(DPU_PER_WORKER)})") from None
    return float(max_capacity or 0.0)


@dataclass(frozen=True)
class RunCost:
    run_id: str
    started_on: datetime | None
    execution_seconds: int
    billed_seconds: int
    dpus: float
    dpu_hours: float
    usd: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "started_on": self.started_on.isoformat() if self.started_on else None,
            "execution_seconds": self.execution_seconds,
            "billed_seconds": self.billed_seconds,
            "dpus": self.dpus,
            "dpu_hours": round(self.dpu_hours, 6),
            "usd": round(self.usd, 6),
        }


def estimate_run_cost(job_run: Mapping[str, Any], glue_version: str | None = None) -> RunCost:
    """Cost of one Glue run from its GetJobRun shape (ExecutionTime, WorkerType, NumberOfWorkers...)."""
    execution = int(job_run.get("ExecutionTime") or 0)
    dpus = run_dpus(job_run.get("WorkerType"), job_run.get("NumberOfWorkers"), job_run.get("MaxCapacity"))
    # A run that never started executing (STARTING then FAILED at once) is not billed.
    billed = max(execution, min_billed_seconds(glue_version or job_run.get("GlueVersion"))) if execution > 0 else 0
    dpu_hours = billed / SECONDS_PER_HOUR * dpus
    return RunCost(
        run_id=str(job_run.get("Id", "")),
        started_on=job_run.get("StartedOn"),
        execution_seconds=execution,
        billed_seconds=billed,
        dpus=dpus,
        dpu_hours=dpu_hours,
        usd=dpu_hours * PRICES["glue_dpu_hour"].usd,
    )


@dataclass
class DayCost:
    day: date
    runs: int = 0
    dpu_hours: float = 0.0
    usd: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "runs": self.runs,
            "dpu_hours": round(self.dpu_hours, 6),
            "usd": round(self.usd, 6),
        }


def cost_per_day(run_costs: Iterable[RunCost]) -> list[DayCost]:
    days: dict[date, DayCost] = {}
    for cost in run_costs:
        if cost.started_on is None:
            continue
        day = cost.started_on.date()
        entry = days.setdefault(day, DayCost(day))
        entry.runs += 1
        entry.dpu_hours += cost.dpu_hours
        entry.usd += cost.usd
    return [days[d] for d in sorted(days)]


@dataclass(frozen=True)
class StorageCost:
    bytes_by_bucket: dict[str, int] = field(default_factory=dict)

    @property
    def total_bytes(self) -> int:
        return sum(self.bytes_by_bucket.values())

    @property
    def gb(self) -> float:
        return self.total_bytes / BYTES_PER_GB

    @property
    def usd_per_month(self) -> float:
        return self.gb * PRICES["s3_standard_gb_month"].usd

    def as_dict(self) -> dict[str, Any]:
        return {
            "bytes_by_bucket": dict(self.bytes_by_bucket),
            "total_bytes": self.total_bytes,
            "gb": round(self.gb, 6),
            "usd_per_month": round(self.usd_per_month, 6),
        }


def storage_cost(bytes_by_bucket: Mapping[str, int]) -> StorageCost:
    return StorageCost(dict(bytes_by_bucket))


def summarize(run_costs: list[RunCost], storage: StorageCost) -> dict[str, Any]:
    by_day = cost_per_day(run_costs)
    total_runs = sum(c.usd for c in run_costs)
    return {
        "runs": [c.as_dict() for c in run_costs],
        "days": [d.as_dict() for d in by_day],
        "storage": storage.as_dict(),
        "total_glue_usd": round(total_runs, 6),
        "prices": {key: {"usd": p.usd, "unit": p.unit, "source": p.source} for key, p in PRICES.items()},
    }
