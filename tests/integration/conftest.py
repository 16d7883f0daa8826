"""Fixtures for tests against the local cloud (the emulator over HTTPS on a free port, real job processes, Spark).

The local cloud of environment `test` is provisioned by `terraform apply` once per session, into
``<session root>/test``, and saved (the "golden" state). Every module that needs a cloud starts from a copy of it
at the same path, so no test pays for an apply and none sees another's data:

- ``cloud_state_dir``: a function that resets ``<session root>/test`` to the golden state and returns it; pass it
  as ``state_dir`` to ``LocalCloud`` (moto's state is per process: one cloud at a time).
- ``local_cloud``: a started LocalCloud for env "test" (Lambda runtime on), one per test module.
- ``test_config``: the `test` environment's configuration, names included (from the golden Terraform state).
- ``s3a_jars``: the checksummed S3A jars (fetched once; `make test` fetches them too).

``COVID_PIPELINE_LOCAL_DIR`` points at the session root for the whole run, so the CLI (in-process or as a child)
finds the same clouds and states the tests start, and never the developer's own .local/.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from covid_pipeline.config import PipelineConfig, load_config
from covid_pipeline.local.cloud import LocalCloud

ENV = "test"


@pytest.fixture(scope="session")
def local_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
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


@pytest.fixture(scope="session")
def s3a_jars() -> list[Path]:
    from covid_pipeline.spark_env import fetch_jars

    return fetch_jars()


@pytest.fixture(scope="session")
def golden_state(local_root: Path) -> Path:
    """The `test` cloud right after `terraform apply`, saved (once per session)."""
    state_dir = local_root / ENV
    with LocalCloud(load_config(ENV), state_dir=state_dir, run_lambdas=False, snapshot_interval_seconds=None):
        pass
    golden = local_root / f"{ENV}.golden"
    shutil.copytree(state_dir, golden, symlinks=True)
    return golden


@pytest.fixture(scope="session")
def cloud_state_dir(local_root: Path, golden_state: Path) -> Callable[[], Path]:
    def fresh() -> Path:
        state_dir = local_root / ENV
        shutil.rmtree(state_dir, ignore_errors=True)
        shutil.copytree(golden_state, state_dir, symlinks=True)
        return state_dir

    return fresh


@pytest.fixture(scope="session")
def test_config(golden_state: Path) -> PipelineConfig:
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
