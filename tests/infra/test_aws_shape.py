"""terraform/ alone, as AWS gets it, planned with the real provider against an emulator; and wrong tfvars values.

The plans in `planned_stacks` are of the local cloud's working copy (terraform/ plus terraform/local/), which
always triggers the warehouse loader and adds an inbox queue for the alerts. Here terraform/ is copied with only a
local backend added (the S3 backend is configured at init), and the provider finds the emulator through the
standard AWS_ENDPOINT_URL and AWS_CA_BUNDLE variables, so the configuration is planned exactly as written: dev
(Redshift off) and prod (Redshift on), the two shapes AWS gets.

A wrong value in a var file must fail in its variable's validation or a precondition, with its message, before
anything is created: `terraform apply` of such a file leaves the emulator and the state empty.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from covid_pipeline import artifacts
from covid_pipeline.config import CONFIG_DIR, load_config
from covid_pipeline.local.emulator import Emulator, emulator_env
from covid_pipeline.local.provision import LocalInfrastructure, local_warehouse_url
from covid_pipeline.terraform_cli import TERRAFORM_DIR, Workspace
from tests.infra.expected import function_address
from tests.infra.terraform_json import of_type, plan_resources, planned

REGION = "us-east-1"
# Redshift off and on: the two shapes of the configuration.
AWS_SHAPES = ("dev", "prod")


@dataclass
class Cloud:
    emulator: Emulator
    endpoint: str
    env: dict[str, str]
    build_dir: Path
    root: Path

    def buckets(self) -> list[str]:
        s3 = boto3.client("s3", endpoint_url=self.endpoint, verify=self.env["AWS_CA_BUNDLE"], region_name=REGION)
        return [bucket["Name"] for bucket in s3.list_buckets()["Buckets"]]


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    root = tmp_path_factory.mktemp("aws-shape")
    build_dir = artifacts.build(root / "build").build_dir
    emulator = Emulator(REGION, tls_dir=root / "tls")
    endpoint = emulator.start()
    try:
        assert emulator.ca_bundle is not None
        yield Cloud(emulator, endpoint, emulator_env(endpoint, REGION, emulator.ca_bundle), build_dir, root)
    finally:
        emulator.stop()


@pytest.fixture(scope="module")
def aws_workspace(cloud: Cloud) -> Workspace:
    """A copy of terraform/ (not terraform/local/) with a local backend, initialised once."""
    workdir = cloud.root / "terraform"
    shutil.copytree(TERRAFORM_DIR, workdir, ignore=shutil.ignore_patterns(".terraform", "local", "*.tfstate*"))
    (workdir / "backend_override.tf").write_text('terraform {\n  backend "local" {}\n}\n')
    workspace = Workspace(
        workdir=workdir,
        environment="dev",
        backend_config=[f"path={cloud.root / 'aws.tfstate'}"],
        variables={"artifacts_dir": str(cloud.build_dir)},
        env=cloud.env,
    )
    workspace.init()
    return workspace


@pytest.fixture(scope="module")
def aws_plans(aws_workspace: Workspace) -> dict[str, dict[str, Any]]:
    """dev and prod planned side by side (two Terraform processes; the state is empty, so no lock is needed)."""

    def plan(environment: str) -> dict[str, Any]:
        started = time.monotonic()
        workspace = dataclasses.replace(aws_workspace, environment=environment)
        plan_file = workspace.workdir / f"{environment}.tfplan"
        assert workspace.plan(plan_file, "-lock=false") is True
        document = workspace.show_json(plan_file)
        print(f"terraform/ alone, {environment}: planned in {time.monotonic() - started:.1f} s")
        return document

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(AWS_SHAPES, pool.map(plan, AWS_SHAPES), strict=True))


def managed(plan: dict[str, Any]) -> set[str]:
    return {address for address, resource in plan_resources(plan).items() if resource["mode"] == "managed"}


@pytest.mark.parametrize("environment", AWS_SHAPES)
def test_terraform_alone_plans_against_the_provider_defaults(aws_plans: dict[str, Any], environment: str) -> None:
    plan = aws_plans[environment]
    assert (plan["errored"], plan["complete"]) == (False, True)
    provider = plan["configuration"]["provider_config"]["aws"]
    assert set(provider["expressions"]) == {"region", "default_tags"}, "no endpoint of terraform/ points elsewhere"
    # 102 (dev) in the local cloud, less the alerts inbox (queue, its subscription) and the loader's trigger and
    # permission (prod has them anyway: enable_redshift).
    assert len(managed(plan)) == {"dev": 106, "prod": 132}[environment]


def test_the_loader_is_triggered_only_with_redshift(aws_plans: dict[str, Any]) -> None:
    loader = {
        "aws_cloudwatch_event_target.warehouse_loader[0]",
        "aws_lambda_permission.warehouse_loader_from_events[0]",
    }
    assert not loader & managed(aws_plans["dev"])
    assert loader <= managed(aws_plans["prod"])
    target = planned(aws_plans["prod"], "aws_cloudwatch_event_target.warehouse_loader[0]")
    assert target["rule"] == "covid-pipeline-prod-glue-job-succeeded"
    # Without a warehouse the loader has nowhere to load (and is never invoked).
    (environment,) = planned(aws_plans["dev"], function_address("warehouse-loader"))["environment"]
    assert environment["variables"]["WAREHOUSE_URL"] == ""
    # The monitor is a target in both.
    for plan in aws_plans.values():
        assert "aws_cloudwatch_event_target.data_quality_monitor" in managed(plan)


@pytest.mark.parametrize("environment", AWS_SHAPES)
def test_alerts_go_by_email_and_every_queue_is_the_pipelines(aws_plans: dict[str, Any], environment: str) -> None:
    plan = aws_plans[environment]
    subscriptions = of_type(plan, "aws_sns_topic_subscription")
    assert {address: (s["protocol"], s["endpoint"]) for address, s in subscriptions.items()} == {
        "aws_sns_topic_subscription.alerts_email": ("email", "data-alerts@example.com")
    }
    queues = {values["name"] for values in of_type(plan, "aws_sqs_queue").values()}
    name = f"covid-pipeline-{environment}"
    assert queues == {f"{name}-raw-events", f"{name}-raw-events-dlq", f"{name}-lambda-async-dlq"}
    assert of_type(plan, "aws_sqs_queue_policy") == {}  # each queue's policy is its own argument (sqs.tf)


# --- wrong values ----------------------------------------------------------------------------------------------------


def write_var_file(path: Path, environment: str, replacements: dict[str, str]) -> Path:
    """config/<environment>.tfvars with some lines' values replaced, as a user would edit it."""
    lines = (CONFIG_DIR / f"{environment}.tfvars").read_text().splitlines()
    for name, value in replacements.items():
        matching = [i for i, line in enumerate(lines) if line.split("=")[0].strip() == name]
        assert len(matching) == 1, name
        lines[matching[0]] = f"{name} = {value}"
    path.write_text("\n".join(lines) + "\n")
    return path


