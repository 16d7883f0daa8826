"""Fixtures of the Terraform checks: the plans of every environment (``planned_stacks``, tests/conftest.py) and the
applied state of the `test` environment, for what a plan only knows after apply (ARNs, key ids, rendered policies).

The applied state is the session's provisioned `test` cloud (one `terraform apply` into the local cloud, made in the
background while the unit tests run: tests/conftest.py ``provisioned_test_cloud``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.infra.expected import ENVIRONMENTS


@pytest.fixture(scope="session")
def applied_state(provisioned_test_cloud: Path) -> dict[str, Any]:
    """The `test` environment's terraform.tfstate right after `terraform apply`."""
    return dict(json.loads((provisioned_test_cloud / "terraform.tfstate").read_text()))


@pytest.fixture(params=ENVIRONMENTS)
def environment(request: pytest.FixtureRequest) -> str:
    """Each environment in turn (dev, staging, prod, test)."""
    return str(request.param)


@pytest.fixture
def plan(planned_stacks: dict[str, dict[str, Any]], environment: str) -> dict[str, Any]:
    """`terraform show -json` of the environment's plan."""
    return planned_stacks[environment]
