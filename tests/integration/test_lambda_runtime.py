"""The local Lambda runtime against the emulator: functions deployed through the Lambda API (a zip, a layer, an
environment) run in sandbox processes; an SQS event source mapping created through the API feeds them."""

from __future__ import annotations

import io
import json
import os
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from covid_pipeline.local.emulator import ClientCache, Emulator
from covid_pipeline.local.lambda_runtime import (
    EventSourceMappings,
    FunctionTimeout,
    LambdaService,
    SqsEventSourceMapping,
    failed_message_ids,
)

FIXTURE_HANDLER = Path(__file__).resolve().parents[1] / "fixtures" / "lambda" / "recording_handler.py"
REGION = "us-east-1"
ACCOUNT = "123456789012"
FUNCTION = "test-recording-function"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/test-recording-function"


def zipped(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


@pytest.fixture
def aws(tmp_path: Path) -> Iterator[SimpleNamespace]:
    """The emulator on a free loopback port with a queue (1 s visibility, DLQ after 2 receives), the recording
    function deployed (zip + layer + environment) and the runtime that runs it."""
    emulator = Emulator(REGION)
    endpoint = emulator.start()
    client = ClientCache(endpoint, REGION)
    sqs, awslambda = client("sqs"), client("lambda")
    dlq_url = sqs.create_queue(QueueName="test-events-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(
        QueueName="test-events",
        Attributes={
            "VisibilityTimeout": "1",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"}),
        },
    )["QueueUrl"]
    client("iam").create_role(RoleName=FUNCTION, AssumeRolePolicyDocument=json.dumps({"Statement": []}))
    layer = awslambda.publish_layer_version(
        LayerName="test-layer", Content={"ZipFile": zipped({"python/layer_module.py": "VALUE = 'from the layer'\n"})}
    )["LayerVersionArn"]
    record_file = tmp_path / "invocations.jsonl"
    awslambda.create_function(
        FunctionName=FUNCTION,
        Runtime="python3.11",
        Role=ROLE,
        Handler="recording_handler.handler",
        Code={"ZipFile": zipped({"recording_handler.py": FIXTURE_HANDLER.read_text()})},
        Timeout=3,
        MemorySize=256,
        Layers=[layer],
        DeadLetterConfig={"TargetArn": dlq_arn},
        Environment={"Variables": {"RECORD_FILE": str(record_file), "GREETING": "hello from the function env"}},
    )
    service = LambdaService(client, tmp_path / "lambda", {"AWS_ENDPOINT_URL": endpoint}, async_retry_delays=(0.1,))
    try:
        yield SimpleNamespace(
            endpoint=endpoint,
            client=client,
            sqs=sqs,
            logs=client("logs"),
            awslambda=awslambda,
            queue_url=queue_url,
            queue_arn=sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ],
            dlq_url=dlq_url,
            record_file=record_file,
            service=service,
        )
    finally:
        service.stop()
        emulator.stop()


@pytest.fixture
def mapping(aws: SimpleNamespace) -> Iterator[SqsEventSourceMapping]:
    """The event source mapping as Terraform creates it, and the poller the runtime makes of it."""
    aws.awslambda.create_event_source_mapping(
        EventSourceArn=aws.queue_arn,
        FunctionName=FUNCTION,
        BatchSize=10,
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )
    mappings = EventSourceMappings(aws.service)
    mappings.sync()
    (poller,) = mappings.pollers.values()
    yield poller
    mappings.stop()


def invocations(aws: SimpleNamespace) -> list[dict[str, Any]]:
    if not aws.record_file.exists():
        return []
    return [json.loads(line) for line in aws.record_file.read_text().splitlines()]


def queue_counts(aws: SimpleNamespace, url: str) -> tuple[int, int]:
    attributes = aws.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


