"""Builds and checks the class-data-sharing archive `covid_pipeline.jvm_archive` names (`make setup` runs this).

python -m covid_pipeline.jvm_archive_build     # build (and check) if missing
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from covid_pipeline import jvm_archive
from covid_pipeline.config import REPO_ROOT
from covid_pipeline.spark_env import JOB_JVM_OPTIONS, quiet_local_conf, submit_args

BUILD_TIMEOUT = 600.0
CHECK_TIMEOUT = 120.0


def _spark_env(driver_options: str) -> dict[str, str]:
    conf = {**quiet_local_conf(archive=False), "spark.driver.extraJavaOptions": driver_options}
    env = {key: value for key, value in os.environ.items() if key != "PYSPARK_SUBMIT_ARGS"}
    return {**env, "PYSPARK_SUBMIT_ARGS": submit_args(conf), "SPARK_LOCAL_IP": "127.0.0.1"}


def _last_lines(output: str, count: int = 3) -> str:
    """What a failed child said last: its last non-empty lines, on one line."""
    return " | ".join([line for line in output.splitlines() if line.strip()][-count:])


def check(path: Path, jvm_options: str) -> str | None:
    """Why a Spark JVM does not start with the archive required, or None when it does."""
    env = _spark_env(f"{jvm_options} -Xshare:on {jvm_archive.path_option('SharedArchiveFile', path)}")
    script = "from pyspark.sql import SparkSession; SparkSession.builder.getOrCreate().range(3).count()"
    try:
        done = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=CHECK_TIMEOUT
        )
    except subprocess.TimeoutExpired:
        return f"a Spark JVM on it did not start within {CHECK_TIMEOUT:.0f} s"
    if done.returncode == 0:
        return None
    return "a Spark JVM on it did not start: " + _last_lines(done.stdout + done.stderr)


def _dump_workload(target: Path) -> int:
    """In the child whose driver JVM dumps at exit: the job on the sample data, then the JVM's orderly exit."""
    from pyspark import SparkContext

    from covid_pipeline.sample_data.dataset import generate

    sys.path.insert(0, str(REPO_ROOT / "glue_job"))
    import covid_transform

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        dataset = generate(work / "reports")
        reference = work / "reference" / dataset.lookup.name
        reference.parent.mkdir()
        dataset.lookup.rename(reference)
        SparkContext._ensure_initialized()
        gateway = SparkContext._gateway
        assert gateway is not None
        argv = ["covid_transform.py", "--JOB_NAME", "jvm-archive", "--source", "jhu_daily"]
        argv += ["--input_path", str(work / "reports"), "--reference_path", str(reference)]
        for name in ("output", "quarantine", "state"):
            argv += [f"--{name}_path", str(work / name)]
        job_rc = covid_transform.main(argv)
        active = SparkContext._active_spark_context
        if active is not None:
            active.stop()
        gateway.shutdown()
        process = gateway.proc  # the JVM dumps when it exits, which it does when its stdin closes
        process.stdin.close()
        jvm_rc = process.wait(timeout=BUILD_TIMEOUT)
    return job_rc or jvm_rc or (0 if target.is_file() else 1)


def build(jvm_options: str) -> Path:
    """Dump the archive for these options (the job on the sample data), check it, put it in place."""
    path = jvm_archive.archive_path(jvm_options)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    dump = jvm_archive.path_option("ArchiveClassesAtExit", partial)
    env = _spark_env(f"{jvm_options} {dump} {jvm_archive.QUIET}")
    done = subprocess.run(
        [sys.executable, "-m", "covid_pipeline.jvm_archive_build", "--dump", str(partial)],
        env=env,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
    )
    if done.returncode != 0 or not partial.is_file():
        partial.unlink(missing_ok=True)
        raise RuntimeError(f"the dump run failed (exit {done.returncode}): {_last_lines(done.stderr)}")
    problem = check(partial, jvm_options)
    if problem:
        partial.unlink(missing_ok=True)
        raise RuntimeError(problem)
    partial.rename(path)
    return path


def ensure(jvm_options: str) -> str:
    """Build the archive when it is missing (checked as it is built); remove archives for other jars, JDKs or
    options. One that is there is trusted: every JVM validates it again as it maps it, and ignores it if stale."""
    path = jvm_archive.archive_path(jvm_options)
    started = time.monotonic()
    if path.is_file():
        outcome = f"{path.name} in place"
    else:
        path = build(jvm_options)
        outcome = f"built {path.name} ({path.stat().st_size / 2**20:.0f} MiB) in {time.monotonic() - started:.0f} s"
    for other in jvm_archive.ARCHIVE_DIR.glob("spark-*"):
        if other != path:
            other.unlink(missing_ok=True)
    return outcome


def main(argv: list[str]) -> int:
    if argv[:1] == ["--dump"]:
        return _dump_workload(Path(argv[1]))
    try:
        print(f"jvm archive: {ensure(JOB_JVM_OPTIONS)}")
    except (RuntimeError, OSError, subprocess.SubprocessError) as error:
        # Spark runs without it, only slower to start: set-up goes on, and says so.
        print(f"jvm archive: not built ({error}); Spark JVMs start without it", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
