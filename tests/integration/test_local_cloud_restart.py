"""moto forgets everything when it stops; the local cloud does not: objects, catalog, queues and runs survive a
restart, and so does what Terraform created: a restart applies nothing and `terraform plan` finds no change. An
apply that was killed is finished by the next start."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote_plus

import pytest
from botocore.exceptions import ClientError

from covid_pipeline.config import PipelineConfig
from covid_pipeline.local.cloud import LocalCloud

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "glue"
HOSTILE_KEYS = [
    "raw/jhu_daily/../escape.csv",
    "raw/jhu_daily/with space & plus+.csv",
    "raw/jhu_daily/ünïcødé-数据.csv",
    "raw/jhu_daily/percent%20encoded.csv",
    "raw/jhu_daily/" + "k" * 900 + ".csv",
]


def _start(config: PipelineConfig, state_dir: Path) -> LocalCloud:
    return LocalCloud(config, state_dir=state_dir, run_lambdas=False, timeout_minute_seconds=2.0).start()


def _run_marker_job(cloud: LocalCloud, config: PipelineConfig, arguments: dict[str, str]) -> str:
    names = config.names
    cloud.client("s3").put_object(
        Bucket=names.scripts_bucket, Key="tests/marker_job.py", Body=(FIXTURES / "marker_job.py").read_bytes()
    )
    cloud.client("s3").put_object(Bucket=names.scripts_bucket, Key="tests/marker_lib.py", Body=b"NAME = 'plain-py'\n")
    glue = cloud.client("glue")
    try:
        glue.create_job(
            Name="restart-marker",
            Role="arn:aws:iam::123456789012:role/test-glue",
            Command={"Name": "glueetl", "ScriptLocation": f"s3://{names.scripts_bucket}/tests/marker_job.py"},
            DefaultArguments={
                "--extra-py-files": f"s3://{names.scripts_bucket}/tests/marker_lib.py",
                "--marker_path": f"s3://{names.processed_bucket}/markers/",
            },
            Timeout=5,
        )
    except ClientError as error:
        if error.response["Error"]["Code"] != "AlreadyExistsException":
            raise
    return str(glue.start_job_run(JobName="restart-marker", Arguments=arguments)["JobRunId"])


def test_restart_restores_objects_catalog_and_runs(
    test_config: PipelineConfig, cloud_state_dir: Callable[[], Path]
) -> None:
    names = test_config.names
    database, table = names.glue_database, names.glue_tables["jhu_daily"]
    state_dir = cloud_state_dir()
    cloud = _start(test_config, state_dir)
    try:
        s3 = cloud.client("s3")
        for index, key in enumerate(HOSTILE_KEYS):
            s3.put_object(
                Bucket=names.raw_bucket,
                Key=key,
                Body=f"row,{index}\n".encode(),
                ContentType="text/csv",
                Metadata={"origin": f"test-{index}"},
            )
        s3.put_object(
            Bucket=names.processed_bucket, Key="jhu_daily/year=2021/month=1/part-0.parquet", Body=b"P" * 70_000
        )
        glue = cloud.client("glue")
        table_input = glue.get_table(DatabaseName=database, Name=table)["Table"]
        glue.update_table(
            DatabaseName=database,
            TableInput={
                "Name": table,
                "PartitionKeys": table_input["PartitionKeys"],
                "StorageDescriptor": {
                    **table_input["StorageDescriptor"],
                    "Columns": [{"Name": "country", "Type": "string"}, {"Name": "confirmed", "Type": "bigint"}],
                },
            },
        )
        glue.create_partition(
            DatabaseName=database,
            TableName=table,
            PartitionInput={
                "Values": ["2021", "1"],
                "StorageDescriptor": {"Location": f"{test_config.output_path('jhu_daily')}year=2021/month=1/"},
            },
        )
        succeeded = _run_marker_job(cloud, test_config, {})
        assert cloud.wait_for_runs(120)
        interrupted = _run_marker_job(cloud, test_config, {"--sleep_seconds": "60"})
        queued = _upload_events(cloud, names.raw_events_queue)
        assert sorted(queued.values()) == sorted(HOSTILE_KEYS)  # nobody consumes them: the Lambda runtime is off
    finally:
        cloud.stop()  # stops the sleeping run and snapshots

    cloud = _start(test_config, state_dir)
    try:
        s3 = cloud.client("s3")
        for index, key in enumerate(HOSTILE_KEYS):
            restored = s3.get_object(Bucket=names.raw_bucket, Key=key)
            assert restored["Body"].read() == f"row,{index}\n".encode()
            assert restored["ContentType"] == "text/csv"
            assert restored["Metadata"] == {"origin": f"test-{index}"}
        part = s3.get_object(Bucket=names.processed_bucket, Key="jhu_daily/year=2021/month=1/part-0.parquet")
        assert part["Body"].read() == b"P" * 70_000

        glue = cloud.client("glue")
        columns = glue.get_table(DatabaseName=database, Name=table)["Table"]["StorageDescriptor"]["Columns"]
        assert [(column["Name"], column["Type"]) for column in columns] == [
            ("country", "string"),
            ("confirmed", "bigint"),
        ]
        partitions = glue.get_partitions(DatabaseName=database, TableName=table)["Partitions"]
        assert [partition["Values"] for partition in partitions] == [["2021", "1"]]

        runs = {run["Id"]: run for run in glue.get_job_runs(JobName="restart-marker")["JobRuns"]}
        assert runs[succeeded]["JobRunState"] == "SUCCEEDED"
        assert runs[interrupted]["JobRunState"] == "STOPPED"
        assert runs[interrupted]["ErrorMessage"] == "Job run stopped because the local cloud shut down"

        output = cloud.client("logs").get_log_events(logGroupName="/aws-glue/jobs/output", logStreamName=succeeded)
        assert f"marker job restart-marker run {succeeded} starting" in [e["message"] for e in output["events"]]

        # The queue holds the same messages as before the stop (same ids), and restored objects are not new
        # uploads: no S3 event for them.
        assert _upload_events(cloud, names.raw_events_queue) == queued

        # Nothing was applied, so the snapshot writes no body: none that it restored.
        assert cloud.state is not None and cloud.provision_report is not None
        assert cloud.provision_report.applied is False
        report = cloud.state.snapshot()
        assert report.blobs_written == 0
        assert report.object_versions >= len(HOSTILE_KEYS) + 1
        unchanged = cloud.state.snapshot()
        assert (unchanged.blobs_written, unchanged.files_written) == (0, 0)
    finally:
        cloud.stop()


def _upload_events(cloud: LocalCloud, queue: str) -> dict[str, str]:
    """The S3 upload events waiting in ``queue``, message id -> object key, left waiting (visibility 0)."""
    sqs = cloud.client("sqs")
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])
    assert len(messages) < 10, "more messages than one receive returns"
    events = {}
    for message in messages:
        for record in json.loads(message["Body"]).get("Records", []):
            events[message["MessageId"]] = unquote_plus(record["s3"]["object"]["key"])
    return events


def test_runs_left_active_by_a_crash_are_failed_on_restore(
    test_config: PipelineConfig, cloud_state_dir: Callable[[], Path]
) -> None:
    state_dir = cloud_state_dir()
    history = {
        "runs": [
            {
                "Id": "jr_" + "a" * 64,
                "Attempt": 0,
                "JobName": test_config.names.glue_job,
                "JobRunState": "RUNNING",
                "StartedOn": 1_700_000_000.0,
                "LastModifiedOn": 1_700_000_030.0,
                "Arguments": {},
                "Timeout": 10,
            }
        ]
    }
    (state_dir / "glue_runs.json").write_text(json.dumps(history))
    with LocalCloud(test_config, state_dir=state_dir, run_lambdas=False) as cloud:
        run = cloud.client("glue").get_job_run(JobName=test_config.names.glue_job, RunId="jr_" + "a" * 64)["JobRun"]
    assert run["JobRunState"] == "FAILED"
    assert run["ErrorMessage"] == "The local cloud exited while this run was in progress"
    assert run["ExecutionTime"] == 30


def test_a_state_dir_in_use_is_refused(test_config: PipelineConfig, tmp_path: Path) -> None:
    import subprocess
    import sys

    # Another process holds the state dir's lock, as a running `covid-pipeline local up` would.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys, time; h = open(sys.argv[1], 'a+'); fcntl.flock(h, fcntl.LOCK_EX);"
            " print('locked', flush=True); time.sleep(60)",
            str(tmp_path / ".lock"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        from covid_pipeline.errors import UserError

        with pytest.raises(UserError, match="another local cloud is already using"):
            _start(test_config, tmp_path)
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.slow
def test_after_a_restart_terraform_plans_no_change(
    test_config: PipelineConfig, cloud_state_dir: Callable[[], Path]
) -> None:
    """What `scripts/deploy.sh test plan --local-endpoint URL` would say right after `local up`."""
    with LocalCloud(test_config, state_dir=cloud_state_dir(), run_lambdas=False) as cloud:
        assert cloud.infrastructure is not None
        assert cloud.infrastructure.workspace().plan() is False, "terraform plan found changes after a restart"


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_a_killed_apply_is_finished_by_the_next_start(test_config: PipelineConfig, tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    state_dir = tmp_path / "test"
    env = {**os.environ, "COVID_PIPELINE_LOCAL_DIR": str(tmp_path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "covid_pipeline", "--env", "test", "local", "up"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the kill takes Terraform with it, as a crash would
    )
    try:
        deadline = time.monotonic() + 600
        state = state_dir / "terraform.tfstate"
        # Kill it once Terraform has recorded some resources but not all.
        while time.monotonic() < deadline:
            if state.is_file():
                recorded = len(json.loads(state.read_text() or "{}").get("resources", []))
                if recorded >= 10:
                    break
            assert process.poll() is None, "local up ended before it could be killed"
            time.sleep(0.2)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert not (state_dir / "terraform.applied.json").exists()

    with LocalCloud(test_config, state_dir=state_dir, run_lambdas=False) as cloud:
        assert cloud.provision_report is not None
        assert cloud.provision_report.applied is True
        assert cloud.provision_report.reason == "the last apply did not finish"
        assert cloud.infrastructure is not None
        assert cloud.infrastructure.workspace().plan() is False
