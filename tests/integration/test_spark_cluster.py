"""The distributed run: the unchanged job script on a Spark standalone cluster (1 master, 2 workers on 127.0.0.1,
executors in their own JVMs reading and writing s3:// on the emulator through S3A) gives exactly the local[2] output.

Only settings differ between the two runs, passed from outside as PYSPARK_SUBMIT_ARGS (``--master spark://...``,
the S3A settings of covid_pipeline.spark_env.s3a_conf; ``spark.jars`` ships the S3A jars to the executors).
`slow`: three JVM daemons plus a driver and two executors on 2 cores take minutes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from covid_pipeline import sample_data
from covid_pipeline.config import REPO_ROOT, PipelineConfig
from covid_pipeline.local.cloud import LocalCloud
from covid_pipeline.local.spark_cluster import StandaloneCluster
from covid_pipeline.spark_env import quiet_local_conf, submit_args

pytestmark = [pytest.mark.slow, pytest.mark.spark, pytest.mark.timeout(2400)]

JOB_SCRIPT = REPO_ROOT / "glue_job" / "covid_transform.py"
# One report per header era, with quirks (BOM, duplicate keys, another column order, empty counts).
DATES = (date(2020, 1, 22), date(2020, 3, 10), date(2020, 3, 22), date(2020, 4, 15), date(2020, 11, 9))
RUN_TIMEOUT = 900


@pytest.fixture(scope="module")
def cloud(
    test_config: PipelineConfig, cloud_state_dir: Any, tmp_path_factory: pytest.TempPathFactory, s3a_jars: list[Path]
) -> Iterator[LocalCloud]:
    config = test_config
    with LocalCloud(config, state_dir=cloud_state_dir(), run_lambdas=False, snapshot_interval_seconds=None) as running:
        dataset = sample_data.generate(tmp_path_factory.mktemp("cluster-sample"), dates=DATES)
        s3 = running.client("s3")
        sample_data.upload_reference(config, dataset, s3)
        sample_data.upload_reports(config, dataset.files, s3)
        yield running


def run_job(cloud: LocalCloud, name: str, master: str, extra_conf: dict[str, str]) -> dict[str, Any]:
    """Run glue_job/covid_transform.py as a plain process against the emulator; returns its manifest."""
    config: PipelineConfig = cloud.config
    names = config.names
    conf = {**quiet_local_conf(), **cloud.s3a_conf(), **extra_conf}
    env = {
        **os.environ,
        **cloud.env,
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_SUBMIT_ARGS": submit_args(conf, master=master),
    }
    state_path = f"s3://{names.processed_bucket}/_state/{name}/"
    command = [
        sys.executable, str(JOB_SCRIPT), "--JOB_NAME", name, "--source", "jhu_daily",
        "--input_path", config.raw_path("jhu_daily"),
        "--output_path", f"s3://{names.processed_bucket}/{name}/",
        "--quarantine_path", f"s3://{names.quarantine_bucket}/{name}/",
        "--state_path", state_path,
        "--reference_path", config.reference_path,
    ]  # fmt: skip
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert result.returncode == 0, result.stderr[-4000:]
    body = cloud.client("s3").get_object(Bucket=names.processed_bucket, Key=f"_state/{name}/latest.json")["Body"]
    return dict(json.loads(body.read()))


def download_output(cloud: LocalCloud, name: str, target: Path) -> Path:
    s3 = cloud.client("s3")
    bucket = cloud.config.names.processed_bucket
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{name}/"):
        for item in page.get("Contents", []):
            relative = item["Key"][len(name) + 1 :]
            if relative.endswith(".parquet") and not any(p.startswith((".", "_")) for p in relative.split("/")):
                (target / relative).parent.mkdir(parents=True, exist_ok=True)
                s3.download_file(bucket, item["Key"], str(target / relative))
    return target


def read_rows(folder: Path) -> list[str]:
    import pyarrow.dataset as ds

    table = ds.dataset(str(folder), format="parquet", partitioning="hive").to_table()
    return sorted(json.dumps(row, sort_keys=True, default=str) for row in table.to_pylist())


CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
COUNTS = ("rows_in", "rows_out", "rows_quarantined", "rows_duplicate", "files_processed", "partitions_written")


def test_job_on_a_standalone_cluster_equals_the_local_run(cloud: LocalCloud, tmp_path: Path) -> None:
    local = run_job(cloud, "local2", "local[2]", {})

    with StandaloneCluster(tmp_path / "cluster", workers=2, cores_per_worker=1, memory_per_worker="1g") as cluster:
        credentials = {
            key: cloud.env[key] for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY") if key in cloud.env
        }
        executor_conf = {
            "spark.executor.memory": "768m",
            "spark.executor.cores": "1",
            "spark.cores.max": "2",
            # S3A on the executors reads credentials from their environment.
            **{f"spark.executorEnv.{key}": value for key, value in credentials.items()},
        }
        distributed = run_job(cloud, "cluster", cluster.master_url, executor_conf)
        with urllib.request.urlopen(f"http://127.0.0.1:{cluster.webui_port}/json/", timeout=10) as response:
            master_state = json.load(response)

    # It really ran on the cluster: the master knows the application, and both workers ran an executor for it.
    apps = master_state.get("completedapps", []) + master_state.get("activeapps", [])
    assert len(apps) == 1, apps  # (named "pyspark-shell": spark-submit's name wins over the builder's appName)
    app_id = apps[0]["id"]
    executor_dirs = sorted((tmp_path / "cluster").glob(f"worker-*/{app_id}/*"))
    assert {path.parent.parent.name for path in executor_dirs} == {"worker-0", "worker-1"}, executor_dirs

    assert local["status"] == distributed["status"] == "succeeded"
    assert {key: distributed[key] for key in COUNTS} == {key: local[key] for key in COUNTS}
    assert local["rows_in"] == local["rows_out"] + local["rows_quarantined"] + local["rows_duplicate"]
    local_rows = read_rows(download_output(cloud, "local2", tmp_path / "local2"))
    cluster_rows = read_rows(download_output(cloud, "cluster", tmp_path / "cluster-out"))
    assert len(local_rows) == local["rows_out"] > 0
    assert cluster_rows == local_rows
