"""Drill: two runs of the job started at once on the same source, in the local cloud (the real job script in two
processes, local Spark each, S3A and boto3 against the emulator over HTTPS, the ledger and manifests in the
processed bucket as Terraform laid it out).

One run publishes; the other fails cleanly (exit code 1, ConcurrentRunError, status failed_concurrent_update and
nothing published) or, if it read the ledger only after the first had finished, finds nothing new. Either way no
row is lost: the manifests reconcile, a retry of the loser finds nothing to do, and the output equals a single
full refresh of the same raw files, row for row.

Processes, not StartJobRun: the test environment's Glue job allows one run at a time (glue_max_concurrent_runs 1,
which the executor enforces), and this drill is about what the job itself guarantees when two runs overlap.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from covid_pipeline import sample_data
from covid_pipeline.config import REPO_ROOT, PipelineConfig
from covid_pipeline.local.cloud import LocalCloud
from covid_pipeline.local.tls import java_truststore_for
from covid_pipeline.spark_env import quiet_local_conf, s3a_conf, submit_args

pytestmark = [pytest.mark.slow, pytest.mark.spark, pytest.mark.timeout(1800)]

JOB_SCRIPT = REPO_ROOT / "glue_job" / "covid_transform.py"
DAYS = [date(2020, 10, 29) + timedelta(days=n) for n in range(6)]  # spans two months
RUN_TIMEOUT = 900


@pytest.fixture(scope="module")
def cloud(
    test_config: PipelineConfig, cloud_state_dir: Callable[[], Path], s3a_jars: list[Path]
) -> Iterator[LocalCloud]:
    # No Lambda runtime: the uploads must not start runs of their own; the drill starts both.
    running = LocalCloud(
        test_config,
        state_dir=cloud_state_dir(),
        run_lambdas=False,
        snapshot_after_runs=False,
        snapshot_interval_seconds=None,
        cloudwatch_interval_seconds=None,
    ).start()
    try:
        yield running
    finally:
        running.stop()


def job_env(cloud: LocalCloud) -> dict[str, str]:
    truststore = java_truststore_for(Path(cloud.env["AWS_CA_BUNDLE"]))
    return {
        **os.environ,
        **cloud.env,
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
        # S3A verifies the emulator's certificate as boto3 does, with the CA bundle as a JVM trust store (without
        # it every S3A call fails its TLS handshake and is retried for minutes).
        "PYSPARK_SUBMIT_ARGS": submit_args({**quiet_local_conf(), **s3a_conf(cloud.endpoint_url, truststore)}),
    }


def job_command(config: PipelineConfig, name: str, **paths: str) -> list[str]:
    source = "jhu_daily"
    arguments = {
        "input_path": config.raw_path(source),
        "output_path": config.output_path(source),
        "quarantine_path": config.quarantine_path(source),
        "state_path": config.state_path(source),
        "reference_path": config.reference_path,
        **paths,
    }
    command = [sys.executable, str(JOB_SCRIPT), "--JOB_NAME", name, "--source", source, "--JOB_RUN_ID", name]
    for key, value in arguments.items():
        command += [f"--{key}", value]
    return command


def state_uri(config: PipelineConfig, name: str) -> str:
    return f"{config.state_path('jhu_daily').rstrip('/')}/{name}"


def read_json(cloud: LocalCloud, uri: str) -> Any:
    bucket, _, key = uri[len("s3://") :].partition("/")
    return json.loads(cloud.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def read_rows(folder: Path) -> list[str]:
    import pyarrow.dataset as ds

    table = ds.dataset(str(folder), format="parquet", partitioning="hive").to_table()
    return sorted(json.dumps(row, sort_keys=True, default=str) for row in table.to_pylist())


def download_output(cloud: LocalCloud, output_path: str, target: Path) -> int:
    """The committed Parquet objects under output_path (never Spark's staging or markers); how many."""
    bucket, _, prefix = output_path[len("s3://") :].partition("/")
    s3 = cloud.client("s3")
    count = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix.rstrip("/") + "/"):
        for item in page.get("Contents", []):
            relative = item["Key"][len(prefix.rstrip("/")) + 1 :]
            if any(part.startswith((".", "_")) for part in relative.split("/")) or not relative.endswith(".parquet"):
                continue
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, item["Key"], str(destination))
            count += 1
    return count


