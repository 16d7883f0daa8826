"""Fixtures for tests against the local cloud (moto over HTTP on a free port, real job processes, real Spark).

- ``s3a_jars``: the checksummed S3A jars (fetched once; `make test` fetches them too).
- ``local_cloud``: a started LocalCloud for env "test" (Lambda runtime on), one per test module, with a
  temporary state dir. Starting takes a few seconds, and moto's state is per process, so a module that
  needs different options starts its own (``LocalCloud(config, state_dir, **options).start()``, a
  module-scoped fixture, stopped at the end) instead of using this one: never both at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from covid_pipeline.config import PipelineConfig, load_config
from covid_pipeline.local.cloud import LocalCloud


@pytest.fixture(scope="session")
def test_config() -> PipelineConfig:
    return load_config("test")


@pytest.fixture(scope="session")
def s3a_jars() -> list[Path]:
    from covid_pipeline.spark_env import fetch_jars

    return fetch_jars()


@pytest.fixture(scope="module")
def local_cloud(
    test_config: PipelineConfig, s3a_jars: list[Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalCloud]:
    cloud = LocalCloud(test_config, state_dir=tmp_path_factory.mktemp("local-cloud"), run_lambdas=True).start()
    try:
        yield cloud
    finally:
        cloud.stop()
