"""Fixtures shared by every test folder: paths, the real data folder and one SparkSession."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("COVID_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
# Tests never talk to real AWS: dummy credentials unless a fixture sets an endpoint.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, or a skip that says why."""
    if not (SHARED_DATA / "jhu_csse" / "daily_reports").is_dir():
        pytest.skip(f"real data folder not found at {SHARED_DATA} (set COVID_SHARED_DATA or run beside ../shared)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    """One local[2] SparkSession for the whole run (it takes seconds to start)."""
    from pyspark.sql import SparkSession

    from covid_pipeline.spark_env import quiet_local_conf

    builder = SparkSession.builder.master("local[2]").appName("covid-pipeline-tests")
    for key, value in quiet_local_conf().items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
