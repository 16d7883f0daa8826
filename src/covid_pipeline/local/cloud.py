"""LocalCloud: the whole AWS side of the pipeline on a laptop, in this process.

``start()`` brings up, in order:
1. moto's server on a free loopback port, and the Glue front on another (job runs are executed
   by the local Glue executor; everything else is moto). The main endpoint answers the job-run
   actions from the executor as well, so a client with only ``--endpoint-url`` sees real runs;
2. the saved state of the environment (objects, catalog) from ``<state_dir>``;
3. provisioning from config/<env>.tfvars (idempotent), S3 -> SQS notifications last, so restored
   objects do not look like new uploads;
4. the run history, and the Lambda runtime: an SQS event source mapping feeding the raw-events
   queue to lambda/s3_event_handler.py, and the "Glue Job State Change" events of finished runs
   delivered to lambda/data_quality_monitor.py and lambda/warehouse_loader.py (what the EventBridge
   rule does on AWS).

The endpoint variables (``AWS_ENDPOINT_URL``, ``AWS_ENDPOINT_URL_GLUE``, dummy credentials,
region) are exported into os.environ while the cloud runs, so any boto3 code in the process just
works; ``.env`` gives the same for child processes, and ``<state_dir>/endpoint.json`` lets other
processes (the CLI) attach to a running cloud. ``stop()`` stops runs and pollers and snapshots
the state to disk.

moto keeps its state in module globals, so a process can run one LocalCloud at a time.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import queue
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from botocore.exceptions import ClientError

from covid_pipeline.config import METRICS_NAMESPACE, REPO_ROOT, SOURCES, PipelineConfig
from covid_pipeline.errors import UserError
from covid_pipeline.local import bootstrap
from covid_pipeline.local.alarm_evaluator import evaluate_alarms
from covid_pipeline.local.emulator import ClientCache, Emulator, emulator_env, export_env, restore_env
from covid_pipeline.local.glue_executor import GlueExecutor
from covid_pipeline.local.glue_front import GlueFront
from covid_pipeline.local.lambda_runtime import SqsEventSourceMapping, invoke
from covid_pipeline.local.state import EmulatorState

log = logging.getLogger(__name__)

LAMBDA_DIR = REPO_ROOT / "lambda"
HANDLER_NAME = "handler"
# Short function name -> handler file (config.LAMBDA_FUNCTIONS).
HANDLER_FILES = {
    "s3-event-handler": LAMBDA_DIR / "s3_event_handler.py",
    "data-quality-monitor": LAMBDA_DIR / "data_quality_monitor.py",
    "warehouse-loader": LAMBDA_DIR / "warehouse_loader.py",
}
# Functions that the Glue state-change rule targets (terraform: one rule on every final state, both targets).
STATE_CHANGE_TARGETS = ("data-quality-monitor", "warehouse-loader")
SUPPORTED_SUFFIXES = ".csv,.csv.gz,.json,.jsonl,.parquet"
ENDPOINT_FILE = "endpoint.json"
LOCK_FILE = ".lock"

_active_lock = threading.Lock()
_active: LocalCloud | None = None


def default_state_dir(config: PipelineConfig) -> Path:
    """``<repo>/.local/<env>`` (or ``$COVID_PIPELINE_LOCAL_DIR/<env>``), shared with the CLI's session lookup."""
    return Path(os.environ.get("COVID_PIPELINE_LOCAL_DIR", REPO_ROOT / ".local")) / config.environment


def warehouse_url(config: PipelineConfig, state_dir: Path) -> str:
    """The local warehouse: an embedded DuckDB file in the state dir (Redshift's stand-in)."""
    return f"duckdb:///{(state_dir / 'warehouse.duckdb').resolve()}"


