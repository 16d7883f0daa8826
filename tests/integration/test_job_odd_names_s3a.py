"""The job reads odd but legitimate S3 keys literally through S3A, as on Glue: glob characters, '?', '#', spaces,
'+', '%' and unicode. One run of the job script in its own process (S3A needs its jars in the JVM) against moto on
a free loopback port; the input is on s3://, the rest on local disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from covid_pipeline.spark_env import quiet_local_conf, s3a_conf, submit_args

pytestmark = [pytest.mark.spark, pytest.mark.slow, pytest.mark.timeout(600)]
pytest_plugins = ["tests.moto_fixture"]  # moto_endpoint

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "jhu"
# key below raw/jhu_daily/ -> fixture. As globs, "[1]" would match "01-23-2020 1.csv" (the decoy) and never itself,
# and "*" the decoy of its day too.
ODD_KEYS = {
    "01-22-2020.csv": "01-22-2020.csv",
    "01-23-2020 [1].csv": "01-23-2020.csv",
    "01-23-2020 1.csv": "01-23-2020.csv",
    "03-01-2020 *.csv": "03-01-2020.csv",
    "03-01-2020 decoy.csv": "03-01-2020.csv",
    "03-22-2020 {a,b} what? #1.csv": "03-22-2020.csv",
    "nested/05-29-2020 back\\slash + ünï 数 %20.csv": "05-29-2020.csv",
}


def test_odd_keys_are_read_literally_through_s3a(
    moto_endpoint: str, s3a_jars: list[Path], tmp_path: Path, repo_root: Path
) -> None:
    endpoint = moto_endpoint
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="raw")
    for key, fixture in ODD_KEYS.items():
        s3.put_object(Bucket="raw", Key=f"raw/jhu_daily/{key}", Body=(FIXTURES / fixture).read_bytes())
    env = {key: value for key, value in os.environ.items() if key not in ("PYSPARK_SUBMIT_ARGS", "PYTHONPATH")}
    env |= {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
        "PYTHONPATH": os.pathsep.join([str(repo_root / "src"), str(repo_root)]),
        "PYSPARK_SUBMIT_ARGS": submit_args({**quiet_local_conf(), **s3a_conf(endpoint)}, master="local[1]"),
    }
    command = [
        sys.executable, str(repo_root / "glue_job" / "covid_transform.py"), "--JOB_NAME", "odd-names",
        "--JOB_RUN_ID", "jr_odd", "--source", "jhu_daily", "--input_path", "s3://raw/raw/jhu_daily/",
        "--output_path", str(tmp_path / "out"), "--quarantine_path", str(tmp_path / "quarantine"),
        "--state_path", str(tmp_path / "state"), "--reference_path", str(FIXTURES / "UID_lookup_small.csv"),
    ]  # fmt: skip
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=540, check=False)
    assert result.returncode == 0, result.stderr[-4000:]

    manifest = json.loads((tmp_path / "state" / "runs" / "jr_odd.json").read_text())
    assert (manifest["status"], manifest["files_processed"], manifest["quarantined_files"]) == (
        "succeeded",
        len(ODD_KEYS),
        {},
    )
    rows = {key: len((FIXTURES / fixture).read_text().strip().splitlines()) - 1 for key, fixture in ODD_KEYS.items()}
    assert manifest["rows_in"] == sum(rows.values())
    # Each key was read once, as itself: a glob would have read a decoy twice (or failed on "[1]").
    ledger = json.loads((tmp_path / "state" / "ledger.json").read_text())
    assert {key: entry["rows"] for key, entry in ledger["files"].items()} == rows
