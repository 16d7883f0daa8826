"""Executes Glue job runs locally: the job's real script, as a subprocess, under local Spark.

What it does for one ``StartJobRun``, as Glue does:
- reads the job definition from the emulator (Command.ScriptLocation, DefaultArguments,
  Timeout, MaxRetries, ExecutionProperty.MaxConcurrentRuns, WorkerType, ...);
- downloads the script, every ``--extra-py-files`` object (put on PYTHONPATH) and every
  ``--extra-files`` object (put in the working directory) from the emulator's S3;
- runs ``python <script> --JOB_ID .. --JOB_RUN_ID .. --JOB_NAME .. <DefaultArguments merged
  with the run's Arguments, run wins>`` with the emulator's endpoint variables and a
  PYSPARK_SUBMIT_ARGS that makes Spark read and write ``s3://`` through S3A against moto;
- ships stdout to /aws-glue/jobs/output and stderr to /aws-glue/jobs/error (stream = run id)
  as lines arrive, and both to the continuous-logging group when it is enabled;
- enforces the timeout (process group killed -> TIMEOUT), MaxConcurrentRuns
  (ConcurrentRunsExceededException) and MaxRetries (retry runs ``<id>_attempt_<n>``);
- reports STARTING -> RUNNING -> SUCCEEDED|FAILED|TIMEOUT|STOPPED through the Glue API shapes,
  with ErrorMessage taken from the script's own exception line;
- emits an EventBridge-shaped "Glue Job State Change" event to ``on_run_finished`` callbacks;
- persists the run history as JSON so it survives restarts.

With ``warm_standby`` it keeps one job process ready ahead of the next run (see ``glue_standby``): Python
and the Spark JVM started, the JVM warmed on a throwaway workload and the job's
``--additional-python-modules`` imported, as Glue's warm pools keep workers ready. A run takes it when its
environment matches, else starts cold. A cold process serves one run; a warm one runs each script in a
fresh Spark session and, after a run that succeeded, waits for the next (a failed, stopped or timed-out
run ends it, as it ends a cold one).
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from botocore.exceptions import ClientError

from awsglue._bookmarks import STORE_ENV, BookmarkStore, api_entry
from covid_pipeline.common import ACTIVE_STATES, split_s3_object_url
from covid_pipeline.local.emulator import ClientCache
from covid_pipeline.local.glue_front import GlueAction, GlueApiError
from covid_pipeline.local.glue_standby import READY_LINE, RUN_END_LINE, parse_end_of_run
from covid_pipeline.local.tls import java_truststore_for
from covid_pipeline.spark_env import SPARK_LOG_LINE, JvmTrustStore, quiet_local_conf, s3a_conf, submit_args

# What MaxConcurrentRuns counts: a queued (WAITING) run does not hold a slot.
RUNNING_STATES = ACTIVE_STATES - {"WAITING"}
DEFAULT_TIMEOUT_MINUTES = 2880  # Glue's default for glueetl jobs
DEFAULT_MAX_CONCURRENT_RUNS = 1
OUTPUT_LOG_GROUP = "/aws-glue/jobs/output"
ERROR_LOG_GROUP = "/aws-glue/jobs/error"
CONTINUOUS_LOG_GROUP = "/aws-glue/jobs/logs-v2"
RUN_LOG_GROUP_NAME = "/aws-glue/jobs"
# DPUs per worker, to report MaxCapacity the way Glue derives it from WorkerType x NumberOfWorkers.
DPU_PER_WORKER = {"G.025X": 0.25, "G.1X": 1.0, "G.2X": 2.0, "G.4X": 4.0, "G.8X": 8.0, "Z.2X": 2.0, "Standard": 1.0}
ACCOUNT_ID = "123456789012"  # moto's default account
STOP_GRACE_SECONDS = 5.0
MAX_ERROR_MESSAGE = 2048
LOG_FLUSH_SECONDS = 1.0

log = logging.getLogger(__name__)

RunFinishedCallback = Callable[[dict[str, Any]], None]


def _now() -> float:
    return time.time()


def new_run_id() -> str:
    # Glue run ids are "jr_" + 64 hex digits.
    return "jr_" + uuid.uuid4().hex + uuid.uuid4().hex


def error_message_from(stderr_tail: list[str], returncode: int) -> str:
    """The line a Glue user would want to see: the exception line of the last Python traceback.

    Python prints ``Traceback (most recent call last):``, indented frames, then the
    exception line (``ValueError: ...``); Spark's shutdown logs may follow, so we take
    the first unindented line after the last traceback header, not the last line.
    """
    lines = [line.rstrip("\r\n") for line in stderr_tail]
    header = None
    for index in range(len(lines) - 1, -1, -1):
        if lines[index].startswith("Traceback (most recent call last):"):
            header = index
            break
    if header is not None:
        for line in lines[header + 1 :]:
            if line.strip() and not line.startswith((" ", "\t")):
                return line[:MAX_ERROR_MESSAGE]
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = str(-returncode)
        return f"Command failed: the job process was killed by signal {name}"
    meaningful = [line for line in lines if line.strip() and not SPARK_LOG_LINE.match(line)]
    detail = next((line for line in reversed(meaningful) if re.search(r"error|exception|fail", line, re.I)), None)
    detail = detail or (meaningful[-1] if meaningful else None)
    message = f"Command failed with exit code {returncode}"
    return f"{message}: {detail.strip()}"[:MAX_ERROR_MESSAGE] if detail else message


class _LogShipper:
    """Buffers a run's output lines and puts them into CloudWatch Logs about once a second."""

    def __init__(self, logs_client: Any, stream: str, groups_by_channel: dict[str, list[str]]) -> None:
        self._client = logs_client
        self._stream = stream
        self._groups_by_channel = groups_by_channel
        self._pending: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ready: set[str] = set()
        self._thread = threading.Thread(target=self._loop, name=f"glue-logs-{stream[:12]}", daemon=True)

    def start(self) -> None:
        # Glue creates the groups and the run's streams up front: GetLogEvents works even before any output.
        for group in sorted({group for groups in self._groups_by_channel.values() for group in groups}):
            try:
                self._ensure_stream(group)
            except Exception:
                log.warning("could not create log stream %s in %s", self._stream, group, exc_info=True)
        self._thread.start()

    def add(self, channel: str, line: str) -> None:
        event = {"timestamp": int(_now() * 1000), "message": line.rstrip("\r\n") or " "}
        with self._lock:
            for group in self._groups_by_channel.get(channel, []):
                self._pending[group].append(event)

    def _loop(self) -> None:
        while not self._stop.wait(LOG_FLUSH_SECONDS):
            self.flush()
        self.flush()

    def _ensure_stream(self, group: str) -> None:
        if group in self._ready:
            return
        with contextlib.suppress(self._client.exceptions.ResourceAlreadyExistsException):
            self._client.create_log_group(logGroupName=group)
        with contextlib.suppress(self._client.exceptions.ResourceAlreadyExistsException):
            self._client.create_log_stream(logGroupName=group, logStreamName=self._stream)
        self._ready.add(group)

    def flush(self) -> None:
        with self._lock:
            batches, self._pending = self._pending, collections.defaultdict(list)
        for group, events in batches.items():
            try:
                self._ensure_stream(group)
                # CloudWatch Logs takes at most 10,000 events per call.
                for start in range(0, len(events), 10_000):
                    chunk = events[start : start + 10_000]
                    self._client.put_log_events(logGroupName=group, logStreamName=self._stream, logEvents=chunk)
            except Exception:  # losing log lines must not fail the run
                log.warning("could not ship %d log lines to %s", len(events), group, exc_info=True)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