def dead_letters(aws: SimpleNamespace, expected: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The DLQ's messages, received until `expected` have come or the timeout ends. One receive right after the
    move can come back short on a loaded machine (SQS too samples its servers on a short poll)."""
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(found) < expected and time.monotonic() < deadline:
        response = aws.sqs.receive_message(QueueUrl=aws.dlq_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        found += response.get("Messages", [])
    return found


def send(aws: SimpleNamespace, *bodies: str) -> list[str]:
    entries: list[dict[str, Any]] = [{"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies)]
    if any(body == "with-attributes" for body in bodies):
        for entry in entries:
            entry["MessageAttributes"] = {"origin": {"DataType": "String", "StringValue": "test"}}
    response = aws.sqs.send_message_batch(QueueUrl=aws.queue_url, Entries=entries)
    return [item["MessageId"] for item in sorted(response["Successful"], key=lambda item: int(item["Id"]))]


def log_lines(aws: SimpleNamespace) -> list[str]:
    group = f"/aws/lambda/{FUNCTION}"
    return [
        event["message"]
        for stream in aws.logs.describe_log_streams(logGroupName=group)["logStreams"]
        for event in aws.logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"])["events"]
    ]


def test_the_mapping_is_read_from_the_lambda_api(aws: SimpleNamespace, mapping: SqsEventSourceMapping) -> None:
    assert (mapping.settings.function, mapping.settings.batch_size) == (FUNCTION, 10)
    assert mapping.settings.report_batch_item_failures is True
    assert mapping.queue_url.endswith("/123456789012/test-events")


def test_successful_batch_is_delivered_in_the_sqs_event_shape_and_deleted(
    aws: SimpleNamespace, mapping: SqsEventSourceMapping
) -> None:
    message_ids = send(aws, "ok", "with-attributes")
    assert mapping.wait_idle(timeout=30)

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
    assert 0 < context["remaining_ms"] <= 3_000
    assert call["env"] == {
        "GREETING": "hello from the function env",
        "AWS_LAMBDA_FUNCTION_NAME": FUNCTION,
        "_HANDLER": "recording_handler.handler",
    }
    assert call["greeting_at_import"] == "hello from the function env"
    assert queue_counts(aws, aws.queue_url) == (0, 0)
    assert queue_counts(aws, aws.dlq_url) == (0, 0)


def test_the_function_runs_from_its_zip_and_layer_in_its_own_process(aws: SimpleNamespace) -> None:
    result = aws.service.invoke(FUNCTION, {"Records": [{"messageId": "m", "body": "whoami"}]})
    assert result.succeeded
    sandbox = result.response["sandbox"]
    assert sandbox["pid"] != os.getpid()
    assert sandbox["layer"] == "from the layer"
    assert Path(sandbox["handler_file"]).parent == Path(sandbox["task_root"])
    assert sandbox["handler_file"] != str(FIXTURE_HANDLER)
    assert "covid_pipeline" not in sandbox["modules"], "the project's package is not in a function's runtime"
    assert "GREETING" not in os.environ, "the function's environment never reaches this process"


def test_a_function_reaches_this_machine_only_never_the_internet(aws: SimpleNamespace) -> None:
    result = aws.service.invoke(FUNCTION, {"Records": [{"messageId": "m", "body": "network"}]})
    refused = "[Errno 101] the local cloud's functions reach loopback addresses only, not "
    assert result.response["network"] == {
        "address": refused + "'192.0.2.1'",
        "name": refused + "'covid.ourworldindata.org'",  # refused before any DNS query
        "ipv6": refused + "'2001:db8::1'",
        "endpoint": "connected",
    }


def test_partial_batch_failure_deletes_only_the_successes_and_retries_the_rest(
    aws: SimpleNamespace, mapping: SqsEventSourceMapping
) -> None:
    ok_id, fail_id = send(aws, "ok", "fail")
    # The failed message returns after the 1 s visibility timeout, fails again, then moto moves it to the DLQ.
    assert mapping.wait_idle(timeout=30)
    calls = invocations(aws)
    deliveries = [
        (r["messageId"], r["attributes"]["ApproximateReceiveCount"]) for c in calls for r in c["event"]["Records"]
    ]
    assert sorted(deliveries) == sorted([(ok_id, "1"), (fail_id, "1"), (fail_id, "2")])
    dead = dead_letters(aws, expected=1)
    assert [(m["MessageId"], m["Body"]) for m in dead] == [(fail_id, "fail")]


def test_an_exception_fails_the_whole_batch_which_ends_in_the_dlq(
    aws: SimpleNamespace, mapping: SqsEventSourceMapping
) -> None:
    send(aws, "ok", "raise")
    assert mapping.wait_idle(timeout=30)
    calls = invocations(aws)
    receive_counts = sorted(r["attributes"]["ApproximateReceiveCount"] for c in calls for r in c["event"]["Records"])
    assert receive_counts == ["1", "1", "2", "2"]  # both delivered twice: nothing deleted after the exception
    dead = dead_letters(aws, expected=2)
    assert sorted(m["Body"] for m in dead) == ["ok", "raise"]
    assert [result.error.error_type for result in mapping.invocations if result.error] == ["ValueError", "ValueError"]


def test_a_response_naming_an_unknown_message_fails_the_whole_batch(
    aws: SimpleNamespace, mapping: SqsEventSourceMapping
) -> None:
    send(aws, "bad-response")
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


def test_logs_go_to_cloudwatch_framed_by_start_end_report(aws: SimpleNamespace, mapping: SqsEventSourceMapping) -> None:
    send(aws, "ok")
    assert mapping.wait_idle(timeout=30)
    messages = log_lines(aws)
    request_id = invocations(aws)[0]["context"]["aws_request_id"]
    assert messages[0] == f"START RequestId: {request_id} Version: $LATEST"
    assert "handling 1 message(s): ok" in messages
    assert any(m.startswith("[INFO]") and m.endswith("logged through the logging module") for m in messages)
    assert messages[-2] == f"END RequestId: {request_id}"
    assert messages[-1].startswith(f"REPORT RequestId: {request_id}\tDuration: ")


def test_a_function_error_is_reported_with_its_type_and_logged(aws: SimpleNamespace) -> None:
    result = aws.service.invoke(FUNCTION, {"Records": [{"messageId": "m-1", "body": "fail"}]})
    assert result.response == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    result = aws.service.invoke(FUNCTION, {"Records": [{"messageId": "m-2", "body": "raise"}]})
    assert result.error is not None
    assert (result.error.error_type, result.error.error_message) == ("ValueError", "asked to raise")
    assert "[ERROR] ValueError: asked to raise" in log_lines(aws)


def test_the_timeout_is_enforced_and_the_next_invocation_gets_a_new_sandbox(aws: SimpleNamespace) -> None:
    first = aws.service.invoke(FUNCTION, {"Records": [{"messageId": "m", "body": "whoami"}]})
    slow = aws.service.invoke(FUNCTION, {"Records": [{"messageId": "m", "body": "sleep"}]})
    assert isinstance(slow.error, FunctionTimeout)
    assert slow.error.error_message == "Task timed out after 3.00 seconds"
    assert 3000 <= slow.duration_ms < 6000
    after = aws.service.invoke(FUNCTION, {"Records": [{"messageId": "m", "body": "whoami"}]})
    assert after.succeeded and after.response["sandbox"]["pid"] != first.response["sandbox"]["pid"]
    assert any(line.endswith("Task timed out after 3.00 seconds") for line in log_lines(aws))


def test_updated_code_runs_in_a_new_sandbox(aws: SimpleNamespace) -> None:
    before = aws.service.invoke(FUNCTION, {"Records": []})
    assert before.response == {"batchItemFailures": []}
    aws.awslambda.update_function_code(
        FunctionName=FUNCTION,
        ZipFile=zipped({"recording_handler.py": "def handler(event, context):\n    return {'version': 2}\n"}),
    )
    assert aws.service.invoke(FUNCTION, {"Records": []}).response == {"version": 2}


def test_a_handler_missing_from_the_package_is_an_import_error(aws: SimpleNamespace) -> None:
    aws.awslambda.update_function_configuration(FunctionName=FUNCTION, Handler="absent_module.handler")
    result = aws.service.invoke(FUNCTION, {})
    assert result.error is not None
    assert result.error.error_type.startswith("Runtime.ImportModuleError")
    assert "absent_module" in result.error.error_message


def test_an_asynchronous_invocation_is_retried_then_dead_lettered(aws: SimpleNamespace) -> None:
    event = {"Records": [{"messageId": "async-1", "body": "raise"}]}
    aws.service.invoke_async(FUNCTION, event)
    assert aws.service.wait_async(60)
    assert len(invocations(aws)) == 3, "Lambda retries a failed asynchronous event twice"
    (dead,) = aws.sqs.receive_message(QueueUrl=aws.dlq_url, MessageAttributeNames=["All"])["Messages"]
    assert json.loads(dead["Body"]) == event
    assert "asked to raise" in dead["MessageAttributes"]["ErrorMessage"]["StringValue"]


def test_wait_idle_reports_false_while_messages_wait(aws: SimpleNamespace, mapping: SqsEventSourceMapping) -> None:
    mapping.stop()
    send(aws, "ok")
    assert mapping.wait_idle(timeout=0.5) is False  # stopped: the message waits in the queue
    mapping.start()
    started = time.monotonic()
    assert mapping.wait_idle(timeout=30) is True
    assert time.monotonic() - started < 30
