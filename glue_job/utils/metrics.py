"""CloudWatch metrics edge: one put_metric_data call with the run's counts, dimension JobName."""

from __future__ import annotations

from typing import Any

METRIC_UNITS = {
    "rows_in": "Count",
    "rows_out": "Count",
    "rows_quarantined": "Count",
    "rows_duplicate": "Count",
    "files_processed": "Count",
    "files_skipped": "Count",
    "files_quarantined": "Count",
    "dq_score": "None",
    "duration_seconds": "Seconds",
}


def metric_data(manifest: dict[str, Any], job_name: str) -> list[dict[str, Any]]:
    """The manifest's numbers as MetricData entries (dq_score from data_quality.score)."""
    values = {name: manifest.get(name) for name in METRIC_UNITS}
    values["dq_score"] = (manifest.get("data_quality") or {}).get("score")
    return [
        {
            "MetricName": name,
            "Dimensions": [{"Name": "JobName", "Value": job_name}],
            "Value": float(value),
            "Unit": METRIC_UNITS[name],
        }
        for name, value in values.items()
        if value is not None
    ]


def publish(cloudwatch: Any, namespace: str, manifest: dict[str, Any], job_name: str) -> int:
    data = metric_data(manifest, job_name)
    if data:
        cloudwatch.put_metric_data(Namespace=namespace, MetricData=data)
    return len(data)