def apply_fails(workspace: Workspace, cloud: Cloud, *variables: str) -> str:
    """`terraform apply -auto-approve` with these variable arguments; returns Terraform's output, asserting it failed
    and that nothing exists afterwards, in the emulator or in the state."""
    started = time.monotonic()
    result = workspace.run("apply", "-input=false", "-no-color", "-auto-approve", *variables, check=False)
    output = (result.stdout or "") + (result.stderr or "")
    print(f"refused in {time.monotonic() - started:.1f} s")
    assert result.returncode == 1, output
    assert "Apply complete" not in output and "Creating..." not in output
    assert cloud.buckets() == []
    state = Path(workspace.backend_config[0].removeprefix("path="))
    assert not state.is_file() or json.loads(state.read_text())["resources"] == []
    return " ".join(output.split())  # Terraform wraps its messages: compare them as one line


def test_a_worker_type_glue_does_not_have_fails_its_validation(
    aws_workspace: Workspace, cloud: Cloud, tmp_path: Path
) -> None:
    var_file = write_var_file(tmp_path / "g9x.tfvars", "dev", {"glue_worker_type": '"G.9X"'})
    output = apply_fails(aws_workspace, cloud, f"-var-file={var_file}", f"-var=artifacts_dir={cloud.build_dir}")
    assert "Error: Invalid value for variable" in output
    assert "glue_worker_type must be one of G.1X, G.2X, G.4X, G.8X." in output


def test_a_batch_above_ten_without_a_window_fails_the_mappings_precondition(
    aws_workspace: Workspace, cloud: Cloud, tmp_path: Path
) -> None:
    replacements = {"sqs_batch_size": "100", "sqs_batching_window_seconds": "0"}
    var_file = write_var_file(tmp_path / "batch.tfvars", "dev", replacements)
    output = apply_fails(aws_workspace, cloud, f"-var-file={var_file}", f"-var=artifacts_dir={cloud.build_dir}")
    assert "Error: Resource precondition failed" in output
    assert "sqs_batch_size above 10 needs sqs_batching_window_seconds of at least 1" in output


@pytest.fixture(scope="module")
def local_workspace(cloud: Cloud, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """The local cloud's own working copy (terraform/ plus terraform/local/), as `local up` and deploy.sh use it."""
    state_dir = tmp_path_factory.mktemp("local") / "dev"
    state_dir.mkdir()
    assert cloud.emulator.ca_bundle is not None
    infrastructure = LocalInfrastructure(
        load_config("dev"),
        state_dir,
        cloud.endpoint,
        cloud.emulator.ca_bundle,
        local_warehouse_url(state_dir),
        lambda service: None,
        cloud.build_dir,
    )
    workspace = infrastructure.workspace()
    workspace.init()
    return workspace


def test_a_local_endpoint_that_is_not_https_loopback_fails_its_validation(
    local_workspace: Workspace, cloud: Cloud, tmp_path: Path
) -> None:
    var_file = tmp_path / "endpoint.tfvars"
    var_file.write_text(f'local_endpoint = "http://127.0.0.1:{cloud.emulator.port}"\n')  # the emulator, unencrypted
    # The environment's var file, then this one: the later value wins, as with any override file.
    output = apply_fails(local_workspace, cloud, *local_workspace.var_args(), f"-var-file={var_file}")
    assert "Error: Invalid value for variable" in output
    assert "local_endpoint must be the loopback HTTPS URL the local cloud prints (https://127.0.0.1:PORT)." in output
