"""What the demo reads back to report on a run, through the public interfaces only: the Glue API, the run
manifests in S3, the Parquet footers, CloudWatch Logs, SQS queue depths and a warehouse query."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

from covid_pipeline import sample_data
from covid_pipeline.common import ACTIVE_STATES, split_s3_uri
from covid_pipeline.config import PipelineConfig
from covid_pipeline.errors import UserError

DEMO_SOURCE = sample_data.SOURCE
POLL_SECONDS = 0.25


def warehouse_path(config: PipelineConfig, state_dir: Path) -> Path:
    from covid_pipeline.local.provision import local_warehouse_url
    from covid_pipeline.warehouse.duckdb_target import duckdb_path

    return Path(duckdb_path(local_warehouse_url(state_dir)))


def warehouse_count(path: Path, source_file_suffix: str | None = None) -> int | None:
    """Rows in fact_covid_daily (optionally of one source file); None while the file is absent or busy."""
    import duckdb

    if not path.is_file():
        return None
    try:
        # Same connection settings as the loader's (DuckDB refuses a second, differently configured one).
        connection = duckdb.connect(str(path))
    except duckdb.Error:
        return None
    try:
        if source_file_suffix is None:
            row = connection.execute("SELECT count(*) FROM fact_covid_daily").fetchone()
        else:
            row = connection.execute(
                "SELECT count(*) FROM fact_covid_daily WHERE source_file LIKE ?", ["%" + source_file_suffix]
            ).fetchone()
        return int(row[0]) if row else 0
    except duckdb.Error:
        return None
    finally:
        connection.close()


def job_runs(glue: Any, job_name: str) -> list[dict[str, Any]]:
    pages = glue.get_paginator("get_job_runs").paginate(JobName=job_name)
    return [run for page in pages for run in page.get("JobRuns", [])]


def runs_since(glue: Any, job_name: str, since: datetime) -> list[dict[str, Any]]:
    return sorted(
        (run for run in job_runs(glue, job_name) if run["StartedOn"] >= since),
        key=lambda run: run["StartedOn"],
    )


def raise_on_function_errors(cloud: Any) -> None:
    """A state-change Lambda that failed will not load the warehouse: say so now, not after the timeout."""
    lambdas = getattr(cloud, "lambdas", None)
    failures = list(lambdas.async_failures) if lambdas is not None else []
    if failures:
        function, event, error = failures[0]
        run_id = (event.get("detail") or {}).get("jobRunId") if isinstance(event, dict) else None
        raise UserError(f"the {function} function failed on the state change of run {run_id}: {error}")


def wait(predicate: Any, timeout: float, what: str, cloud: Any = None) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        raise_on_function_errors(cloud)
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise UserError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(POLL_SECONDS)


def queue_depth(sqs: Any, queue_name: str) -> int:
    from covid_pipeline.local.lambda_sqs_mapping import messages_in_queue

    return messages_in_queue(sqs, sqs.get_queue_url(QueueName=queue_name)["QueueUrl"])


def wait_pipeline_idle(cloud: Any, clients: dict[str, Any], config: PipelineConfig, timeout: float) -> None:
    """In-process: the cloud knows. A cloud in another process: queue empty and no active run, twice in a row."""
    if cloud is not None:
        if not cloud.wait_idle(timeout):
            raise UserError(f"the local cloud was still busy after {timeout:.0f} s")
        return
    calm = 0

    def idle() -> bool:
        nonlocal calm
        busy = queue_depth(clients["sqs"], config.names.raw_events_queue) > 0 or any(
            run["JobRunState"] in ACTIVE_STATES for run in job_runs(clients["glue"], config.names.glue_job)
        )
        calm = 0 if busy else calm + 1
        return calm >= 4

    wait(idle, timeout, "the pipeline to go idle")


def lambda_log_times(logs: Any, function_name: str, since_ms: int, prefix: str) -> list[int]:
    """Timestamps of a function's log lines starting with `prefix` (START/REPORT) since a moment."""
    group = f"/aws/lambda/{function_name}"
    times: list[int] = []
    try:
        paginator = logs.get_paginator("filter_log_events")
        for page in paginator.paginate(logGroupName=group, startTime=since_ms):
            times += [event["timestamp"] for event in page.get("events", []) if event["message"].startswith(prefix)]
    except Exception:  # a missing group only means the function never ran
        return []
    return sorted(times)


def partitions_in_catalog(glue: Any, config: PipelineConfig) -> int:
    pages = glue.get_paginator("get_partitions").paginate(
        DatabaseName=config.names.glue_database, TableName=config.names.glue_tables[DEMO_SOURCE]
    )
    return sum(len(page.get("Partitions", [])) for page in pages)


def parquet_rows(s3: Any, config: PipelineConfig) -> int:
    """Rows of the job's Parquet output as it is now, from the files' footers (each row counted once)."""
    import io

    import pyarrow.parquet as pq

    bucket, prefix = split_s3_uri(config.output_path(DEMO_SOURCE))
    total = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            name = item["Key"].rsplit("/", 1)[-1]
            if not item["Key"].endswith(".parquet") or name.startswith(("_", ".")):
                continue
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            total += pq.ParquetFile(io.BytesIO(body)).metadata.num_rows
    return total


def read_manifests(s3: Any, config: PipelineConfig, runs: list[dict[str, Any]]) -> list[Any]:
    from covid_pipeline.monitoring import read_manifest

    manifests = []
    for run in runs:
        manifest = read_manifest(
            s3, run.get("Arguments", {}).get("--state_path") or config.state_path(DEMO_SOURCE), run["Id"]
        )
        if manifest is not None:
            manifests.append(manifest)
    return manifests