def lambda_function_env(config: PipelineConfig, cloud: LocalCloud | None = None) -> dict[str, dict[str, str]]:
    """Each Lambda function's environment variables, as terraform/lambda.tf sets them.

    Every function:      AWS_REGION, LOG_LEVEL=INFO, POWERTOOLS_SERVICE_NAME=<short name>,
                         AWS_LAMBDA_FUNCTION_NAME=<prefix>-<short name>, ENVIRONMENT, GLUE_JOB_NAME,
                         ALERTS_TOPIC_ARN, METRICS_NAMESPACE
    s3-event-handler:    RAW_BUCKET, RAW_PREFIX, STATE_BUCKET (= processed bucket), STATE_PREFIX (claims go under
                         STATE_PREFIX + "events/"), SUPPORTED_SUFFIXES=.csv,.csv.gz,.json,.jsonl,.parquet,
                         KNOWN_SOURCES=jhu_daily,owid, OUTPUT_BUCKET, TABLE_PREFIX, QUARANTINE_BUCKET,
                         QUARANTINE_PREFIX
    data-quality-monitor: PROCESSED_BUCKET, STATE_PREFIX, DQ_SCORE_THRESHOLD, QUARANTINE_RATIO_THRESHOLD,
                          CLAIM_STALE_SECONDS
    warehouse-loader:    PROCESSED_BUCKET, STATE_PREFIX, GLUE_DATABASE, WAREHOUSE_URL (locally
                         duckdb:///<state_dir>/warehouse.duckdb; on AWS the Redshift URL)

    The endpoint variables are not part of it: the functions run in this process, whose os.environ
    already points boto3 at the emulator (as Lambda's own environment points it at AWS).
    """
    names = config.names
    common = {
        "AWS_REGION": config.region,
        "LOG_LEVEL": "INFO",
        "ENVIRONMENT": config.environment,
        "GLUE_JOB_NAME": names.glue_job,
        "ALERTS_TOPIC_ARN": bootstrap.topic_arn(config),
        "METRICS_NAMESPACE": METRICS_NAMESPACE,
    }
    state_dir = cloud.state_dir if cloud is not None else default_state_dir(config)
    specific = {
        "s3-event-handler": {
            "RAW_BUCKET": names.raw_bucket,
            "RAW_PREFIX": str(config["raw_prefix"]),
            "STATE_BUCKET": names.processed_bucket,
            "STATE_PREFIX": str(config["state_prefix"]),
            "SUPPORTED_SUFFIXES": SUPPORTED_SUFFIXES,
            "KNOWN_SOURCES": ",".join(SOURCES),
            "OUTPUT_BUCKET": names.processed_bucket,
            "TABLE_PREFIX": str(config["glue_table_prefix"]),
            "QUARANTINE_BUCKET": names.quarantine_bucket,
            "QUARANTINE_PREFIX": str(config["quarantine_prefix"]),
        },
        "data-quality-monitor": {
            "PROCESSED_BUCKET": names.processed_bucket,
            "STATE_PREFIX": str(config["state_prefix"]),
            "DQ_SCORE_THRESHOLD": str(config["dq_score_threshold"]),
            "QUARANTINE_RATIO_THRESHOLD": str(config["quarantine_ratio_threshold"]),
            "CLAIM_STALE_SECONDS": str(config["lambda_timeout_seconds"]),
        },
        "warehouse-loader": {
            "PROCESSED_BUCKET": names.processed_bucket,
            "STATE_PREFIX": str(config["state_prefix"]),
            "GLUE_DATABASE": names.glue_database,
            "WAREHOUSE_URL": warehouse_url(config, state_dir),
        },
    }
    return {
        short: {
            **common,
            "POWERTOOLS_SERVICE_NAME": short,
            "AWS_LAMBDA_FUNCTION_NAME": names.lambda_functions[short],
            **specific[short],
        }
        for short in specific
    }


