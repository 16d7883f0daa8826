"""config/*.tfvars is the single source of names; these pin how names are derived."""

from __future__ import annotations

import pytest

from covid_pipeline.config import ENVIRONMENTS, SOURCES, ConfigError, load_config


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_environment_loads_and_names_carry_its_prefix(environment: str) -> None:
    config = load_config(environment)
    names = config.names
    assert names.prefix == f"covid-pipeline-{environment}"
    buckets = [names.raw_bucket, names.processed_bucket, names.quarantine_bucket, names.scripts_bucket]
    assert len(set(buckets)) == len(buckets)
    assert all(bucket.startswith(names.prefix) for bucket in buckets)
    assert names.glue_database == f"covid_pipeline_{environment}"


def test_dev_names_are_exactly_these() -> None:
    names = load_config("dev").names
    assert names.raw_bucket == "covid-pipeline-dev-raw"
    assert names.raw_events_dlq == "covid-pipeline-dev-raw-events-dlq"
    assert names.glue_job == "covid-pipeline-dev-covid-transform"
    assert names.glue_tables == {"jhu_daily": "covid_jhu_daily", "owid": "covid_owid"}
    assert names.lambda_log_groups["s3-event-handler"] == "/aws/lambda/covid-pipeline-dev-s3-event-handler"


def test_job_arguments_point_each_source_at_its_own_prefixes() -> None:
    config = load_config("dev")
    for source in SOURCES:
        args = config.job_arguments(source)
        assert args["--source"] == source
        assert args["--input_path"] == f"s3://covid-pipeline-dev-raw/raw/{source}/"
        assert args["--output_path"] == f"s3://covid-pipeline-dev-processed/{source}/"
        assert args["--state_path"] == f"s3://covid-pipeline-dev-processed/_state/{source}/"
        assert args["--catalog_table"] == f"covid_{source}"


def test_prod_differs_from_dev_where_it_should() -> None:
    dev, prod = load_config("dev"), load_config("prod")
    assert prod["enable_redshift"] is True and dev["enable_redshift"] is False
    assert prod["glue_number_of_workers"] > dev["glue_number_of_workers"]
    assert prod["log_retention_days"] > dev["log_retention_days"]
    assert prod["deletion_protection"] is True


def test_unknown_environment_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="unknown environment 'nope'"):
        load_config("nope")


def test_the_modules_glue_installs_for_the_job_are_the_versions_we_test_with() -> None:
    from pathlib import Path

    from covid_pipeline.config import JOB_PYTHON_MODULES

    pins = {
        line.split("==")[0].strip().lower().replace("-", "_"): line.split("==")[1].strip()
        for line in (Path(__file__).parents[2] / "requirements.txt").read_text().splitlines()
        if "==" in line and not line.lstrip().startswith("#")
    }
    for spec in JOB_PYTHON_MODULES.split(","):
        name, version = spec.split("==")
        assert pins[name.lower().replace("-", "_")] == version, f"{spec} differs from requirements.txt"
    assert load_config("dev").job_arguments()["--additional-python-modules"] == JOB_PYTHON_MODULES
