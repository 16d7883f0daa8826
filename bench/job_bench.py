"""The Glue job against the DuckDB baseline on the real JHU set: full run, one-day increment, 10x scale."""

from __future__ import annotations

import json
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench import datasets, spark_profile
from bench.harness import REPO_ROOT, WORK_DIR, Measurement, Result, run_command
from bench.job_runs import JobLayout, JobRun, S3Layout, WarmWorker, job_env, run_job

GIB = 1024**3
RSS_TARGET_BYTES = 4 * GIB


def duckdb_baseline(input_dir: Path, lookup: Path, output_dir: Path) -> tuple[float, int]:
    datasets.fresh_dir(output_dir)
    script = REPO_ROOT / "bench" / "duckdb_baseline.py"
    return run_command([sys.executable, str(script), str(input_dir), str(lookup), str(output_dir)])


def full_run(input_dir: Path, lookup: Path, root: Path, env: dict[str, str] | None = None) -> tuple[float, int, dict]:
    layout = JobLayout(datasets.fresh_dir(root))
    run = run_job(input_dir, layout, lookup, full_refresh=True, env=env)
    return run.seconds, run.peak_rss_bytes, run.manifest


SPARK_FLOOR = REPO_ROOT / "bench" / "spark_floor.py"


def _floor_argv(files: list[Path], output_dir: Path) -> list[str]:
    """bench/spark_floor.py's arguments, into an emptied ``output_dir``."""
    datasets.fresh_dir(output_dir)
    return [str(output_dir), *(str(p) for p in files)]


def spark_floor(files: list[Path], output_dir: Path, env: dict[str, str] | None = None) -> tuple[float, int]:
    """A fresh Spark process reading the files and writing them as Parquet, nothing else (bench/spark_floor.py)."""
    argv = [sys.executable, str(SPARK_FLOOR), *_floor_argv(files, output_dir)]
    return run_command(argv, env=env or job_env(), log_path=output_dir.parent / f"{output_dir.name}.log")


def warm_spark_floor(files: list[Path], output_dir: Path) -> float:
    """The same floor as the first run of a freshly warmed worker (the script stops Spark, which ends the worker)."""
    with WarmWorker(datasets.fresh_dir(WORK_DIR / "warm_worker")) as worker:
        return worker.run_script(SPARK_FLOOR, _floor_argv(files, output_dir), output_dir.parent)


def _event_log_env(folder: Path) -> dict[str, str]:
    """A fresh process's environment with Spark's event log written into an emptied ``folder``: the job and its
    floor both pay for it, so their ratio stays fair."""
    datasets.fresh_dir(folder)
    return job_env(extra_conf={"spark.eventLog.enabled": "true", "spark.eventLog.dir": folder.resolve().as_uri()})


