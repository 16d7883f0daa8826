"""The local Glue executor's warm worker: a job process started ahead of the run, then handed the run.

One local cloud with ``keep_warm_worker=True`` for the module; the runs go through the public Glue API as in
test_glue_executor.py, and must behave exactly as cold runs do (arguments, --extra-py-files, logs, failures,
stops), besides starting warm. A process whose run succeeded serves the next run, which must find nothing
the earlier one left behind.
"""

from __future__ import annotations

import io
import json
import os
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from covid_pipeline.config import PipelineConfig
from covid_pipeline.local.cloud import LocalCloud
from covid_pipeline.local.glue_warm_worker import READY_LINE

pytestmark = [pytest.mark.slow, pytest.mark.spark]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "glue"
READY_TIMEOUT = 240.0


@pytest.fixture(scope="module")
def cloud(test_config: PipelineConfig, cloud_state_dir: Any, s3a_jars: Any) -> Iterator[LocalCloud]:
    state_dir = cloud_state_dir()
    with LocalCloud(test_config, state_dir, run_lambdas=False, keep_warm_worker=True) as running:
        yield running


@pytest.fixture(scope="module")
def jobs(cloud: LocalCloud, test_config: PipelineConfig) -> dict[str, str]:
    names = test_config.names
    s3 = cloud.client("s3")
    s3.put_object(
        Bucket=names.scripts_bucket, Key="standby/marker_job.py", Body=(FIXTURES / "marker_job.py").read_bytes()
    )
    s3.put_object(
        Bucket=names.scripts_bucket, Key="standby/spark_job.py", Body=(FIXTURES / "spark_parquet_job.py").read_bytes()
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("marker_lib.py", "NAME = 'marker-lib-from-zip'\n")
    s3.put_object(Bucket=names.scripts_bucket, Key="standby/marker_lib.zip", Body=buffer.getvalue())
    s3.put_object(
        Bucket=names.scripts_bucket, Key="standby/session_job.py", Body=(FIXTURES / "session_job.py").read_bytes()
    )
    put_session_lib(cloud, test_config, "first version")
    s3.put_object(
        Bucket=names.processed_bucket, Key="standby/input/cases.csv", Body=b"year,country,cases\n2020,Aland,1\n"
    )
    glue = cloud.client("glue")
    definitions = {
        "standby-marker": (
            "marker_job.py",
            {
                "--extra-py-files": f"s3://{names.scripts_bucket}/standby/marker_lib.zip",
                "--marker_path": f"s3://{names.processed_bucket}/standby/markers/",
            },
        ),
        "standby-session": (
            "session_job.py",
            {
                "--extra-py-files": f"s3://{names.scripts_bucket}/standby/session_lib.zip",
                "--marker_path": f"s3://{names.processed_bucket}/standby/sessions/",
            },
        ),
        "standby-spark": (
            "spark_job.py",
            {
                "--input_path": f"s3://{names.processed_bucket}/standby/input/cases.csv",
                "--output_path": f"s3://{names.processed_bucket}/standby/output/",
            },
        ),
    }
    for name, (script, arguments) in definitions.items():
        glue.create_job(
            Name=name,
            Role="arn:aws:iam::123456789012:role/test-glue",
            Command={"Name": "glueetl", "ScriptLocation": f"s3://{names.scripts_bucket}/standby/{script}"},
            DefaultArguments=arguments,
            ExecutionProperty={"MaxConcurrentRuns": 1},
            GlueVersion="5.0",
            Timeout=10,
        )
    return {"marker": "standby-marker", "spark": "standby-spark", "session": "standby-session"}


def put_session_lib(cloud: LocalCloud, test_config: PipelineConfig, value: str) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("session_lib.py", f"VALUE = {value!r}\nCOUNTER = 0\n")
    cloud.client("s3").put_object(
        Bucket=test_config.names.scripts_bucket, Key="standby/session_lib.zip", Body=buffer.getvalue()
    )


def wait_final(cloud: LocalCloud, job: str, run_id: str, timeout: float = 300) -> dict[str, Any]:
    glue = cloud.client("glue")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = glue.get_job_run(JobName=job, RunId=run_id)["JobRun"]
        if run["JobRunState"] not in ("STARTING", "RUNNING", "STOPPING", "WAITING"):
            return dict(run)
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} of {job} did not finish within {timeout} s")


def error_log(cloud: LocalCloud, run_id: str) -> list[str]:
    events = cloud.client("logs").get_log_events(logGroupName="/aws-glue/jobs/error", logStreamName=run_id)["events"]
    return [event["message"] for event in events]


def standby_pid(cloud: LocalCloud) -> int:
    assert cloud.executor is not None
    assert cloud.executor.wait_warm_worker_ready(READY_TIMEOUT), "the warm worker never became ready"
    standby = cloud.executor._warm_worker
    assert standby is not None
    return standby.process.pid


def test_a_run_goes_to_the_warm_process_and_a_new_one_replaces_it(
    cloud: LocalCloud, jobs: dict[str, str], test_config: PipelineConfig
) -> None:
    first_pid = standby_pid(cloud)
    glue = cloud.client("glue")
    run_id = glue.start_job_run(JobName=jobs["spark"])["JobRunId"]
    assert cloud.executor is not None
    deadline = time.monotonic() + 60
    while cloud.executor.run_process_id(run_id) is None and time.monotonic() < deadline:
        time.sleep(0.1)
    taken_pid = cloud.executor.run_process_id(run_id)

    run = wait_final(cloud, jobs["spark"], run_id)

    assert run["JobRunState"] == "SUCCEEDED", run.get("ErrorMessage")
    assert taken_pid in (first_pid, None)  # None only if the run ended before we looked
    assert any(line.startswith(READY_LINE) for line in error_log(cloud, run_id))
    s3 = cloud.client("s3")
    keys = [
        o["Key"]
        for o in s3.list_objects_v2(Bucket=test_config.names.processed_bucket, Prefix="standby/output/")["Contents"]
    ]
    assert any(key.endswith(".parquet") and "year=2020" in key for key in keys)
    # The script stopped Spark: the process exited with its run, and the executor warms the next one.
    assert standby_pid(cloud) != first_pid


