"""The spine, end to end on the local cloud: uploads -> S3 event -> SQS -> handler -> Glue run -> Parquet + catalog
-> warehouse-loader -> DuckDB. Asserted only through public interfaces: the Glue API, S3 listings, the run
manifests the job writes, and a warehouse query.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from covid_pipeline import sample_data
from covid_pipeline.config import PipelineConfig
from covid_pipeline.monitoring import read_manifest

pytestmark = [pytest.mark.slow, pytest.mark.spark]

# One report of three different header eras (one of them with a BOM), to keep the run small.
DATES = (date(2020, 1, 22), date(2020, 3, 22), date(2020, 11, 9))


def warehouse_rows(url: str) -> int:
    import duckdb

    from covid_pipeline.warehouse.duckdb_target import duckdb_path

    connection = duckdb.connect(duckdb_path(url))
    try:
        row = connection.execute("SELECT count(*) FROM fact_covid_daily").fetchone()
    finally:
        connection.close()
    assert row is not None
    return int(row[0])


def test_uploaded_reports_end_as_reconciled_warehouse_rows(
    tmp_path: Path, test_config: PipelineConfig, cloud_state_dir: Callable[[], Path]
) -> None:
    from covid_pipeline.local.cloud import LocalCloud

    config = test_config
    names = config.names
    dataset = sample_data.generate(tmp_path / "sample", dates=DATES)

    with LocalCloud(config, state_dir=cloud_state_dir()) as cloud:
        s3, glue = cloud.client("s3"), cloud.client("glue")
        sample_data.upload_reference(config, dataset, s3)
        sample_data.upload_reports(config, dataset.files, s3)
        s3.put_object(Bucket=names.raw_bucket, Key="raw/jhu_daily/readme.txt", Body=b"not an input")  # no run
        assert cloud.wait_idle(timeout=900)

        runs = glue.get_job_runs(JobName=names.glue_job)["JobRuns"]
        assert runs, "no Glue run was started by the uploads"
        assert {run["JobRunState"] for run in runs} == {"SUCCEEDED"}, [run.get("ErrorMessage") for run in runs]
        manifests = [read_manifest(s3, config.state_path("jhu_daily"), run["Id"]) for run in runs]
        assert all(manifest is not None for manifest in manifests)
        rows_in = sum(m.rows_in for m in manifests if m)
        rows_out = sum(m.rows_out for m in manifests if m)
        rows_quarantined = sum(m.rows_quarantined for m in manifests if m)
        rows_duplicate = sum(m.rows_duplicate for m in manifests if m)
        # Every generated row was read once, and ends in exactly one place.
        assert rows_in == dataset.rows
        assert rows_in == rows_out + rows_quarantined + rows_duplicate
        assert rows_out > 0

        listed = s3.list_objects_v2(Bucket=names.processed_bucket, Prefix="jhu_daily/").get("Contents", [])
        parquet = [item["Key"] for item in listed if item["Key"].endswith(".parquet")]
        partitions = {"/".join(key.split("/")[1:3]) for key in parquet}
        assert partitions == {"year=2020/month=1", "year=2020/month=3", "year=2020/month=11"}
        catalog = glue.get_partitions(DatabaseName=names.glue_database, TableName=names.glue_tables["jhu_daily"])
        assert sorted(tuple(p["Values"]) for p in catalog["Partitions"]) == [
            ("2020", "1"),
            ("2020", "11"),
            ("2020", "3"),
        ]

        loader = cloud.client("lambda").get_function_configuration(
            FunctionName=names.lambda_functions["warehouse-loader"]
        )
        warehouse_url = loader["Environment"]["Variables"]["WAREHOUSE_URL"]
        assert cloud.lambdas is not None and list(cloud.lambdas.async_failures) == []
    # After the cloud stopped (the loader is done), the warehouse holds exactly the job's output rows.
    assert warehouse_rows(warehouse_url) == rows_out


def test_demo_writes_a_reconciled_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from covid_pipeline.cli import main

    monkeypatch.setenv("COVID_PIPELINE_LOCAL_DIR", str(tmp_path / "local"))
    summary_path = tmp_path / "demo-summary.json"
    assert main(["--env", "test", "demo", "--summary", str(summary_path), "--timeout", "900"]) == 0
    summary = json.loads(summary_path.read_text())
    required = {
        "rows_in",
        "rows_out",
        "rows_quarantined",
        "partitions",
        "warehouse_rows",
        "upload_to_queryable_seconds",
    }
    assert required <= set(summary)
    assert summary["rows_generated"] == sample_data.generate(tmp_path / "again").rows
    # Runs re-read the rows of partitions they rewrite, so the sums over runs may exceed what was generated,
    # but each run balances, and the warehouse holds exactly the job's Parquet output.
    assert summary["rows_in"] >= summary["rows_generated"]
    assert summary["rows_in"] == summary["rows_out"] + summary["rows_quarantined"] + summary["rows_duplicate"]
    assert summary["warehouse_rows"] == summary["output_rows"] > 0
    assert summary["reconciled"] is True
    assert summary["partitions"] > 0 and summary["upload_to_queryable_seconds"] > 0
