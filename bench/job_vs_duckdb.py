"""Benchmark: the Glue job vs the DuckDB baseline on the full JHU set, in one go; prints the ratios.

    python bench/job_vs_duckdb.py [--data ../shared/data] [--work bench/results/tmp] [--skip-incremental]

Runs, each as its own process with 2 cores' worth of parallelism (DuckDB 2 threads, Spark local[2]):
  1. DuckDB baseline over all files;
  2. the job, full refresh over all files;
  3. the job over all files but the last day, then an incremental run adding that day.
Reports wall time, CPU time and peak memory (summed RSS of the process tree, sampled every 0.1 s) and the
targets: job <= 1.5x DuckDB, incremental one-day run <= 15% of a full run, peak memory < 4 GB.
Results go to bench/results/job_vs_duckdb.json. Not part of `make test`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("COVID_SHARED_DATA", REPO.parent / "shared" / "data"))
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SPARK_ARGS = (
    "--master local[2] --driver-memory 3g --conf spark.ui.enabled=false --conf spark.ui.showConsoleProgress=false "
    "--conf spark.sql.shuffle.partitions=4 --conf spark.driver.host=127.0.0.1 pyspark-shell"
)


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def _tree(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(_children(current))
    return found


def _rss_and_cpu(pid: int) -> tuple[int, float] | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    rss = next((int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    return rss, (int(stat[11]) + int(stat[12])) / CLOCK_TICKS


def measure(command: list[str], env: dict[str, str], label: str) -> dict[str, float | str]:
    """Run a command; wall seconds, CPU seconds and peak RSS of its whole process tree."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    peak_rss = 0
    cpu_by_pid: dict[int, float] = {}
    done = threading.Event()

    def sample() -> None:
        nonlocal peak_rss
        while not done.is_set():
            total = 0
            for pid in _tree(process.pid):
                sampled = _rss_and_cpu(pid)
                if sampled:
                    total += sampled[0]
                    cpu_by_pid[pid] = sampled[1]
            peak_rss = max(peak_rss, total)
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = process.communicate()
    done.set()
    sampler.join()
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"{label} failed ({process.returncode}):\n{stderr[-4000:]}")
    return {
        "label": label,
        "wall_seconds": round(wall, 2),
        "cpu_seconds": round(sum(cpu_by_pid.values()), 2),
        "peak_rss_mb": round(peak_rss / 2**20),
        "stdout_tail": stdout.strip().splitlines()[-1] if stdout.strip() else "",
    }


def job_command(input_dir: Path, work: Path, name: str, full_refresh: bool) -> list[str]:
    lookup = DEFAULT_DATA / "jhu_csse" / "UID_ISO_FIPS_LookUp_Table.csv"
    return [
        sys.executable, str(REPO / "glue_job" / "covid_transform.py"), "--JOB_NAME", f"bench-{name}",
        "--source", "jhu_daily", "--input_path", str(input_dir), "--output_path", str(work / name / "out"),
        "--quarantine_path", str(work / name / "quarantine"), "--state_path", str(work / name / "state"),
        "--reference_path", str(lookup), "--full_refresh", "true" if full_refresh else "false",
    ]  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--work", type=Path, default=REPO / "bench" / "results" / "tmp" / "job_vs_duckdb")
    parser.add_argument("--skip-incremental", action="store_true")
    args = parser.parse_args()
    daily = args.data / "jhu_csse" / "daily_reports"
    if not daily.is_dir():
        print(f"skipped: {daily} not found")
        return 0
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_SUBMIT_ARGS": SPARK_ARGS}
    lookup = args.data / "jhu_csse" / "UID_ISO_FIPS_LookUp_Table.csv"

    results = {}
    results["duckdb"] = measure(
        [
            sys.executable,
            str(REPO / "bench" / "duckdb_baseline.py"),
            str(daily),
            str(lookup),
            str(args.work / "duckdb"),
        ],
        env,
        "duckdb baseline, 495 files",
    )
    print(json.dumps(results["duckdb"]))
    results["job_full"] = measure(job_command(daily, args.work, "full", True), env, "job full refresh, 495 files")
    print(json.dumps(results["job_full"]))
    if not args.skip_incremental:
        files = sorted(p for p in daily.glob("*.csv.gz"))
        files.sort(key=lambda p: (p.name[6:10], p.name[:5]))  # MM-DD-YYYY -> chronological
        staged = args.work / "inbox"
        staged.mkdir()
        for path in files[:-1]:
            (staged / path.name).symlink_to(path)
        results["job_history"] = measure(job_command(staged, args.work, "incr", False), env, "job, all but last day")
        print(json.dumps(results["job_history"]))
        (staged / files[-1].name).symlink_to(files[-1])
        results["job_incremental"] = measure(job_command(staged, args.work, "incr", False), env, "job +1 day")
        print(json.dumps(results["job_incremental"]))

    full, duck = results["job_full"], results["duckdb"]
    summary = {
        "wall_ratio_job_vs_duckdb": round(float(full["wall_seconds"]) / float(duck["wall_seconds"]), 2),
        "cpu_ratio_job_vs_duckdb": round(float(full["cpu_seconds"]) / max(float(duck["cpu_seconds"]), 0.01), 2),
        "job_peak_rss_mb": full["peak_rss_mb"],
        "targets": {"wall_ratio_max": 1.5, "incremental_fraction_max": 0.15, "peak_rss_mb_max": 4096},
        "load_average_at_end": os.getloadavg(),
    }
    if "job_incremental" in results:
        summary["incremental_fraction_of_full"] = round(
            float(results["job_incremental"]["wall_seconds"]) / float(full["wall_seconds"]), 3
        )
    results["summary"] = summary
    print(json.dumps(summary, indent=2))
    out = REPO / "bench" / "results" / "job_vs_duckdb.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
