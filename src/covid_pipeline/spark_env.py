"""The S3A jars and the Spark settings that point s3:// at an S3 endpoint.

pyspark ships Hadoop's client jars but not hadoop-aws. The only source on
the package registries is the sagemaker-pyspark 1.4.5 sdist (Apache-2.0),
which carries hadoop-aws 3.3.1 and the matching AWS SDK bundle: we download
it without installing it, extract the two jars into an ignored cache and
check their sha256.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import NamedTuple

from covid_pipeline import jvm_archive
from covid_pipeline.config import REPO_ROOT

JAR_CACHE = Path(os.environ.get("COVID_PIPELINE_JAR_CACHE", REPO_ROOT / ".cache" / "jars"))
SDIST = "sagemaker-pyspark==1.4.5"
JARS = {
    "hadoop-aws-3.3.1.jar": "6be50ad8a8b445d2802381b085b2a3ede5c29d353450a6a21f16b2fefa962b6e",
    "aws-java-sdk-bundle-1.11.901.jar": "b87175b32a16544cc1b37cf40390eb375833e62bed67f8ce6cde4b7ad6429ead",
}


class JarError(RuntimeError):
    """The S3A jars are missing or do not match their checksums."""


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def jar_paths() -> list[Path]:
    return [JAR_CACHE / name for name in JARS]


def jars_present() -> bool:
    return all(path.is_file() and _sha256(path) == JARS[path.name] for path in jar_paths())


def fetch_jars() -> list[Path]:
    """Download the sdist, extract the two jars, verify them. Idempotent."""
    if jars_present():
        return jar_paths()
    JAR_CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:", SDIST, "-d", tmp],
            check=True,
        )
        (sdist,) = Path(tmp).glob("sagemaker_pyspark-*.tar.gz")
        with tarfile.open(sdist) as archive:
            for member in archive.getmembers():
                name = Path(member.name).name
                if name in JARS and "/deps/jars/" in member.name:
                    source = archive.extractfile(member)
                    assert source is not None
                    (JAR_CACHE / name).write_bytes(source.read())
    for path in jar_paths():
        if not path.is_file():
            raise JarError(f"{path.name} not found in {SDIST}")
        if _sha256(path) != JARS[path.name]:
            path.unlink()
            raise JarError(f"{path.name}: sha256 mismatch, file removed")
    return jar_paths()


class JvmTrustStore(NamedTuple):
    """A trust store a JVM verifies TLS servers with (the local cloud's CA, for S3A against its HTTPS endpoint)."""

    path: Path
    password: str
    store_type: str = "PKCS12"

    def java_options(self) -> str:
        """The -D options that make the JVM's default TLS context (the one S3A's HTTP client uses) trust it."""
        options = {
            "javax.net.ssl.trustStore": str(self.path),
            "javax.net.ssl.trustStorePassword": self.password,
            "javax.net.ssl.trustStoreType": self.store_type,
        }
        # Spark splits option strings the way a shell does: a path with spaces stays one option.
        return " ".join(shlex.quote(f"-D{key}={value}") for key, value in options.items())


def s3a_conf(endpoint_url: str | None, truststore: JvmTrustStore | None = None) -> dict[str, str]:
    """Spark settings that make s3:// and s3a:// go through S3A (to an emulator when endpoint_url is set).

    An https endpoint is reached over TLS, as S3 is; ``truststore`` is what the driver and executor JVMs verify its
    certificate with when it is not signed by a CA the JDK knows (the local cloud's own CA).
    """
    conf = {
        "spark.jars": ",".join(str(p) for p in jar_paths()),
        "spark.hadoop.fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "spark.hadoop.fs.s3a.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "spark.hadoop.fs.s3a.aws.credentials.provider": "com.amazonaws.auth.EnvironmentVariableCredentialsProvider",
        "spark.hadoop.fs.s3a.committer.magic.enabled": "false",
        "spark.hadoop.fs.s3a.change.detection.mode": "none",
    }
    if endpoint_url:
        secure = endpoint_url.lower().startswith("https://")
        conf.update(
            {
                "spark.hadoop.fs.s3a.endpoint": endpoint_url,
                "spark.hadoop.fs.s3a.path.style.access": "true",
                "spark.hadoop.fs.s3a.connection.ssl.enabled": "true" if secure else "false",
            }
        )
        if secure and truststore is not None:
            # defaultJavaOptions, not extraJavaOptions: they are prepended to whatever extraJavaOptions another
            # settings dict (quiet_local_conf, a caller's) sets, so merging dicts never drops the trust store.
            options = truststore.java_options()
            conf["spark.driver.defaultJavaOptions"] = options
            conf["spark.executor.defaultJavaOptions"] = options
    return conf


# A line of Spark's own log4j output below ERROR (the default layout: "yy/MM/dd HH:mm:ss LEVEL ..."): what to skip
# when looking for the error a Spark process ended with.
SPARK_LOG_LINE = re.compile(r"^\d{2}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} (INFO|WARN|DEBUG|TRACE) ")


# JVM settings for the job's generated code, measured on the full refresh of the 495 JHU files in a fresh process
# on 2 cores (bench/results/latest.md), where the JIT compiler competes with the tasks for the cores:
# - Whole-stage codegen turns the row classification into one method above HotSpot's 8000-bytecode JIT limit,
#   which then runs interpreted: letting the JIT compile it makes the read-and-classify stage 25% faster.
# - C2 compiles that method for the branches seen so far; rows of another header era take one never seen, the
#   compiled code is thrown away ("unstable_if") and compiled again: 8 times in one run, 21 s of compiler time.
#   With no trap budget per method C2 compiles every branch once (JIT time 99 s -> 74 s).
# - The parallel collector costs the tasks less than G1 on a 2 GiB heap.
# Together: job 91.3 s -> 79.6 s, Spark's floor 33.2 s -> 28.5 s.
# - The heap starts at its maximum (the initial size a share of RAM, capped at -Xmx, which Spark sets from
#   spark.driver.memory whatever its value): grown from the JVM's default start, it was collected in full at each
#   step. Job 63.4 s -> 61.1 s (medians of 2, back to back), the floor unchanged (30.6 s, 30.9 s).
JOB_JVM_OPTIONS = "-XX:-DontCompileHugeMethods -XX:PerMethodTrapLimit=0 -XX:+UseParallelGC -XX:InitialRAMPercentage=100"


def job_jvm_options(archive: bool = True) -> str:
    """JOB_JVM_OPTIONS, and the class-data-sharing archive `make setup` built for them when there is one."""
    shared = jvm_archive.archive_options(JOB_JVM_OPTIONS) if archive else ""
    return f"{JOB_JVM_OPTIONS} {shared}".strip()


def quiet_local_conf(archive: bool = True) -> dict[str, str]:
    """Settings for a quiet, small local Spark (tests, the local Glue executor); `archive=False` leaves out the
    class-data-sharing archive (its own build)."""
    options = job_jvm_options(archive)
    return {
        "spark.driver.extraJavaOptions": options,
        "spark.executor.extraJavaOptions": options,
        "spark.ui.showConsoleProgress": "false",
        "spark.ui.enabled": "false",
        "spark.sql.shuffle.partitions": "4",
        # Adaptive execution re-plans a query after each shuffle stage, as a job of its own: with 2 cores and 4
        # shuffle partitions there is nothing to coalesce, and the re-planning cost the quality gate's dozen small
        # aggregations about 1 s of a one-day increment's 4 s. Clusters keep Spark's default (on).
        "spark.sql.adaptive.enabled": "false",
        # A warm worker serves runs of different shapes (full refresh, one new day): with Spark's default of 100
        # compiled query classes kept (a one-day increment alone compiles 117 in a fresh process), each shape
        # evicted the other's, compiled and JIT-warmed again on its next run. Back to back in one worker, full
        # refresh then increment, three times: increments 5.3, 5.2, 4.7 s -> 5.7, 4.1, 3.5 s; full refreshes 31.3,
        # 32.3, 30.9 s -> 28.8, 27.4, 29.0 s. Distinct queries, not runs, fill it: the same query text is the same
        # entry.
        "spark.sql.codegen.cache.maxEntries": "1000",
        "spark.sql.session.timeZone": "UTC",
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
    }


def submit_args(conf: dict[str, str], master: str = "local[2]") -> str:
    """A PYSPARK_SUBMIT_ARGS value: how an unchanged job script gets its Spark settings from outside."""
    # PySpark splits the value the way a shell would: a setting with spaces (several JVM options) is quoted.
    parts = [f"--master {master}"]
    parts += [f"--conf {shlex.quote(f'{key}={value}')}" for key, value in conf.items()]
    return " ".join(parts) + " pyspark-shell"


if __name__ == "__main__":
    for jar in fetch_jars():
        print(f"ok {jar}")
