"""Pure helpers behind the operations commands: overrides, dates, log lines, tables, schema merge, alert parsing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from covid_pipeline.alerts_inbox import parse_message
from covid_pipeline.catalog_schema import plan_update
from covid_pipeline.commands.plumbing import format_table
from covid_pipeline.errors import UserError
from covid_pipeline.orchestrator import format_log_event, parse_day, parse_overrides


def test_overrides_become_glue_arguments():
    assert parse_overrides(["full_refresh=true", "--input_path=s3://b/k=v/"]) == {
        "--full_refresh": "true",
        "--input_path": "s3://b/k=v/",
    }


@pytest.mark.parametrize("bad", ["novalue", "=x", "--=x"])
def test_bad_override_is_a_user_error(bad):
    with pytest.raises(UserError, match="KEY=VALUE"):
        parse_overrides([bad])


def test_parse_day():
    assert parse_day("2021-03-01") == date(2021, 3, 1)
    with pytest.raises(UserError, match="--start-date expects a date as YYYY-MM-DD, got '03/01/2021'"):
        parse_day("03/01/2021", "--start-date")


def test_structured_log_line_is_shown_as_level_message_and_fields():
    event = {"timestamp": 1_600_000_000_000, "message": json.dumps({"level": "warning", "message": "late", "rows": 3})}
    assert format_log_event(event) == "12:26:40 WARNING late rows=3"


def test_a_functions_log_line_leaves_out_the_lambda_context_on_every_line():
    line = {"level": "INFO", "message": "job run started", "run_id": "jr_1", "cold_start": True}
    line |= {"function_name": "f", "function_memory_size": 256, "function_arn": "arn", "function_request_id": "r"}
    event = {"timestamp": 1_600_000_000_000, "message": json.dumps(line)}
    assert format_log_event(event) == "12:26:40 INFO    job run started run_id=jr_1"


def test_plain_log_line_is_kept():
    assert format_log_event({"timestamp": 0, "message": "hello\n"}) == "00:00:00 hello"


def test_format_table_aligns_and_right_justifies_numbers():
    text = format_table(["name", "rows"], [["a", 5], ["bbb", 1234]], right=(1,))
    assert text.splitlines() == ["name  rows", "----  ----", "a        5", "bbb   1234"]


def test_schema_merge_is_additive():
    existing = [("country", "string"), ("confirmed", "bigint")]
    contract = [("country", "string"), ("confirmed", "int"), ("iso3", "string")]
    merged, added, conflicts = plan_update(existing, contract)
    assert merged == [("country", "string"), ("confirmed", "bigint"), ("iso3", "string")]
    assert added == ["iso3"]
    assert conflicts == ["column confirmed is bigint in the catalog but int in the contract"]


def test_the_schema_contract_loads_from_its_file_alone() -> None:
    """The CLI loads glue_job/schema_evolution.py by path, without the job's folder on sys.path: it must import
    nothing of the job's (a fresh interpreter, as `covid-pipeline schema` runs it)."""
    repo = Path(__file__).resolve().parents[2]
    code = "from covid_pipeline.catalog_schema import contract_columns; print(dict(contract_columns()[1]))"
    env = {**os.environ, "PYTHONPATH": str(repo / "src")}
    done = subprocess.run([sys.executable, "-c", code], cwd=repo, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "{'year': 'int', 'month': 'int'}"


def test_sns_envelope_with_alarm_message():
    body = json.dumps(
        {
            "Type": "Notification",
            "Subject": 'ALARM: "dq"',
            "Timestamp": "2026-01-01T00:00:00Z",
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:alerts",
            "Message": json.dumps({"AlarmName": "dq", "OldStateValue": "OK", "NewStateValue": "ALARM",
                                   "NewStateReason": "low"}),
        }
    )  # fmt: skip
    parsed = parse_message(body)
    assert parsed["subject"] == 'ALARM: "dq"'
    assert parsed["summary"] == "dq: OK -> ALARM: low"


def test_raw_text_message():
    assert parse_message("plain words")["summary"] == "plain words"


def test_a_password_in_the_warehouse_argument_is_warned_about(capsys: pytest.CaptureFixture[str]) -> None:
    from covid_pipeline.commands.warehouse import warn_about_password_in_argv

    warn_about_password_in_argv("postgresql://loader@db/covid")
    warn_about_password_in_argv(None)
    assert capsys.readouterr().err == ""
    warn_about_password_in_argv("postgresql://loader:s3cret@db/covid")
    err = capsys.readouterr().err
    assert "COVID_WAREHOUSE_PASSWORD" in err and "COVID_WAREHOUSE_SECRET_ARN" in err and "s3cret" not in err
