"""The warm pool of local Glue runs: one warm worker (a job process started ahead of the next run, see
``glue_warm_worker``) with Python and the Spark JVM started, the JVM warmed on a throwaway workload and the jobs'
``--additional-python-modules`` imported, as Glue's warm pools keep workers ready. A run takes it when its environment
matches, else starts cold. A warm worker runs each script in a fresh Spark session and, after a run that succeeded,
waits for the next (a failed, stopped or timed-out run ends it, as it ends a cold process)."""

from __future__ import annotations

import collections
import json
import logging
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from botocore.exceptions import ClientError

from covid_pipeline.local.emulator import ClientCache
from covid_pipeline.local.glue_process import job_process, kill_group, output_reader, python_module_names
from covid_pipeline.local.glue_run_state import RunStateMachine, _now
from covid_pipeline.local.glue_warm_worker import READY_LINE, RUN_END_LINE, parse_end_of_run

log = logging.getLogger(__name__)


class WarmWorker:
    """A warm worker waiting for a run. Its output is kept until a run takes it, then goes to that run
    until the run's end line on each channel; a process whose run succeeded comes back for the next run."""

    def __init__(self, process: subprocess.Popen[bytes], folder: Path, key: dict[str, str]) -> None:
        self.process = process
        self.folder = folder
        self.key = key  # what the executor set in its environment (see WarmPool._warm_worker_key)
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
            output_reader(process.stdout, lambda line: self._emit("stdout", line), "glue-warm-worker-output"),
            output_reader(process.stderr, lambda line: self._emit("stderr", line), "glue-warm-worker-output"),
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


class WarmPool(RunStateMachine):
    """Keeps at most one warm worker for the executor and hands runs to it."""

    python: str
    work_root: Path
    child_env: dict[str, str]
    keep_warm_worker: bool
    _shutting_down: bool
    _client: ClientCache

    def __init__(self, history_path: Path | None) -> None:
        super().__init__(history_path)
        self._warm_worker: WarmWorker | None = None

    def _process_env(self, python_path: list[str], work_dir: Path) -> dict[str, str]:
        raise NotImplementedError

    def _warm_worker_env(self, folder: Path) -> dict[str, str]:
        env = self._process_env([], folder)
        env.pop("PYTHONPATH")  # the run's libraries go on sys.path when it arrives
        return env

    def _warm_worker_key(self, env: dict[str, str]) -> dict[str, str]:
        """What a run needs to match: the executor's own settings. The rest of the environment is this process's,
        which changes in passing (a Lambda handler that calls StartJobRun runs with its function's variables)."""
        return {
            "python": self.python,
            "PYSPARK_SUBMIT_ARGS": env["PYSPARK_SUBMIT_ARGS"],
            **{key: env.get(key, "") for key in sorted(self.child_env)},
        }

    def start_warm_worker(self) -> bool:
        """Start the warm worker if there is none (call once ``child_env`` is final); True if started."""
        with self._lock:
            if not self.keep_warm_worker or self._shutting_down:
                return False
            if self._warm_worker is not None and self._warm_worker.alive():
                return False
            self._discard_warm_worker(self._warm_worker)
            folder = self.work_root / f"warm-worker-{uuid.uuid4().hex[:12]}"
            folder.mkdir(parents=True, exist_ok=True)
            env = self._warm_worker_env(folder)
            command = [self.python, "-m", "covid_pipeline.local.glue_warm_worker", *self._python_modules()]
            process = job_process(command, folder, env, stdin=subprocess.PIPE)
            self._warm_worker = WarmWorker(process, folder, self._warm_worker_key(env))
            log.info("glue warm worker started (pid %d)", process.pid)
            return True

    def wait_warm_worker_ready(self, timeout: float) -> bool:
        """Block until a warm worker has finished warming up (one is started after each run, so it may not
        exist yet); False when the executor keeps none, or on timeout."""
        deadline = _now() + timeout
        while self.keep_warm_worker and not self._shutting_down:
            worker = self._warm_worker
            if worker is not None and worker.ready.wait(0.2) and worker.alive():
                return True
            if _now() >= deadline:
                return False
            if worker is None:
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

    def _hand_to_warm_worker(
        self, argv: list[str], work_dir: Path, python_path: list[str], sinks: dict[str, Callable[[str], object]]
    ) -> WarmWorker | None:
        """Give the run to the warm worker when it is alive and was started as a cold process would be now."""
        worker, self._warm_worker = self._warm_worker, None
        if worker is None:
            return None
        if not worker.alive() or worker.key != self._warm_worker_key(self._warm_worker_env(worker.folder)):
            self._discard_warm_worker(worker)
            return None
        request = {"script": argv[1], "argv": argv[2:], "cwd": str(work_dir), "python_path": python_path}
        # Attached before the request goes out: a run that ends at once must still find its end lines counted.
        worker.attach(sinks)
        try:
            assert worker.process.stdin is not None
            worker.process.stdin.write((json.dumps(request) + "\n").encode())
            worker.process.stdin.flush()
        except OSError:
            self._discard_warm_worker(worker)
            return None
        return worker

    def _take_back_warm_worker(self, worker: WarmWorker) -> None:
        """A warm worker whose run succeeded waits for the next run, unless the executor has one already."""
        with self._lock:
            if (
                self._shutting_down
                or not self.keep_warm_worker
                or (self._warm_worker is not None and self._warm_worker.alive())
            ):
                self._discard_warm_worker(worker)
                return
            self._warm_worker = worker
        log.info("glue warm worker %d kept for the next run", worker.process.pid)

    def _replenish_warm_worker(self) -> None:
        with self._lock:
            if not self.active_run_ids():  # never warm up beside a running job: they share the cores
                self.start_warm_worker()

    def _discard_warm_worker(self, worker: WarmWorker | None) -> None:
        """Kill a warm worker the executor no longer holds (or is about to drop) and remove its folder."""
        if worker is self._warm_worker:
            self._warm_worker = None
        if worker is None:
            return
        if worker.alive():
            kill_group(worker.process)
        for reader in worker.readers:
            reader.join(timeout=5)
        shutil.rmtree(worker.folder, ignore_errors=True)