def full_vs_duckdb(
    input_dir: Path, files: list[Path], lookup: Path, repeats: int, label: str
) -> tuple[list[Result], float, float, str]:
    """Alternate baseline, Spark floor and job so that machine noise hits all alike; returns rows, the job's
    median, DuckDB's, and the profile of the last full refresh (Spark's stages per phase, beside the floor's)."""
    duck, floor, job = Measurement(), Measurement(), Measurement()
    manifest: dict = {}
    job_events, floor_events = WORK_DIR / "job_full_events", WORK_DIR / "spark_floor_events"
    for _ in range(repeats):
        duck.add(*duckdb_baseline(input_dir, lookup, WORK_DIR / "duckdb"))
        floor.add(*spark_floor(files, WORK_DIR / "spark_floor", env=_event_log_env(floor_events)))
        seconds, rss, manifest = full_run(input_dir, lookup, WORK_DIR / "job_full", env=_event_log_env(job_events))
        job.add(seconds, rss)
    ratio = job.median_seconds / floor.median_seconds
    duck_ratio = job.median_seconds / duck.median_seconds
    rows = [
        Result(
            benchmark=f"job, full refresh ({label})",
            metric="wall time",
            value=job.median_seconds,
            unit="s",
            baseline="Spark floor",
            baseline_value=floor.median_seconds,
            ratio=ratio,
            target="ratio <= 1.5",
            met=ratio <= 1.5,
            runs=repeats,
            notes=f"rows in {manifest.get('rows_in', 0):,}, out {manifest.get('rows_out', 0):,}; "
            f"DuckDB's whole job {duck.median_seconds:.1f} s",
        ),
        Result(
            benchmark=f"job, full refresh ({label}) against DuckDB",
            metric="wall time",
            value=job.median_seconds,
            unit="s",
            baseline="DuckDB equivalent",
            baseline_value=duck.median_seconds,
            ratio=duck_ratio,
            runs=repeats,
            notes="the outside anchor: the same work in DuckDB (2 threads)",
        ),
        Result(
            benchmark=f"job, full refresh ({label})",
            metric="peak RSS",
            value=job.max_rss_bytes / GIB,
            unit="GiB",
            baseline="DuckDB equivalent",
            baseline_value=duck.max_rss_bytes / GIB,
            ratio=job.max_rss_bytes / max(duck.max_rss_bytes, 1),
            target="< 4 GiB",
            met=job.max_rss_bytes < RSS_TARGET_BYTES,
            runs=repeats,
            notes="driver + JVM, sampled every 0.1 s",
        ),
        Result(
            benchmark=f"Spark alone: read the files, write Parquet, no transform ({label})",
            metric="wall time",
            value=floor.median_seconds,
            unit="s",
            baseline="DuckDB equivalent",
            baseline_value=duck.median_seconds,
            ratio=floor.median_seconds / duck.median_seconds,
            runs=repeats,
            notes="the floor under the job, same Spark settings; "
            f"job / floor = {job.median_seconds / floor.median_seconds:.2f}",
        ),
    ]
    profile = spark_profile.full_refresh_profile(
        spark_profile.event_log_file(job_events), manifest, spark_profile.event_log_file(floor_events), label
    )
    return rows, job.median_seconds, duck.median_seconds, profile


def incremental(files: list[Path], lookup: Path, repeats: int, full_median: float) -> list[Result]:
    """History of all days but the last (untimed), then the job adding the last day (timed)."""
    increments, floor = Measurement(), Measurement()
    partitions: list[str] = []
    for _ in range(repeats):
        floor.add(*spark_floor(files[-1:], WORK_DIR / "spark_floor_one_day"))
        inbox = datasets.fresh_dir(WORK_DIR / "inbox")
        datasets.link_files(files[:-1], inbox)
        layout = JobLayout(datasets.fresh_dir(WORK_DIR / "job_incremental"))
        run_job(inbox, layout, lookup)
        datasets.link_files(files[-1:], inbox)
        run = run_job(inbox, layout, lookup)
        increments.add(run.seconds, run.peak_rss_bytes)
        partitions = list(run.manifest.get("partitions_written", []))
    fraction = increments.median_seconds / full_median
    return [
        Result(
            benchmark="job, one new day on the full history",
            metric="wall time",
            value=increments.median_seconds,
            unit="s",
            baseline="full refresh",
            baseline_value=full_median,
            ratio=fraction,
            target="<= 15% of full",
            met=fraction <= 0.15,
            runs=repeats,
            notes=f"rewrote {', '.join(partitions) or 'nothing'}",
        ),
        Result(
            benchmark="Spark alone: read the new day's file, write Parquet, no transform",
            metric="wall time",
            value=floor.median_seconds,
            unit="s",
            baseline="full refresh",
            baseline_value=full_median,
            ratio=floor.median_seconds / full_median,
            runs=repeats,
            notes="a fresh Spark process's least work: the floor under the one-day increment",
        ),
    ]


