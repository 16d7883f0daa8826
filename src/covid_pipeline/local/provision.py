"""The local cloud's infrastructure is Terraform's: ``terraform apply`` of terraform/ plus terraform/local/ against the
emulator, with config/<env>.tfvars, exactly as scripts/deploy.sh applies it to AWS.

The working copy lives in ``<state_dir>/terraform/`` and the state in ``<state_dir>/terraform.tfstate``, beside the
emulator's own saved state, so `scripts/deploy.sh ENV plan --local-endpoint URL` sees the same state. The
local-only inputs (the CA bundle of the endpoint's certificate, the DuckDB warehouse) are written to
``local.auto.tfvars.json`` in the working copy, which Terraform reads by itself.

A restart does not re-apply: when the inputs (Terraform files, tfvars, artifacts) are those of the last successful
apply and every resource the state lists is still in the (restored) emulator, nothing needs doing, and a
`terraform plan` would say "No changes". Otherwise the apply runs; it also finishes an apply that was killed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from covid_pipeline import artifacts
from covid_pipeline.config import CONFIG_DIR, PipelineConfig, outputs_of_state
from covid_pipeline.local.state_folder import ENDPOINT_FILE, LOCK_FILE
from covid_pipeline.terraform_cli import TERRAFORM_DIR, Workspace, local_workspace

log = logging.getLogger(__name__)

ClientFactory = Callable[[str], Any]
APPLIED_FILE = "terraform.applied.json"
AUTO_TFVARS = "local.auto.tfvars.json"
_APPLY_SUMMARY = re.compile(r"Resources: (\d+) added, (\d+) changed, (\d+) destroyed")


@dataclass
class ProvisionReport:
    """What provisioning did: whether Terraform applied, how long it took, and the outputs."""

    applied: bool
    reason: str
    seconds: float
    added: int = 0
    changed: int = 0
    destroyed: int = 0
    outputs: dict[str, Any] = field(default_factory=dict)


def _digest_files(paths: dict[str, Path]) -> str:
    """One digest of named files (absent ones count as absent)."""
    digest = hashlib.sha256()
    for name, path in sorted(paths.items()):
        digest.update(name.encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest() if path.is_file() else b"-")
    return digest.hexdigest()


class LocalInfrastructure:
    """Applies the environment's Terraform to the running emulator (see the module docstring)."""

    def __init__(
        self,
        config: PipelineConfig,
        state_dir: Path,
        endpoint_url: str,
        ca_bundle: Path,
        warehouse_url: str,
        client: ClientFactory,
        build_dir: Path = artifacts.DEFAULT_BUILD_DIR,
    ) -> None:
        self.config = config
        self.state_dir = state_dir
        self.endpoint_url = endpoint_url
        self.ca_bundle = ca_bundle
        self.warehouse_url = warehouse_url
        self.client = client
        self.build_dir = build_dir

    @property
    def state_file(self) -> Path:
        return self.state_dir / "terraform.tfstate"

    def workspace(self) -> Workspace:
        env = {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": self.config.region,
            "AWS_CA_BUNDLE": str(self.ca_bundle),
        }
        workspace = local_workspace(self.config.environment, self.state_dir, self.endpoint_url, self.build_dir, env=env)
        inputs = {"local_ca_bundle": str(self.ca_bundle), "local_warehouse_url": self.warehouse_url}
        auto_tfvars = workspace.workdir / AUTO_TFVARS
        text = json.dumps(inputs, indent=1, sort_keys=True) + "\n"
        if not auto_tfvars.is_file() or auto_tfvars.read_text() != text:
            auto_tfvars.write_text(text)
        return workspace

    def fingerprint(self, workspace: Workspace) -> str:
        """The inputs of an apply, but not the endpoint's port (no resource depends on it)."""
        built = artifacts.Artifacts(self.build_dir)
        workdir = workspace.workdir
        files = {
            f"terraform/{path.relative_to(workdir)}": path
            for path in workdir.rglob("*")
            if path.is_file() and ".terraform" not in path.relative_to(workdir).parts
        }
        files.update(
            {
                "tfvars": CONFIG_DIR / f"{self.config.environment}.tfvars",
                "lock": TERRAFORM_DIR / ".terraform.lock.hcl",
                "glue_script": built.glue_script,
                "glue_libs": built.glue_libs,
                "lambda_bundle": built.lambda_bundle,
                "lambda_layer": built.lambda_layer,
                "reference": built.reference,
            }
        )
        return _digest_files(files)

    def outputs(self) -> dict[str, Any]:
        if not self.state_file.is_file():
            return {}
        return outputs_of_state(json.loads(self.state_file.read_text()))

    def ensure(self) -> ProvisionReport:
        """Apply when needed; see the module docstring."""
        started = time.monotonic()
        artifacts.build(self.build_dir, _reference_csv())
        workspace = self.workspace()
        fingerprint = self.fingerprint(workspace)
        reason = self._why_apply(fingerprint)
        if reason is None:
            return ProvisionReport(False, "unchanged", time.monotonic() - started, outputs=self.outputs())
        log.info("terraform apply of %s to the local cloud: %s", self.config.environment, reason)
        (self.state_dir / APPLIED_FILE).unlink(missing_ok=True)
        if not (workspace.workdir / ".terraform" / "terraform.tfstate").is_file():
            workspace.init()
        output = workspace.apply()
        match = _APPLY_SUMMARY.search(output)
        added, changed, destroyed = (int(value) for value in match.groups()) if match else (0, 0, 0)
        report = ProvisionReport(True, reason, time.monotonic() - started, added, changed, destroyed, self.outputs())
        log.info(
            "terraform apply: %d added, %d changed, %d destroyed in %.1f s", added, changed, destroyed, report.seconds
        )
        return report

    def mark_applied(self, report: ProvisionReport) -> None:
        """Record the applied inputs; call once the emulator's state holding the result is saved."""
        workspace_fingerprint = self.fingerprint(self.workspace())
        document = {"fingerprint": workspace_fingerprint, "applied_at": time.time(), "seconds": report.seconds}
        path = self.state_dir / APPLIED_FILE
        path.with_suffix(".tmp").write_text(json.dumps(document, indent=1))
        os.replace(path.with_suffix(".tmp"), path)

    def _why_apply(self, fingerprint: str) -> str | None:
        if not self.state_file.is_file():
            return "first start"
        try:
            applied = json.loads((self.state_dir / APPLIED_FILE).read_text())
        except (OSError, ValueError):
            return "the last apply did not finish"
        if applied.get("fingerprint") != fingerprint:
            return "Terraform files, tfvars or artifacts changed since the last apply"
        missing = self._missing_resources()
        if missing:
            return f"the emulator lacks {missing} (its saved state is older than the Terraform state)"
        return None

    def _missing_resources(self) -> str | None:
        """The first resource of the Terraform state that the emulator does not have, checked by kind."""
        state = json.loads(self.state_file.read_text())
        checks: dict[str, Callable[[dict[str, Any]], Any]] = {
            "aws_s3_bucket": lambda a: self.client("s3").head_bucket(Bucket=a["bucket"]),
            "aws_sqs_queue": lambda a: self.client("sqs").get_queue_url(QueueName=a["name"]),
            "aws_lambda_function": lambda a: self.client("lambda").get_function(FunctionName=a["function_name"]),
            "aws_glue_job": lambda a: self.client("glue").get_job(JobName=a["name"]),
            "aws_kms_key": lambda a: self.client("kms").describe_key(KeyId=a["key_id"]),
            "aws_cloudwatch_event_rule": lambda a: self.client("events").describe_rule(Name=a["name"]),
            "aws_s3_object": lambda a: self.client("s3").head_object(Bucket=a["bucket"], Key=a["key"]),
        }
        for resource in state.get("resources", []):
            check = checks.get(resource.get("type"))
            if resource.get("mode") != "managed" or check is None:
                continue
            for instance in resource.get("instances", []):
                try:
                    check(instance.get("attributes") or {})
                except (ClientError, BotoCoreError, KeyError):
                    return f"{resource['type']}.{resource['name']}"
        return None