class _RunControl:
    """What the executor holds about a live run besides its API record."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.standby_folder: Path | None = None
        self.stop_requested = threading.Event()
        self.stop_reason = "Job run stopped by BatchStopJobRun"
        self.thread: threading.Thread | None = None


class _Standby:
    """A warm job process waiting for a run. Its output is kept until a run takes it, then goes to that run
    until the run's end line on each channel; a process whose run succeeded comes back for the next run."""

    def __init__(self, process: subprocess.Popen[bytes], folder: Path, key: dict[str, str]) -> None:
        self.process = process
        self.folder = folder
        self.key = key  # what the executor set in its environment (see GlueExecutor._standby_key)
        self.ready = threading.Event()
        self.run_ended = threading.Event()
        self.exit_code = 1
        self.reusable = False
        self.runs = 0
        self._lock = threading.Lock()
        self._buffer: collections.deque[tuple[str, str]] = collections.deque(maxlen=400)
        self._sinks: dict[str, Callable[[str], object]] | None = None
        self._ended: set[str] = set()
        self.readers = [
            _reader(process.stdout, lambda line: self._emit("stdout", line), "glue-standby-output"),
            _reader(process.stderr, lambda line: self._emit("stderr", line), "glue-standby-output"),
        ]

    def _emit(self, channel: str, line: str) -> None:
        with self._lock:
            if self._sinks is None or channel in self._ended:
                # Between runs: warm-up output, kept for the next run; the ready line says it can take one.
                if line.startswith(READY_LINE):
                    self.ready.set()
                self._buffer.append((channel, line))
                return
            if line.startswith(RUN_END_LINE):
                self._ended.add(channel)
                self.exit_code, self.reusable = parse_end_of_run(line)
                if len(self._ended) == 2:
                    self._sinks = None
                    self.run_ended.set()
                return
            sink = self._sinks[channel]
        sink(line)

    def attach(self, sinks: dict[str, Callable[[str], object]]) -> None:
        """From now on the output goes to the run's sinks, starting with what was printed since the last run."""
        with self._lock:
            self.ready.clear()
            self.run_ended.clear()
            self._ended = set()
            self.runs += 1
            for channel, line in self._buffer:
                sinks[channel](line)
            self._buffer.clear()
            self._sinks = sinks

    def alive(self) -> bool:
        return self.process.poll() is None


