"""S3A against the emulator's HTTPS endpoint, as the local Glue executor runs a job: the JVM trusts the local CA
through a PKCS12 trust store (spark_env.s3a_conf), reads and writes a TLS-only bucket over TLS, and is denied over
plain HTTP as on AWS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from covid_pipeline.local.emulator import ClientCache, Emulator, emulator_env
from covid_pipeline.local.tls import java_truststore_for
from covid_pipeline.spark_env import quiet_local_conf, s3a_conf, submit_args
from tests.integration.test_emulator_edge import REGION, tls_only_policy

pytestmark = [pytest.mark.spark, pytest.mark.timeout(600)]

BUCKET = "s3a-tls-only"
JOB = textwrap.dedent(
    """
    import json, sys
    from pyspark.sql import SparkSession
    spark = SparkSession.builder.getOrCreate()
    bucket = sys.argv[1]
    frame = spark.read.option("header", True).csv(f"s3a://{bucket}/in/")
    frame.write.mode("overwrite").parquet(f"s3a://{bucket}/out/")
    print(json.dumps({"rows": spark.read.parquet(f"s3://{bucket}/out/").count()}))
    """
)


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory, s3a_jars: list[Path]) -> Iterator[Emulator]:
    running = Emulator(REGION, tls_dir=tmp_path_factory.mktemp("tls"))
    running.start()
    try:
        s3 = ClientCache(running.endpoint_url, REGION)("s3")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_policy(Bucket=BUCKET, Policy=tls_only_policy(BUCKET))
        s3.put_object(Bucket=BUCKET, Key="in/part-1.csv", Body=b"country,confirmed\nItaly,3\nPeru,4\n")
        yield running
    finally:
        running.stop()


def run_job(endpoint: str, conf: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "job.py"
    script.write_text(JOB)
    env = {key: value for key, value in os.environ.items() if key not in ("PYSPARK_SUBMIT_ARGS", "PYTHONPATH")}
    env.update(emulator_env(endpoint, REGION))
    env.update(
        {
            "SPARK_LOCAL_IP": "127.0.0.1",
            "PYSPARK_PYTHON": sys.executable,
            "PYSPARK_SUBMIT_ARGS": submit_args({**quiet_local_conf(), **conf}, master="local[1]"),
        }
    )
    return subprocess.run(
        [sys.executable, str(script), BUCKET], env=env, capture_output=True, text=True, timeout=480, cwd=tmp_path
    )


def test_s3a_reads_and_writes_a_tls_only_bucket_over_https(emulator: Emulator, tmp_path: Path) -> None:
    assert emulator.ca_bundle is not None
    truststore = java_truststore_for(emulator.ca_bundle)
    conf = s3a_conf(emulator.endpoint_url, truststore)
    assert conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] == "true"
    result = run_job(emulator.endpoint_url, conf, tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"rows": 2}
    keys = ClientCache(emulator.endpoint_url, REGION)("s3").list_objects_v2(Bucket=BUCKET, Prefix="out/")["Contents"]
    assert any(item["Key"].endswith(".parquet") for item in keys)


def test_s3a_over_plain_http_is_denied_by_the_tls_only_policy(emulator: Emulator, tmp_path: Path) -> None:
    conf = s3a_conf(emulator.http_endpoint_url)
    assert conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] == "false"
    result = run_job(emulator.http_endpoint_url, conf, tmp_path)
    assert result.returncode != 0
    assert "AccessDenied" in result.stderr or "403" in result.stderr, result.stderr[-4000:]