def _reference_csv() -> Path | None:
    value = os.environ.get("COVID_REFERENCE_CSV")
    return Path(value) if value else None


def main(argv: list[str] | None = None) -> int:
    """``python -m covid_pipeline.local.provision ENV ENDPOINT``: prepare the local working copy of ENV for that
    endpoint (the same one `local up` uses) and print its folder and state file; scripts/deploy.sh runs Terraform
    there with --local-endpoint."""
    import argparse

    from covid_pipeline.config import load_config, local_root, local_tls_dir
    from covid_pipeline.local.tls import ensure_local_tls

    parser = argparse.ArgumentParser(prog="python -m covid_pipeline.local.provision")
    parser.add_argument("environment")
    parser.add_argument("endpoint_url")
    parser.add_argument("--build-dir", type=Path, default=artifacts.DEFAULT_BUILD_DIR)
    args = parser.parse_args(argv)
    config = load_config(args.environment)
    state_dir = (local_root() / config.environment).resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    ca_bundle = ensure_local_tls(local_tls_dir()).ca_cert
    infrastructure = LocalInfrastructure(
        config, state_dir, args.endpoint_url, ca_bundle, local_warehouse_url(state_dir), _no_client, args.build_dir
    )
    workspace = infrastructure.workspace()
    print(workspace.workdir)
    print(infrastructure.state_file)
    print(ca_bundle)
    return 0


