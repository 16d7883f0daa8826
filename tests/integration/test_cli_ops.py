"""`covid-pipeline` operations commands against the local cloud (moto over HTTP + the local Glue executor).

One LocalCloud for the module (environment `test`, state in a temp dir). The CLI runs in-process through
`cli.main`, exactly as the console script does, and finds the cloud through AWS_ENDPOINT_URL.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from covid_pipeline.cli import main
from covid_pipeline.common import split_s3_uri
from covid_pipeline.config import load_config

ENV = "test"


@pytest.fixture(scope="module")
def cloud(test_config, cloud_state_dir) -> Iterator[object]:
    from covid_pipeline.local.cloud import LocalCloud

    with LocalCloud(test_config, state_dir=cloud_state_dir(), run_lambdas=False) as running:
        yield running


@pytest.fixture(scope="module")
def config(test_config):
    return test_config


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["--env", ENV, *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> object:
    code, out, err = cli(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


@pytest.fixture(scope="module")
def failed_run(cloud, config) -> str:
    """A run whose script is not deployed: the executor fails it with a download error, as Glue would."""
    s3 = cloud.client("s3")
    bucket, key = split_s3_uri(config.script_location)
    s3.delete_object(Bucket=bucket, Key=key)
    code = main(["--env", ENV, "run", "--source", "jhu_daily", "--poll", "0.2", "--no-follow"])
    assert code == 0
    glue = cloud.client("glue")
    runs = glue.get_job_runs(JobName=config.names.glue_job)["JobRuns"]
    run_id = runs[0]["Id"]
    deadline = time.monotonic() + 120
    while glue.get_job_run(JobName=config.names.glue_job, RunId=run_id)["JobRun"]["JobRunState"] not in {
        "FAILED",
        "SUCCEEDED",
    }:
        assert time.monotonic() < deadline, "the run did not finish"
        time.sleep(0.2)
    return run_id


def write_manifest(cloud, config, run_id: str, manifest: dict) -> None:
    bucket, prefix = split_s3_uri(config.state_path("jhu_daily"))
    cloud.client("s3").put_object(Bucket=bucket, Key=f"{prefix}runs/{run_id}.json", Body=json.dumps(manifest).encode())


# --- run --------------------------------------------------------------------------------------------------------------


def test_run_of_a_failing_job_exits_1_with_the_error_message(cloud, config, capsys, failed_run):
    code, out, err = cli(capsys, "run", "--poll", "0.2")
    assert code == 1
    assert "started" in out and "[FAILED]" in out
    last_line = err.strip().splitlines()[-1]
    assert last_line.startswith("run jr_") and " FAILED: " in last_line
    assert "download" in last_line.lower()  # the executor reports the missing script as a download failure


def test_run_rejects_a_malformed_override(cloud, capsys):
    code, _out, err = cli(capsys, "run", "--arg", "no-equals-sign")
    assert code == 2
    assert err.strip() == "error: --arg expects KEY=VALUE, got 'no-equals-sign'"


# --- status / runs / logs ---------------------------------------------------------------------------------------------


def test_runs_lists_the_failed_run_with_its_state_and_cost(cloud, capsys, failed_run):
    runs = cli_json(capsys, "runs")
    by_id = {run["run_id"]: run for run in runs}
    assert by_id[failed_run]["state"] == "FAILED"
    assert by_id[failed_run]["error_message"]
    assert by_id[failed_run]["manifest"] is None
    code, out, _ = cli(capsys, "runs", "--full-ids")
    assert code == 0 and failed_run in out and "FAILED" in out


def test_runs_join_the_manifest(cloud, config, capsys, failed_run):
    write_manifest(
        cloud,
        config,
        failed_run,
        {"run_id": failed_run, "rows_in": 10, "rows_out": 7, "rows_quarantined": 2, "rows_duplicate": 1,
         "data_quality": {"score": 0.5, "results": [
             {"expectation": "expect_column_values_to_not_be_null", "severity": "critical", "success": False,
              "observed": {"unexpected_count": 2}}]},
         "quarantine_reasons": {"missing_country": 2}},
    )  # fmt: skip
    run = next(r for r in cli_json(capsys, "runs") if r["run_id"] == failed_run)
    assert (run["rows_in"], run["rows_out"], run["rows_quarantined"], run["dq_score"]) == (10, 7, 2, 0.5)


def test_status_shows_the_latest_run_per_source(cloud, config, capsys, failed_run):
    status = cli_json(capsys, "status")
    assert status["job_name"] == config.names.glue_job
    assert status["latest"]["jhu_daily"]["state"] == "FAILED"


def test_logs_of_a_run(cloud, config, capsys, failed_run):
    logs = cloud.client("logs")
    group = config.names.glue_log_group
    now_ms = int(time.time() * 1000)
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_stream(logGroupName=group, logStreamName=failed_run)
    logs.put_log_events(
        logGroupName=group,
        logStreamName=failed_run,
        logEvents=[
            {"timestamp": now_ms, "message": json.dumps({"level": "INFO", "message": "marker line", "rows": 3})}
        ],
    )
    code, out, _ = cli(capsys, "logs", failed_run)
    assert code == 0
    assert any("INFO" in line and "marker line rows=3" in line for line in out.splitlines())
    events = cli_json(capsys, "logs", failed_run)
    assert any("marker line" in event["message"] for event in events)


def test_unknown_run_id_is_a_one_line_error(cloud, capsys):
    code, _out, err = cli(capsys, "logs", "jr_doesnotexist")
    assert code == 2
    assert err.strip().splitlines() == [
        f"error: unknown run id 'jr_doesnotexist' for job {load_config(ENV).names.glue_job}"
    ]


def test_unknown_environment_is_a_one_line_error(capsys):
    code = main(["--env", "nosuchenv", "status"])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "unknown environment 'nosuchenv'" in err


# --- dq ---------------------------------------------------------------------------------------------------------------


def test_dq_of_the_latest_run(cloud, capsys, failed_run):
    results = cli_json(capsys, "dq")
    assert results[0]["score"] == 0.5
    assert results[0]["results"][0]["success"] is False
    code, out, _ = cli(capsys, "dq")
    assert code == 0 and "DQ score 0.500" in out and "FAIL" in out and "missing_country=2" in out


def test_dq_of_a_date(cloud, capsys, failed_run):
    today = datetime.now(UTC).date().isoformat()
    assert [r["run_id"] for r in cli_json(capsys, "dq", "--date", today)] == [failed_run]


@pytest.mark.parametrize(
    ("date", "message"),
    [
        ("2021-13-01", "--date expects a date as YYYY-MM-DD, got '2021-13-01'"),
        ("1999-01-01", "no runs with data quality"),
    ],
)
def test_dq_bad_or_empty_date_is_a_user_error(cloud, capsys, failed_run, date, message):
    code, _, err = cli(capsys, "dq", "--date", date)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1


# --- cost -------------------------------------------------------------------------------------------------------------


def test_cost_per_run_and_day(cloud, config, capsys, failed_run):
    summary = cli_json(capsys, "cost")
    run = next(r for r in summary["runs"] if r["run_id"] == failed_run)
    workers = int(config["glue_number_of_workers"])  # G.1X: 1 DPU each
    assert run["dpus"] == workers
    if run["execution_seconds"]:
        assert run["billed_seconds"] == max(run["execution_seconds"], 60)
        assert run["usd"] == pytest.approx(run["billed_seconds"] / 3600 * workers * 0.44, abs=1e-6)
    assert summary["days"][-1]["day"] == datetime.now(UTC).date().isoformat()
    assert summary["storage"]["total_bytes"] > 0  # the manifest and the job's libs are stored
    assert summary["prices"]["glue_dpu_hour"]["usd"] == 0.44
    future = cli_json(capsys, "cost", "--start-date", "2999-01-01")
    assert future["runs"] == [] and future["total_glue_usd"] == 0


# --- alarms and notifications -----------------------------------------------------------------------------------------


def test_alarms_are_evaluated_against_metrics_and_alert(cloud, config, capsys):
    cloudwatch = cloud.client("cloudwatch")
    cloudwatch.put_metric_data(
        Namespace="CovidPipeline",
        MetricData=[
            {
                "MetricName": "DataQualityScore",
                "Dimensions": [{"Name": "JobName", "Value": config.names.glue_job}],
                "Value": 0.42,
                "Timestamp": datetime.now(UTC),
            }
        ],
    )
    alarms = {a["name"]: a for a in cli_json(capsys, "alarms")}
    dq_alarm = alarms[config.names.alarms["dq-score-low"]]
    assert dq_alarm["state"] == "ALARM"
    assert "0.42" in dq_alarm["reason"]
    assert alarms[config.names.alarms["glue-job-failures"]]["state"] == "OK"  # no failures metric: notBreaching

    messages = cli_json(capsys, "notifications")
    alarm_messages = [m for m in messages if isinstance(m["payload"], dict) and m["payload"].get("AlarmName")]
    assert [m["payload"]["NewStateValue"] for m in alarm_messages] == ["ALARM"]
    assert alarm_messages[0]["subject"].startswith("ALARM:")
    # reading does not consume; --ack does
    assert len(cli_json(capsys, "notifications")) == len(messages)
    code, out, _ = cli(capsys, "notifications", "--ack")
    assert code == 0 and "dq-score-low" in out
    assert cli_json(capsys, "notifications") == []


def test_alarm_state_is_kept_when_nothing_changes(cloud, config, capsys):
    first = {a["name"]: a["state"] for a in cli_json(capsys, "alarms")}
    second = {a["name"]: a["state"] for a in cli_json(capsys, "alarms")}
    assert first == second
    assert cli_json(capsys, "notifications") == []  # no transition, no new alert


# --- schema -----------------------------------------------------------------------------------------------------------


def test_schema_update_is_additive_and_idempotent(cloud, config, capsys):
    from covid_pipeline.catalog_schema import contract_columns

    contract, partition_keys = contract_columns()
    before = cli_json(capsys, "schema", "--table", "jhu_daily")
    change = cli_json(capsys, "schema", "--update", "--table", "jhu_daily")
    after = cli_json(capsys, "schema", "--table", "covid_jhu_daily")
    before_names = [c["name"] for c in before["columns"]]
    after_names = [c["name"] for c in after["columns"]]
    assert after_names[: len(before_names)] == before_names  # nothing dropped or reordered
    assert {name for name, _ in contract} <= set(after_names)
    assert change["added"] == [n for n, _ in contract if n not in before_names]
    assert [k["name"] for k in after["partition_keys"]] == [name for name, _ in partition_keys]
    again = cli_json(capsys, "schema", "--update", "--table", "jhu_daily")
    assert again["added"] == []
    if change["added"]:
        assert len(after["versions"]) == len(before["versions"]) + 1


def test_schema_of_an_unknown_table(cloud, capsys):
    code, _, err = cli(capsys, "schema", "--table", "nope")
    assert code == 2 and "unknown table 'nope'" in err


# --- report -----------------------------------------------------------------------------------------------------------


def test_report_without_a_warehouse_still_renders_runs(cloud, capsys, tmp_path: Path, failed_run):
    out_file = tmp_path / "report.html"
    code, _out, err = cli(capsys, "report", "--out", str(out_file), "--warehouse", f"duckdb:///{tmp_path}/none.duckdb")
    assert code == 0, err
    html = out_file.read_text()
    assert "no warehouse at" in err and "run `covid-pipeline load` first" in html
    assert failed_run[:14] in html and "FAILED" in html


# --- seed scripts (thin wrappers, run as the seed ran them: separate processes) --------------------------------------


def run_script(cloud, repo_root: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **cloud.env}
    return subprocess.run(
        [sys.executable, *argv], cwd=repo_root, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_seed_scripts_forward_to_the_cli(cloud, repo_root: Path, failed_run):
    costs = run_script(
        cloud, repo_root, "scripts/cost_analysis.py", "--start-date", "2999-01-01", "--env", "test", "--json"
    )
    assert costs.returncode == 0, costs.stderr
    assert json.loads(costs.stdout)["start_date"] == "2999-01-01"
    monitor = run_script(cloud, repo_root, "scripts/monitor_jobs.py", "--env=test", "--json")
    assert monitor.returncode == 0, monitor.stderr
    assert failed_run in {run["run_id"] for run in json.loads(monitor.stdout)}
    bad_date = run_script(cloud, repo_root, "scripts/check_data_quality.py", "--date", "2021-02-30", "--env", "test")
    assert bad_date.returncode == 2
    assert bad_date.stderr.strip() == "error: --date expects a date as YYYY-MM-DD, got '2021-02-30'"
    schema = run_script(cloud, repo_root, "scripts/update_schema.py", "--table", "owid", "--env", "test", "--json")
    assert schema.returncode == 0, schema.stderr
    assert json.loads(schema.stdout)["table"] == "covid_owid"


def test_seed_orchestrator_checks_the_job_name_then_runs(cloud, repo_root: Path, config):
    wrong = run_script(cloud, repo_root, "src/pipeline_orchestrator.py", "--job-name", "other-job", "--env", "test")
    assert wrong.returncode == 2 and "unknown job 'other-job'" in wrong.stderr
    started = run_script(
        cloud,
        repo_root,
        "src/pipeline_orchestrator.py",
        "--job-name",
        "covid-transform",
        "--env",
        "test",
        "--poll",
        "0.2",
    )
    assert started.returncode == 1  # the script is still not deployed: the run fails, the wrapper says so
    assert " FAILED: " in started.stderr
