"""checkov (its own virtualenv, offline) over terraform/ with each environment's var file: zero failed checks.

checkov pins its own boto3 and replaces the hcl2 package, so it lives in .venv-checkov (`make setup` creates it).
A scan costs about 10 s of CPU, most of it checkov's own start-up, and checkov cannot scan several var files in
one process (a terraform.tfvars beside a copy is not read). `make test` therefore scans dev and prod, in parallel:
they are the two shapes of the configuration (Redshift off / on, deletion protection off / on); staging and test
differ from dev only in sizes and retention, and their scans plus the scanner control run with the slow tests.
"""

from __future__ import annotations

import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from covid_pipeline.config import CONFIG_DIR, ENVIRONMENTS, REPO_ROOT

CHECKOV = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"
SCAN_TIMEOUT_SECONDS = 300


def run_checkov(directory: Path, var_file: Path | None = None) -> list[dict[str, Any]]:
    if not CHECKOV.exists():
        pytest.skip(f"{CHECKOV.relative_to(REPO_ROOT)} not found: run `make setup` (it creates .venv-checkov)")
    command = [str(CHECKOV), "-d", str(directory), "--skip-download", "--framework", "terraform", "-o", "json"]
    command += ["--quiet", "--compact"]
    if var_file is not None:
        command += ["--var-file", str(var_file)]
    environment = {**os.environ, "CHECKPOINT_DISABLE": "1", "LOG_LEVEL": "ERROR"}
    completed = subprocess.run(
        command, cwd=REPO_ROOT, env=environment, capture_output=True, text=True, timeout=SCAN_TIMEOUT_SECONDS
    )
    # Exit code 1 means "failed checks" and is asserted on below; anything else is a crash.
    assert completed.returncode in (0, 1), f"checkov crashed ({completed.returncode}):\n{completed.stderr[-3000:]}"
    report = json.loads(completed.stdout)
    return report if isinstance(report, list) else [report]


FAST_ENVIRONMENTS = ("dev", "prod")


@pytest.fixture(scope="session")
def checkov_reports() -> dict[str, list[dict[str, Any]]]:
    """dev and prod scanned side by side (one process each; the machine has two cores)."""
    if not CHECKOV.exists():
        pytest.skip(f"{CHECKOV.relative_to(REPO_ROOT)} not found: run `make setup` (it creates .venv-checkov)")
    with ThreadPoolExecutor(max_workers=len(FAST_ENVIRONMENTS)) as pool:
        futures = {
            env: pool.submit(run_checkov, REPO_ROOT / "terraform", CONFIG_DIR / f"{env}.tfvars")
            for env in FAST_ENVIRONMENTS
        }
        return {env: future.result() for env, future in futures.items()}


def failed_checks(reports: list[dict[str, Any]]) -> list[str]:
    return [
        f"{check['check_id']} {check['resource']} ({check['file_path']}:{check['file_line_range']}): "
        f"{check['check_name']}"
        for report in reports
        for check in report.get("results", {}).get("failed_checks", [])
    ]


def assert_clean(reports: list[dict[str, Any]]) -> None:
    assert not failed_checks(reports), "\n".join(failed_checks(reports))
    summary = reports[0]["summary"]
    assert summary["parsing_errors"] == 0
    # The scan really covered the configuration (every module, every resource) and honoured the inline skips.
    assert summary["resource_count"] > 100
    assert summary["passed"] > 300
    assert summary["skipped"] > 0


@pytest.mark.parametrize("environment", FAST_ENVIRONMENTS)
def test_checkov_finds_no_failed_check(checkov_reports: dict[str, list[dict[str, Any]]], environment: str) -> None:
    assert_clean(checkov_reports[environment])


def test_prod_scan_covers_the_redshift_resources(checkov_reports: dict[str, list[dict[str, Any]]]) -> None:
    dev, prod = (checkov_reports[env][0]["summary"]["resource_count"] for env in ("dev", "prod"))
    assert prod > dev, "prod (enable_redshift = true) must scan more resources than dev"


@pytest.mark.slow
@pytest.mark.parametrize("environment", [env for env in ENVIRONMENTS if env not in FAST_ENVIRONMENTS])
def test_checkov_finds_no_failed_check_in_the_other_environments(environment: str) -> None:
    assert_clean(run_checkov(REPO_ROOT / "terraform", CONFIG_DIR / f"{environment}.tfvars"))


@pytest.mark.slow
def test_checkov_does_fail_an_insecure_bucket(tmp_path: Path) -> None:
    """Control: the offline scanner is not vacuous; a plain bucket fails the checks terraform/ passes."""
    (tmp_path / "main.tf").write_text('resource "aws_s3_bucket" "plain" {\n  bucket = "plain-bucket"\n}\n')
    failed = failed_checks(run_checkov(tmp_path))
    failed_ids = {line.split()[0] for line in failed}
    assert {"CKV_AWS_18", "CKV_AWS_21", "CKV_AWS_145", "CKV2_AWS_6"} <= failed_ids, failed
