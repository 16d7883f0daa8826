"""lambda/s3_event_handler.py against moto over HTTP (the pure parsing and rules: test_raw_events.py).

The function's environment is the sample tests/events/s3_event_handler_environment.json, which a test below holds
equal to what Terraform plans for the `test` environment. Plain moto's StartJobRun records a run (and enforces
MaxConcurrentRuns), which is what counting runs per object version needs.
"""

from __future__ import annotations

import copy
import io
import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
import s3_event_handler as h
from moto.server import ThreadedMotoServer

from covid_pipeline.raw_events.events import parse_notification, parse_sqs_record
from covid_pipeline.raw_events.settings import Settings
from covid_pipeline.raw_events.trigger import COVERAGE_MARGIN_SECONDS, JobTrigger
from tests.conftest import planned_resource

EVENTS = Path(__file__).resolve().parents[1] / "events"
ENVIRONMENT: dict[str, str] = json.loads((EVENTS / "s3_event_handler_environment.json").read_text())
SOURCE_ARGUMENTS: dict[str, dict[str, str]] = json.loads(ENVIRONMENT["SOURCE_JOB_ARGUMENTS"])
RAW_BUCKET = ENVIRONMENT["RAW_BUCKET"]
STATE_BUCKET = ENVIRONMENT["STATE_BUCKET"]
JOB_NAME = ENVIRONMENT["GLUE_JOB_NAME"]
REGION = "us-east-1"
# The job this module creates in moto: its own DefaultArguments, merged under each run's.
JOB_DEFAULT_ARGUMENTS = {"--job-language": "python", "--full_refresh": "false"}


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def uploaded_now(event: dict[str, Any]) -> dict[str, Any]:
    """The event with every object's eventTime set to now (the sample files carry a fixed time)."""
    event = copy.deepcopy(event)
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    for record in event["Records"]:
        body = json.loads(record["body"])
        for s3_record in body.get("Records", []):
            s3_record["eventTime"] = now
        record["body"] = json.dumps(body)
    return event


def fake_context() -> SimpleNamespace:
    """What Lambda's context gives the handler (Powertools' inject_lambda_context reads the first four)."""
    return SimpleNamespace(
        function_name="covid-pipeline-test-s3-event-handler",
        memory_limit_in_mb=256,
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:covid-pipeline-test-s3-event-handler",
        aws_request_id="c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
        get_remaining_time_in_millis=lambda: 30_000,
    )


@pytest.fixture
def handler_log(monkeypatch: pytest.MonkeyPatch) -> Callable[[], list[dict[str, Any]]]:
    """The handler's JSON log lines (its Logger's stream, bound to stdout at import, points here for the test)."""
    stream = io.StringIO()
    monkeypatch.setattr(h.logger.registered_handler, "stream", stream)
    return lambda: [json.loads(line) for line in stream.getvalue().splitlines()]


SETTINGS = Settings.from_env(ENVIRONMENT)


def test_the_sample_environment_is_the_one_terraform_plans(planned_stacks: dict[str, dict[str, Any]]) -> None:
    planned = planned_resource(planned_stacks["test"], 'aws_lambda_function.pipeline["s3-event-handler"]')
    assert planned["environment"][0]["variables"] == ENVIRONMENT


