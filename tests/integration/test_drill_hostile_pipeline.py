"""Hostile inputs through the whole pipeline, upload to warehouse, in one local cloud (S3 event -> SQS -> handler
-> Glue run -> Parquet + catalog -> EventBridge -> warehouse loader -> DuckDB). Each phase waits until the cloud is
idle, then checks what a user can see: Glue run states, the run manifests, the ledger, the processed bucket and a
warehouse query. The phases build on each other, so they are one test:

1. hostile keys, a gzip bomb and odd legitimate names beside a normal file: the hostile ones are quarantined with
   their reasons, the others' rows reach the warehouse;
2. a poison file fails `poison_after_failures` runs in a row, is set aside, and the next run publishes the rest;
3. the warehouse is locked while a run publishes, so that run's load fails past its retries; the next run's load
   heals it, and the warehouse equals the published output;
4. the raw prefix is emptied: the next run refuses, and nothing is deleted from the output or the warehouse.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from covid_pipeline import sample_data
from covid_pipeline.common import split_s3_uri
from covid_pipeline.config import PipelineConfig
from covid_pipeline.local.cloud import LocalCloud
from covid_pipeline.monitoring import read_manifest
from covid_pipeline.orchestrator import Orchestrator
from covid_pipeline.warehouse.duckdb_target import duckdb_path

pytestmark = [pytest.mark.slow, pytest.mark.spark, pytest.mark.timeout(1800)]

SOURCE = "jhu_daily"
MIB = 1 << 20
DAYS = [date(2020, 1, 22), date(2020, 1, 23), date(2020, 1, 24), date(2020, 1, 25), date(2020, 1, 26)]
# below raw/jhu_daily/ -> the reason the job gives (the event handler starts no run for the unsafe keys)
HOSTILE = {
    "a/../../escape.csv": "unsafe_key",
    "tab\there.csv": "unsafe_key",
    ".hidden/01-22-2020.csv": "unsafe_key",
    "01-31-2020.csv.gz": "too_large",  # the gzip bomb
}
# legitimate odd names, read literally: "[1]" is a glob class and "+" a space to a careless decoder
ODD_NAMES = {"01-23-2020 [1].csv": DAYS[1], "01-24-2020 + ünï.csv": DAYS[2]}


def gzip_bomb(uncompressed: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(MIB)
    return b"".join(compressor.compress(zeros) for _ in range(uncompressed // MIB)) + compressor.flush()


class Pipeline:
    """What the drill reads and does, through the cloud's public interfaces."""

    def __init__(self, cloud: LocalCloud, config: PipelineConfig) -> None:
        self.cloud, self.config = cloud, config
        self.s3, self.glue = cloud.client("s3"), cloud.client("glue")
        self.raw_bucket = config.names.raw_bucket
        self.raw_prefix = split_s3_uri(config.raw_path(SOURCE))[1]
        loader = cloud.client("lambda").get_function_configuration(
            FunctionName=config.names.lambda_functions["warehouse-loader"]
        )
        self.warehouse = duckdb_path(loader["Environment"]["Variables"]["WAREHOUSE_URL"])
        self.seen_runs: set[str] = set()

    def upload(self, name: str, body: bytes) -> None:
        self.s3.put_object(Bucket=self.raw_bucket, Key=self.raw_prefix + name, Body=body)

    def settle(self) -> list[dict[str, Any]]:
        """Wait until idle; the runs started since the last call, oldest first."""
        assert self.cloud.wait_idle(timeout=900), "the pipeline did not settle in 15 minutes"
        runs = self.glue.get_job_runs(JobName=self.config.names.glue_job)["JobRuns"]
        new = sorted((r for r in runs if r["Id"] not in self.seen_runs), key=lambda r: r["StartedOn"])
        self.seen_runs |= {r["Id"] for r in new}
        return new

    def manifest(self, run_id: str) -> dict[str, Any]:
        found = read_manifest(self.s3, self.config.state_path(SOURCE), run_id)
        assert found is not None, f"run {run_id} wrote no manifest"
        return dict(found.raw)

    def ledger(self) -> dict[str, Any]:
        bucket, key = split_s3_uri(self.config.state_path(SOURCE).rstrip("/") + "/ledger.json")
        return json.loads(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    def published(self) -> list[tuple]:
        """(country, date, confirmed) of every row in the processed bucket, read straight from Parquet."""
        bucket, prefix = split_s3_uri(self.config.output_path(SOURCE))
        rows: list[tuple] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                if item["Key"].endswith(".parquet"):
                    body = self.s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                    table = pq.read_table(pa.BufferReader(body), columns=["country", "report_date", "confirmed"])
                    rows += [(r["country"], r["report_date"], r["confirmed"]) for r in table.to_pylist()]
        return sorted(rows)

    def warehouse_rows(self) -> list[tuple]:
        with duckdb.connect(self.warehouse, read_only=True) as connection:
            return sorted(
                connection.execute(
                    "SELECT l.country, d.date, f.confirmed FROM fact_covid_daily f "
                    "JOIN dim_location l USING (location_key) JOIN dim_date d USING (date_key)"
                ).fetchall()
            )


def test_hostile_inputs_through_the_whole_pipeline(
    tmp_path: Path, test_config: PipelineConfig, cloud_state_dir: Callable[[], Path]
) -> None:
    config = test_config
    dataset = sample_data.generate(tmp_path / "sample", dates=DAYS)
    report = {day: sample_data.render_daily_report(day)[0] for day in DAYS}

    with LocalCloud(config, state_dir=cloud_state_dir(), run_lambdas=True) as cloud:
        pipe = Pipeline(cloud, config)
        loader_name = config.names.lambda_functions["warehouse-loader"]
        sample_data.upload_reference(config, dataset, pipe.s3)

        # 1. Hostile keys and a bomb first (no run starts for them), then odd names and a normal file.
        limit = int(config.job_arguments(SOURCE)["--max_uncompressed_bytes"])
        bomb = gzip_bomb(limit + 64 * MIB)
        assert len(bomb) < limit // 100  # small stored, huge decompressed
        for name, _ in HOSTILE.items():
            pipe.upload(name, bomb if name.endswith(".gz") else report[DAYS[0]])
        for name, day in ODD_NAMES.items():
            pipe.upload(name, report[day])
        pipe.upload(sample_data.report_file_name(DAYS[0]), report[DAYS[0]])
        runs = pipe.settle()
        assert runs and {r["JobRunState"] for r in runs} == {"SUCCEEDED"}, [r.get("ErrorMessage") for r in runs]
        quarantined: dict[str, str] = {}
        for run in runs:
            quarantined |= pipe.manifest(run["Id"]).get("quarantined_files", {})
        assert quarantined == HOSTILE
        ledgered = pipe.ledger()["files"]
        assert {name: entry.get("reason") for name, entry in ledgered.items() if entry.get("reason")} == HOSTILE
        processed = {name for name, entry in ledgered.items() if not entry.get("reason")}
        assert processed == {*ODD_NAMES, sample_data.report_file_name(DAYS[0])}
        published = pipe.published()
        assert {row[1] for row in published} == {DAYS[0], DAYS[1], DAYS[2]}
        assert pipe.warehouse_rows() == published

        # 2. A poison file (it sniffs as Parquet and fails Spark's read) beside new good files, one upload a run.
        poison_after = int(config.job_arguments(SOURCE)["--poison_after_failures"])
        pipe.upload("01-27-2020.parquet", b"PAR1" + bytes(range(256)) * 20 + b"PAR1")
        assert [r["JobRunState"] for r in pipe.settle()] == ["FAILED"]
        for attempt in range(2, poison_after + 1):
            pipe.upload(f"extra-{attempt}/" + sample_data.report_file_name(DAYS[3]), report[DAYS[3]])
            assert [r["JobRunState"] for r in pipe.settle()] == ["FAILED"], f"run {attempt} of the poison file"
        assert pipe.ledger()["failures"]["01-27-2020.parquet"]["failures"] == poison_after
        assert pipe.published() == published  # the failed runs published nothing
        pipe.upload(sample_data.report_file_name(DAYS[3]), report[DAYS[3]])
        goes_on = pipe.settle()
        assert [r["JobRunState"] for r in goes_on] == ["SUCCEEDED"]
        manifest = pipe.manifest(goes_on[0]["Id"])
        assert manifest["quarantined_files"] == {"01-27-2020.parquet": "poison"}
        assert manifest["poison_files"]["01-27-2020.parquet"]["failures"] == poison_after
        published = pipe.published()
        assert DAYS[3] in {row[1] for row in published}
        assert pipe.warehouse_rows() == published

        # 3. The warehouse is held by another writer while a run publishes: that load fails past its retries.
        before_lock = pipe.warehouse_rows()
        with duckdb.connect(pipe.warehouse) as holder:  # DuckDB allows one writing process
            holder.execute("SELECT 1")
            pipe.upload(sample_data.report_file_name(DAYS[4]), report[DAYS[4]])
            assert [r["JobRunState"] for r in pipe.settle()] == ["SUCCEEDED"]
        assert cloud.lambdas is not None
        failed = [name for name, _, _ in cloud.lambdas.async_failures if name == loader_name]
        assert failed, "the locked warehouse did not fail the load"
        assert pipe.warehouse_rows() == before_lock  # the missed load left the warehouse behind
        published = pipe.published()
        assert DAYS[4] in {row[1] for row in published}
        # The next run (a late revision of one day) loads what differs, including the missed partition.
        pipe.upload("revisions/" + sample_data.report_file_name(DAYS[0]), report[DAYS[0]])
        assert {r["JobRunState"] for r in pipe.settle()} == {"SUCCEEDED"}
        published = pipe.published()
        assert pipe.warehouse_rows() == published

        # 4. The raw prefix emptied (a wrong sync, say): the run refuses and nothing is deleted.
        listed = pipe.s3.list_objects_v2(Bucket=pipe.raw_bucket, Prefix=pipe.raw_prefix).get("Contents", [])
        pipe.s3.delete_objects(Bucket=pipe.raw_bucket, Delete={"Objects": [{"Key": i["Key"]} for i in listed]})
        run_id = Orchestrator(config).start_run(SOURCE)  # the cloud's endpoint is in this process's environment
        refused = [r for r in pipe.settle() if r["Id"] == run_id]
        assert [r["JobRunState"] for r in refused] == ["FAILED"]
        assert "--allow_removals true" in refused[0].get("ErrorMessage", "")
        assert pipe.manifest(run_id)["status"] == "refused_removals"
        assert pipe.published() == published
        assert pipe.warehouse_rows() == published
