"""What the report shows, as plain data: collected by covid_pipeline.report, rendered by covid_pipeline.report_view."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any


@dataclass
class RunRow:
    run_id: str
    state: str
    started_on: datetime | None
    duration_seconds: int | None
    rows_in: int | None = None
    rows_out: int | None = None
    rows_quarantined: int | None = None
    rows_duplicate: int | None = None
    dq_score: float | None = None
    cost_usd: float = 0.0
    source: str = "jhu_daily"
    error_message: str | None = None
    dq_results: list[dict[str, Any]] = field(default_factory=list)
    quarantine_reasons: dict[str, int] = field(default_factory=dict)


@dataclass
class ReportData:
    environment: str
    generated_at: datetime
    # country -> [(day, new cases 7-day avg, new deaths 7-day avg)], oldest first
    series: dict[str, list[tuple[date, float | None, float | None]]] = field(default_factory=dict)
    latest: list[dict[str, Any]] = field(default_factory=list)
    runs: list[RunRow] = field(default_factory=list)  # newest first
    storage_usd_per_month: float | None = None
    dq_threshold: float | None = None
    warehouse: str = ""
    warnings: list[str] = field(default_factory=list)
