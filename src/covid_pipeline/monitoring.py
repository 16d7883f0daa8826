"""Monitoring shared by the job, the handlers and the CLI: CloudWatch metrics of a run, alert rules and alert text,
and the Glue job state-change event the monitoring Lambdas react to (the handlers' JSON logs are Powertools').

The rules and the formatting are pure functions of a run's manifest; the AWS calls (S3, SNS, CloudWatch, Glue) are
thin functions at the bottom that take a boto3 client, so they work the same against AWS and the local emulator.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent

from covid_pipeline.common import FAILED_STATES, split_s3_uri


# --- the run manifest the job writes (<state_path>runs/<run id>.json) ------------------------------------------------
@dataclass(frozen=True)
class RowCounts:
    """Where input rows went. Every row ends in exactly one place: output, quarantine, or dropped as a duplicate."""

    rows_in: int = 0
    rows_out: int = 0
    rows_quarantined: int = 0
    rows_duplicate: int = 0

    @property
    def reconciled(self) -> bool:
        return self.rows_in == self.rows_out + self.rows_quarantined + self.rows_duplicate

    @staticmethod
    def total(counts: Iterable[RowCounts]) -> RowCounts:
        """The sums over several runs (each run's counts, not its subclass's other fields)."""
        listed = list(counts)
        return RowCounts(
            rows_in=sum(c.rows_in for c in listed),
            rows_out=sum(c.rows_out for c in listed),
            rows_quarantined=sum(c.rows_quarantined for c in listed),
            rows_duplicate=sum(c.rows_duplicate for c in listed),
        )


@dataclass(frozen=True, kw_only=True)
class RunManifest(RowCounts):
    run_id: str
    files_processed: int = 0
    files_skipped: int = 0
    files_quarantined: int = 0
    partitions_written: tuple[str, ...] = ()
    partitions_removed: tuple[str, ...] = ()
    dq_score: float | None = None
    dq_failures: tuple[str, ...] = ()
    duration_seconds: float | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def quarantine_ratio(self) -> float:
        return self.rows_quarantined / self.rows_in if self.rows_in else 0.0

    @classmethod
    def from_dict(cls, run_id: str, data: Mapping[str, Any]) -> RunManifest:
        def count(name: str) -> int:
            value = data.get(name)
            return int(value) if isinstance(value, int | float) else 0

        raw_quality = data.get("data_quality")
        quality: Mapping[str, Any] = raw_quality if isinstance(raw_quality, Mapping) else {}
        score = quality.get("score")
        failures = tuple(
            str(result.get("expectation") or result.get("name") or result.get("type"))
            for result in quality.get("results", []) or []
            if isinstance(result, Mapping) and result.get("success") is False
        )
        duration = data.get("duration_seconds")
        return cls(
            run_id=str(data.get("run_id") or run_id),
            rows_in=count("rows_in"),
            rows_out=count("rows_out"),
            rows_quarantined=count("rows_quarantined"),
            rows_duplicate=count("rows_duplicate"),
            files_processed=count("files_processed"),
            files_skipped=count("files_skipped"),
            files_quarantined=count("files_quarantined"),
            partitions_written=tuple(partition_text(p) for p in data.get("partitions_written", []) or []),
            partitions_removed=tuple(partition_text(p) for p in data.get("partitions_removed", []) or []),
            dq_score=float(score) if isinstance(score, int | float) else None,
            dq_failures=failures,
            duration_seconds=float(duration) if isinstance(duration, int | float) else None,
            raw=dict(data),
        )


def partition_text(value: Any) -> str:
    """A manifest's partition entry as `year=YYYY/month=M` text: strings pass through, {year, month} dicts convert."""
    if isinstance(value, Mapping) and "year" in value and "month" in value:
        return f"year={int(value['year'])}/month={int(value['month'])}"
    return str(value)


# --- the event: EventBridge "Glue Job State Change" ------------------------------------------------------------------
class EventError(ValueError):
    """The Lambda was invoked with an event it does not handle."""


@dataclass(frozen=True)
class GlueJobStateChange:
    job_name: str
    job_run_id: str
    state: str
    message: str = ""
    time: str = ""

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> GlueJobStateChange:
        """EventBridge's event (read through Powertools' EventBridgeEvent once its shape is checked)."""
        if not isinstance(event, Mapping) or event.get("source") != "aws.glue":
            raise EventError("not a Glue event (expected source 'aws.glue')")
        bridge = EventBridgeEvent(dict(event))
        detail = bridge.get("detail")
        if not isinstance(detail, Mapping):
            raise EventError("Glue event without a detail object")
        missing = [key for key in ("jobName", "jobRunId", "state") if not detail.get(key)]
        if missing:
            raise EventError(f"Glue event detail lacks {', '.join(missing)}")
        return cls(
            job_name=str(bridge.detail["jobName"]),
            job_run_id=str(bridge.detail["jobRunId"]),
            state=str(bridge.detail["state"]).upper(),
            message=str(bridge.detail.get("message") or ""),
            time=str(bridge.get("time") or ""),
        )


