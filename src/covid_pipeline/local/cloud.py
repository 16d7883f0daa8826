"""LocalCloud: the whole AWS side of the pipeline on a laptop, in this process.

``start()`` brings up, in order:
1. the emulator (moto) on one loopback HTTPS port, with a certificate the local cloud makes (.local/tls/), and the
   Glue job-run actions answered by the local Glue executor on the same endpoint;
2. the emulator's saved state from ``<state_dir>`` (everything it held when it last stopped: resources, objects,
   messages, logs), so the pipeline carries on where it stopped;
3. the infrastructure: ``terraform apply`` of terraform/ + terraform/local/ with config/<env>.tfvars, the same
   configuration AWS gets (covid_pipeline.local.provision); skipped when nothing changed since the last apply;
4. the runtimes, configured from what Terraform registered, as AWS's services would be: the Lambda functions
   (handler, environment, timeout, code from the uploaded zip) run in local sandboxes; each enabled SQS event
   source mapping gets a poller with its batch size and window; the Glue job runs its script from S3 with its
   DefaultArguments; finished runs' "Glue Job State Change" events go to the targets of the matching EventBridge
   rules; scheduled rules (rate/cron) fire their targets on time (covid_pipeline.local.schedules); CloudWatch
   alarms are evaluated.

The endpoint variables (``AWS_ENDPOINT_URL``, ``AWS_CA_BUNDLE``, dummy credentials, region) are exported into
os.environ while the cloud runs, so any boto3 code in the process just works; ``env`` gives the same for child
processes, and ``<state_dir>/endpoint.json`` lets other processes (the CLI, scripts/deploy.sh) attach to a running
cloud (``state_folder``). ``stop()`` stops runs and pollers and saves the emulator's state to disk. The cloud's own
clocks and event handling run on ``cloud_threads``; the queue metrics moto lacks come from ``sqs_metrics``.

moto keeps its state in module globals, so a process can run one LocalCloud at a time.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from covid_pipeline.config import PipelineConfig, local_tls_dir
from covid_pipeline.errors import UserError
from covid_pipeline.local.alarm_evaluator import evaluate_alarms
from covid_pipeline.local.cloud_threads import CloudThreads
from covid_pipeline.local.emulator import ClientCache, Emulator, emulator_env, export_env, restore_env
from covid_pipeline.local.event_bus import EventBus
from covid_pipeline.local.glue_executor import GlueExecutor
from covid_pipeline.local.lambda_runtime import EventSourceMappings, LambdaService
from covid_pipeline.local.provision import LocalInfrastructure, ProvisionReport, local_warehouse_url
from covid_pipeline.local.schedules import Schedules
from covid_pipeline.local.sqs_metrics import publish_sqs_metrics
from covid_pipeline.local.state import EmulatorState
from covid_pipeline.local.state_folder import (
    ENDPOINT_FILE,
    StateFolderLock,
    local_state_dir,
    previous_port,
    write_endpoint_files,
)
from covid_pipeline.local.tls import java_truststore_for
from covid_pipeline.spark_env import s3a_conf

log = logging.getLogger(__name__)

MAPPING_SYNC_SECONDS = 10.0
SCHEDULE_TICK_SECONDS = 1.0

_active_lock = threading.Lock()
_active: LocalCloud | None = None


class LocalCloud:
    """The local AWS cloud of one environment; a context manager (``with LocalCloud(config) as cloud:``).

    Options for tests and drills: ``timeout_minute_seconds`` shortens what one minute of a Glue job
    Timeout lasts; ``spark_master`` / ``spark_conf`` change how job runs execute Spark;
    ``snapshot_after_runs`` saves the state after every finished run, ``snapshot_interval_seconds`` every so
    often (uploads between runs survive a crash), both besides the snapshot at stop. Snapshots are incremental.
    ``cloudwatch_interval_seconds``: how often the local cloud does what CloudWatch does on AWS and moto does
    not: publish the AWS/SQS queue metrics and evaluate the alarms (None: only when asked, ``run_cloudwatch()``).
    ``keep_warm_worker``: keep one warm worker (a job process started ahead) ready for the next Glue run (``local up``
    and the demo do; it costs a JVM's memory while idle, so tests that only need a few runs leave it off).
    ``run_lambdas``: False leaves the functions deployed but not triggered (no pollers, no event delivery).
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
        keep_warm_worker: bool = False,
        async_retry_delays: tuple[float, ...] = (1.0, 2.0),
    ) -> None:
        self.config = config
        self.keep_warm_worker = keep_warm_worker
        self.state_dir = (state_dir or local_state_dir(config)).resolve()
        self.run_lambdas = run_lambdas
        self.timeout_minute_seconds = timeout_minute_seconds
        self.spark_master = spark_master
        self.spark_conf = dict(spark_conf or {})
        self.snapshot_after_runs = snapshot_after_runs
        self.snapshot_interval_seconds = snapshot_interval_seconds
        self.cloudwatch_interval_seconds = cloudwatch_interval_seconds
        self.async_retry_delays = async_retry_delays
        self._threads = CloudThreads()
        self._state_lock = StateFolderLock(self.state_dir)
        self.emulator = Emulator(config.region, tls_dir=local_tls_dir(), port=previous_port(self.state_dir) or 0)
        self.executor: GlueExecutor | None = None
        self.state: EmulatorState | None = None
        self.infrastructure: LocalInfrastructure | None = None
        self.provision_report: ProvisionReport | None = None
        self.lambdas: LambdaService | None = None
        self.mappings: EventSourceMappings | None = None
        self.event_bus: EventBus | None = None
        self.schedules: Schedules | None = None
        self._env: dict[str, str] = {}
        self._saved_environ: dict[str, str | None] | None = None
        self._clients: ClientCache | None = None
        self._snapshot_lock = threading.Lock()

    # --- public surface ---------------------------------------------------------------------------

    @property
    def endpoint_url(self) -> str:
        return self.emulator.endpoint_url

    def s3a_conf(self) -> dict[str, str]:
        """Spark settings that reach this cloud's S3 through S3A, its JVMs trusting the HTTPS endpoint's CA (what a
        job run of the executor gets; for Spark processes started beside the cloud)."""
        ca_bundle = self.emulator.ca_bundle
        return s3a_conf(self.endpoint_url, java_truststore_for(ca_bundle) if ca_bundle else None)

    @property
    def env(self) -> dict[str, str]:
        """Variables a child process needs to reach this cloud with boto3 or the AWS CLI."""
        return dict(self._env)

    def client(self, service: str) -> Any:
        """A boto3 client for this cloud, cached per service; safe to share across threads."""
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
            self.stop(save=False)
            raise
        return self

    def _start(self) -> None:
        started = time.monotonic()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._state_lock.acquire()
        region = self.config.region
        endpoint = self.emulator.start()
        self._env = emulator_env(endpoint, region, self.emulator.ca_bundle)
        self._clients = ClientCache(endpoint, region)
        self._saved_environ = export_env(self._env)

        self.state = EmulatorState(self.state_dir, gate=self.emulator.gate)
        try:
            restored = self.state.restore()
        except UserError:
            raise
        except Exception as exc:
            raise UserError(
                f"could not restore the local cloud's saved state from {self.state_dir}: {type(exc).__name__}: {exc}"
                " (move that folder away to start with an empty cloud)"
            ) from exc

        if self.emulator.ca_bundle is None:
            raise RuntimeError("the local cloud's emulator must speak HTTPS")
        self.infrastructure = LocalInfrastructure(
            self.config,
            self.state_dir,
            endpoint,
            self.emulator.ca_bundle,
            local_warehouse_url(self.state_dir),
            self.client,
        )
        self.provision_report = self.infrastructure.ensure()
        if self.provision_report.applied:
            self.snapshot()  # the applied resources survive a crash from here on
            self.infrastructure.mark_applied(self.provision_report)
        self.config = self.config.with_outputs(self.provision_report.outputs)

        self.executor = GlueExecutor(
            moto_endpoint=endpoint,
            region=region,
            work_root=self.state_dir / "glue-runs",
            history_path=self.state_dir / "glue_runs.json",
            child_env=dict(self._env),
            spark_master=self.spark_master,
            spark_conf=self.spark_conf,
            timeout_minute_seconds=self.timeout_minute_seconds,
            keep_warm_worker=self.keep_warm_worker,
        )
        self.emulator.glue_actions.actions = self.executor.actions()
        runs = self.executor.restore()
        self.executor.start_warm_worker()  # after provisioning: it imports the job's --additional-python-modules
        self.lambdas = LambdaService(
            self.client, self.state_dir / "lambda", self._env, async_retry_delays=self.async_retry_delays
        )
        self.event_bus = EventBus(self.client, self.lambdas)
        self.executor.on_run_finished.append(self._threads.put)
        self._threads.start()
        self._threads.handle_events(self._run_finished, "delivering a state change")
        if self.run_lambdas:
            self.mappings = EventSourceMappings(self.lambdas)
            self.mappings.sync()
            self._threads.every(MAPPING_SYNC_SECONDS, self.mappings.sync, "event source mapping sync")
            self.schedules = Schedules(self.client, self.event_bus)
            self._threads.every(SCHEDULE_TICK_SECONDS, self.schedules.tick, "EventBridge schedules")
        if self.cloudwatch_interval_seconds:
            self._threads.every(self.cloudwatch_interval_seconds, self.run_cloudwatch, "CloudWatch emulation")
        if self.snapshot_interval_seconds:
            self._threads.every(self.snapshot_interval_seconds, self.snapshot, "periodic state snapshot")
        self._write_endpoint_file()
        log.info(
            "local cloud %s up in %.1f s at %s (%s; terraform %s in %.1f s; %d runs in the history)",
            self.config.environment,
            time.monotonic() - started,
            endpoint,
            restored,
            "applied" if self.provision_report.applied else "unchanged",
            self.provision_report.seconds,
            runs,
        )

    def stop(self, save: bool = True) -> None:
        """Stop pollers and runs, save the state, shut the server down. Safe to call twice."""
        global _active
        try:
            self._threads.stop()
            if self.mappings is not None:
                self.mappings.stop()
                self.mappings = None
            if self.executor is not None:
                self.executor.shutdown()
            if self.lambdas is not None:
                self.lambdas.stop()
            if save and self.state is not None and self.emulator.running:
                try:
                    self.snapshot()
                except Exception:  # a failed snapshot must not leave servers running
                    log.exception("could not save the local cloud's state to %s", self.state_dir)
            self.state = None
        finally:
            self.emulator.stop()
            if self._saved_environ is not None:
                restore_env(self._saved_environ)
                self._saved_environ = None
            if self._state_lock.held:  # only the cloud that owns the state dir removes its endpoint file
                (self.state_dir / ENDPOINT_FILE).unlink(missing_ok=True)
            self._state_lock.release()
            with _active_lock:
                if _active is self:
                    _active = None

    def snapshot(self) -> None:
        """Save the emulator's whole state now (incremental: unchanged objects are not written again)."""
        if self.state is None:
            raise RuntimeError("the local cloud is not started")
        with self._snapshot_lock:
            self.state.snapshot()

    # --- waiting ----------------------------------------------------------------------------------

    def wait_for_runs(self, timeout: float = 300.0) -> bool:
        """Block until no Glue run is active and every state-change event has been handled."""
        deadline = time.monotonic() + timeout
        if self.executor is None or not self.executor.wait_idle(timeout):
            return False
        while self._threads.events_pending():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)
        return self.lambdas is None or self.lambdas.wait_async(max(0.0, deadline - time.monotonic()))

    def wait_idle(self, timeout: float = 300.0) -> bool:
        """Block until nothing is left to do: the queues the mappings poll empty and no handler running, no active
        run, no pending asynchronous invocation, twice in a row (a handler may start a run, a run emits an event)."""
        deadline = time.monotonic() + timeout
        calm_checks = 0
        while calm_checks < 2:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if self._idle_now():
                calm_checks += 1
                time.sleep(0.3)
                continue
            calm_checks = 0
            if self.mappings is not None and not self.mappings.wait_idle(remaining):
                return False
            if not self.wait_for_runs(max(0.0, deadline - time.monotonic())):
                return False
        return True

    def _idle_now(self) -> bool:
        if self.executor is not None and self.executor.active_run_ids():
            return False
        if self._threads.events_pending():
            return False
        if self.lambdas is not None and not self.lambdas.wait_async(0.05):
            return False
        return self.mappings is None or self.mappings.wait_idle(0)

    # --- internals --------------------------------------------------------------------------------

    def _write_endpoint_file(self) -> None:
        info = {
            "environment": self.config.environment,
            "endpoint_url": self.endpoint_url,
            "env": self.env,
            "pid": os.getpid(),
            "state_dir": str(self.state_dir),
            "started_at": time.time(),
        }
        write_endpoint_files(self.state_dir, info, self.emulator.port)

    def _run_finished(self, event: dict[str, Any]) -> None:
        run_id, state = event["detail"]["jobRunId"], event["detail"]["state"]
        if self.run_lambdas and self.event_bus is not None:
            deliveries = self.event_bus.put(event)
            log.info("run %s %s: delivered to %d target(s)", run_id, state, len(deliveries))
        if self.snapshot_after_runs and not self._threads.stopping.is_set() and self.lambdas is not None:
            # After the targets ran: a snapshot holds the run and what it caused.
            self.lambdas.wait_async(300)
            try:
                self.snapshot()
            except Exception:
                log.exception("state snapshot after run %s failed", run_id)

    def run_cloudwatch(self) -> list[Any]:
        """One CloudWatch tick: service metrics, then every alarm evaluated (state changes notify SNS).
        Returns the alarm evaluations."""
        publish_sqs_metrics(self.client("sqs"), self.client("cloudwatch"))
        return list(evaluate_alarms(self.client("cloudwatch"), self.client("sns")))
