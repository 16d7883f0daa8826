"""Failure drills with real job runs on the local cloud (real Spark through S3A, real handler, real catalog).

In order, on one cloud (the tests of this module are steps of one scenario and share its state):
1. daily reports uploaded -> runs publish Parquet + catalog partitions;
2. the job process is SIGKILLed while it writes a new day into an existing partition: the run is FAILED, the
   published objects, catalog partitions, latest manifest and ledger are exactly as before, and the next run
   completes;
3. a report uploaded while a run is in progress is picked up by the next run: nothing is skipped;
4. the local cloud is stopped and started again on its state dir: provisioning is idempotent, objects, catalog,
   runs and ledger are back, no event is replayed, and a re-run processes nothing new;
5. the output after all of that equals, row for row, a clean full run of the job script over the same raw files.

Each real run takes tens of seconds to minutes on 2 busy cores: the module is `slow` (.ci/run runs it).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from covid_pipeline import sample_data
from covid_pipeline.config import REPO_ROOT, PipelineConfig
from covid_pipeline.local.cloud import LocalCloud
from covid_pipeline.spark_env import quiet_local_conf, submit_args

# Each step may wait for several real runs: far over the suite's default per-test timeout on a busy machine.
pytestmark = [pytest.mark.slow, pytest.mark.spark, pytest.mark.timeout(2400)]

FIRST_DAYS = (date(2020, 10, 30), date(2020, 10, 31), date(2020, 11, 1), date(2020, 11, 2))
KILLED_DAY = date(2020, 11, 3)  # lands in an existing partition: the killed run was rewriting year=2020/month=11
BUSY_DAY, LATE_DAY = date(2020, 11, 4), date(2020, 11, 5)
RUN_TIMEOUT = 900.0
JOB_SCRIPT = REPO_ROOT / "glue_job" / "covid_transform.py"


@dataclass
class Scenario:
    config: PipelineConfig
    state_dir: Path
    cloud: LocalCloud
    uploaded: list[date] = field(default_factory=list)
    killed_run: str | None = None


@pytest.fixture(scope="module")
def scenario(
    test_config: PipelineConfig, cloud_state_dir: Callable[[], Path], s3a_jars: list[Path]
) -> Iterator[Scenario]:
    config = test_config
    state_dir = cloud_state_dir()
    cloud = LocalCloud(config, state_dir=state_dir, run_lambdas=True).start()
    current = Scenario(config, state_dir, cloud)
    try:
        yield current
    finally:
        current.cloud.stop()


# --- helpers -------------------------------------------------------------------------------------------------------


def upload_day(scenario: Scenario, day: date) -> None:
    data, _ = sample_data.render_daily_report(day)
    key = f"{scenario.config['raw_prefix']}jhu_daily/{sample_data.report_file_name(day)}"
    scenario.cloud.client("s3").put_object(Bucket=scenario.config.names.raw_bucket, Key=key, Body=data)
    scenario.uploaded.append(day)


def runs(scenario: Scenario) -> dict[str, dict[str, Any]]:
    glue = scenario.cloud.client("glue")
    return {r["Id"]: r for r in glue.get_job_runs(JobName=scenario.config.names.glue_job, MaxResults=200)["JobRuns"]}


def read_json(scenario: Scenario, bucket: str, key: str) -> Any:
    body = scenario.cloud.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    return json.loads(body)


def state_key(scenario: Scenario, name: str) -> tuple[str, str]:
    bucket, _, prefix = scenario.config.state_path("jhu_daily")[len("s3://") :].partition("/")
    return bucket, prefix + name


def manifest(scenario: Scenario, run_id: str) -> dict[str, Any]:
    return dict(read_json(scenario, *state_key(scenario, f"runs/{run_id}.json")))


def is_litter(key: str) -> bool:
    """Spark's uncommitted leftovers (.spark-staging-*, _temporary, _SUCCESS): never data, readers skip them."""
    return any(part.startswith((".", "_")) for part in key.split("/"))


def published(scenario: Scenario) -> dict[str, Any]:
    """What readers see: committed Parquet objects (key -> ETag), catalog partitions (values -> location)."""
    names = scenario.config.names
    s3, glue = scenario.cloud.client("s3"), scenario.cloud.client("glue")
    objects = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=names.processed_bucket, Prefix="jhu_daily/"):
        for item in page.get("Contents", []):
            if not is_litter(item["Key"]):
                objects[item["Key"]] = item["ETag"]
    partitions = {
        tuple(p["Values"]): p["StorageDescriptor"]["Location"]
        for page in glue.get_paginator("get_partitions").paginate(
            DatabaseName=names.glue_database, TableName=names.glue_tables["jhu_daily"]
        )
        for p in page["Partitions"]
    }
    return {"objects": objects, "partitions": partitions}


def ledger(scenario: Scenario) -> dict[str, Any]:
    return dict(read_json(scenario, *state_key(scenario, "ledger.json")))


