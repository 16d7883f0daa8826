"""The example Glue job (glue_job/examples/daily_report_totals.py) in the local cloud, through StartJobRun, with job
bookmarks: the Glue API creates the job and the catalog table, the script reads s3:// through S3A, and
GetJobBookmark/ResetJobBookmark answer from the bookmarks the runs committed, across a restart of the cloud."""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from botocore.exceptions import ClientError

from covid_pipeline.config import PipelineConfig
from covid_pipeline.local.cloud import LocalCloud

pytestmark = pytest.mark.spark

JOB = "example-daily-report-totals"
TABLE = "example_daily_reports"
HEADER = "FIPS,Admin2,Province_State,Country_Region,Last_Update,Lat,Long_,Confirmed,Deaths\n"
DAY_ONE = HEADER + (
    ",,Hubei,China,2021-01-01 05:22:33,30.97,112.27,68149,4512\n"
    ",,Beijing,China,2021-01-01 05:22:33,40.18,116.41,1010,9\n"
    ',,,"Korea, South",2021-01-01 05:22:33,35.90,127.76,61769,917\n'
)
DAY_TWO = HEADER + ",,,Italy,2021-02-01 05:22:33,41.87,12.56,2553032,88516\n"
COLUMNS = ["fips", "admin2", "province_state", "country_region", "last_update", "lat", "long_", "confirmed", "deaths"]


@pytest.fixture(scope="module")
def cloud(test_config: PipelineConfig, s3a_jars: list[Path], cloud_state_dir: Callable[[], Path]) -> Iterator[Any]:
    state_dir = cloud_state_dir()  # the session's provisioned baseline: an empty folder would be applied anew
    # A warm job process (as local up keeps one) serves the runs one after the other, as Glue's warm pools do.
    clouds = [LocalCloud(test_config, state_dir, run_lambdas=False, keep_warm_worker=True).start()]

    def restart() -> LocalCloud:
        clouds[-1].stop()
        clouds.append(LocalCloud(test_config, state_dir, run_lambdas=False).start())
        return clouds[-1]

    try:
        yield clouds, restart
    finally:
        clouds[-1].stop()


def run_and_wait(cloud: LocalCloud, timeout: float = 300) -> dict[str, Any]:
    glue = cloud.client("glue")
    run_id = glue.start_job_run(JobName=JOB)["JobRunId"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = glue.get_job_run(JobName=JOB, RunId=run_id)["JobRun"]
        if run["JobRunState"] not in ("STARTING", "RUNNING", "STOPPING", "WAITING"):
            return dict(run)
        time.sleep(0.5)
    raise AssertionError(f"run {run_id} did not finish in {timeout} s")


def output_rows(cloud: LocalCloud, bucket: str) -> list[tuple[str, str, int, str]]:
    """(country, report_date, confirmed, partition folder) of every Parquet file the job wrote."""
    s3 = cloud.client("s3")
    found = []
    for item in s3.list_objects_v2(Bucket=bucket, Prefix="example/daily_totals/").get("Contents", []):
        if item["Key"].endswith(".parquet"):
            table = pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()))
            folder = "/".join(item["Key"].split("/")[2:4])
            for record in table.to_pylist():
                found.append((record["country"], str(record["report_date"]), record["confirmed"], folder))
    return sorted(found)


def test_the_example_job_reads_only_new_files_run_after_run(
    cloud: Any, test_config: PipelineConfig, repo_root: Path
) -> None:
    clouds, restart = cloud
    local = clouds[-1]
    names = test_config.names
    s3, glue = local.client("s3"), local.client("glue")
    script = repo_root / "glue_job" / "examples" / "daily_report_totals.py"
    s3.put_object(Bucket=names.scripts_bucket, Key="examples/daily_report_totals.py", Body=script.read_bytes())
    s3.put_object(Bucket=names.processed_bucket, Key="example/daily_reports/01-01-2021.csv", Body=DAY_ONE.encode())
    glue.create_table(
        DatabaseName=names.glue_database,
        TableInput={
            "Name": TABLE,
            "Parameters": {"classification": "csv", "skip.header.line.count": "1"},
            "StorageDescriptor": {
                "Location": f"s3://{names.processed_bucket}/example/daily_reports/",
                "Columns": [{"Name": name, "Type": "string"} for name in COLUMNS],
                "SerdeInfo": {"Parameters": {"field.delim": ","}},
            },
        },
    )
    glue.create_job(
        Name=JOB,
        Role="arn:aws:iam::123456789012:role/example-glue",
        Command={"Name": "glueetl", "ScriptLocation": f"s3://{names.scripts_bucket}/examples/daily_report_totals.py"},
        DefaultArguments={
            "--job-bookmark-option": "job-bookmark-enable",
            "--database": names.glue_database,
            "--table_name": TABLE,
            "--output_path": f"s3://{names.processed_bucket}/example/daily_totals/",
        },
        GlueVersion="5.0",
        Timeout=10,
    )
    with pytest.raises(ClientError, match="EntityNotFoundException"):
        glue.get_job_bookmark(JobName=JOB)  # no run has committed yet

    first = run_and_wait(local)
    assert first["JobRunState"] == "SUCCEEDED", first.get("ErrorMessage")
    day_one = [
        ("China", "2021-01-01", 69159, "year=2021/month=1"),
        ("Korea, South", "2021-01-01", 61769, "year=2021/month=1"),
    ]
    assert output_rows(local, names.processed_bucket) == day_one

    second = run_and_wait(local)  # the same input: the bookmark says it has all been read
    assert second["JobRunState"] == "SUCCEEDED", second.get("ErrorMessage")
    assert output_rows(local, names.processed_bucket) == day_one

    s3.put_object(Bucket=names.processed_bucket, Key="example/daily_reports/02-01-2021.csv", Body=DAY_TWO.encode())
    third = run_and_wait(local)
    assert third["JobRunState"] == "SUCCEEDED", third.get("ErrorMessage")
    assert output_rows(local, names.processed_bucket) == sorted(
        [*day_one, ("Italy", "2021-02-01", 2553032, "year=2021/month=2")]
    )

    entry = glue.get_job_bookmark(JobName=JOB)["JobBookmarkEntry"]
    assert (entry["JobName"], entry["Run"], entry["RunId"], entry["PreviousRunId"]) == (
        JOB,
        3,
        third["Id"],
        second["Id"],
    )
    assert '"reports"' in entry["JobBookmark"] and "02-01-2021.csv" in entry["JobBookmark"]
    # rewound to what the first run had read, the day-two file is new again; reset, everything is
    rewound = glue.reset_job_bookmark(JobName=JOB, RunId=first["Id"])["JobBookmarkEntry"]
    assert "01-01-2021.csv" in rewound["JobBookmark"] and "02-01-2021.csv" not in rewound["JobBookmark"]

    # the bookmark is part of the local cloud's state: it survives a restart
    restarted = restart()
    after = restarted.client("glue").get_job_bookmark(JobName=JOB)["JobBookmarkEntry"]
    assert (after["Version"], after["JobBookmark"]) == (rewound["Version"], rewound["JobBookmark"])
    reset = restarted.client("glue").reset_job_bookmark(JobName=JOB)["JobBookmarkEntry"]
    assert reset["JobBookmark"] == "{}"
    with pytest.raises(ClientError, match="EntityNotFoundException"):
        restarted.client("glue").get_job_bookmark(JobName="no-such-job")
