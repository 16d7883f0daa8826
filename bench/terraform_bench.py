"""Provisioning the local cloud with Terraform: `terraform apply` of dev against a fresh local cloud, and a restart.

Each measurement runs in its own process (moto's state is per process), started as `python -m
bench.terraform_bench ENV STATE_DIR`, which starts a LocalCloud there (no Lambda runtime, no warm worker), prints
its provisioning report as JSON and stops it. The baseline is `terraform plan` of the same configuration against an
empty emulator in the same run (covid_pipeline.local.offline_plan): the provider's own work without any wait.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench import datasets
from bench.harness import WORK_DIR, Result

ENVIRONMENT = "dev"


def _provision(state_dir: Path) -> dict[str, object]:
    env = {**os.environ, "COVID_PIPELINE_LOCAL_DIR": str(state_dir.parent)}
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "bench.terraform_bench", ENVIRONMENT, str(state_dir)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    if result.returncode != 0:
        raise RuntimeError(f"local cloud start failed:\n{result.stderr[-3000:]}")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    report["process_seconds"] = time.perf_counter() - started
    return report


def _plan_seconds() -> float:
    out = datasets.fresh_dir(WORK_DIR / "terraform_plan")
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "covid_pipeline.local.offline_plan", str(out), ENVIRONMENT],
        check=True,
        capture_output=True,
        timeout=1800,
    )
    return time.perf_counter() - started


def apply_and_restart(repeats: int) -> list[Result]:
    applies, restarts, resources = [], [], 0
    for attempt in range(repeats):
        state_dir = datasets.fresh_dir(WORK_DIR / f"terraform_{attempt}") / ENVIRONMENT
        first = _provision(state_dir)
        assert first["applied"], first
        applies.append(float(first["seconds"]))  # type: ignore[arg-type]
        resources = int(first["added"])  # type: ignore[call-overload]
        second = _provision(state_dir)
        assert not second["applied"], second
        restarts.append(float(second["start_seconds"]))  # type: ignore[arg-type]
    plan = _plan_seconds()
    apply_median, restart_median = statistics.median(applies), statistics.median(restarts)
    return [
        Result(
            benchmark=f"terraform apply of {ENVIRONMENT} against a fresh local cloud ({resources} resources)",
            metric="wall time",
            value=apply_median,
            unit="s",
            baseline="terraform plan of it (no waits)",
            baseline_value=plan,
            ratio=apply_median / plan,
            target="< 30 s",
            met=apply_median < 30,
            notes="artifacts, init and apply; runs: " + ", ".join(f"{value:.1f}" for value in applies),
        ),
        Result(
            benchmark=f"second local up of {ENVIRONMENT} (state restored, nothing applied)",
            metric="wall time",
            value=restart_median,
            unit="s",
            baseline="first local up's apply",
            baseline_value=apply_median,
            ratio=restart_median / apply_median,
            target="no apply work",
            met=True,
            notes="emulator state restored, Terraform inputs unchanged: no terraform command runs",
        ),
    ]


def main(argv: list[str]) -> int:
    """In a process of its own: start the local cloud of ENV in STATE_DIR, print the provisioning report, stop."""
    from covid_pipeline.config import load_config
    from covid_pipeline.local.cloud import LocalCloud

    environment, state_dir = argv
    started = time.perf_counter()
    cloud = LocalCloud(
        load_config(environment),
        state_dir=Path(state_dir),
        run_lambdas=False,
        snapshot_interval_seconds=None,
        cloudwatch_interval_seconds=None,
    )
    try:
        cloud.start()
        start_seconds = time.perf_counter() - started
        report = cloud.provision_report
        assert report is not None
        document = {
            "applied": report.applied,
            "reason": report.reason,
            "seconds": report.seconds,
            "added": report.added,
            "start_seconds": start_seconds,
        }
    finally:
        cloud.stop()
    print(json.dumps(document))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
