"""What each environment must get, written by hand from config/<env>.tfvars and the defaults in
terraform/variables.tf. The tests compare Terraform's plans and applied state with these values, never with values
computed from the configuration under test."""

from __future__ import annotations

from dataclasses import dataclass

ENVIRONMENTS = ("dev", "staging", "prod", "test")
# The account moto answers as: ARNs in plans and states made against the emulator carry it.
ACCOUNT = "123456789012"
REGION = "us-east-1"


@dataclass(frozen=True)
class Expected:
    noncurrent_version_days: int
    quarantine_expiration_days: int
    log_retention_days: int
    kms_deletion_window_days: int
    glue_worker_type: str
    glue_workers: int
    glue_timeout_minutes: int
    glue_max_retries: int
    lambda_timeout_seconds: int
    reserved_concurrency: int
    visibility_timeout_seconds: int
    batch_size: int
    batching_window_seconds: int
    redshift: bool
    deletion_protection: bool
    monthly_budget_usd: str
    cloudtrail_retention_days: int
    warehouse_loader_timeout_seconds: int
    max_input_mib: tuple[int, int] = (512, 4096)  # compressed, uncompressed


EXPECTED = {
    "dev": Expected(7, 30, 14, 7, "G.1X", 2, 60, 0, 30, 2, 180, 100, 2, False, False, "50", 30, 120),
    "staging": Expected(30, 90, 30, 14, "G.1X", 5, 60, 0, 30, 2, 180, 100, 5, False, False, "150", 90, 600),
    "prod": Expected(90, 365, 365, 30, "G.2X", 10, 60, 1, 30, 5, 180, 100, 5, True, True, "2500", 730, 900),
    "test": Expected(7, 30, 7, 7, "G.1X", 2, 10, 0, 5, 2, 10, 10, 2, False, False, "50", 7, 60, (64, 256)),
}

SUPPORTED_SUFFIXES = [".csv", ".csv.gz", ".json", ".jsonl", ".parquet"]


def prefix(environment: str) -> str:
    return f"covid-pipeline-{environment}"


def function_address(short: str) -> str:
    """One of the four functions (lambda.tf writes them as one for_each block keyed by short name)."""
    return f'aws_lambda_function.pipeline["{short}"]'


def function_references(short: str) -> list[str]:
    """What an argument naming that function's ARN refers to, as Terraform parses the configuration."""
    address = function_address(short)
    return [f"{address}.arn", address, "aws_lambda_function.pipeline"]
