"""Fixtures for tests against the local cloud (the emulator over HTTPS on a free port, real job processes, Spark).

The local cloud of environment `test` is provisioned by `terraform apply` once per session, in the background while
the unit tests run (tests/conftest.py: ``provisioned_test_cloud``), and kept as the baseline of
``<session root>/test``. Every module that needs a cloud starts from a copy of it at that same path, so no test
pays for an apply and none sees another's data:

- ``cloud_state_dir``: a function that resets ``<session root>/test`` to the provisioned baseline and returns it;
  pass it as ``state_dir`` to ``LocalCloud`` (moto's state is per process: one cloud at a time).
- ``local_cloud``: a started LocalCloud for env "test" (Lambda runtime on), one per test module.
- ``test_config``: the `test` environment's configuration, names included (from the provisioned Terraform state).
- ``s3a_jars``: the checksummed S3A jars (fetched once; `make test` fetches them too).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from covid_pipeline.config import PipelineConfig, load_config
from covid_pipeline.local.cloud import LocalCloud
from covid_pipeline.local.provision import start_from_baseline

ENV = "test"


@pytest.fixture(scope="session")
def s3a_jars() -> list[Path]:
    from covid_pipeline.spark_env import fetch_jars

    return fetch_jars()


@pytest.fixture(scope="session")
def cloud_state_dir(local_root: Path, provisioned_test_cloud: Path) -> Callable[[], Path]:
    def fresh() -> Path:
        state_dir = local_root / ENV
        shutil.rmtree(state_dir, ignore_errors=True)
        assert start_from_baseline(state_dir), f"no provisioned baseline in {provisioned_test_cloud}"
        return state_dir

    return fresh


@pytest.fixture(scope="session")
def test_config(cloud_state_dir: Callable[[], Path]) -> PipelineConfig:
    cloud_state_dir()  # the names come from the provisioned Terraform state
    return load_config(ENV)


@pytest.fixture(scope="module")
def local_cloud(
    test_config: PipelineConfig, s3a_jars: list[Path], cloud_state_dir: Callable[[], Path]
) -> Iterator[LocalCloud]:
    cloud = LocalCloud(test_config, state_dir=cloud_state_dir(), run_lambdas=True).start()
    try:
        yield cloud
    finally:
        cloud.stop()
