"""Environment settings and resource names.

config/<env>.tfvars holds each environment's inputs (Terraform reads it as its var file; this module reads it with
python-hcl2 for the few settings the CLI itself uses). Every resource name and S3 location is derived once, in
terraform/locals.tf, and handed over in Terraform's ``pipeline`` output: this module reads that output from the
environment's Terraform state, the local cloud's (``.local/<env>/terraform.tfstate``) or, for AWS, the S3 backend
named in config/backend-<env>.hcl. Nothing here derives a name a second time.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = Path(os.environ.get("COVID_PIPELINE_CONFIG_DIR", REPO_ROOT / "config"))
ENVIRONMENTS = ("dev", "staging", "prod", "test")
# The sources the Glue job knows how to read (glue_job/covid_transform.py); Terraform gives each its own raw prefix,
# output prefix and catalog table, and a test checks the two lists agree.
SOURCES = ("jhu_daily", "owid")
STACK_OUTPUT = "pipeline"


class ConfigError(ValueError):
    """A missing or invalid environment configuration."""


def _unquote(value: Any) -> Any:
    # python-hcl2 keeps the quotes around string literals.
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def read_tfvars(path: Path) -> dict[str, Any]:
    import hcl2  # here, not at the top: Lambda bundles import this module for its constants only

    with path.open() as handle:
        raw = hcl2.load(handle)
    return {key: _unquote(value) for key, value in raw.items() if not key.startswith("__")}


def local_root() -> Path:
    """Where the local clouds keep their state: ``<repo>/.local`` or ``$COVID_PIPELINE_LOCAL_DIR``."""
    return Path(os.environ.get("COVID_PIPELINE_LOCAL_DIR", REPO_ROOT / ".local"))


def local_tls_dir() -> Path:
    """The local clouds' certificate authority and endpoint certificate: one for every environment and state folder
    (``<repo>/.local/tls`` or ``$COVID_PIPELINE_TLS_DIR``), so paths to it stay the same across state folders."""
    return Path(os.environ.get("COVID_PIPELINE_TLS_DIR", REPO_ROOT / ".local" / "tls"))


def local_state_file(environment: str) -> Path:
    return local_root() / environment / "terraform.tfstate"


def outputs_of_state(document: dict[str, Any]) -> dict[str, Any]:
    """Every output value of a Terraform state document (format version 4)."""
    outputs = document.get("outputs") or {}
    return {name: entry.get("value") for name, entry in outputs.items() if isinstance(entry, dict)}


def _backend_outputs(environment: str) -> dict[str, Any] | None:
    """The outputs in the environment's S3 backend state, or None when there is no backend or no access."""
    backend = CONFIG_DIR / f"backend-{environment}.hcl"
    if not backend.is_file():
        return None
    settings = read_tfvars(backend)
    try:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError

        s3 = boto3.client("s3", region_name=str(settings.get("region") or "us-east-1"))
        body = s3.get_object(Bucket=str(settings["bucket"]), Key=str(settings["key"]))["Body"].read()
    except (KeyError, ImportError):
        return None
    except (BotoCoreError, ClientError):
        return None
    return outputs_of_state(json.loads(body))


def load_stack_outputs(environment: str) -> dict[str, Any]:
    """The environment's Terraform outputs: the local cloud's state when it has one, else the AWS backend's."""
    path = local_state_file(environment)
    if path.is_file():
        try:
            outputs = outputs_of_state(json.loads(path.read_text()))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read the Terraform state {path}: {exc}") from None
        if STACK_OUTPUT in outputs:
            return outputs
    outputs = _backend_outputs(environment) or {}
    if STACK_OUTPUT not in outputs:
        raise ConfigError(
            f"the names of environment '{environment}' come from its Terraform state, and none was found: "
            f"start the local cloud (covid-pipeline --env {environment} local up) or deploy it "
            f"(scripts/deploy.sh {environment} apply)"
        )
    return outputs


