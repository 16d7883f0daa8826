"""The local Glue executor through the public Glue API (boto3 -> Glue front -> executor), with real job processes.

One local cloud for the module (no Lambda runtime: these tests start runs themselves). One "minute" of a
job Timeout lasts 2 s here, so a TIMEOUT is quick to see.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from covid_pipeline.config import PipelineConfig
from covid_pipeline.local.cloud import LocalCloud

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "glue"
MINUTE_SECONDS = 2.0


@pytest.fixture(scope="module")
def cloud(test_config: PipelineConfig, cloud_state_dir: Callable[[], Path]) -> Iterator[LocalCloud]:
    cloud = LocalCloud(test_config, cloud_state_dir(), run_lambdas=False, timeout_minute_seconds=MINUTE_SECONDS).start()
    try:
        yield cloud
    finally:
        cloud.stop()


@pytest.fixture(scope="module")
def marker_script(cloud: LocalCloud, test_config: PipelineConfig) -> dict[str, str]:
    """The marker job script and a --extra-py-files zip holding the module it imports, in the scripts bucket."""
    bucket = test_config.names.scripts_bucket
    s3 = cloud.client("s3")
    s3.put_object(Bucket=bucket, Key="tests/marker_job.py", Body=(FIXTURES / "marker_job.py").read_bytes())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("marker_lib.py", "NAME = 'marker-lib-from-zip'\n")
    s3.put_object(Bucket=bucket, Key="tests/marker_lib.zip", Body=buffer.getvalue())
    return {
        "script": f"s3://{bucket}/tests/marker_job.py",
        "extra_py_files": f"s3://{bucket}/tests/marker_lib.zip",
        "marker_path": f"s3://{test_config.names.processed_bucket}/markers/",
    }


def create_job(cloud: LocalCloud, name: str, script: str, arguments: dict[str, str], **settings: Any) -> str:
    glue = cloud.client("glue")
    glue.create_job(
        Name=name,
        Role="arn:aws:iam::123456789012:role/test-glue",
        Command={"Name": "glueetl", "ScriptLocation": script, "PythonVersion": "3"},
        DefaultArguments=arguments,
        ExecutionProperty={"MaxConcurrentRuns": settings.pop("max_concurrent_runs", 1)},
        GlueVersion="5.0",
        WorkerType="G.1X",
        NumberOfWorkers=2,
        **{"Timeout": 5, "MaxRetries": 0, **settings},
    )
    return name


@pytest.fixture(scope="module")
def marker_job(cloud: LocalCloud, marker_script: dict[str, str]) -> str:
    arguments = {
        "--extra-py-files": marker_script["extra_py_files"],
        "--marker_path": marker_script["marker_path"],
        "--greeting": "from-default",
        "--enable-continuous-cloudwatch-log": "true",
        "--continuous-log-logGroup": "/aws-glue/jobs/test-marker",
    }
    return create_job(cloud, "test-marker", marker_script["script"], arguments)


def wait_final(cloud: LocalCloud, job: str, run_id: str, timeout: float = 120) -> tuple[dict[str, Any], list[str]]:
    """Poll GetJobRun like a caller would; return the final run and every state seen on the way."""
    glue = cloud.client("glue")
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = glue.get_job_run(JobName=job, RunId=run_id)["JobRun"]
        if not seen or seen[-1] != run["JobRunState"]:
            seen.append(run["JobRunState"])
        if run["JobRunState"] not in ("STARTING", "RUNNING", "STOPPING", "WAITING"):
            return run, seen
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} still {seen[-1]} after {timeout} s")


def test_run_executes_the_script_and_reports_success(cloud: LocalCloud, marker_job: str, test_config) -> None:
    glue = cloud.client("glue")
    run_id = glue.start_job_run(JobName=marker_job, Arguments={"--greeting": "from-run", "--sleep_seconds": "1.5"})[
        "JobRunId"
    ]

    run, seen = wait_final(cloud, marker_job, run_id)

    assert seen[0] in ("STARTING", "RUNNING") and "RUNNING" in seen and seen[-1] == "SUCCEEDED"
    assert run["Id"] == run_id and run_id.startswith("jr_") and len(run_id) == 67
    assert run["JobName"] == marker_job and run["Attempt"] == 0
    assert run["Arguments"] == {"--greeting": "from-run", "--sleep_seconds": "1.5"}
    assert run["Timeout"] == 5 and run["WorkerType"] == "G.1X" and run["NumberOfWorkers"] == 2
    assert run["MaxCapacity"] == 2.0 and run["GlueVersion"] == "5.0"
    assert run["StartedOn"] <= run["CompletedOn"] and run["ExecutionTime"] >= 1
    assert "ErrorMessage" not in run

    body = cloud.client("s3").get_object(Bucket=test_config.names.processed_bucket, Key=f"markers/{run_id}.json")
    marker = json.loads(body["Body"].read())
    argv = marker["argv"]
    pairs = dict(zip(argv[::2], argv[1::2], strict=True))
    assert argv[:6] == ["--JOB_ID", pairs["--JOB_ID"], "--JOB_RUN_ID", run_id, "--JOB_NAME", marker_job]
    assert pairs["--greeting"] == "from-run"  # the run's Arguments win over DefaultArguments
    assert pairs["--marker_path"] == f"s3://{test_config.names.processed_bucket}/markers/"
    assert marker["lib"] == "marker-lib-from-zip"  # --extra-py-files zip on the PYTHONPATH


def test_output_goes_to_cloudwatch_logs(cloud: LocalCloud, marker_job: str) -> None:
    run_id = cloud.client("glue").start_job_run(JobName=marker_job)["JobRunId"]
    wait_final(cloud, marker_job, run_id)
    logs = cloud.client("logs")

    def messages(group: str) -> list[str]:
        return [event["message"] for event in logs.get_log_events(logGroupName=group, logStreamName=run_id)["events"]]

    assert f"marker job {marker_job} run {run_id} starting" in messages("/aws-glue/jobs/output")
    assert "a line on stderr" in messages("/aws-glue/jobs/error")
    continuous = messages("/aws-glue/jobs/test-marker")
    assert f"marker job {marker_job} run {run_id} starting" in continuous and "a line on stderr" in continuous


def test_failing_script_is_failed_with_its_exception_and_emits_an_event(cloud: LocalCloud, marker_job: str) -> None:
    events: list[dict[str, Any]] = []
    assert cloud.executor is not None
    cloud.executor.on_run_finished.append(events.append)
    try:
        run_id = cloud.client("glue").start_job_run(
            JobName=marker_job, Arguments={"--fail_message": "bad input: 0 rows in s3://x/y.csv"}
        )["JobRunId"]
        run, _ = wait_final(cloud, marker_job, run_id)
        assert cloud.wait_for_runs(30)
    finally:
        cloud.executor.on_run_finished.remove(events.append)

    assert run["JobRunState"] == "FAILED"
    assert run["ErrorMessage"] == "ValueError: bad input: 0 rows in s3://x/y.csv"
    (event,) = [event for event in events if event["detail"]["jobRunId"] == run_id]
    assert event["source"] == "aws.glue" and event["detail-type"] == "Glue Job State Change"
    assert event["detail"] == {
        "jobName": marker_job,
        "severity": "ERROR",
        "state": "FAILED",
        "jobRunId": run_id,
        "message": "ValueError: bad input: 0 rows in s3://x/y.csv",
    }


def test_a_run_over_its_timeout_is_killed_and_reported_timeout(cloud: LocalCloud, marker_script) -> None:
    job = create_job(
        cloud,
        "test-timeout",
        marker_script["script"],
        {"--extra-py-files": marker_script["extra_py_files"], "--marker_path": marker_script["marker_path"]},
        Timeout=1,  # one "minute" = MINUTE_SECONDS here
    )
    run_id = cloud.client("glue").start_job_run(JobName=job, Arguments={"--sleep_seconds": "60"})["JobRunId"]

    run, _ = wait_final(cloud, job, run_id, timeout=60)

    assert run["JobRunState"] == "TIMEOUT"
    assert run["ErrorMessage"] == "Job run timed out: it ran longer than its Timeout of 1 minute"
    assert run["ExecutionTime"] < 30  # killed, not waited for


def test_max_concurrent_runs_and_batch_stop(cloud: LocalCloud, marker_job: str) -> None:
    glue = cloud.client("glue")
    first = glue.start_job_run(JobName=marker_job, Arguments={"--sleep_seconds": "60"})["JobRunId"]

    with pytest.raises(ClientError) as refused:
        glue.start_job_run(JobName=marker_job)
    assert refused.value.response["Error"]["Code"] == "ConcurrentRunsExceededException"

    stopped = glue.batch_stop_job_run(JobName=marker_job, JobRunIds=[first, "jr_unknown"])
    assert stopped["SuccessfulSubmissions"] == [{"JobName": marker_job, "JobRunId": first}]
    assert [error["ErrorDetail"]["ErrorCode"] for error in stopped["Errors"]] == ["EntityNotFoundException"]
    run, _ = wait_final(cloud, marker_job, first, timeout=60)
    assert run["JobRunState"] == "STOPPED"
    assert run["ExecutionTime"] < 30


def test_a_queued_run_waits_for_a_free_slot(cloud: LocalCloud, marker_job: str) -> None:
    glue = cloud.client("glue")
    first = glue.start_job_run(JobName=marker_job, Arguments={"--sleep_seconds": "3"})["JobRunId"]
    queued = glue.start_job_run(JobName=marker_job, JobRunQueuingEnabled=True)["JobRunId"]

    waiting = glue.get_job_run(JobName=marker_job, RunId=queued)["JobRun"]
    assert waiting["JobRunState"] == "WAITING" and waiting["JobRunQueuingEnabled"] is True

    first_run, _ = wait_final(cloud, marker_job, first)
    queued_run, _ = wait_final(cloud, marker_job, queued)
    assert (first_run["JobRunState"], queued_run["JobRunState"]) == ("SUCCEEDED", "SUCCEEDED")
    assert "StateDetail" not in queued_run
    assert queued_run["CompletedOn"] > first_run["CompletedOn"]


def test_the_main_endpoint_serves_the_same_runs_as_the_glue_endpoint(cloud: LocalCloud, marker_job: str) -> None:
    """A client that only knows AWS_ENDPOINT_URL (the AWS CLI's --endpoint-url) sees executed runs too."""
    import boto3

    plain = boto3.client("glue", endpoint_url=cloud.endpoint_url, region_name=cloud.config.region)
    run_id = plain.start_job_run(JobName=marker_job)["JobRunId"]
    run, _ = wait_final(cloud, marker_job, run_id)  # polled through the Glue endpoint
    assert run["JobRunState"] == "SUCCEEDED"
    assert plain.get_job_run(JobName=marker_job, RunId=run_id)["JobRun"] == run
    assert plain.get_job(JobName=marker_job)["Job"]["Name"] == marker_job  # the rest is still moto


def test_unknown_job_or_run_is_entity_not_found(cloud: LocalCloud, marker_job: str) -> None:
    glue = cloud.client("glue")
    for call in (
        lambda: glue.get_job_run(JobName=marker_job, RunId="jr_" + "0" * 64),
        lambda: glue.start_job_run(JobName="no-such-job"),
        lambda: glue.get_job_runs(JobName="no-such-job"),
    ):
        with pytest.raises(ClientError) as error:
            call()
        assert error.value.response["Error"]["Code"] == "EntityNotFoundException"
        assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_get_job_runs_pages_newest_first(cloud: LocalCloud, marker_job: str) -> None:
    glue = cloud.client("glue")
    all_runs = glue.get_job_runs(JobName=marker_job)["JobRuns"]
    assert len(all_runs) >= 3
    assert [run["StartedOn"] for run in all_runs] == sorted((run["StartedOn"] for run in all_runs), reverse=True)
    first_page = glue.get_job_runs(JobName=marker_job, MaxResults=1)
    second_page = glue.get_job_runs(JobName=marker_job, MaxResults=1, NextToken=first_page["NextToken"])
    assert [first_page["JobRuns"][0]["Id"], second_page["JobRuns"][0]["Id"]] == [run["Id"] for run in all_runs[:2]]
    paged = [
        run["Id"] for page in glue.get_paginator("get_job_runs").paginate(JobName=marker_job) for run in page["JobRuns"]
    ]
    assert paged == [run["Id"] for run in all_runs]


def test_failed_run_is_retried_max_retries_times(cloud: LocalCloud, marker_script) -> None:
    job = create_job(
        cloud,
        "test-retry",
        marker_script["script"],
        {
            "--extra-py-files": marker_script["extra_py_files"],
            "--marker_path": marker_script["marker_path"],
            "--fail_message": "always fails",
        },
        MaxRetries=1,
    )
    first = cloud.client("glue").start_job_run(JobName=job)["JobRunId"]
    wait_final(cloud, job, first)
    assert cloud.wait_for_runs(120)

    runs = {run["Id"]: run for run in cloud.client("glue").get_job_runs(JobName=job)["JobRuns"]}
    retry_id = f"{first}_attempt_1"
    assert set(runs) == {first, retry_id}
    assert runs[retry_id]["Attempt"] == 1 and runs[retry_id]["PreviousRunId"] == first
    assert [runs[first]["JobRunState"], runs[retry_id]["JobRunState"]] == ["FAILED", "FAILED"]


def test_missing_script_fails_the_run_with_a_clear_message(cloud: LocalCloud, test_config) -> None:
    location = f"s3://{test_config.names.scripts_bucket}/tests/does_not_exist.py"
    job = create_job(cloud, "test-missing-script", location, {})
    run_id = cloud.client("glue").start_job_run(JobName=job)["JobRunId"]
    run, _ = wait_final(cloud, job, run_id)
    assert run["JobRunState"] == "FAILED"
    assert run["ErrorMessage"].startswith("Failed to download the job's files:")
    assert "404" in run["ErrorMessage"] or "Not Found" in run["ErrorMessage"]


@pytest.mark.spark
def test_spark_job_reads_and_writes_s3_through_s3a(cloud: LocalCloud, test_config, s3a_jars) -> None:
    names = test_config.names
    s3 = cloud.client("s3")
    s3.put_object(
        Bucket=names.scripts_bucket, Key="tests/spark_job.py", Body=(FIXTURES / "spark_parquet_job.py").read_bytes()
    )
    # Outside the raw prefix on purpose: no S3 event, only this test's run.
    s3.put_object(
        Bucket=names.processed_bucket,
        Key="tests/input/cases.csv",
        Body=b"year,country,cases\n2020,Aland,1\n2020,Bhutan,2\n2021,Aland,5\n",
    )
    job = create_job(
        cloud,
        "test-spark",
        f"s3://{names.scripts_bucket}/tests/spark_job.py",
        {
            "--input_path": f"s3://{names.processed_bucket}/tests/input/cases.csv",
            "--output_path": f"s3://{names.processed_bucket}/tests/output/",
        },
        Timeout=300,  # "minutes" of MINUTE_SECONDS: 10 real minutes
    )
    run_id = cloud.client("glue").start_job_run(JobName=job)["JobRunId"]

    run, _ = wait_final(cloud, job, run_id, timeout=480)

    assert run["JobRunState"] == "SUCCEEDED", run.get("ErrorMessage")
    keys = [
        item["Key"] for item in s3.list_objects_v2(Bucket=names.processed_bucket, Prefix="tests/output/")["Contents"]
    ]
    parquet = sorted(key for key in keys if key.endswith(".parquet"))
    assert [key.split("/")[2] for key in parquet] == ["year=2020", "year=2021"]
    assert "tests/output/_SUCCESS" in keys
    assert not [key for key in keys if "_temporary" in key]

    import pyarrow.parquet as pq

    rows = []
    for key in parquet:
        table = pq.read_table(io.BytesIO(s3.get_object(Bucket=names.processed_bucket, Key=key)["Body"].read()))
        year = int(key.split("/")[2].removeprefix("year="))
        rows += [(year, row["country"], row["cases"]) for row in table.to_pylist()]
    assert sorted(rows) == [(2020, "Aland", 1), (2020, "Bhutan", 2), (2021, "Aland", 5)]
    output = cloud.client("logs").get_log_events(logGroupName="/aws-glue/jobs/output", logStreamName=run_id)
    assert "rows written: 3" in [event["message"] for event in output["events"]]
