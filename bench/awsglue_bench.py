"""Bench step ``awsglue``: the local awsglue's apply_mapping and resolveChoice against the equivalent DataFrame code,
measured in the same Spark process (bench/awsglue_frames.py), on the full JHU set. Target: within 1.2x."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

from bench.harness import REPO_ROOT, WORK_DIR, Result, failure_tail
from bench.job_runs import job_env

FRAMES = REPO_ROOT / "bench" / "awsglue_frames.py"
TARGET = 1.2
TRANSFORMS = {
    "apply_mapping": "apply_mapping (rename + cast) vs select(cast)",
    "resolve_choice": "resolveChoice (cast: the numeric fields) + typing the rest vs read with inferSchema + cast",
}


def frames_vs_dataframes(files: list[Path], repeats: int, label: str) -> list[Result]:
    log = WORK_DIR / "awsglue_frames.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, str(FRAMES), str(repeats), *(str(p) for p in files)]
    completed = subprocess.run(argv, env=job_env(), capture_output=True, text=True, check=False)
    log.write_text(completed.stdout + completed.stderr)
    if completed.returncode != 0:
        raise RuntimeError(f"bench/awsglue_frames.py exited {completed.returncode} (full output: {log}):\n"
                           f"{failure_tail(completed.stderr)}")  # fmt: skip
    measured = json.loads(completed.stdout.strip().splitlines()[-1])
    rows = []
    for transform, what in TRANSFORMS.items():
        frames = statistics.median(measured["seconds"][f"{transform}/dynamicframe"])
        dataframes = statistics.median(measured["seconds"][f"{transform}/dataframe"])
        ratio = frames / dataframes
        rows.append(
            Result(
                benchmark=f"awsglue DynamicFrame {transform} ({label})",
                metric="wall time",
                value=frames,
                unit="s",
                baseline="DataFrame code, same process",
                baseline_value=dataframes,
                ratio=ratio,
                target=f"ratio <= {TARGET}",
                met=ratio <= TARGET,
                runs=repeats,
                notes=f"{what}; {measured['rows']:,} rows, {measured['layouts']} header layouts, noop sink",
            )
        )
    return rows
