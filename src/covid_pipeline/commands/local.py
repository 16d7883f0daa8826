"""`covid-pipeline local up` and `covid-pipeline demo`: the local cloud in the foreground, and the whole pipeline on it.

`local up` starts the local cloud of an environment (moto + the Glue executor + the Lambda runtime),
prints how to reach it and keeps it running until Ctrl-C (the state is saved under .local/<env>/).

`demo` runs the spine end to end on generated sample data: S3 upload -> SQS -> s3_event_handler ->
Glue run -> Parquet + catalog -> warehouse-loader -> DuckDB; then uploads one more daily report and
measures how long until its rows are queryable in the warehouse. Everything it reports is read back
through the public interfaces (Glue API, the run manifests in S3, CloudWatch Logs, a warehouse query).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from covid_pipeline import sample_data
from covid_pipeline.common import ACTIVE_STATES, split_s3_uri
from covid_pipeline.config import REPO_ROOT, PipelineConfig, load_config
from covid_pipeline.errors import UserError

DEMO_SOURCE = sample_data.SOURCE
POLL_SECONDS = 0.25


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    local = subparsers.add_parser("local", help="the local cloud (embedded AWS emulator + runtimes)")
    local_commands = local.add_subparsers(dest="local_command", required=True, metavar="COMMAND")
    up = local_commands.add_parser("up", help="run the local cloud in the foreground until Ctrl-C")
    up.add_argument("--sample-data", action="store_true", help="also upload the generated sample data once up")
    up.set_defaults(handler=local_up)
    down = local_commands.add_parser("down", help="stop the local cloud that `local up` runs (its state is saved)")
    down.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for it to save and stop")
    down.set_defaults(handler=local_down)

    demo = subparsers.add_parser("demo", help="run the whole pipeline locally on generated sample data")
    demo.add_argument("--keep-state", action="store_true", help="run on top of the existing .local/<env> state")
    demo.add_argument("--seed", type=int, default=sample_data.DEFAULT_SEED, help="sample data seed")
    demo.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for each stage")
    demo.add_argument("--summary", type=Path, default=REPO_ROOT / ".local" / "demo-summary.json")
    demo.set_defaults(handler=run_demo_command)


# --- local up --------------------------------------------------------------------------------------------------------


def _show_logs_of_the_runtimes() -> None:
    import logging

    # Let the user watch uploads turn into runs: the runtimes log their steps at INFO.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s", "%H:%M:%S"))
    for name in ("covid_pipeline.local",):
        logger = logging.getLogger(name)
        logger.setLevel(logging.INFO)
        logger.addHandler(handler)
        logger.propagate = False


def describe_cloud(config: PipelineConfig, endpoint: str, env: dict[str, str]) -> str:
    names = config.names
    lines = [
        f"local cloud '{config.environment}' is up",
        f"  endpoint       {endpoint}   (CA certificate: {env.get('AWS_CA_BUNDLE')})",
        f"  raw bucket     s3://{names.raw_bucket}/{config['raw_prefix']}<source>/   (sources: jhu_daily, owid)",
        f"  processed      s3://{names.processed_bucket}/",
        f"  queue          {names.raw_events_queue} (DLQ {names.raw_events_dlq})",
        f"  glue job       {names.glue_job}",
        "",
        "use it from another shell:",
        *(f"  export {key}={value}" for key, value in sorted(env.items())),
        f"  aws --endpoint-url {endpoint} s3 cp 01-22-2020.csv "
        f"s3://{names.raw_bucket}/{config['raw_prefix']}{DEMO_SOURCE}/01-22-2020.csv",
        f"  aws --endpoint-url {endpoint} glue get-job-runs --job-name {names.glue_job}",
        f"  scripts/deploy.sh {config.environment} plan --local-endpoint {endpoint}   # the same Terraform state",
        f"  covid-pipeline --env {config.environment} runs",
        "",
        f"Ctrl-C (or covid-pipeline --env {config.environment} local down) stops it; the state is saved and restored"
        " next time.",
    ]
    return "\n".join(lines)


def local_up(args: argparse.Namespace) -> int:
    from covid_pipeline.local.cloud import LocalCloud

    config = load_config(args.env)
    _show_logs_of_the_runtimes()
    stop = threading.Event()
    previous_sigterm = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with LocalCloud(config, warm_standby=True) as cloud:
            config = cloud.config
            report = cloud.provision_report
            if report is not None:
                done = f"applied ({report.added} added, {report.changed} changed)" if report.applied else "no changes"
                print(f"terraform: {done} in {report.seconds:.1f} s", flush=True)
            print(describe_cloud(config, cloud.endpoint_url, cloud.env), flush=True)
            if args.sample_data:
                dataset = sample_data.generate(cloud.state_dir / "sample_data")
                s3 = cloud.client("s3")
                sample_data.upload_reference(config, dataset, s3)
                uploaded = sample_data.upload_reports(config, dataset.files, s3)
                print(f"uploaded {len(uploaded)} sample daily reports", flush=True)
            try:
                while not stop.wait(1.0):
                    pass
            except KeyboardInterrupt:
                pass
            print("stopping: saving the state ...", flush=True)
    finally:
        signal.signal(signal.SIGTERM, previous_sigterm)
    return 0


def local_down(args: argparse.Namespace) -> int:
    """SIGTERM to the process serving this environment's local cloud, then wait until it has saved its state."""
    from covid_pipeline.local.cloud import ENDPOINT_FILE
    from covid_pipeline.local.session import local_state_dir

    config = load_config(args.env)
    path = local_state_dir(config) / ENDPOINT_FILE
    try:
        pid = int(json.loads(path.read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        print(f"no local cloud of '{config.environment}' is running")
        return 0
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        path.unlink(missing_ok=True)
        print(f"the local cloud of '{config.environment}' (pid {pid}) had already stopped")
        return 0
    deadline = time.monotonic() + args.timeout
    while path.exists():
        if time.monotonic() >= deadline:
            raise UserError(f"the local cloud (pid {pid}) did not stop within {args.timeout:.0f} s")
        time.sleep(0.2)
    print(f"local cloud '{config.environment}' stopped; its state is saved in {path.parent}")
    return 0


# --- demo ------------------------------------------------------------------------------------------------------------


@dataclass
class DemoSummary:
    environment: str
    files: int = 0
    rows_generated: int = 0
    rows_in: int = 0
    rows_out: int = 0
    rows_quarantined: int = 0
    rows_duplicate: int = 0
    partitions: int = 0
    warehouse_rows: int = 0
    output_rows: int = 0
    job_runs: int = 0
    upload_to_queryable_seconds: float | None = None
    warm_job_process: bool = False  # the timed upload's run went to a warm job process (a cold one starts first)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    last_upload_stage_seconds: dict[str, float] = field(default_factory=dict)
    demo_seconds: float = 0.0  # wall clock, cloud start to the end
    reconciled: bool = False
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


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


def _warehouse_path(config: PipelineConfig, state_dir: Path) -> Path:
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


def _job_runs(glue: Any, job_name: str) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = []
    token = None
    while True:
        page = glue.get_job_runs(JobName=job_name, **({"NextToken": token} if token else {}))
        runs += page.get("JobRuns", [])
        token = page.get("NextToken")
        if not token:
            return runs


def _runs_since(glue: Any, job_name: str, since: datetime) -> list[dict[str, Any]]:
    return sorted(
        (run for run in _job_runs(glue, job_name) if run["StartedOn"] >= since),
        key=lambda run: run["StartedOn"],
    )


def _raise_on_function_errors(cloud: Any) -> None:
    """A state-change Lambda that failed will not load the warehouse: say so now, not after the timeout."""
    lambdas = getattr(cloud, "lambdas", None)
    failures = list(lambdas.async_failures) if lambdas is not None else []
    if failures:
        function, event, error = failures[0]
        run_id = (event.get("detail") or {}).get("jobRunId") if isinstance(event, dict) else None
        raise UserError(f"the {function} function failed on the state change of run {run_id}: {error}")


def _wait(predicate: Any, timeout: float, what: str, cloud: Any = None) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        _raise_on_function_errors(cloud)
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise UserError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(POLL_SECONDS)


def _queue_depth(sqs: Any, queue_name: str) -> int:
    url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def wait_pipeline_idle(cloud: Any, clients: dict[str, Any], config: PipelineConfig, timeout: float) -> None:
    """In-process: the cloud knows. A cloud in another process: queue empty and no active run, twice in a row."""
    if cloud is not None:
        if not cloud.wait_idle(timeout):
            raise UserError(f"the local cloud was still busy after {timeout:.0f} s")
        return
    calm = 0

    def idle() -> bool:
        nonlocal calm
        busy = _queue_depth(clients["sqs"], config.names.raw_events_queue) > 0 or any(
            run["JobRunState"] in ACTIVE_STATES for run in _job_runs(clients["glue"], config.names.glue_job)
        )
        calm = 0 if busy else calm + 1
        return calm >= 4

    _wait(idle, timeout, "the pipeline to go idle")


def _lambda_log_times(logs: Any, function_name: str, since_ms: int, prefix: str) -> list[int]:
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


def _partitions_in_catalog(glue: Any, config: PipelineConfig) -> int:
    count = 0
    token = None
    while True:
        page = glue.get_partitions(
            DatabaseName=config.names.glue_database,
            TableName=config.names.glue_tables[DEMO_SOURCE],
            **({"NextToken": token} if token else {}),
        )
        count += len(page.get("Partitions", []))
        token = page.get("NextToken")
        if not token:
            return count


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


def _read_manifests(s3: Any, config: PipelineConfig, runs: list[dict[str, Any]]) -> list[Any]:
    from covid_pipeline.monitoring import read_manifest

    manifests = []
    for run in runs:
        manifest = read_manifest(
            s3, run.get("Arguments", {}).get("--state_path") or config.state_path(DEMO_SOURCE), run["Id"]
        )
        if manifest is not None:
            manifests.append(manifest)
    return manifests


@contextlib.contextmanager
def _cloud_for_demo(config: PipelineConfig, keep_state: bool) -> Iterator[tuple[Any, dict[str, str], Path]]:
    """(in-process LocalCloud or None, env of the cloud, its state dir): reuse a running one, else start one."""
    from covid_pipeline.local.cloud import LocalCloud, default_state_dir
    from covid_pipeline.local.emulator import export_env, restore_env
    from covid_pipeline.local.provision import baseline_dir, save_baseline, start_from_baseline
    from covid_pipeline.local.session import _endpoint_env_from_file

    state_dir = default_state_dir(config)
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
    with LocalCloud(config, warm_standby=True) as cloud:
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
        warehouse = _warehouse_path(config, state_dir)

        with watch.stage("generate_sample_data", "generating sample data"):
            dataset = sample_data.generate(state_dir / "sample_data", seed=seed)
        initial, last = dataset.files[:-1], dataset.files[-1]
        summary.files = len(dataset.files)
        summary.rows_generated = dataset.rows

        # The local Glue runtime starts warming a job process with the cloud (as Glue keeps warm pools). The first
        # run reads every header era; in a JVM still starting it took 56 s, so let the warm-up finish first.
        if cloud is not None and cloud.executor is not None:
            with watch.stage("warm_job_process", "letting the local Glue runtime warm a job process"):
                cloud.executor.wait_standby_ready(timeout)
        demo_started = datetime.now(UTC)
        upload_ms = int(time.time() * 1000)
        since_ms = upload_ms - 1000  # CloudWatch timestamps are milliseconds; allow for clock rounding
        with watch.stage("upload", f"uploading the lookup and {len(initial)} daily reports"):
            sample_data.upload_reference(config, dataset, clients["s3"])
            sample_data.upload_reports(config, initial, clients["s3"])
        with watch.stage("pipeline", "events -> handler -> job run(s) -> catalog -> warehouse"):
            wait_pipeline_idle(cloud, clients, config, timeout)
            _wait(lambda: warehouse_count(warehouse) is not None, timeout, f"the warehouse {warehouse}", cloud)

        runs = _runs_since(clients["glue"], names.glue_job, demo_started)
        handler_starts = _lambda_log_times(
            clients["logs"], names.lambda_functions["s3-event-handler"], since_ms, "START"
        )
        loads = _lambda_log_times(clients["logs"], names.lambda_functions["warehouse-loader"], since_ms, "REPORT")
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
        # next run finds a warm job process, as on Glue (the one that ran the last run, when it succeeded; else a
        # new one warming up): wait for it, so that the figure is the steady one.
        if cloud is not None and cloud.executor is not None:
            with watch.stage("job_process_ready_again", "waiting for the warm job process"):
                summary.warm_job_process = cloud.executor.wait_standby_ready(timeout)
        before = {run["Id"] for run in _job_runs(clients["glue"], names.glue_job)}
        upload_started = time.monotonic()
        upload_moment = datetime.now(UTC)
        print(f"  uploading one more daily report ({last.name}) and timing it until queryable ...", end="", flush=True)
        sample_data.upload_reports(config, [last], clients["s3"])
        _wait(
            lambda: (warehouse_count(warehouse, last.name) or 0) > 0, timeout, f"rows of {last.name} in the warehouse"
        )
        queryable_after = time.monotonic() - upload_started
        summary.upload_to_queryable_seconds = round(queryable_after, 2)
        print(f" {queryable_after:.1f} s")
        new_runs = [
            run for run in _runs_since(clients["glue"], names.glue_job, upload_moment) if run["Id"] not in before
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

        all_runs = _runs_since(clients["glue"], names.glue_job, demo_started)
        failed = [run for run in all_runs if run["JobRunState"] != "SUCCEEDED"]
        for run in failed:
            summary.notes.append(f"run {run['Id']} {run['JobRunState']}: {run.get('ErrorMessage', '')}")
        manifests = _read_manifests(
            clients["s3"], config, [run for run in all_runs if run["JobRunState"] == "SUCCEEDED"]
        )
        summary.job_runs = len(all_runs)
        summary.rows_in = sum(m.rows_in for m in manifests)
        summary.rows_out = sum(m.rows_out for m in manifests)
        summary.rows_quarantined = sum(m.rows_quarantined for m in manifests)
        summary.rows_duplicate = sum(m.rows_duplicate for m in manifests)
        summary.partitions = _partitions_in_catalog(clients["glue"], config) or len(
            {p for m in manifests for p in m.partitions_written}
        )
        summary.warehouse_rows = warehouse_count(warehouse) or 0
        summary.output_rows = parquet_rows(clients["s3"], config)
        unbalanced = [m.run_id for m in manifests if m.rows_in != m.rows_out + m.rows_quarantined + m.rows_duplicate]
        files_processed = sum(m.files_processed for m in manifests)
        summary.reconciled = (
            not unbalanced
            and not failed
            and summary.warehouse_rows == summary.output_rows
            and summary.rows_in >= summary.rows_generated
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
        if summary.rows_in > summary.rows_generated:
            summary.notes.append(
                "rows in/out are summed over the runs: a run re-reads the rows of the partitions it rewrites "
                f"({summary.rows_in - summary.rows_generated} re-read here); output rows counts each row once"
            )
    summary.stage_seconds = {**watch.laps, **summary.stage_seconds}
    summary.demo_seconds = round(time.monotonic() - demo_clock, 2)
    return summary


def format_summary(summary: DemoSummary) -> str:
    rows = [
        ("files (daily reports)", summary.files),
        ("rows generated", summary.rows_generated),
        ("rows in (sum over runs)", summary.rows_in),
        ("rows out (sum over runs)", summary.rows_out),
        ("rows quarantined", summary.rows_quarantined),
        ("rows dropped as duplicates", summary.rows_duplicate),
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
    rows.append(("last upload: job process", "warm" if summary.warm_job_process else "cold"))
    queryable = summary.upload_to_queryable_seconds
    rows.append(("last upload -> rows queryable (s)", "n/a" if queryable is None else f"{queryable:.1f}"))
    width = max(len(label) for label, _ in rows)
    value_width = max(len(str(value)) for _, value in rows)
    lines = ["", f"{'demo summary':<{width}}  {'':>{value_width}}", "-" * (width + value_width + 2)]
    lines += [f"{label:<{width}}  {value!s:>{value_width}}" for label, value in rows]
    lines += [f"note: {note}" for note in summary.notes]
    return "\n".join(lines)


def run_demo_command(args: argparse.Namespace) -> int:
    config = load_config(args.env)
    summary = run_demo(config, keep_state=args.keep_state, seed=args.seed, timeout=args.timeout)
    print(format_summary(summary))
    args.summary.parent.mkdir(parents=True, exist_ok=True)
    args.summary.write_text(json.dumps(summary.as_json(), indent=2) + "\n")
    print(f"\nwrote {args.summary}")
    return 0 if summary.reconciled else 1
