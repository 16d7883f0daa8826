"""Fixtures of the Terraform checks: the plans of every environment (``planned_stacks``, tests/conftest.py) and the
applied state of the `test` environment, for what a plan only knows after apply (ARNs, key ids, rendered policies).

The applied state is the integration suite's golden state (one `terraform apply` of `test` into the local cloud).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

# The integration suite's session fixtures: `terraform apply` of `test` into the local cloud, once.
from tests.infra.expected import ENVIRONMENTS
from tests.integration.conftest import golden_state, local_root  # noqa: F401


@pytest.fixture(scope="session")
def applied_state(golden_state: Path) -> dict[str, Any]:  # noqa: F811
    """The `test` environment's terraform.tfstate right after `terraform apply`."""
    return dict(json.loads((golden_state / "terraform.tfstate").read_text()))


@pytest.fixture(params=ENVIRONMENTS)
def environment(request: pytest.FixtureRequest) -> str:
    """Each environment in turn (dev, staging, prod, test)."""
    return str(request.param)


@pytest.fixture
def plan(planned_stacks: dict[str, dict[str, Any]], environment: str) -> dict[str, Any]:
    """`terraform show -json` of the environment's plan."""
    return planned_stacks[environment]
