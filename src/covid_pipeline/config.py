"""Environment settings and resource names.

config/<env>.tfvars is the single source of truth: Terraform reads it as its
var file and this module reads it with python-hcl2, then derives every
resource name exactly the way terraform/locals.tf does (a parity test keeps
the two in step).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = Path(os.environ.get("COVID_PIPELINE_CONFIG_DIR", REPO_ROOT / "config"))
ENVIRONMENTS = ("dev", "staging", "prod", "test")
# Sources the job understands; each gets its own raw prefix, output prefix and catalog table.
SOURCES = ("jhu_daily", "owid")
METRICS_NAMESPACE = "CovidPipeline"
# What Glue pip-installs for the job at start (it does not ship Great Expectations); pinned as requirements.txt.
JOB_PYTHON_MODULES = "great_expectations==1.24.1"
LAMBDA_FUNCTIONS = ("s3-event-handler", "data-quality-monitor", "warehouse-loader")


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


@dataclass(frozen=True)
class ResourceNames:
    """Every AWS resource name of one environment (mirrors terraform/locals.tf)."""

    prefix: str
    raw_bucket: str
    processed_bucket: str
    quarantine_bucket: str
    scripts_bucket: str
    access_logs_bucket: str
    raw_events_queue: str
    raw_events_dlq: str
    alerts_topic: str
    kms_alias: str
    glue_database: str
    glue_job: str
    glue_log_group: str
    lambda_functions: dict[str, str]
    lambda_log_groups: dict[str, str]
    glue_tables: dict[str, str]
    alarms: dict[str, str]


@dataclass(frozen=True)
class PipelineConfig:
    environment: str
    values: dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        try:
            return self.values[key]
        except KeyError:
            raise ConfigError(f"config/{self.environment}.tfvars has no '{key}'") from None

    @property
    def region(self) -> str:
        return str(self["aws_region"])

    @cached_property
    def names(self) -> ResourceNames:
        project, env = self["project_name"], self["environment"]
        prefix = f"{project}-{env}"
        functions = {short: f"{prefix}-{short}" for short in LAMBDA_FUNCTIONS}
        return ResourceNames(
            prefix=prefix,
            raw_bucket=f"{prefix}-raw",
            processed_bucket=f"{prefix}-processed",
            quarantine_bucket=f"{prefix}-quarantine",
            scripts_bucket=f"{prefix}-scripts",
            access_logs_bucket=f"{prefix}-access-logs",
            raw_events_queue=f"{prefix}-raw-events",
            raw_events_dlq=f"{prefix}-raw-events-dlq",
            alerts_topic=f"{prefix}-alerts",
            kms_alias=f"alias/{prefix}",
            glue_database=f"{project}_{env}".replace("-", "_"),
            glue_job=f"{prefix}-{self['glue_job_name']}",
            glue_log_group=f"/aws-glue/jobs/{prefix}-{self['glue_job_name']}",
            lambda_functions=functions,
            lambda_log_groups={short: f"/aws/lambda/{name}" for short, name in functions.items()},
            glue_tables={source: f"{self['glue_table_prefix']}{source}" for source in SOURCES},
            alarms={
                kind: f"{prefix}-{kind}"
                for kind in (
                    "glue-job-failures",
                    "dq-score-low",
                    "dlq-not-empty",
                    "lambda-errors",
                    "lambda-throttles",
                    "job-duration",
                )
            },
        )

    # S3 locations the job and the handlers use; derived, never configured twice.
    def raw_path(self, source: str) -> str:
        return f"s3://{self.names.raw_bucket}/{self['raw_prefix']}{source}/"

    def output_path(self, source: str) -> str:
        return f"s3://{self.names.processed_bucket}/{source}/"

    def quarantine_path(self, source: str) -> str:
        return f"s3://{self.names.quarantine_bucket}/{self['quarantine_prefix']}{source}/"

    def state_path(self, source: str) -> str:
        return f"s3://{self.names.processed_bucket}/{self['state_prefix']}{source}/"

    @property
    def reference_path(self) -> str:
        return f"s3://{self.names.scripts_bucket}/reference/UID_ISO_FIPS_LookUp_Table.csv"

    @property
    def script_location(self) -> str:
        return f"s3://{self.names.scripts_bucket}/glue/covid_transform.py"

    @property
    def extra_py_files(self) -> str:
        return f"s3://{self.names.scripts_bucket}/glue/glue_job_libs.zip"

    def job_arguments(self, source: str = "jhu_daily") -> dict[str, str]:
        """The job's DefaultArguments (Terraform's glue.tf sets the same)."""
        return {
            "--job-language": "python",
            "--extra-py-files": self.extra_py_files,
            "--additional-python-modules": JOB_PYTHON_MODULES,
            "--enable-metrics": "true",
            "--enable-continuous-cloudwatch-log": "true",
            "--continuous-log-logGroup": self.names.glue_log_group,
            "--source": source,
            "--input_path": self.raw_path(source),
            "--output_path": self.output_path(source),
            "--quarantine_path": self.quarantine_path(source),
            "--state_path": self.state_path(source),
            "--reference_path": self.reference_path,
            "--catalog_database": self.names.glue_database,
            "--catalog_table": self.names.glue_tables[source],
            "--metrics_namespace": METRICS_NAMESPACE,
            "--full_refresh": "false",
        }


def load_config(environment: str | None = None) -> PipelineConfig:
    env = environment or os.environ.get("COVID_PIPELINE_ENV", "dev")
    path = CONFIG_DIR / f"{env}.tfvars"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in CONFIG_DIR.glob("*.tfvars")))
        raise ConfigError(f"unknown environment '{env}' (known: {known})")
    values = read_tfvars(path)
    if values.get("environment") != env:
        raise ConfigError(f"{path.name} declares environment={values.get('environment')!r}, expected {env!r}")
    return PipelineConfig(environment=env, values=values)