def test_two_runs_started_at_once_on_one_source_lose_no_row(cloud: LocalCloud, tmp_path: Path) -> None:
    config = cloud.config
    s3 = cloud.client("s3")
    bucket, key = config.reference_path[len("s3://") :].split("/", 1)
    s3.put_object(Bucket=bucket, Key=key, Body=sample_data.render_lookup())
    raw_bucket, _, raw_prefix = config.raw_path("jhu_daily")[len("s3://") :].partition("/")
    for day in DAYS:
        data, _ = sample_data.render_daily_report(day)
        s3.put_object(Bucket=raw_bucket, Key=f"{raw_prefix.rstrip('/')}/{sample_data.report_file_name(day)}", Body=data)

    env = job_env(cloud)
    started = time.monotonic()
    # Output to files, not pipes: a pipe nobody reads while the other run is awaited fills up and blocks its job.
    logs = {name: tmp_path / f"{name}.log" for name in ("drill-run-a", "drill-run-b")}
    processes = {
        name: subprocess.Popen(job_command(config, name), env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
        for name, log in logs.items()
    }
    codes = {name: process.wait(timeout=RUN_TIMEOUT) for name, process in processes.items()}
    both_seconds = time.monotonic() - started
    outputs = {name: log.read_text(errors="replace") for name, log in logs.items()}
    manifests = {name: read_json(cloud, state_uri(config, f"runs/{name}.json")) for name in processes}
    statuses = {name: manifest["status"] for name, manifest in manifests.items()}
    print(f"two runs at once: {both_seconds:.1f} s, exit codes {codes}, statuses {statuses}")

    (winner,) = [name for name, status in statuses.items() if status == "succeeded"]
    (loser,) = set(processes) - {winner}
    assert codes[winner] == 0, outputs[winner][-3000:]
    assert manifests[winner]["files_processed"] == len(DAYS)
    if statuses[loser] == "failed_concurrent_update":  # it read the ledger before the winner wrote it
        assert codes[loser] == 1
        assert "another run updated the ledger of source jhu_daily" in outputs[loser]
        assert "since this run read it; retry" in outputs[loser]
        assert "Traceback" not in outputs[loser]
        assert manifests[loser]["partitions_written"] == [] and manifests[loser]["partitions_removed"] == []
    else:  # it started after the winner had finished: nothing new
        assert (codes[loser], statuses[loser]) == (0, "no_new_input"), outputs[loser][-3000:]
    for manifest in manifests.values():
        total = manifest["rows_out"] + manifest["rows_quarantined"] + manifest["rows_duplicate"]
        assert manifest["rows_in"] == total, manifest

    ledger = read_json(cloud, state_uri(config, "ledger.json"))
    assert {entry["run_id"] for entry in ledger["files"].values()} == {winner}
    assert sorted(ledger["files"]) == sorted(sample_data.report_file_name(day) for day in DAYS)
    bucket, _, lock_key = state_uri(config, "publish.lock")[len("s3://") :].partition("/")
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix=lock_key)  # released

    # The loser, retried (as Glue's MaxRetries would), finds nothing left to do.
    retry = subprocess.run(
        job_command(config, f"{loser}-retry"), env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT
    )
    assert retry.returncode == 0, retry.stderr[-3000:]
    assert "no_new_input" in retry.stdout

    # The output equals one full refresh over the same raw files (to a local folder), and every partition holds
    # one file: a second, interleaved write would have left two.
    published = tmp_path / "published"
    files = download_output(cloud, config.output_path("jhu_daily"), published)
    clean = tmp_path / "clean"
    full_command = job_command(
        config,
        "drill-full",
        output_path=str(clean / "out"),
        quarantine_path=str(clean / "quarantine"),
        state_path=str(clean / "state"),
    )
    full = subprocess.run(
        [*full_command, "--full_refresh", "true"], env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT
    )
    assert full.returncode == 0, full.stderr[-3000:]
    full_manifest = json.loads((clean / "state" / "latest.json").read_text())
    assert files == len(full_manifest["partitions_written"])
    published_rows = read_rows(published)
    assert len(published_rows) == full_manifest["rows_out"] == manifests[winner]["rows_out"]
    assert published_rows == read_rows(clean / "out")
