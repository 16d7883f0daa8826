"""Settings come from tfvars, names from the Terraform state; the errors say what to do (the names each environment's
plan gives: tests/infra/test_config_names.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from covid_pipeline.config import ConfigError, load_config, load_stack_outputs, outputs_of_state


def test_prod_differs_from_dev_where_it_should() -> None:
    dev, prod = load_config("dev"), load_config("prod")
    assert prod["enable_redshift"] is True and dev["enable_redshift"] is False
    assert prod["glue_number_of_workers"] > dev["glue_number_of_workers"]
    assert prod["log_retention_days"] > dev["log_retention_days"]
    assert prod["deletion_protection"] is True


def test_unknown_environment_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="unknown environment 'nope'"):
        load_config("nope")


def test_names_are_read_from_the_local_clouds_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = {"version": 4, "outputs": {"pipeline": {"value": {"glue_job": "x-job"}, "type": "object"}}}
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / "terraform.tfstate").write_text(json.dumps(state))
    monkeypatch.setenv("COVID_PIPELINE_LOCAL_DIR", str(tmp_path))
    assert load_stack_outputs("dev") == {"pipeline": {"glue_job": "x-job"}}
    assert outputs_of_state(state) == {"pipeline": {"glue_job": "x-job"}}


def test_without_any_state_the_error_says_how_to_get_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COVID_PIPELINE_LOCAL_DIR", str(tmp_path))
    # The AWS backend is asked too: here it is a closed loopback port, so the answer is a quick "no".
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(ConfigError) as raised:
        _ = load_config("dev").names
    assert str(raised.value) == (
        "the names of environment 'dev' come from its Terraform state, and none was found: start the local cloud "
        "(covid-pipeline --env dev local up) or deploy it (scripts/deploy.sh dev apply)"
    )
