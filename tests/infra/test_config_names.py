"""The names and job arguments each environment's configuration gets from Terraform's `pipeline` output, read here
from each environment's real plan (the settings from tfvars and the errors: tests/unit/test_config.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from covid_pipeline.config import ENVIRONMENTS, SOURCES, ConfigError, load_config
from tests.conftest import planned_outputs


def planned_config(planned_stacks: dict[str, dict[str, Any]], environment: str) -> Any:
    return load_config(environment, outputs=planned_outputs(planned_stacks[environment]))


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_environment_plans_names_that_carry_its_prefix(
    planned_stacks: dict[str, dict[str, Any]], environment: str
) -> None:
    names = planned_config(planned_stacks, environment).names
    assert names.prefix == f"covid-pipeline-{environment}"
    buckets = [names.raw_bucket, names.processed_bucket, names.quarantine_bucket, names.scripts_bucket]
    assert len(set(buckets)) == len(buckets)
    assert all(bucket.startswith(names.prefix) for bucket in buckets)
    assert names.glue_database == f"covid_pipeline_{environment}"


def test_dev_names_are_exactly_these(planned_stacks: dict[str, dict[str, Any]]) -> None:
    names = planned_config(planned_stacks, "dev").names
    assert names.raw_bucket == "covid-pipeline-dev-raw"
    assert names.raw_events_dlq == "covid-pipeline-dev-raw-events-dlq"
    assert names.glue_job == "covid-pipeline-dev-covid-transform"
    assert names.glue_tables == {"jhu_daily": "covid_jhu_daily", "owid": "covid_owid"}
    assert names.lambda_log_groups["s3-event-handler"] == "/aws/lambda/covid-pipeline-dev-s3-event-handler"
    assert names.alerts_inbox == "covid-pipeline-dev-alerts-inbox"


def test_job_arguments_point_each_source_at_its_own_prefixes(planned_stacks: dict[str, dict[str, Any]]) -> None:
    config = planned_config(planned_stacks, "dev")
    assert config.sources == SOURCES, "Terraform provisions exactly the sources the job reads"
    for source in SOURCES:
        args = config.job_arguments(source)
        assert args["--source"] == source
        assert args["--input_path"] == f"s3://covid-pipeline-dev-raw/raw/{source}/"
        assert args["--output_path"] == f"s3://covid-pipeline-dev-processed/{source}/"
        assert args["--state_path"] == f"s3://covid-pipeline-dev-processed/_state/{source}/"
        assert args["--catalog_table"] == f"covid_{source}"
        assert args["--catalog_database"] == "covid_pipeline_dev"
    with pytest.raises(ConfigError, match="unknown source 'nope' \\(known: jhu_daily, owid\\)"):
        config.job_arguments("nope")


def test_the_modules_glue_installs_for_the_job_are_the_versions_we_test_with(
    planned_stacks: dict[str, dict[str, Any]],
) -> None:
    pins = {
        line.split("==")[0].strip().lower().replace("-", "_"): line.split("==")[1].strip()
        for line in (Path(__file__).parents[2] / "requirements.txt").read_text().splitlines()
        if "==" in line and not line.lstrip().startswith("#")
    }
    modules = planned_config(planned_stacks, "dev").job_arguments()["--additional-python-modules"]
    for spec in modules.split(","):
        name, version = spec.split("==")
        assert pins[name.lower().replace("-", "_")] == version, f"{spec} differs from requirements.txt"
