"""How the local Glue executor turns a failed job's stderr into the run's ErrorMessage (pure function)."""

from __future__ import annotations

import pytest

from covid_pipeline.common import split_s3_object_url
from covid_pipeline.local.glue_process import error_message_from
from covid_pipeline.local.glue_run_state import state_change_event

TRACEBACK = [
    "26/11/26 19:00:00 WARN NativeCodeLoader: Unable to load native-hadoop library",
    "Traceback (most recent call last):",
    '  File "/tmp/run/script/covid_transform.py", line 10, in <module>',
    "    main()",
    '  File "/tmp/run/script/covid_transform.py", line 8, in main',
    '    raise ValueError("no input files under s3://raw/jhu_daily/")',
    "ValueError: no input files under s3://raw/jhu_daily/",
    "26/11/26 19:00:01 INFO ShutdownHookManager: Shutdown hook called",
]


@pytest.mark.parametrize(
    ("stderr", "returncode", "expected"),
    [
        (TRACEBACK, 1, "ValueError: no input files under s3://raw/jhu_daily/"),
        (
            [
                *TRACEBACK,
                "",
                "During handling of the above exception, another exception occurred:",
                "",
                "Traceback (most recent call last):",
                '  File "x.py", line 1, in <module>',
                "pyspark.errors.exceptions.captured.AnalysisException: [PATH_NOT_FOUND] Path does not exist: s3://b/k.",
            ],
            1,
            "pyspark.errors.exceptions.captured.AnalysisException: [PATH_NOT_FOUND] Path does not exist: s3://b/k.",
        ),
        (
            ["26/11/26 19:00:00 WARN Something: noise", "error: --input_path is required"],
            2,
            "Command failed with exit code 2: error: --input_path is required",
        ),
        ([], 3, "Command failed with exit code 3"),
        (["some output"], -9, "Command failed: the job process was killed by signal SIGKILL"),
    ],
)
def test_error_message_is_the_meaningful_line(stderr: list[str], returncode: int, expected: str) -> None:
    assert error_message_from(stderr, returncode) == expected


def test_error_message_is_capped() -> None:
    message = error_message_from(["Traceback (most recent call last):", "RuntimeError: " + "x" * 5000], 1)
    assert len(message) == 2048 and message.startswith("RuntimeError: xxx")


def test_split_s3_object_url() -> None:
    assert split_s3_object_url("s3://bucket/glue/script.py") == ("bucket", "glue/script.py")
    with pytest.raises(ValueError, match="not an s3:// location"):
        split_s3_object_url("/local/script.py")
    with pytest.raises(ValueError, match="needs a bucket and a key"):
        split_s3_object_url("s3://bucket-only")


def test_state_change_event_has_the_eventbridge_shape() -> None:
    run = {
        "Id": "jr_1",
        "JobName": "job",
        "JobRunState": "TIMEOUT",
        "CompletedOn": 1_700_000_000.0,
        "ErrorMessage": "Job run timed out: it ran longer than its Timeout of 1 minute",
    }
    event = state_change_event(run, "eu-west-1")
    assert {key: event[key] for key in ("source", "detail-type", "region", "time", "account")} == {
        "source": "aws.glue",
        "detail-type": "Glue Job State Change",
        "region": "eu-west-1",
        "time": "2023-11-14T22:13:20Z",
        "account": "123456789012",
    }
    assert event["detail"] == {
        "jobName": "job",
        "severity": "ERROR",
        "state": "TIMEOUT",
        "jobRunId": "jr_1",
        "message": "Job run timed out: it ran longer than its Timeout of 1 minute",
    }
    succeeded = state_change_event({"Id": "jr_2", "JobName": "job", "JobRunState": "SUCCEEDED"}, "us-east-1")
    assert succeeded["detail"]["message"] == "Job run succeeded" and succeeded["detail"]["severity"] == "INFO"
