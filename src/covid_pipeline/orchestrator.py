"""Start Glue job runs, follow them, and read their history, logs and manifests.

Only boto3 against whatever endpoint the session has: the same code drives AWS and the
local cloud. Everything here returns plain data; printing is the CLI's job.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import boto3
from botocore.exceptions import ClientError

from covid_pipeline.common import TERMINAL_STATES, split_s3_uri
from covid_pipeline.config import SOURCES, PipelineConfig
from covid_pipeline.costs import RunCost, estimate_run_cost
from covid_pipeline.errors import UserError

log = logging.getLogger(__name__)

DEFAULT_SOURCE = "jhu_daily"


def parse_overrides(pairs: Sequence[str]) -> dict[str, str]:
    """`KEY=VALUE` strings -> Glue job arguments (`--KEY`); a bad pair is a user error."""
    result: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key.lstrip("-"):
            raise UserError(f"--arg expects KEY=VALUE, got {pair!r}")
        result[key if key.startswith("--") else f"--{key}"] = value
    return result


def parse_day(text: str, option: str = "--date") -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UserError(f"{option} expects a date as YYYY-MM-DD, got {text!r}") from None


def run_source(job_run: Mapping[str, Any]) -> str:
    return str((job_run.get("Arguments") or {}).get("--source") or DEFAULT_SOURCE)


@dataclass
class RunRecord:
    """One job run: GetJobRun's view joined with the job's own manifest and a cost estimate."""

    job_run: dict[str, Any]
    manifest: dict[str, Any] | None
    cost: RunCost

    @property
    def run_id(self) -> str:
        return str(self.job_run["Id"])

    @property
    def state(self) -> str:
        return str(self.job_run.get("JobRunState", "UNKNOWN"))

    @property
    def started_on(self) -> datetime | None:
        return self.job_run.get("StartedOn")

    @property
    def source(self) -> str:
        return run_source(self.job_run)

    @property
    def duration_seconds(self) -> int | None:
        if self.job_run.get("ExecutionTime"):
            return int(self.job_run["ExecutionTime"])
        started, completed = self.job_run.get("StartedOn"), self.job_run.get("CompletedOn")
        if started and completed:
            return int((completed - started).total_seconds())
        return None

    def manifest_value(self, key: str) -> Any:
        return (self.manifest or {}).get(key)

    @property
    def dq_score(self) -> float | None:
        dq = self.manifest_value("data_quality") or {}
        score = dq.get("score")
        return float(score) if score is not None else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "job_name": self.job_run.get("JobName"),
            "source": self.source,
            "state": self.state,
            "started_on": _iso(self.started_on),
            "completed_on": _iso(self.job_run.get("CompletedOn")),
            "duration_seconds": self.duration_seconds,
            "error_message": self.job_run.get("ErrorMessage"),
            "worker_type": self.job_run.get("WorkerType"),
            "number_of_workers": self.job_run.get("NumberOfWorkers"),
            "rows_in": self.manifest_value("rows_in"),
            "rows_out": self.manifest_value("rows_out"),
            "rows_quarantined": self.manifest_value("rows_quarantined"),
            "rows_duplicate": self.manifest_value("rows_duplicate"),
            "dq_score": self.dq_score,
            "estimated_cost_usd": round(self.cost.usd, 6),
            "manifest": self.manifest,
        }


def _utc_day(value: Any) -> date | None:
    return value.astimezone(UTC).date() if isinstance(value, datetime) else None


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class Orchestrator:
    """The pipeline's Glue job, seen through boto3 clients of one session."""

    def __init__(self, config: PipelineConfig, session: boto3.Session | None = None) -> None:
        self.config = config
        self.session = session or boto3.Session(region_name=config.region)
        self.glue = self.session.client("glue")
        self.logs = self.session.client("logs")
        self.s3 = self.session.client("s3")
        self.job_name = config.names.glue_job

    # -- starting and following -------------------------------------------------------------

    def run_arguments(self, source: str, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
        if source not in SOURCES:
            raise UserError(f"unknown source {source!r} (known: {', '.join(SOURCES)})")
        arguments = self.config.job_arguments(source)
        arguments.update(overrides or {})
        return arguments

    def start_run(self, source: str = DEFAULT_SOURCE, overrides: Mapping[str, str] | None = None) -> str:
        try:
            response = self.glue.start_job_run(JobName=self.job_name, Arguments=self.run_arguments(source, overrides))
        except ClientError as exc:
            if _error_code(exc) == "EntityNotFoundException":
                raise UserError(f"Glue job {self.job_name} does not exist in this environment (deployed?)") from None
            if _error_code(exc) == "ConcurrentRunsExceededException":
                raise UserError(f"Glue job {self.job_name} is already running (max concurrent runs reached)") from None
            raise
        return str(response["JobRunId"])

    def get_run(self, run_id: str) -> dict[str, Any]:
        try:
            return dict(self.glue.get_job_run(JobName=self.job_name, RunId=run_id)["JobRun"])
        except ClientError as exc:
            if _error_code(exc) in {"EntityNotFoundException", "InvalidInputException"}:
                raise UserError(f"unknown run id {run_id!r} for job {self.job_name}") from None
            raise

    def follow(
        self,
        run_id: str,
        on_state: Callable[[dict[str, Any]], None] | None = None,
        on_log: Callable[[dict[str, Any]], None] | None = None,
        poll_seconds: float = 2.0,
        timeout_seconds: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> dict[str, Any]:
        """Poll a run until it ends, reporting each state and every new log event; returns the final run."""
        deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
        log_cursor = LogCursor(self.logs, self.log_group, run_id)
        while True:
            job_run = self.get_run(run_id)
            if on_state:
                on_state(job_run)
            for event in log_cursor.fetch_new():
                if on_log:
                    on_log(event)
            if job_run.get("JobRunState") in TERMINAL_STATES:
                # Logs can land a moment after the state flips: one last read.
                for event in log_cursor.fetch_new():
                    if on_log:
                        on_log(event)
                return job_run
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} still {job_run.get('JobRunState')} after {timeout_seconds:.0f}s")
            sleep(poll_seconds)

    # -- history ---------------------------------------------------------------------------

    def job_runs(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Runs newest first (GetJobRuns pages)."""
        runs: list[dict[str, Any]] = []
        try:
            for page in self.glue.get_paginator("get_job_runs").paginate(JobName=self.job_name):
                runs.extend(page.get("JobRuns", []))
                if limit is not None and len(runs) >= limit:
                    break
        except ClientError as exc:
            if _error_code(exc) == "EntityNotFoundException":
                raise UserError(f"Glue job {self.job_name} does not exist in this environment (deployed?)") from None
            raise
        epoch = datetime.min.replace(tzinfo=UTC)
        runs.sort(key=lambda r: r.get("StartedOn") or epoch, reverse=True)
        return runs[:limit] if limit is not None else runs

    def glue_version(self) -> str | None:
        try:
            return self.glue.get_job(JobName=self.job_name)["Job"].get("GlueVersion")
        except ClientError:
            return None

    def manifest(self, source: str, run_id: str) -> dict[str, Any] | None:
        """The job's run manifest (`<state_path>runs/<id>.json`), or None when the run wrote none."""
        bucket, prefix = split_s3_uri(self.config.state_path(source))
        try:
            body = self.s3.get_object(Bucket=bucket, Key=f"{prefix}runs/{run_id}.json")["Body"].read()
        except ClientError as exc:
            if _error_code(exc) in {"NoSuchKey", "NoSuchBucket", "404", "AccessDenied"}:
                return None
            raise
        try:
            data = json.loads(body)
        except ValueError:
            log.warning("manifest of run %s is not valid JSON", run_id)
            return None
        return data if isinstance(data, dict) else None

    def records(
        self,
        limit: int | None = None,
        source: str | None = None,
        started_on: date | None = None,
        started_since: date | None = None,
        with_manifests: bool = True,
    ) -> list[RunRecord]:
        """Runs newest first, filtered before any manifest is read (one S3 GET per run kept)."""
        glue_version = self.glue_version()
        records = []
        for job_run in self.job_runs():
            day = _utc_day(job_run.get("StartedOn"))
            if source and run_source(job_run) != source:
                continue
            if started_on is not None and day != started_on:
                continue
            if started_since is not None and (day is None or day < started_since):
                continue
            manifest = self.manifest(run_source(job_run), job_run["Id"]) if with_manifests else None
            records.append(RunRecord(job_run=job_run, manifest=manifest, cost=estimate_run_cost(job_run, glue_version)))
            if limit is not None and len(records) >= limit:
                break
        return records

    def record(self, run_id: str) -> RunRecord:
        job_run = self.get_run(run_id)
        return RunRecord(
            job_run=job_run,
            manifest=self.manifest(run_source(job_run), run_id),
            cost=estimate_run_cost(job_run, self.glue_version()),
        )

    # -- logs ------------------------------------------------------------------------------

    @property
    def log_group(self) -> str:
        return self.config.names.glue_log_group

    def run_logs(self, run_id: str) -> Iterator[dict[str, Any]]:
        """Every log event of a run (the stream named after the run id in the job's log group)."""
        self.get_run(run_id)  # unknown id -> UserError before we look at logs
        yield from LogCursor(self.logs, self.log_group, run_id).fetch_new()

    # -- storage (for costs) ---------------------------------------------------------------

    def bucket_sizes(self) -> dict[str, int]:
        names = self.config.names
        sizes: dict[str, int] = {}
        for bucket in (names.raw_bucket, names.processed_bucket, names.quarantine_bucket, names.scripts_bucket):
            total = 0
            try:
                for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                    total += sum(int(obj.get("Size", 0)) for obj in page.get("Contents", []))
            except ClientError as exc:
                if _error_code(exc) != "NoSuchBucket":
                    raise
                continue
            sizes[bucket] = total
        return sizes


@dataclass
class LogCursor:
    """Reads a log stream incrementally (GetLogEvents with forward tokens); a missing stream is just empty."""

    client: Any
    group: str
    stream: str
    _token: str | None = field(default=None, init=False)

    def fetch_new(self) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        while True:
            kwargs: dict[str, Any] = {"logGroupName": self.group, "logStreamName": self.stream, "startFromHead": True}
            if self._token:
                kwargs["nextToken"] = self._token
            try:
                page = self.client.get_log_events(**kwargs)
            except ClientError as exc:
                if _error_code(exc) == "ResourceNotFoundException":
                    return events
                raise
            batch = page.get("events", [])
            events.extend(batch)
            token = page.get("nextForwardToken")
            if not batch or token == self._token:
                self._token = token or self._token
                return events
            self._token = token


# What Powertools' inject_lambda_context adds to every line of a function: the same on each, noise in a log view.
LAMBDA_CONTEXT_KEYS = frozenset(
    {"cold_start", "function_name", "function_memory_size", "function_arn", "function_request_id", "xray_trace_id"}
)


def format_log_event(event: Mapping[str, Any]) -> str:
    """One readable line from a CloudWatch event; structured JSON logs show level + message (+ extras)."""
    timestamp = datetime.fromtimestamp(int(event.get("timestamp", 0)) / 1000, tz=UTC).strftime("%H:%M:%S")
    message = str(event.get("message", "")).rstrip("\n")
    try:
        payload = json.loads(message)
    except ValueError:
        return f"{timestamp} {message}"
    if not isinstance(payload, dict) or "message" not in payload:
        return f"{timestamp} {message}"
    level = str(payload.get("level", "INFO")).upper()
    shown = payload.keys() - {"message", "level", "timestamp", "logger", "time"} - LAMBDA_CONTEXT_KEYS
    extras = {k: v for k, v in payload.items() if k in shown}
    extra_text = " " + " ".join(f"{k}={v}" for k, v in extras.items()) if extras else ""
    return f"{timestamp} {level:<7} {payload['message']}{extra_text}"


OBSERVED_KEYS = ("observed", "observed_value", "unexpected_count", "unexpected_percent", "missing_count", "error")


def observed_text(result: dict[str, Any]) -> str:
    """What a DQ result saw (the manifest keeps GE's observed_value / unexpected_* when it has them)."""
    parts = []
    for key in OBSERVED_KEYS:
        if result.get(key) is not None:
            value = result[key]
            shown = f"{value:.4g}" if isinstance(value, float) else json.dumps(value, default=str)
            parts.append(shown if key in {"observed", "observed_value"} else f"{key}={shown}")
    text = " ".join(parts) or str(result.get("expectation_type", ""))
    return text if len(text) <= 70 else text[:69] + "…"
