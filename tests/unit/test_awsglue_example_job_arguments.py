"""The example job's arguments, checked before Spark is touched (its runs:
tests/component/test_awsglue_example_job.py)."""

from __future__ import annotations

import pytest
from examples import daily_report_totals

from awsglue.utils import GlueArgumentError


def test_missing_job_arguments_fail_before_any_read() -> None:
    argv = ["daily_report_totals.py", "--JOB_NAME", "example", "--database", "covid", "--table_name", "daily_reports"]
    with pytest.raises(GlueArgumentError, match="--output_path"):
        daily_report_totals.main(argv)