def warm_worker(
    files: list[Path], lookup: Path, repeats: int, cold_full: float, duckdb: float, label: str
) -> list[Result]:
    """The full refresh and the one-day increment served by warm workers, as the local Glue executor serves
    runs when ``local up`` or the demo run the pipeline (``bench.job_runs.WarmWorker``).

    One worker builds the history of all days but the last (untimed), then serves, ``repeats`` times, a full
    refresh of every day and the last day added to a copy of that history: each increment runs in a process
    that has just run the job, as the next day's run does when the worker served the previous one. Then
    ``repeats`` fresh workers each serve the increment as their first run (the executor was just started), and
    Spark's floors (all files, the new day's file) are measured as the first run of fresh workers too."""
    inbox = datasets.fresh_dir(WORK_DIR / "warm_inbox")
    datasets.link_files(files[:-1], inbox)
    history = JobLayout(datasets.fresh_dir(WORK_DIR / "warm_history"))
    full, served, first = Measurement(), Measurement(), Measurement()
    manifest: dict = {}

    def increment(worker: WarmWorker, into: Measurement) -> None:
        nonlocal manifest
        layout = JobLayout(WORK_DIR / "warm_increment")
        shutil.rmtree(layout.root, ignore_errors=True)
        shutil.copytree(history.root, layout.root, symlinks=True)
        run = worker.run_job(inbox, layout, lookup)
        into.add(run.seconds, 0)
        manifest = run.manifest

    with WarmWorker(datasets.fresh_dir(WORK_DIR / "warm_worker")) as worker:
        worker.run_job(inbox, history, lookup, full_refresh=True)
        datasets.link_files(files[-1:], inbox)
        for _ in range(repeats):
            full.add(
                worker.run_job(inbox, JobLayout(datasets.fresh_dir(WORK_DIR / "warm_full")), lookup, True).seconds, 0
            )
            increment(worker, served)
    floor, one_day_floor = Measurement(), Measurement()
    for _ in range(repeats):
        with WarmWorker(datasets.fresh_dir(WORK_DIR / "warm_worker")) as worker:
            increment(worker, first)
        floor.add(warm_spark_floor(files, WORK_DIR / "warm_spark_floor"), 0)
        one_day_floor.add(warm_spark_floor(files[-1:], WORK_DIR / "warm_spark_floor_one_day"), 0)
    carried = manifest.get("carry_forward", {}).get("rows", 0)
    rewrote = f"rewrote {', '.join(manifest.get('partitions_written', [])) or 'nothing'}, {carried:,} rows carried"
    return [
        Result(
            benchmark=f"job, full refresh, warm worker ({label})",
            metric="wall time",
            value=full.median_seconds,
            unit="s",
            baseline="Spark floor, fresh warm worker",
            baseline_value=floor.median_seconds,
            ratio=full.median_seconds / floor.median_seconds,
            target="ratio <= 1.5",
            met=full.median_seconds / floor.median_seconds <= 1.5,
            runs=repeats,
            notes=f"the same job in a fresh process: {cold_full:.1f} s; DuckDB's whole job {duckdb:.1f} s",
        ),
        _warm_increment_row("warm worker that served the previous run", served, full, rewrote, 0.10),
        _warm_increment_row(
            "first run of a fresh warm worker", first, full, "warmed only by its generic workload", 0.15
        ),
        Result(
            benchmark=f"Spark alone: read the files, write Parquet, no transform, fresh warm worker ({label})",
            metric="wall time",
            value=floor.median_seconds,
            unit="s",
            baseline="DuckDB equivalent",
            baseline_value=duckdb,
            ratio=floor.median_seconds / duckdb,
            runs=repeats,
            notes=f"the floor under the job, warm; job / floor = {full.median_seconds / floor.median_seconds:.2f}",
        ),
        Result(
            benchmark="Spark alone: read the new day's file, write Parquet, no transform, fresh warm worker",
            metric="wall time",
            value=one_day_floor.median_seconds,
            unit="s",
            baseline="full refresh, warm worker",
            baseline_value=full.median_seconds,
            ratio=one_day_floor.median_seconds / full.median_seconds,
            runs=repeats,
            notes="the floor under the one-day increment in a warm worker",
        ),
    ]


def _warm_increment_row(worker: str, increments: Measurement, full: Measurement, notes: str, target: float) -> Result:
    fraction = increments.median_seconds / full.median_seconds
    return Result(
        benchmark=f"job, one new day on the full history, {worker}",
        metric="wall time",
        value=increments.median_seconds,
        unit="s",
        baseline="full refresh, warm worker",
        baseline_value=full.median_seconds,
        ratio=fraction,
        target=f"<= {target:.0%} of full",
        met=fraction <= target,
        runs=len(increments.seconds),
        notes=notes,
    )


def scale(files: list[Path], lookup: Path, factor: int, one_x_seconds: float, one_x_rows: int) -> list[Result]:
    """The JHU set `factor` times with shifted dates: time per row against 1x, and peak memory."""
    replica = datasets.fresh_dir(WORK_DIR / f"jhu_x{factor}")
    datasets.replicate_jhu(replica, factor)
    seconds, rss, manifest = full_run(replica, lookup, WORK_DIR / f"job_x{factor}")
    rows = (int(manifest.get("rows_in", 0)), one_x_rows)
    return scale_results(factor, rows, "local disk", seconds, rss, "x1 full refresh", one_x_seconds)


