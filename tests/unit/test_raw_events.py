"""covid_pipeline.raw_events without the handler: the SQS/S3 event parsing, the raw layout rules, the settings and
the run trigger's pure parts, on the sample events under tests/events/."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

from covid_pipeline.raw_events import events, settings, trigger

EVENTS = Path(__file__).resolve().parents[1] / "events"
ENVIRONMENT: dict[str, str] = json.loads((EVENTS / "s3_event_handler_environment.json").read_text())
RAW_BUCKET = ENVIRONMENT["RAW_BUCKET"]
SETTINGS = settings.Settings.from_env(ENVIRONMENT)


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def s3_object(key: str, **overrides: Any) -> events.S3ObjectCreated:
    values: dict[str, Any] = {
        "bucket": RAW_BUCKET,
        "key": key,
        "size": 100,
        "etag": "abc",
        "version_id": "v1",
        "sequencer": "01",
        "event_name": "ObjectCreated:Put",
        "event_time": "2026-11-26T19:00:00.000Z",
    }
    values.update(overrides)
    return events.S3ObjectCreated(**values)


def test_sample_event_parses_into_typed_objects() -> None:
    message = events.parse_sqs_record(load_event("s3_object_created.json")["Records"][0], 0)
    assert message.message_id == "059f36b4-87a3-44ab-83d2-661975830a7d"
    assert message.receive_count == 1
    assert message.event_source_arn == "arn:aws:sqs:us-east-1:123456789012:covid-pipeline-test-raw-events"
    assert message.objects == (
        events.S3ObjectCreated(
            bucket="covid-pipeline-test-raw",
            key="raw/jhu_daily/01-22-2020.csv",
            size=1234,
            etag="0123456789abcdef0123456789abcdef",
            version_id="3HL4kqtJlcpXroDTDmjVBH40Nrjfkd",
            sequencer="0055AED6DCD90281E5",
            event_name="ObjectCreated:Put",
            event_time="2026-11-26T19:00:00.000Z",
        ),
    )


def test_url_encoded_key_is_decoded_with_plus_as_space() -> None:
    message = events.parse_sqs_record(load_event("s3_key_url_encoded.json")["Records"][0], 0)
    assert message.objects[0].key == "raw/jhu_daily/daily report (01-23-2020).csv.gz"


def test_sns_wrapped_s3_event_is_unwrapped() -> None:
    message = events.parse_sqs_record(load_event("sqs_sns_wrapped_s3_event.json")["Records"][0], 0)
    assert [obj.key for obj in message.objects] == ["raw/jhu_daily/05-01-2020.csv"]


def test_s3_test_event_is_recognised() -> None:
    message = events.parse_sqs_record(load_event("s3_test_event.json")["Records"][0], 0)
    assert message.is_test_event and message.objects == ()


@pytest.mark.parametrize(
    ("body", "expected_error"),
    [
        ("this is not json", "Records[0].body is not JSON"),
        ("[]", "Records[0].body is list, expected an object"),
        ('{"Records": []}', "Records[0].body.Records must be a non-empty list"),
        ('{"Records": [{"eventSource": "aws:sns"}]}', "eventSource is 'aws:sns', expected 'aws:s3'"),
        (
            '{"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"},'
            ' "object": {"size": 1}}}]}',
            "Records[0].body.Records[0].s3.object has no 'key'",
        ),
        (
            '{"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"},'
            ' "object": {"key": "k", "size": -5}}}]}',
            "size is -5, expected a non-negative integer",
        ),
    ],
)
def test_malformed_bodies_raise_a_clear_value_error(body: str, expected_error: str) -> None:
    record = copy.deepcopy(load_event("s3_object_created.json")["Records"][0])
    record["body"] = body
    with pytest.raises(ValueError, match=expected_error.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")):
        events.parse_sqs_record(record, 0)


@pytest.mark.parametrize(
    ("obj", "reason"),
    [
        (s3_object("incoming/jhu_daily/01-22-2020.csv"), "key is outside the raw prefix 'raw/'"),
        (s3_object("raw/unknown/01-22-2020.csv"), "unknown source 'unknown' (known: jhu_daily, owid)"),
        (
            s3_object("raw/jhu_daily/readme.txt"),
            "unsupported suffix (supported: .csv, .csv.gz, .json, .jsonl, .parquet)",
        ),
        (s3_object("raw/jhu_daily/../owid/x.csv"), "key has an empty, '.' or '..' path segment"),
        (s3_object("raw/jhu_daily//x.csv"), "key has an empty, '.' or '..' path segment"),
        (s3_object("raw/x.csv"), "key is not inside a source folder (<raw prefix><source>/<file>)"),
        (s3_object("raw/jhu_daily/" + "a" * 600 + ".csv"), "key is 618 characters long, over the limit of 512"),
        (s3_object("raw/jhu_daily/bad\nname.csv"), "key contains control characters"),
        (s3_object("raw/jhu_daily/_SUCCESS.csv"), "hidden or marker file (Spark skips names starting with '.' or '_')"),
        (s3_object("raw/jhu_daily/01-22-2020.csv", size=0), "empty object (0 bytes)"),
        (
            s3_object("raw/jhu_daily/01-22-2020.csv", bucket="someone-elses-bucket"),
            "bucket someone-elses-bucket is not the raw bucket covid-pipeline-test-raw",
        ),
        (
            s3_object("raw/jhu_daily/01-22-2020.csv", event_name="ObjectRemoved:Delete"),
            "event ObjectRemoved:Delete is not an object creation",
        ),
    ],
)
def test_hostile_or_foreign_keys_are_ignored_with_a_reason(obj: events.S3ObjectCreated, reason: str) -> None:
    assert settings.classify(obj, SETTINGS) == settings.Ignored(obj, reason)


@pytest.mark.parametrize(
    ("key", "source"),
    [
        ("raw/jhu_daily/01-22-2020.csv", "jhu_daily"),
        ("raw/jhu_daily/01-22-2020.CSV.GZ", "jhu_daily"),
        ("raw/owid/owid-covid-data.jsonl", "owid"),
        ("raw/jhu_daily/2021/part-0.parquet", "jhu_daily"),
        # The ingestion's date-partitioned layout (ingestion.sources.partitioned_key) beside the flat one.
        ("raw/jhu_daily/year=2020/month=01/day=22/01-22-2020.csv", "jhu_daily"),
        ("raw/owid/year=2026/month=12/day=03/owid-covid-data.csv", "owid"),
        ("raw/jhu_daily/year=2026/month=12/day=03/api-2026-12-03.jsonl", "jhu_daily"),
    ],
)
def test_raw_inputs_are_accepted_for_their_source(key: str, source: str) -> None:
    obj = s3_object(key)
    assert settings.classify(obj, SETTINGS) == settings.Accepted(obj, source)


def test_sources_and_their_run_arguments_come_from_the_environment() -> None:
    assert SETTINGS.known_sources == ("jhu_daily", "owid")
    assert SETTINGS.run_arguments("owid") == {
        "--catalog_table": "covid_owid",
        "--input_path": "s3://covid-pipeline-test-raw/raw/owid/",
        "--output_path": "s3://covid-pipeline-test-processed/owid/",
        "--quarantine_path": "s3://covid-pipeline-test-quarantine/quarantine/owid/",
        "--source": "owid",
        "--state_path": "s3://covid-pipeline-test-processed/_state/owid/",
    }


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("SUPPORTED_SUFFIXES", None, "missing environment variable\\(s\\): SUPPORTED_SUFFIXES"),
        ("SOURCE_JOB_ARGUMENTS", "[]", "SOURCE_JOB_ARGUMENTS is not a JSON object of source -> arguments"),
        ("SOURCE_JOB_ARGUMENTS", "{not json", "SOURCE_JOB_ARGUMENTS is not a JSON object of source -> arguments"),
    ],
)
def test_a_wrong_environment_is_a_clear_deployment_error(variable: str, value: str | None, message: str) -> None:
    env = {key: item for key, item in ENVIRONMENT.items() if key != variable}
    if value is not None:
        env[variable] = value
    with pytest.raises(RuntimeError, match=message):
        settings.Settings.from_env(env)


def test_trigger_summary_is_bounded() -> None:
    objects = [s3_object(f"raw/jhu_daily/{i:05d}-" + "x" * 80 + ".csv") for i in range(40)]
    summary = trigger.trigger_summary(objects)
    assert summary.startswith("40 object(s): raw/jhu_daily/00000-")
    assert len(summary) <= trigger.TRIGGER_SUMMARY_MAX_CHARS + 40
    assert summary.endswith(" more)")


def test_the_record_handler_keeps_good_messages_and_fails_malformed_ones_alone() -> None:
    event = load_event("sqs_malformed.json")
    batch = events.ParsedBatch()
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    response = process_partial_response(event, batch.parse, processor)
    assert response == {
        "batchItemFailures": [
            {"itemIdentifier": "b2000000-0000-4000-8000-000000000001"},
            {"itemIdentifier": "b2000000-0000-4000-8000-000000000002"},
        ]
    }
    assert [message.message_id for message in batch.messages] == ["b2000000-0000-4000-8000-000000000003"]
    assert [obj.key for obj in batch.messages[0].objects] == ["raw/jhu_daily/04-01-2020.csv"]


def test_a_batch_of_only_malformed_messages_is_still_a_partial_response() -> None:
    event = load_event("sqs_malformed.json")
    event["Records"] = event["Records"][:2]
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    response = process_partial_response(event, events.ParsedBatch().parse, processor)
    assert [item["itemIdentifier"] for item in response["batchItemFailures"]] == [
        "b2000000-0000-4000-8000-000000000001",
        "b2000000-0000-4000-8000-000000000002",
    ]


@pytest.mark.parametrize(
    ("event", "error"),
    [
        ({}, "event has no 'Records'"),
        ({"Records": "nope"}, "event.Records must be a list"),
        ({"Records": [{"body": "{}"}]}, "Records[0] has no 'messageId'"),
        ({"Records": ["text"]}, "Records[0] is str, expected an object"),
    ],
)
def test_an_event_that_is_not_an_sqs_batch_is_refused_whole(event: dict[str, Any], error: str) -> None:
    with pytest.raises(events.MalformedEventError) as raised:
        events.sqs_records(event)
    assert str(raised.value) == error


def test_busy_retries_and_receive_count_come_from_the_record() -> None:
    record = copy.deepcopy(load_event("s3_object_created.json")["Records"][0])
    record["attributes"]["ApproximateReceiveCount"] = "3"
    record["messageAttributes"] = {"busy_retries": {"stringValue": "7", "dataType": "Number"}}
    message = events.parse_sqs_record(record, 0)
    assert (message.receive_count, message.busy_retries) == (3, 7)
    del record["attributes"], record["messageAttributes"]
    message = events.parse_sqs_record(record, 0)
    assert (message.receive_count, message.busy_retries) == (1, 0)


def test_an_object_is_covered_only_by_a_successful_run_that_started_after_its_upload() -> None:
    from datetime import UTC, datetime, timedelta

    obj = s3_object("raw/jhu_daily/01-22-2020.csv")
    uploaded = datetime(2026, 11, 26, 19, 0, tzinfo=UTC)
    runs_before = [(uploaded - timedelta(minutes=5), "early"), (uploaded + timedelta(seconds=1), "too-close")]
    assert trigger.covered_by(obj, runs_before) is None
    assert trigger.covered_by(obj, [*runs_before, (uploaded + timedelta(minutes=1), "late")]) == "late"
    assert trigger.covered_by(s3_object("raw/jhu_daily/x.csv", event_time="not a time"), runs_before) is None


def test_only_the_same_size_and_etag_is_in_the_ledger() -> None:
    obj = s3_object("raw/jhu_daily/01-22-2020.csv")
    ledger = {"01-22-2020.csv": {"fingerprint": "abc", "size": 100, "run_id": "jr_1"}}
    assert trigger.in_ledger(obj, ledger, "raw/jhu_daily/") == ledger["01-22-2020.csv"]
    assert trigger.in_ledger(s3_object(obj.key, size=101), ledger, "raw/jhu_daily/") is None
    assert trigger.in_ledger(s3_object(obj.key, etag="other"), ledger, "raw/jhu_daily/") is None