def test_a_warm_process_serves_the_next_run_with_nothing_left_behind(
    cloud: LocalCloud, jobs: dict[str, str], test_config: PipelineConfig
) -> None:
    pid = standby_pid(cloud)
    glue = cloud.client("glue")
    s3 = cloud.client("s3")

    def session_run() -> dict[str, Any]:
        run_id = glue.start_job_run(JobName=jobs["session"])["JobRunId"]
        run = wait_final(cloud, jobs["session"], run_id)
        assert run["JobRunState"] == "SUCCEEDED", run.get("ErrorMessage")
        key = f"standby/sessions/{run_id}.json"
        found = json.loads(s3.get_object(Bucket=test_config.names.processed_bucket, Key=key)["Body"].read())
        return {"run_id": run_id, **found}

    first = session_run()
    assert standby_pid(cloud) == pid  # the run succeeded: the same process waits for the next one
    put_session_lib(cloud, test_config, "second version")
    second = session_run()

    assert first["pid"] == second["pid"] == pid
    assert first["lib_value"] == "first version"
    # The second run sees its own session, its own copy of the libraries it was given, its own folder.
    assert second == {
        **second,
        "setting": "unset",
        "view": False,
        "cache_empty": True,
        "environment": "unset",
        "lib_value": "second version",
        "lib_counter": 1,
    }
    assert second["run_id"] in second["cwd"] and first["run_id"] in first["cwd"]
    assert second["argv0"].endswith("session_job.py")


def test_argv_extra_py_files_and_output_are_those_of_a_cold_run(
    cloud: LocalCloud, jobs: dict[str, str], test_config: PipelineConfig
) -> None:
    standby_pid(cloud)
    glue = cloud.client("glue")
    run_id = glue.start_job_run(JobName=jobs["marker"], Arguments={"--greeting": "warm"})["JobRunId"]

    run = wait_final(cloud, jobs["marker"], run_id)

    assert run["JobRunState"] == "SUCCEEDED", run.get("ErrorMessage")
    body = cloud.client("s3").get_object(
        Bucket=test_config.names.processed_bucket, Key=f"standby/markers/{run_id}.json"
    )["Body"]
    marker = json.loads(body.read())
    assert marker["argv"][:6] == ["--JOB_ID", marker["argv"][1], "--JOB_RUN_ID", run_id, "--JOB_NAME", jobs["marker"]]
    assert dict(zip(marker["argv"][::2], marker["argv"][1::2], strict=True))["--greeting"] == "warm"
    assert marker["lib"] == "marker-lib-from-zip"
    output = cloud.client("logs").get_log_events(logGroupName="/aws-glue/jobs/output", logStreamName=run_id)
    assert f"marker job {jobs['marker']} run {run_id} starting" in [e["message"] for e in output["events"]]
    assert "a line on stderr" in error_log(cloud, run_id)


def test_a_failing_script_fails_the_run_with_its_exception(cloud: LocalCloud, jobs: dict[str, str]) -> None:
    pid = standby_pid(cloud)
    run_id = cloud.client("glue").start_job_run(
        JobName=jobs["marker"], Arguments={"--fail_message": "bad input in warm process"}
    )["JobRunId"]
    run = wait_final(cloud, jobs["marker"], run_id)
    assert run["JobRunState"] == "FAILED"
    assert run["ErrorMessage"] == "ValueError: bad input in warm process"
    # A failed run ends its process, as it ends a cold one; a new one is warmed.
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert standby_pid(cloud) != pid


def test_a_stopped_run_ends_its_warm_process(cloud: LocalCloud, jobs: dict[str, str]) -> None:
    pid = standby_pid(cloud)
    glue = cloud.client("glue")
    run_id = glue.start_job_run(JobName=jobs["marker"], Arguments={"--sleep_seconds": "60"})["JobRunId"]
    assert cloud.executor is not None
    deadline = time.monotonic() + 30
    while cloud.executor.run_process_id(run_id) != pid and time.monotonic() < deadline:
        time.sleep(0.1)
    assert cloud.executor.run_process_id(run_id) == pid
    glue.batch_stop_job_run(JobName=jobs["marker"], JobRunIds=[run_id])
    run = wait_final(cloud, jobs["marker"], run_id, timeout=60)
    assert run["JobRunState"] == "STOPPED"
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_changed_executor_setting_starts_the_run_cold(cloud: LocalCloud, jobs: dict[str, str]) -> None:
    standby_pid(cloud)
    assert cloud.executor is not None
    cloud.executor.spark_conf["spark.sql.shuffle.partitions"] = "3"  # the warm JVM was started with 4
    try:
        run_id = cloud.client("glue").start_job_run(JobName=jobs["marker"])["JobRunId"]
        run = wait_final(cloud, jobs["marker"], run_id)
    finally:
        cloud.executor.spark_conf.pop("spark.sql.shuffle.partitions")
    assert run["JobRunState"] == "SUCCEEDED", run.get("ErrorMessage")
    assert not any(line.startswith(READY_LINE) for line in error_log(cloud, run_id))
