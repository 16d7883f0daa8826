"""The local Lambda runtime: an SQS event source mapping and direct invokes, against moto over HTTP."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from covid_pipeline.local.lambda_runtime import SqsEventSourceMapping, failed_message_ids, invoke

FIXTURE_HANDLER = Path(__file__).resolve().parents[1] / "fixtures" / "lambda" / "recording_handler.py"
REGION = "us-east-1"
FUNCTION = "test-recording-function"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[SimpleNamespace]:
    """moto on a free loopback port with a queue (1 s visibility, DLQ after 2 receives)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{server.get_host_and_port()[1]}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    sqs = boto3.client("sqs", region_name=REGION)
    dlq_url = sqs.create_queue(QueueName="test-events-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(
        QueueName="test-events",
        Attributes={
            "VisibilityTimeout": "1",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"}),
        },
    )["QueueUrl"]
    record_file = tmp_path / "invocations.jsonl"
    env = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_LAMBDA_FUNCTION_NAME": FUNCTION,
        "RECORD_FILE": str(record_file),
        "GREETING": "hello from the function env",
    }
    try:
        yield SimpleNamespace(
            endpoint=endpoint,
            sqs=sqs,
            logs=boto3.client("logs", region_name=REGION),
            queue_url=queue_url,
            dlq_url=dlq_url,
            record_file=record_file,
            env=env,
        )
    finally:
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")).close()
        server.stop()


@pytest.fixture
def mapping(aws: SimpleNamespace) -> Iterator[SqsEventSourceMapping]:
    esm = SqsEventSourceMapping(
        queue_url=aws.queue_url,
        handler_path=FIXTURE_HANDLER,
        handler_name="handler",
        function_env=aws.env,
        batch_size=10,
        visibility_timeout=1,
        max_receive_count=2,
    )
    yield esm
    esm.stop()


def invocations(aws: SimpleNamespace) -> list[dict[str, Any]]:
    if not aws.record_file.exists():
        return []
    return [json.loads(line) for line in aws.record_file.read_text().splitlines()]


def queue_counts(aws: SimpleNamespace, url: str) -> tuple[int, int]:
    attributes = aws.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


