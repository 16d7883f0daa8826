"""awsglue.utils.getResolvedOptions, as AWS documents it: required options, reserved ones, the rest ignored."""

from __future__ import annotations

import pytest

from awsglue.utils import GlueArgumentError, getResolvedOptions


def test_resolves_the_options_asked_for_and_glues_reserved_ones() -> None:
    argv = ["script.py", "--JOB_NAME", "my_job", "--day_partition_key", "partition_0", "--JOB_RUN_ID", "jr_1",
            "--job-bookmark-option", "job-bookmark-enable", "--TempDir", "s3://tmp/", "--not_asked", "x"]  # fmt: skip
    args = getResolvedOptions(argv, ["JOB_NAME", "day_partition_key"])
    assert args == {
        "JOB_NAME": "my_job",
        "day_partition_key": "partition_0",
        "job_bookmark_option": "job-bookmark-enable",
        "job_bookmark_from": None,
        "job_bookmark_to": None,
        "JOB_ID": None,
        "JOB_RUN_ID": "jr_1",
        "SECURITY_CONFIGURATION": None,
        "encryption_type": None,
        "enable_metrics": None,
        "RedshiftTempDir": None,
        "TempDir": "s3://tmp/",
    }


def test_bookmarks_are_disabled_unless_the_run_says_otherwise() -> None:
    assert getResolvedOptions(["script.py"], [])["job_bookmark_option"] == "job-bookmark-disable"


def test_a_missing_required_option_is_an_error_naming_it() -> None:
    with pytest.raises(GlueArgumentError, match="--source"):
        getResolvedOptions(["script.py", "--JOB_NAME", "n"], ["JOB_NAME", "source"])


def test_an_unknown_bookmark_option_is_an_error() -> None:
    with pytest.raises(GlueArgumentError, match="job-bookmark-sometimes"):
        getResolvedOptions(["script.py", "--job-bookmark-option", "job-bookmark-sometimes"], [])


def test_asking_for_a_reserved_option_by_its_own_name_keeps_it_optional() -> None:
    args = getResolvedOptions(["script.py", "--JOB_NAME", "n"], ["JOB_NAME", "TempDir"])
    assert (args["JOB_NAME"], args["TempDir"]) == ("n", None)