# --- alert rules and text (pure) -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AlertPolicy:
    dq_score_threshold: float = 0.9
    quarantine_ratio_threshold: float = 0.05


def alert_reasons(change: GlueJobStateChange, manifest: RunManifest | None, policy: AlertPolicy) -> list[str]:
    """Why this finished run needs a human, or [] when it does not."""
    reasons: list[str] = []
    if change.state in FAILED_STATES:
        reasons.append(f"job run {change.state}: {change.message or 'no error message'}")
        return reasons
    if change.state != "SUCCEEDED":
        return reasons
    if manifest is None:
        return ["run SUCCEEDED but wrote no manifest (counts and data quality unknown)"]
    if manifest.dq_score is not None and manifest.dq_score < policy.dq_score_threshold:
        failed = f" (failed: {', '.join(manifest.dq_failures)})" if manifest.dq_failures else ""
        reasons.append(
            f"data quality score {manifest.dq_score:.3f} is below the threshold {policy.dq_score_threshold:.3f}{failed}"
        )
    if manifest.quarantine_ratio > policy.quarantine_ratio_threshold:
        reasons.append(
            f"{manifest.rows_quarantined} of {manifest.rows_in} rows quarantined ({manifest.quarantine_ratio:.1%}), "
            f"above the threshold {policy.quarantine_ratio_threshold:.1%}"
        )
    return reasons


def format_alert(
    change: GlueJobStateChange, manifest: RunManifest | None, reasons: Sequence[str], environment: str = ""
) -> tuple[str, str]:
    """(subject, body) of the SNS message. Subjects are limited to 100 printable characters without newlines."""
    prefix = f"[{environment}] " if environment else ""
    kind = "failed" if change.state in FAILED_STATES else "needs attention"
    subject = f"{prefix}CovidPipeline: {change.job_name} run {kind}"
    subject = " ".join(subject.split())[:100]
    lines = [
        f"Job: {change.job_name}",
        f"Run: {change.job_run_id}",
        f"State: {change.state}",
    ]
    if change.time:
        lines.append(f"Time: {change.time}")
    lines.append("")
    lines.append("Why:")
    lines += [f"  - {reason}" for reason in reasons]
    if manifest is not None:
        lines += [
            "",
            "Run counts:",
            f"  rows in {manifest.rows_in}, out {manifest.rows_out}, quarantined {manifest.rows_quarantined}, "
            f"duplicates {manifest.rows_duplicate}",
            f"  files processed {manifest.files_processed}, skipped {manifest.files_skipped}, "
            f"quarantined {manifest.files_quarantined}",
            f"  data quality score {manifest.dq_score if manifest.dq_score is not None else 'n/a'}",
        ]
    lines += ["", f"Inspect: covid-pipeline logs {change.job_run_id}   /   covid-pipeline dq"]
    return subject, "\n".join(lines)


# --- CloudWatch metrics (pure datum builder + put) -------------------------------------------------------------------
# Metric names other parts refer to (Terraform alarms, the local alarm evaluator, the report).
METRIC_ROWS_IN = "RowsIn"
METRIC_ROWS_OUT = "RowsOut"
METRIC_ROWS_QUARANTINED = "RowsQuarantined"
METRIC_ROWS_DUPLICATE = "RowsDuplicate"
METRIC_QUARANTINE_RATIO = "QuarantineRatio"
METRIC_DQ_SCORE = "DataQualityScore"
METRIC_FILES_PROCESSED = "FilesProcessed"
METRIC_FILES_QUARANTINED = "FilesQuarantined"
METRIC_JOB_DURATION = "JobDurationSeconds"
METRIC_JOB_RUNS_FAILED = "JobRunsFailed"
METRIC_JOB_RUNS_SUCCEEDED = "JobRunsSucceeded"
METRIC_ALERTS_SENT = "AlertsSent"
METRIC_WAREHOUSE_ROWS_LOADED = "WarehouseRowsLoaded"
METRIC_WAREHOUSE_PARTITIONS_LOADED = "WarehousePartitionsLoaded"
METRIC_WAREHOUSE_LOAD_SECONDS = "WarehouseLoadSeconds"
PUT_METRIC_BATCH = 500  # PutMetricData accepts up to 1000 values per call


