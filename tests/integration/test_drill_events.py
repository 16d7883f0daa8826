"""Failure drills at the event edge: real S3 notifications -> SQS -> the Lambda runtime -> lambda/s3_event_handler.py.

- the same S3 event delivered twice, and a redelivery after a visibility timeout (the function started the run
  but its messages were never deleted): exactly one job run per object version;
- hostile object keys (``../``, spaces, ``+``, unicode, ``%20`` in the key itself, control characters, very
  long keys, other sources): legal keys reach the run decoded exactly, the others are ignored with a reason;
- a message the handler can never handle: it lands in the DLQ after maxReceiveCount, the dlq-not-empty alarm
  goes to ALARM on the next CloudWatch tick and its notification reaches the alerts topic's inbox.

Runs started here are stopped at once (BatchStopJobRun): these drills count runs, they do not need their output
(the job-level drills are in test_drill_job_runs.py). The module's cloud is the test environment as Terraform
applied it, with the raw-events queue's visibility timeout set to 2 seconds through the SQS API (as an operator
could), so redeliveries take seconds, not minutes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from covid_pipeline.config import PipelineConfig
from covid_pipeline.local.cloud import LocalCloud
from covid_pipeline.local.lambda_runtime import SqsEventSourceMapping, sqs_event_record
from covid_pipeline.local.lambda_sqs_mapping import messages_in_queue

VISIBILITY_SECONDS = 2
GOOD_CSV = (
    b"Province/State,Country/Region,Last Update,Confirmed,Deaths,Recovered\n"
    b"Hubei,Mainland China,1/22/2020 17:00,444,17,28\n"
)


@pytest.fixture(scope="module")
def config(test_config: PipelineConfig) -> PipelineConfig:
    return test_config


@pytest.fixture(scope="module")
def cloud(config: PipelineConfig, cloud_state_dir: Callable[[], Path]) -> Iterator[LocalCloud]:
    running = LocalCloud(
        config,
        state_dir=cloud_state_dir(),
        run_lambdas=True,
        snapshot_after_runs=False,
        snapshot_interval_seconds=None,
        cloudwatch_interval_seconds=None,  # CloudWatch ticks only when a drill asks (run_cloudwatch)
    ).start()
    try:
        sqs = running.client("sqs")
        url = sqs.get_queue_url(QueueName=config.names.raw_events_queue)["QueueUrl"]
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": str(VISIBILITY_SECONDS)})
        assert raw_mapping(running, config).wait_idle(30)  # the s3:TestEvent of provisioning is handled
        yield running
    finally:
        running.stop()


# --- helpers -------------------------------------------------------------------------------------------------------


def raw_mapping(cloud: LocalCloud, config: PipelineConfig) -> SqsEventSourceMapping:
    """The poller the Lambda runtime made of Terraform's event source mapping on the raw-events queue."""
    assert cloud.mappings is not None, "the Lambda runtime did not start"
    (mapping,) = cloud.mappings.for_queue(config.names.raw_events_queue)
    return mapping


def raw_queue_url(cloud: LocalCloud) -> str:
    return str(cloud.client("sqs").get_queue_url(QueueName=cloud.config.names.raw_events_queue)["QueueUrl"])


def dlq_url(cloud: LocalCloud) -> str:
    return str(cloud.client("sqs").get_queue_url(QueueName=cloud.config.names.raw_events_dlq)["QueueUrl"])


def job_runs(cloud: LocalCloud, config: PipelineConfig) -> dict[str, dict[str, Any]]:
    runs = cloud.client("glue").get_job_runs(JobName=config.names.glue_job, MaxResults=200)["JobRuns"]
    return {run["Id"]: run for run in runs}


def stop_active_runs(cloud: LocalCloud, config: PipelineConfig) -> None:
    """These drills only count runs: stop what the handler started, and wait until it is really over."""
    active = [i for i, r in job_runs(cloud, config).items() if r["JobRunState"] in ("STARTING", "RUNNING", "STOPPING")]
    if active:
        cloud.client("glue").batch_stop_job_run(JobName=config.names.glue_job, JobRunIds=active)
    assert cloud.wait_for_runs(120)