@dataclass(frozen=True)
class ResourceNames:
    """Every AWS resource name of one environment (Terraform's ``pipeline`` output)."""

    prefix: str
    raw_bucket: str
    processed_bucket: str
    quarantine_bucket: str
    scripts_bucket: str
    access_logs_bucket: str
    raw_events_queue: str
    raw_events_dlq: str
    lambda_async_dlq: str
    alerts_topic: str
    kms_alias: str
    glue_database: str
    glue_job: str
    glue_log_group: str
    lambda_functions: dict[str, str]
    lambda_log_groups: dict[str, str]
    glue_tables: dict[str, str]
    alarms: dict[str, str]
    dashboard: str
    metrics_namespace: str
    alerts_inbox: str | None = None

    @classmethod
    def from_output(cls, stack: dict[str, Any], outputs: dict[str, Any] | None = None) -> ResourceNames:
        buckets, queues = stack["buckets"], stack["queues"]
        return cls(
            prefix=stack["name_prefix"],
            raw_bucket=buckets["raw"],
            processed_bucket=buckets["processed"],
            quarantine_bucket=buckets["quarantine"],
            scripts_bucket=buckets["scripts"],
            access_logs_bucket=buckets["access_logs"],
            raw_events_queue=queues["raw_events"],
            raw_events_dlq=queues["raw_events_dlq"],
            lambda_async_dlq=queues["lambda_async_dlq"],
            alerts_topic=stack["alerts_topic"],
            kms_alias=stack["kms_alias"],
            glue_database=stack["glue_database"],
            glue_job=stack["glue_job"],
            glue_log_group=stack["glue_log_group"],
            lambda_functions=dict(stack["lambda_functions"]),
            lambda_log_groups=dict(stack["lambda_log_groups"]),
            glue_tables=dict(stack["glue_tables"]),
            alarms=dict(stack["alarms"]),
            dashboard=stack["dashboard"],
            metrics_namespace=stack["metrics_namespace"],
            alerts_inbox=(outputs or {}).get("local_alerts_inbox"),
        )


@dataclass(frozen=True)
class PipelineConfig:
    """One environment: its tfvars inputs, and (once Terraform has applied or planned it) its outputs."""

    environment: str
    values: dict[str, Any]
    outputs: dict[str, Any] | None = None

    def __getitem__(self, key: str) -> Any:
        try:
            return self.values[key]
        except KeyError:
            raise ConfigError(f"config/{self.environment}.tfvars has no '{key}'") from None

    def with_outputs(self, outputs: dict[str, Any]) -> PipelineConfig:
        return replace(self, outputs=dict(outputs))

    @property
    def region(self) -> str:
        return str(self["aws_region"])

    @cached_property
    def all_outputs(self) -> dict[str, Any]:
        return dict(self.outputs) if self.outputs is not None else load_stack_outputs(self.environment)

    @cached_property
    def stack(self) -> dict[str, Any]:
        """Terraform's ``pipeline`` output for this environment."""
        stack = self.all_outputs.get(STACK_OUTPUT)
        if not isinstance(stack, dict):
            raise ConfigError(f"the Terraform outputs of '{self.environment}' have no '{STACK_OUTPUT}' map")
        return stack

    @cached_property
    def names(self) -> ResourceNames:
        return ResourceNames.from_output(self.stack, self.all_outputs)

    def _source_argument(self, source: str, name: str) -> str:
        try:
            return str(self.stack["source_arguments"][source][name])
        except KeyError:
            known = ", ".join(self.stack.get("source_arguments", {}))
            raise ConfigError(f"unknown source {source!r} (known: {known})") from None

    # S3 locations the job and the handlers use, as Terraform wrote them.
    def raw_path(self, source: str) -> str:
        return self._source_argument(source, "--input_path")

    def output_path(self, source: str) -> str:
        return self._source_argument(source, "--output_path")

    def quarantine_path(self, source: str) -> str:
        return self._source_argument(source, "--quarantine_path")

    def state_path(self, source: str) -> str:
        return self._source_argument(source, "--state_path")

    @property
    def reference_path(self) -> str:
        return str(self.stack["reference_path"])

    @property
    def script_location(self) -> str:
        return str(self.stack["script_location"])

    @property
    def extra_py_files(self) -> str:
        return str(self.stack["extra_py_files"])

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(self.stack["sources"])

    def job_arguments(self, source: str = "jhu_daily") -> dict[str, str]:
        """The arguments of a run for ``source``: the job's DefaultArguments with that source's overrides."""
        self._source_argument(source, "--source")
        return {**self.stack["default_arguments"], **self.stack["source_arguments"][source]}


def load_config(environment: str | None = None, outputs: dict[str, Any] | None = None) -> PipelineConfig:
    env = environment or os.environ.get("COVID_PIPELINE_ENV", "dev")
    path = CONFIG_DIR / f"{env}.tfvars"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in CONFIG_DIR.glob("*.tfvars")))
        raise ConfigError(f"unknown environment '{env}' (known: {known})")
    values = read_tfvars(path)
    if values.get("environment") != env:
        raise ConfigError(f"{path.name} declares environment={values.get('environment')!r}, expected {env!r}")
    return PipelineConfig(environment=env, values=values, outputs=outputs)