def scale_results(
    factor: int, rows: tuple[int, int], where: str, seconds: float, rss: int, baseline: str, one_x_seconds: float
) -> list[Result]:
    """Time against the 1x run (linear at most: the ratio no larger than the growth in rows) and peak memory.
    `rows`: rows in at this scale and at 1x."""
    growth = seconds / one_x_seconds
    row_growth = rows[0] / max(rows[1], 1)
    return [
        Result(
            benchmark=f"job, JHU x{factor} ({rows[0]:,} rows), {where}",
            metric="wall time",
            value=seconds,
            unit="s",
            baseline=baseline,
            baseline_value=one_x_seconds,
            ratio=growth,
            target="ratio <= row growth (linear)",
            met=growth <= row_growth,
            notes=f"rows x{row_growth:.1f}",
        ),
        Result(
            benchmark=f"job, JHU x{factor}, {where}",
            metric="peak RSS",
            value=rss / GIB,
            unit="GiB",
            target="< 4 GiB",
            met=rss < RSS_TARGET_BYTES,
            notes="driver + JVM",
        ),
    ]


def _run_via_s3a(files: list[Path], lookup: Path, log_name: str) -> tuple[JobRun, dict]:
    """A full run with s3:// input and output through S3A, against the embedded emulator (moto over HTTP)."""
    import boto3

    from covid_pipeline.local.emulator import Emulator
    from covid_pipeline.spark_env import s3a_conf

    emulator = Emulator("us-east-1")
    endpoint = emulator.start()
    try:
        s3 = boto3.client(
            "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bench", aws_secret_access_key="x"
        )
        for bucket in ("bench-raw", "bench-processed"):
            s3.create_bucket(Bucket=bucket)
        with ThreadPoolExecutor(max_workers=4) as pool:  # the 10x set is 4,950 objects
            list(pool.map(lambda path: s3.upload_file(str(path), "bench-raw", f"jhu_daily/{path.name}"), files))
        s3.upload_file(str(lookup), "bench-raw", f"reference/{lookup.name}")
        credentials = {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "x",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        env = {**job_env(extra_conf=s3a_conf(endpoint)), **credentials}
        layout = S3Layout("s3://bench-processed/run")
        run = run_job(
            "s3://bench-raw/jhu_daily/",
            layout,
            f"s3://bench-raw/reference/{lookup.name}",
            full_refresh=True,
            env=env,
            log_path=WORK_DIR / log_name,
        )
        latest = s3.get_object(Bucket="bench-processed", Key="run/state/latest.json")["Body"].read()
        return run, json.loads(latest)
    finally:
        emulator.stop()


def via_s3a(files: list[Path], lookup: Path, one_x_seconds: float, label: str) -> tuple[list[Result], float]:
    """The full run through S3A beside the same run on local disk: what the object store costs the job, as the
    local Glue runtime runs it. Returns rows and the run's seconds."""
    run, manifest = _run_via_s3a(files, lookup, "job_s3a.log")
    ratio = run.seconds / one_x_seconds if one_x_seconds else None
    return [
        Result(
            benchmark=f"job, full refresh ({label}), s3:// through S3A (emulator)",
            metric="wall time",
            value=run.seconds,
            unit="s",
            baseline="same run on local disk",
            baseline_value=one_x_seconds or None,
            ratio=ratio,
            notes=f"rows in {manifest.get('rows_in', 0):,}, out {manifest.get('rows_out', 0):,}; "
            f"peak RSS {run.peak_rss_bytes / GIB:.2f} GiB (job process tree)",
        )
    ], run.seconds


def scale_via_s3a(lookup: Path, factor: int, one_x_s3a_seconds: float, one_x_rows: int) -> list[Result]:
    """The `factor`x set through S3A against the 1x run through S3A measured in the same bench run."""
    replica = datasets.fresh_dir(WORK_DIR / f"jhu_x{factor}")
    files = datasets.replicate_jhu(replica, factor)
    run, manifest = _run_via_s3a(files, lookup, f"job_x{factor}_s3a.log")
    rows = (int(manifest.get("rows_in", 0)), one_x_rows)
    return scale_results(
        factor, rows, "s3:// through S3A", run.seconds, run.peak_rss_bytes, "x1 through S3A", one_x_s3a_seconds
    )