def drain(cloud: LocalCloud, config: PipelineConfig, timeout: float = 60) -> None:
    mapping = raw_mapping(cloud, config)
    assert mapping.wait_idle(timeout), "the raw-events queue did not drain"
    stop_active_runs(cloud, config)


def receive_event_for(cloud: LocalCloud, key: str, timeout: float = 20) -> dict[str, Any]:
    """Receive (as the poller would) the S3 event message of `key` from the raw-events queue."""
    sqs = cloud.client("sqs")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = sqs.receive_message(
            QueueUrl=raw_queue_url(cloud),
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        for message in response.get("Messages", []):
            if key.split("/")[-1] in message["Body"]:
                return dict(message)
            # Not ours (a provisioning test event): let it come back for the poller.
            sqs.change_message_visibility(
                QueueUrl=raw_queue_url(cloud), ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
    raise AssertionError(f"no S3 event for {key} reached the raw-events queue")


def handler_logs(cloud: LocalCloud, config: PipelineConfig) -> list[dict[str, Any]]:
    """The handler's structured log lines, as written to its CloudWatch log group."""
    logs = cloud.client("logs")
    group = f"/aws/lambda/{config.names.lambda_functions['s3-event-handler']}"
    entries = []
    for page in logs.get_paginator("describe_log_streams").paginate(logGroupName=group):
        for stream in page["logStreams"]:
            events = logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"], startFromHead=True)
            entries += [json.loads(e["message"]) for e in events["events"] if e["message"].startswith("{")]
    return entries


def queue_depth(cloud: LocalCloud, url: str) -> int:
    return messages_in_queue(cloud.client("sqs"), url)


# --- duplicate delivery and redelivery -----------------------------------------------------------------------------


def test_duplicate_event_and_redelivery_after_visibility_timeout_start_one_run_per_version(
    cloud: LocalCloud, config: PipelineConfig
) -> None:
    names = config.names
    mapping = raw_mapping(cloud, config)
    key = f"{config['raw_prefix']}jhu_daily/01-22-2020.csv"
    sqs, s3 = cloud.client("sqs"), cloud.client("s3")
    before = set(job_runs(cloud, config))

    mapping.stop()  # the event source mapping disabled: the drill plays the first delivery itself
    try:
        s3.put_object(Bucket=names.raw_bucket, Key=key, Body=GOOD_CSV)
        message = receive_event_for(cloud, key)
        # S3 delivers at least once: the same notification a second time, as a separate message.
        sqs.send_message(QueueUrl=raw_queue_url(cloud), MessageBody=message["Body"])
        # The function handles the first delivery and starts the run, then dies before the poller deletes the
        # message: it comes back once its visibility timeout expires.
        event = {"Records": [sqs_event_record(message, mapping.settings.queue_arn, config.region)]}
        assert cloud.lambdas is not None
        result = cloud.lambdas.invoke(names.lambda_functions["s3-event-handler"], event)
        assert result.response == {"batchItemFailures": []}
        new_runs = set(job_runs(cloud, config)) - before
        assert len(new_runs) == 1
        (first_run,) = new_runs
        stop_active_runs(cloud, config)
        time.sleep(VISIBILITY_SECONDS + 0.5)
    finally:
        mapping.start()
    drain(cloud, config)

    runs = job_runs(cloud, config)
    assert set(runs) - before == {first_run}, "a duplicate or redelivered event started another run"
    assert runs[first_run]["Arguments"]["--trigger_objects"] == f"1 object(s): {key}"
    duplicates = [e for e in handler_logs(cloud, config) if e["message"].startswith("duplicate delivery")]
    # Both deliveries were recognised (a slow invocation on a busy machine may see them once more: still no run).
    assert {e["object"] for e in duplicates} == {f"s3://{names.raw_bucket}/{key}"} and len(duplicates) >= 2
    assert queue_depth(cloud, dlq_url(cloud)) == 0  # handled as duplicates, not failed

    # A new version of the same key is new input: exactly one more run, and a repeat of its event starts none.
    s3.put_object(Bucket=names.raw_bucket, Key=key, Body=GOOD_CSV + b"Beijing,Mainland China,1/22/2020 17:00,14,,\n")
    drain(cloud, config)
    second_runs = set(job_runs(cloud, config)) - before - {first_run}
    assert len(second_runs) == 1


# --- hostile object keys -------------------------------------------------------------------------------------------

RAW = "raw/"
# Keys S3 accepts that are legal raw input: the run must see them exactly (S3 URL-encodes keys in events).
LEGAL_KEYS = [
    RAW + "jhu_daily/with space & plus+01-23-2020.csv",
    RAW + "jhu_daily/ünïcødé-数据-01-24-2020.csv",
    RAW + "jhu_daily/percent%20encoded%2F01-25-2020.csv",
    RAW + "jhu_daily/nested/folder/01-26-2020.csv",
]
LONG_KEY = RAW + "jhu_daily/" + "k" * 600 + "-01-27-2020.csv"  # S3 allows 1024 bytes, the handler 512 characters
# Keys under the raw prefix that the handler must ignore, with the reason it logs.
IGNORED_KEYS = {
    RAW + "jhu_daily/../01-27-2020.csv": "key has an empty, '.' or '..' path segment",
    RAW + "../jhu_daily/01-27-2020.csv": "key has an empty, '.' or '..' path segment",
    RAW + "jhu_daily//01-27-2020.csv": "key has an empty, '.' or '..' path segment",
    RAW + "jhu_daily/tab\there-01-27-2020.csv": "key contains control characters",
    LONG_KEY: f"key is {len(LONG_KEY)} characters long, over the limit of 512",
    RAW + "other_source/01-27-2020.csv": "unknown source 'other_source' (known: jhu_daily, owid)",
    RAW + "01-27-2020.csv": "key is not inside a source folder (<raw prefix><source>/<file>)",
    RAW + "jhu_daily/_01-27-2020.csv": "hidden or marker file (Spark skips names starting with '.' or '_')",
    RAW + "jhu_daily/01-27-2020.exe": "unsupported suffix (supported: .csv, .csv.gz, .json, .jsonl, .parquet)",
}
# Keys outside the raw prefix: the bucket notification never sends them; nothing may happen.
OUTSIDE_KEYS = ["../raw/jhu_daily/01-28-2020.csv", "rawish/jhu_daily/01-28-2020.csv", "jhu_daily/01-28-2020.csv"]


def test_hostile_keys_reach_the_run_decoded_or_are_ignored_with_a_reason(
    cloud: LocalCloud, config: PipelineConfig
) -> None:
    assert config["raw_prefix"] == RAW
    names = config.names
    mapping = raw_mapping(cloud, config)
    s3 = cloud.client("s3")
    before = set(job_runs(cloud, config))

    mapping.stop()  # one batch for all of them: at most one run
    try:
        for key in [*LEGAL_KEYS, *IGNORED_KEYS, *OUTSIDE_KEYS]:
            s3.put_object(Bucket=names.raw_bucket, Key=key, Body=GOOD_CSV)
            assert s3.head_object(Bucket=names.raw_bucket, Key=key)["ContentLength"] == len(GOOD_CSV)
    finally:
        mapping.start()
    drain(cloud, config)

    new_runs = [run for run_id, run in job_runs(cloud, config).items() if run_id not in before]
    assert len(new_runs) == 1, [run["Arguments"].get("--trigger_objects") for run in new_runs]
    expected = f"{len(LEGAL_KEYS)} object(s): " + ", ".join(sorted(LEGAL_KEYS))
    assert new_runs[0]["Arguments"]["--trigger_objects"] == expected

    entries = handler_logs(cloud, config)
    ignored = {
        e["object"]: e["reason"]
        for e in entries
        if e["message"] == "object ignored, no job run" and "01-27-2020" in e["object"]
    }
    assert ignored == {f"s3://{names.raw_bucket}/{key}": reason for key, reason in IGNORED_KEYS.items()}
    assert "01-28-2020" not in json.dumps(entries)  # the OUTSIDE_KEYS never reached the handler
    assert queue_depth(cloud, dlq_url(cloud)) == 0


# --- a message that always fails -----------------------------------------------------------------------------------

POISON_BODIES = ["this is not JSON", json.dumps({"Records": [{"eventSource": "aws:s3", "s3": {}}]})]


def wait_for_dlq(cloud: LocalCloud, count: int, timeout: float = 90) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if queue_depth(cloud, dlq_url(cloud)) >= count and queue_depth(cloud, raw_queue_url(cloud)) == 0:
            break
        time.sleep(0.5)
    response = cloud.client("sqs").receive_message(
        QueueUrl=dlq_url(cloud), MaxNumberOfMessages=10, AttributeNames=["All"], VisibilityTimeout=0
    )
    return list(response.get("Messages", []))


def inbox_alarm_messages(cloud: LocalCloud, config: PipelineConfig, alarm_name: str) -> list[dict[str, Any]]:
    sqs = cloud.client("sqs")
    url = sqs.get_queue_url(QueueName=str(config.names.alerts_inbox))["QueueUrl"]
    found = []
    for _ in range(5):
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
            payload = json.loads(message["Body"])
            try:
                alarm = json.loads(payload["Message"])
            except (TypeError, ValueError):
                continue
            if isinstance(alarm, dict) and alarm.get("AlarmName") == alarm_name:
                found.append(alarm)
        if found:
            break
    return found


def test_a_message_that_always_fails_lands_in_the_dlq_and_the_alarm_alerts(
    cloud: LocalCloud, config: PipelineConfig
) -> None:
    names = config.names
    sqs = cloud.client("sqs")
    already = queue_depth(cloud, dlq_url(cloud))
    before = set(job_runs(cloud, config))
    for body in POISON_BODIES:
        sqs.send_message(QueueUrl=raw_queue_url(cloud), MessageBody=body)

    dead = wait_for_dlq(cloud, already + len(POISON_BODIES))
    bodies = [m["Body"] for m in dead]
    assert all(body in bodies for body in POISON_BODIES)
    max_receive = int(config["sqs_max_receive_count"])
    for message in dead:
        if message["Body"] in POISON_BODIES:  # received maxReceiveCount times, then moved
            assert int(message["Attributes"]["ApproximateReceiveCount"]) >= max_receive
    assert queue_depth(cloud, raw_queue_url(cloud)) == 0
    assert set(job_runs(cloud, config)) == before
    failures = [e for e in handler_logs(cloud, config) if e["message"].startswith("malformed message")]
    assert len([e for e in failures if "is not JSON" in e["error"]]) >= max_receive

    # One CloudWatch tick of the local cloud (AWS/SQS metrics published, alarms evaluated, SNS notified), as
    # CloudWatch does every minute on AWS; the alarm is Terraform's (metric math over both dead-letter queues).
    alarm_name = names.alarms["dlq-not-empty"]
    evaluations = {e.name: e for e in cloud.run_cloudwatch()}
    assert evaluations[alarm_name].decision.state == "ALARM", evaluations[alarm_name].decision.reason
    state = cloud.client("cloudwatch").describe_alarms(AlarmNames=[alarm_name])["MetricAlarms"][0]["StateValue"]
    assert state == "ALARM"
    alerts = inbox_alarm_messages(cloud, config, alarm_name)
    assert [a["NewStateValue"] for a in alerts] == ["ALARM"]
