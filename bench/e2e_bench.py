"""End to end on the local cloud: `covid-pipeline demo`, whose last upload is timed until its rows are queryable.

The demo runs twice in a fresh local folder: the first run applies Terraform (and keeps the provisioned state as
the demo's baseline, which is set-up), the second is the one measured, as `make demo` runs once the machine has
provisioned dev.
"""

from __future__ import annotations

import json
import os
import sys

from bench import datasets
from bench.harness import WORK_DIR, Result, run_command


def demo_upload_to_queryable() -> list[Result]:
    state = datasets.fresh_dir(WORK_DIR / "e2e")
    summary_file = state / "demo-summary.json"
    env = {**os.environ, "COVID_PIPELINE_LOCAL_DIR": str(state), "SPARK_LOCAL_IP": "127.0.0.1"}
    argv = [sys.executable, "-m", "covid_pipeline", "--env", "dev", "demo", "--summary", str(summary_file)]
    run_command(argv, env=env)  # set-up: provisions dev
    seconds, _ = run_command(argv, env=env)
    summary = json.loads(summary_file.read_text())
    stages = summary.get("last_upload_stage_seconds", {})
    queryable = float(summary["upload_to_queryable_seconds"])
    job_run = float(stages.get("job_run", 0.0)) or None
    split = ", ".join(f"{name} {value:.1f} s" for name, value in stages.items())
    if summary.get("warm_worker"):
        split += "; the run went to a warm worker (local up and the demo keep one, as Glue's warm pools)"
    return [
        Result(
            benchmark="end to end: one daily file uploaded -> rows queryable in the warehouse",
            metric="wall time",
            value=queryable,
            unit="s",
            baseline="its job run alone",
            baseline_value=job_run,
            ratio=queryable / job_run if job_run else None,
            target="< 30 s",
            met=queryable < 30,
            notes=split,
        ),
        Result(
            benchmark="make demo after set-up (cloud start to summary)",
            metric="wall time",
            value=seconds,
            unit="s",
            target="< 90 s",
            met=seconds < 90,
            notes=f"{summary.get('job_runs')} job runs, {summary.get('warehouse_rows')} warehouse rows",
        ),
    ]
