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

With ``keep_warm_worker`` it keeps one warm worker ready ahead of the next run (``glue_warm_pool``). A cold job
process serves one run.

Its parts, one module each: the run records and their transitions (``glue_run_state``), the job processes
(``glue_process``) and their supervision (``glue_run_supervisor``), log shipping (``glue_logs``) and the warm pool
(``glue_warm_pool``); this module serves the Glue API and ends runs (retries, queued runs, events).
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from awsglue._bookmarks import BookmarkStore, api_entry
from covid_pipeline.common import ACTIVE_STATES
from covid_pipeline.local.emulator import ClientCache
from covid_pipeline.local.glue_front import GlueAction, GlueApiError
from covid_pipeline.local.glue_process import (
    RunControl,
)
from covid_pipeline.local.glue_run_state import _now, _public, new_run_id, state_change_event
from covid_pipeline.local.glue_run_supervisor import RunSupervisor

log = logging.getLogger(__name__)

RunFinishedCallback = Callable[[dict[str, Any]], None]


class GlueExecutor(RunSupervisor):
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
        keep_warm_worker: bool = False,
    ) -> None:
        self.moto_endpoint = moto_endpoint
        self.region = region
        self.work_root = work_root
        self.child_env = dict(child_env)
        self.python = python
        self.spark_master = spark_master
        self.spark_conf = dict(spark_conf or {})
        self.timeout_minute_seconds = timeout_minute_seconds
        self.keep_work_dirs = keep_work_dirs
        self.keep_warm_worker = keep_warm_worker
        super().__init__(history_path)
        self.on_run_finished: list[RunFinishedCallback] = []
        self._controls: dict[str, RunControl] = {}
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

    def _launch(self, run: dict[str, Any], job: dict[str, Any]) -> None:
        control = RunControl()
        self._controls[run["Id"]] = control
        control.thread = threading.Thread(
            target=self._execute, args=(run["Id"], job), name=f"glue-run-{run['Id'][:12]}", daemon=True
        )
        control.thread.start()

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

    # --- lifecycle ---

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
            self._discard_warm_worker(self._warm_worker)
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


def _required_string(params: dict[str, Any], key: str) -> str:
    value = params.get(key)
    if not isinstance(value, str) or not value:
        raise GlueApiError("InvalidInputException", f"{key} is required")
    return value


def _stop_error(job: str, run_id: str, code: str, message: str) -> dict[str, Any]:
    return {"JobName": job, "JobRunId": run_id, "ErrorDetail": {"ErrorCode": code, "ErrorMessage": message}}
