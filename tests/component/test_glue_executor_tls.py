"""The JVM's side of the local cloud's TLS (keytool starts a JVM): the trust store made from the local CA, and a job
process of the local Glue executor that reaches an HTTPS emulator because its JVM trusts the CA its boto3 trusts."""

from __future__ import annotations

import datetime as dt
import shlex
import shutil
from pathlib import Path

import pytest

from covid_pipeline.local.emulator import emulator_env
from covid_pipeline.local.glue_executor import GlueExecutor
from covid_pipeline.local.tls import ensure_local_tls, java_truststore_for
from covid_pipeline.spark_env import job_jvm_options

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def _submit_conf(env: dict[str, str]) -> dict[str, str]:
    words = shlex.split(env["PYSPARK_SUBMIT_ARGS"])
    return dict(words[index + 1].split("=", 1) for index, word in enumerate(words) if word == "--conf")


def _executor(endpoint: str, child_env: dict[str, str], tmp_path: Path) -> GlueExecutor:
    return GlueExecutor(
        moto_endpoint=endpoint, region="us-east-1", work_root=tmp_path, history_path=None, child_env=child_env
    )


@pytest.mark.skipif(shutil.which("keytool") is None, reason="keytool (the JDK) is not installed")
def test_java_truststore_is_built_once_per_ca(tmp_path: Path) -> None:
    tls = ensure_local_tls(tmp_path, now=NOW)
    store = java_truststore_for(tls.ca_cert)
    assert store.path == tls.truststore_path and store.store_type == "PKCS12"
    built = store.path.stat().st_mtime_ns
    assert java_truststore_for(tls.ca_cert).path.stat().st_mtime_ns == built  # reused
    ensure_local_tls(tmp_path, now=NOW + dt.timedelta(days=3651))  # a new CA
    assert java_truststore_for(tls.ca_cert).path.stat().st_mtime_ns != built
    options = store.java_options()
    assert f"-Djavax.net.ssl.trustStore={store.path}" in options
    assert "-Djavax.net.ssl.trustStoreType=PKCS12" in options


@pytest.mark.skipif(shutil.which("keytool") is None, reason="keytool (the JDK) is not installed")
def test_an_https_endpoint_gives_the_job_jvm_the_trust_store(tmp_path: Path) -> None:
    tls = ensure_local_tls(tmp_path / "tls")
    endpoint = "https://127.0.0.1:8443"
    executor = _executor(endpoint, emulator_env(endpoint, "us-east-1", ca_bundle=tls.ca_cert), tmp_path)
    env = executor._process_env([], tmp_path / "run")
    conf = _submit_conf(env)
    assert env["AWS_CA_BUNDLE"] == str(tls.ca_cert)  # boto3 in the job
    assert conf["spark.hadoop.fs.s3a.endpoint"] == endpoint
    assert conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] == "true"
    for side in ("driver", "executor"):
        assert f"-Djavax.net.ssl.trustStore={tls.truststore_path}" in conf[f"spark.{side}.defaultJavaOptions"]
    # The JVM settings of quiet_local_conf are still there: the trust store does not replace them.
    assert conf["spark.driver.extraJavaOptions"] == job_jvm_options()


def test_a_plain_http_endpoint_needs_no_trust_store(tmp_path: Path) -> None:
    endpoint = "http://127.0.0.1:8080"
    conf = _submit_conf(_executor(endpoint, emulator_env(endpoint, "us-east-1"), tmp_path)._process_env([], tmp_path))
    assert conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] == "false"
    assert "spark.driver.defaultJavaOptions" not in conf