def local_warehouse_url(state_dir: Path) -> str:
    """The local warehouse: an embedded DuckDB file in the state dir (Redshift's stand-in)."""
    return f"duckdb:///{(state_dir / 'warehouse.duckdb').resolve()}"


def _no_client(service: str) -> Any:
    raise RuntimeError(f"no {service} client: preparing a working copy calls no API")


if __name__ == "__main__":
    raise SystemExit(main())


# --- a provisioned baseline ---------------------------------------------------------------------------------------
#
# `terraform apply` of an environment takes minutes even against the emulator: the AWS provider waits a fixed time
# for every SQS queue and queue policy (6 checks 5 s apart) and S3 lifecycle configuration (about 55 s), whatever
# the answers, and those waits are chained. A fresh cloud for the same state folder (the demo's, a test session's)
# therefore starts from a copy of the folder as it was right after an apply: the same emulator state and Terraform
# state, as an image is booted rather than reinstalled. Terraform still converges it on start: if the inputs changed
# since, the start applies the difference.

BASELINE_SUFFIX = ".provisioned"
# The running cloud's own files, and its runtimes' scratch folders.
_NOT_COPIED = (LOCK_FILE, ENDPOINT_FILE, "glue-runs", "lambda")


def baseline_dir(state_dir: Path) -> Path:
    return state_dir.with_name(state_dir.name + BASELINE_SUFFIX)


def save_baseline(state_dir: Path) -> Path:
    """Keep ``state_dir`` as it is now (just provisioned, its state saved) as the baseline of fresh clouds there."""
    import shutil

    target = baseline_dir(state_dir)
    staging = target.with_name(target.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(state_dir, staging, symlinks=True, ignore=shutil.ignore_patterns(*_NOT_COPIED))
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def start_from_baseline(state_dir: Path) -> bool:
    """Fill the empty ``state_dir`` from its baseline when there is one; True if it did."""
    import shutil

    source = baseline_dir(state_dir)
    if not (source / APPLIED_FILE).is_file():
        return False
    if state_dir.exists() and any(state_dir.iterdir()):
        raise ValueError(f"{state_dir} is not empty: a baseline only fills an empty state folder")
    shutil.rmtree(state_dir, ignore_errors=True)
    shutil.copytree(source, state_dir, symlinks=True)
    return True
