"""Run the unchanged Glue job script as a user would (`python glue_job/covid_transform.py ...`) on local folders."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from bench.harness import REPO_ROOT, failure_tail, run_command
from covid_pipeline.local.glue_warm_worker import READY_LINE, RUN_END_LINE, parse_end_of_run
from covid_pipeline.spark_env import quiet_local_conf, submit_args

# What the job imports beyond Spark (glue_job/data_quality_checks.py): a warm worker loads it ahead, as the local Glue
# executor's warm worker loads a job's --additional-python-modules.
JOB_IMPORTS = ("great_expectations",)

JOB_SCRIPT = REPO_ROOT / "glue_job" / "covid_transform.py"


@dataclass
class JobRun:
    seconds: float
    peak_rss_bytes: int
    manifest: dict[str, Any]


@dataclass(frozen=True)
class JobLayout:
    """The folders one benchmark job writes to."""

    root: Path

    @property
    def output(self) -> Path:
        return self.root / "output"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    @property
    def state(self) -> Path:
        return self.root / "state"


@dataclass(frozen=True)
class S3Layout:
    """The same folders under an s3:// prefix."""

    root: str

    @property
    def output(self) -> str:
        return f"{self.root}/output/"

    @property
    def quarantine(self) -> str:
        return f"{self.root}/quarantine/"

    @property
    def state(self) -> str:
        return f"{self.root}/state/"


def job_env(master: str = "local[2]", extra_conf: dict[str, str] | None = None) -> dict[str, str]:
    conf = {**quiet_local_conf(), "spark.driver.memory": "2g", **(extra_conf or {})}
    return {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_SUBMIT_ARGS": submit_args(conf, master=master)}


def job_argv(
    input_dir: Path | str,
    layout: JobLayout | S3Layout,
    reference: Path | str,
    full_refresh: bool = False,
    source: str = "jhu_daily",
) -> list[str]:
    """The job script's arguments (after the script's path)."""
    return [
        "--JOB_NAME", "bench",
        "--source", source,
        "--input_path", str(input_dir),
        "--output_path", str(layout.output),
        "--quarantine_path", str(layout.quarantine),
        "--state_path", str(layout.state),
        "--reference_path", str(reference),
        "--full_refresh", "true" if full_refresh else "false",
    ]  # fmt: skip


def run_job(
    input_dir: Path | str,
    layout: JobLayout | S3Layout,
    reference: Path | str,
    full_refresh: bool = False,
    source: str = "jhu_daily",
    env: dict[str, str] | None = None,
    log_path: Path | None = None,
) -> JobRun:
    """One job run; its output goes to ``log_path`` (by default ``job.log`` beside a local layout's folders)."""
    if log_path is None and isinstance(layout, JobLayout):
        log_path = layout.root / "job.log"
    argv = [sys.executable, str(JOB_SCRIPT), *job_argv(input_dir, layout, reference, full_refresh, source)]
    seconds, rss = run_command(argv, env=env or job_env(), log_path=log_path)
    return JobRun(seconds=seconds, peak_rss_bytes=rss, manifest=_manifest(layout))


def _manifest(layout: JobLayout | S3Layout) -> dict[str, Any]:
    latest = Path(layout.state) / "latest.json"
    return json.loads(latest.read_text()) if isinstance(layout, JobLayout) and latest.is_file() else {}


class WarmWorker:
    """A warm worker of the local Glue executor (``covid_pipeline.local.glue_warm_worker``), driven as the
    executor drives it when ``local up`` or the demo run jobs: started with a cold job process's environment and
    the jobs' --additional-python-modules, warmed up by its own generic workload (untimed, as Glue's warm pools
    are), then handed runs one at a time. A run's time is from the request to its end line."""

    def __init__(self, folder: Path, env: dict[str, str] | None = None, ready_timeout: float = 300.0) -> None:
        self.folder = folder
        self.log_path = folder / "worker.log"
        self.env = env or job_env()
        self.ready_timeout = ready_timeout
        self._lines: queue.Queue[str] = queue.Queue()
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[str] | None = None
        self._log_lock = threading.Lock()

    def __enter__(self) -> WarmWorker:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("w")
        modules = list(JOB_IMPORTS)
        self._process = subprocess.Popen(
            [sys.executable, "-m", "covid_pipeline.local.glue_warm_worker", *modules],
            cwd=self.folder,
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        # Both streams are drained (a full pipe would stall the worker); the control lines are read on stderr.
        threading.Thread(target=self._pump, args=(self._process.stdout, False), daemon=True).start()
        threading.Thread(target=self._pump, args=(self._process.stderr, True), daemon=True).start()
        self._wait_for(READY_LINE, self.ready_timeout)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        process = self._process
        if process is not None:
            if process.stdin is not None:
                process.stdin.close()  # an empty stdin ends the worker
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()

    def _pump(self, stream: IO[bytes], control: bool) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode(errors="replace")
            with self._log_lock:
                assert self._log is not None
                self._log.write(line)
                self._log.flush()
            if control:
                self._lines.put(line)
        if control:
            self._lines.put("")  # the worker has exited

    def _wait_for(self, marker: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise RuntimeError(
                    f"warm worker: no {marker!r} line within {timeout:.0f} s (log: {self.log_path})"
                ) from None
            if marker in line:
                return line
            if line == "":
                raise RuntimeError(f"warm worker exited:\n{failure_tail(self.log_path.read_text())}")

    def run_script(self, script: Path, argv: list[str], cwd: Path, timeout: float = 3600.0) -> float:
        """One run of a script in the worker (as ``python script argv...`` in ``cwd``); returns its seconds, raises
        when it does not end with exit code 0. A script that stops Spark ends the worker after its run."""
        assert self._process is not None and self._process.stdin is not None, "use the worker as a context manager"
        request = {"script": str(script), "argv": argv, "cwd": str(cwd), "python_path": []}
        started = time.perf_counter()
        self._process.stdin.write((json.dumps(request) + "\n").encode())
        self._process.stdin.flush()
        end = self._wait_for(RUN_END_LINE, timeout)
        seconds = time.perf_counter() - started
        if parse_end_of_run(end)[0] != 0:
            raise RuntimeError(f"warm worker run failed ({end.strip()}):\n{failure_tail(self.log_path.read_text())}")
        return seconds

    def run_job(
        self, input_dir: Path | str, layout: JobLayout, reference: Path | str, full_refresh: bool = False
    ) -> JobRun:
        """One run of the job script in the worker."""
        argv = job_argv(input_dir, layout, reference, full_refresh)
        seconds = self.run_script(JOB_SCRIPT, argv, layout.root)
        return JobRun(seconds=seconds, peak_rss_bytes=0, manifest=_manifest(layout))
