"""`terraform apply` of terraform/ + terraform/local/ against the emulator's HTTPS endpoint, per environment: every
resource created with no error, then a second `terraform plan -detailed-exitcode` with nothing to change.

One emulator (TLS, as the local cloud runs it) for the module; each environment is applied once and shared by its
tests (resource names carry the environment, so they coexist). The environments the session's tests ask for are
applied side by side: an apply is mostly the provider's waits (below), so four one after the other took 79-88 s
each, most of it with the cores idle. All four run with the slow drills: `make test` has
the `test` environment applied once by tests/provisioned_cloud.py, which every local cloud of the session starts from,
and checks the applied resources in tests/infra and tests/integration/test_local_cloud.py.
The timings are printed and recorded as test properties.

The floor of an apply is the AWS provider's own fixed waits, which it makes against AWS too, whatever the answers:
6 x 5 s per SQS queue (ContinuousTargetOccurence 6, MinTimeout 5 s), about 55 s per S3 lifecycle configuration,
about 13 s for a KMS key (three propagation checks of 5 x 1 s). After about 14 s of planning, the chain KMS key ->
raw-events DLQ -> raw-events queue -> the bucket notification makes about 63 s of them: dev applies in about 77 s.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from covid_pipeline.artifacts import build
from covid_pipeline.errors import UserError
from covid_pipeline.local.emulator import Emulator, emulator_env
from covid_pipeline.terraform_cli import TerraformUnavailable, Workspace, local_workspace

pytestmark = [pytest.mark.timeout(1800)]

REGION = "us-east-1"
ENVIRONMENTS = [
    pytest.param("dev", id="dev", marks=pytest.mark.slow),
    pytest.param("test", id="test", marks=pytest.mark.slow),
    pytest.param("staging", id="staging", marks=pytest.mark.slow),
    pytest.param("prod", id="prod", marks=pytest.mark.slow),
]


@dataclass
class Applied:
    environment: str
    workspace: Workspace
    returncode: int
    output: str
    apply_seconds: float
    planned: int
    added: int


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    running = Emulator(REGION, tls_dir=tmp_path_factory.mktemp("tls"))
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def artifacts_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    try:
        return build(tmp_path_factory.mktemp("build")).build_dir
    except UserError as exc:
        pytest.skip(f"the Lambda and Glue artifacts cannot be built here: {exc}")


def _report(request: pytest.FixtureRequest, line: str) -> None:
    """Printed even with output captured: the timings are what this test is for."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line(line)


@pytest.fixture(scope="module")
def apply(
    emulator: Emulator, artifacts_dir: Path, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Callable[[str], Applied]:
    """Apply each environment once, then hand out the same result: the first test that asks applies every
    environment this session's tests of the module ask for, side by side, each in its own Terraform process."""
    wanted = {
        callspec.params["environment"]
        for item in request.session.items
        if getattr(item, "module", None) is request.module
        and (callspec := getattr(item, "callspec", None)) is not None
        and "environment" in callspec.params
    }
    applied: dict[str, Applied] = {}

    def run(environment: str) -> Applied:
        if environment not in applied:
            batch = sorted({environment, *wanted} - applied.keys())
            with ThreadPoolExecutor(max_workers=len(batch)) as pool:
                for done in pool.map(apply_one, batch):
                    applied[done.environment] = done
                    seconds = f"{done.apply_seconds:.1f} s"
                    _report(request, f"terraform apply {done.environment}: {done.added} resources in {seconds}")
            if len(batch) > 1:
                _report(request, f"(the applies of {', '.join(batch)} ran side by side)")
        return applied[environment]

    def apply_one(environment: str) -> Applied:
        state_dir = tmp_path_factory.mktemp(f"state-{environment}")
        workspace = local_workspace(
            environment,
            state_dir,
            emulator.endpoint_url,
            artifacts_dir,
            variables={
                "local_ca_bundle": str(emulator.ca_bundle),
                "local_warehouse_url": f"duckdb:///{state_dir / 'warehouse.duckdb'}",
                # One emulator is one account: its one Glue catalog encryption setting belongs to dev alone.
                "manage_glue_catalog_encryption": "true" if environment == "dev" else "false",
            },
            env=emulator_env(emulator.endpoint_url, REGION),
        )
        try:
            workspace.init()
        except TerraformUnavailable as exc:
            pytest.skip(str(exc))
        started = time.monotonic()
        result = workspace.run(
            "apply", "-input=false", "-no-color", "-auto-approve", *workspace.var_args(), check=False
        )
        seconds = time.monotonic() - started
        output = (result.stdout or "") + (result.stderr or "")
        planned = re.search(r"Plan: (\d+) to add", output)
        added = re.search(r"Apply complete! Resources: (\d+) added", output)
        return Applied(
            environment=environment,
            workspace=workspace,
            returncode=result.returncode,
            output=output,
            apply_seconds=seconds,
            planned=int(planned.group(1)) if planned else -1,
            added=int(added.group(1)) if added else -1,
        )

    return run


def _errors(output: str) -> str:
    lines = output.splitlines()
    found = [index for index, line in enumerate(lines) if re.match(r"(│ )?Error:", line)]
    return "\n".join(lines[found[0] :][:40]) if found else output[-3000:]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_apply_creates_every_resource_without_an_error(
    apply: Callable[[str], Applied], environment: str, record_property: Callable[[str, Any], None]
) -> None:
    result = apply(environment)
    record_property(f"apply_seconds_{environment}", round(result.apply_seconds, 1))
    assert result.returncode == 0, _errors(result.output)
    assert not re.search(r"^(│ )?Error:", result.output, re.MULTILINE), _errors(result.output)
    assert result.added == result.planned > 0


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_a_second_plan_has_nothing_to_change(
    apply: Callable[[str], Applied],
    environment: str,
    request: pytest.FixtureRequest,
    record_property: Callable[[str, Any], None],
) -> None:
    result = apply(environment)
    if result.returncode != 0:
        pytest.fail(f"the apply failed:\n{_errors(result.output)}")
    workspace = result.workspace
    started = time.monotonic()
    plan = workspace.run("plan", "-input=false", "-no-color", "-detailed-exitcode", *workspace.var_args(), check=False)
    seconds = time.monotonic() - started
    record_property(f"plan_seconds_{environment}", round(seconds, 1))
    _report(request, f"terraform plan {environment}: exit {plan.returncode} in {seconds:.1f} s")
    changes = "\n".join(
        line for line in (plan.stdout or "").splitlines() if line.lstrip().startswith(("#", "~", "+", "-"))
    )
    assert plan.returncode == 0, changes[:4000] or _errors((plan.stdout or "") + (plan.stderr or ""))