def metric(name: str, value: float, unit: str = "Count", dimensions: Mapping[str, str] | None = None) -> dict[str, Any]:
    return {
        "MetricName": name,
        "Value": float(value),
        "Unit": unit,
        "Dimensions": [{"Name": key, "Value": str(val)} for key, val in sorted((dimensions or {}).items())],
    }


def run_metrics(change: GlueJobStateChange, manifest: RunManifest | None) -> list[dict[str, Any]]:
    """The datapoints of one finished run, dimensioned by JobName (what the alarms watch)."""
    dims = {"JobName": change.job_name}
    data = [
        metric(METRIC_JOB_RUNS_FAILED, 1 if change.state in FAILED_STATES else 0, dimensions=dims),
        metric(METRIC_JOB_RUNS_SUCCEEDED, 1 if change.state == "SUCCEEDED" else 0, dimensions=dims),
    ]
    if manifest is None:
        return data
    data += [
        metric(METRIC_ROWS_IN, manifest.rows_in, dimensions=dims),
        metric(METRIC_ROWS_OUT, manifest.rows_out, dimensions=dims),
        metric(METRIC_ROWS_QUARANTINED, manifest.rows_quarantined, dimensions=dims),
        metric(METRIC_ROWS_DUPLICATE, manifest.rows_duplicate, dimensions=dims),
        metric(METRIC_QUARANTINE_RATIO, manifest.quarantine_ratio, unit="None", dimensions=dims),
        metric(METRIC_FILES_PROCESSED, manifest.files_processed, dimensions=dims),
        metric(METRIC_FILES_QUARANTINED, manifest.files_quarantined, dimensions=dims),
    ]
    if manifest.dq_score is not None:
        data.append(metric(METRIC_DQ_SCORE, manifest.dq_score, unit="None", dimensions=dims))
    if manifest.duration_seconds is not None:
        data.append(metric(METRIC_JOB_DURATION, manifest.duration_seconds, unit="Seconds", dimensions=dims))
    return data


def put_metrics(cloudwatch: Any, data: Sequence[Mapping[str, Any]], namespace: str) -> int:
    for start in range(0, len(data), PUT_METRIC_BATCH):
        cloudwatch.put_metric_data(Namespace=namespace, MetricData=list(data[start : start + PUT_METRIC_BATCH]))
    return len(data)


def publish_alert(sns: Any, topic_arn: str, subject: str, body: str) -> str:
    response = sns.publish(TopicArn=topic_arn, Subject=subject, Message=body)
    return str(response["MessageId"])


# --- where a run's manifest lives ------------------------------------------------------------------------------------


def run_arguments(glue: Any, job_name: str, run_id: str) -> dict[str, str]:
    """The arguments a run actually ran with: the job's DefaultArguments overlaid by the run's own. {} when Glue
    cannot tell (no permission, run unknown): callers fall back to their environment settings."""
    from botocore.exceptions import BotoCoreError, ClientError

    arguments: dict[str, str] = {}
    with contextlib.suppress(BotoCoreError, ClientError):
        arguments.update(glue.get_job(JobName=job_name)["Job"].get("DefaultArguments") or {})
    with contextlib.suppress(BotoCoreError, ClientError):
        arguments.update(glue.get_job_run(JobName=job_name, RunId=run_id)["JobRun"].get("Arguments") or {})
    return arguments


def read_manifest(s3: Any, state_path: str, run_id: str) -> RunManifest | None:
    """<state_path>runs/<run id>.json, or None when the run wrote none."""
    from botocore.exceptions import ClientError

    bucket, prefix = split_s3_uri(state_path.rstrip("/") + "/")
    try:
        body = s3.get_object(Bucket=bucket, Key=f"{prefix}runs/{run_id}.json")["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404", "NoSuchBucket"}:
            return None
        raise
    data = json.loads(body)
    if not isinstance(data, Mapping):
        raise ValueError(f"manifest of run {run_id} is not a JSON object")
    return RunManifest.from_dict(run_id, data)


def state_path_from_env(env: Mapping[str, str]) -> str | None:
    """STATE_PATH (Terraform sets it to the default source's --state_path), or None: then only the run's own
    --state_path argument can say where the manifest is."""
    if env.get("STATE_PATH"):
        return env["STATE_PATH"].rstrip("/") + "/"
    return None
