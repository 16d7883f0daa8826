"""The demo: the spine end to end on generated sample data, on the local cloud.

S3 upload -> SQS -> s3_event_handler -> Glue run -> Parquet + catalog -> warehouse-loader -> DuckDB; then one more
daily report is uploaded and the demo measures how long until its rows are queryable in the warehouse. Everything it
reports is read back through the public interfaces (``demo_probes``). ``covid-pipeline demo`` runs it.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from covid_pipeline import sample_data
from covid_pipeline.config import PipelineConfig, load_config
from covid_pipeline.demo_probes import (
    job_runs,
    lambda_log_times,
    parquet_rows,
    partitions_in_catalog,
    read_manifests,
    runs_since,
    wait,
    wait_pipeline_idle,
    warehouse_count,
    warehouse_path,
)
from covid_pipeline.monitoring import RowCounts


@dataclass
class DemoSummary:
    environment: str
    files: int = 0
    rows_generated: int = 0
    rows: RowCounts = field(default_factory=RowCounts)  # summed over the runs
    partitions: int = 0
    warehouse_rows: int = 0
    output_rows: int = 0
    job_runs: int = 0
    upload_to_queryable_seconds: float | None = None
    warm_worker: bool = False  # the timed upload's run went to a warm worker (a cold job process starts first)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    last_upload_stage_seconds: dict[str, float] = field(default_factory=dict)
    demo_seconds: float = 0.0  # wall clock, cloud start to the end
    reconciled: bool = False
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        document = asdict(self)
        rows = document.pop("rows")
        return {**document, **rows}  # flat: rows_in, rows_out, ... beside the other figures, as the file has been


class Stopwatch:
    def __init__(self) -> None:
        self.laps: dict[str, float] = {}

    @contextlib.contextmanager
    def stage(self, name: str, label: str) -> Iterator[None]:
        print(f"  {label} ...", end="", flush=True)
        started = time.monotonic()
        try:
            yield
        finally:
            self.laps[name] = round(time.monotonic() - started, 2)
            print(f" {self.laps[name]:.1f} s", flush=True)


@contextlib.contextmanager
def _cloud_for_demo(config: PipelineConfig, keep_state: bool) -> Iterator[tuple[Any, dict[str, str], Path]]:
    """(in-process LocalCloud or None, env of the cloud, its state dir): reuse a running one, else start one."""
    from covid_pipeline.local.cloud import LocalCloud
    from covid_pipeline.local.emulator import export_env, restore_env
    from covid_pipeline.local.provision import baseline_dir, save_baseline, start_from_baseline
    from covid_pipeline.local.session import _endpoint_env_from_file
    from covid_pipeline.local.state_folder import local_state_dir

    state_dir = local_state_dir(config)
    running = _endpoint_env_from_file(config)
    if running is not None:
        print(f"  using the local cloud already running at {running['AWS_ENDPOINT_URL']}")
        saved = export_env(running)
        try:
            yield None, running, state_dir
        finally:
            restore_env(saved)
        return
    if not keep_state and state_dir.exists() and any(state_dir.iterdir()):
        previous = state_dir.with_name(state_dir.name + ".previous")
        shutil.rmtree(previous, ignore_errors=True)
        state_dir.rename(previous)
        print(f"  earlier local state moved to {previous} (--keep-state runs on top of it)")
    if not keep_state and start_from_baseline(state_dir):
        print(f"  starting from the provisioned infrastructure in {baseline_dir(state_dir)}")
    with LocalCloud(config, keep_warm_worker=True) as cloud:
        report = cloud.provision_report
        if report is not None and report.applied:
            # Kept before any data arrives: the next demo starts from here instead of applying again.
            print(
                f"  terraform apply: {report.added} added, {report.changed} changed in {report.seconds:.1f} s "
                f"(kept in {save_baseline(state_dir)} for the next demo)"
            )
        yield cloud, cloud.env, cloud.state_dir


def run_demo(
    config: PipelineConfig, *, keep_state: bool = False, seed: int = sample_data.DEFAULT_SEED, timeout: float = 600.0
) -> DemoSummary:
    import boto3

    summary = DemoSummary(environment=config.environment)
    demo_clock = time.monotonic()
    watch = Stopwatch()
    print(f"covid-pipeline demo ({config.environment}): sample data -> S3 -> SQS -> Lambda -> Glue -> warehouse")
    started_cloud = time.monotonic()
    with _cloud_for_demo(config, keep_state) as (cloud, env, state_dir):
        watch.laps["start_local_cloud"] = round(time.monotonic() - started_cloud, 2)
        report = getattr(cloud, "provision_report", None)
        if report is not None:  # 0: the infrastructure was already as Terraform declares it
            watch.laps["terraform_apply_in_start"] = round(report.seconds if report.applied else 0.0, 2)
        # The names come from Terraform's outputs, which exist once the cloud is provisioned.
        config = cloud.config if cloud is not None else load_config(config.environment)
        names = config.names
        print(f"  local cloud ready at {env['AWS_ENDPOINT_URL']} ({watch.laps['start_local_cloud']:.1f} s)")
        session = boto3.session.Session(region_name=config.region)
        clients = {service: session.client(service) for service in ("s3", "glue", "sqs", "logs")}
        warehouse = warehouse_path(config, state_dir)

        with watch.stage("generate_sample_data", "generating sample data"):
            dataset = sample_data.generate(state_dir / "sample_data", seed=seed)
        initial, last = dataset.files[:-1], dataset.files[-1]
        summary.files = len(dataset.files)
        summary.rows_generated = dataset.rows

        # The local Glue runtime starts a warm worker with the cloud (as Glue keeps warm pools). The first
        # run reads every header era; in a JVM still starting it took 56 s, so let the warm-up finish first.
        if cloud is not None and cloud.executor is not None:
            with watch.stage("warm_worker", "letting the local Glue runtime warm a worker"):
                cloud.executor.wait_warm_worker_ready(timeout)
        demo_started = datetime.now(UTC)
        upload_ms = int(time.time() * 1000)
        since_ms = upload_ms - 1000  # CloudWatch timestamps are milliseconds; allow for clock rounding
        with watch.stage("upload", f"uploading the lookup and {len(initial)} daily reports"):
            sample_data.upload_reference(config, dataset, clients["s3"])
            sample_data.upload_reports(config, initial, clients["s3"])
        with watch.stage("pipeline", "events -> handler -> job run(s) -> catalog -> warehouse"):
            wait_pipeline_idle(cloud, clients, config, timeout)
            wait(lambda: warehouse_count(warehouse) is not None, timeout, f"the warehouse {warehouse}", cloud)

        runs = runs_since(clients["glue"], names.glue_job, demo_started)
        handler_starts = lambda_log_times(
            clients["logs"], names.lambda_functions["s3-event-handler"], since_ms, "START"
        )
        loads = lambda_log_times(clients["logs"], names.lambda_functions["warehouse-loader"], since_ms, "REPORT")
        if runs:
            first_start = runs[0]["StartedOn"].timestamp()
            last_end = max((run.get("CompletedOn") or run["StartedOn"]).timestamp() for run in runs)
            if handler_starts:
                summary.stage_seconds["upload_to_first_handler_call"] = round((handler_starts[0] - upload_ms) / 1000, 2)
            summary.stage_seconds["job_runs_busy"] = round(
                sum(((run.get("CompletedOn") or run["StartedOn"]) - run["StartedOn"]).total_seconds() for run in runs),
                2,
            )
            summary.stage_seconds["first_run_start_to_last_run_end"] = round(last_end - first_start, 2)
            if loads:
                summary.stage_seconds["last_run_end_to_warehouse_loaded"] = round(max(loads) / 1000 - last_end, 2)

        # One more daily report: how long until its rows can be queried? On a cloud that has been up a while the
        # next run finds a warm worker, as on Glue (the one that ran the last run, when it succeeded; else a
        # new one warming up): wait for it, so that the figure is the steady one.
        if cloud is not None and cloud.executor is not None:
            with watch.stage("warm_worker_ready_again", "waiting for the warm worker"):
                summary.warm_worker = cloud.executor.wait_warm_worker_ready(timeout)
        before = {run["Id"] for run in job_runs(clients["glue"], names.glue_job)}
        upload_started = time.monotonic()
        upload_moment = datetime.now(UTC)
        print(f"  uploading one more daily report ({last.name}) and timing it until queryable ...", end="", flush=True)
        sample_data.upload_reports(config, [last], clients["s3"])
        wait(lambda: (warehouse_count(warehouse, last.name) or 0) > 0, timeout, f"rows of {last.name} in the warehouse")
        queryable_after = time.monotonic() - upload_started
        summary.upload_to_queryable_seconds = round(queryable_after, 2)
        print(f" {queryable_after:.1f} s")
        new_runs = [
            run for run in runs_since(clients["glue"], names.glue_job, upload_moment) if run["Id"] not in before
        ]
        if new_runs:
            run = new_runs[0]
            summary.last_upload_stage_seconds = {
                "upload_to_run_started": round((run["StartedOn"] - upload_moment).total_seconds(), 2),
                "job_run": round(((run.get("CompletedOn") or run["StartedOn"]) - run["StartedOn"]).total_seconds(), 2),
            }
            completed = run.get("CompletedOn")
            if completed is not None:
                summary.last_upload_stage_seconds["run_end_to_queryable"] = round(
                    upload_moment.timestamp() + queryable_after - completed.timestamp(), 2
                )
        with watch.stage("settle", "waiting for the pipeline to settle"):
            wait_pipeline_idle(cloud, clients, config, timeout)

        all_runs = runs_since(clients["glue"], names.glue_job, demo_started)
        failed = [run for run in all_runs if run["JobRunState"] != "SUCCEEDED"]
        for run in failed:
            summary.notes.append(f"run {run['Id']} {run['JobRunState']}: {run.get('ErrorMessage', '')}")
        manifests = read_manifests(
            clients["s3"], config, [run for run in all_runs if run["JobRunState"] == "SUCCEEDED"]
        )
        summary.job_runs = len(all_runs)
        summary.rows = RowCounts.total(manifests)
        summary.partitions = partitions_in_catalog(clients["glue"], config) or len(
            {p for m in manifests for p in m.partitions_written}
        )
        summary.warehouse_rows = warehouse_count(warehouse) or 0
        summary.output_rows = parquet_rows(clients["s3"], config)
        unbalanced = [m.run_id for m in manifests if not m.reconciled]
        files_processed = sum(m.files_processed for m in manifests)
        summary.reconciled = (
            not unbalanced
            and not failed
            and summary.warehouse_rows == summary.output_rows
            and summary.rows.rows_in >= summary.rows_generated
            and files_processed >= len(dataset.files)
        )
        for run_id in unbalanced:
            summary.notes.append(f"run {run_id}: rows in != rows out + quarantined + duplicates")
        if summary.warehouse_rows != summary.output_rows:
            summary.notes.append(
                f"the warehouse has {summary.warehouse_rows} rows, the job's Parquet output {summary.output_rows}"
            )
        if files_processed < len(dataset.files):
            summary.notes.append(
                f"the runs processed {files_processed} of the {len(dataset.files)} files "
                "(an earlier state had some of them: run without --keep-state for a clean count)"
            )
        if summary.rows.rows_in > summary.rows_generated:
            summary.notes.append(
                "rows in/out are summed over the runs: a run re-reads the rows of the partitions it rewrites "
                f"({summary.rows.rows_in - summary.rows_generated} re-read here); output rows counts each row once"
            )
    summary.stage_seconds = {**watch.laps, **summary.stage_seconds}
    summary.demo_seconds = round(time.monotonic() - demo_clock, 2)
    return summary


def format_summary(summary: DemoSummary) -> str:
    rows = [
        ("files (daily reports)", summary.files),
        ("rows generated", summary.rows_generated),
        ("rows in (sum over runs)", summary.rows.rows_in),
        ("rows out (sum over runs)", summary.rows.rows_out),
        ("rows quarantined", summary.rows.rows_quarantined),
        ("rows dropped as duplicates", summary.rows.rows_duplicate),
        ("output rows (Parquet now)", summary.output_rows),
        ("partitions (catalog)", summary.partitions),
        ("warehouse rows", summary.warehouse_rows),
        ("job runs", summary.job_runs),
        ("demo wall clock (s)", f"{summary.demo_seconds:.1f}"),
        ("reconciled", "yes" if summary.reconciled else "NO"),
    ]
    rows += [(f"seconds: {name.replace('_', ' ')}", f"{value:.1f}") for name, value in summary.stage_seconds.items()]
    rows += [
        (f"last upload: {name.replace('_', ' ')}", f"{value:.1f}")
        for name, value in summary.last_upload_stage_seconds.items()
    ]
    rows.append(("last upload: job process", "warm" if summary.warm_worker else "cold"))
    queryable = summary.upload_to_queryable_seconds
    rows.append(("last upload -> rows queryable (s)", "n/a" if queryable is None else f"{queryable:.1f}"))
    width = max(len(label) for label, _ in rows)
    value_width = max(len(str(value)) for _, value in rows)
    lines = ["", f"{'demo summary':<{width}}  {'':>{value_width}}", "-" * (width + value_width + 2)]
    lines += [f"{label:<{width}}  {value!s:>{value_width}}" for label, value in rows]
    lines += [f"note: {note}" for note in summary.notes]
    return "\n".join(lines)