class LocalCloud:
    """The local AWS cloud of one environment; a context manager (``with LocalCloud(config) as cloud:``).

    Options for tests and drills: ``timeout_minute_seconds`` shortens what one minute of a Glue job
    Timeout lasts; ``spark_master`` / ``spark_conf`` change how job runs execute Spark;
    ``snapshot_after_runs`` saves the state after every finished run, ``snapshot_interval_seconds`` every so
    often (uploads between runs survive a crash), both besides the snapshot at stop. Snapshots are incremental.
    ``cloudwatch_interval_seconds``: how often the local cloud does what CloudWatch does on AWS and moto does
    not: publish the AWS/SQS queue metrics and evaluate the alarms (None: only when asked, ``run_cloudwatch()``).
    ``warm_standby``: keep one warm job process ready for the next Glue run (``local up`` and the demo do; it
    costs a JVM's memory while idle, so tests that only need a few runs leave it off).
    """

    def __init__(
        self,
        config: PipelineConfig,
        state_dir: Path | None = None,
        run_lambdas: bool = True,
        *,
        timeout_minute_seconds: float = 60.0,
        spark_master: str = "local[2]",
        spark_conf: dict[str, str] | None = None,
        snapshot_after_runs: bool = True,
        snapshot_interval_seconds: float | None = 120.0,
        cloudwatch_interval_seconds: float | None = 60.0,
        warm_standby: bool = False,
    ) -> None:
        self.config = config
        self.warm_standby = warm_standby
        self.state_dir = (state_dir or default_state_dir(config)).resolve()
        self.run_lambdas = run_lambdas
        self.timeout_minute_seconds = timeout_minute_seconds
        self.spark_master = spark_master
        self.spark_conf = dict(spark_conf or {})
        self.snapshot_after_runs = snapshot_after_runs
        self.snapshot_interval_seconds = snapshot_interval_seconds
        self.cloudwatch_interval_seconds = cloudwatch_interval_seconds
        self._cloudwatch_loop: threading.Thread | None = None
        self._stopping = threading.Event()
        self._snapshotter: threading.Thread | None = None
        self.emulator = Emulator(config.region)
        self.front: GlueFront | None = None
        self.executor: GlueExecutor | None = None
        self.state: EmulatorState | None = None
        self.provision_report: bootstrap.ProvisionReport | None = None
        self.event_source_mapping: Any = None
        self.state_change_errors: list[tuple[str, str, str]] = []  # (function, run id, error) for diagnosis
        self._env: dict[str, str] = {}
        self._saved_environ: dict[str, str | None] | None = None
        self._lock_handle: Any = None
        self._events: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._dispatcher: threading.Thread | None = None
        self._started = False
        self._clients: ClientCache | None = None
        self._moto_client: ClientCache | None = None

    # --- public surface ---------------------------------------------------------------------------

    @property
    def endpoint_url(self) -> str:
        return self.emulator.endpoint_url

    @property
    def glue_endpoint_url(self) -> str:
        if self.front is None:
            raise RuntimeError("the local cloud is not started")
        return self.front.endpoint_url

    @property
    def env(self) -> dict[str, str]:
        """Variables a child process needs to reach this cloud with boto3 or the AWS CLI."""
        return dict(self._env)

    @property
    def function_env(self) -> dict[str, dict[str, str]]:
        return lambda_function_env(self.config, self)

    def client(self, service: str) -> Any:
        """A boto3 client for this cloud (Glue through the front), cached per service; safe to share across threads."""
        if self._clients is None:
            raise RuntimeError("the local cloud is not started")
        return self._clients(service)

    # --- lifecycle --------------------------------------------------------------------------------

    def __enter__(self) -> LocalCloud:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> LocalCloud:
        global _active
        with _active_lock:
            if _active is self:
                return self
            if _active is not None:
                raise RuntimeError(
                    "a LocalCloud is already running in this process (moto's state is per process): stop it first"
                )
            _active = self
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        started = time.monotonic()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._acquire_state_lock()
        region = self.config.region
        moto_endpoint = self.emulator.start()
        self.executor = GlueExecutor(
            moto_endpoint=moto_endpoint,
            region=region,
            work_root=self.state_dir / "glue-runs",
            history_path=self.state_dir / "glue_runs.json",
            child_env={},
            spark_master=self.spark_master,
            spark_conf=self.spark_conf,
            timeout_minute_seconds=self.timeout_minute_seconds,
            warm_standby=self.warm_standby,
        )
        self.emulator.glue_actions.actions = self.executor.actions()
        self.front = GlueFront(moto_endpoint, self.executor.actions())
        glue_endpoint = self.front.start()
        self._env = emulator_env(moto_endpoint, region, glue_endpoint)
        self._clients = ClientCache(moto_endpoint, region, {"glue": glue_endpoint})
        # Straight to moto, bypassing the Glue front: for provisioning and snapshots.
        self._moto_client = ClientCache(moto_endpoint, region)
        self.executor.child_env = dict(self._env)
        self._saved_environ = export_env(self._env)
        self._started = True

        self.state = EmulatorState(self.state_dir)
        try:
            restored = self.state.restore()
        except (OSError, ValueError, KeyError, ClientError) as exc:
            raise UserError(
                f"could not restore the local cloud's saved state from {self.state_dir}: {type(exc).__name__}: {exc}"
                " (move that folder away to start with an empty cloud)"
            ) from exc
        self.provision_report = bootstrap.provision(self.config, self._moto_client)
        runs = self.executor.restore()
        self.executor.start_standby()  # after provisioning: it imports the job's --additional-python-modules
        self.executor.on_run_finished.append(self._events.put)
        self._dispatcher = threading.Thread(target=self._dispatch_loop, name="glue-state-change-events", daemon=True)
        self._dispatcher.start()
        if self.run_lambdas:
            self._start_event_source_mapping()
        self._stopping.clear()
        if self.cloudwatch_interval_seconds:
            self._cloudwatch_loop = threading.Thread(
                target=self._every,
                args=(self.cloudwatch_interval_seconds, self.run_cloudwatch, "CloudWatch emulation"),
                name="cloudwatch",
                daemon=True,
            )
            self._cloudwatch_loop.start()
        if self.snapshot_interval_seconds:
            self._snapshotter = threading.Thread(target=self._snapshot_loop, name="state-snapshots", daemon=True)
            self._snapshotter.start()
        self._write_endpoint_file()
        log.info(
            "local cloud %s up in %.1f s at %s (restored %d objects, %d tables, %d runs)",
            self.config.environment,
            time.monotonic() - started,
            moto_endpoint,
            restored.objects,
            restored.tables,
            runs,
        )

    def stop(self) -> None:
        """Stop pollers and runs, save the state, shut the servers down. Safe to call twice."""
        global _active
        try:
            self._stopping.set()
            if self._snapshotter is not None:
                self._snapshotter.join(timeout=120)
                self._snapshotter = None
            if self._cloudwatch_loop is not None:
                self._cloudwatch_loop.join(timeout=60)
                self._cloudwatch_loop = None
            if self.event_source_mapping is not None:
                self.event_source_mapping.stop()
                self.event_source_mapping = None
            if self.executor is not None:
                self.executor.shutdown()
            if self._dispatcher is not None:
                self._events.put(None)
                self._dispatcher.join(timeout=120)
                self._dispatcher = None
            if self.state is not None and self.emulator.running:
                try:
                    self.state.snapshot()
                except Exception:  # a failed snapshot must not leave servers running
                    log.exception("could not save the local cloud's state to %s", self.state_dir)
            self.state = None
        finally:
            if self.front is not None:
                self.front.stop()
                self.front = None
            self.emulator.stop()
            if self._saved_environ is not None:
                restore_env(self._saved_environ)
                self._saved_environ = None
            if self._lock_handle is not None:  # only the cloud that owns the state dir removes its endpoint file
                (self.state_dir / ENDPOINT_FILE).unlink(missing_ok=True)
            self._release_state_lock()
            self._started = False
            with _active_lock:
                if _active is self:
                    _active = None

    def snapshot(self) -> None:
        """Save objects and catalog now (the run history is saved as it changes)."""
        if self.state is None:
            raise RuntimeError("the local cloud is not started")
        self.state.snapshot()

    # --- waiting ----------------------------------------------------------------------------------

    def wait_for_runs(self, timeout: float = 300.0) -> bool:
        """Block until no Glue run is active and every state-change event has been delivered."""
        deadline = time.monotonic() + timeout
        if self.executor is None or not self.executor.wait_idle(timeout):
            return False
        while self._events.unfinished_tasks:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)
        return True

    def wait_idle(self, timeout: float = 300.0) -> bool:
        """Block until nothing is left to do: the raw-events queue empty and no handler running, no active run,
        no undelivered state-change event, twice in a row (a handler may start a run, a run may emit an event)."""
        deadline = time.monotonic() + timeout
        calm_checks = 0
        while calm_checks < 2:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            busy = not self._idle_now()
            if busy:
                calm_checks = 0
                mapping = self.event_source_mapping
                if mapping is not None and not mapping.wait_idle(remaining):
                    return False
                if not self.wait_for_runs(max(0.0, deadline - time.monotonic())):
                    return False
            else:
                calm_checks += 1
                time.sleep(0.3)
        return True

    def _idle_now(self) -> bool:
        if self.executor is not None and self.executor.active_run_ids():
            return False
        if self._events.unfinished_tasks:
            return False
        mapping = self.event_source_mapping
        return mapping is None or mapping.wait_idle(0)

    # --- internals --------------------------------------------------------------------------------

    def _acquire_state_lock(self) -> None:
        handle = (self.state_dir / LOCK_FILE).open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            running = ""
            with contextlib.suppress(OSError, ValueError):
                info = json.loads((self.state_dir / ENDPOINT_FILE).read_text())
                running = f" (pid {info.get('pid')}, endpoint {info.get('endpoint_url')})"
            raise UserError(
                f"another local cloud is already using {self.state_dir}{running}: stop it, or use its endpoint"
            ) from None
        self._lock_handle = handle

    def _release_state_lock(self) -> None:
        if self._lock_handle is not None:
            fcntl.flock(self._lock_handle, fcntl.LOCK_UN)
            self._lock_handle.close()
            self._lock_handle = None

    def _write_endpoint_file(self) -> None:
        info = {
            "environment": self.config.environment,
            "endpoint_url": self.endpoint_url,
            "glue_endpoint_url": self.glue_endpoint_url,
            "env": self.env,
            "pid": os.getpid(),
            "state_dir": str(self.state_dir),
            "started_at": time.time(),
        }
        path = self.state_dir / ENDPOINT_FILE
        path.with_suffix(".tmp").write_text(json.dumps(info, indent=1))
        os.replace(path.with_suffix(".tmp"), path)

    def _start_event_source_mapping(self) -> None:
        handler_path = HANDLER_FILES["s3-event-handler"]
        if not handler_path.is_file():
            log.warning("no %s: uploads will not start job runs", handler_path)
            return
        assert self.provision_report is not None
        self.event_source_mapping = SqsEventSourceMapping(
            queue_url=self.provision_report.raw_events_queue_url,
            handler_path=handler_path,
            handler_name=HANDLER_NAME,
            function_env=self.function_env["s3-event-handler"],
            batch_size=int(self.config["sqs_batch_size"]),
            batching_window_seconds=float(self.config["sqs_batching_window_seconds"]),
            visibility_timeout=int(self.config["sqs_visibility_timeout_seconds"]),
            max_receive_count=int(self.config["sqs_max_receive_count"]),
            timeout_seconds=int(self.config["lambda_timeout_seconds"]),
            memory_mb=int(self.config["lambda_memory_mb"]),
            function_name=self.config.names.lambda_functions["s3-event-handler"],
        )
        self.event_source_mapping.start()

    def publish_service_metrics(self) -> int:
        """Put the AWS/SQS metrics AWS publishes every minute (moto publishes none), for every queue; returns how
        many datapoints. The dlq-not-empty alarm watches ApproximateNumberOfMessagesVisible of the DLQ."""
        sqs, cloudwatch = self.client("sqs"), self.client("cloudwatch")
        metric_names = {
            "ApproximateNumberOfMessages": "ApproximateNumberOfMessagesVisible",
            "ApproximateNumberOfMessagesNotVisible": "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed": "ApproximateNumberOfMessagesDelayed",
        }
        data = []
        for url in sqs.list_queues().get("QueueUrls", []):
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(metric_names))["Attributes"]
            queue_name = url.rstrip("/").rsplit("/", 1)[-1]
            for attribute, metric in metric_names.items():
                data.append(
                    {
                        "MetricName": metric,
                        "Dimensions": [{"Name": "QueueName", "Value": queue_name}],
                        "Value": float(attributes.get(attribute, 0)),
                        "Unit": "Count",
                    }
                )
        for start in range(0, len(data), 500):
            cloudwatch.put_metric_data(Namespace="AWS/SQS", MetricData=data[start : start + 500])
        return len(data)

    def run_cloudwatch(self) -> list[Any]:
        """One CloudWatch tick: service metrics, then every alarm evaluated (state changes notify SNS).
        Returns the alarm evaluations."""
        self.publish_service_metrics()
        return list(evaluate_alarms(self.client("cloudwatch"), self.client("sns")))

    def _every(self, interval: float, action: Any, what: str) -> None:
        while not self._stopping.wait(interval):
            try:
                action()
            except Exception:  # the emulator may be going away; the next tick tries again
                log.warning("%s failed", what, exc_info=True)

    def _snapshot_loop(self) -> None:
        assert self.snapshot_interval_seconds
        while not self._stopping.wait(self.snapshot_interval_seconds):
            state = self.state
            if state is None:
                return
            try:
                state.snapshot()
            except Exception:
                log.exception("periodic state snapshot failed")

    def _dispatch_loop(self) -> None:
        """Deliver finished runs' state-change events to their targets, then save the state (EventBridge's job)."""
        while True:
            event = self._events.get()
            try:
                if event is None:
                    return
                if self.run_lambdas:
                    self._deliver_state_change(event)
                if self.snapshot_after_runs and self.state is not None and not self._stopping.is_set():
                    try:
                        self.state.snapshot()
                    except Exception:
                        log.exception("state snapshot after run %s failed", event["detail"]["jobRunId"])
            finally:
                self._events.task_done()

    def _deliver_state_change(self, event: dict[str, Any]) -> None:
        environments = self.function_env
        for short in STATE_CHANGE_TARGETS:
            handler_path = HANDLER_FILES[short]
            if not handler_path.is_file():
                continue
            try:
                invoke(handler_path, HANDLER_NAME, event, environments[short])
            except Exception as exc:  # EventBridge retries and then drops; we log and keep the error for tests
                run_id = event["detail"]["jobRunId"]
                log.exception("%s failed on the state change of run %s", short, run_id)
                self.state_change_errors.append((short, run_id, f"{type(exc).__name__}: {exc}"))