class GlueExecutor:
    """Serves StartJobRun/GetJobRun/GetJobRuns/BatchStopJobRun and executes the runs.

    ``child_env`` is the environment of the job processes (the emulator's endpoint variables
    and credentials). ``timeout_minute_seconds`` is how many wall seconds one "minute" of a
    job's Timeout lasts: 60 everywhere except tests that need to see a TIMEOUT quickly.
    """

    def __init__(
        self,
        *,
        moto_endpoint: str,
        region: str,
        work_root: Path,
        history_path: Path | None,
        child_env: dict[str, str],
        python: str = sys.executable,
        spark_master: str = "local[2]",
        spark_conf: dict[str, str] | None = None,
        timeout_minute_seconds: float = 60.0,
        keep_work_dirs: bool = False,
        warm_standby: bool = False,
    ) -> None:
        self.moto_endpoint = moto_endpoint
        self.region = region
        self.work_root = work_root
        self.history_path = history_path
        self.child_env = dict(child_env)
        self.python = python
        self.spark_master = spark_master
        self.spark_conf = dict(spark_conf or {})
        self.timeout_minute_seconds = timeout_minute_seconds
        self.keep_work_dirs = keep_work_dirs
        self.warm_standby = warm_standby
        self._standby: _Standby | None = None
        self.on_run_finished: list[RunFinishedCallback] = []
        self._runs: dict[str, dict[str, Any]] = {}
        self._controls: dict[str, _RunControl] = {}
        self._waiting: dict[str, dict[str, Any]] = {}  # queued run id -> its job definition
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._shutting_down = False
        # Straight to moto: the executor must not loop through its own front.
        self._client = ClientCache(moto_endpoint, region)
        # Job bookmarks: job processes commit to this file (awsglue's Job), the API reads and resets it; beside the
        # run history, so that they survive restarts with the rest of the local cloud's state.
        bookmarks = history_path.with_name("glue_job_bookmarks.json") if history_path else work_root / "bookmarks.json"
        self.bookmarks = BookmarkStore(bookmarks)

    def _get_job(self, name: str) -> dict[str, Any]:
        try:
            return dict(self._client("glue").get_job(JobName=name)["Job"])
        except ClientError as exc:
            error = exc.response.get("Error", {})
            if error.get("Code") == "EntityNotFoundException":
                raise GlueApiError("EntityNotFoundException", f"Job {name} not found") from None
            raise

    # --- the Glue API ---

    def actions(self) -> dict[str, GlueAction]:
        return {
            "StartJobRun": self.start_job_run,
            "GetJobRun": self.get_job_run,
            "GetJobRuns": self.get_job_runs,
            "BatchStopJobRun": self.batch_stop_job_run,
            "GetJobBookmark": self.get_job_bookmark,
            "ResetJobBookmark": self.reset_job_bookmark,
        }

    def start_job_run(self, params: dict[str, Any]) -> dict[str, Any]:
        name = _required_string(params, "JobName")
        arguments = params.get("Arguments") or {}
        if not isinstance(arguments, dict) or not all(isinstance(v, str) for v in arguments.values()):
            raise GlueApiError("InvalidInputException", "Arguments must be a map of strings to strings")
        job = self._get_job(name)
        previous_id = params.get("JobRunId")
        with self._lock:
            if self._shutting_down:
                raise GlueApiError("InternalServiceException", "The local Glue executor is shutting down", 500)
            if previous_id and previous_id not in self._runs:
                raise GlueApiError("EntityNotFoundException", f"Job run {previous_id} not found")
            has_slot = self._has_free_slot(job)
            queue = bool(params.get("JobRunQueuingEnabled"))
            if not has_slot and not queue:
                raise GlueApiError("ConcurrentRunsExceededException", f"Concurrent runs exceeded for {job['Name']}")
            run = self._new_run(job, params, arguments, run_id=new_run_id(), attempt=0, previous_id=previous_id)
            if queue:
                run["JobRunQueuingEnabled"] = True
            if has_slot:
                self._launch(run, job)
            else:
                # Job run queuing: the run waits for a free slot instead of being refused.
                run["JobRunState"] = "WAITING"
                run["StateDetail"] = f"Waiting for a free slot: MaxConcurrentRuns of {job['Name']} reached"
                self._waiting[run["Id"]] = job
                self._persist()
        return {"JobRunId": run["Id"]}

    def get_job_run(self, params: dict[str, Any]) -> dict[str, Any]:
        name = _required_string(params, "JobName")
        run_id = _required_string(params, "RunId")
        with self._lock:
            run = self._runs.get(run_id)
            if run is None or run["JobName"] != name:
                raise GlueApiError("EntityNotFoundException", f"Job run {run_id} for job {name} not found")
            return {"JobRun": _public(run)}

    def get_job_runs(self, params: dict[str, Any]) -> dict[str, Any]:
        name = _required_string(params, "JobName")
        self._get_job(name)  # unknown job -> EntityNotFoundException, as Glue answers
        max_results = int(params.get("MaxResults") or 100)
        if not 1 <= max_results <= 200:
            raise GlueApiError("InvalidInputException", "MaxResults must be between 1 and 200")
        start = 0
        token = params.get("NextToken")
        if token:
            try:
                start = int(token)
            except ValueError:
                raise GlueApiError("InvalidInputException", "Invalid NextToken") from None
        with self._lock:
            runs = sorted(
                (run for run in self._runs.values() if run["JobName"] == name),
                key=lambda run: run["StartedOn"],
                reverse=True,
            )
            page = [_public(run) for run in runs[start : start + max_results]]
        result: dict[str, Any] = {"JobRuns": page}
        if start + max_results < len(runs):
            result["NextToken"] = str(start + max_results)
        return result

    def batch_stop_job_run(self, params: dict[str, Any]) -> dict[str, Any]:
        name = _required_string(params, "JobName")
        run_ids = params.get("JobRunIds") or []
        successes, errors = [], []
        with self._lock:
            for run_id in run_ids:
                run = self._runs.get(run_id)
                if run is None or run["JobName"] != name:
                    errors.append(_stop_error(name, run_id, "EntityNotFoundException", f"Job run {run_id} not found"))
                elif run["JobRunState"] not in ACTIVE_STATES:
                    message = f"Job run {run_id} is already in a final state: {run['JobRunState']}"
                    errors.append(_stop_error(name, run_id, "InvalidInputException", message))
                elif run_id in self._waiting:
                    job = self._waiting.pop(run_id)
                    # Never started: it ends right away, outside this lock (its subscribers may call the API).
                    threading.Thread(
                        target=self._finish,
                        args=(run_id, job, "STOPPED", "Job run stopped by BatchStopJobRun"),
                        name=f"glue-run-{run_id[:12]}-stop",
                        daemon=True,
                    ).start()
                    successes.append({"JobName": name, "JobRunId": run_id})
                else:
                    self._request_stop(run_id, "Job run stopped by BatchStopJobRun")
                    successes.append({"JobName": name, "JobRunId": run_id})
        return {"SuccessfulSubmissions": successes, "Errors": errors}

    def get_job_bookmark(self, params: dict[str, Any]) -> dict[str, Any]:
        name = _required_string(params, "JobName")
        self._get_job(name)
        record = self.bookmarks.record(name)
        if record is None:
            raise GlueApiError("EntityNotFoundException", f"Continuation for job {name} not found")
        run_id = params.get("RunId")
        if run_id:
            entry = next((e for e in record["history"] if e["run_id"] == run_id), None)
            if entry is None:
                raise GlueApiError("EntityNotFoundException", f"Continuation for job {name} and run {run_id} not found")
            record = {**record, "run": entry["run"], "run_id": run_id, "states": entry["states"]}
        return {"JobBookmarkEntry": api_entry(name, record)}

    def reset_job_bookmark(self, params: dict[str, Any]) -> dict[str, Any]:
        """Forget what the job's sources read, or (RunId) go back to what they had read after that run."""
        name = _required_string(params, "JobName")
        self._get_job(name)
        try:
            record = self.bookmarks.reset(name, params.get("RunId") or None)
        except KeyError as error:
            raise GlueApiError("EntityNotFoundException", str(error.args[0])) from None
        if record is None:
            raise GlueApiError("EntityNotFoundException", f"Continuation for job {name} not found")
        return {"JobBookmarkEntry": api_entry(name, record)}

    # --- bookkeeping ---

    def _has_free_slot(self, job: dict[str, Any]) -> bool:
        limit = int((job.get("ExecutionProperty") or {}).get("MaxConcurrentRuns") or DEFAULT_MAX_CONCURRENT_RUNS)
        running = sum(
            1 for run in self._runs.values() if run["JobName"] == job["Name"] and run["JobRunState"] in RUNNING_STATES
        )
        return running < limit

    def _start_waiting_runs(self, job_name: str) -> None:
        """Oldest queued runs first, while the job has free slots (call with the lock held)."""
        waiting = sorted(
            (self._runs[run_id] for run_id, job in self._waiting.items() if job["Name"] == job_name),
            key=lambda run: run["StartedOn"],
        )
        for run in waiting:
            job = self._waiting[run["Id"]]
            if not self._has_free_slot(job):
                return
            del self._waiting[run["Id"]]
            run["JobRunState"] = "STARTING"
            run.pop("StateDetail", None)
            run["LastModifiedOn"] = _now()
            self._persist()
            self._launch(run, job)

    def _new_run(
        self,
        job: dict[str, Any],
        params: dict[str, Any],
        arguments: dict[str, str],
        *,
        run_id: str,
        attempt: int,
        previous_id: str | None,
    ) -> dict[str, Any]:
        worker_type = params.get("WorkerType") or job.get("WorkerType")
        workers = params.get("NumberOfWorkers") or job.get("NumberOfWorkers")
        max_capacity = params.get("MaxCapacity") or job.get("MaxCapacity")
        if max_capacity is None and worker_type and workers:
            max_capacity = DPU_PER_WORKER.get(worker_type, 1.0) * int(workers)
        now = _now()
        run: dict[str, Any] = {
            "Id": run_id,
            "Attempt": attempt,
            "JobName": job["Name"],
            "JobMode": "SCRIPT",
            "StartedOn": now,
            "LastModifiedOn": now,
            "JobRunState": "STARTING",
            "Arguments": dict(arguments),
            "PredecessorRuns": [],
            "ExecutionTime": 0,
            "Timeout": int(params.get("Timeout") or job.get("Timeout") or DEFAULT_TIMEOUT_MINUTES),
            "LogGroupName": RUN_LOG_GROUP_NAME,
            "GlueVersion": job.get("GlueVersion") or "5.0",
            "ExecutionClass": params.get("ExecutionClass") or job.get("ExecutionClass") or "STANDARD",
        }
        if previous_id:
            run["PreviousRunId"] = previous_id
        if max_capacity is not None:
            run["MaxCapacity"] = float(max_capacity)
            run["AllocatedCapacity"] = int(max_capacity)
        if worker_type:
            run["WorkerType"] = worker_type
        if workers:
            run["NumberOfWorkers"] = int(workers)
        self._runs[run_id] = run
        self._persist()
        return run

    def _launch(self, run: dict[str, Any], job: dict[str, Any]) -> None:
        control = _RunControl()
        self._controls[run["Id"]] = control
        control.thread = threading.Thread(
            target=self._execute, args=(run["Id"], job), name=f"glue-run-{run['Id'][:12]}", daemon=True
        )
        control.thread.start()

    def _update(self, run_id: str, **changes: Any) -> dict[str, Any]:
        with self._lock:
            run = self._runs[run_id]
            run.update(changes)
            run["LastModifiedOn"] = _now()
            self._persist()
            self._changed.notify_all()
            return dict(run)

    def _request_stop(self, run_id: str, reason: str) -> None:
        control = self._controls.get(run_id)
        if control is None:
            return
        control.stop_reason = reason
        control.stop_requested.set()
        if self._runs[run_id]["JobRunState"] in ("STARTING", "RUNNING"):
            self._runs[run_id]["JobRunState"] = "STOPPING"
            self._runs[run_id]["LastModifiedOn"] = _now()
            self._persist()

    # --- running a job ---

    def _execute(self, run_id: str, job: dict[str, Any]) -> None:
        control = self._controls[run_id]
        work_dir = self.work_root / run_id
        state: str = "FAILED"
        message: str | None = "The run ended without a result"
        try:
            state, message = self._run_script(run_id, job, work_dir, control)
        except Exception as exc:  # any set-up failure is a FAILED run, never a dead thread
            log.exception("glue run %s could not run", run_id)
            state, message = "FAILED", f"{type(exc).__name__}: {exc}"[:MAX_ERROR_MESSAGE]
            if control.process is not None and control.process.poll() is None:
                _kill_group(control.process)
        finally:
            self._finish(run_id, job, state, message)
            if not self.keep_work_dirs:
                # Failed runs keep their downloaded script and libraries for a post-mortem, never Spark's scratch.
                doomed = [work_dir] if state in ("SUCCEEDED", "STOPPED") else [work_dir / "spark-tmp"]
                for folder in doomed:
                    shutil.rmtree(folder, ignore_errors=True)
            if control.standby_folder is not None:
                shutil.rmtree(control.standby_folder, ignore_errors=True)
            self._replenish_standby()

    def _run_script(
        self, run_id: str, job: dict[str, Any], work_dir: Path, control: _RunControl
    ) -> tuple[str, str | None]:
        run = self._runs[run_id]
        arguments = {**(job.get("DefaultArguments") or {}), **run["Arguments"]}
        arguments.update(job.get("NonOverridableArguments") or {})
        s3 = self._client("s3")
        work_dir.mkdir(parents=True, exist_ok=True)
        script_location = (job.get("Command") or {}).get("ScriptLocation")
        if not script_location:
            return "FAILED", "The job has no Command.ScriptLocation"
        try:
            script = self._download(s3, script_location, work_dir / "script")
            python_path = [str(work_dir)]
            for location in _csv(arguments.get("--extra-py-files")):
                local = self._download(s3, location, work_dir / "py")
                python_path.insert(0, str(local) if local.suffix in (".zip", ".egg", ".whl") else str(local.parent))
            for location in _csv(arguments.get("--extra-files")):
                self._download(s3, location, work_dir)
        except (ClientError, ValueError) as exc:
            return "FAILED", f"Failed to download the job's files: {exc}"[:MAX_ERROR_MESSAGE]
        if control.stop_requested.is_set():
            return "STOPPED", control.stop_reason

        job_id = "j_" + uuid.uuid5(uuid.NAMESPACE_URL, job["Name"]).hex * 2
        argv = [self.python, str(script), "--JOB_ID", job_id, "--JOB_RUN_ID", run_id, "--JOB_NAME", job["Name"]]
        for key, value in arguments.items():
            argv += [key, value]
        env = self._process_env(python_path, work_dir)
        shipper = _LogShipper(self._client("logs"), run_id, self._log_groups(arguments))
        shipper.start()
        stderr_tail: collections.deque[str] = collections.deque(maxlen=400)
        # The timeout covers execution, not time spent queued (WAITING).
        deadline = _now() + run["Timeout"] * self.timeout_minute_seconds

        def on_stderr(line: str) -> None:
            stderr_tail.append(line)
            shipper.add("stderr", line)

        sinks: dict[str, Callable[[str], object]] = {
            "stdout": lambda line: shipper.add("stdout", line),
            "stderr": on_stderr,
        }
        try:
            with self._lock:
                if control.stop_requested.is_set():
                    return "STOPPED", control.stop_reason
                standby = self._hand_to_standby(argv, work_dir, python_path, sinks)
                if standby is not None:
                    log.info(
                        "glue run %s: handed to the warm job process %d (its run %d)",
                        run_id,
                        standby.process.pid,
                        standby.runs,
                    )
                    process, readers = standby.process, standby.readers
                    control.standby_folder = standby.folder
                else:
                    process = _job_process(argv, work_dir, env, stdin=subprocess.DEVNULL)
                    readers = [_reader(process.stdout, sinks["stdout"]), _reader(process.stderr, sinks["stderr"])]
                control.process = process
            self._update(run_id, JobRunState="RUNNING")
            timed_out = False
            # A warm process that can serve again stays up: its run ends with its end line, not its exit.
            while process.poll() is None and not (standby and standby.run_ended.is_set() and standby.reusable):
                if control.stop_requested.wait(0.2):
                    _kill_group(process)
                    break
                if _now() >= deadline:
                    timed_out = True
                    _kill_group(process)
                    break
            served = standby is not None and standby.run_ended.is_set()
            if served and standby is not None and standby.reusable and process.poll() is None:
                self._take_back_standby(standby)
                control.standby_folder = None
            else:
                process.wait()
                for reader in readers:
                    reader.join(timeout=30)
        finally:
            shipper.close()
        if control.stop_requested.is_set():
            return "STOPPED", control.stop_reason
        if timed_out:
            minutes = run["Timeout"]
            return (
                "TIMEOUT",
                f"Job run timed out: it ran longer than its Timeout of {minutes} minute{'s' * (minutes != 1)}",
            )
        returncode = standby.exit_code if served and standby is not None else process.returncode
        if returncode == 0:
            return "SUCCEEDED", None
        return "FAILED", error_message_from(list(stderr_tail), returncode)

    def _process_env(self, python_path: list[str], work_dir: Path) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYSPARK_SUBMIT_ARGS")}
        env.update(self.child_env)
        conf = {
            **quiet_local_conf(),
            **s3a_conf(self.moto_endpoint, self._truststore()),
            "spark.sql.warehouse.dir": str(work_dir / "spark-warehouse"),
            "spark.local.dir": str(work_dir / "spark-tmp"),
            **self.spark_conf,
        }
        env.update(
            {
                "PYTHONPATH": os.pathsep.join(python_path),
                "PYTHONUNBUFFERED": "1",
                "SPARK_LOCAL_IP": "127.0.0.1",
                "PYSPARK_PYTHON": self.python,
                "PYSPARK_SUBMIT_ARGS": submit_args(conf, master=self.spark_master),
                STORE_ENV: str(self.bookmarks.path),
            }
        )
        return env

    def _truststore(self) -> JvmTrustStore | None:
        """What the job's JVM verifies an HTTPS endpoint with: the CA bundle its boto3 uses, as a trust store."""
        ca_bundle = self.child_env.get("AWS_CA_BUNDLE")
        if not ca_bundle or not self.moto_endpoint.startswith("https://"):
            return None
        return java_truststore_for(Path(ca_bundle))

    @staticmethod
    def _log_groups(arguments: dict[str, str]) -> dict[str, list[str]]:
        groups = {"stdout": [OUTPUT_LOG_GROUP], "stderr": [ERROR_LOG_GROUP]}
        if arguments.get("--enable-continuous-cloudwatch-log", "").lower() == "true":
            continuous = arguments.get("--continuous-log-logGroup") or CONTINUOUS_LOG_GROUP
            groups["stdout"].append(continuous)
            groups["stderr"].append(continuous)
        return groups

    @staticmethod
    def _download(s3: Any, location: str, folder: Path) -> Path:
        bucket, key = split_s3_object_url(location)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / Path(key).name
        s3.download_file(bucket, key, str(target))
        return target

    def _finish(self, run_id: str, job: dict[str, Any], state: str, message: str | None) -> None:
        with self._lock:
            run = self._runs[run_id]
            completed = _now()
            changes: dict[str, Any] = {
                "JobRunState": state,
                "CompletedOn": completed,
                "ExecutionTime": round(completed - run["StartedOn"]),
            }
            if message and state != "SUCCEEDED":
                changes["ErrorMessage"] = message
            if "MaxCapacity" in run:
                changes["DPUSeconds"] = round((completed - run["StartedOn"]) * run["MaxCapacity"], 1)
            finished = self._update(run_id, **changes)
            self._controls.pop(run_id, None)
            retry = None
            if state == "FAILED" and not self._shutting_down and run["Attempt"] < int(job.get("MaxRetries") or 0):
                root_id = run_id.split("_attempt_")[0]
                attempt = run["Attempt"] + 1
                params: dict[str, Any] = {
                    key: run[key] for key in ("Timeout", "WorkerType", "NumberOfWorkers") if key in run
                }
                retry = self._new_run(
                    job,
                    params,
                    run["Arguments"],
                    run_id=f"{root_id}_attempt_{attempt}",
                    attempt=attempt,
                    previous_id=run_id,
                )
                self._launch(retry, job)
            self._start_waiting_runs(job["Name"])
            self._changed.notify_all()
        log.info("glue run %s of %s: %s %s", run_id, job["Name"], state, message or "")
        event = state_change_event(finished, self.region)
        for callback in list(self.on_run_finished):
            try:
                callback(event)
            except Exception:  # a broken subscriber must not break the executor
                log.exception("on_run_finished callback %r failed", callback)

    # --- the warm standby ---

    def _standby_env(self, folder: Path) -> dict[str, str]:
        env = self._process_env([], folder)
        env.pop("PYTHONPATH")  # the run's libraries go on sys.path when it arrives
        return env

    def _standby_key(self, env: dict[str, str]) -> dict[str, str]:
        """What a run needs to match: the executor's own settings. The rest of the environment is this process's,
        which changes in passing (a Lambda handler that calls StartJobRun runs with its function's variables)."""
        return {
            "python": self.python,
            "PYSPARK_SUBMIT_ARGS": env["PYSPARK_SUBMIT_ARGS"],
            **{key: env.get(key, "") for key in sorted(self.child_env)},
        }

    def start_standby(self) -> bool:
        """Start the warm job process if there is none (call once ``child_env`` is final); True if started."""
        with self._lock:
            if not self.warm_standby or self._shutting_down:
                return False
            if self._standby is not None and self._standby.alive():
                return False
            self._discard_standby(self._standby)
            folder = self.work_root / f"standby-{uuid.uuid4().hex[:12]}"
            folder.mkdir(parents=True, exist_ok=True)
            env = self._standby_env(folder)
            command = [self.python, "-m", "covid_pipeline.local.glue_standby", *self._python_modules()]
            process = _job_process(command, folder, env, stdin=subprocess.PIPE)
            self._standby = _Standby(process, folder, self._standby_key(env))
            log.info("glue standby started (pid %d)", process.pid)
            return True

    def wait_standby_ready(self, timeout: float) -> bool:
        """Block until a warm job process has finished warming up (one is started after each run, so it may not
        exist yet); False when the executor keeps none, or on timeout."""
        deadline = _now() + timeout
        while self.warm_standby and not self._shutting_down:
            standby = self._standby
            if standby is not None and standby.ready.wait(0.2) and standby.alive():
                return True
            if _now() >= deadline:
                return False
            if standby is None:
                time.sleep(0.2)
        return False

    def _python_modules(self) -> list[str]:
        """Modules named by the jobs' --additional-python-modules (``pkg==1.2,other>=3`` -> pkg, other)."""
        names: set[str] = set()
        try:
            jobs = self._client("glue").get_jobs().get("Jobs", [])
        except ClientError:
            return []
        for job in jobs:
            names.update(python_module_names((job.get("DefaultArguments") or {}).get("--additional-python-modules")))
        return sorted(names)

    def _hand_to_standby(
        self, argv: list[str], work_dir: Path, python_path: list[str], sinks: dict[str, Callable[[str], object]]
    ) -> _Standby | None:
        """Give the run to the warm process when it is alive and was started as a cold process would be now."""
        standby, self._standby = self._standby, None
        if standby is None:
            return None
        if not standby.alive() or standby.key != self._standby_key(self._standby_env(standby.folder)):
            self._discard_standby(standby)
            return None
        request = {"script": argv[1], "argv": argv[2:], "cwd": str(work_dir), "python_path": python_path}
        # Attached before the request goes out: a run that ends at once must still find its end lines counted.
        standby.attach(sinks)
        try:
            assert standby.process.stdin is not None
            standby.process.stdin.write((json.dumps(request) + "\n").encode())
            standby.process.stdin.flush()
        except OSError:
            self._discard_standby(standby)
            return None
        return standby

    def _take_back_standby(self, standby: _Standby) -> None:
        """A warm process whose run succeeded waits for the next run, unless the executor has one already."""
        with self._lock:
            if self._shutting_down or not self.warm_standby or (self._standby is not None and self._standby.alive()):
                self._discard_standby(standby)
                return
            self._standby = standby
        log.info("glue standby %d kept for the next run", standby.process.pid)

    def _replenish_standby(self) -> None:
        with self._lock:
            if not self.active_run_ids():  # never warm up beside a running job: they share the cores
                self.start_standby()

    def _discard_standby(self, standby: _Standby | None) -> None:
        """Kill a warm process the executor no longer holds (or is about to drop) and remove its folder."""
        if standby is self._standby:
            self._standby = None
        if standby is None:
            return
        if standby.alive():
            _kill_group(standby.process)
        for reader in standby.readers:
            reader.join(timeout=5)
        shutil.rmtree(standby.folder, ignore_errors=True)

    # --- lifecycle ---

    def active_run_ids(self) -> list[str]:
        with self._lock:
            return [run_id for run_id, run in self._runs.items() if run["JobRunState"] in ACTIVE_STATES]

    def wait_idle(self, timeout: float) -> bool:
        """Block until no run is active (callbacks included); False when ``timeout`` passed first."""
        deadline = _now() + timeout
        with self._lock:
            while self._controls or self.active_run_ids():
                remaining = deadline - _now()
                if remaining <= 0:
                    return False
                self._changed.wait(min(remaining, 0.5))
        # _finish runs the callbacks after dropping the control: let those threads end too.
        for thread in threading.enumerate():
            if thread.name.startswith("glue-run-") and thread is not threading.current_thread():
                thread.join(max(0.0, deadline - _now()))
                if thread.is_alive():
                    return False
        return True

    def shutdown(self, timeout: float = 60.0) -> None:
        """Stop every active run (STOPPED, with a reason) and wait for their threads."""
        with self._lock:
            self._shutting_down = True
            self._discard_standby(self._standby)
            for run_id in self.active_run_ids():
                if run_id in self._waiting:
                    self._waiting.pop(run_id)
                    run = self._runs[run_id]
                    run.update(JobRunState="STOPPED", CompletedOn=_now(), LastModifiedOn=_now())
                    run["ErrorMessage"] = "Job run stopped because the local cloud shut down"
                    run.pop("StateDetail", None)
                else:
                    self._request_stop(run_id, "Job run stopped because the local cloud shut down")
            threads = [control.thread for control in self._controls.values() if control.thread]
        for thread in threads:
            thread.join(timeout)
        with self._lock:
            self._persist()

    def run_process_id(self, run_id: str) -> int | None:
        """PID of a live run's job process (the leader of its process group), for failure drills."""
        with self._lock:
            control = self._controls.get(run_id)
            process = control.process if control else None
            return process.pid if process is not None and process.poll() is None else None

    def runs(self) -> list[dict[str, Any]]:
        with self._lock:
            return [_public(run) for run in self._runs.values()]

    # --- persistence ---

    def restore(self) -> int:
        """Load the run history; runs that were active when the cloud went away become FAILED."""
        if self.history_path is None or not self.history_path.is_file():
            return 0
        document = json.loads(self.history_path.read_text())
        with self._lock:
            for run in document.get("runs", []):
                if run.get("JobRunState") in ACTIVE_STATES:
                    run["JobRunState"] = "FAILED"
                    run["ErrorMessage"] = "The local cloud exited while this run was in progress"
                    run["CompletedOn"] = run.get("LastModifiedOn", run["StartedOn"])
                    run["ExecutionTime"] = round(run["CompletedOn"] - run["StartedOn"])
                self._runs[run["Id"]] = run
            self._persist()
            return len(self._runs)

    def _persist(self) -> None:
        if self.history_path is None:
            return
        self.history_path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.history_path.with_suffix(".tmp")
        runs = sorted(self._runs.values(), key=lambda run: run["StartedOn"])
        temporary.write_text(json.dumps({"runs": runs}, indent=1, sort_keys=True))
        os.replace(temporary, self.history_path)