# --- the handler against moto over HTTP ---------------------------------------------------------------


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[SimpleNamespace]:
    """moto on a free loopback port with the test environment's buckets, queue and Glue job."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{server.get_host_and_port()[1]}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    for key, value in ENVIRONMENT.items():
        monkeypatch.setenv(key, value)
    s3 = boto3.client("s3", region_name=REGION)
    glue = boto3.client("glue", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    for bucket in (RAW_BUCKET, STATE_BUCKET):
        s3.create_bucket(Bucket=bucket)
    queue_url = sqs.create_queue(QueueName="covid-pipeline-test-raw-events", Attributes={"VisibilityTimeout": "1"})[
        "QueueUrl"
    ]
    try:
        yield SimpleNamespace(endpoint=endpoint, s3=s3, glue=glue, sqs=sqs, queue_url=queue_url)
    finally:
        # moto keeps state in module globals: leave nothing behind for the next test.
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")).close()
        server.stop()


def create_job(glue: Any, max_concurrent_runs: int) -> None:
    glue.create_job(
        Name=JOB_NAME,
        Role="arn:aws:iam::123456789012:role/glue",
        Command={
            "Name": "glueetl",
            "ScriptLocation": "s3://covid-pipeline-test-scripts/glue/job.py",
            "PythonVersion": "3",
        },
        DefaultArguments=JOB_DEFAULT_ARGUMENTS,
        ExecutionProperty={"MaxConcurrentRuns": max_concurrent_runs},
        GlueVersion="5.0",
    )


def job_runs(glue: Any) -> list[dict[str, Any]]:
    return glue.get_job_runs(JobName=JOB_NAME)["JobRuns"]


def claims(s3: Any) -> dict[str, dict[str, Any]]:
    prefix = ENVIRONMENT["STATE_PREFIX"] + "events/"
    listed = s3.list_objects_v2(Bucket=STATE_BUCKET, Prefix=prefix).get("Contents", [])
    return {
        item["Key"]: json.loads(s3.get_object(Bucket=STATE_BUCKET, Key=item["Key"])["Body"].read()) for item in listed
    }


def test_one_upload_starts_one_run_with_the_sources_arguments(aws: SimpleNamespace) -> None:
    create_job(aws.glue, max_concurrent_runs=10)
    response = h.handler(load_event("s3_object_created.json"), fake_context())
    assert response == {"batchItemFailures": []}
    (run,) = job_runs(aws.glue)
    expected = {
        **JOB_DEFAULT_ARGUMENTS,
        **SOURCE_ARGUMENTS["jhu_daily"],
        "--trigger_objects": "1 object(s): raw/jhu_daily/01-22-2020.csv",
    }
    assert run["Arguments"] == expected
    (claim,) = claims(aws.s3).values()
    assert (claim["key"], claim["version_id"], claim["status"], claim["run_id"]) == (
        "raw/jhu_daily/01-22-2020.csv",
        "3HL4kqtJlcpXroDTDmjVBH40Nrjfkd",
        "started",
        run["Id"],
    )


def test_duplicate_delivery_of_one_object_version_starts_one_run(aws: SimpleNamespace) -> None:
    create_job(aws.glue, max_concurrent_runs=10)
    event = load_event("s3_object_created.json")
    twice_in_one_batch = {"Records": [event["Records"][0], {**event["Records"][0], "messageId": "other-id"}]}
    assert h.handler(event, fake_context()) == {"batchItemFailures": []}
    assert h.handler(event, fake_context()) == {"batchItemFailures": []}
    assert h.handler(twice_in_one_batch, fake_context()) == {"batchItemFailures": []}
    assert len(job_runs(aws.glue)) == 1


def test_a_new_version_of_the_same_key_starts_a_new_run(aws: SimpleNamespace) -> None:
    create_job(aws.glue, max_concurrent_runs=10)
    event = load_event("s3_object_created.json")
    h.handler(event, fake_context())
    body = json.loads(event["Records"][0]["body"])
    body["Records"][0]["s3"]["object"]["versionId"] = "a-newer-version"
    event["Records"][0]["body"] = json.dumps(body)
    time.sleep(COVERAGE_MARGIN_SECONDS)  # the first run started well before this new upload
    h.handler(uploaded_now(event), fake_context())
    assert len(job_runs(aws.glue)) == 2
    assert len(claims(aws.s3)) == 2


def test_an_object_a_later_successful_run_processed_needs_no_new_run(aws: SimpleNamespace) -> None:
    # The upload happened at 19:00 (eventTime); a run started afterwards and SUCCEEDED, so it listed the object.
    create_job(aws.glue, max_concurrent_runs=10)
    aws.glue.start_job_run(JobName=JOB_NAME, Arguments={"--source": "jhu_daily"})
    assert h.handler(load_event("s3_object_created.json"), fake_context()) == {"batchItemFailures": []}
    assert len(job_runs(aws.glue)) == 1
    assert claims(aws.s3) == {}
    # A run of another source covers nothing of this one.
    owid_event = load_event("sqs_batch_mixed.json")
    owid_event["Records"] = owid_event["Records"][1:2]
    assert h.handler(owid_event, fake_context()) == {"batchItemFailures": []}
    assert sorted(run["Arguments"]["--source"] for run in job_runs(aws.glue)) == ["jhu_daily", "owid"]


def put_ledger(s3: Any, source: str, files: dict[str, dict[str, Any]]) -> None:
    key = f"{ENVIRONMENT['STATE_PREFIX']}{source}/ledger.json"
    s3.put_object(Bucket=STATE_BUCKET, Key=key, Body=json.dumps({"version": 1, "files": files}).encode())


def test_an_object_version_in_the_jobs_ledger_needs_no_new_run(aws: SimpleNamespace) -> None:
    # A run that started within moments of the upload proves nothing by its start time; its ledger does.
    create_job(aws.glue, max_concurrent_runs=10)
    event = uploaded_now(load_event("s3_object_created.json"))
    (obj,) = parse_notification(event["Records"][0]["body"])[0]
    relative = obj.key.removeprefix("raw/jhu_daily/")
    put_ledger(aws.s3, "jhu_daily", {relative: {"size": obj.size, "fingerprint": obj.etag, "run_id": "jr_before"}})
    assert h.handler(event, fake_context()) == {"batchItemFailures": []}
    assert job_runs(aws.glue) == []
    assert claims(aws.s3) == {}


@pytest.mark.parametrize(
    ("relative", "size_delta", "fingerprint"),
    [
        ("01-22-2020.csv", 0, "an-older-etag"),  # a revised file: same name, new content
        ("01-22-2020.csv", 1, None),  # same ETag claimed, other size: not this version
        ("01-23-2020.csv", 0, None),  # another file
    ],
)
def test_a_ledger_without_this_version_starts_a_run(
    aws: SimpleNamespace, relative: str, size_delta: int, fingerprint: str | None
) -> None:
    create_job(aws.glue, max_concurrent_runs=10)
    event = uploaded_now(load_event("s3_object_created.json"))
    (obj,) = parse_notification(event["Records"][0]["body"])[0]
    entry = {"size": obj.size + size_delta, "fingerprint": fingerprint or obj.etag}
    put_ledger(aws.s3, "jhu_daily", {relative: entry})
    assert h.handler(event, fake_context()) == {"batchItemFailures": []}
    assert len(job_runs(aws.glue)) == 1


def test_an_unreadable_ledger_starts_a_run_rather_than_skip_one(aws: SimpleNamespace) -> None:
    create_job(aws.glue, max_concurrent_runs=10)
    key = f"{ENVIRONMENT['STATE_PREFIX']}jhu_daily/ledger.json"
    aws.s3.put_object(Bucket=STATE_BUCKET, Key=key, Body=b"{not json")
    assert h.handler(uploaded_now(load_event("s3_object_created.json")), fake_context()) == {"batchItemFailures": []}
    assert len(job_runs(aws.glue)) == 1


def test_a_batch_of_one_source_starts_one_run(aws: SimpleNamespace) -> None:
    create_job(aws.glue, max_concurrent_runs=10)
    assert h.handler(load_event("sqs_batch_one_source.json"), fake_context()) == {"batchItemFailures": []}
    (run,) = job_runs(aws.glue)
    assert run["Arguments"]["--trigger_objects"] == (
        "3 object(s): raw/jhu_daily/01-01-2020.csv, raw/jhu_daily/02-01-2020.csv, raw/jhu_daily/03-01-2020.csv"
    )
    assert len(claims(aws.s3)) == 3


def test_mixed_batch_runs_per_source_and_ignores_the_rest(
    aws: SimpleNamespace, handler_log: Callable[[], list[dict[str, Any]]]
) -> None:
    create_job(aws.glue, max_concurrent_runs=10)
    assert h.handler(load_event("sqs_batch_mixed.json"), fake_context()) == {"batchItemFailures": []}
    runs = job_runs(aws.glue)
    assert sorted(run["Arguments"]["--source"] for run in runs) == ["jhu_daily", "owid"]
    owid_run = next(run for run in runs if run["Arguments"]["--source"] == "owid")
    assert owid_run["Arguments"]["--input_path"] == "s3://covid-pipeline-test-raw/raw/owid/"
    assert owid_run["Arguments"]["--catalog_table"] == "covid_owid"
    logs = handler_log()
    ignored = {entry["object"]: entry["reason"] for entry in logs if entry["message"] == "object ignored, no job run"}
    raw = f"s3://{RAW_BUCKET}/"
    assert ignored == {
        raw + "incoming/jhu_daily/03-23-2020.csv": "key is outside the raw prefix 'raw/'",
        raw + "raw/unknown_source/03-23-2020.csv": "unknown source 'unknown_source' (known: jhu_daily, owid)",
        raw + "raw/jhu_daily/notes.txt": "unsupported suffix (supported: .csv, .csv.gz, .json, .jsonl, .parquet)",
        raw + "raw/jhu_daily/../../etc/passwd.csv": "key has an empty, '.' or '..' path segment",
        raw + "raw/jhu_daily/03-24-2020.csv": "event ObjectRemoved:Delete is not an object creation",
    }
    assert all(entry["service"] == "s3-event-handler" and entry["level"] in ("INFO", "ERROR") for entry in logs)


def test_test_event_starts_nothing(aws: SimpleNamespace) -> None:
    create_job(aws.glue, max_concurrent_runs=10)
    assert h.handler(load_event("s3_test_event.json"), fake_context()) == {"batchItemFailures": []}
    assert job_runs(aws.glue) == []


def test_malformed_records_fail_alone_and_the_rest_runs(
    aws: SimpleNamespace, handler_log: Callable[[], list[dict[str, Any]]]
) -> None:
    create_job(aws.glue, max_concurrent_runs=10)
    response = h.handler(load_event("sqs_malformed.json"), fake_context())
    assert response == {
        "batchItemFailures": [
            {"itemIdentifier": "b2000000-0000-4000-8000-000000000001"},
            {"itemIdentifier": "b2000000-0000-4000-8000-000000000002"},
        ]
    }
    (run,) = job_runs(aws.glue)
    assert run["Arguments"]["--trigger_objects"] == "1 object(s): raw/jhu_daily/04-01-2020.csv"
    errors = [entry for entry in handler_log() if entry["level"] == "ERROR"]
    assert [entry["error"] for entry in errors] == [
        "Records[0].body is not JSON: Expecting value: line 1 column 1 (char 0)",
        "Records[1].body.Records[0].s3.object has no 'key'",
    ]


@pytest.mark.parametrize("event", [{}, {"Records": "nope"}, {"Records": [{"body": "{}"}]}])
def test_an_event_that_is_not_an_sqs_batch_raises(aws: SimpleNamespace, event: dict[str, Any]) -> None:
    create_job(aws.glue, max_concurrent_runs=10)
    with pytest.raises(ValueError):
        h.handler(event, fake_context())
    assert job_runs(aws.glue) == []


def moto_api(endpoint: str, path: str, payload: dict[str, Any]) -> None:
    request = urllib.request.Request(f"{endpoint}/moto-api/{path}", data=json.dumps(payload).encode(), method="POST")
    urllib.request.urlopen(request).close()


@pytest.fixture
def runs_stay_busy(aws: SimpleNamespace) -> Iterator[None]:
    """Plain moto finishes a run at once; here a run advances one state per GetJobRun, so the job stays busy."""
    moto_api(
        aws.endpoint,
        "state-manager/set-transition",
        {"model_name": "glue::job_run", "transition": {"progression": "manual", "times": 1}},
    )
    yield
    moto_api(aws.endpoint, "state-manager/unset-transition", {"model_name": "glue::job_run"})


@pytest.mark.usefixtures("runs_stay_busy")
def test_busy_job_releases_claims_and_resends_the_message_with_a_delay(
    aws: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RETRY_DELAY_SECONDS", "1")
    create_job(aws.glue, max_concurrent_runs=1)
    busy_run = aws.glue.start_job_run(JobName=JOB_NAME)["JobRunId"]
    event = uploaded_now(load_event("s3_object_created.json"))

    # The original is done with (a fresh delayed copy replaces it, so waiting never counts towards the DLQ).
    assert h.handler(event, fake_context()) == {"batchItemFailures": []}
    assert claims(aws.s3) == {}
    assert len(job_runs(aws.glue)) == 1
    attributes = aws.sqs.get_queue_attributes(QueueUrl=aws.queue_url, AttributeNames=["All"])["Attributes"]
    assert (attributes["ApproximateNumberOfMessages"], attributes["ApproximateNumberOfMessagesDelayed"]) == ("0", "1")
    time.sleep(1.2)
    (copy_,) = aws.sqs.receive_message(QueueUrl=aws.queue_url, MessageAttributeNames=["All"])["Messages"]
    assert copy_["Body"] == event["Records"][0]["body"]
    assert copy_["MessageAttributes"]["busy_retries"]["StringValue"] == "1"

    for _ in range(2):  # STARTING -> RUNNING -> SUCCEEDED
        aws.glue.get_job_run(JobName=JOB_NAME, RunId=busy_run)
    assert aws.glue.get_job_run(JobName=JOB_NAME, RunId=busy_run)["JobRun"]["JobRunState"] == "SUCCEEDED"
    assert h.handler(event, fake_context()) == {"batchItemFailures": []}
    assert len(job_runs(aws.glue)) == 2
    assert [claim["status"] for claim in claims(aws.s3).values()] == ["started"]


@pytest.mark.usefixtures("runs_stay_busy")
def test_a_job_busy_for_too_long_leaves_the_message_to_sqs_retries(
    aws: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_BUSY_RETRIES", "3")
    create_job(aws.glue, max_concurrent_runs=1)
    aws.glue.start_job_run(JobName=JOB_NAME)
    event = load_event("s3_object_created.json")
    event["Records"][0]["messageAttributes"] = {
        "busy_retries": {"stringValue": "3", "stringListValues": [], "binaryListValues": [], "dataType": "Number"}
    }
    message_id = event["Records"][0]["messageId"]
    assert h.handler(event, fake_context()) == {"batchItemFailures": [{"itemIdentifier": message_id}]}
    attributes = aws.sqs.get_queue_attributes(QueueUrl=aws.queue_url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessagesDelayed"] == "0"


def test_failed_start_for_a_missing_job_is_retried_not_lost(aws: SimpleNamespace) -> None:
    # No job defined: StartJobRun fails (EntityNotFoundException); the message must come back, claim released.
    event = load_event("s3_object_created.json")
    assert h.handler(event, fake_context()) == {
        "batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]
    }
    assert claims(aws.s3) == {}


def test_a_stale_claim_left_by_a_crashed_invocation_is_taken_over(aws: SimpleNamespace, monkeypatch: Any) -> None:
    create_job(aws.glue, max_concurrent_runs=10)
    event = load_event("s3_object_created.json")
    obj = parse_sqs_record(event["Records"][0], 0).objects[0]
    trigger = JobTrigger(SETTINGS, aws.s3, aws.glue, aws.sqs)
    assert trigger.claims.claim(obj) == "claimed"  # ... and then the invocation died before StartJobRun
    # A fresh claim may belong to an invocation still at work: try later (a delayed copy), start nothing.
    assert h.handler(event, fake_context()) == {"batchItemFailures": []}
    assert job_runs(aws.glue) == []
    attributes = aws.sqs.get_queue_attributes(QueueUrl=aws.queue_url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessagesDelayed"] == "1"
    monkeypatch.setenv("CLAIM_STALE_SECONDS", "0")
    assert h.handler(event, fake_context()) == {"batchItemFailures": []}
    assert len(job_runs(aws.glue)) == 1


def test_missing_configuration_fails_the_whole_batch(aws: SimpleNamespace, monkeypatch: Any) -> None:
    monkeypatch.delenv("GLUE_JOB_NAME")
    with pytest.raises(RuntimeError, match="missing environment variable\\(s\\): GLUE_JOB_NAME"):
        h.handler(load_event("s3_object_created.json"), fake_context())
