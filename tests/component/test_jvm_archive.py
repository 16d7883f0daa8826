"""The class-data-sharing archive `make setup` builds: Spark starts on it, and starts as before when it is unusable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from covid_pipeline import jvm_archive, jvm_archive_build
from covid_pipeline.spark_env import JOB_JVM_OPTIONS, quiet_local_conf, submit_args

START_SPARK = "from pyspark.sql import SparkSession; print(SparkSession.builder.getOrCreate().range(3).count())"


def built_archive() -> Path:
    path = jvm_archive.archive_path(JOB_JVM_OPTIONS)
    if not path.is_file():
        pytest.fail(f"no archive at {path}: `make setup` builds it (covid_pipeline.jvm_archive_build says why not)")
    return path


def test_the_archive_setup_built_starts_a_spark_jvm_with_sharing_required() -> None:
    assert jvm_archive_build.check(built_archive(), JOB_JVM_OPTIONS) is None  # -Xshare:on: no start if unusable


def test_a_stale_archive_is_ignored_without_a_word_on_stdout() -> None:
    # Stale: dumped for Spark's class path, used by a JVM with another one (as after pyspark is reinstalled).
    path = built_archive()
    loud = subprocess.run(["java", f"-XX:SharedArchiveFile={path}", "-version"], capture_output=True, text=True)
    assert "Unable to use shared archive" in loud.stdout  # the JVM's own way, where a job's output goes
    options = jvm_archive.archive_options(JOB_JVM_OPTIONS).split()  # what every local Spark JVM is given
    quiet = subprocess.run(["java", *options, "-version"], capture_output=True, text=True)
    assert (quiet.returncode, quiet.stdout) == (0, "")


def test_spark_starts_as_before_on_an_unreadable_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jvm_archive, "ARCHIVE_DIR", tmp_path)
    broken = jvm_archive.archive_path(JOB_JVM_OPTIONS)
    broken.write_bytes(b"not an archive" * 1000)
    conf = quiet_local_conf()
    assert str(broken) in conf["spark.driver.extraJavaOptions"]
    env = {**os.environ, "PYSPARK_SUBMIT_ARGS": submit_args(conf), "SPARK_LOCAL_IP": "127.0.0.1"}
    started = subprocess.run([sys.executable, "-c", START_SPARK], env=env, capture_output=True, text=True, timeout=180)
    assert (started.returncode, started.stdout) == (0, "3\n"), started.stderr[-2000:]
