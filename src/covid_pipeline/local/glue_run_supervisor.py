"""Process supervision of a local Glue run: download the job's files, start its job process (cold, or hand the run
to the warm worker), watch it against its Timeout and stop requests, and turn how it ended into a final state."""

from __future__ import annotations

import collections
import logging
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from awsglue._bookmarks import STORE_ENV, BookmarkStore
from covid_pipeline.common import split_s3_object_url
from covid_pipeline.local.glue_logs import LogShipper, log_groups_for
from covid_pipeline.local.glue_process import (
    MAX_ERROR_MESSAGE,
    RunControl,
    csv_values,
    error_message_from,
    job_process,
    kill_group,
    output_reader,
)
from covid_pipeline.local.glue_run_state import _now
from covid_pipeline.local.glue_warm_pool import WarmPool
from covid_pipeline.local.tls import java_truststore_for
from covid_pipeline.spark_env import JvmTrustStore, quiet_local_conf, s3a_conf, submit_args

log = logging.getLogger(__name__)


class RunSupervisor(WarmPool):
    """Runs one job run in its thread, from its files to its final state (``_finish``, the executor's)."""

    moto_endpoint: str
    spark_master: str
    spark_conf: dict[str, str]
    timeout_minute_seconds: float
    keep_work_dirs: bool
    bookmarks: BookmarkStore
    _controls: dict[str, RunControl]

    def _finish(self, run_id: str, job: dict[str, Any], state: str, message: str | None) -> None:
        raise NotImplementedError

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
                kill_group(control.process)
        finally:
            self._finish(run_id, job, state, message)
            if not self.keep_work_dirs:
                # Failed runs keep their downloaded script and libraries for a post-mortem, never Spark's scratch.
                doomed = [work_dir] if state in ("SUCCEEDED", "STOPPED") else [work_dir / "spark-tmp"]
                for folder in doomed:
                    shutil.rmtree(folder, ignore_errors=True)
            if control.warm_worker_folder is not None:
                shutil.rmtree(control.warm_worker_folder, ignore_errors=True)
            self._replenish_warm_worker()

    def _run_script(
        self, run_id: str, job: dict[str, Any], work_dir: Path, control: RunControl
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
            script = _download(s3, script_location, work_dir / "script")
            python_path = [str(work_dir)]
            for location in csv_values(arguments.get("--extra-py-files")):
                local = _download(s3, location, work_dir / "py")
                python_path.insert(0, str(local) if local.suffix in (".zip", ".egg", ".whl") else str(local.parent))
            for location in csv_values(arguments.get("--extra-files")):
                _download(s3, location, work_dir)
        except (ClientError, ValueError) as exc:
            return "FAILED", f"Failed to download the job's files: {exc}"[:MAX_ERROR_MESSAGE]
        if control.stop_requested.is_set():
            return "STOPPED", control.stop_reason

        job_id = "j_" + uuid.uuid5(uuid.NAMESPACE_URL, job["Name"]).hex * 2
        argv = [self.python, str(script), "--JOB_ID", job_id, "--JOB_RUN_ID", run_id, "--JOB_NAME", job["Name"]]
        for key, value in arguments.items():
            argv += [key, value]
        env = self._process_env(python_path, work_dir)
        shipper = LogShipper(self._client("logs"), run_id, log_groups_for(arguments))
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
                worker = self._hand_to_warm_worker(argv, work_dir, python_path, sinks)
                if worker is not None:
                    log.info(
                        "glue run %s: handed to the warm worker %d (its run %d)",
                        run_id,
                        worker.process.pid,
                        worker.runs,
                    )
                    process, readers = worker.process, worker.readers
                    control.warm_worker_folder = worker.folder
                else:
                    process = job_process(argv, work_dir, env, stdin=subprocess.DEVNULL)
                    readers = [
                        output_reader(process.stdout, sinks["stdout"]),
                        output_reader(process.stderr, sinks["stderr"]),
                    ]
                control.process = process
            self._update(run_id, JobRunState="RUNNING")
            timed_out = False
            # A warm worker that can serve again stays up: its run ends with its end line, not its exit.
            while process.poll() is None and not (worker and worker.run_ended.is_set() and worker.reusable):
                if control.stop_requested.wait(0.2):
                    kill_group(process)
                    break
                if _now() >= deadline:
                    timed_out = True
                    kill_group(process)
                    break
            served = worker is not None and worker.run_ended.is_set()
            if served and worker is not None and worker.reusable and process.poll() is None:
                self._take_back_warm_worker(worker)
                control.warm_worker_folder = None
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
        returncode = worker.exit_code if served and worker is not None else process.returncode
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


def _download(s3: Any, location: str, folder: Path) -> Path:
    bucket, key = split_s3_object_url(location)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / Path(key).name
    s3.download_file(bucket, key, str(target))
    return target