def state_change_event(run: dict[str, Any], region: str) -> dict[str, Any]:
    """The EventBridge event Glue emits when a run reaches a final state."""
    state = run["JobRunState"]
    messages = {"SUCCEEDED": "Job run succeeded", "STOPPED": "Job run stopped", "TIMEOUT": "Job run timed out"}
    message = run.get("ErrorMessage") or messages.get(state, f"Job run {state.lower()}")
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Glue Job State Change",
        "source": "aws.glue",
        "account": ACCOUNT_ID,
        "time": dt.datetime.fromtimestamp(run.get("CompletedOn") or _now(), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [],
        "detail": {
            "jobName": run["JobName"],
            "severity": "INFO" if state == "SUCCEEDED" else "ERROR",
            "state": state,
            "jobRunId": run["Id"],
            "message": message,
        },
    }


def _public(run: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(run))  # a deep copy nobody can mutate our record through


def _required_string(params: dict[str, Any], key: str) -> str:
    value = params.get(key)
    if not isinstance(value, str) or not value:
        raise GlueApiError("InvalidInputException", f"{key} is required")
    return value


def _stop_error(job: str, run_id: str, code: str, message: str) -> dict[str, Any]:
    return {"JobName": job, "JobRunId": run_id, "ErrorDetail": {"ErrorCode": code, "ErrorMessage": message}}