def wait_for_new_run(scenario: Scenario, known: set[str], timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = set(runs(scenario)) - known
        if new:
            (run_id,) = new
            return run_id
        time.sleep(0.1)
    raise AssertionError("the upload started no run")


def staged_parquet(scenario: Scenario) -> set[str]:
    s3 = scenario.cloud.client("s3")
    listed = s3.list_objects_v2(Bucket=scenario.config.names.processed_bucket, Prefix="jhu_daily/")
    return {
        item["Key"]
        for item in listed.get("Contents", [])
        if is_litter(item["Key"]) and item["Key"].endswith(".parquet")
    }


def wait_until_writing(scenario: Scenario, run_id: str, earlier_litter: set[str]) -> None:
    """Poll the output prefix until a task of this run has written Parquet into Spark's staging area: the run is
    mid-write (and long past listing its input). A killed run's staging objects stay behind: they do not count."""
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        if staged_parquet(scenario) - earlier_litter:
            return
        state = runs(scenario)[run_id]
        assert state["JobRunState"] in ("STARTING", "RUNNING"), f"the run ended before writing: {state}"
        time.sleep(0.05)
    raise AssertionError("the run never started writing")


def assert_reconciles(document: dict[str, Any]) -> None:
    total = document["rows_out"] + document["rows_quarantined"] + document["rows_duplicate"]
    assert document["rows_in"] == total, document


# --- the scenario --------------------------------------------------------------------------------------------------


def test_1_uploads_run_and_publish(scenario: Scenario) -> None:
    config, cloud = scenario.config, scenario.cloud
    bucket, key = scenario.config.reference_path[len("s3://") :].split("/", 1)
    cloud.client("s3").put_object(Bucket=bucket, Key=key, Body=sample_data.render_lookup())
    for day in FIRST_DAYS:
        upload_day(scenario, day)
    assert cloud.wait_idle(RUN_TIMEOUT)

    all_runs = runs(scenario)
    assert all_runs and {r["JobRunState"] for r in all_runs.values()} == {"SUCCEEDED"}, all_runs
    for run_id in all_runs:
        assert_reconciles(manifest(scenario, run_id))
    state = published(scenario)
    assert set(state["partitions"]) == {("2020", "10"), ("2020", "11")}
    assert {path for path, entry in ledger(scenario)["files"].items() if entry["status"] == "processed"} == {
        sample_data.report_file_name(day) for day in FIRST_DAYS
    }
    assert cloud.lambdas is not None and list(cloud.lambdas.async_failures) == []
    del config


def test_2_job_killed_mid_write_leaves_published_state_intact_and_the_next_run_completes(scenario: Scenario) -> None:
    cloud, names = scenario.cloud, scenario.config.names
    before = published(scenario)
    latest_before = read_json(scenario, *state_key(scenario, "latest.json"))
    ledger_before = ledger(scenario)
    known = set(runs(scenario))

    litter = staged_parquet(scenario)
    upload_day(scenario, KILLED_DAY)  # the handler starts the run
    run_id = wait_for_new_run(scenario, known)
    wait_until_writing(scenario, run_id, litter)
    assert cloud.executor is not None
    pid = cloud.executor.run_process_id(run_id)
    assert pid is not None
    os.killpg(pid, signal.SIGKILL)  # the job, its Spark JVM and everything in its process group, no clean-up
    scenario.killed_run = run_id
    assert cloud.wait_for_runs(120)

    killed = runs(scenario)[run_id]
    assert killed["JobRunState"] == "FAILED"
    assert "SIGKILL" in killed["ErrorMessage"]
    after = published(scenario)
    assert after == before, "the killed run changed what readers see"
    assert read_json(scenario, *state_key(scenario, "latest.json")) == latest_before
    assert ledger(scenario) == ledger_before

    # The next run (an operator's re-run: the event was consumed when the killed run started) completes.
    next_run = cloud.client("glue").start_job_run(JobName=names.glue_job)["JobRunId"]
    assert cloud.wait_idle(RUN_TIMEOUT)
    assert runs(scenario)[next_run]["JobRunState"] == "SUCCEEDED", runs(scenario)[next_run].get("ErrorMessage")
    done = manifest(scenario, next_run)
    assert done["status"] == "succeeded" and done["files_processed"] == 1
    assert_reconciles(done)
    assert ledger(scenario)["files"][sample_data.report_file_name(KILLED_DAY)]["status"] == "processed"
    assert staged_parquet(scenario) == set(), "the next run removes the killed run's staging folder"


def test_3_upload_during_a_run_is_picked_up_by_the_next_run(scenario: Scenario) -> None:
    cloud = scenario.cloud
    known = set(runs(scenario))
    litter = staged_parquet(scenario)
    upload_day(scenario, BUSY_DAY)
    busy_run = wait_for_new_run(scenario, known)
    wait_until_writing(scenario, busy_run, litter)  # it listed its input long ago: the late upload is not in it
    upload_day(scenario, LATE_DAY)  # MaxConcurrentRuns is 1: this event cannot start a run now
    assert runs(scenario)[busy_run]["JobRunState"] == "RUNNING", "the drill was too late: the run had ended"
    assert cloud.wait_idle(RUN_TIMEOUT)

    new_runs = {i: r for i, r in runs(scenario).items() if i not in known}
    assert {r["JobRunState"] for r in new_runs.values()} == {"SUCCEEDED"}, new_runs
    files = ledger(scenario)["files"]
    for day in scenario.uploaded:  # nothing skipped: every upload processed, by one of the new runs or before
        assert files[sample_data.report_file_name(day)]["status"] == "processed", day
    late_runs = [i for i in new_runs if i != busy_run]
    assert len(late_runs) == 1, "the late upload needs exactly one more run"
    assert files[sample_data.report_file_name(BUSY_DAY)]["run_id"] == busy_run
    assert files[sample_data.report_file_name(LATE_DAY)]["run_id"] == late_runs[0]
    assert manifest(scenario, late_runs[0])["files_processed"] == 1
    for run_id in new_runs:
        assert_reconciles(manifest(scenario, run_id))


def test_4_restart_recovers_from_its_own_state_and_a_rerun_processes_nothing_new(scenario: Scenario) -> None:
    config = scenario.config
    before = published(scenario)
    runs_before = {i: r["JobRunState"] for i, r in runs(scenario).items()}
    ledger_before = ledger(scenario)
    scenario.cloud.stop()

    scenario.cloud = LocalCloud(config, state_dir=scenario.state_dir, run_lambdas=True).start()
    cloud = scenario.cloud
    assert cloud.provision_report is not None
    # The emulator came back as it was: nothing to apply, so nothing was provisioned again.
    assert (cloud.provision_report.applied, cloud.provision_report.reason) == (False, "unchanged")

    assert published(scenario) == before
    assert {i: r["JobRunState"] for i, r in runs(scenario).items()} == runs_before
    assert ledger(scenario) == ledger_before
    assert cloud.wait_idle(60)
    assert set(runs(scenario)) == set(runs_before), "restored objects were replayed as uploads"

    rerun = cloud.client("glue").start_job_run(JobName=config.names.glue_job)["JobRunId"]
    assert cloud.wait_idle(RUN_TIMEOUT)
    assert runs(scenario)[rerun]["JobRunState"] == "SUCCEEDED"
    nothing = manifest(scenario, rerun)
    assert nothing["status"] == "no_new_input"
    assert (nothing["rows_in"], nothing["files_processed"], nothing["partitions_written"]) == (0, 0, [])
    assert published(scenario) == before
    assert ledger(scenario) == ledger_before


def read_rows(folder: Path) -> list[str]:
    import pyarrow.dataset as ds

    table = ds.dataset(str(folder), format="parquet", partitioning="hive").to_table()
    return sorted(json.dumps(row, sort_keys=True, default=str) for row in table.to_pylist())


def test_5_output_equals_a_clean_full_run(scenario: Scenario, tmp_path: Path) -> None:
    config, cloud = scenario.config, scenario.cloud
    pipeline_dir = tmp_path / "pipeline"
    s3 = cloud.client("s3")
    for key in published(scenario)["objects"]:
        target = pipeline_dir / key.removeprefix("jhu_daily/")
        target.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(config.names.processed_bucket, key, str(target))

    # The unchanged job script, run directly against the emulator's raw files, writing to a local folder.
    clean = tmp_path / "clean"
    env = {
        **os.environ,
        **cloud.env,
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_SUBMIT_ARGS": submit_args({**quiet_local_conf(), **cloud.s3a_conf()}),
    }
    command = [
        sys.executable, str(JOB_SCRIPT), "--JOB_NAME", "drill-clean", "--source", "jhu_daily",
        "--input_path", config.raw_path("jhu_daily"), "--output_path", str(clean / "out"),
        "--quarantine_path", str(clean / "quarantine"), "--state_path", str(clean / "state"),
        "--reference_path", config.reference_path, "--full_refresh", "true",
    ]  # fmt: skip
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert result.returncode == 0, result.stderr[-3000:]
    clean_manifest = json.loads((clean / "state" / "latest.json").read_text())
    assert clean_manifest["files_processed"] == len(scenario.uploaded)
    assert_reconciles(clean_manifest)

    pipeline_rows, clean_rows = read_rows(pipeline_dir), read_rows(clean / "out")
    assert len(pipeline_rows) == clean_manifest["rows_out"]
    assert len(set(pipeline_rows)) == len(pipeline_rows), "duplicate rows in the pipeline's output"
    assert pipeline_rows == clean_rows
