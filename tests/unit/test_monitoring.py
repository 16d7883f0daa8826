"""Pure monitoring rules: event parsing, alert reasons and text, metric datapoints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from covid_pipeline.monitoring import (
    AlertPolicy,
    EventError,
    GlueJobStateChange,
    RunManifest,
    alert_reasons,
    format_alert,
    partition_text,
    run_metrics,
    state_path_from_env,
)
from covid_pipeline.run_monitor import MonitorSettings

EVENTS = Path(__file__).resolve().parents[1] / "events"
POLICY = AlertPolicy(dq_score_threshold=0.9, quarantine_ratio_threshold=0.05)


def event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"glue_job_state_change_{name}.json").read_text())


def manifest(**overrides: Any) -> RunManifest:
    data: dict[str, Any] = {
        "rows_in": 1000,
        "rows_out": 960,
        "rows_quarantined": 30,
        "rows_duplicate": 10,
        "files_processed": 4,
        "partitions_written": ["year=2020/month=3", {"year": 2020, "month": 4}],
        "data_quality": {
            "score": 0.95,
            "results": [
                {"expectation": "validity: confirmed >= 0", "severity": "fail", "success": True},
                {"expectation": "consistency: deaths <= confirmed", "severity": "warn", "success": False},
            ],
        },
    }
    data.update(overrides)
    return RunManifest.from_dict("jr_1", data)


def test_event_parses_into_a_typed_change() -> None:
    change = GlueJobStateChange.from_event(event("failed"))
    assert change == GlueJobStateChange(
        job_name="covid-pipeline-test-covid-transform",
        job_run_id="jr_26934eb377001f66e37289a5c93fe284",
        state="FAILED",
        message="AnalysisException: Path does not exist: s3://covid-pipeline-test-raw/raw/jhu_daily/",
        time="2026-11-26T19:00:00Z",
    )


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"source": "aws.s3", "detail": {}}, "not a Glue event"),
        ({"source": "aws.glue"}, "without a detail"),
        ({"source": "aws.glue", "detail": {"jobName": "j", "state": "FAILED"}}, "lacks jobRunId"),
        ([], "not a Glue event"),
    ],
)
def test_malformed_events_are_rejected_with_a_reason(bad: Any, message: str) -> None:
    with pytest.raises(EventError, match=message):
        GlueJobStateChange.from_event(bad)


def test_manifest_counts_partitions_and_failed_expectations() -> None:
    parsed = manifest()
    assert parsed.partitions_written == ("year=2020/month=3", "year=2020/month=4")
    assert parsed.quarantine_ratio == 0.03
    assert parsed.dq_score == 0.95
    assert parsed.dq_failures == ("consistency: deaths <= confirmed",)
    assert partition_text({"year": "2021", "month": "07"}) == "year=2021/month=7"


def test_healthy_run_raises_no_alert() -> None:
    assert alert_reasons(GlueJobStateChange.from_event(event("succeeded")), manifest(), POLICY) == []


def test_low_score_and_high_quarantine_both_alert() -> None:
    change = GlueJobStateChange.from_event(event("succeeded"))
    bad = manifest(rows_quarantined=80, data_quality={"score": 0.8, "results": []})
    assert alert_reasons(change, bad, POLICY) == [
        "data quality score 0.800 is below the threshold 0.900",
        "80 of 1000 rows quarantined (8.0%), above the threshold 5.0%",
    ]


@pytest.mark.parametrize("state", ["failed", "timeout"])
def test_failed_and_timed_out_runs_alert_with_the_error(state: str) -> None:
    change = GlueJobStateChange.from_event(event(state))
    reasons = alert_reasons(change, None, POLICY)
    assert reasons == [f"job run {change.state}: {change.message}"]
    subject, body = format_alert(change, None, reasons, environment="test")
    assert subject == "[test] CovidPipeline: covid-pipeline-test-covid-transform run failed"
    assert change.message in body and change.job_run_id in body


def test_succeeded_run_without_manifest_alerts_and_running_state_does_not() -> None:
    assert alert_reasons(GlueJobStateChange.from_event(event("succeeded")), None, POLICY) == [
        "run SUCCEEDED but wrote no manifest (counts and data quality unknown)"
    ]
    assert alert_reasons(GlueJobStateChange.from_event(event("running")), None, POLICY) == []


def test_alert_subject_fits_sns_limits() -> None:
    change = GlueJobStateChange("j" * 200, "jr_1", "FAILED", "boom\nline two")
    subject, _ = format_alert(change, None, ["x"])
    assert len(subject) <= 100 and "\n" not in subject


def test_run_metrics_are_dimensioned_by_job() -> None:
    change = GlueJobStateChange.from_event(event("succeeded"))
    by_name = {datum["MetricName"]: datum for datum in run_metrics(change, manifest())}
    assert {name: datum["Value"] for name, datum in by_name.items()} == {
        "JobRunsFailed": 0.0,
        "JobRunsSucceeded": 1.0,
        "RowsIn": 1000.0,
        "RowsOut": 960.0,
        "RowsQuarantined": 30.0,
        "RowsDuplicate": 10.0,
        "QuarantineRatio": 0.03,
        "FilesProcessed": 4.0,
        "FilesQuarantined": 0.0,
        "DataQualityScore": 0.95,
    }
    assert by_name["RowsIn"]["Dimensions"] == [{"Name": "JobName", "Value": "covid-pipeline-test-covid-transform"}]
    failed = run_metrics(GlueJobStateChange.from_event(event("failed")), None)
    assert [(d["MetricName"], d["Value"]) for d in failed] == [("JobRunsFailed", 1.0), ("JobRunsSucceeded", 0.0)]


def test_settings_from_environment() -> None:
    settings = MonitorSettings.from_env(
        {
            "ALERTS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:t",
            "DQ_SCORE_THRESHOLD": "0.75",
            "STATE_PATH": "s3://b/s",
            "METRICS_NAMESPACE": "Pipeline",
        }
    )
    assert settings.policy == AlertPolicy(0.75, 0.05)
    assert (settings.state_path, settings.namespace) == ("s3://b/s/", "Pipeline")
    assert state_path_from_env({}) is None
    with pytest.raises(EventError, match="ALERTS_TOPIC_ARN"):
        MonitorSettings.from_env({})
    with pytest.raises(EventError, match="METRICS_NAMESPACE is not set"):
        MonitorSettings.from_env({"ALERTS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:t"})


def test_the_lambda_modules_import_without_python_hcl2() -> None:
    import subprocess
    import sys

    # The Lambdas import monitoring and the warehouse loader without python-hcl2 (not in the Lambda zip).
    probe = (
        "import sys; sys.modules['hcl2'] = None; "
        "import covid_pipeline.monitoring, covid_pipeline.warehouse.run_loader; print('ok')"
    )
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert completed.stdout.strip() == "ok", completed.stderr


def test_row_counts_reconcile_per_run_and_sum_over_runs() -> None:
    from covid_pipeline.monitoring import RowCounts

    balanced, lossy = manifest(), manifest(rows_out=950)
    assert balanced.reconciled and not lossy.reconciled
    assert RowCounts.total([balanced, lossy]) == RowCounts(
        rows_in=2000, rows_out=1910, rows_quarantined=60, rows_duplicate=20
    )
