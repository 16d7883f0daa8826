"""The state machine of local Glue runs: the run records the Glue API shows, their transitions
(STARTING -> RUNNING -> SUCCEEDED|FAILED|TIMEOUT|STOPPED, WAITING while queued for a slot), and their history saved as
JSON so that it survives restarts."""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from covid_pipeline.common import ACTIVE_STATES

# What MaxConcurrentRuns counts: a queued (WAITING) run does not hold a slot.
RUNNING_STATES = ACTIVE_STATES - {"WAITING"}
DEFAULT_TIMEOUT_MINUTES = 2880  # Glue's default for glueetl jobs
DEFAULT_MAX_CONCURRENT_RUNS = 1
RUN_LOG_GROUP_NAME = "/aws-glue/jobs"
# DPUs per worker, to report MaxCapacity the way Glue derives it from WorkerType x NumberOfWorkers.
DPU_PER_WORKER = {"G.025X": 0.25, "G.1X": 1.0, "G.2X": 2.0, "G.4X": 4.0, "G.8X": 8.0, "Z.2X": 2.0, "Standard": 1.0}
ACCOUNT_ID = "123456789012"  # moto's default account


def _now() -> float:
    return time.time()


def new_run_id() -> str:
    # Glue run ids are "jr_" + 64 hex digits.
    return "jr_" + uuid.uuid4().hex + uuid.uuid4().hex


class RunStateMachine:
    """The run records, keyed by run id, and the moves between their states; every change is saved at once.

    ``_launch`` (the executor's) starts a run that got a slot; the lock guards every record."""

    def __init__(self, history_path: Path | None) -> None:
        self.history_path = history_path
        self._runs: dict[str, dict[str, Any]] = {}
        self._waiting: dict[str, dict[str, Any]] = {}  # queued run id -> its job definition
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)

    def _launch(self, run: dict[str, Any], job: dict[str, Any]) -> None:
        raise NotImplementedError

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

    def _update(self, run_id: str, **changes: Any) -> dict[str, Any]:
        with self._lock:
            run = self._runs[run_id]
            run.update(changes)
            run["LastModifiedOn"] = _now()
            self._persist()
            self._changed.notify_all()
            return dict(run)

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

    def active_run_ids(self) -> list[str]:
        with self._lock:
            return [run_id for run_id, run in self._runs.items() if run["JobRunState"] in ACTIVE_STATES]

    def runs(self) -> list[dict[str, Any]]:
        with self._lock:
            return [_public(run) for run in self._runs.values()]

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
