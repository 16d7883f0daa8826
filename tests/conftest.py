"""Fixtures shared by every test folder: paths, the real data folder and one SparkSession."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


@pytest.fixture(scope="session")
def planned_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What covid_pipeline.local.offline_plan writes for every environment, once per session: ``<env>.json``
    (`terraform show -json` of the plan, made with the real AWS provider against a throwaway emulator, in its own
    process: moto's state is per process) and ``validate.txt`` (what `terraform validate` said)."""
    from covid_pipeline.config import ENVIRONMENTS

    out_dir = tmp_path_factory.mktemp("plans")
    result = subprocess.run(
        [sys.executable, "-m", "covid_pipeline.local.offline_plan", str(out_dir), *ENVIRONMENTS],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert result.returncode == 0, f"planning failed:\n{result.stdout}\n{result.stderr}"
    return out_dir


@pytest.fixture(scope="session")
def planned_stacks(planned_dir: Path) -> dict[str, dict[str, Any]]:
    """`terraform show -json` of each environment's plan (see ``planned_dir``)."""
    from covid_pipeline.config import ENVIRONMENTS

    return {env: json.loads((planned_dir / f"{env}.json").read_text()) for env in ENVIRONMENTS}


def planned_outputs(plan: dict[str, Any]) -> dict[str, Any]:
    """The output values a plan knows (the `pipeline` map has no value that waits for apply)."""
    return {name: entry.get("value") for name, entry in plan["planned_values"]["outputs"].items()}


def planned_resource(plan: dict[str, Any], address: str) -> dict[str, Any]:
    """A planned resource's arguments (``values``), by address, e.g. ``aws_lambda_function.s3_event_handler``."""
    for module in _modules(plan["planned_values"]["root_module"]):
        for resource in module.get("resources", []):
            if resource["address"] == address:
                return dict(resource["values"])
    raise KeyError(f"{address} is not in the plan")


def planned_resources(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        resource
        for module in _modules(plan["planned_values"]["root_module"])
        for resource in module.get("resources", [])
    ]


def _modules(module: dict[str, Any]) -> list[dict[str, Any]]:
    return [module, *(child for sub in module.get("child_modules", []) for child in _modules(sub))]


@pytest.fixture(scope="session")
def planned_test_config(planned_stacks: dict[str, dict[str, Any]]) -> Any:
    """The `test` environment's configuration with the names its Terraform plan gives (no cloud needed)."""
    from covid_pipeline.config import load_config

    return load_config("test", outputs=planned_outputs(planned_stacks["test"]))
