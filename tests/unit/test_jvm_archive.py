"""Which class-data-sharing archive a Spark JVM is given: the one built for its jars, JDK and options, or none."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from covid_pipeline import jvm_archive, spark_env


@pytest.fixture
def archive_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(jvm_archive, "ARCHIVE_DIR", tmp_path / "jvm")
    return tmp_path / "jvm"


def test_no_archive_means_no_options(archive_dir: Path) -> None:
    assert jvm_archive.archive_options(spark_env.JOB_JVM_OPTIONS) == ""
    assert spark_env.job_jvm_options() == spark_env.JOB_JVM_OPTIONS
    assert spark_env.quiet_local_conf()["spark.driver.extraJavaOptions"] == spark_env.JOB_JVM_OPTIONS


def test_a_built_archive_is_mapped_with_the_jvms_cds_messages_off(archive_dir: Path) -> None:
    path = jvm_archive.archive_path(spark_env.JOB_JVM_OPTIONS)
    assert path.parent == archive_dir
    path.parent.mkdir(parents=True)
    path.write_bytes(b"built")
    options = spark_env.quiet_local_conf()["spark.executor.extraJavaOptions"].split()
    assert options[: len(spark_env.JOB_JVM_OPTIONS.split())] == spark_env.JOB_JVM_OPTIONS.split()
    assert f"-XX:SharedArchiveFile={path}" in options
    assert "-Xlog:cds=off,cds+dynamic=off" in options  # a stale one is ignored without a warning on stdout
    # Its own build starts without it.
    assert spark_env.quiet_local_conf(archive=False)["spark.driver.extraJavaOptions"] == spark_env.JOB_JVM_OPTIONS


def test_the_archive_is_named_by_the_jars_the_jdk_and_the_options(tmp_path: Path) -> None:
    jars, home = tmp_path / "jars", tmp_path / "jdk"
    jars.mkdir()
    (home / "lib" / "server").mkdir(parents=True)
    jar, libjvm = jars / "spark-core.jar", home / "lib" / "server" / "libjvm.so"
    jar.write_bytes(b"classes")
    libjvm.write_bytes(b"jvm")

    def key(options: str = "-XX:+UseParallelGC") -> str:
        jvm_archive._key.cache_clear()
        return jvm_archive._key(options, jars, home)

    first = key()
    assert key() == first
    assert key("-XX:+UseG1GC") != first
    os.utime(jar, ns=(1, 1))  # another pyspark install: same names, other files
    after_jar = key()
    assert after_jar != first
    libjvm.write_bytes(b"another jvm")
    assert key() != after_jar
    (jars / "extra.jar").write_bytes(b"more")
    assert len({first, after_jar, key()}) == 3


def test_a_path_with_spaces_is_quoted_for_sparks_option_parser(
    archive_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spaced = archive_dir.parent / "with space"
    monkeypatch.setattr(jvm_archive, "ARCHIVE_DIR", spaced)
    path = jvm_archive.archive_path(spark_env.JOB_JVM_OPTIONS)
    spaced.mkdir(parents=True)
    path.write_bytes(b"built")
    assert f'-XX:SharedArchiveFile="{path}"' in jvm_archive.archive_options(spark_env.JOB_JVM_OPTIONS)
