"""The local cloud's wiring, with the Lambda runtime on: a finished Glue run reaches the state-change targets
(lambda/data_quality_monitor.py alerts through SNS), and uploads outside the raw layout start no run."""

from __future__ import annotations

import json
import time
from pathlib import Path

from covid_pipeline.config import PipelineConfig
from covid_pipeline.local.cloud import LocalCloud

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "glue"


def _inbox_messages(cloud: LocalCloud, config: PipelineConfig, wait_seconds: float) -> list[str]:
    sqs = cloud.client("sqs")
    url = sqs.get_queue_url(QueueName=str(config.names.alerts_inbox))["QueueUrl"]
    deadline = time.monotonic() + wait_seconds
    messages: list[str] = []
    while time.monotonic() < deadline:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        for message in batch:
            messages.append(json.loads(message["Body"])["Message"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        if messages:
            return messages
    return messages


def test_a_failed_run_reaches_the_monitor_through_the_rule_and_an_alert_goes_out(
    local_cloud: LocalCloud, test_config: PipelineConfig
) -> None:
    """Terraform's rule matches the pipeline job's state changes only: another job's failure reaches no target; the
    pipeline job's (redefined through the Glue API with a script that fails at once) reaches the monitor."""
    names = test_config.names
    s3 = local_cloud.client("s3")
    s3.put_object(
        Bucket=names.scripts_bucket, Key="tests/marker_job.py", Body=(FIXTURES / "marker_job.py").read_bytes()
    )
    s3.put_object(Bucket=names.scripts_bucket, Key="tests/marker_lib.py", Body=b"NAME = 'plain-py'\n")
    marker = {
        "Role": "arn:aws:iam::123456789012:role/test-glue",
        "Command": {"Name": "glueetl", "ScriptLocation": f"s3://{names.scripts_bucket}/tests/marker_job.py"},
        "DefaultArguments": {
            "--extra-py-files": f"s3://{names.scripts_bucket}/tests/marker_lib.py",
            "--marker_path": f"s3://{names.processed_bucket}/markers/",
        },
        "Timeout": 5,
    }
    glue = local_cloud.client("glue")
    glue.create_job(Name="events-marker", **marker)
    other = glue.start_job_run(JobName="events-marker", Arguments={"--fail_message": "not watched"})["JobRunId"]
    assert local_cloud.wait_idle(180)
    assert glue.get_job_run(JobName="events-marker", RunId=other)["JobRun"]["JobRunState"] == "FAILED"
    assert _inbox_messages(local_cloud, test_config, wait_seconds=3) == []

    glue.delete_job(JobName=names.glue_job)
    glue.create_job(Name=names.glue_job, **marker)
    run_id = glue.start_job_run(JobName=names.glue_job, Arguments={"--fail_message": "disk on fire"})["JobRunId"]
    assert local_cloud.wait_idle(180)

    assert glue.get_job_run(JobName=names.glue_job, RunId=run_id)["JobRun"]["JobRunState"] == "FAILED"
    assert local_cloud.lambdas is not None and list(local_cloud.lambdas.async_failures) == []
    alerts = _inbox_messages(local_cloud, test_config, wait_seconds=10)
    assert any(run_id in alert and "disk on fire" in alert for alert in alerts), alerts


def test_uploads_outside_the_raw_layout_start_no_run(local_cloud: LocalCloud, test_config: PipelineConfig) -> None:
    names = test_config.names
    glue = local_cloud.client("glue")
    before = {run["Id"] for run in glue.get_job_runs(JobName=names.glue_job)["JobRuns"]}
    s3 = local_cloud.client("s3")
    s3.put_object(Bucket=names.raw_bucket, Key=f"{test_config['raw_prefix']}jhu_daily/notes.txt", Body=b"not data")
    s3.put_object(Bucket=names.raw_bucket, Key=f"{test_config['raw_prefix']}unknown_source/a.csv", Body=b"a\n1\n")

    assert local_cloud.wait_idle(120)

    after = {run["Id"] for run in glue.get_job_runs(JobName=names.glue_job)["JobRuns"]}
    assert after == before
    sqs = local_cloud.client("sqs")
    dlq = sqs.get_queue_url(QueueName=names.raw_events_dlq)["QueueUrl"]
    depth = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    assert depth["ApproximateNumberOfMessages"] == "0"  # ignored with a reason, not failed
