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


class Background:
    """A command started at the beginning of the session, whose result a fixture waits for."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.argv = argv
        self.process = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True
        )

    def wait(self, timeout: float = 1800) -> str:
        stdout, stderr = self.process.communicate(timeout=timeout)
        assert self.process.returncode == 0, f"{' '.join(self.argv[2:4])} failed:\n{stdout[-3000:]}\n{stderr[-5000:]}"
        return stdout

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, 9)
            self.process.wait()


@pytest.fixture(scope="session")
def local_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Where this session's local clouds live; COVID_PIPELINE_LOCAL_DIR points here for the whole run, so the CLI
    (in-process or as a child) finds the clouds and states the tests start, never the developer's own .local/."""
    root = tmp_path_factory.mktemp("local-clouds")
    previous = os.environ.get("COVID_PIPELINE_LOCAL_DIR")
    os.environ["COVID_PIPELINE_LOCAL_DIR"] = str(root)
    try:
        yield root
    finally:
        if previous is None:
            os.environ.pop("COVID_PIPELINE_LOCAL_DIR", None)
        else:
            os.environ["COVID_PIPELINE_LOCAL_DIR"] = previous


@pytest.fixture(scope="session", autouse=True)
def background_terraform(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, local_root: Path
) -> Iterator[dict[str, Background]]:
    """When the session has tests that need them, the plans of every environment and the provisioned `test` cloud
    are made in the background from the start (the unit tests run first, see pyproject's testpaths)."""
    from covid_pipeline.config import ENVIRONMENTS

    needs = {name for item in request.session.items for name in getattr(item, "fixturenames", ())}
    jobs: dict[str, Background] = {}
    if needs & {"planned_stacks", "planned_dir"}:
        plans = tmp_path_factory.mktemp("plans")
        jobs["plans"] = Background(
            [sys.executable, "-m", "covid_pipeline.local.offline_plan", str(plans), *ENVIRONMENTS]
        )
        jobs["plans"].out_dir = plans  # type: ignore[attr-defined]
    if "provisioned_test_cloud" in needs:
        jobs["cloud"] = Background([sys.executable, "-m", "tests.provisioned_cloud", str(local_root)])
    try:
        yield jobs
    finally:
        for job in jobs.values():
            job.stop()


@pytest.fixture(scope="session")
def planned_dir(background_terraform: dict[str, Background]) -> Path:
    """What covid_pipeline.local.offline_plan writes for every environment, once per session: ``<env>.json``
    (`terraform show -json` of the plan, made with the real AWS provider against a throwaway emulator, in its own
    process: moto's state is per process) and ``validate.txt`` (what `terraform validate` said)."""
    job = background_terraform["plans"]
    job.wait()
    out_dir: Path = job.out_dir  # type: ignore[attr-defined]
    return out_dir


@pytest.fixture(scope="session")
def planned_stacks(planned_dir: Path) -> dict[str, dict[str, Any]]:
    """`terraform show -json` of each environment's plan (see ``planned_dir``)."""
    from covid_pipeline.config import ENVIRONMENTS

    return {env: json.loads((planned_dir / f"{env}.json").read_text()) for env in ENVIRONMENTS}


@pytest.fixture(scope="session")
def provisioned_test_cloud(background_terraform: dict[str, Background], local_root: Path) -> Path:
    """The `test` cloud right after `terraform apply`, kept as the baseline of ``<local_root>/test``."""
    background_terraform["cloud"].wait()
    return local_root / "test.provisioned"


def planned_outputs(plan: dict[str, Any]) -> dict[str, Any]:
    """The output values a plan knows (the `pipeline` map has no value that waits for apply)."""
    return {name: entry.get("value") for name, entry in plan["planned_values"]["outputs"].items()}


def planned_resource(plan: dict[str, Any], address: str) -> dict[str, Any]:
    """A planned resource's arguments (``values``), by address, e.g. ``aws_glue_job.transform``."""
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
