"""A Spark standalone cluster on 127.0.0.1 (one master, N workers) from the pyspark installation.

pip's pyspark has no start-master.sh, but it has bin/spark-class, which is all the
standalone daemons need. Used to show that the unchanged job script runs on a real
cluster (executors in other JVMs, talking to S3 through S3A), not only in local[2].
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from types import TracebackType

import pyspark

SPARK_HOME = Path(pyspark.__file__).resolve().parent
HOST = "127.0.0.1"


class ClusterError(RuntimeError):
    """The cluster did not come up."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class StandaloneCluster:
    def __init__(self, work_dir: Path, workers: int = 2, cores_per_worker: int = 1, memory_per_worker: str = "1g"):
        self.work_dir = work_dir
        self.workers = workers
        self.cores_per_worker = cores_per_worker
        self.memory_per_worker = memory_per_worker
        self.port = free_port()
        self.webui_port = free_port()
        self._processes: list[subprocess.Popen[bytes]] = []

    @property
    def master_url(self) -> str:
        return f"spark://{HOST}:{self.port}"

    def _daemon(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        env = {**os.environ, "SPARK_HOME": str(SPARK_HOME), "SPARK_LOCAL_IP": HOST, "SPARK_NO_DAEMONIZE": "1"}
        log = (self.work_dir / f"{name}.log").open("wb")
        process = subprocess.Popen(
            [str(SPARK_HOME / "bin" / "spark-class"), *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so stop() ends the JVM and its children
        )
        self._processes.append(process)
        return process

    def alive_workers(self) -> int:
        try:
            with urllib.request.urlopen(f"http://{HOST}:{self.webui_port}/json/", timeout=2) as response:
                state = json.load(response)
        except OSError:
            return 0
        return sum(1 for worker in state.get("workers", []) if worker.get("state") == "ALIVE")

    def start(self, timeout: float = 90.0) -> StandaloneCluster:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._daemon(
            "master",
            "org.apache.spark.deploy.master.Master",
            "--host", HOST, "--port", str(self.port), "--webui-port", str(self.webui_port),
        )  # fmt: skip
        for index in range(self.workers):
            worker_dir = self.work_dir / f"worker-{index}"
            worker_dir.mkdir(exist_ok=True)
            self._daemon(
                f"worker-{index}",
                "org.apache.spark.deploy.worker.Worker",
                "--host", HOST, "--port", str(free_port()), "--webui-port", str(free_port()),
                "--cores", str(self.cores_per_worker), "--memory", self.memory_per_worker,
                "--work-dir", str(worker_dir),
                self.master_url,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(process.poll() is not None for process in self._processes):
                self.stop()
                raise ClusterError(f"a Spark daemon exited early; see the logs in {self.work_dir}")
            if self.alive_workers() == self.workers:
                return self
            time.sleep(0.5)
        self.stop()
        raise ClusterError(f"{self.workers} workers did not register within {timeout:.0f}s; logs in {self.work_dir}")

    def stop(self) -> None:
        for process in reversed(self._processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self._processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self._processes.clear()

    def __enter__(self) -> StandaloneCluster:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
