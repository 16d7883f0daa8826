"""Run the unchanged Glue job script as a user would (`python glue_job/covid_transform.py ...`) on local folders."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.harness import REPO_ROOT, run_command
from covid_pipeline.spark_env import quiet_local_conf, submit_args

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
    argv = [
        sys.executable, str(JOB_SCRIPT),
        "--JOB_NAME", "bench",
        "--source", source,
        "--input_path", str(input_dir),
        "--output_path", str(layout.output),
        "--quarantine_path", str(layout.quarantine),
        "--state_path", str(layout.state),
        "--reference_path", str(reference),
        "--full_refresh", "true" if full_refresh else "false",
    ]  # fmt: skip
    seconds, rss = run_command(argv, env=env or job_env(), log_path=log_path)
    latest = Path(layout.state) / "latest.json"
    manifest = json.loads(latest.read_text()) if isinstance(layout, JobLayout) and latest.is_file() else {}
    return JobRun(seconds=seconds, peak_rss_bytes=rss, manifest=manifest)