def send(aws: SimpleNamespace, *bodies: str) -> list[str]:
    entries = [{"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies)]
    if any(body == "with-attributes" for body in bodies):
        for entry in entries:
            entry["MessageAttributes"] = {"origin": {"DataType": "String", "StringValue": "test"}}
    response = aws.sqs.send_message_batch(QueueUrl=aws.queue_url, Entries=entries)
    return [item["MessageId"] for item in sorted(response["Successful"], key=lambda item: int(item["Id"]))]


def test_successful_batch_is_delivered_in_the_sqs_event_shape_and_deleted(
    aws: SimpleNamespace, mapping: SqsEventSourceMapping
) -> None:
    message_ids = send(aws, "ok", "with-attributes")
    mapping.start()
    assert mapping.wait_idle(timeout=20)

    (call,) = invocations(aws)
    records = call["event"]["Records"]
    assert sorted(record["messageId"] for record in records) == sorted(message_ids)
    record = next(r for r in records if r["body"] == "with-attributes")
    assert set(record) == {
        "messageId",
        "receiptHandle",
        "body",
        "attributes",
        "messageAttributes",
        "md5OfBody",
        "md5OfMessageAttributes",
        "eventSource",
        "eventSourceARN",
        "awsRegion",
    }
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == "arn:aws:sqs:us-east-1:123456789012:test-events"
    assert record["awsRegion"] == REGION
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert {"SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"} <= set(record["attributes"])
    assert record["messageAttributes"] == {
        "origin": {"stringValue": "test", "stringListValues": [], "binaryListValues": [], "dataType": "String"}
    }
    context = call["context"]
    assert context["function_name"] == FUNCTION
    assert context["invoked_function_arn"] == f"arn:aws:lambda:{REGION}:123456789012:function:{FUNCTION}"
    assert context["log_group_name"] == f"/aws/lambda/{FUNCTION}"
    assert context["memory_limit_in_mb"] == 256
    assert 0 < context["remaining_ms"] <= 30_000
    assert call["env"] == {
        "GREETING": "hello from the function env",
        "AWS_LAMBDA_FUNCTION_NAME": FUNCTION,
        "_HANDLER": "recording_handler.handler",
    }
    assert call["greeting_at_import"] == "hello from the function env"
    assert queue_counts(aws, aws.queue_url) == (0, 0)
    assert queue_counts(aws, aws.dlq_url) == (0, 0)


def test_the_function_env_is_only_present_while_the_function_runs(
    aws: SimpleNamespace, mapping: SqsEventSourceMapping
) -> None:
    import os

    send(aws, "ok")
    mapping.start()
    assert mapping.wait_idle(timeout=20)
    assert "GREETING" not in os.environ and "RECORD_FILE" not in os.environ


def test_partial_batch_failure_deletes_only_the_successes_and_retries_the_rest(
    aws: SimpleNamespace, mapping: SqsEventSourceMapping
) -> None:
    ok_id, fail_id = send(aws, "ok", "fail")
    mapping.start()
    # The failed message returns after the 1 s visibility timeout, fails again, then moto moves it to the DLQ.
    assert mapping.wait_idle(timeout=30)
    calls = invocations(aws)
    deliveries = [
        (r["messageId"], r["attributes"]["ApproximateReceiveCount"]) for c in calls for r in c["event"]["Records"]
    ]
    assert sorted(deliveries) == sorted([(ok_id, "1"), (fail_id, "1"), (fail_id, "2")])
    dead = aws.sqs.receive_message(QueueUrl=aws.dlq_url, MaxNumberOfMessages=10)["Messages"]
    assert [(m["MessageId"], m["Body"]) for m in dead] == [(fail_id, "fail")]


def test_an_exception_fails_the_whole_batch_which_ends_in_the_dlq(
    aws: SimpleNamespace, mapping: SqsEventSourceMapping
) -> None:
    send(aws, "ok", "raise")
    mapping.start()
    assert mapping.wait_idle(timeout=30)
    calls = invocations(aws)
    receive_counts = sorted(r["attributes"]["ApproximateReceiveCount"] for c in calls for r in c["event"]["Records"])
    assert receive_counts == ["1", "1", "2", "2"]  # both delivered twice: nothing deleted after the exception
    dead = aws.sqs.receive_message(QueueUrl=aws.dlq_url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in dead) == ["ok", "raise"]
    assert [result.error.__class__.__name__ for result in mapping.invocations] == ["ValueError", "ValueError"]


def test_a_response_naming_an_unknown_message_fails_the_whole_batch(
    aws: SimpleNamespace, mapping: SqsEventSourceMapping
) -> None:
    send(aws, "bad-response")
    mapping.start()
    assert mapping.wait_idle(timeout=30)
    assert len(invocations(aws)) == 2
    assert queue_counts(aws, aws.dlq_url)[0] == 1


@pytest.mark.parametrize(
    ("response", "failed"),
    [
        (None, set()),
        ({}, set()),
        ({"batchItemFailures": []}, set()),
        ({"batchItemFailures": None}, set()),
        ({"batchItemFailures": [{"itemIdentifier": "b"}]}, {"b"}),
    ],
)
def test_batch_item_failure_responses_lambda_accepts(response: Any, failed: set[str]) -> None:
    assert failed_message_ids(response, ["a", "b"]) == failed


@pytest.mark.parametrize(
    "response",
    [
        "not an object",
        {"batchItemFailures": "b"},
        {"batchItemFailures": [{"itemIdentifier": ""}]},
        {"batchItemFailures": [{"itemIdentifier": None}]},
        {"batchItemFailures": [{"id": "b"}]},
        {"batchItemFailures": [{"itemIdentifier": "zzz"}]},
    ],
)
def test_batch_item_failure_responses_that_fail_the_whole_batch(response: Any) -> None:
    with pytest.raises(ValueError):
        failed_message_ids(response, ["a", "b"])


def test_handler_logs_go_to_cloudwatch_one_stream_per_batch(
    aws: SimpleNamespace, mapping: SqsEventSourceMapping
) -> None:
    send(aws, "ok")
    mapping.start()
    assert mapping.wait_idle(timeout=20)
    group = f"/aws/lambda/{FUNCTION}"
    (stream,) = aws.logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert stream["logStreamName"] == invocations(aws)[0]["context"]["log_stream_name"]
    messages = [
        e["message"]
        for e in aws.logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"])["events"]
    ]
    request_id = invocations(aws)[0]["context"]["aws_request_id"]
    assert messages[0] == f"START RequestId: {request_id} Version: $LATEST"
    assert "handling 1 message(s): ok" in messages
    assert any(m.startswith("[INFO]") and m.endswith("logged through the logging module") for m in messages)
    assert messages[-2] == f"END RequestId: {request_id}"
    assert messages[-1].startswith(f"REPORT RequestId: {request_id}\tDuration: ")


def test_invoke_runs_a_handler_once_and_reraises_its_error(aws: SimpleNamespace) -> None:
    event = {"Records": [{"messageId": "m-1", "body": "fail"}]}
    assert invoke(FIXTURE_HANDLER, "handler", event, aws.env) == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    with pytest.raises(ValueError, match="asked to raise"):
        invoke(FIXTURE_HANDLER, "handler", {"Records": [{"messageId": "m-2", "body": "raise"}]}, aws.env)
    group = f"/aws/lambda/{FUNCTION}"
    streams = aws.logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert len(streams) == 2
    error_lines = [
        e["message"]
        for s in streams
        for e in aws.logs.get_log_events(logGroupName=group, logStreamName=s["logStreamName"])["events"]
        if e["message"].startswith("[ERROR]")
    ]
    assert error_lines and error_lines[0].startswith("[ERROR] ValueError: asked to raise")


def test_missing_handler_file_is_a_clear_error(aws: SimpleNamespace, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="Lambda handler file not found"):
        invoke(tmp_path / "absent.py", "handler", {}, aws.env)


def test_wait_idle_reports_false_while_messages_wait(aws: SimpleNamespace, mapping: SqsEventSourceMapping) -> None:
    send(aws, "ok")
    assert mapping.wait_idle(timeout=0.5) is False  # not started: the message waits in the queue
    mapping.start()
    assert mapping.wait_idle(timeout=20) is True
    mapping.stop()
    assert not mapping.running


def test_uploads_flow_through_s3_sqs_and_the_real_handler_to_one_run_per_object_version(
    aws: SimpleNamespace, tmp_path: Path
) -> None:
    from covid_pipeline.config import load_config

    config = load_config("test")
    names = config.names
    s3 = boto3.client("s3", region_name=REGION)
    glue = boto3.client("glue", region_name=REGION)
    for bucket in (names.raw_bucket, names.processed_bucket):
        s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=names.raw_bucket, VersioningConfiguration={"Status": "Enabled"})
    queue_arn = aws.sqs.get_queue_attributes(QueueUrl=aws.queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    s3.put_bucket_notification_configuration(  # moto sends an s3:TestEvent now: the handler must ignore it
        Bucket=names.raw_bucket,
        NotificationConfiguration={"QueueConfigurations": [{"QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"]}]},
    )
    glue.create_job(
        Name=names.glue_job,
        Role="arn:aws:iam::123456789012:role/glue",
        Command={"Name": "glueetl", "ScriptLocation": config.script_location},
        DefaultArguments=config.job_arguments(),
        ExecutionProperty={"MaxConcurrentRuns": 10},
    )
    handler_env = {
        "GLUE_JOB_NAME": names.glue_job,
        "RAW_BUCKET": names.raw_bucket,
        "RAW_PREFIX": config["raw_prefix"],
        "STATE_BUCKET": names.processed_bucket,
        "STATE_PREFIX": config["state_prefix"],
        "AWS_LAMBDA_FUNCTION_NAME": names.lambda_functions["s3-event-handler"],
    }
    esm = SqsEventSourceMapping(
        queue_url=aws.queue_url,
        handler_path=Path(__file__).resolve().parents[2] / "lambda" / "s3_event_handler.py",
        handler_name="handler",
        function_env=handler_env,
        batch_size=10,
        visibility_timeout=1,
        max_receive_count=2,
    )
    body = (
        b"Province/State,Country/Region,Last Update,Confirmed,Deaths,Recovered\n"
        b"Hubei,Mainland China,1/22/2020 17:00,444,17,28\n"
    )
    s3.put_object(Bucket=names.raw_bucket, Key="raw/jhu_daily/01-22-2020.csv", Body=body)
    s3.put_object(Bucket=names.raw_bucket, Key="raw/jhu_daily/notes.txt", Body=b"not data")
    s3.put_object(Bucket=names.raw_bucket, Key="elsewhere/01-22-2020.csv", Body=body)
    esm.start()
    try:
        assert esm.wait_idle(timeout=30)
        (run,) = glue.get_job_runs(JobName=names.glue_job)["JobRuns"]
        assert run["Arguments"]["--trigger_objects"] == "1 object(s): raw/jhu_daily/01-22-2020.csv"
        # A new version of the same key is new input: one more run.
        s3.put_object(
            Bucket=names.raw_bucket,
            Key="raw/jhu_daily/01-22-2020.csv",
            Body=body + b"Beijing,Mainland China,1/22/2020 17:00,14,0,0\n",
        )
        assert esm.wait_idle(timeout=30)
        assert len(glue.get_job_runs(JobName=names.glue_job)["JobRuns"]) == 2
    finally:
        esm.stop()
    assert queue_counts(aws, aws.dlq_url) == (0, 0)
    group = f"/aws/lambda/{names.lambda_functions['s3-event-handler']}"
    logged = [
        json.loads(e["message"])
        for s in aws.logs.describe_log_streams(logGroupName=group)["logStreams"]
        for e in aws.logs.get_log_events(logGroupName=group, logStreamName=s["logStreamName"])["events"]
        if e["message"].startswith("{")
    ]
    reasons = sorted(entry["reason"] for entry in logged if entry["message"] == "object ignored, no job run")
    assert reasons == [
        "key is outside the raw prefix 'raw/'",
        "unsupported suffix (supported: .csv, .csv.gz, .json, .jsonl, .parquet)",
    ]
    assert any(entry["message"] == "ignoring s3:TestEvent" for entry in logged)