def _csv(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def python_module_names(specs: str | None) -> list[str]:
    """The importable names in an --additional-python-modules value (``pkg==1.2,other-lib>=3`` -> pkg, other_lib)."""
    names = []
    for spec in _csv(specs):
        name = re.split(r"[<>=!~\[; ]", spec, maxsplit=1)[0].strip()
        if re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            names.append(name.replace("-", "_"))
    return names


def _reader(stream: IO[bytes] | None, sink: Callable[[str], object], name: str = "glue-run-output") -> threading.Thread:
    def pump() -> None:
        if stream is None:
            return
        for raw in iter(stream.readline, b""):
            sink(raw.decode("utf-8", errors="replace"))
        stream.close()

    thread = threading.Thread(target=pump, name=name, daemon=True)
    thread.start()
    return thread


def _job_process(argv: list[str], cwd: Path, env: dict[str, str], stdin: int) -> subprocess.Popen[bytes]:
    """A job process in a new session: it, its Spark JVM and their children form one process group we can kill."""
    return subprocess.Popen(
        argv, cwd=cwd, env=env, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the job's process group (the script, the Spark JVM), SIGKILL what is left after a grace period."""
    try:
        group = os.getpgid(process.pid)
    except ProcessLookupError:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(STOP_GRACE_SECONDS)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)
