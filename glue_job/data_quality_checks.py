"""The data-quality gate: Great Expectations 1.x expectations on the output DataFrame, each `warn` or `fail`.

A `fail` that does not hold stops the job before it publishes; warnings are
recorded in the manifest. The DataFrame is validated where it lives (Spark,
ephemeral GE context): no copy to pandas. Great Expectations takes seconds to
import, so the entry script starts `preload()` in a thread at start-up.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from pyspark.sql import DataFrame

FAIL = "fail"
WARN = "warn"

_import_lock = threading.Lock()


class DataQualityError(RuntimeError):
    """A `fail` expectation did not hold: nothing may be published."""

    def __init__(self, report: DataQualityReport) -> None:
        failed = ", ".join(r["expectation"] for r in report.results if r["severity"] == FAIL and not r["success"])
        super().__init__(f"data quality gate failed: {failed}")
        self.report = report


@dataclass
class DataQualityReport:
    score: float
    results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(r["severity"] == FAIL and not r["success"] for r in self.results)

    def as_dict(self) -> dict[str, Any]:
        return {"score": self.score, "results": self.results}


@dataclass(frozen=True)
class Check:
    """One expectation with its severity; `name` is what the manifest calls it."""

    name: str
    severity: str
    expectation_type: str
    kwargs: dict[str, Any]


def preload() -> None:
    """Import Great Expectations (slow) ahead of time; safe to call from a thread."""
    with _import_lock:
        import great_expectations  # noqa: F401


def build_checks(
    source: str,
    expected_latest_date: date | None = None,
    deaths_above_confirmed_tolerance: float = 0.001,
) -> list[Check]:
    """The gate: completeness, validity, uniqueness, consistency (tolerant), freshness, volume."""
    checks = [
        Check("volume: at least one row", FAIL, "ExpectTableRowCountToBeBetween", {"min_value": 1}),
        Check("completeness: report_date", FAIL, "ExpectColumnValuesToNotBeNull", {"column": "report_date"}),
        Check("completeness: country", FAIL, "ExpectColumnValuesToNotBeNull", {"column": "country"}),
        Check(
            "uniqueness: report_date+country+province+admin2",
            FAIL,
            "ExpectCompoundColumnsToBeUnique",
            {"column_list": ["report_date", "country", "province", "admin2"], "ignore_row_if": "never"},
        ),
        Check(
            "validity: confirmed >= 0", FAIL, "ExpectColumnValuesToBeBetween", {"column": "confirmed", "min_value": 0}
        ),
        Check("validity: deaths >= 0", FAIL, "ExpectColumnValuesToBeBetween", {"column": "deaths", "min_value": 0}),
        Check(
            "validity: latitude",
            FAIL,
            "ExpectColumnValuesToBeBetween",
            {"column": "latitude", "min_value": -90, "max_value": 90},
        ),
        Check(
            "validity: longitude",
            FAIL,
            "ExpectColumnValuesToBeBetween",
            {"column": "longitude", "min_value": -180, "max_value": 180},
        ),
        Check(
            "consistency: deaths <= confirmed",
            WARN,
            "ExpectColumnPairValuesAToBeGreaterThanB",
            {
                "column_A": "confirmed",
                "column_B": "deaths",
                "or_equal": True,
                "ignore_row_if": "either_value_is_missing",
                "mostly": 1.0 - deaths_above_confirmed_tolerance,
            },
        ),
        Check(
            "completeness: iso3 (enrichment)",
            WARN,
            "ExpectColumnValuesToNotBeNull",
            {"column": "iso3", "mostly": 0.95},
        ),
    ]
    if expected_latest_date is not None:
        # Freshness: the newest input must actually reach the output (a file whose rows all vanished warns).
        checks.append(
            Check(
                "freshness: newest report_date",
                WARN,
                "ExpectColumnMaxToBeBetween",
                {
                    "column": "report_date",
                    "min_value": (expected_latest_date - timedelta(days=1)).isoformat(),
                    "parse_strings_as_datetimes": False,
                },
            )
        )
    return checks


def _observed(result: dict[str, Any]) -> dict[str, Any]:
    keep = ("observed_value", "element_count", "unexpected_count", "unexpected_percent", "missing_count")
    return {k: result[k] for k in keep if k in result and result[k] is not None}


def run_checks(df: DataFrame, checks: list[Check]) -> DataQualityReport:
    """Validate df against the checks with an ephemeral GE context; never raises on a failed expectation."""
    preload()
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)  # job logs, not a terminal
    batch = (
        # persist=False: the job hands over a frame it has already cached; a second cache would double the work.
        context.data_sources.add_spark(name="job_output", persist=False)
        .add_dataframe_asset(name="output")
        .add_batch_definition_whole_dataframe("whole")
        .get_batch(batch_parameters={"dataframe": df})
    )
    suite = gx.ExpectationSuite(name="covid_output")
    for check in checks:
        kwargs = {k: v for k, v in check.kwargs.items() if k != "parse_strings_as_datetimes"}
        if check.expectation_type == "ExpectColumnMaxToBeBetween":
            kwargs["min_value"] = date.fromisoformat(kwargs["min_value"])
        expectation = getattr(gx.expectations, check.expectation_type)(**kwargs, meta={"check": check.name})
        suite.add_expectation(expectation)
    validation = batch.validate(suite, result_format="BOOLEAN_ONLY")
    by_name = {c.name: c for c in checks}
    results: list[dict[str, Any]] = []
    for item in validation.results:
        name = (item.expectation_config.meta or {}).get("check", item.expectation_config.type)
        check = by_name[name]
        error = (item.exception_info or {}).get("exception_message") if item.exception_info else None
        entry: dict[str, Any] = {
            "expectation": name,
            "expectation_type": item.expectation_config.type,
            "severity": check.severity,
            "success": bool(item.success),
            **_observed(dict(item.result or {})),
        }
        if error:
            entry["error"] = str(error)
        results.append(entry)
    results.sort(key=lambda r: [c.name for c in checks].index(r["expectation"]))
    score = round(sum(r["success"] for r in results) / len(results), 4) if results else 1.0
    return DataQualityReport(score=score, results=results)
